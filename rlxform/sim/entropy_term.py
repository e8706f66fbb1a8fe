"""The entropy bonus of the simulator, c agg(H), as verl, TRL and OpenRLHF add it to the loss.

Each drawn token t of item n of group b contributes the full-vocabulary entropy H(n_t) of the
policy's next-token distribution at its prefix (``Policy.prefix_logits``; a bandit item is one
token at the prompt's one decision), ``rlxform.core.entropy.entropy``. The ascended surrogate gets

    + c reduce_b sum_n s_bn sum_t H(n_bnt),   s_bn = count_bn f_bn / M,

f the aggregation factor of ``SimConfig.entropy_aggregation`` (None: the loss's ``aggregation``,
as verl does; TRL and OpenRLHF use token-mean whatever the loss's mode; token-mean blocks are
the config's ``batch_groups``) and reduce the policy-gradient term's (dynamic sampling: the
kept groups). It is differentiated through H with the draws fixed, as the trainers do.
``exact_step`` is the exact expected step exact ascent adds: c grad_theta sum_x m_x sum_n
sg(u_xn) H_xn with u the prefix weights of ``core.entropy`` under the simulator's batch
(``exact_weights.aggregation_scale``) and m_x = 1/P, or c_x P(0 < S < M) under dynamic sampling
(``core.dynamic.step_factors``: a bandit's entropy does not depend on its draws).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rlxform.core import dynamic
from rlxform.core.aggregation import aggregation_factor
from rlxform.core.entropy import entropy, subtree_sums
from rlxform.sim.combinations import check_entropy_combination
from rlxform.sim.config import SimConfig
from rlxform.sim.exact_weights import aggregation_scale
from rlxform.sim.policies import Group, Policy, combine, partition
from rlxform.types import Array, ArrayLike, PyTree
from rlxform.validation import InputError


def aggregation_of(cfg: SimConfig) -> str:
    """The entropy bonus's aggregation: ``cfg.entropy_aggregation``, else the loss's."""
    return cfg.entropy_aggregation or cfg.aggregation


def group_entropies(policy: Policy, params: PyTree, group: Group) -> Array:
    """sum_t H(n_t) of every item of ``group``: ``float[B, N]`` (bandits: the prompt's H)."""
    if policy.prefix_logits is None:
        raise InputError("this policy has no prefix_logits: the entropy bonus needs them")
    table = policy.prefix_logits(params)  # [P, D, V]
    if group.nodes is None:  # one token per item, drawn at the prompt's one decision
        rows = table[:, 0] if group.prompts is None else table[group.prompts, 0]
        per_prompt = entropy(rows)  # [B]
        return jnp.broadcast_to(per_prompt[:, None], group.counts.shape)
    live = group.nodes >= 0
    rows = table[group.prompts[:, None, None], jnp.where(live, group.nodes, 0)]  # [B, M, L, V]
    return jnp.sum(jnp.where(live, entropy(rows), 0.0), axis=-1)


def item_scale(group: Group, cfg: SimConfig, dtype) -> Array:
    """s_bn = count_bn f_bn / M with f of the entropy aggregation: ``float[B, N]``."""
    if group.lengths is None:  # bandits: f = 1
        return group.counts.astype(dtype) / cfg.group_size
    blocks = group.lengths.reshape(-1, cfg.batch_groups, group.lengths.shape[-1])
    factor = jax.vmap(
        lambda lengths: aggregation_factor(
            aggregation_of(cfg),
            lengths,
            max_length=cfg.problem.max_length,
            batch_groups=cfg.batch_groups,
        )
    )(blocks)
    return factor.reshape(group.lengths.shape).astype(dtype) / cfg.group_size


def add_bonus(
    value: Array,
    coef: ArrayLike | None,
    policy: Policy,
    params: PyTree,
    group: Group,
    cfg: SimConfig,
    keep: Array | None,
) -> Array:
    """``value + c reduce_b sum_n sg(s_bn) sum_t H(n_bnt)``; ``value`` itself when c is None
    (the program without the term)."""
    if coef is None:
        return value
    per_item = group_entropies(policy, params, group)
    scale = jax.lax.stop_gradient(item_scale(group, cfg, per_item.dtype))
    per_group = jnp.sum(scale * per_item, axis=-1)
    if keep is None:
        bonus = jnp.mean(per_group)
    else:
        kept = jnp.maximum(jnp.sum(keep), 1).astype(per_group.dtype)
        bonus = jnp.sum(jnp.where(keep, per_group, 0.0)) / kept
    return value + coef * bonus


# ---- exact ascent -------------------------------------------------------------------------------


def check_exact(cfg: SimConfig, policy: Policy) -> None:
    """InputError when exact ascent has no exact entropy step for ``cfg``."""
    if policy.prefix_logits is None or policy.exact_law is None:
        raise InputError(
            f"policy={cfg.problem.policy!r} is invalid for an exact entropy step: it needs the "
            "exact law and the next-token logits at every prefix"
        )
    check_entropy_combination(cfg)


def prompt_weights(probs: Array, cfg: SimConfig, policy: Policy) -> Array:
    """m_x u_xn: the weight of H_xn in the expected bonus, ``float[P, D]`` (module docstring)."""
    mode = aggregation_of(cfg)
    own = cfg if mode == cfg.aggregation else dataclasses.replace(cfg, aggregation=mode)
    weights = probs * aggregation_scale(probs, own, policy)  # [P, N]
    if cfg.problem.is_sequence:
        u = subtree_sums(weights, cfg.problem.task)
    else:  # one decision per prompt, drawn by every response
        u = jnp.sum(weights, axis=-1, keepdims=True)
    num_prompts = probs.shape[0]
    if not cfg.dynamic_sampling:
        return u / num_prompts
    p = jnp.sum(jnp.where(policy.exact_law.responses.correct, probs, 0.0), -1)
    kept = dynamic.kept_probability(p, cfg.group_size)
    factors = dynamic.step_factors(p, cfg.group_size, cfg.batch)
    return (factors * kept)[:, None] * u


def exact_step(params: PyTree, cfg: SimConfig, policy: Policy, coef: ArrayLike) -> PyTree:
    """E[entropy part of one step] = c grad_theta sum_x sum_n sg(m_x u_xn) H_xn(theta)."""
    trainable, frozen = partition(params)
    probs = jax.lax.stop_gradient(jnp.exp(policy.exact_law.log_probs(params)))  # [P, N]
    weights = jax.lax.stop_gradient(prompt_weights(probs, cfg, policy))

    def bonus(tr: PyTree) -> Array:
        table = policy.prefix_logits(combine(tr, frozen))
        return coef * jnp.sum(weights.astype(table.dtype) * entropy(table))

    return jax.grad(bonus)(trainable)


def with_exact_entropy(step_fn, cfg: SimConfig, policy: Policy, coef: ArrayLike | None):
    """``step_fn(params, x) -> (grads, degenerate)`` plus the exact entropy step (None: as is)."""
    if coef is None:
        return step_fn
    check_exact(cfg, policy)

    def step(params, x):
        grads, degenerate = step_fn(params, x)
        extra = exact_step(params, cfg, policy, coef)
        return jax.tree_util.tree_map(jnp.add, grads, extra), degenerate

    return step
