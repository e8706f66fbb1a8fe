"""Exact expected update and length drift of a sequence task under filters (issue 24).

A filter changes what each sampled token contributes. With omega(y) = E[f_1 Z_1 1{kept} | y_1 =
y] (SPEC section 8, the group filter and the shaped rewards inside Z and f) and a per-token
factor k(y, t) independent of the group given y, one step's expected update is

    E[g] = sum_y pi(y) sum_t omega(y) k(y, t) grad log pi(y_t | y_<t)

(``FilteredRule``, the record of scheme, aggregation, M, G and ``Filters``: ``token_weights``
gives omega k, ``expected_update`` the update, ``length_drift`` its rates as
``core.sequences.UpdateRule.length_drift``). The factors: mask_truncated_completions
1{y stopped} (and the normaliser of token-mean counts only stopped answers); vLLM sequence
modes the expected weight of an answer of L(y) tokens, token modes the expected weight of one
token (the mismatch is independent of the answer); top_entropy_quantile
1{H(prefix of y_t) >= tau} with tau the population quantile (``core.filters.entropy_threshold``);
dynamic_filtering_range masks the tables (``core.filters.range_tables``) and, with refill,
divides by P(kept).
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
from rlxform.core.filter_groups import group_weights
from rlxform.core.sequence_tasks import SequenceTask
from rlxform.core.sequences import (
    UpdateRule,
    check_prefix_logits,
    enumerate_sequences,
    prefix_indices,
    prefix_mass,
    response_log_probs,
    score_gradient,
)
from rlxform.validation import InputError, check_float


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


@dataclasses.dataclass(frozen=True)
class FilteredRule(UpdateRule):
    """``core.sequences.UpdateRule`` with filters: the inputs of one exact filtered step.

    Frozen and hashable, validated once. ``FilteredRule(scheme, aggregation, group_size,
    filters, batch_groups=G, advantage=rule)``; ``length_drift`` is ``UpdateRule``'s along this
    rule's ``expected_update``.

    Attributes:
      filters: ``Filters`` (the default: no filter).
      advantage: with overlong shaping and a scheme without a real-reward form, the trainer's
        own advantage rule ``float[C, M] -> float[C, M]`` on groups of M real rewards
        (``rlxform.frameworks.advantages``); None: such schemes are refused by name.
    """

    filters: Filters = Filters()
    _: dataclasses.KW_ONLY
    advantage: Callable[[NDArray], NDArray] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.filters, Filters):
            raise InputError(f"filters={self.filters!r} is invalid: must be rlxform Filters")
        if self.advantage is not None and not callable(self.advantage):
            raise InputError(
                f"advantage={self.advantage!r} is invalid: must be None or a function "
                "float[C, M] -> float[C, M]"
            )

    def token_weights(self, logits: Any, task: SequenceTask) -> NDArray:
        """omega(y) k(y, t) of every token: ``float64[..., N, max_length]`` (0 after the end).

        Args:
          logits: ``float[..., num_prefixes, V]`` prefix tables; task: the task.
        """
        filters = self.filters
        logits = check_prefix_logits(logits, task)
        enum = enumerate_sequences(task)
        live = prefix_indices(task) >= 0
        binary = filters.overlong_buffer is None
        if binary:
            rewards = enum.correct.astype(np.float64)
        else:
            rewards = filt.shaped_rewards(task, filters.overlong_buffer, filters.overlong_factor)
        keep_own = (
            filt.stopped(task) if filters.mask_truncated else np.ones(enum.lengths.shape, bool)
        )
        flat = logits.reshape(-1, *logits.shape[-2:])
        out = []
        for table in flat:
            probs = np.exp(response_log_probs(table, task))
            omega = group_weights(
                self,
                probs,
                rewards,
                task,
                binary=binary,
                keep_own=keep_own,
                reward_range=filters.reward_range,
                refill=filters.refill,
                advantage=self.advantage,
            )
            if filters.reward_range is not None and filters.refill:
                p = float(np.sum(np.where(enum.correct, probs, 0.0)))
                omega = omega / filt.range_kept_probability(
                    p, self.group_size, *filters.reward_range
                )
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

    def expected_update(self, logits: Any, task: SequenceTask) -> NDArray:
        """Exact E[g] under the filters: ``float64[..., num_prefixes, V]`` like ``logits``."""
        weights = self.token_weights(logits, task)
        logits = np.asarray(logits, np.float64)
        flat = logits.reshape(-1, *logits.shape[-2:])
        flat_weights = weights.reshape(-1, *weights.shape[-2:])
        update = []
        for table, w in zip(flat, flat_weights, strict=True):
            probs = np.exp(response_log_probs(table, task))
            update.append(score_gradient(table, probs[:, None] * w, task))
        return np.stack(update).reshape(logits.shape)


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
