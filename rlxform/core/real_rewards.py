"""Scheme weights on real-valued rewards: the real-reward forms the catalog's rules declare.

With KL in the reward (verl ``use_kl_in_reward``: r' = r - beta sum_t k_t, then the advantage) a
scheme sees real rewards. A group of M holds N distinct items with rewards ``float[..., N]`` and
multiplicities ``counts`` (None: each once), mean r̄ = sum_n c_n r_n / M: reinforce Z = r, rloo
Z = r - mean of the others = M (r - r̄) / (M - 1), mean baseline Z = r - r̄, std-normalised
Z = (r - r̄) / (sd + eps). ``grpo_advantages`` is GRPO's normalisation of any rewards, item by
item. Every function follows its inputs' namespace (NumPy float64 or JAX).
"""

from __future__ import annotations

import numpy as np

from rlxform.core.xp import float_array, namespace
from rlxform.types import Array, ArrayLike
from rlxform.validation import check_choice


def centred_rewards(rewards: ArrayLike, counts: ArrayLike | None, group_size: int):
    """(xp, multiplicities ``float[..., N]``, r - r̄ ``float[..., N]``), r̄ = sum_n c_n r_n / M."""
    xp = namespace(rewards, counts)
    weight = xp.ones_like(rewards) if counts is None else counts.astype(rewards.dtype)
    mean = xp.sum(weight * rewards, axis=-1, keepdims=True) / float(group_size)
    return xp, weight, rewards - mean


def reinforce_weights(rewards: Array, counts: Array | None, group_size: int) -> Array:
    """Z = r."""
    return rewards


def rloo_weights(rewards: Array, counts: Array | None, group_size: int) -> Array:
    """Z = r - mean of the others = M (r - r̄) / (M - 1)."""
    m = float(group_size)
    return m * centred_rewards(rewards, counts, group_size)[2] / (m - 1.0)


def mean_baseline_weights(rewards: Array, counts: Array | None, group_size: int) -> Array:
    """Z = r - r̄."""
    return centred_rewards(rewards, counts, group_size)[2]


def normalised_weights(
    rewards: Array, counts: Array | None, group_size: int, std: str, eps: ArrayLike, **_: object
) -> Array:
    """Z = (r - r̄) / (sd + eps), sd the population or sample std (0 when sd = 0)."""
    xp, weight, centred = centred_rewards(rewards, counts, group_size)
    ddof = 1.0 if std == "sample" else 0.0
    var = xp.sum(weight * centred**2, axis=-1, keepdims=True) / (float(group_size) - ddof)
    positive = var > 0
    sd = xp.where(positive, xp.sqrt(xp.where(positive, var, 1.0)), 0.0)
    den = sd + eps
    ok = den > 0
    return xp.where(ok, centred / xp.where(ok, den, 1.0), 0.0)


def grpo_advantages(rewards: ArrayLike, std: str = "population", eps: ArrayLike = 0.0) -> Array:
    """GRPO advantages for real-valued rewards: (r - mean) / (sd + eps) over the last axis.

    The group-normalised form that ``grpo`` tabulates for 0/1 rewards (zero-variance groups give
    0). With eps = 0 it is invariant to r -> alpha + beta r, beta > 0.
    Args:
      rewards: ``float[..., M]``; std: "population" or "sample"; eps: >= 0.
    Returns:
      ``float[..., M]``: NumPy float64, or JAX for JAX arguments (jit / grad through it).
    """
    check_choice("std", std, ("population", "sample"))
    xp = namespace(rewards, eps)
    rewards = float_array(xp, rewards)
    m = rewards.shape[-1]
    centred = rewards - xp.mean(rewards, axis=-1, keepdims=True)
    ddof = 1 if std == "sample" else 0
    var = xp.sum(centred**2, axis=-1, keepdims=True) / max(m - ddof, 1)
    positive = var > 0  # double where: sqrt'(0) = inf would make the gradient 0 * inf = NaN
    sd = xp.where(positive, xp.sqrt(xp.where(positive, var, 1.0)), 0.0)
    den = sd + eps
    ok = (den > 0) & (sd > 1e-12 * xp.max(xp.abs(rewards), axis=-1, keepdims=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where(ok, centred / xp.where(ok, den, 1.0), 0.0)
