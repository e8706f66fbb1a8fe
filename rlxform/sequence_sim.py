"""Jitted simulator and exact ascent for sequence policies (issue 13, items 5; SPEC section 8).

``make_sequence_simulate(cfg)`` returns ``jit((hparams, key) -> SeqMetrics)``: a ``lax.scan``
over T / E recorded blocks of E steps with pre-split keys. Each step draws B prompts (all P in
order when ``batch_size`` is None, else uniform with replacement), M responses per prompt token
by token from the policy's prefix table, weights sample i of group b by f_i Z_i with Z from the
scheme's a/b tables and f_i from the aggregation, and ascends
loss = (1/B) sum_b (1/M) sum_i sg(f_bi Z_bi) log pi(y_bi | x_b) with an optax optimizer.
Batch groups: the B groups of a step are cut into B/G consecutive blocks of G groups (G divides
B); token-mean divides by the token count of the block (f = G M / block tokens).
Exact ascent iterates the exact mean of that step with the same optimizer
(``sequence_reference.expected_grad``):
for token-mean the other G-1 groups' total length law is the convolution of the actual other
prompts of the block (full batch) or of G-1 draws from the prompt mixture (random batches).
Records: mean p, mean over prompts of E[L | correct] and E[L | wrong] (exact, from the
enumerated response law at the current parameters), mean_x h_M(p_x) as ``objective`` (the
paper's lens objective at the current p; the aggregation may not ascend it). float32 in the
simulator; exact references run in the caller's precision.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rlxform import schemes as schemes_lib
from rlxform.aggregation import check_aggregation
from rlxform.schemes import Scheme
from rlxform.sim.sequence_network import NetworkConfig, init_sequence_network, network_logits
from rlxform.sim.sequence_policies import init_sequence_tabular, num_prefixes
from rlxform.sim.sequence_tasks import PAD, SequenceTask, enumerate_sequences
from rlxform.sim.simulate import CheckedHParams, HParams, make_optimizer, objective_of_tables
from rlxform.types import Array, PRNGKey, PyTree
from rlxform.validation import check_choice, check_int

SEQUENCE_POLICIES = ("sequence_tabular", "sequence_network")
OPTIMIZERS = ("sgd", "adam")


@dataclasses.dataclass(frozen=True)
class SeqSimConfig:
    """Static configuration of a sequence-policy run (hashable; changing it recompiles).

    Attributes:
      scheme: a ``Scheme`` or catalog name. task: the ``SequenceTask``.
      aggregation: a mode of ``rlxform.sequences.AGGREGATIONS`` or a TRL alias.
      policy: ``"sequence_tabular"`` or ``"sequence_network"``.
      num_prompts: P. group_size: M. num_steps: T. record_every: E (divides T).
      batch_size: B groups per step (None: all P prompts in order, else uniform with replacement).
      batch_groups: G, groups sharing one token-mean normaliser; must divide B.
      optimizer: ``"sgd"`` or ``"adam"``.
      init_p: initial success probabilities, cycled over prompts (tabular: exact).
      hidden: GRU width (network). population_seed: network initialisation seed.
    """

    scheme: Any
    task: SequenceTask
    aggregation: str = "seq-mean-token-mean"
    policy: str = "sequence_tabular"
    num_prompts: int = 1
    group_size: int = 8
    num_steps: int = 100
    record_every: int = 1
    batch_size: int | None = None
    batch_groups: int = 1
    optimizer: str = "sgd"
    init_p: tuple[float, ...] = (0.5,)
    hidden: int = 16
    population_seed: int = 0

    def __post_init__(self) -> None:
        scheme = schemes_lib.get(self.scheme) if isinstance(self.scheme, str) else self.scheme
        if not isinstance(scheme, Scheme):
            raise ValueError(f"scheme={scheme!r} is invalid: must be an rlxform Scheme")
        object.__setattr__(self, "scheme", scheme)
        if not isinstance(self.task, SequenceTask):
            raise ValueError(f"task={self.task!r} is invalid: must be an rlxform SequenceTask")
        enumerate_sequences(self.task)  # the exact records need the enumeration (size limit)
        object.__setattr__(self, "aggregation", check_aggregation(self.aggregation))
        check_choice("policy", self.policy, SEQUENCE_POLICIES)
        check_int("num_prompts", self.num_prompts, 1)
        scheme.check_group_size(self.group_size)
        steps = check_int("num_steps", self.num_steps, 1)
        every = check_int("record_every", self.record_every, 1, steps)
        if steps % every:
            raise ValueError(f"record_every={every!r} is invalid: must divide num_steps={steps}")
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, 1, self.num_prompts)
        groups = check_int("batch_groups", self.batch_groups, 1)
        if self.batch % groups:
            raise ValueError(
                f"batch_groups={groups!r} is invalid: must divide the batch of {self.batch} groups"
            )
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        init_p = tuple(float(v) for v in np.atleast_1d(np.asarray(self.init_p, np.float64)))
        object.__setattr__(self, "init_p", init_p)
        check_int("hidden", self.hidden, 1)
        check_int("population_seed", self.population_seed, 0)

    @property
    def batch(self) -> int:
        """B, the number of groups per step."""
        return self.num_prompts if self.batch_size is None else self.batch_size

    @property
    def num_records(self) -> int:
        return self.num_steps // self.record_every + 1

    @property
    def network(self) -> NetworkConfig:
        return NetworkConfig(self.task, self.num_prompts, self.hidden)


class SeqMetrics(NamedTuple):
    """Recorded trajectory, R = T / E + 1 records (record 0 is the initial state).

    Attributes:
      step: int32[R]. p: float32[R, P]. mean_p: float32[R].
      objective: float32[R] mean_x h_M(p_x) (the scheme's tables; not the aggregation's).
      mean_length_correct, mean_length_wrong: float32[R], mean_x E[L | correct], E[L | wrong].
      finite: bool[R]. nonfinite_step: int32[] first non-finite step (-1 if none); from then on
        the run is frozen and later records are NaN.
    """

    step: Array
    p: Array
    mean_p: Array
    objective: Array
    mean_length_correct: Array
    mean_length_wrong: Array
    finite: Array
    nonfinite_step: Array


# ---- policy pieces ------------------------------------------------------------------------------


def initial_params(cfg: SeqSimConfig) -> PyTree:
    """Tabular: logits with p = init_p cycled over prompts; network: GRU params."""
    if cfg.policy == "sequence_network":
        return init_sequence_network(jax.random.key(cfg.population_seed), cfg.network)
    init_p = np.resize(np.asarray(cfg.init_p), cfg.num_prompts)
    return init_sequence_tabular(cfg.task, init_p)


def prefix_table(params: PyTree, cfg: SeqSimConfig) -> Array:
    """Next-token logits at every prefix of every prompt, ``float[P, num_prefixes, V]``."""
    if cfg.policy == "sequence_network":
        return network_logits(params, cfg.network)
    return params["logits"]


class SequenceBatch(NamedTuple):
    """A step's sampled groups: prompt ``int32[B]``; tokens, nodes ``int32[B, M, max_length]``
    (PAD after the end; node = prefix index where the token was chosen); lengths, index
    ``int32[B, M]`` (index = position in ``enumerate_sequences``)."""

    prompt: Array
    tokens: Array
    nodes: Array
    lengths: Array
    index: Array


def sample_groups(key: PRNGKey, table: Array, cfg: SeqSimConfig) -> SequenceBatch:
    """Draw the B prompts and M responses per prompt, token by token (``lax.scan``).

    Same draws as ``sample_sequences(prompt_key, table[x], task, M)`` for each group, where
    the prompt keys are ``split(sample_key, B)``. The response index is the breadth-first tree
    index of its content string: n_k = sum_j (1 + t_j) b^(k-1-j), b = V-1 (enumeration order).
    """
    task = cfg.task
    batch_key, sample_key = jax.random.split(key)
    if cfg.batch_size is None:
        prompt = jnp.arange(cfg.num_prompts, dtype=jnp.int32)
    else:
        prompt = jax.random.randint(batch_key, (cfg.batch,), 0, cfg.num_prompts, jnp.int32)
    b = task.vocab_size - 1
    last = num_prefixes(task) - 1

    def one(group_key, x):  # gathers rows of the full table: no per-prompt copy
        def step(carry, step_key):
            node, done = carry
            token = jax.random.categorical(step_key, table[x, node], axis=-1).astype(jnp.int32)
            out = (jnp.where(done, PAD, token), jnp.where(done, PAD, node))
            done = done | (token == task.stop)
            return (jnp.minimum(b * node + 1 + token, last), done), out

        m = cfg.group_size
        start = (jnp.zeros(m, jnp.int32), jnp.zeros(m, bool))
        _, (tokens, nodes) = jax.lax.scan(step, start, jax.random.split(group_key, task.max_length))
        return tokens.T, nodes.T

    keys = jax.random.split(sample_key, cfg.batch)
    tokens, nodes = jax.vmap(one)(keys, prompt)
    lengths = jnp.sum(tokens != PAD, axis=-1).astype(jnp.int32)
    content = (tokens != PAD) & (tokens != task.stop)
    k = jnp.sum(content, axis=-1, keepdims=True)
    power = (k - 1 - jnp.arange(task.max_length)).clip(0)
    index = jnp.sum(jnp.where(content, (1 + tokens) * b**power, 0), axis=-1).astype(jnp.int32)
    return SequenceBatch(prompt, tokens, nodes, lengths, index)


def sample_coefficients(
    batch: SequenceBatch, correct: Array, a_table: Array, b_table: Array, cfg: SeqSimConfig
) -> Array:
    """c_bi = f_bi Z_bi / (B M): the loss is sum_bi c_bi log pi(y_bi); ``float32[B, M]``.

    ``correct`` is ``bool[N]`` over the enumeration; f from ``aggregation_factor`` per block of
    G consecutive groups (token-mean: G M / block tokens).
    """
    reward = correct[batch.index]
    s = jnp.sum(reward, axis=-1).astype(jnp.int32)  # [B]
    z = jnp.where(reward, a_table[s][:, None], b_table[s][:, None])
    lengths = batch.lengths.astype(z.dtype)
    g, m = cfg.batch_groups, cfg.group_size
    mode = cfg.aggregation
    if mode == "seq-mean-token-sum":
        f = jnp.ones_like(lengths)
    elif mode == "seq-mean-token-mean":
        f = 1.0 / lengths
    elif mode == "seq-mean-token-sum-norm":
        f = jnp.full_like(lengths, 1.0 / cfg.task.max_length)
    else:
        blocks = lengths.reshape(-1, g * m)
        f = jnp.broadcast_to(g * m / jnp.sum(blocks, -1, keepdims=True), blocks.shape)
        f = f.reshape(lengths.shape)
    return f * z / (cfg.batch * m)


def batch_log_probs(table: Array, batch: SequenceBatch) -> Array:
    """log pi(y_bi | x_b) of the sampled responses from the prefix table, ``float[B, M]``."""
    live = batch.nodes >= 0
    rows = table[batch.prompt[:, None, None], jnp.where(live, batch.nodes, 0)]  # [B, M, L, V]
    log_probs = jax.nn.log_softmax(rows, axis=-1)
    chosen = jnp.take_along_axis(log_probs, jnp.where(live, batch.tokens, 0)[..., None], -1)
    return jnp.sum(jnp.where(live, chosen[..., 0], 0.0), axis=-1)


def sample_gradient(
    key: PRNGKey, params: PyTree, cfg: SeqSimConfig, a_table: Array, b_table: Array
) -> PyTree:
    """One stochastic step direction: grad of sum_bi sg(c_bi) log pi(y_bi) (ascent direction)."""
    correct = jnp.asarray(enumerate_sequences(cfg.task).correct)
    batch = sample_groups(key, jax.lax.stop_gradient(prefix_table(params, cfg)), cfg)
    coef = jax.lax.stop_gradient(sample_coefficients(batch, correct, a_table, b_table, cfg))
    return jax.grad(lambda q: jnp.sum(coef * batch_log_probs(prefix_table(q, cfg), batch)))(params)


# ---- the scan -----------------------------------------------------------------------------------


def tree_log_probs(table: Array, task: SequenceTask) -> Array:
    """log pi(y) of every enumerated response, level by level down the prefix tree.

    cum[child] = cum[parent] + log softmax(table[parent])[t]; a stopped response at prefix n has
    cum[n] + log softmax(table[n])[stop], a truncated one the cum of its full-length content.
    The enumeration index is the tree index, so the result is ordered like
    ``sequence_log_probs`` (the reference; equal values) at O(num_prefixes V) instead of
    O(N max_length) gathers. ``float[..., num_prefixes, V] -> float[..., N]``.
    """
    b = task.vocab_size - 1
    log_probs = jax.nn.log_softmax(table, axis=-1)
    lead = table.shape[:-2]
    levels = [jnp.zeros((*lead, 1), table.dtype)]
    start = 0
    for k in range(task.max_length):  # static unroll over max_length levels
        width = b**k
        rows = log_probs[..., start : start + width, :b]  # [..., width, b]
        levels.append((levels[-1][..., :, None] + rows).reshape(*lead, width * b))
        start += width
    cum = jnp.concatenate(levels[:-1], axis=-1)  # [..., num_prefixes]
    stopped = cum + log_probs[..., task.stop]
    return jnp.concatenate([stopped, levels[-1]], axis=-1)


def length_stats(log_pi: Array, task: SequenceTask) -> tuple[Array, Array, Array]:
    """(p, E[L | correct], E[L | wrong]) from ``log pi float[..., N]``, each ``float[...]``."""
    enum = enumerate_sequences(task)
    probs = jnp.exp(log_pi)
    correct = jnp.asarray(enum.correct)
    mass = probs * jnp.asarray(enum.lengths, probs.dtype)
    p = jnp.sum(jnp.where(correct, probs, 0.0), axis=-1)
    length_correct = jnp.sum(jnp.where(correct, mass, 0.0), axis=-1) / p
    length_wrong = jnp.sum(jnp.where(correct, 0.0, mass), axis=-1) / (1.0 - p)
    return p, length_correct, length_wrong


def _all_finite(tree: PyTree) -> Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]))


def _record(params, cfg, a_table, b_table, step, diverged) -> SeqMetrics:
    log_pi = tree_log_probs(prefix_table(params, cfg), cfg.task)
    p, length_correct, length_wrong = length_stats(log_pi, cfg.task)
    objective = jnp.mean(objective_of_tables(a_table, b_table, p))
    mask = lambda x: jnp.where(diverged, jnp.nan, x).astype(jnp.float32)
    return SeqMetrics(
        step=jnp.asarray(step, jnp.int32),
        p=mask(p),
        mean_p=mask(jnp.mean(p)),
        objective=mask(objective),
        mean_length_correct=mask(jnp.mean(length_correct)),
        mean_length_wrong=mask(jnp.mean(length_wrong)),
        finite=_all_finite(params) & ~diverged,
        nonfinite_step=jnp.asarray(-1, jnp.int32),
    )


def run_blocks(cfg: SeqSimConfig, params0: PyTree, hparams: HParams, grad_fn, xs) -> SeqMetrics:
    """Scan ``grad_fn(params, x) -> ascent direction`` over T steps in R-1 recorded blocks."""
    a_table, b_table = cfg.scheme.traced_tables(cfg.group_size, hparams.eps)
    optimizer = make_optimizer(cfg.optimizer, hparams.learning_rate)
    steps = jnp.arange(cfg.num_steps, dtype=jnp.int32).reshape(-1, cfg.record_every)

    def one_step(carry, x):
        params, opt_state, first = carry
        step, item = x
        grads = grad_fn(params, item)
        updates, new_state = optimizer.update(
            jax.tree_util.tree_map(jnp.negative, grads), opt_state
        )
        new_params = optax.apply_updates(params, updates)
        bad = ~(_all_finite(grads) & _all_finite(new_params))
        first = jnp.where((first < 0) & bad, step, first)
        keep = lambda new, old: jnp.where(first >= 0, old, new)
        params, opt_state = jax.tree_util.tree_map(
            keep, (new_params, new_state), (params, opt_state)
        )
        return (params, opt_state, first), None

    def block(carry, x):
        carry, _ = jax.lax.scan(one_step, carry, x)
        record = _record(carry[0], cfg, a_table, b_table, x[0][-1] + 1, carry[2] >= 0)
        return carry, record

    params0 = jax.lax.optimization_barrier(params0)  # a closed-over constant: do not fold
    carry = (params0, optimizer.init(params0), jnp.asarray(-1, jnp.int32))
    first = _record(params0, cfg, a_table, b_table, 0, jnp.asarray(False))
    carry, records = jax.lax.scan(block, carry, (steps, xs))
    metrics = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, records)
    return metrics._replace(nonfinite_step=carry[2])


def build_sequence_simulate(cfg: SeqSimConfig, params0: PyTree | None = None):
    """Un-jitted ``(hparams, key) -> SeqMetrics`` (for vmap / jit by the caller)."""
    params0 = initial_params(cfg) if params0 is None else params0

    def simulate(hparams: HParams, key: PRNGKey) -> SeqMetrics:
        a_table, b_table = cfg.scheme.traced_tables(cfg.group_size, hparams.eps)
        keys = jax.random.split(key, cfg.num_steps).reshape(-1, cfg.record_every)
        grad_fn = lambda params, k: sample_gradient(k, params, cfg, a_table, b_table)
        return run_blocks(cfg, params0, hparams, grad_fn, keys)

    return simulate


def build_sequence_exact(cfg: SeqSimConfig, params0: PyTree | None = None):
    """Un-jitted exact ascent ``hparams -> SeqMetrics``: the optimizer fed ``expected_grad``."""
    from rlxform.sequence_reference import expected_grad  # the reference imports this module

    params0 = initial_params(cfg) if params0 is None else params0

    def ascend(hparams: HParams) -> SeqMetrics:
        a_table, b_table = cfg.scheme.traced_tables(cfg.group_size, hparams.eps)
        grad_fn = lambda params, _: expected_grad(params, cfg, a_table, b_table)
        return run_blocks(cfg, params0, hparams, grad_fn, None)

    return ascend


def make_sequence_simulate(cfg: SeqSimConfig, params0: PyTree | None = None):
    """Jitted ``(hparams, key) -> SeqMetrics``; HParams (learning rate, eps) are traced."""
    return CheckedHParams(jax.jit(build_sequence_simulate(cfg, params0)))


def make_sequence_exact(cfg: SeqSimConfig, params0: PyTree | None = None):
    """Jitted exact ascent ``hparams -> SeqMetrics`` (same optimizer, learning rate, records)."""
    return CheckedHParams(jax.jit(build_sequence_exact(cfg, params0)))


def make_sequence_sweep(cfg: SeqSimConfig, params0: PyTree | None = None):
    """Jitted ``(hparams [H], keys [S]) -> SeqMetrics [H, S, ...]``: one compile for the grid."""
    over_seeds = jax.vmap(build_sequence_simulate(cfg, params0), in_axes=(None, 0))
    return CheckedHParams(jax.jit(jax.vmap(over_seeds, in_axes=(0, None))))


def make_sequence_exact_sweep(cfg: SeqSimConfig, params0: PyTree | None = None):
    """Jitted exact ascent over a hyperparameter grid: ``hparams [H] -> SeqMetrics [H, ...]``."""
    return CheckedHParams(jax.jit(jax.vmap(build_sequence_exact(cfg, params0))))
