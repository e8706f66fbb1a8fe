"""The exact mean step of dynamic sampling (SPEC section 7).

Dynamic sampling drops the groups with S = 0 or S = M from a step's batch of B groups and averages
the loss over the N kept ones: step = sum_j keep_j g_j / max(N, 1). Groups are independent given
theta, so E[step] = sum_x c_x w°_M(p_x) grad p_x with
w°_M = w_M - a[M] p^(M-1) + b[0] (1-p)^(M-1) (the degenerate groups' own terms removed) and
c_x = E[1 / (1 + N_-x)] over the kept groups N_-x among the others. This is not the gradient of one
fixed objective (c_x depends on the other prompts); for large B, c_x -> 1 / (B (1 - d)), d the
mean degenerate probability: ascent on mean_x h°_M(p_x) (h°' = w°) with the step scaled by
1 / (1 - d). DAPO instead refills the batch with kept groups, which gives that form at every B.
Every function follows its inputs' namespace: NumPy float64, or JAX (the simulator's reference).
"""

from __future__ import annotations

import functools

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core.xp import float_array, namespace
from rlxform.types import Array, ArrayLike, NDArray
from rlxform.validation import InputError


def kept_probability(p: ArrayLike, group_size: int) -> Array:
    """q = P(0 < S < M) = 1 - p^M - (1-p)^M for S ~ Binomial(M, p): ``float[...]`` like p.

    Written with expm1 on the side of the nearer end, so q keeps its relative accuracy near 0 and 1.
    """
    xp = namespace(p)
    p = float_array(xp, p)
    m = group_size
    with np.errstate(divide="ignore", invalid="ignore"):
        low = -xp.expm1(m * xp.log1p(-p)) - p**m  # 1 - (1-p)^M - p^M, accurate for small p
        high = -xp.expm1(m * xp.log(p)) - (1.0 - p) ** m
    return xp.clip(xp.where(p < 0.5, low, high), 0.0, 1.0)


def kept_coefficients(a_table: ArrayLike, b_table: ArrayLike) -> Array:
    """Bernstein coefficients c° of w°_M = B_{M-1}[c°]: ``float[M]``.

    c = a[1:] - b[:-1]; the S = M group adds a[M] p^(M-1) (the k = M-1 basis) and the S = 0 group
    -b[0] (1-p)^(M-1) (the k = 0 basis), so c°_0 = c_0 + b[0] and c°_{M-1} = c_{M-1} - a[M].
    """
    xp = namespace(a_table, b_table)
    a_table, b_table = float_array(xp, a_table), float_array(xp, b_table)
    k = np.arange(a_table.shape[-1] - 1)
    c = a_table[1:] - b_table[:-1]
    return c + xp.where(k == 0, b_table[0], 0.0) - xp.where(k == k[-1], a_table[-1], 0.0)


def kept_weight(a_table: ArrayLike, b_table: ArrayLike, p: ArrayLike) -> Array:
    """w°_M(p) = w_M(p) - a[M] p^(M-1) + b[0] (1-p)^(M-1): ``float[...]`` like p."""
    coefficients = kept_coefficients(a_table, b_table)
    p = float_array(namespace(p, coefficients), p)
    return bern.bernstein(coefficients.astype(p.dtype), p)


@functools.lru_cache(maxsize=64)
def _gauss_legendre(num_nodes: int) -> tuple[NDArray, NDArray]:
    """Gauss-Legendre nodes and weights on [-1, 1] (an eigenproblem: cached, read-only)."""
    nodes, weights = np.polynomial.legendre.leggauss(num_nodes)
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


def full_batch_factor(kept: ArrayLike) -> Array:
    """kappa_x = E[1 / (1 + N_-x)], N_-x Poisson-binomial over the other prompts: ``float[P]``.

    kappa_x = int_0^1 prod_{y != x} (1 - q_y (1 - t)) dt, a polynomial of degree P-1 in t,
    integrated exactly by Gauss-Legendre with P // 2 + 1 nodes (products in log space).
    Cost O(P^2) per call.

    Args:
      kept: ``float[P]`` kept probabilities q_y.
    """
    xp = namespace(kept)
    kept = float_array(xp, kept)
    num_prompts = kept.shape[-1]
    nodes, node_weights = _gauss_legendre(num_prompts // 2 + 1)
    s = xp.asarray((1.0 - nodes) / 2.0, kept.dtype)  # s = 1 - t, t mapped to [0, 1]
    logs = xp.log1p(-kept[None, :] * s[:, None])  # [G, P]
    others = xp.sum(logs, axis=-1, keepdims=True) - logs  # log prod_{y != x}
    return xp.sum(xp.asarray(node_weights / 2.0, kept.dtype)[:, None] * xp.exp(others), axis=0)


def uniform_batch_factor(kept: ArrayLike, batch_size: int) -> Array:
    """Per-prompt factor for B slots drawn uniformly with replacement: ``float[]``.

    Slots are i.i.d. (prompt uniform, then its group), so each slot is kept with probability
    qbar = mean_y q_y independently, N_-j ~ Binomial(B-1, qbar) and
    E[step] = B E[keep_1 g_1] E[1 / (1 + N_-1)] = (1/P) sum_{j<B} (1-qbar)^j sum_x w° grad p_x.
    """
    xp = namespace(kept)
    kept = float_array(xp, kept)
    qbar = xp.mean(kept, axis=-1)
    powers = xp.arange(batch_size, dtype=kept.dtype)
    return xp.sum((1.0 - qbar[..., None]) ** powers, axis=-1) / kept.shape[-1]


def step_factors(p: ArrayLike, group_size: int, batch_size: int) -> Array:
    """c_x with E[step] = sum_x c_x w°_M(p_x) grad p_x under dynamic sampling: ``float[P]``.

    Args:
      p: ``float[P]`` success probabilities.
      group_size: M.
      batch_size: B; B = P is the full batch (every prompt once), B < P uniform with replacement.
    """
    xp = namespace(p)
    p = float_array(xp, p)
    num_prompts = p.shape[-1]
    if not 1 <= batch_size <= num_prompts:
        raise InputError(f"batch_size={batch_size!r} is invalid: must be in [1, {num_prompts}]")
    kept = kept_probability(p, group_size)
    if batch_size == num_prompts:
        return full_batch_factor(kept)
    return xp.broadcast_to(uniform_batch_factor(kept, batch_size), p.shape)
