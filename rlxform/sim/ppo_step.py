"""PPO's inner loop: one rollout batch, then E epochs x N minibatches of clipped-surrogate steps.

At each simulator step the policy draws one rollout (B groups, old log-probs detached, the
scheme's coefficients c_bn fixed); then every epoch permutes the B groups (a fresh permutation
per epoch from pre-split keys) into N minibatches of B / N groups and takes one optimizer step
per minibatch on the clipped surrogate (verl ``compute_policy_loss``, DAPO clip-higher):
  l_bn = min(rho c, clip(rho, 1 - clip_low, 1 + clip_high) c), rho = exp(log pi - log pi_old),
  and with a dual clip C for c < 0: l_bn = max(l_bn, C c) (the loss -l is bounded by -C c),
loss = mean over the minibatch's groups of sum_n l_bn (kept groups under dynamic sampling).
c = count Z / M carries the sample counts and the advantage Z (positively homogeneous, so the
per-response term equals the sum over its samples). At the rollout params rho = 1 and the
gradient is the plain one (E = N = 1 is exactly the plain update). Bandit policies only.
With ``SimConfig.loss_mode`` each minibatch step is that trainer's loss instead, on bandit and
sequence policies (``rlxform.sim.loss_mode``: per-token ratios, sequence ratios, caps and gates;
the clip fraction is then the share of the unclipped gradient removed).
Exact reference for the scalar-logit policy: ``rlxform.core.ppo`` (one split replayed every epoch).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from rlxform.sim import group_loss, std_scope
from rlxform.sim import loss_mode as loss_mode_lib
from rlxform.sim.config import DEFAULT_CLIP, SimConfig, extend_metrics
from rlxform.sim.hparams import HParams
from rlxform.sim.loop import TrainState
from rlxform.sim.policies import Group, Policy, combine
from rlxform.types import Array, ArrayLike, PRNGKey, PyTree

PPOMetrics = extend_metrics(
    "PPOMetrics",
    ("clip_fraction",),
    """``Metrics`` of a PPO run (``SimConfig.ppo_step``) plus the clip fraction.

    Attributes: as ``Metrics``, and clip_fraction: float32[R], the share of samples whose
    gradient the clip zeroed (a loss mode: the share of the unclipped gradient its clips, caps
    and gates remove, ``core.loss_modes.simulated.clipped_share``, over all tokens), averaged
    over the E N updates of the steps since the previous record (0 at record 0, NaN after
    divergence).
    """,
)


SequencePPOMetrics = extend_metrics(
    "SequencePPOMetrics",
    ("mean_length_correct", "mean_length_wrong", "clip_fraction"),
    """``SequenceMetrics`` of a sequence policy with PPO's inner loop plus the clip fraction
    (fields as ``SequenceMetrics`` and ``PPOMetrics``).""",
)


class Clip(NamedTuple):
    """Traced clip range: ratio in [1 - low, 1 + high]; dual C > 1 or None (off)."""

    low: ArrayLike
    high: ArrayLike
    dual: ArrayLike | None = None


def clip_of(hparams: HParams) -> Clip:
    """The ``Clip`` of ``hparams`` (None clip ranges = verl's default 0.2)."""
    low = DEFAULT_CLIP if hparams.clip_low is None else hparams.clip_low
    high = DEFAULT_CLIP if hparams.clip_high is None else hparams.clip_high
    return Clip(low, high, hparams.dual_clip)


def clipped_terms(log_probs: Array, old_log_probs: Array, coef: Array, clip: Clip):
    """Per-item clipped surrogate l and whether the clip zeroes its gradient.

    Args:
      log_probs, old_log_probs: ``float[B, N]`` log pi now and at the rollout (held fixed).
      coef: ``float[B, N]`` c_bn (held fixed); clip: the clip range.
    Returns:
      (l ``float[B, N]``, clipped ``bool[B, N]``): clipped where c > 0 and rho > 1 + high,
      c < 0 and rho < 1 - low, or (dual) c < 0 and rho > C.
    """
    coef = jax.lax.stop_gradient(coef)
    ratio = jnp.exp(log_probs - jax.lax.stop_gradient(old_log_probs))
    low, high = 1.0 - jnp.asarray(clip.low), 1.0 + jnp.asarray(clip.high)
    terms = jnp.minimum(ratio * coef, jnp.clip(ratio, low, high) * coef)
    clipped = ((coef > 0) & (ratio > high)) | ((coef < 0) & (ratio < low))
    if clip.dual is not None:
        dual = jnp.asarray(clip.dual)
        terms = jnp.where(coef < 0, jnp.maximum(terms, dual * coef), terms)
        clipped = clipped | ((coef < 0) & (ratio > dual))
    return terms, jax.lax.stop_gradient(clipped)


def clipped_surrogate(
    log_probs: Array,
    old_log_probs: Array,
    coef: Array,
    clip: Clip,
    keep: Array | None = None,
    counts: Array | None = None,
) -> tuple[Array, Array]:
    """(loss, clip fraction): ``group_loss.surrogate``'s reduction of the clipped terms.

    The clip fraction is the share of samples (``counts``, or one per item) whose gradient the
    clip zeroes (verl's ``pg_clipfrac`` with the dual clip included).
    """
    terms, clipped = clipped_terms(log_probs, old_log_probs, coef, clip)
    per_group = jnp.sum(terms, axis=-1)
    if keep is None:
        loss = jnp.mean(per_group)
    else:
        kept = jnp.maximum(jnp.sum(keep), 1).astype(per_group.dtype)
        loss = jnp.sum(jnp.where(keep, per_group, 0.0)) / kept
    samples = jnp.ones_like(coef) if counts is None else counts
    fraction = jnp.sum(jnp.where(clipped, samples, 0.0)) / jnp.sum(samples)
    return loss, fraction


def minibatch_order(keys: PRNGKey, num_groups: int, num_minibatches: int) -> Array:
    """Group indices of each optimizer step: ``int32[E N, B / N]``, one permutation per epoch.

    Args:
      keys: ``key[E]``, one per epoch (pre-split).
    """
    perms = jax.vmap(lambda k: jax.random.permutation(k, num_groups))(keys)
    return perms.reshape(-1, num_groups // num_minibatches).astype(jnp.int32)


def _take(group: Group, prompts: Array, index: Array) -> Group:
    """The sub-``Group`` of the groups ``index`` (broadcast rewards stay as they are)."""
    rewards = group.rewards if group.rewards.ndim == 1 else group.rewards[index]
    rows = {
        name: getattr(group, name)[index]
        for name in ("counts", "lengths", "tokens", "nodes")
        if getattr(group, name) is not None
    }
    return group._replace(prompts=prompts[index], rewards=rewards, **rows)


def make_ppo_step(
    cfg: SimConfig,
    policy: Policy,
    optimizer: optax.GradientTransformation,
    frozen: PyTree,
    a_table: Array,
    b_table: Array,
    hparams: HParams,
):
    """``step(state, (rollout_key, epoch_keys key[E])) -> (state, (degenerate, clip fraction))``.

    One rollout at ``state``'s params (``group_loss.draw_prompts`` and ``policy.sample`` on the
    two halves of ``rollout_key``, as ``estimator.sample_gradient``), then an inner
    ``lax.scan`` of E N optimizer steps on ``clipped_surrogate``. The clip fraction is the mean
    over the E N steps.
    """
    clip = clip_of(hparams)
    loss_mode = cfg.loss[0]
    m = cfg.group_size
    scale_std = cfg.std_scope == "batch"
    std, eps = std_scope.std_kind(cfg.scheme), std_scope.scheme_eps(cfg.scheme, hparams.eps)

    def step(state: TrainState, x) -> tuple[TrainState, tuple[Array, Array]]:
        rollout_key, epoch_keys = x
        batch_key, sample_key = jax.random.split(rollout_key)
        params = combine(state.trainable, frozen)
        prompts = group_loss.draw_prompts(batch_key, cfg)
        group = policy.sample(sample_key, params, prompts, m)
        if loss_mode is not None:
            rollout = loss_mode_lib.make_rollout(policy, params, group, a_table, b_table, m)
            s = group_loss.correct_counts(group)
            if scale_std:
                scale = std_scope.batch_scale(s, m, std, eps)
                rollout = rollout._replace(advantages=rollout.advantages * scale)
            num_groups = s.shape[0]
        else:
            coef, s = group_loss.group_coefficients(group, a_table, b_table, cfg)
            if scale_std:
                coef = coef * std_scope.batch_scale(s, m, std, eps)
            keep = group_loss.kept_groups(s, m) if cfg.dynamic_sampling else None
            old_log_probs = jax.lax.stop_gradient(policy.log_prob(params, group))
            num_groups = coef.shape[0]
        all_prompts = jnp.arange(num_groups, dtype=jnp.int32) if prompts is None else prompts

        def update(state: TrainState, index: Array) -> tuple[TrainState, Array]:
            if loss_mode is not None:
                index = jnp.sort(index)
            sub = _take(group, all_prompts, index)

            def loss(tr: PyTree) -> tuple[Array, Array]:
                current = combine(tr, frozen)
                if loss_mode is not None:  # blocks of G groups in rollout order (sorted index)
                    rows = jax.tree_util.tree_map(lambda x: x[index], rollout)
                    log_probs, _ = loss_mode_lib.token_log_probs(policy, current, sub, rows.samples)
                    return loss_mode_lib.mode_objective(
                        loss_mode, log_probs, rows, cfg.batch_groups
                    )
                sub_keep = None if keep is None else keep[index]
                log_probs = policy.log_prob(current, sub)
                return clipped_surrogate(
                    log_probs, old_log_probs[index], coef[index], clip, sub_keep, sub.counts
                )

            grads, fraction = jax.grad(loss, has_aux=True)(state.trainable)
            ascent = jax.tree_util.tree_map(jnp.negative, grads)
            updates, opt_state = optimizer.update(ascent, state.opt_state, state.trainable)
            return TrainState(optax.apply_updates(state.trainable, updates), opt_state), fraction

        order = minibatch_order(epoch_keys, num_groups, cfg.num_minibatches)
        state, fractions = jax.lax.scan(update, state, order)
        degenerate = jnp.mean(((s == 0) | (s == m)).astype(jnp.float32))
        return state, (degenerate, jnp.mean(fractions))

    return step


def step_keys(key: PRNGKey, cfg: SimConfig) -> tuple[PRNGKey, PRNGKey]:
    """Pre-split ``xs`` of a PPO run: rollout keys ``key[T]`` and epoch keys ``key[T, E]``."""
    rollout_key, shuffle_key = jax.random.split(key)
    rollout_keys = jax.random.split(rollout_key, cfg.num_steps)
    epoch_keys = jax.random.split(shuffle_key, cfg.num_steps * cfg.ppo_epochs)
    return rollout_keys, epoch_keys.reshape(cfg.num_steps, cfg.ppo_epochs)
