"""Leave-one-out GRPO: a leave-one-out baseline divided by a leave-one-out std (NeMo-RL's rule).

Sample i of a group of M is compared with the other n = M - 1 samples only: its baseline is
their mean b_i and its scale their std s_i (Bessel, ``std="sample"``, or population). With 0/1
rewards and S correct, a correct sample sees k = S - 1 correct others and a wrong one k = S:

  a[S] = ((M-S)/(M-1)) / (sd(S-1) + eps),   b[S] = (-S/(M-1)) / (sd(S) + eps),
  sd(k) = sqrt(k (n-k) / (n (n-1)))  (sample)  or  sqrt(k (n-k)) / n  (population).

sd(k) = 0 when the others all agree (k = 0 or n; always at M = 2): ``zero_std="undivided"``
keeps A = r - b there (NeMo-RL from v0.3.1 on: the lone success of a 1-of-M group gets A = 1),
``zero_std="eps"`` divides by 0 + eps (NeMo-RL between git 7124e4455 and 74b9b1789: A = +-1/eps).
The Bernstein coefficients are c_k = a[k+1] - b[k] = 1 / (sd(k) + eps) for 0 < k < M-1 (both
terms share the std of k correct among n others), and c_0 = c_{M-1} = 1 (undivided) or 1/eps:
w_M(p) = E_K[c_K], K ~ Bin(M-1, p), the mean inverse std of the M-1 others.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core.registry import Counts, Scheme, register, safe_div
from rlxform.core.xp import namespace
from rlxform.types import ArrayLike, NDArray
from rlxform.validation import InputError, check_choice, check_float

ZERO_STD = ("undivided", "eps")


def others_std(m: int, k: NDArray, std: str) -> NDArray:
    """Std of k ones among the n = M - 1 others (0 where k is out of [0, n] or n < 2 Bessel)."""
    n = m - 1.0
    k = np.clip(k, 0.0, n)
    if std == "population":
        return np.sqrt(k * (n - k)) / n
    if n < 2:  # one other sample: NeMo-RL's 0 * inf = NaN becomes 0
        return np.zeros_like(k)
    return np.sqrt(k * (n - k) / (n * (n - 1.0)))


def loo_divide(num: NDArray, sd: NDArray, eps: ArrayLike, zero_std: str):
    """num / (sd + eps) where sd > 0; where sd = 0: num (undivided) or num / eps."""
    divided = safe_div(num, sd + eps)
    if zero_std == "eps":
        return divided
    return namespace(divided, eps).where(sd > 0, divided, num)


def _loo_limit(std: str, eps: float, zero_std: str, **_: Any):
    """GRPO's limit: the two end coefficients (1 or 1/eps) weigh (1-p)^(M-1) and p^(M-1)."""
    del std
    if eps <= 0:
        return bern.arcsin_sqrt, "2 arcsin sqrt p"
    name = f"int_0^p dt / (sqrt(t(1-t)) + {eps:g})"
    if zero_std == "eps":  # the +-1/eps end terms add (1 - (1-p)^M + p^M) / (M eps) to h_M
        name += f" (reached only for M >> {1 / eps:g}: the S = 1, M-1 terms dominate)"
    return bern.grpo_eps_objective(eps), name


@register(
    "loo_grpo",
    "a = ((M-S)/(M-1)) / (sd_others + eps), b = (-S/(M-1)) / (sd_others + eps): leave-one-out "
    "baseline and std; sd_others = 0 (S = 1 success, S = M-1 failure): undivided or / eps",
    _loo_limit,
    min_group_size=2,
)
def loo_grpo_rule(c: Counts, std: str, eps: ArrayLike, zero_std: str):
    n = c.m - 1.0
    a_table = loo_divide((c.m - c.s) / n, others_std(c.m, c.s - 1.0, std), eps, zero_std)
    b_table = loo_divide(-c.s / n, others_std(c.m, c.s, std), eps, zero_std)
    return a_table, b_table


def loo_grpo(std: str = "sample", eps: float = 1e-6, zero_std: str = "undivided") -> Scheme:
    """Leave-one-out GRPO: A_i = (r_i - b_i) / (s_i + eps), b_i, s_i the others' mean and std.

    NeMo-RL's default GRPO (``grpo.use_leave_one_out_baseline`` and ``normalize_rewards``):
    v0.4-v0.7 ``loo_grpo("sample", 1e-6, "undivided")``; v0.3.1 ``loo_grpo("population", 0.0)``;
    git 7124e4455..74b9b1789 (never released) ``loo_grpo("sample", 1e-6, "eps")``, whose S = 1
    and S = M-1 groups get A = +-1/eps = +-1e6. Large-M objective: GRPO's (2 arcsin sqrt p, or
    int_0^p dt / (sqrt(t(1-t)) + eps)); with ``zero_std="eps"`` the end terms add
    (1 - (1-p)^M + p^M) / (M eps) to h_M, so it is reached only for M >> 1/eps.
    """
    std = check_choice("std", std, ("population", "sample"))
    zero_std = check_choice("zero_std", zero_std, ZERO_STD)
    eps = check_float("eps", eps, 0.0)
    if zero_std == "eps" and eps <= 0:
        raise InputError(
            f"eps={eps!r} is invalid with zero_std='eps': must be > 0 (it divides the zero-std "
            "samples by eps)"
        )
    return Scheme.make("loo_grpo", std=std, eps=eps, zero_std=zero_std)
