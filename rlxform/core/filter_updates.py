"""Exact expected update and length drift of a sequence task under filters (issue 24).

A filter changes what each sampled token contributes. With omega(y) = E[f_1 Z_1 1{kept} | y_1 =
y] (SPEC section 8, the group filter and the shaped rewards inside Z and f) and a per-token
factor k(y, t) independent of the group given y, one step's expected update is

    E[g] = sum_y pi(y) sum_t omega(y) k(y, t) grad log pi(y_t | y_<t)

(``token_weights`` gives omega k, ``expected_update`` the update, ``length_drift`` its rates as
``core.sequences.length_drift``). The factors: mask_truncated_completions 1{y stopped} (and
the normaliser of token-mean counts only stopped answers); vLLM sequence modes the expected
weight of an answer of L(y) tokens, token modes the expected weight of one token (the mismatch
is independent of the answer); top_entropy_quantile 1{H(prefix of y_t) >= tau} with tau the
population quantile (``core.filters.entropy_threshold``); dynamic_filtering_range masks the
tables (``core.filters.range_tables``) and, with refill, divides by P(kept).
Overlong shaping makes rewards real-valued: omega is then computed exactly by enumerating the
count vectors of answer types among the other M - 1 samples (``core.filter_groups``), with the
scheme's real-reward form or a trainer's own advantage rule (others are refused by name).
NumPy float64, no JAX.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rlxform.core import filters as filt
from rlxform.core.aggregation import (
    check_aggregation,
)
from rlxform.core.filter_groups import group_weights
from rlxform.core.schemes import Scheme
from rlxform.core.sequence_tasks import SequenceTask
from rlxform.core.sequences import (
    LengthDrift,
    check_prefix_logits,
    drift_along,
    drift_reference,
    enumerate_sequences,
    prefix_indices,
    prefix_mass,
    response_log_probs,
    score_gradient,
)
from rlxform.validation import InputError, check_float, check_int


@dataclasses.dataclass(frozen=True)
class Filters:
    """Which filters act, at which settings (hashable; the defaults act as no filter).

    Attributes:
      vllm_mode: None (no vLLM correction) or a mode of ``core.filters.VLLM_MODES``;
        vllm_cap, vllm_cap_min: its bounds (TRL clip_max 3.0, clip_min None).
      mismatch_mean, mismatch_sd: mu and sigma of the per-token log-ratio (defaults 0, 0.05).
      mask_truncated: TRL mask_truncated_completions.
      overlong_buffer, overlong_factor: DAPO overlong shaping (None: off).
      entropy_quantile: TRL top_entropy_quantile rho (None or 1: off).
      reward_range: OpenRLHF dynamic_filtering_range (low, high), or None.
      refill: dropped groups are replaced (OpenRLHF): the update is E[g | kept]; False: a
        dropped group contributes 0 (one group per step).
    """

    vllm_mode: str | None = None
    vllm_cap: float | None = filt.TRL_VLLM_CAP
    vllm_cap_min: float | None = None
    mismatch_mean: float = filt.MISMATCH_MEAN
    mismatch_sd: float = filt.MISMATCH_SD
    mask_truncated: bool = False
    overlong_buffer: float | None = None
    overlong_factor: float = 1.0
    entropy_quantile: float | None = None
    reward_range: tuple[float, float] | None = None
    refill: bool = True

    def __post_init__(self) -> None:
        if self.vllm_mode is not None:
            filt.check_vllm(self.vllm_mode, self.vllm_cap, self.vllm_cap_min)
        filt.check_mismatch(self.mismatch_mean, self.mismatch_sd)
        for name in ("mask_truncated", "refill"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name}={getattr(self, name)!r} is invalid: must be bool")
        if self.overlong_buffer is not None:
            check_float("overlong_buffer", self.overlong_buffer, 0.0, low_open=True)
            check_float("overlong_factor", self.overlong_factor, 0.0)
        if self.entropy_quantile is not None:
            filt.check_quantile(self.entropy_quantile)
        if self.reward_range is not None:
            if not isinstance(self.reward_range, (tuple, list)) or len(self.reward_range) != 2:
                raise InputError(
                    f"reward_range={self.reward_range!r} is invalid: must be (low, high)"
                )
            object.__setattr__(self, "reward_range", filt.check_range(*self.reward_range))

    @property
    def entropy_active(self) -> bool:
        return self.entropy_quantile is not None and self.entropy_quantile < 1.0


def token_weights(
    scheme: Scheme,
    aggregation: str,
    group_size: int,
    logits: Any,
    task: SequenceTask,
    filters: Filters = Filters(),
    *,
    batch_groups: int = 1,
    advantage: Callable[[NDArray], NDArray] | None = None,
) -> NDArray:
    """omega(y) k(y, t) of every token: ``float64[..., N, max_length]`` (0 after the end).

    Args:
      scheme, aggregation, group_size, batch_groups: as ``core.sequences.expected_update``
        (token-mean: the other G - 1 groups drawn from the same prompt's policy).
      logits: ``float[..., num_prefixes, V]`` prefix tables.
      task: the task; filters: ``Filters``.
      advantage: with overlong shaping and a scheme without a real-reward form, the trainer's
        own advantage rule ``float[C, M] -> float[C, M]`` on groups of M real rewards
        (``rlxform.frameworks.advantages``); None: such schemes are refused by name.
    """
    if not isinstance(filters, Filters):
        raise InputError(f"filters={filters!r} is invalid: must be rlxform Filters")
    aggregation = check_aggregation(aggregation)
    batch_groups = check_int("batch_groups", batch_groups, 1)
    logits = check_prefix_logits(logits, task)
    enum = enumerate_sequences(task)
    live = prefix_indices(task) >= 0
    binary = filters.overlong_buffer is None
    if binary:
        rewards = enum.correct.astype(np.float64)
    else:
        rewards = filt.shaped_rewards(task, filters.overlong_buffer, filters.overlong_factor)
    keep_own = filt.stopped(task) if filters.mask_truncated else np.ones(enum.lengths.shape, bool)
    flat = logits.reshape(-1, *logits.shape[-2:])
    out = []
    for table in flat:
        probs = np.exp(response_log_probs(table, task))
        omega = group_weights(
            scheme,
            aggregation,
            group_size,
            probs,
            rewards,
            task,
            binary=binary,
            keep_own=keep_own,
            reward_range=filters.reward_range,
            refill=filters.refill,
            batch_groups=batch_groups,
            advantage=advantage,
        )
        if filters.reward_range is not None and filters.refill:
            p = float(np.sum(np.where(enum.correct, probs, 0.0)))
            omega = omega / filt.range_kept_probability(p, group_size, *filters.reward_range)
        omega = np.where(keep_own, omega, 0.0)
        if filters.vllm_mode in filt.SEQUENCE_MODES:
            omega = omega * _vllm_factor(filters, enum.lengths)
        weights = np.where(live, omega[:, None], 0.0)
        if filters.vllm_mode is not None and filters.vllm_mode not in filt.SEQUENCE_MODES:
            weights = weights * _vllm_factor(filters, np.ones(1))[0]
        if filters.entropy_active:
            weights = weights * entropy_mask(table, task, filters.entropy_quantile, keep_own)
        out.append(weights)
    return np.stack(out).reshape(*logits.shape[:-2], *live.shape)


def _vllm_factor(filters: Filters, lengths: NDArray) -> NDArray:
    return filt.vllm_law(
        filters.vllm_mode,
        lengths,
        filters.vllm_cap,
        filters.vllm_cap_min,
        filters.mismatch_mean,
        filters.mismatch_sd,
    ).expected_weight


def entropy_mask(table: Any, task: SequenceTask, quantile: float, keep_own: Any = None) -> NDArray:
    """``bool[N, max_length]``: token t of y is kept by top_entropy_quantile ``quantile`` (its
    prefix entropy >= the population quantile of the loss tokens' entropies; ``keep_own``:
    answers whose tokens count, e.g. stopped ones under mask_truncated_completions)."""
    table = np.asarray(table, np.float64)
    enum = enumerate_sequences(task)
    keep_own = np.ones(enum.lengths.shape, bool) if keep_own is None else np.asarray(keep_own)
    probs = np.exp(response_log_probs(table, task))
    visits = prefix_mass(task, np.where(keep_own, probs, 0.0)).sum(-1)  # [num_prefixes]
    entropies = np.round(filt.prefix_entropies(table), 12)  # equal up to rounding: one value
    tau, _ = filt.entropy_threshold(entropies, visits, quantile)
    prefixes = prefix_indices(task)
    live = prefixes >= 0
    return live & (entropies[np.where(live, prefixes, 0)] >= tau)


def expected_update(
    scheme: Scheme,
    aggregation: str,
    group_size: int,
    logits: Any,
    task: SequenceTask,
    filters: Filters = Filters(),
    *,
    batch_groups: int = 1,
    advantage: Callable[[NDArray], NDArray] | None = None,
) -> NDArray:
    """Exact E[g] under ``filters``: ``float64[..., num_prefixes, V]`` like ``logits``
    (``advantage``: as ``token_weights``)."""
    weights = token_weights(
        scheme,
        aggregation,
        group_size,
        logits,
        task,
        filters,
        batch_groups=batch_groups,
        advantage=advantage,
    )
    logits = np.asarray(logits, np.float64)
    flat = logits.reshape(-1, *logits.shape[-2:])
    flat_weights = weights.reshape(-1, *weights.shape[-2:])
    update = []
    for table, w in zip(flat, flat_weights, strict=True):
        probs = np.exp(response_log_probs(table, task))
        update.append(score_gradient(table, probs[:, None] * w, task))
    return np.stack(update).reshape(logits.shape)


def length_drift(
    scheme: Scheme,
    aggregation: str,
    group_size: int,
    task: SequenceTask,
    p: float,
    filters: Filters = Filters(),
    *,
    batch_groups: int = 1,
    advantage: Callable[[NDArray], NDArray] | None = None,
) -> LengthDrift:
    """``core.sequences.length_drift`` with ``filters``: rates of (p, E[L | correct],
    E[L | wrong]) per unit step along the filtered expected update and along grad p, at the
    reference tabular policy ``tilted_logits(task, [p])``."""
    logits = drift_reference(task, p)
    update = expected_update(
        scheme,
        aggregation,
        group_size,
        logits,
        task,
        filters,
        batch_groups=batch_groups,
        advantage=advantage,
    )
    return drift_along(logits, update, task)
