"""A trainer's loss mode as the simulator's loss: the framework's own per-token gradient, in JAX.

``SimConfig.loss_mode`` (``verl:gspo``, ``trl:cispo``, ...) replaces the surrogate of
``estimator`` / ``ppo`` by the loss the trainer computes: every minibatch step takes
g = ``core.loss_modes.token_gradient(mode, batch)``, d loss / d log pi of each token, the same
NumPy-written formula evaluated in jax.numpy, and ascends sum_{i,t} sg(-g_it) log pi_it, whose
gradient in the params is minus the framework's. A batch row is one sample: a sequence's tokens,
or one token for a bandit (its K response counts expanded into the M samples). Normalisers are
those of a block of G = ``batch_groups`` groups (the framework's micro-batch: token-mean over its
tokens, seq-mean over its G M answers), averaged over the minibatch's blocks, so at ratio 1 the
step is ``first_update``'s scale times the plain update with the mode's aggregation.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlxform.core.loss_modes import LossMode, TokenBatch, token_gradient
from rlxform.core.loss_modes.simulated import clipped_share, unclipped
from rlxform.sim.group_loss import correct_counts
from rlxform.sim.policies import Group, Policy
from rlxform.types import Array, PyTree


class Rollout(NamedTuple):
    """What a rollout fixes for its E x N updates, per group (leading axis B).

    advantages: ``float32[B, M]`` the scheme's A of each sample (a[S] or b[S]).
    old_log_probs: ``float32[B, M, W]`` log pi_old per token (0 on padding).
    mask: ``float32[B, M, W]`` 1 on the sample's tokens (W = max_length; bandits W = 1).
    samples: ``int32[B, M]`` the response of each sample (bandits), or None (sequences).
    """

    advantages: Array
    old_log_probs: Array
    mask: Array
    samples: Array | None


def expand_samples(counts: Array, group_size: int) -> Array:
    """``int32[B, M]``: the M samples of each group as response indices (in response order),
    from ``counts float[B, K]`` summing to M: sample j is the first k with j < cumsum(counts)[k]."""
    ends = jnp.cumsum(jnp.round(counts).astype(jnp.int32), axis=-1)  # [B, K]
    positions = jnp.arange(group_size, dtype=jnp.int32)
    return jnp.sum(ends[:, None, :] <= positions[None, :, None], axis=-1).astype(jnp.int32)


def token_log_probs(
    policy: Policy, params: PyTree, group: Group, samples: Array | None
) -> tuple[Array, Array]:
    """(log pi per token ``float[B, M, W]``, mask ``float[B, M, W]``) of the group's samples."""
    if samples is None:
        tokens, live = policy.token_log_prob(params, group)
        return tokens, live.astype(tokens.dtype)
    per_response = policy.log_prob(params, group)  # [B, K]
    chosen = jnp.take_along_axis(per_response, samples, axis=-1)[..., None]
    return chosen, jnp.ones_like(chosen)


def sample_advantages(group: Group, samples: Array | None, a_table, b_table) -> Array:
    """A of each sample, ``float32[B, M]``: a[S] on correct samples, b[S] on wrong ones."""
    s = correct_counts(group)
    rewards = group.rewards
    if samples is not None:
        rewards = jnp.broadcast_to(rewards, group.counts.shape)
        rewards = jnp.take_along_axis(rewards, samples, axis=-1)
    return jnp.where(rewards, a_table[s][:, None], b_table[s][:, None]).astype(jnp.float32)


def make_rollout(
    policy: Policy, params: PyTree, group: Group, a_table, b_table, group_size: int
) -> Rollout:
    """The ``Rollout`` of a drawn group at the rollout params (old log-probs detached)."""
    samples = None if group.counts is None else expand_samples(group.counts, group_size)
    old, mask = token_log_probs(policy, params, group, samples)
    advantages = sample_advantages(group, samples, a_table, b_table)
    return Rollout(advantages, jax.lax.stop_gradient(old), mask, samples)


def mode_objective(
    loss_mode: LossMode,
    log_probs: Array,
    rollout: Rollout,
    batch_groups: int,
) -> tuple[Array, Array]:
    """(objective, clip fraction) of one minibatch of B' groups; ascend the objective.

    objective = mean over blocks of G groups of sum_{i,t} sg(-g_it) log pi_it with g the mode's
    ``token_gradient`` on the block (log pi detached in g, ratio = exp(log pi - log pi_old)); the
    clip fraction is sum of ``clipped_share`` (against ``unclipped(mode)``) over all tokens.

    Args:
      log_probs: ``float[B', M, W]`` differentiable log pi per token (``token_log_probs``).
      rollout: the minibatch's rows of the ``Rollout``.
    """
    open_mode = unclipped(loss_mode)
    blocks = log_probs.shape[0] // batch_groups
    width = log_probs.shape[-1]

    def rows(x):
        return x.reshape(blocks, -1, width)

    def block(log_probs, old, mask, advantages):
        batch = TokenBatch(advantages, mask, jax.lax.stop_gradient(log_probs), old)
        grad = jax.lax.stop_gradient(token_gradient(loss_mode, batch))
        open_grad = token_gradient(open_mode, batch)
        share = jnp.sum(clipped_share(jnp, grad, open_grad, mask))
        return -jnp.sum(grad * log_probs), share

    objective, share = jax.vmap(block)(
        rows(log_probs),
        rows(rollout.old_log_probs),
        rows(rollout.mask),
        rollout.advantages.reshape(blocks, -1),
    )
    fraction = jnp.sum(share) / jnp.sum(rollout.mask)
    return jnp.mean(objective), jax.lax.stop_gradient(fraction)
