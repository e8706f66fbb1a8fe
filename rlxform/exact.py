"""Noise-free references for the simulator: exact ascent on J_{h_M} and exact mean updates.

``make_exact(cfg)`` runs the simulator's policy, optimizer and learning rate on the
deterministic objective J(theta) = mean_x h_M(p_x(theta)) (gradient by ``jax.grad`` through
h_M = B_M[phi], whose custom JVP gives w_M), returning the simulator's ``Metrics`` layout.
``expected_update`` is E[g] of one stochastic step by the theorem (SPEC section 2):
E[g] = mean_x w_M(p_x) grad p_x; ``brute_force_update`` gets the same number by enumerating all
K^M response groups of every prompt (tests run it in float64).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from rlxform import bernstein as bern
from rlxform import policies
from rlxform.schemes import Scheme
from rlxform.simulate import (
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


def _check_expectable(cfg: SimConfig) -> None:
    if cfg.dynamic_sampling and cfg.batch > 1:
        raise ValueError(
            "dynamic_sampling=True is invalid here: the renormalised step has no closed-form "
            "mean for batch_size > 1; must be False (or batch_size=1)"
        )


def expected_update(
    scheme: Scheme | None, params: PyTree, cfg: SimConfig, eps: ArrayLike | None = None
) -> PyTree:
    """Exact E[g] of one stochastic step at ``params``: grad of mean_x sg(w_M(p_x)) p_x(theta).

    Uniform batches (with replacement) leave the mean over prompts unchanged, so this holds for
    every batch size. Dynamic sampling with B = 1 drops only groups whose weights are all equal
    to the S = 0 / S = M entries, so it is covered for schemes that give those groups zero weight.

    Args:
      scheme: overrides ``cfg.scheme`` when not None.
      params: policy params.
      cfg: simulator config (policy, M).
      eps: eps for std-normalised schemes (None: the scheme's own).
    Returns:
      E[g], a pytree like the trainable part of ``params``.
    """
    _check_expectable(cfg)
    a_table, b_table = tables(cfg, eps, scheme, jnp.result_type(float))
    trainable, constants = policies.partition(params)
    coefficients = a_table[1:] - b_table[:-1]

    def surrogate(tr):
        p = policies.p_correct(policies.combine(tr, constants), cfg.policy_config)
        weight = jax.lax.stop_gradient(
            bern.bernstein(coefficients.astype(p.dtype), jax.lax.stop_gradient(p))
        )
        return jnp.mean(weight * p)

    return jax.grad(surrogate)(trainable)


def brute_force_update(
    scheme: Scheme | None, params: PyTree, cfg: SimConfig, eps: ArrayLike | None = None
) -> PyTree:
    """E[g] by enumerating all K^M ordered response groups of every prompt.

    g = mean_x (1/M) sum_i Z_i grad log pi(y_i | x), Z from ``Scheme.advantages``-style tables;
    each group weighted by its probability prod_i pi(y_i | x) (held fixed under grad).
    Independent of the theorem and of the simulator's samplers; run it under
    ``jax.enable_x64(True)`` with float64 params for a ~1e-12 reference.
    """
    _check_expectable(cfg)
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

            def objective_(tr_):
                p = policies.p_correct(policies.combine(tr_, constants), cfg.policy_config)
                return jnp.mean(objective_of_tables(a_table, b_table, p)), p

            grads, p = jax.grad(objective_, has_aux=True)(tr)
            degenerate = jnp.mean(p**m + (1.0 - p) ** m)
            return grads, degenerate

        return run_blocks(cfg, params0, hparams, step_fn, None)

    return ascend


def make_exact(cfg: SimConfig, params0: PyTree | None = None):
    """Jitted deterministic ascent ``hparams -> Metrics`` on J = mean_x h_M(p_x).

    Same policy, optimizer, learning rate and record layout as ``make_simulate(cfg)``; the
    ``degenerate_fraction`` field holds its expectation mean_x p^M + (1-p)^M at the last step of
    each block.
    """
    return CheckedHParams(jax.jit(build_exact(cfg, params0)))
