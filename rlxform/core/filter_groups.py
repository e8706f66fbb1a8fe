"""Exact omega(y) of one group under shaped rewards, truncation and a reward range (issue 24).

omega(y) = E[f_1 Z_1 1{kept} | y_1 = y] (SPEC section 8) for one prompt's response law, when
the rewards are real (0/1 plus DAPO's overlong penalty), token-mean's normaliser counts only
stopped answers (mask_truncated_completions), or a group is kept only when low < S/M < high
(OpenRLHF's dynamic_filtering_range). The other M - 1 samples are summarised by the count
vector of their answer types (reward value, correctness), enumerated with its multinomial law;
Z comes from the scheme's tables (0/1 rewards), its real-reward form, or a trainer's own
advantage rule on the M rewards; token-mean adds the law of the others' normaliser length
given the counts (generating functions by FFT, like ``core.aggregation``). With 0/1 rewards
and neither of the two normaliser changes, ``core.aggregation``'s transforms are used (the
tables masked by the range). NumPy float64.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from rlxform.core import filters as filt
from rlxform.core.aggregation import sequence_weights_from_tables, token_mean_grid
from rlxform.core.sequence_tasks import SequenceTask, enumerate_sequences
from rlxform.core.sequences import UpdateRule
from rlxform.validation import InputError

MAX_COUNT_VECTORS = 200_000  # count vectors of answer types among M - 1 samples (overlong)


def compositions(parts: int, total: int) -> NDArray:
    """Every count vector of ``total`` items over ``parts`` types, ``int64[C, parts]``."""
    number = math.comb(total + parts - 1, parts - 1)
    if number > MAX_COUNT_VECTORS:
        raise InputError(
            f"{parts} answer types among {total} other samples is invalid for exact "
            f"enumeration: {number} count vectors, must be <= {MAX_COUNT_VECTORS} (a smaller "
            "group, fewer lengths inside the overlong buffer)"
        )
    combos = np.fromiter(
        itertools.chain.from_iterable(itertools.combinations_with_replacement(range(parts), total)),
        np.int64,
        count=number * total,
    ).reshape(number, total)
    out = np.zeros((number, parts), np.int64)
    np.add.at(out, (np.arange(number)[:, None], combos), 1)
    return out


def log_multinomial(counts: NDArray) -> NDArray:
    total = counts.sum(-1)
    lgamma = np.vectorize(math.lgamma, otypes=[float])
    return lgamma(total + 1.0) - lgamma(counts + 1.0).sum(-1)


def type_weights(scheme, tables, counts, values, correct, binary, keep_range, advantage):
    """Z of a sample of each own type k when the others hold ``counts``: ``float64[C, K]``
    (0 where the group is dropped by the range filter). Real rewards go through the scheme's
    real-reward form, else through ``advantage`` (a trainer's own rule on groups of M rewards,
    ``float[C, M] -> float[C, M]``), else the scheme is refused by name."""
    num, parts = counts.shape
    m = int(counts[0].sum()) + 1
    if not binary and advantage is None:
        scheme.check_real_reward("with overlong shaping (the shaped rewards are real-valued)")
    out = np.empty((num, parts))
    for k in range(parts):
        group = counts.copy()
        group[:, k] += 1
        num_correct = group @ correct.astype(np.int64)
        if binary:
            z = np.where(correct[k], tables[0][num_correct], tables[1][num_correct])
        elif scheme.has_real_reward:
            rewards = np.broadcast_to(values, group.shape)
            z = np.asarray(scheme.real_reward_weights(rewards, group.astype(np.float64), m))
            z = z[:, k]
        else:  # every group as M rewards in type order; the own sample is type k's first
            rows = np.repeat(np.tile(values, num), group.reshape(-1)).reshape(num, m)
            z = np.take_along_axis(
                np.asarray(advantage(rows), np.float64), group[:, :k].sum(-1, keepdims=True), 1
            )[:, 0]
        out[:, k] = np.where(keep_range(num_correct, m), z, 0.0)
    return out


def group_weights(
    rule: UpdateRule,
    probs: NDArray,
    rewards: NDArray,
    task: SequenceTask,
    *,
    binary: bool,
    keep_own: NDArray,
    reward_range: tuple[float, float] | None = None,
    refill: bool = True,
    advantage: Callable[[NDArray], NDArray] | None = None,
) -> NDArray:
    """omega(y) = E[f_1 Z_1 1{kept} | y_1 = y] of one prompt, ``float64[N]`` (module docstring).

    Args:
      rule: the scheme, aggregation, M and G (``core.sequences.UpdateRule``); probs:
        ``float[N]`` pi(y).
      rewards: ``float[N]`` r(y); binary: they are 0/1 (the tables apply).
      task: the task; keep_own: ``bool[N]`` answers that count (stopped ones under
        mask_truncated_completions: the others leave token-mean's normaliser).
      reward_range: (low, high) of the kept groups, or None; refill: the other groups of a
        token-mean normaliser are kept ones (G > 1 with a range needs it).
      advantage: a trainer's rule on groups of M real rewards (``float[C, M] -> float[C, M]``)
        for schemes without a real-reward form.
    """
    scheme, aggregation, group_size = rule.scheme, rule.aggregation, rule.group_size
    batch_groups = rule.batch_groups
    enum = enumerate_sequences(task)
    lengths, correct, max_length = enum.lengths, enum.correct, task.max_length
    a_table, b_table = scheme.tables(group_size)
    low_high = reward_range
    token_mean = aggregation == "token-mean"
    masked_normaliser = token_mean and not np.all(keep_own)
    grouped_range = token_mean and low_high is not None and batch_groups > 1
    if binary and not masked_normaliser and not grouped_range:
        if low_high is not None:
            a_table, b_table = filt.range_tables(a_table, b_table, *low_high)
        return sequence_weights_from_tables(
            a_table,
            b_table,
            aggregation,
            probs,
            lengths,
            correct,
            max_length=max_length,
            batch_groups=batch_groups,
        )
    if low_high is None:
        keep_range = lambda s, m: np.ones(np.shape(s), bool)
    else:
        keep_range = lambda s, m: filt.range_keep(s, m, *low_high)
    pairs = np.stack([rewards, correct.astype(np.float64)], axis=1)
    types, index = np.unique(pairs, axis=0, return_inverse=True)
    index = index.reshape(-1)
    values, type_correct = types[:, 0], types[:, 1] > 0.5
    parts = types.shape[0]
    q = np.bincount(index, weights=probs, minlength=parts)
    counts = compositions(parts, group_size - 1)
    log_coef = log_multinomial(counts)
    z = type_weights(
        scheme, (a_table, b_table), counts, values, type_correct, binary, keep_range, advantage
    )
    if not token_mean:
        with np.errstate(divide="ignore"):
            log_q = np.where(q > 0, np.log(np.where(q > 0, q, 1.0)), -np.inf)
        terms = np.where(counts > 0, counts * log_q, 0.0).sum(-1)
        prob = np.exp(log_coef + terms)  # [C]
        per_type = prob @ z  # [K]
        factor = {
            "seq-mean-token-sum": np.ones(lengths.shape),
            "seq-mean-token-mean": 1.0 / lengths,
            "seq-mean-token-sum-norm": np.full(lengths.shape, 1.0 / max_length),
        }[aggregation]
        return factor * per_type[index]
    # token-mean: omega(y) = G M sum_c z[c, k(y)] sum_t P(c, T' = t) h(L(y) + t), with
    # h(s) = E[1 / (s + T'')] over the other G - 1 groups' normaliser length T''
    norm_lengths = np.where(keep_own, lengths, 0)
    laws = np.zeros((parts, max_length + 1))
    np.add.at(laws, (index, norm_lengths), probs)
    small = token_mean_grid(group_size, max_length, 1)  # T' <= (M - 1) max_length
    spectra = np.fft.rfft(laws, n=small)  # [K, F]
    spectrum = np.exp(log_coef)[:, None] * np.prod(
        spectra[None, :, :] ** counts[:, :, None], axis=1
    )  # [C, F]
    law = np.fft.irfft(spectrum, n=small)  # [C, small]: P(c, T' = t)
    shift = np.arange(small)[:, None] + np.arange(1, max_length + 1)[None, :]  # t + l
    h = _inverse_mean(laws, type_correct, group_size, max_length, batch_groups, low_high, refill)
    expected = law @ h[shift]  # [C, L]: E[1{c} / (l + T' + T'')] for own length l
    table = batch_groups * group_size * np.einsum("ck,cl->kl", z, expected)  # [K, L]
    return table[index, lengths - 1]


def _inverse_mean(laws, type_correct, group_size, max_length, groups, low_high, refill):
    """h[s] = E[1 / (s + T'')], s = 0..M max_length (h[0] unused), T'' the normaliser length
    of the other G - 1 groups (one FFT of their total length's law)."""
    s = np.arange(group_size * max_length + 1, dtype=np.float64)
    if groups == 1:
        with np.errstate(divide="ignore"):
            return 1.0 / s
    size = (groups - 1) * group_size * max_length + 1
    spectra = np.fft.rfft(laws, n=size)
    others = other_groups(spectra, type_correct, group_size, low_high, refill) ** (groups - 1)
    law = np.fft.irfft(others, n=size)  # [size]: P(T'' = t)
    with np.errstate(divide="ignore"):
        return (1.0 / (s[:, None] + np.arange(size)[None, :])) @ law


def other_groups(spectra, type_correct, group_size, low_high, refill):
    """Spectrum of one other group's normaliser length (kept groups only, given kept, when the
    range filter refills): sum over S kept of C(M, S) C(z)^S W(z)^(M-S) / P(kept)."""
    correct = spectra[type_correct].sum(0)
    wrong = spectra[~type_correct].sum(0)
    if low_high is None:
        return (correct + wrong) ** group_size
    if not refill:
        raise InputError(
            "refill=False is invalid with token-mean over batch_groups > 1 and a reward range: "
            "dropped groups change the other groups' share of the normaliser (no exact form "
            "derived); use refill=True or batch_groups=1"
        )
    s = np.arange(group_size + 1)
    keep = filt.range_keep(s, group_size, *low_high)
    binom = np.array([math.comb(group_size, int(k)) for k in s], np.float64)
    terms = binom[:, None] * correct[None] ** s[:, None] * wrong[None] ** (group_size - s)[:, None]
    kept = (terms * keep[:, None]).sum(0)
    return kept / kept[0].real  # the zero frequency is P(kept)
