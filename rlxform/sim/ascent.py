"""What every run shares: the policy, theta_0, the scheme's tables, records and the ascent scan.

``policy_of(cfg)`` and ``initial_params(cfg)`` build the run's policy and its starting params;
``tables(cfg, eps)`` the a/b tables with eps (possibly traced) substituted; ``make_record`` the
recorded ``Metrics`` of a step; ``run_ascent`` the one ``lax.scan`` over recorded blocks that
the simulator (``sim.simulate``, ``sim.sequence_sparse``) and exact ascent (``sim.exact``)
drive with their own step directions.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rlxform.core import bernstein as bern
from rlxform.core.schemes import Scheme
from rlxform.sim import loop, ppo_step, std_scope
from rlxform.sim.config import Metrics, SequenceMetrics, SimConfig
from rlxform.sim.hparams import HParams
from rlxform.sim.loop import make_optimizer
from rlxform.sim.policies import Policy, combine, make_policy, partition
from rlxform.types import Array, ArrayLike, PyTree


def policy_of(cfg: SimConfig) -> Policy:
    """The ``Policy`` of ``cfg.problem`` with the config's resolved sampler."""
    return make_policy(cfg.problem, sampler=cfg.resolved_sampler)


def initial_params(cfg: SimConfig) -> PyTree:
    """theta_0: population drawn and network initialised from ``population_seed``."""
    # threefry whatever the default PRNG: the problem is the same under every generator
    key = jax.random.key(cfg.problem.population_seed, impl="threefry2x32")
    return policy_of(cfg).init(key)


def tables(
    cfg: SimConfig,
    eps: ArrayLike | None = None,
    scheme: Scheme | None = None,
    dtype: Any = jnp.float32,
) -> tuple[Array, Array]:
    """(a, b) ``float[M+1]`` (float32 by default) with eps (possibly traced) substituted.

    ``std_scope`` "batch" or "none": the centred numerator tables (``std_scope.centred_tables``;
    "batch" divides each step by the batch's sd + eps).
    """
    scheme = cfg.scheme if scheme is None else scheme
    if cfg.std_scope != "group" and scheme.has_eps:
        a_table, b_table = std_scope.centred_tables(scheme, cfg.group_size)
        return a_table.astype(dtype), b_table.astype(dtype)
    a_table, b_table = scheme.traced_tables(cfg.group_size, eps)
    return a_table.astype(dtype), b_table.astype(dtype)


def objective_of_tables(a_table: Array, b_table: Array, p: ArrayLike) -> Array:
    """h_M(p) = B_M[phi](p) from (possibly traced) tables; grad is w_M(p) (custom JVP)."""
    coefficients = a_table[1:] - b_table[:-1]
    m = coefficients.shape[0]
    phi = jnp.concatenate([jnp.zeros((1,), coefficients.dtype), jnp.cumsum(coefficients)]) / m
    return bern.bernstein(phi, p)


def make_record(cfg: SimConfig, policy: Policy, frozen: PyTree, a_table: Array, b_table: Array):
    """``record(trainable, degenerate float[] , step, diverged) -> Metrics | SequenceMetrics``.

    Float records of a diverged run are NaN and ``finite`` is False.
    """

    def record(trainable, degenerate, step, diverged):
        params = combine(trainable, frozen)
        if policy.length_stats is None:
            p, lengths = policy.p_correct(params), ()
        else:
            p, *lengths = policy.length_stats(params)
        p = p.astype(jnp.float32)
        mask = lambda x: jnp.where(diverged, jnp.nan, x).astype(x.dtype)
        metrics = Metrics(
            step=jnp.asarray(step, jnp.int32),
            p=mask(p),
            mean_p=mask(jnp.mean(p)),
            objective=mask(jnp.mean(objective_of_tables(a_table, b_table, p)).astype(jnp.float32)),
            degenerate_fraction=mask(jnp.asarray(degenerate, jnp.float32)),
            finite=loop.all_finite(params) & ~diverged,
            nonfinite_step=jnp.asarray(-1, jnp.int32),
        )
        if not lengths:
            return metrics
        extra = [mask(jnp.mean(x).astype(jnp.float32)) for x in lengths]
        return SequenceMetrics(*metrics, *extra)

    return record


def run_ascent(
    cfg: SimConfig,
    params0: PyTree,
    hparams: HParams,
    policy: Policy,
    grad_fn,
    xs,
    make_step=None,
):
    """Ascend along ``grad_fn(params, x) -> (grads, degenerate float[])`` and record.

    Shared by the simulator and exact ascent; ``xs`` has leading axes [T / E, E] (or None).
    ``make_step(optimizer, frozen) -> step(state, x) -> (state, (degenerate, clip fraction))``
    replaces the plain step (PPO: several optimizer updates per step; records ``PPOMetrics``,
    ``nonfinite_step`` counted in simulator steps).
    """
    a_table, b_table = tables(cfg, hparams.eps)
    trainable, frozen = partition(params0)
    optimizer = loop.freeze_if_nonfinite(make_optimizer(cfg.optimizer, hparams.learning_rate))
    record_of = make_record(cfg, policy, frozen, a_table, b_table)
    if make_step is None:
        step = loop.ascent_step(optimizer, lambda tr, x: grad_fn(combine(tr, frozen), x))
    else:
        step = make_step(optimizer, frozen)

    def record(state: loop.TrainState, aux, end):
        diverged = state.opt_state.nonfinite_step >= 0
        if make_step is None:
            degenerate = 0.0 if aux is None else jnp.mean(aux)
            return record_of(state.trainable, degenerate, end, diverged)
        degenerate, fraction = (0.0, 0.0) if aux is None else (jnp.mean(aux[0]), jnp.mean(aux[1]))
        metrics = record_of(state.trainable, degenerate, end, diverged)
        fraction = jnp.where(diverged, jnp.nan, jnp.asarray(fraction, jnp.float32))
        kind = ppo_step.PPOMetrics if policy.length_stats is None else ppo_step.SequencePPOMetrics
        return kind(*metrics, clip_fraction=fraction)

    state = loop.TrainState(trainable, optimizer.init(trainable))
    state, metrics = loop.scan_records(step, record, state, xs, cfg.num_steps, cfg.record_every)
    bad = state.opt_state.nonfinite_step
    if make_step is not None:  # optimizer updates -> simulator steps
        bad = jnp.where(bad >= 0, bad // (cfg.ppo_epochs * cfg.num_minibatches), bad)
    return metrics._replace(nonfinite_step=bad)
