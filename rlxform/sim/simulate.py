"""Jitted bandit simulator: every scheme as stochastic ascent on J = mean_x h_M(p_x(theta)).

``make_simulate(cfg)`` returns ``jit((hparams, key) -> Metrics)``: a ``lax.scan`` over
T / record_every recorded blocks of ``record_every`` steps (keys pre-split as ``xs``; memory
grows only with what is recorded). Each step samples B prompts, M responses per prompt (inverse
CDF from one uniform per response, or multinomial counts per prompt when M is large relative to
K; samplers in ``rlxform.sampling``), weights Z from the scheme's a/b tables, and ascends
loss = mean_b (1/M) sum_i stop_gradient(Z_i) log pi(y_i | x_b) with an optax optimizer.
``SimConfig`` is static (shapes, code paths, one compile each); ``HParams`` (learning rate, eps)
are traced, so a vmapped grid compiles once. float32 throughout.
With SGD the mean step is lr * w_M(p) grad p (SPEC section 2; with dynamic sampling
lr * sum_x c_x w°_M(p_x) grad p_x, ``rlxform.dynamic``), so seed-mean trajectories follow
exact ascent (``rlxform.exact``) as lr -> 0. With Adam they need not: Adam divides each
coordinate by a running RMS of the *noisy* gradient, and E[g / sqrt(E g^2)] is not
E[g] / |E[g]|, so E[Adam step] != Adam step of E[g]; the noise level of each scheme changes the
effective step size per coordinate, not just the variance.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rlxform import bernstein as bern
from rlxform.sim import policies
from rlxform import schemes as schemes_lib
from rlxform.resources import MAX_STEPS
from rlxform.sim.sampling import (  # re-exported: rlxform.simulate.sample_* stays importable
    action_counts,
    counts_from_masses,
    sample_action_counts,
    sample_actions,  # noqa: F401
    sample_counts,
    softmax_cdf,
)
from rlxform.schemes import Scheme
from rlxform.types import Array, ArrayLike, PRNGKey, PyTree
from rlxform.validation import (
    check_choice,
    check_float,
    check_int,
    check_seed,
    is_concrete,
    real_array,
)

OPTIMIZERS = ("sgd", "adam")
SAMPLERS = ("auto", "inverse_cdf", "counts")
COUNTS_RATIO = 8  # "auto" picks the counts sampler when M >= COUNTS_RATIO * K ...
# ... and the run samples B * M * T >= 2^26 responses: below that the inverse-CDF sampler runs
# it in under ~1 s on 2 CPU cores, less than the counts sampler's longer compile (~5-10 s)
AUTO_COUNTS_MIN_SAMPLES = 2**26


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Static simulator configuration (hashable; changing it recompiles).

    Attributes:
      scheme: a ``Scheme`` (or a catalog name, looked up with default parameters).
      policy: ``"scalar"``, ``"tabular"`` or ``"network"``.
      num_prompts: P. num_responses: K. num_correct: C (responses 0..C-1 are correct).
      group_size: M samples per prompt and step.
      num_steps: T. batch_size: B prompts per step (None = all P, else uniform with
        replacement). record_every: E, must divide T; R = T / E + 1 records (step 0 included).
      optimizer: ``"sgd"`` or ``"adam"``.
      dynamic_sampling: drop groups with S = 0 or S = M and average over the kept ones within
        the batch (no refill as in DAPO); its mean step is ``rlxform.dynamic``'s.
      sampler: ``"inverse_cdf"``, ``"counts"`` or ``"auto"`` (counts when M >= 8 K and the
        run samples B M T >= 2^26 responses, enough to repay the counts sampler's compile).
      hidden, features: network width H and prompt-feature dimension d.
      init_p: population of initial p: tuple of values (cycled), ("beta", a, b) or "grid".
      population_seed: seed of the population draw and the network's features/first layer
        (part of the problem, not of the run: every run seed sees the same prompts).
    """

    scheme: Any
    policy: str = "tabular"
    num_prompts: int = 1
    num_responses: int = 2
    num_correct: int = 1
    group_size: int = 8
    num_steps: int = 100
    batch_size: int | None = None
    optimizer: str = "sgd"
    record_every: int = 1
    dynamic_sampling: bool = False
    sampler: str = "auto"
    hidden: int = 32
    features: int = 16
    init_p: Any = (0.5,)
    population_seed: int = 0

    def __post_init__(self) -> None:
        scheme = self.scheme
        if isinstance(scheme, str):
            scheme = schemes_lib.get(scheme)
        if not isinstance(scheme, Scheme):
            raise ValueError(
                f"scheme={scheme!r} is invalid: must be an rlxform Scheme or one of "
                + ", ".join(schemes_lib.names())
            )
        object.__setattr__(self, "scheme", scheme)
        self.policy_config  # validates policy, P, K, C, hidden, features  # noqa: B018
        scheme.check_group_size(self.group_size)
        steps = check_int("num_steps", self.num_steps, 1, MAX_STEPS)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, 1, self.num_prompts)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        every = check_int("record_every", self.record_every, 1, steps)
        if steps % every:
            raise ValueError(f"record_every={every!r} is invalid: must divide num_steps={steps}")
        if not isinstance(self.dynamic_sampling, bool):
            raise ValueError(f"dynamic_sampling={self.dynamic_sampling!r} is invalid: must be bool")
        check_choice("sampler", self.sampler, SAMPLERS)
        init_p = policies.check_population(self.init_p)
        object.__setattr__(self, "init_p", init_p)
        check_seed("population_seed", self.population_seed)

    @property
    def policy_config(self) -> policies.PolicyConfig:
        return policies.PolicyConfig(
            self.policy,
            self.num_prompts,
            self.num_responses,
            self.num_correct,
            self.hidden,
            self.features,
        )

    @property
    def batch(self) -> int:
        """B, the number of prompts per step."""
        return self.num_prompts if self.batch_size is None else self.batch_size

    @property
    def num_records(self) -> int:
        """R = T / record_every + 1 (the initial state is record 0)."""
        return self.num_steps // self.record_every + 1

    @property
    def resolved_sampler(self) -> str:
        if self.sampler != "auto":
            return self.sampler
        samples = self.batch * self.group_size * self.num_steps
        large_groups = self.group_size >= COUNTS_RATIO * self.num_responses
        long_run = samples >= AUTO_COUNTS_MIN_SAMPLES
        return "counts" if large_groups and long_run else "inverse_cdf"


class HParams(NamedTuple):
    """Traced hyperparameters (vmap over them compiles once).

    Attributes:
      learning_rate: float[] > 0.
      eps: float[] replacing the scheme's eps in std-normalised schemes; None keeps the
        scheme's own (ignored by schemes without eps).
    """

    learning_rate: ArrayLike
    eps: ArrayLike | None = None


class Metrics(NamedTuple):
    """Recorded trajectory; R = T / record_every + 1 records, record 0 is the initial state.

    Attributes:
      step: int32[R] step index of each record.
      p: float32[R, P] per-prompt success probability.
      mean_p: float32[R] mean over prompts.
      objective: float32[R] J = mean_x h_M(p_x) (h_M of the tables actually used, eps included).
      degenerate_fraction: float32[R] fraction of groups with S = 0 or S = M over the steps since
        the previous record (exact ascent: its expectation mean_x p^M + (1-p)^M); 0 at record 0.
      finite: bool[R] all parameters finite at the record (False once the run diverged).
      nonfinite_step: int32[] first step whose update was not finite (-1 if none), alias
        ``diverged_at``. From that step on the run is frozen at its last finite parameters and
        every later record's p, mean_p, objective and degenerate_fraction are NaN; other runs
        of a vmapped grid are unaffected.
    """

    step: Array
    p: Array
    mean_p: Array
    objective: Array
    degenerate_fraction: Array
    finite: Array
    nonfinite_step: Array

    @property
    def diverged_at(self) -> Array:
        """int32[...] per run: the first non-finite step, or -1 (= ``nonfinite_step``)."""
        return self.nonfinite_step


def check_hparams(hparams: HParams) -> HParams:
    """Validate concrete hyperparameters (learning rate finite and > 0, eps finite and >= 0)."""
    lr = real_array("learning_rate", hparams.learning_rate)
    for value in lr.reshape(-1):
        check_float("learning_rate", float(value), 0.0, low_open=True, float32=True)
    if hparams.eps is not None:
        for value in real_array("eps", hparams.eps).reshape(-1):
            check_float("eps", float(value), 0.0)
    return hparams


class CheckedHParams:
    """A jitted ``fn(hparams, ...)`` that validates concrete ``HParams`` before each call.

    ``check_hparams`` runs on host values only (tracers under an outer jit/vmap pass through);
    every other attribute (``lower``, ``_cache_size``, ...) is the jitted function's own.
    """

    def __init__(self, fn) -> None:
        self.fn = fn

    @staticmethod
    def _check(hparams: Any) -> Any:
        if isinstance(hparams, HParams) and is_concrete(hparams):
            check_hparams(hparams)
        return hparams

    def __call__(self, hparams: HParams, *args: Any, **kwargs: Any) -> Any:
        return self.fn(self._check(hparams), *args, **kwargs)

    def lower(self, hparams: HParams, *args: Any, **kwargs: Any) -> Any:
        return self.fn.lower(self._check(hparams), *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fn, name)


def diverged_at(metrics: Metrics) -> int | None:
    """First step with a non-finite update (host value), or None."""
    values = np.asarray(metrics.nonfinite_step).reshape(-1)
    bad = values[values >= 0]
    step = int(bad.min()) if bad.size else -1
    return None if step < 0 else step


# ---- pieces shared with rlxform.exact ----------------------------------------------------------


def initial_params(cfg: SimConfig) -> PyTree:
    """theta_0 for ``cfg``: population drawn and network initialised from ``population_seed``."""
    # threefry whatever the default PRNG: the problem is the same under every generator
    key = jax.random.key(cfg.population_seed, impl="threefry2x32")
    pop_key, init_key = jax.random.split(key)
    init_p = policies.population(pop_key, cfg.init_p, cfg.num_prompts)
    return policies.init_params(init_key, cfg.policy_config, init_p)


def tables(
    cfg: SimConfig,
    eps: ArrayLike | None = None,
    scheme: Scheme | None = None,
    dtype: Any = jnp.float32,
) -> tuple[Array, Array]:
    """(a, b) ``float[M+1]`` (float32 by default) with eps (possibly traced) substituted."""
    scheme = cfg.scheme if scheme is None else scheme
    a_table, b_table = scheme.traced_tables(cfg.group_size, eps)
    return a_table.astype(dtype), b_table.astype(dtype)


def objective_of_tables(a_table: Array, b_table: Array, p: ArrayLike) -> Array:
    """h_M(p) = B_M[phi](p) from (possibly traced) tables; grad is w_M(p) (custom JVP)."""
    coefficients = a_table[1:] - b_table[:-1]
    m = coefficients.shape[0]
    phi = jnp.concatenate([jnp.zeros((1,), coefficients.dtype), jnp.cumsum(coefficients)]) / m
    return bern.bernstein(phi, p)


def make_optimizer(name: str, learning_rate: ArrayLike) -> optax.GradientTransformation:
    """optax sgd or adam with a (possibly traced) learning rate; built per call, never global."""
    if name == "sgd":
        return optax.sgd(learning_rate)
    return optax.adam(learning_rate)


def _all_finite(tree: PyTree) -> Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves))


# ---- sampling ---------------------------------------------------------------------------------


def class_weights(
    key: PRNGKey,
    logits: ArrayLike,
    a_table: Array,
    b_table: Array,
    num_correct: int,
    group_size: int,
    sampler: str,
) -> tuple[Array, Array]:
    """Sample a group per row and return (coef, S).

    coef[b, k] = (1/M) sum_i Z_i 1{y_i = k}, so the group's loss is sum_k coef[b, k] log pi_k.

    Returns:
      coef ``float32[B, K]`` and the number of correct samples S ``int32[B]``.
    """
    logits = jnp.asarray(logits)
    is_correct = jnp.arange(logits.shape[-1]) < num_correct
    if sampler == "counts":
        counts = sample_counts(key, logits, group_size)
    else:  # the same draws as sample_actions, counted without a [B, M] scatter
        counts = sample_action_counts(key, logits, group_size)
    num_correct_in_group = jnp.sum(jnp.where(is_correct, counts, 0.0), axis=-1)
    s = jnp.round(num_correct_in_group).astype(jnp.int32)
    weight = jnp.where(is_correct, a_table[s][:, None], b_table[s][:, None])
    return counts * weight / group_size, s


def surrogate_loss(
    logits: Array,
    coef: Array,
    num_correct_in_group: Array,
    group_size: int,
    dynamic_sampling: bool,
) -> Array:
    """mean_b sum_k stop_gradient(coef[b, k]) log pi_k(x_b); its gradient is the step g.

    With ``dynamic_sampling`` groups with S = 0 or S = M are dropped and the mean is over the rest
    (0 when every group is degenerate).
    """
    per_group = jnp.sum(jax.lax.stop_gradient(coef) * jax.nn.log_softmax(logits, -1), axis=-1)
    if not dynamic_sampling:
        return jnp.mean(per_group)
    keep = (num_correct_in_group > 0) & (num_correct_in_group < group_size)
    kept = jnp.sum(keep)
    return jnp.sum(jnp.where(keep, per_group, 0.0)) / jnp.maximum(kept, 1).astype(per_group.dtype)


def sample_gradient(
    key: PRNGKey, params: PyTree, cfg: SimConfig, eps: ArrayLike | None = None
) -> tuple[PyTree, Array]:
    """One stochastic ascent direction g at ``params`` (E[g]: ``exact.expected_update``).

    Args:
      key: PRNG key.
      params: policy params (from ``initial_params`` / ``policies.init_params``).
      cfg: the config (batch size, M, sampler, dynamic sampling).
      eps: traced eps or None (the scheme's own).
    Returns:
      (g, S): g like the trainable part of ``params``; S ``int32[B]`` correct counts.
    """
    a_table, b_table = tables(cfg, eps)
    return _sample_gradient(key, params, cfg, a_table, b_table)


def _sample_gradient(key, params, cfg, a_table, b_table):
    pcfg = cfg.policy_config
    batch_key, sample_key = jax.random.split(key)
    trainable, constants = policies.partition(params)
    if cfg.batch < cfg.num_prompts:
        index = jax.random.randint(batch_key, (cfg.batch,), 0, cfg.num_prompts)
    else:
        index = None

    def batch_logits(tr):
        all_logits = policies.logits(policies.combine(tr, constants), pcfg)
        return all_logits if index is None else all_logits[index]

    logits = batch_logits(trainable)
    closed_form = cfg.policy == "tabular" and index is None and not cfg.dynamic_sampling
    if closed_form and cfg.resolved_sampler == "inverse_cdf":
        return _tabular_inverse_cdf_gradient(sample_key, logits, cfg, a_table, b_table)
    if closed_form:
        return _tabular_counts_gradient(sample_key, logits, cfg, a_table, b_table)
    coef, s = class_weights(
        sample_key,
        jax.lax.stop_gradient(logits),
        a_table,
        b_table,
        cfg.num_correct,
        cfg.group_size,
        cfg.resolved_sampler,
    )

    if closed_form:
        # closed form of the generic route below: d/dlogits mean_b sum_k coef log_softmax
        probs = jax.nn.softmax(logits, axis=-1)
        total = jnp.sum(coef, axis=-1, keepdims=True)
        return {"logits": (coef - total * probs) / cfg.num_prompts}, s

    def loss(tr):
        return surrogate_loss(batch_logits(tr), coef, s, cfg.group_size, cfg.dynamic_sampling)

    return jax.grad(loss)(trainable), s


def _tabular_inverse_cdf_gradient(key, logits, cfg, a_table, b_table):
    """The closed-form tabular step with the inverse-CDF sampler, softmax computed once.

    Same draws and value as ``class_weights`` + the closed form in ``_sample_gradient``:
    S = sum of the first C counts, and sum_k coef_k = (S a[S] + (M-S) b[S]) / M
    in closed form (no reductions over the short K axis, slow on CPU).
    """
    group_size, num_correct = cfg.group_size, cfg.num_correct
    e, cdf = softmax_cdf(jax.lax.stop_gradient(logits))
    int_counts = action_counts(key, cdf, group_size)
    s = int_counts[:, 0]
    for k in range(1, num_correct):
        s = s + int_counts[:, k]
    counts = int_counts.astype(cdf.dtype)
    a_s, b_s = a_table[s], b_table[s]
    is_correct = jnp.arange(logits.shape[-1]) < num_correct
    coef = counts * jnp.where(is_correct, a_s[:, None], b_s[:, None]) / group_size
    s_float = s.astype(coef.dtype)
    total = (s_float * a_s + (group_size - s_float) * b_s) / group_size
    probs = e / cdf[:, -1:]
    return {"logits": (coef - total[:, None] * probs) / cfg.num_prompts}, s


def _tabular_counts_gradient(key, logits, cfg, a_table, b_table):
    """The closed-form tabular step with the counts sampler, exp(logits - max) computed once.

    Same draws and value as ``class_weights`` + the closed form in ``_sample_gradient``: the
    tree masses and probs share ``softmax_cdf``; S by column adds, sum_k coef_k in closed form.
    """
    group_size, num_correct = cfg.group_size, cfg.num_correct
    e, cdf = softmax_cdf(jax.lax.stop_gradient(logits))
    counts = counts_from_masses(key, e, group_size)
    num_correct_in_group = counts[:, 0]
    for k in range(1, num_correct):
        num_correct_in_group = num_correct_in_group + counts[:, k]
    s = jnp.round(num_correct_in_group).astype(jnp.int32)
    a_s, b_s = a_table[s], b_table[s]
    is_correct = jnp.arange(logits.shape[-1]) < num_correct
    coef = counts * jnp.where(is_correct, a_s[:, None], b_s[:, None]) / group_size
    s_float = s.astype(coef.dtype)
    total = (s_float * a_s + (group_size - s_float) * b_s) / group_size
    probs = e / cdf[:, -1:]
    return {"logits": (coef - total[:, None] * probs) / cfg.num_prompts}, s


# ---- the scan -----------------------------------------------------------------------------------


class _Carry(NamedTuple):
    trainable: PyTree
    opt_state: PyTree
    nonfinite_step: Array


def _record(cfg, params, a_table, b_table, degenerate_fraction, step) -> Metrics:
    p = policies.p_correct(params, cfg.policy_config).astype(jnp.float32)
    return Metrics(
        step=jnp.asarray(step, jnp.int32),
        p=p,
        mean_p=jnp.mean(p),
        objective=jnp.mean(objective_of_tables(a_table, b_table, p)).astype(jnp.float32),
        degenerate_fraction=jnp.asarray(degenerate_fraction, jnp.float32),
        finite=_all_finite(params),
        nonfinite_step=jnp.asarray(-1, jnp.int32),
    )


def _mask_diverged(record: Metrics, diverged: Array) -> Metrics:
    """NaN for the float metrics (and finite = False) of a record taken after divergence."""

    def mask(x):
        return jnp.where(diverged, jnp.nan, x).astype(x.dtype)

    return record._replace(
        p=mask(record.p),
        mean_p=mask(record.mean_p),
        objective=mask(record.objective),
        degenerate_fraction=mask(record.degenerate_fraction),
        finite=record.finite & ~diverged,
    )


def run_blocks(cfg: SimConfig, params0: PyTree, hparams: HParams, step_fn, xs) -> Metrics:
    """Scan ``step_fn(carry, x) -> (carry, (finite, degenerate))`` over T steps in R-1 blocks.

    Shared by the simulator and exact ascent; ``xs`` has leading axes [R-1, E] (or None).
    """
    a_table, b_table = tables(cfg, hparams.eps)
    trainable, constants = policies.partition(params0)
    optimizer = make_optimizer(cfg.optimizer, hparams.learning_rate)
    carry = _Carry(trainable, optimizer.init(trainable), jnp.asarray(-1, jnp.int32))
    steps = jnp.arange(cfg.num_steps, dtype=jnp.int32).reshape(-1, cfg.record_every)

    def one_step(carry: _Carry, x):
        step, item = x
        grads, degenerate = step_fn(policies.combine(carry.trainable, constants), item)
        ascent = jax.tree_util.tree_map(jnp.negative, grads)
        updates, opt_state = optimizer.update(ascent, carry.opt_state, carry.trainable)
        trainable = optax.apply_updates(carry.trainable, updates)
        bad = ~(_all_finite(grads) & _all_finite(trainable))
        first = jnp.where((carry.nonfinite_step < 0) & bad, step, carry.nonfinite_step)
        # A diverged run freezes at its last finite state (its later records are masked).
        trainable, opt_state = jax.tree_util.tree_map(
            lambda new, old: jnp.where(first >= 0, old, new),
            (trainable, opt_state),
            (carry.trainable, carry.opt_state),
        )
        return _Carry(trainable, opt_state, first), degenerate

    def block(carry: _Carry, x):
        carry, degenerate = jax.lax.scan(one_step, carry, x)
        params = policies.combine(carry.trainable, constants)
        record = _record(cfg, params, a_table, b_table, jnp.mean(degenerate), x[0][-1] + 1)
        return carry, _mask_diverged(record, carry.nonfinite_step >= 0)

    first = _record(cfg, params0, a_table, b_table, 0.0, 0)
    carry, records = jax.lax.scan(block, carry, (steps, xs))
    metrics = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, records)
    return metrics._replace(nonfinite_step=carry.nonfinite_step)


def build_simulate(cfg: SimConfig, params0: PyTree | None = None):
    """The un-jitted simulator ``(hparams, key) -> Metrics`` (for vmap / jit by the caller)."""
    if not isinstance(cfg, SimConfig):
        raise ValueError(f"cfg={cfg!r} is invalid: must be a SimConfig")
    params0 = initial_params(cfg) if params0 is None else params0

    def simulate(hparams: HParams, key: PRNGKey) -> Metrics:
        a_table, b_table = tables(cfg, hparams.eps)
        keys = jax.random.split(key, cfg.num_steps).reshape(-1, cfg.record_every)

        def step_fn(params, step_key):
            grads, s = _sample_gradient(step_key, params, cfg, a_table, b_table)
            degenerate = jnp.mean(((s == 0) | (s == cfg.group_size)).astype(jnp.float32))
            return grads, degenerate

        return run_blocks(cfg, params0, hparams, step_fn, keys)

    return simulate


def make_simulate(cfg: SimConfig, params0: PyTree | None = None):
    """Jitted ``(hparams, key) -> Metrics``; one compile per config (HParams are traced).

    Args:
      cfg: static configuration.
      params0: initial params (default ``initial_params(cfg)``), closed over as constants.
    Returns:
      ``fn(hparams: HParams, key) -> Metrics`` with R = T / record_every + 1 records; a
      learning rate <= 0, NaN or inf (or eps < 0) raises ValueError before anything runs.
    """
    return CheckedHParams(jax.jit(build_simulate(cfg, params0)))
