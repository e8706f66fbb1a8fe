"""Jitted simulator: every scheme as stochastic ascent, for bandit and sequence policies.

``make_simulate(cfg)`` returns ``jit((hparams, key) -> Metrics)``: ``loop.scan_records`` over
T / record_every recorded blocks (keys pre-split as ``xs``). Each step draws B prompts and a
``Group`` of M responses per prompt from the policy (``policies.make_policy``), weights them by
the scheme's a/b tables and ascends the surrogate of ``estimator`` with an optax optimizer
wrapped in ``loop.freeze_if_nonfinite``. ``SimConfig`` is static (one compile each);
``HParams`` (learning rate, eps, PPO clip range) are traced, so a vmapped grid compiles once.
float32. ``SimConfig.is_ppo``: each step is one rollout and E x N clipped updates
(``rlxform.sim.ppo``); ``std_scope`` "batch" | "none" swaps the group std (``sim.std_scope``).
sequence_tabular with SGD takes the in-place sparse update (``sim.sequence_sparse``, same draws
and records) unless ``sparse=False``.
With SGD the mean step is lr * w_M(p) grad p (SPEC section 2; with dynamic sampling
lr * sum_x c_x w°_M(p_x) grad p_x, ``rlxform.core.dynamic``), so seed-mean trajectories follow
exact ascent (``rlxform.sim.reference``) as lr -> 0. With Adam they need not: Adam divides each
coordinate by a running RMS of the *noisy* gradient, and E[g / sqrt(E g^2)] is not
E[g] / |E[g]|, so the noise level of each scheme changes the effective step per coordinate.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core.schemes import Scheme
from rlxform.sim import entropy_term, estimator, kl_term, loop, ppo, std_scope
from rlxform.sim import filters as sim_filters
from rlxform.sim.config import (  # noqa: F401  (re-exported: rlxform.sim.simulate.* callers)
    AUTO_COUNTS_MIN_SAMPLES,
    COUNTS_RATIO,
    OPTIMIZERS,
    SAMPLERS,
    HParams,
    Metrics,
    Problem,
    SequenceMetrics,
    SimConfig,
    check_hparams,
    checked_hparams,
)
from rlxform.sim.loop import make_optimizer
from rlxform.sim.policies import Policy, combine, make_policy, partition
from rlxform.sim.sampling import (  # noqa: F401  (re-exported: rlxform.sim.simulate.sample_*)
    sample_action_counts,
    sample_actions,
    sample_counts,
)
from rlxform.types import Array, ArrayLike, PRNGKey, PyTree
from rlxform.validation import InputError, is_concrete


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


def sample_gradient(
    key: PRNGKey, params: PyTree, cfg: SimConfig, eps: ArrayLike | None = None
) -> tuple[PyTree, Array]:
    """One stochastic ascent direction g at ``params`` (E[g]: ``reference.expected_update``).

    Returns:
      (g like the trainable part of ``params``, S ``int32[B]`` correct counts).
    """
    a_table, b_table = tables(cfg, eps)
    grads, s = estimator.sample_gradient(key, params, policy_of(cfg), cfg, a_table, b_table)
    return scale_by_batch_std(grads, s, cfg, eps), s


def scale_by_batch_std(grads: PyTree, s: Array, cfg: SimConfig, eps: ArrayLike | None) -> PyTree:
    """``std_scope="batch"``: g / (sd_batch + eps) from the step's correct counts S ``int32[B]``
    (the batch scale is one scalar per step); other scopes: g unchanged."""
    if cfg.std_scope != "batch":
        return grads
    scheme = cfg.scheme
    scale = std_scope.batch_scale(
        s, cfg.group_size, std_scope.std_kind(scheme), std_scope.scheme_eps(scheme, eps)
    )
    return jax.tree_util.tree_map(lambda g: (g * scale).astype(g.dtype), grads)


def check_kl_combination(cfg: SimConfig) -> None:
    """InputError for a KL term with PPO's inner loop (E N > 1), a loss mode or std_scope !=
    "group" (the KL term is not wired into those step paths yet)."""
    if cfg.loss_mode is not None:
        raise InputError(
            f"kl_coef is invalid with loss_mode={cfg.loss_mode!r}: the KL term runs with the "
            "default surrogate only"
        )
    if cfg.is_ppo:
        raise InputError(
            f"kl_coef is invalid with ppo_epochs={cfg.ppo_epochs!r}, "
            f"num_minibatches={cfg.num_minibatches!r}: the KL term runs with the plain update "
            "only (ppo_epochs = num_minibatches = 1)"
        )
    if cfg.std_scope != "group":
        raise InputError(
            f"kl_coef is invalid with std_scope={cfg.std_scope!r}: the KL term runs with "
            "std_scope='group' only"
        )


def check_loss_mode_hparams(cfg: SimConfig, hparams: HParams) -> None:
    """InputError for the default surrogate's clip range (HParams) given with a loss mode."""
    if cfg.loss_mode is None:
        return
    for name in ("clip_low", "clip_high", "dual_clip"):
        value = getattr(hparams, name)
        if value is not None:
            concrete = is_concrete(value) and np.ndim(value) == 0
            shown = f"{name}={float(np.asarray(value))!r}" if concrete else name
            raise InputError(
                f"{shown} is invalid with loss_mode={cfg.loss_mode!r}: the mode's own "
                "settings set its clip range (loss_settings=KEY=VALUE, e.g. clip_ratio_high, "
                "epsilon_high)"
            )


def diverged_at(metrics: Metrics) -> int | None:
    """First step with a non-finite update (host value), or None."""
    values = np.asarray(metrics.nonfinite_step).reshape(-1)
    bad = values[values >= 0]
    step = int(bad.min()) if bad.size else -1
    return None if step < 0 else step


# ---- records and the run ------------------------------------------------------------------------


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
        kind = ppo.PPOMetrics if policy.length_stats is None else ppo.SequencePPOMetrics
        return kind(*metrics, clip_fraction=fraction)

    state = loop.TrainState(trainable, optimizer.init(trainable))
    state, metrics = loop.scan_records(step, record, state, xs, cfg.num_steps, cfg.record_every)
    bad = state.opt_state.nonfinite_step
    if make_step is not None:  # optimizer updates -> simulator steps
        bad = jnp.where(bad >= 0, bad // (cfg.ppo_epochs * cfg.num_minibatches), bad)
    return metrics._replace(nonfinite_step=bad)


def sparse_eligible(cfg: SimConfig) -> bool:
    """Whether ``sequence_sparse`` can run ``cfg`` (without a KL term): a policy with
    ``sparse_sgd`` (sequence_tabular), SGD, one update per step (no PPO) and no batch-level std."""
    return (
        policy_of(cfg).sparse_sgd
        and cfg.optimizer == "sgd"
        and not cfg.ppo_step
        and cfg.std_scope != "batch"
    )


def build_simulate(cfg: SimConfig, params0: PyTree | None = None, *, sparse: bool | None = None):
    """The un-jitted simulator ``(hparams, key) -> Metrics`` (for vmap / jit by the caller).

    ``sparse``: route of a ``sparse_eligible`` config without a KL term. None (default) runs
    the in-place sparse-SGD update of ``sequence_sparse`` (same draws and records, several
    times faster: no dense gradient of the prefix table); False the generic ``jax.grad``
    route (its reference in tests); True requires the sparse route (InputError otherwise).
    """
    if not isinstance(cfg, SimConfig):
        raise InputError(f"cfg={cfg!r} is invalid: must be a SimConfig")
    if sparse not in (None, True, False):
        raise InputError(f"sparse={sparse!r} is invalid: must be None, True or False")
    if sparse and not sparse_eligible(cfg):
        raise InputError(
            f"sparse=True is invalid for policy={cfg.problem.policy!r}, "
            f"optimizer={cfg.optimizer!r}, ppo_epochs={cfg.ppo_epochs!r}, "
            f"std_scope={cfg.std_scope!r}: the sparse route needs sequence_tabular with sgd, "
            "no PPO and std_scope 'group' or 'none'"
        )
    policy = policy_of(cfg)
    params0 = initial_params(cfg) if params0 is None else params0
    fast = None
    if sparse is not False and sparse_eligible(cfg):
        # imported here: sequence_sparse builds on this module's records and tables
        from rlxform.sim.sequence_sparse import build_sparse_simulate

        fast = build_sparse_simulate(cfg, params0)

    def simulate(hparams: HParams, key: PRNGKey) -> Metrics:
        filters = sim_filters.filter_state(cfg, hparams)  # None: no filter acts
        if (
            fast is not None
            and hparams.kl_coef is None
            and filters is None
            and hparams.entropy_coef is None
        ):
            return fast(hparams, key)
        if sparse and (hparams.kl_coef is not None or hparams.entropy_coef is not None):
            raise InputError(
                "sparse=True is invalid with kl_coef or entropy_coef: the sparse route has neither"
            )
        if hparams.entropy_coef is not None:
            entropy_term.check_combination(cfg, hparams)
        a_table, b_table = tables(cfg, hparams.eps)
        if hparams.kl_coef is not None:
            check_kl_combination(cfg)
        start = params0
        if policy.large_params:  # a large closed-over constant: do not fold it
            start = jax.lax.optimization_barrier(params0)
        if cfg.ppo_step:
            check_loss_mode_hparams(cfg, hparams)
            rollout_keys, epoch_keys = ppo.step_keys(key, cfg)
            xs = jax.tree_util.tree_map(
                lambda k: k.reshape(-1, cfg.record_every, *k.shape[1:]), (rollout_keys, epoch_keys)
            )

            def make_step(optimizer, frozen):
                return ppo.make_ppo_step(cfg, policy, optimizer, frozen, a_table, b_table, hparams)

            return run_ascent(cfg, start, hparams, policy, None, xs, make_step)
        keys = jax.random.split(key, cfg.num_steps).reshape(-1, cfg.record_every)

        kl = None
        if hparams.kl_coef is not None:  # reference policy: the initial params, frozen
            kl = kl_term.KLState(hparams.kl_coef, params0, hparams.eps)

        def grad_fn(params, step_key):
            grads, s = estimator.sample_gradient(
                step_key,
                params,
                policy,
                cfg,
                a_table,
                b_table,
                kl=kl,
                filters=filters,
                entropy=hparams.entropy_coef,
            )
            degenerate = jnp.mean(((s == 0) | (s == cfg.group_size)).astype(jnp.float32))
            return scale_by_batch_std(grads, s, cfg, hparams.eps), degenerate

        return run_ascent(cfg, start, hparams, policy, grad_fn, keys)

    return simulate


def make_simulate(cfg: SimConfig, params0: PyTree | None = None, *, sparse: bool | None = None):
    """Jitted ``(hparams, key) -> Metrics``; one compile per config (HParams are traced).

    Args:
      cfg: static configuration.
      params0: initial params (default ``initial_params(cfg)``), closed over as constants.
      sparse: the route of sequence_tabular with SGD (``build_simulate``; default: sparse).
    Returns:
      ``fn(hparams: HParams, key) -> Metrics`` (``SequenceMetrics`` for sequence policies) with
      R = T / record_every + 1 records; a learning rate <= 0, NaN or inf (or eps < 0) raises
      ``InputError`` before anything runs, and so does a run larger than the memory budget
      (``resources.check_run``).
    """
    from rlxform.resources import check_run

    check_run(cfg, 1, what="make_simulate")
    return checked_hparams(jax.jit(build_simulate(cfg, params0, sparse=sparse)))
