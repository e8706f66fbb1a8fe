"""The prefix tree of a sequence task, once: log-probs, length statistics, exact E[g], drift.

Prefixes are the stop-free token strings of length 0..max_length-1, indexed breadth-first as a
complete b-ary tree (b = V-1): the empty prefix is 0 and appending content token t < V-1 to
prefix n gives b n + 1 + t, so level k starts at sum_{i<k} b^i and there are
``num_prefixes = sum_{k<max_length} b^k`` prefixes. A prefix table ``float[..., num_prefixes, V]``
holds next-token logits at every prefix (the tabular policy's params, or a network evaluated on
every prefix); log pi(y) = sum over y's tokens of log softmax(table[prefix])[token], so every
distribution over responses is representable. Responses are those of ``enumerate_sequences``
(``core.sequence_tasks``), in its order. Functions of a table are written once against an array
namespace (``core.xp``: NumPy float64, or jax.numpy inside the simulator); the exact
expected update and the length drift are NumPy float64 and import no JAX (SPEC section 8).
The public face of the sequence core: the task and enumeration (``core.sequence_tasks``) and
the aggregation modes and exact weights (``core.aggregation``) are re-exported here.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from rlxform.core.aggregation import (  # noqa: F401  (the aggregation modes, re-exported)
    AGGREGATION_ALIASES,
    AGGREGATIONS,
    aggregation_factor,
    aggregation_objective,
    check_aggregation,
    sequence_weights,
    sequence_weights_from_tables,
)
from rlxform.core.schemes import Scheme
from rlxform.core.sequence_tasks import (  # noqa: F401  (the task and its enumeration, re-exported)
    MAX_SEQUENCES,
    PAD,
    VERIFIERS,
    Enumeration,
    SequenceTask,
    enumerate_sequences,
    num_sequences,
)
from rlxform.core.xp import log_softmax, namespace, tensordot
from rlxform.validation import InputError, check_float, check_int

ArrayLike = Any  # NumPy arrays or nested sequences (JAX arrays where a namespace is used)


def num_prefixes(task: SequenceTask) -> int:
    """Number of decision points: sum_{k<max_length} (V-1)^k."""
    b = task.vocab_size - 1
    return sum(b**k for k in range(task.max_length))


def check_prefix_logits(logits: ArrayLike, task: SequenceTask) -> NDArray:
    """``logits`` as ``float64[..., num_prefixes, V]`` prefix tables of ``task``, or InputError."""
    logits = np.asarray(logits, np.float64)
    expected = (num_prefixes(task), task.vocab_size)
    if logits.ndim < 2 or logits.shape[-2:] != expected:
        raise InputError(
            f"logits with shape {logits.shape} is invalid: must be [..., {expected[0]}, "
            f"{expected[1]}] for this task"
        )
    return logits


@functools.lru_cache(maxsize=32)
def prefix_indices(task: SequenceTask) -> NDArray:
    """Prefix at which each token of each enumerated response is drawn, ``int32[N, max_length]``
    (PAD = -1 after the response's end), read-only."""
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


@functools.lru_cache(maxsize=32)
def prefix_tokens(task: SequenceTask) -> tuple[NDArray, NDArray]:
    """Content tokens of every prefix, ``int32[num_prefixes, max(max_length-1, 1)]`` (PAD after
    the end), and their lengths ``int32[num_prefixes]``, in prefix order (read-only)."""
    b = task.vocab_size - 1
    rows, lengths = [], []
    for k in range(task.max_length):
        count = b**k
        block = np.full((count, max(task.max_length - 1, 1)), PAD, np.int32)
        if k > 0:
            block[:, :k] = np.arange(count)[:, None] // (b ** np.arange(k - 1, -1, -1))[None, :] % b
        rows.append(block)
        lengths.append(np.full(count, k, np.int32))
    tokens, lengths = np.concatenate(rows), np.concatenate(lengths)
    tokens.setflags(write=False)
    lengths.setflags(write=False)
    return tokens, lengths


# ---- functions of a prefix table (NumPy or jax.numpy) ------------------------------------------


def _path_sums(values: Any, task: SequenceTask) -> Any:
    """sum over each response's tokens of ``values[prefix_t, token_t]``: ``[num_prefixes, V,
    ...] -> [N, ...]``, level by level down the tree (cum[child] = cum[parent] + row[t]; a
    stopped response at prefix n adds row[stop], a truncated one is its full-length cum)."""
    xp = namespace(values)
    b, lead = task.vocab_size - 1, values.shape[2:]
    levels = [xp.zeros((1, *lead), values.dtype)]
    start = 0
    for k in range(task.max_length):  # static unroll over max_length levels
        width = b**k
        rows = values[start : start + width, :b]  # [width, b, ...]
        levels.append((levels[-1][:, None] + rows).reshape(width * b, *lead))
        start += width
    stopped = xp.concatenate(levels[:-1], axis=0) + values[:, task.stop]
    return xp.concatenate([stopped, levels[-1]], axis=0)


UNROLL_MAX_VOCAB = 32  # V column ops up to this V (the sampler's K bound); a reduce beyond


def _response_log_probs(table: Any, task: SequenceTask) -> Any:
    """log pi(y) of every response with the prompt axes last, ``float[N, ...]``.

    The table is moved to ``[num_prefixes, V, ...]`` once, so every level is a contiguous slab
    and the V-way log-softmax is V column ops (XLA CPU reduces a short minor axis several times
    slower); O(num_prefixes V) adds per prompt instead of O(N max_length) gathers.
    """
    xp = namespace(table)
    moved = xp.moveaxis(table, (-2, -1), (0, 1))  # [num_prefixes, V, ...]
    if task.vocab_size > UNROLL_MAX_VOCAB:  # one reduce: V column ops would trace V times
        top = xp.max(moved, axis=1)
        total = xp.sum(xp.exp(moved - top[:, None]), axis=1)
    else:
        columns = [moved[:, v] for v in range(task.vocab_size)]
        top = functools.reduce(xp.maximum, columns)
        total = functools.reduce(xp.add, [xp.exp(c - top) for c in columns])
    log_probs = moved - (top + xp.log(total))[:, None]
    return _path_sums(log_probs, task)


def response_log_probs(table: Any, task: SequenceTask) -> Any:
    """log pi(y) of every response: ``float[..., num_prefixes, V] -> float[..., N]``."""
    xp = namespace(table)
    return xp.moveaxis(_response_log_probs(table, task), 0, -1)


def token_log_probs(table: Any, task: SequenceTask) -> tuple[Any, NDArray]:
    """(log pi(y_t | y_<t) ``float[..., N, max_length]`` with 0 after the end, live tokens
    ``bool[N, max_length]``), by gathering each token's row (the per-token KL needs them)."""
    xp = namespace(table)
    enum = enumerate_sequences(task)
    prefixes = prefix_indices(task)
    live = prefixes >= 0
    log_probs = log_softmax(xp, table)
    per_token = log_probs[..., np.where(live, prefixes, 0), np.where(live, enum.tokens, 0)]
    return xp.where(live, per_token, 0.0), live


def length_stats(table: Any, task: SequenceTask) -> tuple[Any, Any, Any]:
    """(p, E[L | correct], E[L | wrong]) of a prefix table, each ``float[...]``.

    With pi(y) = exp log pi(y) and the static columns w(y) = (r(y), r(y) L(y), (1 - r(y)) L(y)),
    (p, E[r L], E[(1 - r) L]) = w^T pi, one contraction over the N responses (full precision);
    E[L | correct] = E[r L] / p, E[L | wrong] = E[(1 - r) L] / (1 - p).
    """
    xp = namespace(table)
    enum = enumerate_sequences(task)
    lengths = np.asarray(enum.lengths, np.float64)
    columns = np.stack([enum.correct, enum.correct * lengths, ~enum.correct * lengths])
    probs = xp.exp(_response_log_probs(table, task))  # [N, ...]
    p, mass_correct, mass_wrong = tensordot(xp, xp.asarray(columns, dtype=probs.dtype), probs)
    return p, mass_correct / p, mass_wrong / (1.0 - p)


# ---- NumPy float64: the tilted start, scores, the exact expected update, the drift ------------


def prefix_mass(task: SequenceTask, weights: ArrayLike) -> NDArray:
    """mass[n, t] = sum of ``weights`` over the tokens t drawn at prefix n: ``float64[num_prefixes,
    V]`` from per-response ``float[N]`` or per-token ``float[N, max_length]`` weights."""
    enum = enumerate_sequences(task)
    prefixes = prefix_indices(task)
    live = prefixes >= 0
    weights = np.asarray(weights, np.float64)
    per_token = np.broadcast_to(weights[:, None], prefixes.shape) if weights.ndim == 1 else weights
    mass = np.zeros((num_prefixes(task), task.vocab_size), np.float64)
    np.add.at(mass, (prefixes[live], enum.tokens[live]), per_token[live])
    return mass


def score_gradient(table: ArrayLike, weights: ArrayLike, task: SequenceTask) -> NDArray:
    """grad_table sum_{y,t} w(y, t) log pi(y_t | y_<t) = mass - (row sums of mass) softmax(table).

    Args:
      table: ``float[num_prefixes, V]`` one prompt's logits.
      weights: per response ``float[N]`` (the gradient of sum_y w(y) log pi(y)) or per token
        ``float[N, max_length]``.
    Returns:
      ``float64[num_prefixes, V]``.
    """
    mass = prefix_mass(task, weights)
    probs = np.exp(log_softmax(np, np.asarray(table, np.float64)))
    return mass - mass.sum(-1, keepdims=True) * probs


def tilted_logits(task: SequenceTask, init_p: ArrayLike) -> NDArray:
    """Prefix logits with success probability exactly ``init_p``: ``float64[P, num_prefixes, V]``.

    Uniform continuations pi_0(y) = V^-L(y) tilted to success p: pi(y) = pi_0(y) p / p_0 on
    correct responses and pi_0(y) (1-p) / (1-p_0) on wrong ones (the KL-closest policy with
    success p); logits are the log conditional probabilities (each row log-sums to 0).
    """
    init_p = np.atleast_1d(np.asarray(init_p, np.float64))
    if init_p.ndim != 1:
        raise InputError(f"init_p with shape {init_p.shape} is invalid: must be [P]")
    for value in init_p:
        check_float("init_p", value, 0.0, 1.0, low_open=True, high_open=True)
    enum = enumerate_sequences(task)
    base = float(task.vocab_size) ** -enum.lengths.astype(np.float64)
    p0 = float(base[enum.correct].sum())
    if not 0.0 < p0 < 1.0:
        raise InputError(
            f"verifier={task.verifier!r} is invalid for init_p: it marks "
            f"{'every' if p0 > 0 else 'no'} response correct, so p is fixed"
        )
    mass_correct = prefix_mass(task, np.where(enum.correct, base, 0.0)) / p0
    mass_wrong = prefix_mass(task, np.where(enum.correct, 0.0, base)) / (1.0 - p0)
    p = init_p[:, None, None]
    mass = p * mass_correct + (1.0 - p) * mass_wrong
    with np.errstate(divide="ignore"):
        return np.log(mass) - np.log(mass.sum(-1, keepdims=True))


@dataclasses.dataclass(frozen=True)
class UpdateRule:
    """What one exact step of a tabular sequence policy uses: scheme, aggregation, M and G.

    Frozen and hashable, validated once (InputError naming the field; ``aggregation`` is kept in
    its canonical spelling). ``core.filter_updates.FilteredRule`` adds the filters.

    Attributes:
      scheme: an ``rlxform.core.schemes.Scheme``; group_size: M, as the scheme allows.
      aggregation: a loss aggregation of ``core.aggregation`` (aliases accepted).
      batch_groups: G, the groups sharing one token-mean normaliser (the other G - 1 groups
        drawn from the same prompt's policy), as in ``core.aggregation.sequence_weights``.
    """

    scheme: Scheme
    aggregation: str
    group_size: int
    _: dataclasses.KW_ONLY
    batch_groups: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.scheme, Scheme):
            raise InputError(
                f"scheme={self.scheme!r} is invalid: must be an rlxform.core.schemes.Scheme"
            )
        object.__setattr__(self, "group_size", self.scheme.check_group_size(self.group_size))
        object.__setattr__(self, "aggregation", check_aggregation(self.aggregation))
        object.__setattr__(self, "batch_groups", check_int("batch_groups", self.batch_groups, 1))

    def expected_update(self, logits: ArrayLike, task: SequenceTask) -> NDArray:
        """Exact E[g]: grad of sum_y sg(pi(y) omega(y)) log pi(y).

        Args:
          logits: ``float[..., num_prefixes, V]``, each prompt's prefix table; task: the task.
        Returns:
          ``float64[..., num_prefixes, V]``, the expected update direction (before the
          learning rate).
        """
        a_table, b_table = self.scheme.tables(self.group_size)
        logits = check_prefix_logits(logits, task)
        flat = logits.reshape(-1, *logits.shape[-2:])
        probs = np.exp(response_log_probs(flat, task))  # [P, N]
        enum = enumerate_sequences(task)
        omega = sequence_weights_from_tables(
            a_table,
            b_table,
            self.aggregation,
            probs,
            enum.lengths,
            enum.correct,
            max_length=task.max_length,
            batch_groups=self.batch_groups,
        )
        update = [score_gradient(x, w, task) for x, w in zip(flat, probs * omega, strict=True)]
        return np.stack(update).reshape(logits.shape)

    def length_drift(self, task: SequenceTask, p: float) -> LengthDrift:
        """d E[L | correct] and d E[L | wrong] per unit step along E[g] and along grad p.

        "Per unit step": the derivative in the learning rate of theta + lr u at lr = 0, with u
        this rule's ``expected_update`` or grad p, at the reference tabular policy
        ``tilted_logits(task, [p])`` (uniform continuations tilted to success p). NumPy float64
        throughout, closed forms.
        Returns:
          ``LengthDrift`` of Python floats.
        """
        logits = drift_reference(task, p)
        return drift_along(logits, self.expected_update(logits, task), task)


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

    @property
    def correct_per_p(self) -> float:
        """d E[L | correct] per unit of p gained along the expected update."""
        return self.drift_correct / self.drift_p

    @property
    def wrong_per_p(self) -> float:
        """d E[L | wrong] per unit of p gained along the expected update."""
        return self.drift_wrong / self.drift_p


def _rates(logits: NDArray, direction: NDArray, task: SequenceTask) -> list[float]:
    """d/dlr of (p, E[L | correct], E[L | wrong]) at ``logits + lr direction``, lr = 0.

    d log pi(y) = sum_t (d[n_t, y_t] - softmax(logits[n_t]) . d[n_t]) (path sums of the
    centred direction); d pi = pi d log pi; then the quotient rule on E[r L] / p and
    E[(1 - r) L] / (1 - p).
    """
    enum = enumerate_sequences(task)
    cond = np.exp(log_softmax(np, logits))
    centred = direction - np.sum(cond * direction, axis=-1, keepdims=True)
    probs = np.exp(response_log_probs(logits, task))
    d_probs = probs * _path_sums(centred, task)
    lengths = enum.lengths.astype(np.float64)
    p, length_correct, length_wrong = length_stats(logits, task)
    d_p = float(np.sum(np.where(enum.correct, d_probs, 0.0)))
    d_correct = float(np.sum(np.where(enum.correct, lengths * d_probs, 0.0)))
    d_wrong = float(np.sum(np.where(enum.correct, 0.0, lengths * d_probs)))
    return [d_p, (d_correct - length_correct * d_p) / p, (d_wrong + length_wrong * d_p) / (1 - p)]


def drift_reference(task: SequenceTask, p: float) -> NDArray:
    """The reference tabular policy of ``UpdateRule.length_drift``:
    ``tilted_logits(task, [p])[0]`` (p in (0, 1) and the task checked)."""
    p = check_float("p", p, 0.0, 1.0, low_open=True, high_open=True)
    if not isinstance(task, SequenceTask):
        raise InputError(f"task={task!r} is invalid: must be an rlxform SequenceTask")
    return tilted_logits(task, [p])[0]


def drift_along(logits: NDArray, update: NDArray, task: SequenceTask) -> LengthDrift:
    """``LengthDrift`` at ``logits`` along the expected update ``update`` and along grad p."""
    enum = enumerate_sequences(task)
    probs = np.exp(response_log_probs(logits, task))
    grad_p = score_gradient(logits, np.where(enum.correct, probs, 0.0), task)
    values = [float(v) for v in length_stats(logits, task)]
    u, g = _rates(logits, update, task), _rates(logits, grad_p, task)
    return LengthDrift(*values, *u, *g)
