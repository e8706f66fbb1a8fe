"""Sequence tasks: responses are token strings ending at a stop token, checked by a verifier.

Tokens are 0..V-1 and token V-1 is "stop". A response ends at its first stop or after
``max_length`` tokens (truncated); its length L counts every generated token, the stop included,
so 1 <= L <= max_length. ``enumerate_sequences`` lists every response once, ordered by the number
of content tokens and then lexicographically, as ``tokens int32[N, max_length]`` padded with
``PAD = -1`` after the end, ``lengths int32[N]`` and ``correct bool[N]``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from rlxform.validation import InputError, check_int

PAD = -1  # token value after the end of a response in every tokens array
MAX_SEQUENCES = 2**20  # largest response set enumerated in exact mode
VERIFIERS = ("first_token", "parity", "match:<t1>,<t2>,...")

Verifier = str | Callable[[NDArray, int], bool]


def num_sequences(vocab_size: int, max_length: int) -> int:
    """N = sum_{k<max_length} (V-1)^k + (V-1)^max_length (stopped ones plus truncated ones).

    Exact; for V = 2 it is max_length + 1 without a loop. Guard huge tasks with
    ``sequences_at_most`` first: N itself has about max_length log2(V-1) bits.
    """
    b = vocab_size - 1
    if b <= 1:
        return max_length + 1 if b == 1 else 1
    return (b**max_length - 1) // (b - 1) + b**max_length


def sequences_at_most(vocab_size: int, max_length: int, limit: int) -> bool:
    """N <= limit, decided without forming N when it is astronomically large (V = 10^9,
    max_length = 10^6 answers at once): N >= (V-1)^max_length, compared in logarithms first."""
    b = vocab_size - 1
    if b >= 2 and max_length * math.log2(b) > math.log2(max(limit, 1)) + 1:
        return False
    return num_sequences(vocab_size, max_length) <= limit


def _parse_match(verifier: str, vocab_size: int, max_length: int) -> tuple[int, ...]:
    body = verifier[len("match:") :].strip()
    try:
        content = tuple(int(t) for t in body.split(",")) if body else ()
    except ValueError:
        raise InputError(
            f"verifier={verifier!r} is invalid: must be 'match:' then comma-separated integers"
        ) from None
    if any(t < 0 or t > vocab_size - 2 for t in content):
        raise InputError(
            f"verifier={verifier!r} is invalid: match tokens must be in [0, {vocab_size - 2}] "
            f"(token {vocab_size - 1} is stop)"
        )
    if len(content) > max_length - 1:
        raise InputError(
            f"verifier={verifier!r} is invalid: match content of {len(content)} tokens plus stop "
            f"must fit in max_length={max_length}"
        )
    return content


@dataclasses.dataclass(frozen=True)
class SequenceTask:
    """A task over token strings (hashable: usable as static jit config).

    Attributes:
      vocab_size: V >= 2; token V-1 is stop.
      max_length: L_max >= 1; a response without stop is truncated after L_max tokens.
      verifier: ``"first_token"`` (correct iff the first token is 0), ``"parity"`` (correct iff
        the response stopped and holds an odd number of token 0), ``"match:0,1,0"`` (correct iff
        it is exactly that content then stop), or a callable ``fn(tokens, length) -> bool`` with
        ``tokens`` the padded ``int32[max_length]`` row (PAD = -1 after the end); a callable
        is run (and checked: it must return a bool) when the task is enumerated.
    """

    vocab_size: int
    max_length: int
    verifier: Verifier = "first_token"

    def __post_init__(self) -> None:
        check_int("vocab_size", self.vocab_size, 2)
        check_int("max_length", self.max_length, 1)
        v = self.verifier
        if isinstance(v, str):
            if v.startswith("match:"):
                _parse_match(v, self.vocab_size, self.max_length)
            elif v not in ("first_token", "parity"):
                raise InputError(
                    f"verifier={v!r} is invalid: must be one of {', '.join(VERIFIERS)} "
                    "or a callable fn(tokens, length) -> bool"
                )
        elif not callable(v):
            raise InputError(
                f"verifier={v!r} is invalid: must be one of {', '.join(VERIFIERS)} "
                "or a callable fn(tokens, length) -> bool"
            )

    @property
    def stop(self) -> int:
        """The stop token V-1."""
        return self.vocab_size - 1

    @property
    def num_sequences(self) -> int:
        """N, the number of distinct responses."""
        return num_sequences(self.vocab_size, self.max_length)


class Enumeration(NamedTuple):
    """Every response of a task (read-only NumPy arrays).

    Attributes:
      tokens: ``int32[N, max_length]``, PAD = -1 after the end.
      lengths: ``int32[N]``, L in [1, max_length] (stop included).
      correct: ``bool[N]``.
    """

    tokens: NDArray
    lengths: NDArray
    correct: NDArray


def _all_responses(vocab_size: int, max_length: int) -> tuple[NDArray, NDArray]:
    b = vocab_size - 1
    stop = vocab_size - 1
    rows, lengths = [], []
    for k in range(max_length + 1):
        count = b**k
        block = np.full((count, max_length), PAD, np.int32)
        if k > 0:  # content digits in base b, most significant first: lexicographic order
            digits = np.arange(count)[:, None] // (b ** np.arange(k - 1, -1, -1))[None, :] % b
            block[:, :k] = digits
        if k < max_length:
            block[:, k] = stop
        rows.append(block)
        lengths.append(np.full(count, min(k + 1, max_length), np.int32))
    return np.concatenate(rows), np.concatenate(lengths)


def _verify(task: SequenceTask, tokens: NDArray, lengths: NDArray) -> NDArray:
    v = task.verifier
    n = tokens.shape[0]
    rows = np.arange(n)
    stopped = tokens[rows, lengths - 1] == task.stop
    if v == "first_token":
        return tokens[:, 0] == 0
    if v == "parity":
        return stopped & (np.sum(tokens == 0, axis=1) % 2 == 1)
    if isinstance(v, str):  # match:...
        content = np.asarray(_parse_match(v, task.vocab_size, task.max_length), np.int32)
        k = content.shape[0]
        return (lengths == k + 1) & stopped & np.all(tokens[:, :k] == content[None, :], axis=1)
    out = np.empty(n, bool)
    for i in range(n):
        row = tokens[i].copy()
        row.setflags(write=False)
        try:
            value = v(row, int(lengths[i]))
        except Exception as err:
            raise InputError(
                f"verifier={v!r} is invalid: it raised {type(err).__name__}: {err} on "
                f"tokens={tokens[i].tolist()}, length={int(lengths[i])}"
            ) from err
        if not isinstance(value, bool | np.bool_):
            raise InputError(
                f"verifier={v!r} is invalid: it returned {value!r} (type {type(value).__name__}) "
                f"on tokens={tokens[i].tolist()}, length={int(lengths[i])}; must return a bool"
            )
        out[i] = bool(value)
    return out


@functools.lru_cache(maxsize=32)
def _enumerate_cached(task: SequenceTask) -> Enumeration:
    tokens, lengths = _all_responses(task.vocab_size, task.max_length)
    correct = _verify(task, tokens, lengths)
    for arr in (tokens, lengths, correct):
        arr.setflags(write=False)
    return Enumeration(tokens, lengths, correct)


def enumerate_sequences(task: Any) -> Enumeration:
    """Every response of ``task``: tokens ``int32[N, max_length]``, lengths, correct.

    Raises ValueError when N exceeds MAX_SEQUENCES = 2**20 (exact mode only; sampling has no
    such limit). Results are cached per task.
    """
    if not isinstance(task, SequenceTask):
        raise InputError(f"task={task!r} is invalid: must be an rlxform SequenceTask")
    if not sequences_at_most(task.vocab_size, task.max_length, MAX_SEQUENCES):
        b = task.vocab_size - 1
        digits = task.max_length * math.log10(b) if b >= 2 else math.log10(task.max_length + 1)
        count = f"N={task.num_sequences}" if digits < 15 else f"N ~ 10^{digits:,.0f}"
        raise InputError(
            f"task with vocab_size={task.vocab_size}, max_length={task.max_length} is invalid "
            f"for exact enumeration: {count} responses, must be <= MAX_SEQUENCES={MAX_SEQUENCES} "
            "(2**20)"
        )
    return _enumerate_cached(task)
