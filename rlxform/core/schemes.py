"""The scheme catalog: each rule written once (``@register``), its constructor, ``get``.

Constructors return data, like ``optax.adam()``: ``grpo(std="sample", eps=1e-6)`` is a
``Scheme`` whose tables come from the registered rule (see ``rlxform.core.registry``);
``get(name, **params)`` looks one up by name or alias. Framework adapters (``from_verl`` /
``from_trl``) live in ``rlxform.frameworks``, inverse design in ``rlxform.core.design``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core.design import design
from rlxform.core.loo_std import loo_grpo
from rlxform.core.real_rewards import (
    grpo_advantages,
    mean_baseline_weights,
    normalised_weights,
    reinforce_weights,
    rloo_weights,
)
from rlxform.core.registry import (
    RULES,
    Counts,
    RealReward,
    Scheme,
    group_weights,
    p_limit,
    register,
    safe_div,
)
from rlxform.types import ArrayLike
from rlxform.validation import InputError, check_choice, check_float, check_int, did_you_mean

__all__ = [
    "Scheme",
    "catalog",
    "design",
    "get",
    "group_weights",
    "grpo_advantages",
    "loo_grpo",
    "names",
]

_ALIASES = {"dr_grpo": "mean_baseline", "raft": "rejection_sampling", "star": "rejection_sampling"}


# ---- rules ------------------------------------------------------------------------------------


@register(
    "reinforce",
    "a = 1, b = 0 (reward as weight, no baseline)",
    p_limit,
    real_reward=RealReward(reinforce_weights, lambda m: (1.0, 0.0)),
)
def reinforce_rule(c: Counts):
    return np.ones(c.m + 1), np.zeros(c.m + 1)


@register(
    "rloo",
    "a = (M-S)/(M-1), b = -S/(M-1) (r minus mean of the others)",
    p_limit,
    min_group_size=2,
    real_reward=RealReward(rloo_weights, lambda m: (1.0, 1.0)),
)
def rloo_rule(c: Counts):
    return (c.m - c.s) / (c.m - 1.0), -c.s / (c.m - 1.0)


@register(
    "mean_baseline",
    "a = 1 - S/M, b = -S/M (Dr. GRPO: r - mean)",
    p_limit,
    min_group_size=2,
    real_reward=RealReward(mean_baseline_weights, lambda m: ((m - 1) / m, 1.0)),
)
def mean_baseline_rule(c: Counts):
    return 1.0 - c.q, -c.q


def normalised_rule(c: Counts, sd: ArrayLike, eps: ArrayLike, factor: ArrayLike = 1.0):
    """a = factor (1-q) / (sd + eps), b = -factor q / (sd + eps): every std-normalised rule."""
    den = sd + eps
    return safe_div(factor * (1.0 - c.q), den), safe_div(-factor * c.q, den)


def grpo_limit(eps: float = 0.0, **_: Any):
    """2 arcsin sqrt p at eps = 0; for eps > 0 the eps stays in the limit weight."""
    if eps > 0:
        return bern.grpo_eps_objective(eps), f"int_0^p dt / (sqrt(t(1-t)) + {eps:g})"
    return bern.arcsin_sqrt, "2 arcsin sqrt p"


def centred_rule(c: Counts, gamma: float = 0.0, **_: Any):
    """The numerator of every std-normalised rule: a = (1-q)^gamma (1 - q), b = -(1-q)^gamma q."""
    factor = (1.0 - c.q) ** gamma if gamma else np.ones(c.m + 1)
    return factor * (1.0 - c.q), -factor * c.q


# what every std-normalised rule (``normalised_rule``) declares to the registry: M >= 2, its
# centred form and the std named by its ``std`` parameter
STD_NORMALISED = {"min_group_size": 2, "centred": centred_rule, "std_kind": lambda std, **_: std}


@register(
    "grpo",
    "a = (1-q)/(sd+eps), b = -q/(sd+eps), q = S/M, sd population or sample std",
    grpo_limit,
    **STD_NORMALISED,
    real_reward=RealReward(normalised_weights),
)
def grpo_rule(c: Counts, std: str, eps: ArrayLike):
    return normalised_rule(c, c.std(std), eps)


@register(
    "rejection_sampling",
    "a = M/S, b = 0 (mean over the correct samples; S = 0 skipped)",
    lambda: (bern.log_objective, "log p"),
)
def rejection_sampling_rule(c: Counts):
    return safe_div(float(c.m), c.s), np.zeros(c.m + 1)


@register(
    "maxrl",
    "a = M/S - 1, b = -1 (A = (r - q)/q; S = 0 gives 0)",
    lambda: (bern.log_objective, "log p"),
    min_group_size=2,
)
def maxrl_rule(c: Counts):
    return safe_div(float(c.m), c.s) - 1.0, np.where(c.s > 0, -1.0, 0.0)


@register(
    "pass_at_k",
    "a = M C(M-S, k-1) / C(M, k), b = 0 (PKPO leave-one-out; w = k (1-p)^(k-1))",
    lambda k: (bern.pass_at_k_objective(k), f"1 - (1-p)^{k}"),
    min_group_size=lambda k: max(1, k),
)
def pass_at_k_rule(c: Counts, k: int):
    log_a = math.log(c.m) + bern.log_binom(c.m - c.s, k - 1) - bern.log_binom(c.m, k)
    return np.where(c.s > 0, np.exp(log_a), 0.0), np.zeros(c.m + 1)


@register("psr", "a = 1, b = 0 (positive samples only; S = M still pushes)", p_limit)
def psr_rule(c: Counts):
    return np.ones(c.m + 1), np.zeros(c.m + 1)


@register("nsr", "a = 0, b = -1 (negative samples only; S = 0 still pushes)", p_limit)
def nsr_rule(c: Counts):
    return np.zeros(c.m + 1), -np.ones(c.m + 1)


@register(
    "w_reinforce",
    "a = lam, b = -1 (lam * PSR + NSR; w = 1 + lam)",
    lambda lam: (bern.scaled(bern.identity, 1.0 + lam), f"{1.0 + lam:g} p"),
)
def w_reinforce_rule(c: Counts, lam: float):
    return np.full(c.m + 1, float(lam)), -np.ones(c.m + 1)


def f_grpo_limit(gamma: float, eps: float = 0.0, **_: Any):
    if eps > 0:
        name = f"int_0^p (1-t)^{gamma:g} dt / (sqrt(t(1-t)) + {eps:g})"
        return bern.grpo_eps_objective(eps, gamma), name
    return bern.incomplete_beta_objective(0.5, gamma + 0.5), f"B_p(1/2, {gamma + 0.5:g})"


@register(
    "f_grpo",
    "GRPO weights times (1 - S/M)^gamma (focal GRPO)",
    f_grpo_limit,
    **STD_NORMALISED,
)
def f_grpo_rule(c: Counts, gamma: float, std: str, eps: ArrayLike):
    return normalised_rule(c, c.std(std), eps, factor=(1.0 - c.q) ** gamma)


@register("custom", "Z = fn(r, S, M) for r in {0, 1}")
def custom_rule(c: Counts, fn: Callable[[int, int, int], float]):
    m = c.m
    a_table = [_custom_weight(fn, 1, j, m) if j > 0 else 0.0 for j in range(m + 1)]
    b_table = [_custom_weight(fn, 0, j, m) if j < m else 0.0 for j in range(m + 1)]
    return np.array(a_table), np.array(b_table)


def _custom_weight(fn: Callable, r: int, s: int, m: int) -> float:
    """fn(r, S, M) as a finite float; anything else is an InputError naming fn and the call."""
    call = f"fn(r={r}, S={s}, M={m})"
    try:
        value = fn(r, s, m)
    except Exception as err:
        raise InputError(
            f"fn={fn!r} is invalid: {call} raised {type(err).__name__}: {err}"
        ) from None
    try:
        return check_float("weight", value)
    except ValueError:
        raise InputError(
            f"fn={fn!r} is invalid: {call} returned {value!r}; must return a finite real number"
        ) from None


# ---- public constructors ---------------------------------------------------------------------


def check_std(std: Any) -> str:
    return check_choice("std", std, ("population", "sample"))


def reinforce() -> Scheme:
    """REINFORCE without baseline: Z = r. w_M = 1, h_M = p (Williams 1992)."""
    return Scheme.make("reinforce")


def rloo() -> Scheme:
    """RLOO: Z_i = r_i - mean_{j != i} r_j. w_M = 1, h_M = p (Ahmadian et al. 2024)."""
    return Scheme.make("rloo")


def mean_baseline() -> Scheme:
    """Mean baseline (Dr. GRPO, GRPO without std): Z = r - S/M. w_M = (M-1)/M (Liu et al. 2025)."""
    return Scheme.make("mean_baseline")


def grpo(std: str = "population", eps: float = 0.0) -> Scheme:
    """GRPO: Z = (r - S/M) / (sd + eps), sd the group's population or sample (Bessel) std.

    Large-M objective 2 arcsin sqrt p at eps = 0 and int_0^p dt / (sqrt(t(1-t)) + eps) for
    eps > 0 (Shao et al. 2024; Davis & Recht 2025, arXiv 2510.13651).
    Zero-variance groups (S = 0 or M) get 0. verl uses ``std="sample", eps=1e-6``.
    """
    return Scheme.make("grpo", std=check_std(std), eps=check_float("eps", eps, 0.0))


def rejection_sampling() -> Scheme:
    """Rejection sampling / RAFT / STaR: Z = M r / S, i.e. SFT on the prompt's correct samples.

    w_M = (1 - (1-p)^M)/p, h_M = H_M - sum_{k<=M} (1-p)^k / k -> log p (Dong et al. 2023).
    """
    return Scheme.make("rejection_sampling")


def maxrl() -> Scheme:
    """MaxRL, practical form A = (r - q)/q with q = S/M: a = M/S - 1, b = -1, S = 0 gives 0.

    h_M = -sum_{k=1}^{M-1} (1-p)^k / k + const -> log p.
    """
    return Scheme.make("maxrl")


def pass_at_k(k: int = 1) -> Scheme:
    """pass@k, PKPO leave-one-out (Walder & Karkhanis 2025): a = M C(M-S, k-1)/C(M, k), b = 0.

    Exact for every M >= k: w_M = k (1-p)^(k-1), h_M = 1 - (1-p)^k.
    """
    return Scheme.make("pass_at_k", k=check_int("k", k, 1))


def psr() -> Scheme:
    """Positive sample reinforcement: a = 1, b = 0 (Zhu et al. 2025). w_M = 1."""
    return Scheme.make("psr")


def nsr() -> Scheme:
    """Negative sample reinforcement: a = 0, b = -1 (Zhu et al. 2025). w_M = 1."""
    return Scheme.make("nsr")


def w_reinforce(lam: float = 0.1) -> Scheme:
    """Weighted REINFORCE: lam * PSR + NSR, a = lam, b = -1. w_M = 1 + lam (Zhu et al. 2025)."""
    return Scheme.make("w_reinforce", lam=check_float("lam", lam, 0.0))


def f_grpo(gamma: float = 1.0, std: str = "population", eps: float = 0.0) -> Scheme:
    """Focal GRPO: GRPO weights times (1 - S/M)^gamma.

    Large-M h = B_p(1/2, gamma + 1/2) at eps = 0, int_0^p (1-t)^gamma dt / (sqrt(t(1-t)) + eps)
    for eps > 0.
    """
    return Scheme.make(
        "f_grpo",
        gamma=check_float("gamma", gamma, 0.0),
        std=check_std(std),
        eps=check_float("eps", eps, 0.0),
    )


def custom(fn: Callable[[int, int, int], float]) -> Scheme:
    """A user rule Z = fn(r, S, M) with r in {0, 1}; evaluated on the host per group size."""
    if not callable(fn):
        raise InputError(f"fn={fn!r} is invalid: must be a callable fn(r, S, M) -> weight")
    return Scheme.make("custom", fn=fn)


_CONSTRUCTORS: dict[str, Callable[..., Scheme]] = {
    "reinforce": reinforce,
    "rloo": rloo,
    "mean_baseline": mean_baseline,
    "grpo": grpo,
    "rejection_sampling": rejection_sampling,
    "maxrl": maxrl,
    "pass_at_k": pass_at_k,
    "psr": psr,
    "nsr": nsr,
    "w_reinforce": w_reinforce,
    "f_grpo": f_grpo,
    "loo_grpo": loo_grpo,
    "custom": custom,
}


def names() -> list[str]:
    """Catalog names accepted by ``get`` (aliases included)."""
    return list(_CONSTRUCTORS) + list(_ALIASES)


def catalog() -> dict[str, str]:
    """Catalog name -> one-line formula."""
    out = {}
    for name, ctor in _CONSTRUCTORS.items():
        params = ", ".join(
            f"{p.name}={p.default!r}" if p.default is not inspect.Parameter.empty else p.name
            for p in inspect.signature(ctor).parameters.values()
        )
        out[f"{name}({params})" if params else name] = RULES[name].formula
    for alias, target in _ALIASES.items():
        out[alias] = f"alias of {target}"
    return out


def get(name: str, **params: Any) -> Scheme:
    """Scheme by catalog name (or alias) with its parameters, e.g. ``get("grpo", eps=1e-6)``."""
    if not isinstance(name, str):
        raise InputError(f"scheme={name!r} is invalid: must be a name, one of {', '.join(names())}")
    name = _ALIASES.get(name, name)
    if name not in _CONSTRUCTORS:
        raise InputError(
            f"scheme={name!r} is invalid: must be one of {', '.join(names())}"
            + did_you_mean(name, names())
        )
    ctor = _CONSTRUCTORS[name]
    allowed = list(inspect.signature(ctor).parameters)
    unknown = [p for p in params if p not in allowed]
    if unknown:
        raise InputError(
            f"scheme parameter {unknown[0]!r} is invalid for {name}: must be one of "
            f"{', '.join(allowed) if allowed else '(none)'}"
        )
    return ctor(**params)


def as_scheme(scheme: Any) -> Scheme:
    """``scheme`` itself, or the catalog scheme of that name with its default parameters."""
    if isinstance(scheme, str):
        scheme = get(scheme)
    if not isinstance(scheme, Scheme):
        raise InputError(
            f"scheme={scheme!r} is invalid: must be an rlxform Scheme or one of "
            + ", ".join(names())
        )
    return scheme
