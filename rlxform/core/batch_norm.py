"""Batch-level reward scaling (TRL ``scale_rewards="batch"``): exact expected update, any batch.

A batch holds G groups (prompt x_j, M samples, S_j correct); every sample gets
``A = (r - S_j / M) / (sd_batch + eps)``, sd_batch the std of all n = G M rewards (torch's
``std()``: Bessel, the default here; or population). For binary rewards sd_batch depends only on
the batch total T = sum_j S_j. For prompt x, T = S_x + T_-x with T_-x independent of group x, so
x's update is a per-group scheme with tables averaged over T_-x (a convolution of binomials)
and E[update_x] = w^batch_x(p_x) grad p_x with w^batch_x = B_{M-1}[c] (SPEC section 2).
Large batch: T / n -> pbar (mean p of the batch's prompts), so every c_k -> (M-1) / (M (sigma +
eps)), sigma = sqrt(pbar (1 - pbar)): the mean-baseline (Dr. GRPO) direction, objective p, with
the step divided by the batch constant sigma + eps (not the arcsine of per-group std).
"""

from __future__ import annotations

import math

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core.kl import bernstein_weight_numpy
from rlxform.types import ArrayLike, NDArray
from rlxform.validation import InputError, check_choice, check_float, check_group_size, check_int


def _check_probs(name: str, value: ArrayLike) -> NDArray:
    arr = np.atleast_1d(np.asarray(value, np.float64))
    bad = ~((arr >= 0.0) & (arr <= 1.0))
    if arr.ndim != 1 or bad.any():
        shown = float(arr[bad].flat[0]) if bad.any() else arr.shape
        raise InputError(f"{name}={shown!r} is invalid: must be a 1-D list of values in [0, 1]")
    return arr


def batch_std(total_correct: ArrayLike, num_rewards: int, std: str = "sample") -> NDArray:
    """Std of n binary rewards of which T are 1: sqrt(T (n - T) / (n (n - ddof))), ddof 1 or 0.

    Args:
      total_correct: ``int[...]`` T in [0, n]; num_rewards: n; std: "sample" | "population".
    Returns:
      ``float64[...]`` (n = 1 with Bessel gives 0: torch would give NaN; the centred reward is 0).
    """
    check_choice("std", std, ("sample", "population"))
    n = check_int("num_rewards", num_rewards, 1)
    t = np.asarray(total_correct, np.float64)
    ddof = 1 if std == "sample" else 0
    return np.sqrt(t * (n - t) / (n * max(n - ddof, 1)))


def others_count_pmf(group_size: int, p_others: ArrayLike) -> NDArray:
    """P(T_-x = t), t = 0..(G-1) M: the convolution of Binomial(M, p_y) over the other groups.

    Returns:
      ``float64[(G-1) M + 1]`` (``[1.0]`` when there are no other groups).
    """
    m = check_group_size(group_size)
    p_others = _check_probs("p_others", p_others) if np.size(p_others) else np.zeros(0)
    log_c = bern.log_binomial_coefficients(m)
    k = np.arange(m + 1)
    pmf = np.ones(1)
    for p in p_others:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = log_c + np.where(k > 0, k * np.log(p), 0.0)
            terms = terms + np.where(k < m, (m - k) * np.log1p(-p), 0.0)
        pmf = np.convolve(pmf, np.exp(terms))
    return pmf


def batch_std_tables(
    group_size: int, p_others: ArrayLike, *, std: str = "sample", eps: float = 1e-4
) -> tuple[NDArray, NDArray]:
    """Effective tables of one prompt in a batch with batch-level std.

    a[S] = E_T[(1 - S/M) / (sd(S + T) + eps)], b[S] = E_T[-(S/M) / (sd(S + T) + eps)],
    T = T_-x ~ ``others_count_pmf``, sd = ``batch_std`` over n = G M rewards; zero numerators
    give 0 (no 0/0 at eps = 0). With no other groups this is ``grpo(std, eps)``.
    Returns:
      (a, b), ``float64[M+1]`` each (a[0] = b[M] = 0).
    """
    m = check_group_size(group_size)
    eps = check_float("eps", eps, 0.0)
    check_choice("std", std, ("sample", "population"))
    pmf = others_count_pmf(m, p_others)
    n = m + (pmf.size - 1)  # G M
    s = np.arange(m + 1, dtype=np.float64)[:, None]
    t = np.arange(pmf.size, dtype=np.float64)[None, :]
    den = batch_std(s + t, n, std) + eps
    inv = np.divide(1.0, den, out=np.zeros_like(den), where=den > 0)
    mean_inv = inv @ pmf  # E_T[1 / (sd(S + T) + eps)] per S
    q = s[:, 0] / m
    a_table = np.where(q < 1, (1.0 - q) * mean_inv, 0.0)
    b_table = np.where(q > 0, -q * mean_inv, 0.0)
    a_table[0] = 0.0
    b_table[m] = 0.0
    return a_table, b_table


def batch_std_weight(
    group_size: int, p: float, p_others: ArrayLike, *, std: str = "sample", eps: float = 1e-4
) -> float:
    """w^batch(p) = sum_k c_k Bin(k; M-1, p), c_k = a[k+1] - b[k] of ``batch_std_tables``.

    E[update of prompt x] = w^batch(p_x) grad p_x exactly, given the other groups' p.
    """
    p = check_float("p", p, 0.0, 1.0)
    a_table, b_table = batch_std_tables(group_size, p_others, std=std, eps=eps)
    return float(bernstein_weight_numpy(a_table[1:] - b_table[:-1], p))


def batch_std_weights(
    group_size: int, p_batch: ArrayLike, *, std: str = "sample", eps: float = 1e-4
) -> NDArray:
    """w^batch of every prompt of a batch of G groups: ``float64[G]``."""
    p_batch = _check_probs("p_batch", p_batch)
    return np.array(
        [
            batch_std_weight(group_size, p, np.delete(p_batch, j), std=std, eps=eps)
            for j, p in enumerate(p_batch)
        ]
    )


def batch_std_limit_weight(group_size: int, p_mean: float, *, eps: float = 1e-4) -> float:
    """Large-batch weight (M-1) / (M (sqrt(pbar (1 - pbar)) + eps)), the same for every prompt.

    Args:
      group_size: M; p_mean: pbar, the batch's (population's) mean success probability.
    """
    m = check_group_size(group_size)
    p_mean = check_float("p_mean", p_mean, 0.0, 1.0)
    eps = check_float("eps", eps, 0.0)
    sigma = math.sqrt(p_mean * (1.0 - p_mean))
    if sigma + eps == 0.0:
        raise InputError(f"p_mean={p_mean!r} is invalid with eps=0: sigma = 0 (no signal)")
    return (m - 1) / (m * (sigma + eps))
