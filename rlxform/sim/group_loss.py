"""The surrogate's pieces: group coefficients, dynamic sampling's mask, the loss, the batch draw.

For a ``Group`` of B groups of N items (bandits: K responses with counts; sequences: M samples)
the coefficient of item n of group b is c_bn = count_bn f_bn Z_bn / M, with Z from the
scheme's a/b tables at the group's correct count S_b and f the loss aggregation
(``rlxform.core.aggregation.aggregation_factor``; 1 for bandits). The loss is
loss = reduce_b sum_n sg(c_bn) rho_bn, reduce = mean over groups (dynamic sampling: the mean
over groups with 0 < S < M, 0 when none), and rho = log pi (plain policy gradient). Every step
route builds on these: ``sim.estimator`` (plain, KL, entropy), ``sim.filters``, ``sim.ppo_step``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rlxform.core.aggregation import aggregation_factor
from rlxform.sim.config import SimConfig
from rlxform.sim.policies import Group
from rlxform.types import Array, PRNGKey


def correct_counts(group: Group) -> Array:
    """S, the number of correct samples of each group, ``int32[B]``."""
    if group.counts is None:
        return jnp.sum(group.rewards, axis=-1).astype(jnp.int32)
    num_correct = jnp.sum(jnp.where(group.rewards, group.counts, 0.0), axis=-1)
    return jnp.round(num_correct).astype(jnp.int32)


def group_coefficients(
    group: Group, a_table: Array, b_table: Array, cfg: SimConfig, z: Array | None = None
) -> tuple[Array, Array]:
    """(c ``float[B, N]``, S ``int32[B]``): c_bn = count_bn f_bn Z_bn / M (module docstring).

    Token-mean normalises over blocks of G = ``cfg.batch_groups`` consecutive groups. ``z``
    ``float[B, N]`` replaces the table weights (real rewards: KL in the reward); Z = 1 gives the
    aggregation scale count f / M of the KL loss.
    """
    s = correct_counts(group)
    if z is None:
        weight = jnp.where(group.rewards, a_table[s][:, None], b_table[s][:, None])
    else:
        weight = z
    if group.counts is not None:
        weight = group.counts * weight
    if group.lengths is not None:
        blocks = group.lengths.reshape(-1, cfg.batch_groups, group.lengths.shape[-1])
        factor = jax.vmap(
            lambda lengths: aggregation_factor(
                cfg.aggregation,
                lengths,
                max_length=cfg.problem.max_length,
                batch_groups=cfg.batch_groups,
            )
        )(blocks)
        weight = factor.reshape(group.lengths.shape).astype(weight.dtype) * weight
    return weight / cfg.group_size, s


def kept_groups(s: Array, group_size: int) -> Array:
    """Dynamic sampling's mask ``bool[B]``: 0 < S < M."""
    return (s > 0) & (s < group_size)


def surrogate(
    log_probs: Array,
    coef: Array,
    keep: Array | None = None,
    old_log_probs: Array | None = None,
) -> Array:
    """reduce_b sum_n sg(c_bn) log pi_bn; its gradient is the step direction g.

    Args:
      log_probs: ``float[B, N]`` log pi of each item under the current params.
      coef: ``float[B, N]`` coefficients (``group_coefficients``), held fixed.
      keep: ``bool[B]`` groups kept by dynamic sampling (None: all, plain mean over B).
      old_log_probs: the behaviour policy's log pi (the PPO seam; unused by plain PG, whose
        ratio is 1 at the sampling params).
    Returns:
      the scalar loss (ascended).
    """
    del old_log_probs  # PPO: rho = exp(log_probs - old_log_probs), clipped, goes here
    per_group = jnp.sum(jax.lax.stop_gradient(coef) * log_probs, axis=-1)
    if keep is None:
        return jnp.mean(per_group)
    kept = jnp.sum(keep)
    return jnp.sum(jnp.where(keep, per_group, 0.0)) / jnp.maximum(kept, 1).astype(per_group.dtype)


def draw_prompts(key: PRNGKey, cfg: SimConfig) -> Array | None:
    """The batch: None (all P in order) or ``int32[B]`` uniform with replacement."""
    if cfg.problem.batch_size is None or cfg.batch == cfg.problem.num_prompts:
        return None
    return jax.random.randint(key, (cfg.batch,), 0, cfg.problem.num_prompts, jnp.int32)
