"""The stochastic step direction: ``sample_gradient``, the whole step the simulator ascends.

It draws the batch and the groups, weights them by the scheme's tables
(``sim.group_loss.group_coefficients``, dynamic sampling's ``kept_groups``) and takes the
gradient of ``sim.group_loss.surrogate``; with a KL term (``sim.kl_term``), an entropy bonus
(``sim.entropy_term``) or filters (``sim.filters.filtered_gradient``, which runs instead) on
the same draws. PPO's clipped ratio surrogate over minibatches is ``rlxform.sim.ppo_step`` (same
coefficients, same reduction).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rlxform.sim import entropy_term, kl_term
from rlxform.sim.config import SimConfig
from rlxform.sim.filters import filtered_gradient
from rlxform.sim.group_loss import (
    correct_counts,
    draw_prompts,
    group_coefficients,
    kept_groups,
    surrogate,
)
from rlxform.sim.policies import Group, Policy, combine, partition
from rlxform.types import Array, PRNGKey, PyTree


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
    """One stochastic step direction g at ``params`` (E[g]: ``exact.expected_update``).

    Draws the batch (``batch_key``) and the groups (``sample_key``), then
    g = grad_theta surrogate; the policy's ``fast_gradient`` (a closed form of the same number)
    is used for a full batch without dynamic sampling unless ``use_fast`` is False.
    ``kl`` (None: no KL term, the program of a run without one) adds the KL penalty of
    ``cfg.kl_estimator`` at ``cfg.kl_placement`` against ``kl.ref_params`` (``kl_term``).
    ``filters`` (None: no filter, the program of a run without one) is the ``filter_state`` of
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
    if filters is not None:
        return filtered_gradient(
            sample_key, params, prompts, policy, cfg, a_table, b_table, filters
        )
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
            z = cfg.scheme.real_reward_weights(
                rewards - penalty, group.counts, cfg.group_size, kl.eps
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
