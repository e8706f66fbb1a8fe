"""Sequence experiments of issue 13: length drift map, length trajectories, aggregation table.

``length_drift_map``: d E[L | correct] / dp and d E[L | wrong] / dp along the exact expected
update (length change per unit of success gained), next to the same ratios along grad p (the
length-blind direction), against p per aggregation and scheme, on ``first_token`` and ``parity``
(``rlxform.core.sequences.UpdateRule.length_drift`` at the tilted-uniform tabular policy).
Zero-sum advantages (GRPO, RLOO, MaxRL: p abar + (1-p) bbar = 0) share one direction per p,
so one of them plus REINFORCE (b = 0) covers the catalog's shapes.
``length_trajectories``: GRPO runs of the sequence simulator vs exact ascent under several
aggregations (the Dr. GRPO observation: under 1/L wrong answers lengthen, under a constant
normaliser they do not). ``aggregation_table``: mode -> f -> objective or "not a gradient".
Each ``run_*(config, out_dir, progress, figure)`` writes NAME.csv / .png / .json
(``runner.experiment``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from rlxform.core import schemes as schemes_lib
from rlxform.core.schemes import Scheme
from rlxform.plotting import sequences as plots
from rlxform.reproduce.runner import Columns, experiment
from rlxform.results import Progress, Table, report_progress
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams

_FACTORS = {
    "seq-mean-token-sum": "1",
    "seq-mean-token-mean": "1 / L_i",
    "seq-mean-token-sum-norm": "1 / max_length",
    "token-mean": "G M / (tokens of the G groups)",
}


@dataclasses.dataclass(frozen=True)
class DriftMapConfig:
    """Length drift per unit p on a grid of p (V, max_length: the tasks' shape)."""

    schemes: tuple[Scheme, ...] = (schemes_lib.grpo(), schemes_lib.reinforce())
    aggregations: tuple[str, ...] = (
        "seq-mean-token-sum",
        "seq-mean-token-mean",
        "seq-mean-token-sum-norm",
        "token-mean",
    )
    verifiers: tuple[str, ...] = ("first_token", "parity")
    vocab_size: int = 3
    max_length: int = 5
    group_size: int = 8
    p_grid: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def trajectory_problem(max_length: int = 6) -> Problem:
    """The length-trajectory problem: sequence_tabular, P = 2, init_p = 0.3, V = 3, first_token."""
    return Problem("sequence_tabular", 2, init_p=(0.3,), vocab_size=3, max_length=max_length)


# GRPO (SGD, lr 1) on first_token, M = 8, T = 60; G = 2 groups per token-mean normaliser
_TRAJECTORY_SIM = SimConfig(
    schemes_lib.grpo(),
    trajectory_problem(),
    group_size=8,
    num_steps=60,
    record_every=5,
    batch_groups=2,
)
_TRAJECTORY_LR = HParams(1.0)


@dataclasses.dataclass(frozen=True)
class TrajectoryConfig:
    """GRPO (SGD) on ``first_token`` under several aggregations, S seeds vs exact ascent.

    Attributes:
      sim: the run (a sequence policy); each aggregation replaces its ``aggregation`` (and its
        ``batch_groups`` by 1 except for token-mean).
      aggregations: the loss aggregations compared.
      hparams: the traced values; seeds, seed: S runs from ``jax.random.key(seed)``.
    """

    sim: SimConfig = _TRAJECTORY_SIM
    aggregations: tuple[str, ...] = ("seq-mean-token-mean", "seq-mean-token-sum-norm", "token-mean")
    hparams: HParams = _TRAJECTORY_LR
    seeds: int = 32
    seed: int = 0


def _trajectories(
    max_length: int, steps: int, record_every: int, seeds: int, **kw: Any
) -> TrajectoryConfig:
    sim = dataclasses.replace(
        _TRAJECTORY_SIM,
        problem=trajectory_problem(max_length),
        num_steps=steps,
        record_every=record_every,
    )
    return TrajectoryConfig(sim=sim, seeds=seeds, **kw)


@dataclasses.dataclass(frozen=True)
class AggregationTableConfig:
    """Nothing to set: the table lists every mode and alias."""

    include_aliases: bool = True


def _gradient_answer(mode: str, text: str) -> str:
    """'yes', 'no' or 'only for S-independent tables', read off ``aggregation_objective``."""
    if "not a gradient" not in text:
        return "yes"
    return "no" if mode == "token-mean" else "only for S-independent tables"


@experiment(
    "length_drift_map",
    plots.fig_length_drift_map,
    configs={
        "tiny": DriftMapConfig(schemes=(schemes_lib.grpo(),), max_length=3, p_grid=(0.3, 0.7)),
        "quick": DriftMapConfig(max_length=4, p_grid=(0.1, 0.3, 0.5, 0.7, 0.9)),
        "full": DriftMapConfig(
            max_length=6, p_grid=tuple(np.round(np.linspace(0.05, 0.95, 19), 2).tolist())
        ),
    },
    description="dE[L|correct]/dp and dE[L|wrong]/dp along E[g] vs grad p, per aggregation",
)
def run_length_drift_map(config: DriftMapConfig, progress: Progress = None) -> Table:
    from rlxform.core.sequences import SequenceTask, UpdateRule

    cols = Columns()
    total = len(config.verifiers) * len(config.aggregations) * len(config.schemes)
    done = 0
    for verifier in config.verifiers:
        task = SequenceTask(config.vocab_size, config.max_length, verifier)
        for mode in config.aggregations:
            for scheme in config.schemes:
                rule = UpdateRule(scheme, mode, config.group_size)
                for p in config.p_grid:
                    d = rule.length_drift(task, p)
                    cols.add(
                        verifier=verifier,
                        aggregation=mode,
                        scheme=scheme.name,
                        p=p,
                        mean_length_correct=d.mean_length_correct,
                        mean_length_wrong=d.mean_length_wrong,
                        drift_p=d.drift_p,
                        drift_correct=d.drift_correct,
                        drift_wrong=d.drift_wrong,
                        correct_per_p=d.correct_per_p,
                        wrong_per_p=d.wrong_per_p,
                        correct_per_p_grad_p=d.drift_correct_grad_p / d.drift_p_grad_p,
                        wrong_per_p_grad_p=d.drift_wrong_grad_p / d.drift_p_grad_p,
                    )
                done += 1
                report_progress(progress, done, total)
    return cols.table()


@experiment(
    "length_trajectories",
    plots.fig_length_trajectories,
    configs={
        # tiny: two aggregations, the 1/L one and a constant one (each compiles two programs)
        "tiny": _trajectories(
            3,
            steps=4,
            record_every=2,
            seeds=4,
            aggregations=("seq-mean-token-mean", "seq-mean-token-sum-norm"),
        ),
        "quick": _trajectories(5, steps=40, record_every=5, seeds=32),
        "full": _trajectories(7, steps=200, record_every=10, seeds=256),
    },
    description="GRPO length trajectories, simulated vs exact, under three aggregations",
)
def run_length_trajectories(
    config: TrajectoryConfig, progress: Progress = None
) -> tuple[Table, dict[str, Any]]:
    from rlxform.sim import sweeps

    grid = sweeps.broadcast(config.hparams)
    keys = jax.random.split(jax.random.key(config.seed), config.seeds)
    cols: dict[str, list] = {}
    summary = {}
    for i, mode in enumerate(config.aggregations):
        groups = config.sim.batch_groups if mode == "token-mean" else 1
        cfg = dataclasses.replace(config.sim, aggregation=mode, batch_groups=groups)
        metrics = jax.device_get(sweeps.make_sweep(cfg)(grid, keys))
        exact = jax.device_get(sweeps.make_exact_sweep(cfg)(grid))
        cmp = sweeps.compare(metrics, exact)
        steps = np.asarray(exact.step[0])
        block = {"aggregation": [mode] * steps.size, "step": list(steps)}
        block.update(mean_p=cmp.mean_p[0], mean_p_se=cmp.mean_p_se[0])
        block["exact_mean_p"] = cmp.exact_mean_p[0]
        for name in ("mean_length_correct", "mean_length_wrong"):
            mean, se = sweeps.seed_stats(getattr(metrics, name))
            block[name], block[f"{name}_se"] = mean[0], se[0]
            block[f"exact_{name}"] = np.asarray(getattr(exact, name)[0], np.float64)
        for k, v in block.items():
            cols.setdefault(k, []).extend(list(v))
        summary[mode] = {
            "max_abs_dev_p": float(cmp.max_abs_dev[0]),
            "agreement_3se": float(cmp.agreement[0]),
            "exact_wrong_length_change": float(
                block["exact_mean_length_wrong"][-1] - block["exact_mean_length_wrong"][0]
            ),
        }
        report_progress(progress, i + 1, len(config.aggregations))
    table = {k: np.asarray(v) for k, v in cols.items()}
    return table, {"summary": summary}


@experiment(
    "aggregation_table",
    plots.fig_aggregation_table,
    configs={mode: AggregationTableConfig() for mode in ("tiny", "quick", "full")},
    description="aggregation mode -> f -> objective or 'not a gradient'",
)
def run_aggregation_table(config: AggregationTableConfig, progress: Progress = None) -> Table:
    from rlxform.core.sequences import AGGREGATION_ALIASES, AGGREGATIONS, aggregation_objective

    names = list(AGGREGATIONS) + (list(AGGREGATION_ALIASES) if config.include_aliases else [])
    cols = Columns()
    for name in names:
        mode = AGGREGATION_ALIASES.get(name, name)
        text = aggregation_objective(name)
        cols.add(
            name=name,
            mode=mode,
            factor=_FACTORS[mode],
            gradient=_gradient_answer(mode, text),
            objective=text,
        )
    report_progress(progress, 1, 1)
    return cols.table()
