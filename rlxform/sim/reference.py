"""Noise-free references for the simulator: exact ascent and exact mean updates.

``make_exact(cfg)`` runs the simulator's policy, optimizer and learning rate on the
deterministic mean step: plain steps ascend J(theta) = mean_x h_M(p_x(theta)) (gradient by
``jax.grad`` through h_M = B_M[phi], whose custom JVP gives w_M); with dynamic sampling it
iterates E[step] = sum_x c_x w°_M(p_x) grad p_x (SPEC section 7, ``rlxform.core.dynamic``), which is
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

from rlxform.core import bernstein as bern
from rlxform.core import dynamic
from rlxform.core.aggregation import _power_convolve, sequence_weights_from_tables
from rlxform.core.schemes import Scheme
from rlxform.sim import policies
from rlxform.sim.config import HParams, Metrics, SimConfig, checked_hparams
from rlxform.sim.sequence_groups import prefix_table
from rlxform.sim.sequence_policies import sequence_log_probs
from rlxform.sim.sequence_tasks import enumerate_sequences
from rlxform.sim.simulate import (
    initial_params,
    objective_of_tables,
    policy_of,
    run_ascent,
    tables,
)
from rlxform.types import Array, ArrayLike, PyTree
from rlxform.validation import InputError

MAX_OUTCOMES = 1 << 16  # brute force enumerates K^M groups per prompt


def objective(params: PyTree, cfg: SimConfig, eps: ArrayLike | None = None) -> Array:
    """J(theta) = mean_x h_M(p_x(theta)) for the scheme of ``cfg`` (eps substituted)."""
    a_table, b_table = tables(cfg, eps, dtype=jnp.result_type(float))
    p = policies.p_correct(params, cfg.problem)
    return jnp.mean(objective_of_tables(a_table.astype(p.dtype), b_table.astype(p.dtype), p))


def _mean_weights(cfg: SimConfig, a_table: Array, b_table: Array, p: Array) -> Array:
    """Per-prompt c_x w(p_x) with E[step] = sum_x c_x w(p_x) grad p_x: ``float[P]``.

    Plain steps: c_x = 1/P and w = w_M (a uniform batch with replacement keeps the mean over
    prompts). Dynamic sampling: w = w°_M and c_x from ``rlxform.core.dynamic.step_factors``.
    """
    if not cfg.dynamic_sampling:
        coefficients = a_table[1:] - b_table[:-1]
        return bern.bernstein(coefficients.astype(p.dtype), p) / p.shape[-1]
    factors = dynamic.step_factors(p, cfg.group_size, cfg.batch)
    return factors * dynamic.kept_weight(a_table.astype(p.dtype), b_table.astype(p.dtype), p)


def _mean_step(cfg: SimConfig, a_table: Array, b_table: Array, trainable, constants):
    """(E[step], p): grad of sum_x sg(c_x w(p_x)) p_x(theta)."""

    def surrogate(tr):
        p = policies.p_correct(policies.combine(tr, constants), cfg.problem)
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
    (1/P) sum_{j<B} (1 - qbar)^j for B < P (``rlxform.core.dynamic``).

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
    if cfg.dynamic_sampling or cfg.batch < cfg.problem.num_prompts:
        return _brute_force_joint(scheme, params, cfg, eps)
    k, m = cfg.problem.num_responses, cfg.group_size
    if k**m > MAX_OUTCOMES:
        raise InputError(
            f"group_size={m!r} is invalid for brute force with K={k}: K^M must be <= {MAX_OUTCOMES}"
        )
    a_table, b_table = tables(cfg, eps, scheme, jnp.result_type(float))
    trainable, constants = policies.partition(params)
    outcomes = np.array(list(itertools.product(range(k), repeat=m)), np.int32)  # [N, M]
    rewards = outcomes < cfg.problem.num_correct
    num_correct = rewards.sum(-1)

    def surrogate(tr):
        logits = policies.logits(policies.combine(tr, constants), cfg.problem)
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
    k, m, num_prompts, batch = (
        cfg.problem.num_responses,
        cfg.group_size,
        cfg.problem.num_prompts,
        cfg.batch,
    )
    sampled = batch < num_prompts
    num_index = num_prompts**batch if sampled else 1
    total = num_index * k ** (m * batch)
    if total > MAX_OUTCOMES:
        raise InputError(
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
    rewards = outcomes < cfg.problem.num_correct
    num_correct = rewards.sum(-1)  # [N, B]
    keep = (num_correct > 0) & (num_correct < m)
    a_table, b_table = tables(cfg, eps, scheme, jnp.result_type(float))
    trainable, constants = policies.partition(params)

    def surrogate(tr):
        logits = policies.logits(policies.combine(tr, constants), cfg.problem)
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


def bandit_mean_step(cfg: SimConfig, a_table: Array, b_table: Array):
    """``(params, _) -> (E[step], E[degenerate fraction])`` of a bandit policy.

    Plain steps: grad J, J = mean_x h_M(p_x); dynamic sampling: ``_mean_step``.
    """
    m = cfg.group_size

    def step_fn(params, _):
        tr, constants = policies.partition(params)
        if cfg.dynamic_sampling:
            grads, p = _mean_step(cfg, a_table, b_table, tr, constants)
            return grads, jnp.mean(1.0 - dynamic.kept_probability(p, m))

        def objective_(tr_):
            p = policies.p_correct(policies.combine(tr_, constants), cfg.problem)
            return jnp.mean(objective_of_tables(a_table, b_table, p)), p

        grads, p = jax.grad(objective_, has_aux=True)(tr)
        return grads, jnp.mean(p**m + (1.0 - p) ** m)

    return step_fn


def sequence_mean_step(cfg: SimConfig, a_table: Array, b_table: Array):
    """``(params, _) -> (E[step], E[degenerate fraction])`` of a sequence policy."""
    m = cfg.group_size

    def step_fn(params, _):
        grads = expected_grad(params, cfg, a_table, b_table)
        p = jnp.exp(sequence_log_probs(prefix_table(params, cfg.problem), cfg.problem.task))
        p = jnp.sum(
            jnp.where(jnp.asarray(enumerate_sequences(cfg.problem.task).correct), p, 0.0), -1
        )
        return grads, jnp.mean(p**m + (1.0 - p) ** m)

    return step_fn


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
    return cfg


def build_exact(cfg: SimConfig, params0: PyTree | None = None):
    """Un-jitted exact ascent ``hparams -> Metrics`` (same layout as the simulator)."""
    if not isinstance(cfg, SimConfig):
        raise InputError(f"cfg={cfg!r} is invalid: must be a SimConfig")
    check_exact(cfg)
    policy = policy_of(cfg)
    params0 = initial_params(cfg) if params0 is None else params0
    mean_step = sequence_mean_step if cfg.problem.is_sequence else bandit_mean_step

    def ascend(hparams: HParams) -> Metrics:
        a_table, b_table = tables(cfg, hparams.eps)
        start = params0
        if cfg.problem.is_sequence:  # a large closed-over constant: do not fold it
            start = jax.lax.optimization_barrier(params0)
        step_fn = mean_step(cfg, a_table, b_table)
        if hparams.kl_coef is not None:
            step_fn = _with_kl(step_fn, cfg, params0, hparams)
        return run_ascent(cfg, start, hparams, policy, step_fn, None)

    return ascend


def _with_kl(step_fn, cfg: SimConfig, ref_params: PyTree, hparams: HParams):
    """``step_fn`` plus the exact expected KL step (``rlxform.sim.kl_exact``)."""
    from rlxform.sim import kl_exact

    kl_exact.check_exact_kl(cfg)
    beta, eps = hparams.kl_coef, hparams.eps

    def step(params, x):
        grads, degenerate = step_fn(params, x)
        if kl_exact.whole_step(cfg):
            return kl_exact.bandit_reward_step(params, ref_params, cfg, beta, eps), degenerate
        extra = kl_exact.kl_step(params, ref_params, cfg, beta, eps)
        return jax.tree_util.tree_map(jnp.add, grads, extra), degenerate

    return step


def make_exact(cfg: SimConfig, params0: PyTree | None = None):
    """Jitted deterministic ascent ``hparams -> Metrics``: the simulator's mean step, iterated.

    Plain steps ascend J = mean_x h_M(p_x); dynamic sampling iterates its own mean step
    sum_x c_x w°_M(p_x) grad p_x (no fixed objective; ``rlxform.core.dynamic``); sequence policies
    iterate ``expected_grad`` (aggregation and batch blocks included); ``hparams.kl_coef`` adds
    the exact expected KL step of ``rlxform.sim.kl_exact`` (pi_ref = params0). Same policy,
    optimizer, learning rate and record layout as ``make_simulate(cfg)``; the
    ``degenerate_fraction`` field holds its expectation mean_x p^M + (1-p)^M.
    """
    return checked_hparams(jax.jit(build_exact(cfg, params0)))


# ---- sequence policies: the exact mean step (batch blocks included) ------------------------------


def _token_mean_omega(a_table, b_table, probs, lengths, correct, others, max_length, scale):
    """omega(y) = scale E[Z / (L(y) + T' + T'')]: (S', T') the other M-1 samples of the group
    (convolution of the per-sample (r, L) law), T'' ~ ``others`` (the other groups' tokens)."""
    m = a_table.shape[0] - 1
    law = jnp.zeros((2, max_length + 1), probs.dtype).at[correct.astype(jnp.int32), lengths]
    group = _power_convolve(law.add(probs), m - 1)  # [M, (M-1) L + 1]
    hi = jax.lax.Precision.HIGHEST
    joint = jax.vmap(lambda row: jnp.convolve(row, others, precision=hi))(group)
    total = jnp.arange(joint.shape[1], dtype=probs.dtype)
    own = jnp.arange(1, max_length + 1, dtype=probs.dtype)
    by_count = joint @ (1.0 / (own[:, None] + total[None, :])).T  # [M, L]
    table_correct = scale * (a_table[1:] @ by_count)
    table_wrong = scale * (b_table[:-1] @ by_count)
    return jnp.where(correct, table_correct[lengths - 1], table_wrong[lengths - 1])


def _others_laws(group_laws: Array, cfg: SimConfig) -> Array:
    """Law of the other G-1 groups' total tokens for each prompt, ``float[P, (G-1) M L + 1]``.

    Full batch: the block's actual other prompts (consecutive blocks of G). Random batches:
    G-1 independent draws from the mixture over prompts.
    """
    g = cfg.batch_groups
    width = (g - 1) * (group_laws.shape[1] - 1) + 1
    if cfg.batch < cfg.problem.num_prompts:
        mixture = jnp.mean(group_laws, axis=0)[None, :]
        others = _power_convolve(mixture, g - 1)[0]
        return jnp.broadcast_to(others, (cfg.problem.num_prompts, width))
    hi = jax.lax.Precision.HIGHEST
    blocks = group_laws.reshape(-1, g, group_laws.shape[1])
    start = jnp.zeros(width, group_laws.dtype).at[0].set(1.0)

    def for_member(block, member):
        def fold(acc, j):
            moved = jnp.convolve(acc, block[j], precision=hi)[:width]
            return jnp.where(j == member, acc, moved), None

        return jax.lax.scan(fold, start, jnp.arange(g))[0]

    per_block = jax.vmap(lambda blk: jax.vmap(lambda i: for_member(blk, i))(jnp.arange(g)))
    return per_block(blocks).reshape(cfg.problem.num_prompts, width)


def exact_weights(probs: Array, a_table: Array, b_table: Array, cfg: SimConfig) -> Array:
    """omega_x(y) = E[f Z | y drawn for prompt x] in the simulator's batch, ``float[P, N]``."""
    enum = enumerate_sequences(cfg.problem.task)
    lengths, correct = jnp.asarray(enum.lengths), jnp.asarray(enum.correct)
    max_length = cfg.problem.task.max_length
    if cfg.aggregation != "token-mean":
        weigh = lambda q: sequence_weights_from_tables(
            a_table, b_table, cfg.aggregation, q, lengths, correct, max_length=max_length
        )
        return jax.vmap(weigh)(probs)
    length_law = jnp.zeros((cfg.problem.num_prompts, max_length + 1), probs.dtype)
    length_law = length_law.at[:, lengths].add(probs)
    group_laws = jax.vmap(lambda q: _power_convolve(q[None, :], cfg.group_size)[0])(length_law)
    others = _others_laws(group_laws, cfg)
    scale = cfg.batch_groups * cfg.group_size
    weigh = lambda q, o: _token_mean_omega(
        a_table, b_table, q, lengths, correct, o, max_length, scale
    )
    return jax.vmap(weigh)(probs, others)


def expected_grad(params: PyTree, cfg: SimConfig, a_table: Array, b_table: Array) -> PyTree:
    """Exact E[grad loss] of one step: grad of mean_x sum_y sg(pi_x(y) omega_x(y)) log pi_x(y).

    Exact for every batch mode (random batches pick each prompt with probability 1/P per slot).
    """
    log_pi = sequence_log_probs(prefix_table(params, cfg.problem), cfg.problem.task)  # [P, N]
    probs = jnp.exp(jax.lax.stop_gradient(log_pi))
    coef = jax.lax.stop_gradient(probs * exact_weights(probs, a_table, b_table, cfg))

    def surrogate(q):
        return (
            jnp.sum(coef * sequence_log_probs(prefix_table(q, cfg.problem), cfg.problem.task))
            / cfg.problem.num_prompts
        )

    return jax.grad(surrogate)(params)
