"""Experiment ``vllm_mask_length`` (issue 24): TRL's vLLM sequence mask as a length filter.

Two blocks of one table (column ``panel``):

* ``keep``: the probability that ``sequence_mask`` keeps an answer of L tokens, and its expected
  weight, under the mismatch model (per-token log-ratio i.i.d. N(mu, sigma^2); TRL 1.16.0's cap 3
  and a few others), ``rlxform.core.filters.vllm_law``.
* ``drift``: the length drift of GRPO (TRL's eps 1e-4, M = 8) on the reference sequence task
  (``first_token``, V = 4, answers of at most 8 tokens, p = 0.3) with the mask on, as the task's
  maximum length stands for longer and longer completions (the per-token sigma scaled by
  sqrt(L_max / 8), ``rlxform.explain.filters``): d E[L | correct] / dp and d E[L | wrong] / dp
  along the exact expected update (``rlxform.core.filter_updates.FilteredRule``), with the
  aggregation's own drift (no mask) alongside.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from rlxform.core import filters as core_filters
from rlxform.core import schemes as schemes_lib
from rlxform.plotting import filters as plots
from rlxform.reproduce.runner import Columns, experiment
from rlxform.results import Progress, Table, report_progress


@dataclasses.dataclass(frozen=True)
class MaskLengthConfig:
    """Keep probabilities on a length grid, drift on the reference task per stood-for length.

    Attributes:
      lengths: completion lengths L (tokens) of the keep-probability curves.
      sigmas, caps: mismatch sd per token and TRL caps (clip_max) compared; mean: mu.
      stands_for: the completion lengths the reference task's maximum length stands for.
      aggregations: the loss aggregations of the drift block (rlxform names).
      vocab_size, max_length, p, group_size: the reference task and the run.
    """

    lengths: tuple[int, ...] = (10, 30, 100, 300, 1000, 3000, 10000)
    sigmas: tuple[float, ...] = (0.02, 0.05, 0.1)
    caps: tuple[float, ...] = (2.0, 3.0, 5.0)
    mean: float = core_filters.MISMATCH_MEAN
    stands_for: tuple[int, ...] = (128, 512, 2048, 8192)
    aggregations: tuple[str, ...] = ("seq-mean-token-sum", "token-mean")
    vocab_size: int = 4
    max_length: int = 8
    p: float = 0.3
    group_size: int = 8


def _grid(low: float, high: float, count: int) -> tuple[int, ...]:
    return tuple(int(x) for x in np.unique(np.round(np.geomspace(low, high, count))))


@experiment(
    "vllm_mask_length",
    plots.fig_vllm_mask_length,
    configs={
        "tiny": MaskLengthConfig(
            lengths=(100, 2000),
            sigmas=(0.05,),
            caps=(3.0,),
            stands_for=(256,),
            aggregations=("seq-mean-token-sum",),
            vocab_size=3,
            max_length=4,
        ),
        "quick": MaskLengthConfig(lengths=_grid(10, 10000, 40)),
        "full": MaskLengthConfig(
            lengths=_grid(10, 30000, 80),
            sigmas=(0.01, 0.02, 0.05, 0.1),
            stands_for=(64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384),
            aggregations=("seq-mean-token-sum", "seq-mean-token-mean", "token-mean"),
        ),
    },
    description="vLLM sequence mask: keep probability vs completion length; GRPO's length drift",
)
def run_vllm_mask_length(config: MaskLengthConfig, progress: Progress = None) -> Table:
    from rlxform.core.filter_updates import FilteredRule, Filters
    from rlxform.core.sequence_tasks import SequenceTask

    cols = Columns()
    nan = np.nan
    lengths = np.asarray(config.lengths)
    for sigma in config.sigmas:
        for cap in config.caps:
            law = core_filters.vllm_law("sequence_mask", lengths, cap, None, config.mean, sigma)
            cols.add(
                panel="keep",
                aggregation="",
                sigma=sigma,
                cap=cap,
                length=lengths,
                keep_probability=law.keep_probability,
                expected_weight=law.expected_weight,
                correct_per_p=nan,
                wrong_per_p=nan,
                correct_per_p_no_mask=nan,
                wrong_per_p_no_mask=nan,
            )
    task = SequenceTask(config.vocab_size, config.max_length, "first_token")
    scheme = schemes_lib.grpo(std="sample", eps=1e-4)  # TRL's scale_rewards="group"
    total = len(config.aggregations) * len(config.sigmas) * len(config.stands_for)
    done = 0
    cap = core_filters.TRL_VLLM_CAP
    for mode in config.aggregations:
        plain = FilteredRule(scheme, mode, config.group_size).length_drift(task, config.p)
        for sigma in config.sigmas:
            for length in config.stands_for:
                scale = length / config.max_length
                filters = Filters(
                    vllm_mode="sequence_mask",
                    vllm_cap=cap,
                    mismatch_mean=config.mean * scale,
                    mismatch_sd=sigma * math.sqrt(scale),
                )
                rule = FilteredRule(scheme, mode, config.group_size, filters)
                d = rule.length_drift(task, config.p)
                cols.add(
                    panel="drift",
                    aggregation=mode,
                    sigma=sigma,
                    cap=cap,
                    length=length,
                    keep_probability=core_filters.vllm_law(
                        "sequence_mask", [length], cap, None, config.mean, sigma
                    ).keep_probability[0],
                    expected_weight=nan,
                    correct_per_p=d.correct_per_p,
                    wrong_per_p=d.wrong_per_p,
                    correct_per_p_no_mask=plain.correct_per_p,
                    wrong_per_p_no_mask=plain.wrong_per_p,
                )
                done += 1
                report_progress(progress, done, total)
    return cols.table()
