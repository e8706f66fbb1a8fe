"""Jitted simulator: every scheme as stochastic ascent, for bandit and sequence policies.

``make_simulate(cfg)`` returns ``jit((hparams, key) -> Metrics)``: ``loop.scan_records`` over
T / record_every recorded blocks (keys pre-split as ``xs``). Each step draws B prompts and a
``Group`` of M responses per prompt from the policy (``policies.make_policy``), weights them by
the scheme's a/b tables and ascends the surrogate of ``estimator`` with an optax optimizer
wrapped in ``loop.freeze_if_nonfinite``. ``SimConfig`` is static (one compile each);
``HParams`` (learning rate, eps, PPO clip range) are traced, so a vmapped grid compiles once.
float32. ``SimConfig.is_ppo``: each step is one rollout and E x N clipped updates
(``rlxform.sim.ppo_step``); ``std_scope`` "batch" | "none" swaps the group std (``sim.std_scope``).
sequence_tabular with SGD takes the in-place sparse update (``sim.sequence_sparse``, same draws
and records) unless ``sparse=False``.
With SGD the mean step is lr * w_M(p) grad p (SPEC section 2; with dynamic sampling
lr * sum_x c_x w°_M(p_x) grad p_x, ``rlxform.core.dynamic``), so seed-mean trajectories follow
exact ascent (``rlxform.sim.exact``) as lr -> 0. With Adam they need not: Adam divides each
coordinate by a running RMS of the *noisy* gradient, and E[g / sqrt(E g^2)] is not
E[g] / |E[g]|, so the noise level of each scheme changes the effective step per coordinate.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rlxform.sim import estimator, kl_term, ppo_step, std_scope
from rlxform.sim import filters as sim_filters
from rlxform.sim.ascent import initial_params, policy_of, run_ascent, tables
from rlxform.sim.combinations import check_combination
from rlxform.sim.config import Metrics, SimConfig
from rlxform.sim.hparams import HParams, checked_hparams
from rlxform.sim.sequence_sparse import build_sparse_simulate
from rlxform.types import Array, ArrayLike, PRNGKey, PyTree
from rlxform.validation import InputError


def sample_gradient(
    key: PRNGKey, params: PyTree, cfg: SimConfig, eps: ArrayLike | None = None
) -> tuple[PyTree, Array]:
    """One stochastic ascent direction g at ``params`` (E[g]: ``exact.expected_update``).

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


def diverged_at(metrics: Metrics) -> int | None:
    """First step with a non-finite update (host value), or None."""
    values = np.asarray(metrics.nonfinite_step).reshape(-1)
    bad = values[values >= 0]
    step = int(bad.min()) if bad.size else -1
    return None if step < 0 else step


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
        fast = build_sparse_simulate(cfg, params0)

    def simulate(hparams: HParams, key: PRNGKey) -> Metrics:
        check_combination(cfg, hparams)  # before the fast path: a filter's number without it
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
        a_table, b_table = tables(cfg, hparams.eps)
        start = params0
        if policy.large_params:  # a large closed-over constant: do not fold it
            start = jax.lax.optimization_barrier(params0)
        if cfg.ppo_step:
            rollout_keys, epoch_keys = ppo_step.step_keys(key, cfg)
            xs = jax.tree_util.tree_map(
                lambda k: k.reshape(-1, cfg.record_every, *k.shape[1:]), (rollout_keys, epoch_keys)
            )

            def make_step(optimizer, frozen):
                return ppo_step.make_ppo_step(
                    cfg, policy, optimizer, frozen, a_table, b_table, hparams
                )

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

    if not isinstance(cfg, SimConfig):  # before check_run reads cfg.problem
        raise InputError(f"cfg={cfg!r} is invalid: must be a SimConfig")
    check_run(cfg, 1, what="make_simulate")
    return checked_hparams(jax.jit(build_simulate(cfg, params0, sparse=sparse)))
