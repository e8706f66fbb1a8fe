"""Noise-free references for the simulator (``rlxform.exact``): exact ascent and mean updates.

``make_exact(cfg)`` runs the simulator's policy, optimizer and learning rate on the
deterministic mean step E[g](theta), asked of the policy's capabilities, never its name:

* when every sample's aggregation factor is one constant f (bandits: f = 1; sequences with
  seq-mean-token-sum or -norm), E[g] = f grad J with J = mean_x h_M(p_x(theta)) (``jax.grad``
  through h_M = B_M[phi], whose custom JVP gives w_M; p from ``policy.p_correct``);
* otherwise E[g] = grad_theta mean_x sum_y sg(pi_x(y) omega_x(y)) log pi_x(y) over the
  policy's ``exact_law``, omega the exact per-response weight of ``core.aggregation`` in the
  simulator's batch (token-mean blocks of G groups: the block's other prompts, or the prompt
  mixture for random batches);
* with dynamic sampling it iterates E[step] = sum_x c_x w°_M(p_x) grad p_x (SPEC section 7,
  ``rlxform.core.dynamic``), which is not the gradient of one fixed objective.

``expected_update`` is E[g] of one stochastic step; ``brute_force_update`` the same number by
enumerating groups of responses of the exact law with the simulator's coefficients
(independent of the theorem and of omega; tests run it in float64).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core import dynamic
from rlxform.core.aggregation import (
    aggregation_factor,
)
from rlxform.core.schemes import Scheme
from rlxform.sim import entropy_term, kl_exact
from rlxform.sim import filters as sim_filters
from rlxform.sim.ascent import (
    initial_params,
    objective_of_tables,
    policy_of,
    run_ascent,
    tables,
)
from rlxform.sim.combinations import check_entropy_combination
from rlxform.sim.config import Metrics, SimConfig
from rlxform.sim.exact_weights import exact_weights, step_factor
from rlxform.sim.hparams import HParams, checked_hparams
from rlxform.sim.policies import Policy, combine, partition
from rlxform.types import Array, ArrayLike, PyTree
from rlxform.validation import InputError

MAX_OUTCOMES = 1 << 16  # brute force enumerates N^M groups per prompt


def objective(params: PyTree, cfg: SimConfig, eps: ArrayLike | None = None) -> Array:
    """J(theta) = mean_x h_M(p_x(theta)) for the scheme of ``cfg`` (eps substituted)."""
    a_table, b_table = tables(cfg, eps, dtype=jnp.result_type(float))
    p = policy_of(cfg).p_correct(params)
    return jnp.mean(objective_of_tables(a_table.astype(p.dtype), b_table.astype(p.dtype), p))


def _mean_weights(cfg: SimConfig, a_table: Array, b_table: Array, p: Array) -> Array:
    """Per-prompt c_x w(p_x) with E[step] = sum_x c_x w(p_x) grad p_x: ``float[P]``.
    Plain steps: c_x = 1/P and w = w_M (a uniform batch with replacement keeps the mean over
    prompts). Dynamic sampling: w = w°_M and c_x from ``core.dynamic.step_factors``."""
    if not cfg.dynamic_sampling:
        coefficients = a_table[1:] - b_table[:-1]
        return bern.bernstein(coefficients.astype(p.dtype), p) / p.shape[-1]
    factors = dynamic.step_factors(p, cfg.group_size, cfg.batch)
    return factors * dynamic.kept_weight(a_table.astype(p.dtype), b_table.astype(p.dtype), p)


def _mean_step(
    cfg: SimConfig, policy: Policy, a_table: Array, b_table: Array, trainable, constants
):
    """(E[step], p): grad of sum_x sg(c_x w(p_x)) p_x(theta)."""

    def surrogate(tr):
        p = policy.p_correct(combine(tr, constants))
        fixed_p = jax.lax.stop_gradient(p)
        weights = jax.lax.stop_gradient(_mean_weights(cfg, a_table, b_table, fixed_p))
        return jnp.sum(weights * p), p

    return jax.grad(surrogate, has_aux=True)(trainable)


def _scaled(grads: PyTree, factor: float) -> PyTree:
    return grads if factor == 1.0 else jax.tree_util.tree_map(lambda g: factor * g, grads)


def expected_update(
    scheme: Scheme | None, params: PyTree, cfg: SimConfig, eps: ArrayLike | None = None
) -> PyTree:
    """Exact E[g] of one stochastic step at ``params``.

    Plain steps with a constant aggregation factor f: E[g] = f mean_x w_M(p_x) grad p_x for
    every batch size (uniform batches with replacement keep the mean over prompts). Dynamic
    sampling (SPEC section 7): E[g] = sum_x c_x w°_M(p_x) grad p_x with c_x = E[1 / (1 + N_-x)]
    for a full batch and (1/P) sum_{j<B} (1 - qbar)^j for B < P (``rlxform.core.dynamic``).
    Length-dependent aggregation: grad of mean_x sum_y sg(pi omega) log pi (``law_step``).

    Args:
      scheme: overrides ``cfg.scheme`` when not None.
      params: policy params.
      cfg: simulator config (policy, M, batch size, aggregation, dynamic sampling).
      eps: eps for std-normalised schemes (None: the scheme's own).
    Returns:
      E[g], a pytree like the trainable part of ``params``.
    """
    a_table, b_table = tables(cfg, eps, scheme, jnp.result_type(float))
    policy = policy_of(cfg)
    factor = step_factor(cfg, policy)
    if factor is None and not cfg.dynamic_sampling:
        return law_step(cfg, policy, a_table, b_table)(params, None)[0]
    grads, _ = _mean_step(cfg, policy, a_table, b_table, *partition(params))
    return _scaled(grads, (factor or 1.0) * cfg.loss[1])


def mean_step(cfg: SimConfig, policy: Policy, a_table: Array, b_table: Array):
    """``(params, _) -> (E[step], E[degenerate fraction])`` of exact ascent (module docstring).

    Plain steps with a constant factor f: f grad J, J = mean_x h_M(p_x); dynamic sampling:
    ``_mean_step``; otherwise ``law_step``.
    """
    m = cfg.group_size
    factor = step_factor(cfg, policy)
    if factor is None and not cfg.dynamic_sampling:
        return law_step(cfg, policy, a_table, b_table)

    def step_fn(params, _):
        tr, constants = partition(params)
        if cfg.dynamic_sampling:
            grads, p = _mean_step(cfg, policy, a_table, b_table, tr, constants)
            return grads, jnp.mean(1.0 - dynamic.kept_probability(p, m))

        def objective_(tr_):
            p = policy.p_correct(combine(tr_, constants))
            return jnp.mean(objective_of_tables(a_table, b_table, p)), p

        grads, p = jax.grad(objective_, has_aux=True)(tr)
        return _scaled(grads, factor * cfg.loss[1]), jnp.mean(p**m + (1.0 - p) ** m)

    return step_fn


def law_step(cfg: SimConfig, policy: Policy, a_table: Array, b_table: Array):
    """``(params, _) -> (E[step], E[degenerate fraction])`` from the policy's exact law:
    E[g] = grad_theta mean_x sum_y sg(pi_x(y) omega_x(y)) log pi_x(y) (``exact_weights``),
    exact for every batch mode (random batches pick each prompt with probability 1/P per slot).
    """
    law = policy.exact_law
    if law is None:
        raise InputError(
            f"policy={cfg.problem.policy!r} is invalid for aggregation={cfg.aggregation!r}: "
            "it has no exact law over its responses"
        )
    m, num_prompts = cfg.group_size, cfg.problem.num_prompts
    correct = law.responses.correct

    def step_fn(params, _):
        trainable, frozen = partition(params)
        log_pi, pullback = jax.vjp(lambda tr: law.log_probs(combine(tr, frozen)), trainable)
        probs = jnp.exp(jax.lax.stop_gradient(log_pi))  # [P, N]
        weights = exact_weights(
            probs, a_table.astype(probs.dtype), b_table.astype(probs.dtype), cfg, law
        )
        (grads,) = pullback(jax.lax.stop_gradient(probs * weights) / num_prompts)
        grads = _scaled(grads, cfg.loss[1])  # a loss mode's first update: scale x this step
        p = jnp.sum(jnp.where(correct, probs, 0.0), -1)
        return grads, jnp.mean(p**m + (1.0 - p) ** m)

    return step_fn


# ---- brute force: every group of responses, the simulator's coefficients -----------------------


def _factors(cfg: SimConfig, lengths: np.ndarray, max_length: int, factor: float | None):
    """f of every sample of ``lengths int[..., B, M]`` (float64): the constant, per-sample
    ``aggregation_factor``, or token-mean's G M / tokens of each block of G groups."""
    if factor is not None:
        return np.full(lengths.shape, factor)
    if cfg.aggregation != "token-mean":
        return aggregation_factor(cfg.aggregation, lengths, max_length=max_length)
    g, m = cfg.batch_groups, cfg.group_size
    blocks = lengths.reshape(*lengths.shape[:-2], -1, g * m).astype(np.float64)
    per_block = np.broadcast_to(g * m / blocks.sum(-1, keepdims=True), blocks.shape)
    return per_block.reshape(lengths.shape)


def brute_force_update(
    scheme: Scheme | None, params: PyTree, cfg: SimConfig, eps: ArrayLike | None = None
) -> PyTree:
    """E[g] by enumerating response groups (independent of the theorem, omega and the samplers).

    Every group is a tuple of M of the exact law's N responses. Independent groups (full batch,
    no dynamic sampling, no token-mean block over G > 1 groups of varying lengths): all N^M
    ordered groups of every prompt, g = mean_x (1/M) sum_i f_i Z_i grad log pi(y_i | x).
    Otherwise all joint outcomes of one step: the P^B batch index tuples (B < P, uniform with
    replacement) times the N^(M B) groups of the slots, with the simulator's loss (dynamic
    sampling: kept groups averaged over max(kept, 1)). Each outcome is weighted by its
    probability (held fixed under grad). Run it under ``jax.enable_x64(True)`` with float64
    params for a ~1e-12 reference.
    """
    policy = policy_of(cfg)
    law = policy.exact_law
    factor = step_factor(cfg, policy)
    coupled = factor is None and cfg.aggregation == "token-mean" and cfg.batch_groups > 1
    if cfg.dynamic_sampling or cfg.batch < cfg.problem.num_prompts or coupled:
        return _brute_force_joint(scheme, params, cfg, eps, law, factor)
    n, m = law.responses.lengths.shape[0], cfg.group_size
    if n**m > MAX_OUTCOMES:
        raise InputError(
            f"group_size={m!r} is invalid for brute force with N={n} responses: N^M must be "
            f"<= {MAX_OUTCOMES}"
        )
    a_table, b_table = tables(cfg, eps, scheme, jnp.result_type(float))
    trainable, constants = partition(params)
    outcomes = np.array(list(itertools.product(range(n), repeat=m)), np.int32)  # [O, M]
    rewards = law.responses.correct[outcomes]
    num_correct = rewards.sum(-1)
    f = _factors(cfg, law.responses.lengths[outcomes][:, None], law.max_length, factor)[:, 0]

    def surrogate(tr):
        log_probs = law.log_probs(combine(tr, constants))  # [P, N]
        a = a_table.astype(log_probs.dtype)
        b = b_table.astype(log_probs.dtype)
        weights = jnp.where(rewards, a[num_correct][:, None], b[num_correct][:, None]) * f
        chosen = log_probs[:, outcomes]  # [P, O, M]
        prob = jax.lax.stop_gradient(jnp.exp(jnp.sum(chosen, -1)))  # [P, O]
        g_terms = jnp.sum(weights * chosen, -1) / m  # [P, O]
        return jnp.mean(jnp.sum(prob * g_terms, -1))

    return jax.grad(surrogate)(trainable)


def _brute_force_joint(scheme, params, cfg, eps, law, factor):
    """E[step] over all joint outcomes (batch indices x groups) of one step."""
    n, m = law.responses.lengths.shape[0], cfg.group_size
    num_prompts, batch = cfg.problem.num_prompts, cfg.batch
    sampled = batch < num_prompts
    num_index = num_prompts**batch if sampled else 1
    total = num_index * n ** (m * batch)
    if total > MAX_OUTCOMES:
        raise InputError(
            f"cfg={cfg!r} is invalid for joint brute force: {total} outcomes, must be <= "
            f"{MAX_OUTCOMES} (fewer prompts, responses, a smaller group or batch)"
        )
    if sampled:
        index = np.array(list(itertools.product(range(num_prompts), repeat=batch)), np.int32)
    else:
        index = np.arange(num_prompts, dtype=np.int32)[None]
    groups = np.array(list(itertools.product(range(n), repeat=m * batch)), np.int32)
    groups = groups.reshape(-1, batch, m)  # [G, B, M]
    index = np.repeat(index, len(groups), axis=0)  # [O, B]
    outcomes = np.tile(groups, (num_index, 1, 1))  # [O, B, M]
    rewards = law.responses.correct[outcomes]
    num_correct = rewards.sum(-1)  # [O, B]
    keep = (num_correct > 0) & (num_correct < m)
    f = _factors(cfg, law.responses.lengths[outcomes], law.max_length, factor)  # [O, B, M]
    a_table, b_table = tables(cfg, eps, scheme, jnp.result_type(float))
    trainable, constants = partition(params)

    def surrogate(tr):
        log_probs = law.log_probs(combine(tr, constants))  # [P, N]
        a = a_table.astype(log_probs.dtype)
        b = b_table.astype(log_probs.dtype)
        chosen = log_probs[index[..., None], outcomes]  # [O, B, M]
        weights = jnp.where(rewards, a[num_correct][..., None], b[num_correct][..., None]) * f
        per_group = jnp.sum(weights * chosen, -1) / m  # [O, B]
        if cfg.dynamic_sampling:
            kept = np.maximum(keep.sum(-1), 1)
            loss = jnp.sum(jnp.where(keep, per_group, 0.0), -1) / kept
        else:
            loss = jnp.mean(per_group, -1)
        prob = jax.lax.stop_gradient(jnp.exp(jnp.sum(chosen, (-2, -1)))) / num_index  # [O]
        return jnp.sum(prob * loss)

    return jax.grad(surrogate)(trainable)


def check_exact(cfg: SimConfig) -> SimConfig:
    """Refuse configs without an exact ascent reference (``InputError`` naming the field).

    PPO with E N > 1 (stale, clipped updates: no mean-step ascent; the scalar-logit iteration is
    ``rlxform.core.ppo``) and ``std_scope="batch"`` (the step of a prompt depends on the others';
    exact tables per batch: ``rlxform.core.batch_norm``).
    """
    if cfg.is_ppo:
        name, value = (
            ("ppo_epochs", cfg.ppo_epochs)
            if cfg.ppo_epochs > 1
            else ("num_minibatches", cfg.num_minibatches)
        )
        raise InputError(
            f"{name}={value!r} has no exact ascent reference: several clipped updates per "
            "rollout follow no mean step (exact scalar-logit iteration: rlxform.core.ppo; use "
            "ppo_epochs = num_minibatches = 1 for exact ascent)"
        )
    if cfg.std_scope == "batch":
        raise InputError(
            "std_scope='batch' has no exact ascent reference: a prompt's step depends on the "
            "other groups of the batch (exact tables: rlxform.core.batch_norm.batch_std_tables)"
        )
    sim_filters.check_exact(cfg)
    return cfg


def build_exact(cfg: SimConfig, params0: PyTree | None = None):
    """Un-jitted exact ascent ``hparams -> Metrics`` (same layout as the simulator)."""
    if not isinstance(cfg, SimConfig):
        raise InputError(f"cfg={cfg!r} is invalid: must be a SimConfig")
    check_exact(cfg)
    policy = policy_of(cfg)
    params0 = initial_params(cfg) if params0 is None else params0

    def ascend(hparams: HParams) -> Metrics:
        if hparams.entropy_coef is not None:
            check_entropy_combination(cfg, hparams)
        a_table, b_table = tables(cfg, hparams.eps)
        start = params0
        if policy.large_params:  # a large closed-over constant: do not fold it
            start = jax.lax.optimization_barrier(params0)
        step_fn = sim_filters.range_mean_step(cfg, policy, a_table, b_table, hparams, mean_step)
        if hparams.kl_coef is not None:
            step_fn = _with_kl(step_fn, cfg, params0, hparams)
        step_fn = entropy_term.with_exact_entropy(step_fn, cfg, policy, hparams.entropy_coef)
        return run_ascent(cfg, start, hparams, policy, step_fn, None)

    return ascend


def _with_kl(step_fn, cfg: SimConfig, ref_params: PyTree, hparams: HParams):
    """``step_fn`` plus the exact expected KL step (``rlxform.sim.kl_exact.with_kl``)."""
    return kl_exact.with_kl(step_fn, cfg, ref_params, hparams.kl_coef, hparams.eps)


def make_exact(cfg: SimConfig, params0: PyTree | None = None):
    """Jitted deterministic ascent ``hparams -> Metrics``: the simulator's mean step, iterated.

    Plain steps ascend J = mean_x h_M(p_x); dynamic sampling iterates its own mean step
    sum_x c_x w°_M(p_x) grad p_x (no fixed objective; ``rlxform.core.dynamic``); a
    length-dependent aggregation iterates ``law_step`` (batch blocks included);
    ``hparams.kl_coef`` adds the exact expected KL step of ``rlxform.sim.kl_exact`` (pi_ref =
    params0). Same policy, optimizer, learning rate and record layout as ``make_simulate(cfg)``; the
    ``degenerate_fraction`` field holds its expectation mean_x p^M + (1-p)^M.
    """
    from rlxform.resources import check_run

    check_run(cfg, 0, exact=1, what="make_exact")
    return checked_hparams(jax.jit(build_exact(cfg, params0)))
