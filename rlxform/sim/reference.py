"""Noise-free references for the simulator: exact ascent and exact mean updates.

``make_exact(cfg)`` runs the simulator's policy, optimizer and learning rate on the
deterministic mean step: plain steps ascend J(theta) = mean_x h_M(p_x(theta)) (gradient by
``jax.grad`` through h_M = B_M[phi], whose custom JVP gives w_M); with dynamic sampling it
iterates E[step] = sum_x c_x w°_M(p_x) grad p_x (SPEC section 7, ``rlxform.dynamic``), which is
not the gradient of one fixed objective. Both return the simulator's ``Metrics`` layout.
``expected_update`` is E[g] of one stochastic step by these formulas; ``brute_force_update`` gets
the same number by enumerating response groups (joint outcomes of a whole step for dynamic
sampling or B < P; tests run it in float64).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from rlxform import bernstein as bern
from rlxform import dynamic
from rlxform.sim import policies
from rlxform.schemes import Scheme
from rlxform.sim.simulate import (
    CheckedHParams,
    HParams,
    Metrics,
    SimConfig,
    initial_params,
    objective_of_tables,
    run_blocks,
    tables,
)
from rlxform.types import Array, ArrayLike, PyTree

MAX_OUTCOMES = 1 << 16  # brute force enumerates K^M groups per prompt


def objective(params: PyTree, cfg: SimConfig, eps: ArrayLike | None = None) -> Array:
    """J(theta) = mean_x h_M(p_x(theta)) for the scheme of ``cfg`` (eps substituted)."""
    a_table, b_table = tables(cfg, eps, dtype=jnp.result_type(float))
    p = policies.p_correct(params, cfg.policy_config)
    return jnp.mean(objective_of_tables(a_table.astype(p.dtype), b_table.astype(p.dtype), p))


def _mean_weights(cfg: SimConfig, a_table: Array, b_table: Array, p: Array) -> Array:
    """Per-prompt c_x w(p_x) with E[step] = sum_x c_x w(p_x) grad p_x: ``float[P]``.

    Plain steps: c_x = 1/P and w = w_M (a uniform batch with replacement keeps the mean over
    prompts). Dynamic sampling: w = w°_M and c_x from ``rlxform.dynamic.step_factors``.
    """
    if not cfg.dynamic_sampling:
        coefficients = a_table[1:] - b_table[:-1]
        return bern.bernstein(coefficients.astype(p.dtype), p) / p.shape[-1]
    factors = dynamic.step_factors(p, cfg.group_size, cfg.batch)
    return factors * dynamic.kept_weight(a_table.astype(p.dtype), b_table.astype(p.dtype), p)


def _mean_step(cfg: SimConfig, a_table: Array, b_table: Array, trainable, constants):
    """(E[step], p): grad of sum_x sg(c_x w(p_x)) p_x(theta)."""

    def surrogate(tr):
        p = policies.p_correct(policies.combine(tr, constants), cfg.policy_config)
        fixed_p = jax.lax.stop_gradient(p)
        weights = jax.lax.stop_gradient(_mean_weights(cfg, a_table, b_table, fixed_p))
        return jnp.sum(weights * p), p

    return jax.grad(surrogate, has_aux=True)(trainable)


def expected_update(
    scheme: Scheme | None, params: PyTree, cfg: SimConfig, eps: ArrayLike | None = None
) -> PyTree:
    """Exact E[g] of one stochastic step at ``params``.

    Plain steps: E[g] = mean_x w_M(p_x) grad p_x for every batch size (uniform batches with
    replacement keep the mean over prompts). Dynamic sampling (SPEC section 7):
    E[g] = sum_x c_x w°_M(p_x) grad p_x with c_x = E[1 / (1 + N_-x)] for a full batch and
    (1/P) sum_{j<B} (1 - qbar)^j for B < P (``rlxform.dynamic``).

    Args:
      scheme: overrides ``cfg.scheme`` when not None.
      params: policy params.
      cfg: simulator config (policy, M, batch size, dynamic sampling).
      eps: eps for std-normalised schemes (None: the scheme's own).
    Returns:
      E[g], a pytree like the trainable part of ``params``.
    """
    a_table, b_table = tables(cfg, eps, scheme, jnp.result_type(float))
    trainable, constants = policies.partition(params)
    grads, _ = _mean_step(cfg, a_table, b_table, trainable, constants)
    return grads


def brute_force_update(
    scheme: Scheme | None, params: PyTree, cfg: SimConfig, eps: ArrayLike | None = None
) -> PyTree:
    """E[g] by enumerating response groups (independent of the theorem and of the samplers).

    Plain full batch: all K^M ordered groups of every prompt, g = mean_x (1/M) sum_i Z_i
    grad log pi(y_i | x). Dynamic sampling or B < P: all joint outcomes of one step, i.e. the
    P^B batch index tuples (B < P, uniform with replacement) times the K^(M B) groups of the
    slots, with the simulator's loss (``simulate.surrogate_loss``: kept groups averaged over
    max(N, 1), or the plain mean over B). Each outcome is weighted by its probability (held fixed
    under grad). Run it under ``jax.enable_x64(True)`` with float64 params for a ~1e-12 reference.
    """
    if cfg.dynamic_sampling or cfg.batch < cfg.num_prompts:
        return _brute_force_joint(scheme, params, cfg, eps)
    k, m = cfg.num_responses, cfg.group_size
    if k**m > MAX_OUTCOMES:
        raise ValueError(
            f"group_size={m!r} is invalid for brute force with K={k}: K^M must be <= {MAX_OUTCOMES}"
        )
    a_table, b_table = tables(cfg, eps, scheme, jnp.result_type(float))
    trainable, constants = policies.partition(params)
    outcomes = np.array(list(itertools.product(range(k), repeat=m)), np.int32)  # [N, M]
    rewards = outcomes < cfg.num_correct
    num_correct = rewards.sum(-1)

    def surrogate(tr):
        logits = policies.logits(policies.combine(tr, constants), cfg.policy_config)
        log_probs = jax.nn.log_softmax(logits, -1)  # [P, K]
        a = a_table.astype(log_probs.dtype)
        b = b_table.astype(log_probs.dtype)
        weights = jnp.where(rewards, a[num_correct][:, None], b[num_correct][:, None])  # [N, M]
        chosen = log_probs[:, outcomes]  # [P, N, M]
        prob = jax.lax.stop_gradient(jnp.exp(jnp.sum(chosen, -1)))  # [P, N]
        g_terms = jnp.sum(weights * chosen, -1) / m  # [P, N]
        return jnp.mean(jnp.sum(prob * g_terms, -1))

    return jax.grad(surrogate)(trainable)


def _brute_force_joint(scheme, params, cfg, eps):
    """E[step] over all joint outcomes (batch indices x groups) of one step."""
    k, m, num_prompts, batch = cfg.num_responses, cfg.group_size, cfg.num_prompts, cfg.batch
    sampled = batch < num_prompts
    num_index = num_prompts**batch if sampled else 1
    total = num_index * k ** (m * batch)
    if total > MAX_OUTCOMES:
        raise ValueError(
            f"cfg={cfg!r} is invalid for joint brute force: {total} outcomes, must be <= "
            f"{MAX_OUTCOMES} (fewer prompts, responses, a smaller group or batch)"
        )
    if sampled:
        index = np.array(list(itertools.product(range(num_prompts), repeat=batch)), np.int32)
    else:
        index = np.arange(num_prompts, dtype=np.int32)[None]
    groups = np.array(list(itertools.product(range(k), repeat=m * batch)), np.int32)
    groups = groups.reshape(-1, batch, m)  # [G, B, M]
    index = np.repeat(index, len(groups), axis=0)  # [N, B]
    outcomes = np.tile(groups, (num_index, 1, 1))  # [N, B, M]
    rewards = outcomes < cfg.num_correct
    num_correct = rewards.sum(-1)  # [N, B]
    keep = (num_correct > 0) & (num_correct < m)
    a_table, b_table = tables(cfg, eps, scheme, jnp.result_type(float))
    trainable, constants = policies.partition(params)

    def surrogate(tr):
        logits = policies.logits(policies.combine(tr, constants), cfg.policy_config)
        log_probs = jax.nn.log_softmax(logits, -1)  # [P, K]
        a = a_table.astype(log_probs.dtype)
        b = b_table.astype(log_probs.dtype)
        chosen = log_probs[index[..., None], outcomes]  # [N, B, M]
        weights = jnp.where(rewards, a[num_correct][..., None], b[num_correct][..., None])
        per_group = jnp.sum(weights * chosen, -1) / m  # [N, B]
        if cfg.dynamic_sampling:
            kept = np.maximum(keep.sum(-1), 1)
            loss = jnp.sum(jnp.where(keep, per_group, 0.0), -1) / kept
        else:
            loss = jnp.mean(per_group, -1)
        prob = jax.lax.stop_gradient(jnp.exp(jnp.sum(chosen, (-2, -1)))) / num_index  # [N]
        return jnp.sum(prob * loss)

    return jax.grad(surrogate)(trainable)


def build_exact(cfg: SimConfig, params0: PyTree | None = None):
    """Un-jitted exact ascent ``hparams -> Metrics`` (same layout as the simulator)."""
    if not isinstance(cfg, SimConfig):
        raise ValueError(f"cfg={cfg!r} is invalid: must be a SimConfig")
    params0 = initial_params(cfg) if params0 is None else params0
    m = cfg.group_size

    def ascend(hparams: HParams) -> Metrics:
        a_table, b_table = tables(cfg, hparams.eps)
        _, constants = policies.partition(params0)

        def step_fn(params, _):
            tr, _ = policies.partition(params)
            if cfg.dynamic_sampling:
                grads, p = _mean_step(cfg, a_table, b_table, tr, constants)
                return grads, jnp.mean(1.0 - dynamic.kept_probability(p, m))

            def objective_(tr_):
                p = policies.p_correct(policies.combine(tr_, constants), cfg.policy_config)
                return jnp.mean(objective_of_tables(a_table, b_table, p)), p

            grads, p = jax.grad(objective_, has_aux=True)(tr)
            degenerate = jnp.mean(p**m + (1.0 - p) ** m)
            return grads, degenerate

        return run_blocks(cfg, params0, hparams, step_fn, None)

    return ascend


def make_exact(cfg: SimConfig, params0: PyTree | None = None):
    """Jitted deterministic ascent ``hparams -> Metrics``: the simulator's mean step, iterated.

    Plain steps ascend J = mean_x h_M(p_x); dynamic sampling iterates its own mean step
    sum_x c_x w°_M(p_x) grad p_x (no fixed objective; ``rlxform.dynamic``). Same policy,
    optimizer, learning rate and record layout as ``make_simulate(cfg)``; the
    ``degenerate_fraction`` field holds its expectation mean_x p^M + (1-p)^M at the last step of
    each block.
    """
    return CheckedHParams(jax.jit(build_exact(cfg, params0)))
