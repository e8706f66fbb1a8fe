"""Tabular autoregressive sequence policies: a logit vector over V for every prefix.

Prefixes are the non-stop token strings of length 0..max_length-1, indexed breadth-first as a
complete b-ary tree (b = V-1): the empty prefix is 0 and appending content token t < V-1 to
prefix n gives b n + 1 + t, so level k (prefixes of k tokens) starts at sum_{i<k} b^i and
there are ``num_prefixes = sum_{k<max_length} b^k`` prefixes. Parameters are ``{"logits": float[P,
num_prefixes, V]}``; log pi(y) = sum over generated tokens of log softmax(logits[prefix])[token],
so every distribution over responses is representable. ``init_sequence_tabular`` starts from
uniform continuations (pi_0(y) = V^-L(y)) tilted to the requested p: pi(y) = pi_0(y) p / p_0 on
correct responses and pi_0(y) (1-p)/(1-p_0) on wrong ones (the KL-closest policy with success p).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rlxform.core.aggregation import check_aggregation, sequence_weights_from_tables
from rlxform.core.schemes import Scheme
from rlxform.sim.sequence_tasks import PAD, SequenceTask, enumerate_sequences
from rlxform.types import Array, ArrayLike, NDArray, PRNGKey, PyTree
from rlxform.validation import check_float, check_int


def num_prefixes(task: SequenceTask) -> int:
    """Number of decision points: sum_{k<max_length} (V-1)^k."""
    b = task.vocab_size - 1
    return sum(b**k for k in range(task.max_length))


@functools.lru_cache(maxsize=32)
def prefix_indices(task: SequenceTask) -> NDArray:
    """Prefix index at which each token of each enumerated response was chosen.

    Returns ``int32[N, max_length]`` (PAD = -1 after the response's end), read-only.
    """
    enum = enumerate_sequences(task)
    b = task.vocab_size - 1
    n, length = enum.tokens.shape
    out = np.full((n, length), PAD, np.int32)
    node = np.zeros(n, np.int64)
    for j in range(length):
        live = j < enum.lengths
        out[live, j] = node[live]
        node = b * node + 1 + np.where(enum.tokens[:, j] >= 0, enum.tokens[:, j], 0)
    out.setflags(write=False)
    return out


def _scatter_mass(task: SequenceTask, weight: NDArray) -> NDArray:
    """mass[n, t] = sum of weight over responses that choose token t at prefix n."""
    enum = enumerate_sequences(task)
    prefixes = prefix_indices(task)
    live = prefixes >= 0
    mass = np.zeros((num_prefixes(task), task.vocab_size), np.float64)
    rows = np.broadcast_to(weight[:, None], prefixes.shape)[live]
    np.add.at(mass, (prefixes[live], enum.tokens[live]), rows)
    return mass


def init_sequence_tabular(task: SequenceTask, init_p: ArrayLike, *, dtype: Any = jnp.float32):
    """Parameters with success probability exactly ``init_p`` per prompt.

    Uniform continuations tilted by the verifier (module docstring); logits are the log
    conditional probabilities (each row log-sums to 0), computed in float64 then cast.
    Args:
      task: the task (needs both correct and wrong responses).
      init_p: ``float[P]`` in (0, 1).
      dtype: parameter dtype.
    Returns:
      ``{"logits": dtype[P, num_prefixes, V]}``.
    """
    init_p = np.atleast_1d(np.asarray(init_p, np.float64))
    if init_p.ndim != 1:
        raise ValueError(f"init_p with shape {init_p.shape} is invalid: must be [P]")
    for value in init_p:
        check_float("init_p", value, 0.0, 1.0, low_open=True, high_open=True)
    enum = enumerate_sequences(task)
    base = float(task.vocab_size) ** -enum.lengths.astype(np.float64)
    p0 = float(base[enum.correct].sum())
    if not 0.0 < p0 < 1.0:
        raise ValueError(
            f"verifier={task.verifier!r} is invalid for init_p: it marks "
            f"{'every' if p0 > 0 else 'no'} response correct, so p is fixed"
        )
    mass_correct = _scatter_mass(task, np.where(enum.correct, base, 0.0)) / p0
    mass_wrong = _scatter_mass(task, np.where(enum.correct, 0.0, base)) / (1.0 - p0)
    p = init_p[:, None, None]
    mass = p * mass_correct + (1.0 - p) * mass_wrong
    with np.errstate(divide="ignore"):
        logits = np.log(mass) - np.log(mass.sum(-1, keepdims=True))
    return {"logits": jnp.asarray(logits, dtype)}


@functools.partial(jax.jit, static_argnames=("task",))
def sequence_log_probs(logits: ArrayLike, task: SequenceTask) -> Array:
    """log pi(y) of every enumerated response: ``float[..., num_prefixes, V] -> float[..., N]``."""
    enum = enumerate_sequences(task)
    prefixes = prefix_indices(task)
    live = prefixes >= 0
    log_probs = jax.nn.log_softmax(jnp.asarray(logits), axis=-1)
    per_token = log_probs[..., np.where(live, prefixes, 0), np.where(live, enum.tokens, 0)]
    return jnp.sum(jnp.where(live, per_token, 0.0), axis=-1)


class SequenceStats(NamedTuple):
    """Exact statistics of a sequence policy (each ``float[...]`` over leading prompt axes).

    Attributes:
      p: success probability.
      mean_length: E[L].
      mean_length_correct, mean_length_wrong: E[L | correct], E[L | wrong].
      sequence_entropy: H(pi) = -sum_y pi(y) log pi(y) (nats).
      token_entropy: E[sum_t H(pi(. | prefix_t))] / E[L], the per-token entropy a framework
        averages over a large batch's tokens (chain rule: = sequence_entropy / E[L]).
    """

    p: Array
    mean_length: Array
    mean_length_correct: Array
    mean_length_wrong: Array
    sequence_entropy: Array
    token_entropy: Array


@functools.partial(jax.jit, static_argnames=("task",))
def sequence_stats(logits: ArrayLike, task: SequenceTask) -> SequenceStats:
    """Exact p, lengths and entropies from ``logits float[..., num_prefixes, V]``."""
    enum = enumerate_sequences(task)
    log_pi = sequence_log_probs(logits, task)
    probs = jnp.exp(log_pi)
    lengths = jnp.asarray(enum.lengths, probs.dtype)
    correct = jnp.asarray(enum.correct)
    p = jnp.sum(jnp.where(correct, probs, 0.0), axis=-1)
    mass_length = probs * lengths
    mean_length = jnp.sum(mass_length, axis=-1)
    mean_correct = jnp.sum(jnp.where(correct, mass_length, 0.0), axis=-1) / p
    mean_wrong = jnp.sum(jnp.where(correct, 0.0, mass_length), axis=-1) / (1.0 - p)
    seq_entropy = -jnp.sum(probs * log_pi, axis=-1)
    log_cond = jax.nn.log_softmax(jnp.asarray(logits), axis=-1)
    node_entropy = -jnp.sum(jnp.exp(log_cond) * log_cond, axis=-1)  # [..., num_prefixes]
    prefixes = prefix_indices(task)
    live = prefixes >= 0
    path_entropy = jnp.sum(
        jnp.where(live, node_entropy[..., np.where(live, prefixes, 0)], 0.0), axis=-1
    )
    token_entropy = jnp.sum(probs * path_entropy, axis=-1) / mean_length
    return SequenceStats(p, mean_length, mean_correct, mean_wrong, seq_entropy, token_entropy)


class SequenceSample(NamedTuple):
    """Sampled responses: tokens ``int32[S, max_length]`` (PAD after the end), lengths
    ``int32[S]``, per-token log-probabilities ``float[S, max_length]`` (0 after the end)."""

    tokens: Array
    lengths: Array
    log_probs: Array


@functools.partial(jax.jit, static_argnames=("task", "num_samples"))
def sample_sequences(
    key: PRNGKey, logits: ArrayLike, task: SequenceTask, num_samples: int
) -> SequenceSample:
    """Autoregressive sampling, token by token in a ``lax.scan`` over positions.

    Args:
      key: PRNG key (split into one key per position).
      logits: ``float[num_prefixes, V]`` of one prompt (vmap over prompts and keys).
      task: the task (static).
      num_samples: S responses (static).
    Returns:
      ``SequenceSample``; sum of ``log_probs`` over a row is log pi(y).
    """
    logits = jnp.asarray(logits)
    b = task.vocab_size - 1
    last = num_prefixes(task) - 1

    def step(carry, step_key):
        node, done = carry
        rows = logits[node]  # [S, V]
        token = jax.random.categorical(step_key, rows, axis=-1).astype(jnp.int32)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(rows, -1), token[:, None], -1)[:, 0]
        out = (jnp.where(done, PAD, token), jnp.where(done, 0.0, log_prob))
        done = done | (token == task.stop)
        node = jnp.minimum(b * node + 1 + token, last)  # unused once done or at the last step
        return (node, done), out

    start = (jnp.zeros(num_samples, jnp.int32), jnp.zeros(num_samples, bool))
    keys = jax.random.split(key, task.max_length)
    _, (tokens, log_probs) = jax.lax.scan(step, start, keys)
    tokens, log_probs = tokens.T, log_probs.T
    lengths = jnp.sum(tokens != PAD, axis=-1).astype(jnp.int32)
    return SequenceSample(tokens, lengths, log_probs)


class SequencePolicy(NamedTuple):
    """A tabular sequence policy as pure functions closed over its task."""

    init: Any  # (key, init_p float[P]) -> params {"logits": float32[P, num_prefixes, V]}
    log_probs: Any  # params -> float[P, N], log pi of every enumerated response
    p_correct: Any  # params -> float[P]
    sample: Any  # (key, params, num_samples) -> SequenceSample with leading axis P
    stats: Any  # params -> SequenceStats of float[P]


def sequence_tabular(task: SequenceTask) -> SequencePolicy:
    """``SequencePolicy`` for the tabular parameterisation of ``task``."""
    if not isinstance(task, SequenceTask):
        raise ValueError(f"task={task!r} is invalid: must be an rlxform SequenceTask")

    def sample(key: PRNGKey, params: PyTree, num_samples: int) -> SequenceSample:
        logits = params["logits"]
        keys = jax.random.split(key, logits.shape[0])
        draw = functools.partial(sample_sequences, task=task, num_samples=num_samples)
        return jax.vmap(draw)(keys, logits)

    return SequencePolicy(
        init=lambda key, init_p: init_sequence_tabular(task, init_p),
        log_probs=lambda params: sequence_log_probs(params["logits"], task),
        p_correct=lambda params: sequence_stats(params["logits"], task).p,
        sample=sample,
        stats=lambda params: sequence_stats(params["logits"], task),
    )


# ---- exact expected update and the length drift ------------------------------------------------


@functools.partial(jax.jit, static_argnames=("aggregation", "task", "batch_groups"))
def _expected_update(a_table, b_table, logits, aggregation, task, batch_groups):
    enum = enumerate_sequences(task)

    def one(prompt_logits):
        # omega is a function of the point x but is held fixed in the inner grad (over y), so
        # an outer jacfwd sees the whole field x -> E[g](x), omega's dependence included.
        probs = jnp.exp(sequence_log_probs(prompt_logits, task))
        omega = sequence_weights_from_tables(
            a_table,
            b_table,
            aggregation,
            probs,
            enum.lengths,
            enum.correct,
            max_length=task.max_length,
            batch_groups=batch_groups,
        )
        coefficients = probs * omega
        surrogate = lambda y: jnp.sum(coefficients * sequence_log_probs(y, task))
        return jax.grad(surrogate)(prompt_logits)

    flat = logits.reshape((-1, *logits.shape[-2:]))
    return jax.vmap(one)(flat).reshape(logits.shape)


def expected_update(
    scheme: Scheme,
    aggregation: str,
    group_size: int,
    logits: ArrayLike,
    task: SequenceTask,
    *,
    batch_groups: int = 1,
) -> Array:
    """Exact E[g] of a tabular sequence policy: grad of sum_y pi(y) sg(omega(y)) log pi(y).

    Args:
      scheme, aggregation, group_size, batch_groups: as in ``sequence_weights`` (token-mean
        treats the other G-1 groups as drawn from the same prompt's policy).
      logits: ``float[..., num_prefixes, V]``.
      task: the task.
    Returns:
      ``float[..., num_prefixes, V]``, the expected update direction (before the learning rate).
    """
    if not isinstance(scheme, Scheme):
        raise ValueError(f"scheme={scheme!r} is invalid: must be an rlxform.core.schemes.Scheme")
    a_table, b_table = scheme.tables(scheme.check_group_size(group_size))
    mode = check_aggregation(aggregation)
    batch_groups = check_int("batch_groups", batch_groups, 1)
    logits = jnp.asarray(logits)
    expected = (num_prefixes(task), task.vocab_size)
    if logits.ndim < 2 or logits.shape[-2:] != expected:
        raise ValueError(
            f"logits with shape {logits.shape} is invalid: must be [..., {expected[0]}, "
            f"{expected[1]}] for this task"
        )
    a_table = jnp.asarray(a_table, logits.dtype)
    b_table = jnp.asarray(b_table, logits.dtype)
    return _expected_update(a_table, b_table, logits, mode, task, batch_groups)


@functools.partial(jax.jit, static_argnames=("task",))
def _length_rates(logits: Array, update: Array, task: SequenceTask) -> tuple[Array, Array, Array]:
    """(p, E[L|c], E[L|w]) at ``logits`` and their rates along ``update`` and along grad p."""

    def lengths_and_p(x):
        stats = sequence_stats(x, task)
        return jnp.stack([stats.p, stats.mean_length_correct, stats.mean_length_wrong])

    grad_p = jax.grad(lambda x: sequence_stats(x, task).p)(logits)
    values, along_update = jax.jvp(lengths_and_p, (logits,), (update,))
    _, along_grad_p = jax.jvp(lengths_and_p, (logits,), (grad_p,))
    return values, along_update, along_grad_p


class LengthDrift(NamedTuple):
    """Rates of change per unit step at the reference tabular policy (Python floats).

    ``drift_*`` are along the exact expected update u; ``*_grad_p`` along grad p (the paper's
    lens: the length-blind direction). ``drift_p`` = grad p . u, ``drift_p_grad_p`` = |grad p|^2.
    """

    p: float
    mean_length_correct: float
    mean_length_wrong: float
    drift_p: float
    drift_correct: float
    drift_wrong: float
    drift_p_grad_p: float
    drift_correct_grad_p: float
    drift_wrong_grad_p: float


def length_drift(
    scheme: Scheme,
    aggregation: str,
    group_size: int,
    task: SequenceTask,
    p: float,
    *,
    batch_groups: int = 1,
) -> LengthDrift:
    """d E[L | correct] and d E[L | wrong] per unit step along E[g] and along grad p.

    "Per unit step": the derivative in the learning rate of theta + lr u at lr = 0, with u the
    exact expected update (``expected_update``) or grad p, at the reference tabular policy
    ``init_sequence_tabular(task, [p])`` (uniform continuations tilted to success p). float64
    throughout (jax.jvp of the exact p, E[L | correct], E[L | wrong]).
    Returns:
      ``LengthDrift`` of Python floats.
    """
    p = check_float("p", p, 0.0, 1.0, low_open=True, high_open=True)
    with jax.enable_x64(True):
        logits = init_sequence_tabular(task, [p], dtype=jnp.float64)["logits"][0]
        update = expected_update(
            scheme, aggregation, group_size, logits, task, batch_groups=batch_groups
        )

        values, along_update, along_grad_p = _length_rates(logits, update, task)
        v, u, g = (np.asarray(a, np.float64).tolist() for a in (values, along_update, along_grad_p))
    return LengthDrift(v[0], v[1], v[2], u[0], u[1], u[2], g[0], g[1], g[2])
