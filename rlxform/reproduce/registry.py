"""The experiment registry: names -> run function and ``tiny`` / ``quick`` / ``full`` configs.

Each experiment is ``run(config, out_dir, progress, figure) -> results.Result`` and writes a
tidy table ``<name>.csv``, ``<name>.png`` (via ``rlxform.plotting``) and ``<name>.json``
(config, versions, git revision, device, wall time) into ``out_dir``. Runners: analytic figures
(1-4, 7) in ``reproduce.analytic``, simulations (5-6) in ``reproduce.simulation``, sequences in
``reproduce.sequences``, KL / PPO in ``reproduce.penalties``, the learning-rate x group-size
sweep in ``rlxform.sim.sweep_runner``. The configs live here only: ``script_main``, the entry of
``experiments/*.py``, runs the registry's ``quick`` config unless ``--mode`` says otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rlxform.reproduce.analytic import (
    GrpoConfig,
    NoiseConfig,
    RejectionConfig,
    TransformsConfig,
    WeightsConfig,
    run_fig1,
    run_fig2,
    run_fig3,
    run_fig4,
    run_fig7,
)
from rlxform.reproduce.kl_trajectories import CONFIGS as KL_TRAJECTORY_CONFIGS
from rlxform.reproduce.kl_trajectories import run_kl_trajectories
from rlxform.reproduce.penalties import CONFIGS as PENALTY_CONFIGS
from rlxform.reproduce.penalties import (
    run_batch_std,
    run_kl_equilibrium,
    run_kl_estimators,
    run_ppo_effective_weight,
)
from rlxform.reproduce.sequences import (
    AggregationTableConfig,
    DriftMapConfig,
    TrajectoryConfig,
    run_aggregation_table,
    run_length_drift_map,
    run_length_trajectories,
    trajectory_problem,
)
from rlxform.reproduce.simulation import SimulationConfig, run_fig5, run_fig6
from rlxform.results import FigureFormat, Progress, Result, check_figure_format
from rlxform.sim.sweep_config import SweepConfig, scheme_specs, sweep_problem
from rlxform.sim.sweep_runner import run_sweep_lr_groupsize
from rlxform.validation import InputError, did_you_mean

# ---- registry ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A named experiment: its run function, configs per mode and a one-line description."""

    name: str
    run: Callable[[Any, Path, Progress], Result]
    configs: Mapping[str, Any]
    description: str


_SIM_TINY = SimulationConfig(
    schemes=scheme_specs("grpo"),
    policies=("tabular", "network"),
    problem=sweep_problem(num_prompts=4),
    group_size=4,
    steps=20,
    record_every=5,
    seeds=4,
)


_SWEEP_FULL = SweepConfig(
    learning_rate=(0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
    group_size=(2, 4, 8, 16, 32, 64),
    schemes=scheme_specs(
        "reinforce", "rloo", "grpo", "rejection_sampling", ("pass_at_k", {"k": 2})
    ),
    seeds=32,
    steps=400,
    records=40,
)

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "fig1_transforms",
            run_fig1,
            {
                "tiny": TransformsConfig(num_grid=21),
                "quick": TransformsConfig(),
                "full": TransformsConfig(num_grid=1001),
            },
            "p, (2/pi) arcsin sqrt p and 1 + log p through (1, 1)",
        ),
        Experiment(
            "fig2_rejection_sampling",
            run_fig2,
            {
                "tiny": RejectionConfig(num_grid=40),
                "quick": RejectionConfig(),
                "full": RejectionConfig(num_grid=2000, p_min=1e-4),
            },
            "finite-M rejection-sampling objective vs log p",
        ),
        Experiment(
            "fig3_grpo",
            run_fig3,
            {
                "tiny": GrpoConfig(group_sizes=(2, 8, 64), eps=(0.0, 0.1), num_grid=41),
                "quick": GrpoConfig(),
                "full": GrpoConfig(num_grid=1001),
            },
            "normalised GRPO objective vs the arcsine, by M, eps and std",
        ),
        Experiment(
            "fig4_weights",
            run_fig4,
            {
                "tiny": WeightsConfig(num_grid=21),
                "quick": WeightsConfig(),
                "full": WeightsConfig(num_grid=1001),
            },
            "w_8(p) of the whole catalog next to the large-M limits",
        ),
        Experiment(
            "fig5_trajectories",
            run_fig5,
            {
                "tiny": _SIM_TINY,
                "quick": SimulationConfig(steps=150, seeds=32),
                "full": SimulationConfig(steps=400, record_every=5, seeds=256),
            },
            "seed-mean trajectories (SE band) vs exact ascent, tabular and network",
        ),
        Experiment(
            "fig6_difficulty",
            run_fig6,
            {
                "tiny": dataclasses.replace(
                    _SIM_TINY,
                    policies=("tabular",),
                    problem=sweep_problem(num_prompts=6),
                    schemes=scheme_specs("reinforce", "rejection_sampling"),
                ),
                "quick": SimulationConfig(
                    policies=("tabular",),
                    problem=sweep_problem(num_prompts=24),
                    steps=100,
                    seeds=32,
                    learning_rate=0.3,
                    schemes=scheme_specs(
                        "reinforce", "grpo", "rejection_sampling", ("pass_at_k", {"k": 4})
                    ),
                ),
                "full": SimulationConfig(
                    policies=("tabular",),
                    problem=sweep_problem(num_prompts=48),
                    steps=100,
                    seeds=256,
                    learning_rate=0.3,
                    schemes=scheme_specs(
                        "reinforce", "grpo", "rejection_sampling", "maxrl", ("pass_at_k", {"k": 4})
                    ),
                ),
            },
            "final p vs initial p per prompt at an equal sample budget",
        ),
        Experiment(
            "fig7_noise",
            run_fig7,
            {
                "tiny": NoiseConfig(group_sizes=(4, 16), num_grid=19),
                "quick": NoiseConfig(),
                "full": NoiseConfig(group_sizes=(4, 8, 16, 64, 256, 1024), num_grid=999),
            },
            "exact SNR of the scalar-logit update vs p per scheme and M",
        ),
        Experiment(
            "sweep_lr_groupsize",
            run_sweep_lr_groupsize,
            {
                "tiny": SweepConfig(
                    learning_rate=(0.3, 3.0),
                    group_size=(2, 4),
                    seeds=2,
                    schemes=scheme_specs("grpo"),
                    steps=10,
                    records=5,
                    problem=sweep_problem(num_prompts=4),
                ),
                "quick": SweepConfig(
                    learning_rate=(0.1, 0.3, 1.0, 3.0, 10.0),
                    group_size=(2, 4, 8, 16, 32),
                    schemes=scheme_specs("reinforce", "grpo", "rejection_sampling"),
                    seeds=8,
                    steps=200,
                    records=20,
                ),
                "full": _SWEEP_FULL,
            },
            "steps to mean p >= 0.9 and final objective over lr x M x scheme x seeds",
        ),
        Experiment(
            "kl_equilibrium",
            run_kl_equilibrium,
            PENALTY_CONFIGS["kl_equilibrium"],
            "KL equilibrium p* against beta per scheme and M (the group size sets it)",
        ),
        Experiment(
            "kl_trajectories",
            run_kl_trajectories,
            KL_TRAJECTORY_CONFIGS,
            "mean p vs step with KL: simulated (seed mean) vs exact, p* of kl_equilibrium",
        ),
        Experiment(
            "kl_estimators",
            run_kl_estimators,
            PENALTY_CONFIGS["kl_estimators"],
            "exact expected gradient of k1/k2/k3 as loss or reward vs grad KL(pi || pi_ref)",
        ),
        Experiment(
            "ppo_effective_weight",
            run_ppo_effective_weight,
            PENALTY_CONFIGS["ppo_effective_weight"],
            "effective weight of a PPO rollout iteration vs w_M, over epochs x clip ranges",
        ),
        Experiment(
            "batch_std",
            run_batch_std,
            PENALTY_CONFIGS["batch_std"],
            "batch-level std (TRL scale_rewards=batch): finite batch vs its large-batch limit",
        ),
        Experiment(
            "length_drift_map",
            run_length_drift_map,
            {
                "tiny": DriftMapConfig(
                    schemes=scheme_specs("grpo"), max_length=3, p_grid=(0.3, 0.7)
                ),
                "quick": DriftMapConfig(max_length=4, p_grid=(0.1, 0.3, 0.5, 0.7, 0.9)),
                "full": DriftMapConfig(
                    max_length=6, p_grid=tuple(np.round(np.linspace(0.05, 0.95, 19), 2))
                ),
            },
            "dE[L|correct]/dp and dE[L|wrong]/dp along E[g] vs grad p, per aggregation",
        ),
        Experiment(
            "length_trajectories",
            run_length_trajectories,
            {
                "tiny": TrajectoryConfig(
                    problem=trajectory_problem(3), steps=4, record_every=2, seeds=4
                ),
                "quick": TrajectoryConfig(
                    problem=trajectory_problem(5), steps=40, record_every=5, seeds=32
                ),
                "full": TrajectoryConfig(
                    problem=trajectory_problem(7), steps=200, record_every=10, seeds=256
                ),
            },
            "GRPO length trajectories, simulated vs exact, under three aggregations",
        ),
        Experiment(
            "aggregation_table",
            run_aggregation_table,
            {mode: AggregationTableConfig() for mode in ("tiny", "quick", "full")},
            "aggregation mode -> f -> objective or 'not a gradient'",
        ),
    )
}

MODES = ("tiny", "quick", "full")


def run_experiment(
    name: str,
    mode: str,
    out_dir: Path,
    progress: Progress = None,
    figure: FigureFormat | None = None,
) -> Result:
    """Run ``EXPERIMENTS[name]`` with its ``mode`` config into ``out_dir`` (figure format/dpi)."""
    if name not in EXPERIMENTS:
        raise InputError(
            f"experiment={name!r} is invalid: must be one of {', '.join(EXPERIMENTS)}"
            + did_you_mean(name, EXPERIMENTS)
        )
    if mode not in MODES:
        raise InputError(f"mode={mode!r} is invalid: must be one of {', '.join(MODES)}")
    exp = EXPERIMENTS[name]
    return exp.run(exp.configs[mode], Path(out_dir), progress, figure)


def script_main(name: str, argv: list[str] | None = None) -> int:
    """Entry point of the one-line ``experiments/*.py`` scripts: run a registry config.

    ``python experiments/<name>.py [--mode tiny|quick|full] [--out DIR] [--format F] [--dpi N]``;
    the default mode is ``quick`` (the config the figure in the README was made with).
    """
    import argparse

    parser = argparse.ArgumentParser(prog=name, description=EXPERIMENTS[name].description)
    parser.add_argument("--mode", choices=MODES, default="quick", help="registry config to run")
    parser.add_argument("--out", default=f"results/{name}", help="output directory")
    parser.add_argument("--format", default="png", help="figure format: png, pdf or svg")
    parser.add_argument("--dpi", type=int, default=120, help="figure resolution (dots per inch)")
    args = parser.parse_args(argv)
    figure = check_figure_format(args.format, args.dpi, names=("--format", "--dpi"))
    result = run_experiment(name, args.mode, Path(args.out), None, figure)
    print(f"{name}: {result.wall_time_s:.1f}s -> " + ", ".join(map(str, result.paths.values())))
    return 0
