"""Scheme weights on real-valued rewards: the real-reward forms the catalog's rules declare.

With KL in the reward (verl ``use_kl_in_reward``: r' = r - beta sum_t k_t, then the advantage) a
scheme sees real rewards. A group of M holds N distinct items with rewards ``float[..., N]`` and
multiplicities ``counts`` (None: each once), mean r̄ = sum_n c_n r_n / M: reinforce Z = r, rloo
Z = r - mean of the others = M (r - r̄) / (M - 1), mean baseline Z = r - r̄, std-normalised
Z = (r - r̄) / (sd + eps). ``grpo_advantages`` is GRPO's normalisation of any rewards, item by
item. Every function follows its inputs' namespace (NumPy float64 or JAX).

A group whose present items (count > 0) all hold the same reward has zero spread, and every
centred form gives it exactly 0: equality of the values is tested exactly, since the float mean
of M equal numbers need not round back to them (M = 3, 5, 6, 7 in float64), and the residue
divided by its own standard deviation would be +-1.

Every form here gives a constant group exactly 0 and gives the sample of the highest reward an
expected weight above the group's mean weight (the lowest one below): Z = r, or
Z = (r - r̄) g with g > 0 the same for the whole group. ``rlxform.core.kl.kl_equilibrium``
uses exactly this to place the stopping point of KL-in-the-reward ascent.
"""

from __future__ import annotations

import numpy as np

from rlxform.core.xp import float_array, namespace
from rlxform.types import Array, ArrayLike
from rlxform.validation import check_choice


def constant_groups(xp, rewards: Array, present: Array | None) -> Array:
    """``bool[..., 1]``: every present item of the group holds the same reward (exact test).

    Args:
      rewards: ``float[..., N]``; present: ``bool[..., N]`` (None: every item).
    """
    if present is None:
        high, low = xp.max(rewards, axis=-1, keepdims=True), xp.min(rewards, axis=-1, keepdims=True)
    else:
        high = xp.max(xp.where(present, rewards, -xp.inf), axis=-1, keepdims=True)
        low = xp.min(xp.where(present, rewards, xp.inf), axis=-1, keepdims=True)
    return high == low


def centred_rewards(rewards: ArrayLike, counts: ArrayLike | None, group_size: int):
    """(xp, multiplicities ``float[..., N]``, r - r̄ ``float[..., N]``), r̄ = sum_n c_n r_n / M;
    exactly 0 in a group whose present items all hold one reward (``constant_groups``)."""
    xp = namespace(rewards, counts)
    rewards = xp.asarray(rewards)
    weight = xp.ones_like(rewards) if counts is None else xp.asarray(counts).astype(rewards.dtype)
    mean = xp.sum(weight * rewards, axis=-1, keepdims=True) / float(group_size)
    constant = constant_groups(xp, rewards, None if counts is None else weight > 0)
    return xp, weight, xp.where(constant, 0.0, rewards - mean)


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
    rewards: Array,
    counts: Array | None,
    group_size: int,
    std: str,
    eps: ArrayLike,
    floor: ArrayLike = 0.0,
    **_: object,
) -> Array:
    """Z = (r - r̄) / (sd + eps), sd the population or sample std (0 when sd = 0); ``floor``:
    sd = sqrt(max(var, floor)) (verl grpo_vectorized floors the variance at its epsilon)."""
    xp, weight, centred = centred_rewards(rewards, counts, group_size)
    ddof = 1.0 if std == "sample" else 0.0
    var = xp.sum(weight * centred**2, axis=-1, keepdims=True) / (float(group_size) - ddof)
    var = xp.maximum(var, floor)
    positive = var > 0
    sd = xp.where(positive, xp.sqrt(xp.where(positive, var, 1.0)), 0.0)
    den = sd + eps
    ok = den > 0
    return xp.where(ok, centred / xp.where(ok, den, 1.0), 0.0)


def grpo_advantages(rewards: ArrayLike, std: str = "population", eps: ArrayLike = 0.0) -> Array:
    """GRPO advantages for real-valued rewards: (r - mean) / (sd + eps) over the last axis.

    The group-normalised form that ``grpo`` tabulates for 0/1 rewards (a group of equal rewards
    gives exactly 0). With eps = 0 it is invariant to r -> alpha + beta r, beta > 0 (in exact
    arithmetic; floats round).
    Args:
      rewards: ``float[..., M]``; std: "population" or "sample"; eps: >= 0.
    Returns:
      ``float[..., M]``: NumPy float64, or JAX for JAX arguments (jit / grad through it).
    """
    check_choice("std", std, ("population", "sample"))
    xp = namespace(rewards, eps)
    rewards = float_array(xp, rewards)
    m = rewards.shape[-1]
    constant = constant_groups(xp, rewards, None)  # exact: the float mean need not round back
    centred = xp.where(constant, 0.0, rewards - xp.mean(rewards, axis=-1, keepdims=True))
    ddof = 1 if std == "sample" else 0
    var = xp.sum(centred**2, axis=-1, keepdims=True) / max(m - ddof, 1)
    positive = var > 0  # double where: sqrt'(0) = inf would make the gradient 0 * inf = NaN
    sd = xp.where(positive, xp.sqrt(xp.where(positive, var, 1.0)), 0.0)
    den = sd + eps
    ok = (den > 0) & ~constant
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where(ok, centred / xp.where(ok, den, 1.0), 0.0)
