"""The one surrogate: policy gradient with scheme weights, dynamic sampling and aggregation.

For a ``Group`` of B groups of N items (bandits: K responses with counts; sequences: M samples)
the coefficient of item n of group b is c_bn = count_bn f_bn Z_bn / M, with Z from the
scheme's a/b tables at the group's correct count S_b and f the loss aggregation
(``rlxform.core.aggregation.aggregation_factor``; 1 for bandits). The loss is
loss = reduce_b sum_n sg(c_bn) rho_bn, reduce = mean over groups (dynamic sampling: the mean
over groups with 0 < S < M, 0 when none), and rho = log pi (plain policy gradient).
Seams: ``surrogate`` takes ``old_log_probs``, where a KL term will go; PPO's clipped ratio
surrogate over minibatches is ``rlxform.sim.ppo`` (same coefficients, same reduction);
``sample_gradient`` is the whole stochastic step used by the simulator.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rlxform.core.aggregation import aggregation_factor
from rlxform.sim import entropy_term, kl_term
from rlxform.sim.config import SimConfig
from rlxform.sim.policies import Group, Policy, combine, partition
from rlxform.types import Array, PRNGKey, PyTree


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


def sample_gradient(
    key: PRNGKey,
    params: PyTree,
    policy: Policy,
    cfg: SimConfig,
    a_table: Array,
    b_table: Array,
    use_fast: bool = True,
    kl: kl_term.KLState | None = None,
    filters: object | None = None,
    entropy: Array | None = None,
) -> tuple[PyTree, Array]:
    """One stochastic step direction g at ``params`` (E[g]: ``reference.expected_update``).

    Draws the batch (``batch_key``) and the groups (``sample_key``), then
    g = grad_theta surrogate; the policy's ``fast_gradient`` (a closed form of the same number)
    is used for a full batch without dynamic sampling unless ``use_fast`` is False.
    ``kl`` (None: no KL term, the program of a run without one) adds the KL penalty of
    ``cfg.kl_estimator`` at ``cfg.kl_placement`` against ``kl.ref_params`` (``kl_term``).
    ``filters`` (None: no filter, the program of a run without one) is the ``FilterState`` of
    ``rlxform.sim.filters``, whose step runs instead.
    ``entropy`` (None: no entropy term, the same program) adds c agg(H) (``entropy_term``).
    Returns:
      (g like the trainable part of ``params``, S ``int32[B]``).
    """
    batch_key, sample_key = jax.random.split(key)
    prompts = draw_prompts(batch_key, cfg)
    fast = use_fast and policy.fast_gradient is not None and not cfg.dynamic_sampling
    if kl is not None:
        return _kl_gradient(sample_key, params, prompts, policy, cfg, a_table, b_table, kl, entropy)
    if filters is not None:  # imported here: rlxform.sim.filters builds on this module
        from rlxform.sim.filters import filtered_gradient as step

        return step(sample_key, params, prompts, policy, cfg, a_table, b_table, filters)
    if fast and prompts is None and entropy is None:
        return policy.fast_gradient(sample_key, params, a_table, b_table, cfg.group_size)
    trainable, frozen = partition(params)
    group = policy.sample(sample_key, params, prompts, cfg.group_size)
    coef, s = group_coefficients(group, a_table, b_table, cfg)
    keep = kept_groups(s, cfg.group_size) if cfg.dynamic_sampling else None

    def loss(tr: PyTree) -> Array:
        value = surrogate(policy.log_prob(combine(tr, frozen), group), coef, keep)
        return entropy_term.add_bonus(value, entropy, policy, combine(tr, frozen), group, cfg, keep)

    return jax.grad(loss)(trainable), s


def _token_log_probs(policy: Policy, params: PyTree, group: Group) -> tuple[Array, Array | None]:
    """(log pi per token ``float[B, N, L]``, live mask or None): bandits are one token."""
    if policy.token_log_prob is None:
        return policy.log_prob(params, group)[..., None], None
    return policy.token_log_prob(params, group)


def _kl_gradient(key, params, prompts, policy, cfg, a_table, b_table, kl, entropy=None):
    """``sample_gradient`` with the KL term (module docstring of ``kl_term``)."""
    trainable, frozen = partition(params)
    group = policy.sample(key, params, prompts, cfg.group_size)
    ref_tokens, _ = _token_log_probs(policy, kl_term.stop_ref(kl), group)
    ref_tokens = jax.lax.stop_gradient(ref_tokens)
    s = correct_counts(group)
    keep = kept_groups(s, cfg.group_size) if cfg.dynamic_sampling else None
    if cfg.kl_placement == "loss":
        coef, _ = group_coefficients(group, a_table, b_table, cfg)
        scale, _ = group_coefficients(group, a_table, b_table, cfg, jnp.ones_like(coef))
    else:  # the detached token-sum B sum_t k(l_t), before or after the advantage
        tokens, mask = _token_log_probs(policy, params, group)
        penalty = jnp.sum(kl_term.token_kl(cfg.kl_estimator, tokens, ref_tokens, mask), -1)
        penalty = kl.coef * jax.lax.stop_gradient(penalty)
        if cfg.kl_placement == "reward":
            rewards = jnp.broadcast_to(group.rewards, penalty.shape).astype(penalty.dtype)
            z = kl_term.real_reward_weights(
                cfg.scheme, rewards - penalty, group.counts, cfg.group_size, kl.eps
            )
            coef, _ = group_coefficients(group, a_table, b_table, cfg, z)
        else:  # advantage: A_n - B k_n, the same aggregation scale count f / M
            coef, _ = group_coefficients(group, a_table, b_table, cfg)
            scale, _ = group_coefficients(group, a_table, b_table, cfg, jnp.ones_like(coef))
            coef = coef - scale * penalty

    def loss(tr: PyTree) -> Array:
        current = combine(tr, frozen)
        value = surrogate(policy.log_prob(current, group), coef, keep)
        value = entropy_term.add_bonus(value, entropy, policy, current, group, cfg, keep)
        if cfg.kl_placement != "loss":
            return value
        tokens, mask = _token_log_probs(policy, current, group)
        per_item = jnp.sum(kl_term.token_kl(cfg.kl_estimator, tokens, ref_tokens, mask), -1)
        return value - kl.coef * surrogate(per_item, scale, keep)

    return jax.grad(loss)(trainable), s
