"""Simulation figure experiments (5, 6): the jitted simulator vs exact ascent, vmapped over seeds.

Every scheme runs on the same bandit problem and the same S run keys (``jax.random.key(seed)``
split once), with equal M x T samples; ``rlxform.exact`` gives the noise-free reference. Each is
``run_figN(config, out_dir, progress) -> results.Result`` writing ``<name>.csv`` / ``.png`` /
``.json``; the registry of names and modes is ``rlxform.experiments``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from rlxform import plotting
from rlxform.results import FigureFormat, Progress, Result, report_progress, save_result
from rlxform.sweep_config import SchemeSpec, scheme_specs
from rlxform.sweep_runner import compiled_sweep


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    """Figures 5-6: every scheme on the same bandit problem, S seeds, vs exact ascent.

    Attributes:
      schemes: schemes compared (on the same keys).
      policies: policy kinds (figure 5 uses tabular and network; figure 6 the first only).
      num_prompts, num_responses, num_correct: P, K, C.
      group_size: M; steps: T; record_every: E. All schemes get the same M x T samples.
      learning_rate, optimizer: SGD makes the seed mean follow exact ascent as lr -> 0.
      seeds, seed: S runs from ``jax.random.key(seed)``.
      init_p: population of initial p; population_seed: its seed (part of the problem).
    """

    schemes: tuple[SchemeSpec, ...] = scheme_specs(
        "reinforce", "rloo", "grpo", "rejection_sampling", ("pass_at_k", {"k": 4})
    )
    policies: tuple[str, ...] = ("tabular", "network")
    num_prompts: int = 16
    num_responses: int = 4
    num_correct: int = 1
    group_size: int = 8
    steps: int = 200
    record_every: int = 5
    learning_rate: float = 0.5
    optimizer: str = "sgd"
    seeds: int = 64
    seed: int = 0
    init_p: Any = "grid"
    population_seed: int = 0


def _simulate(config: SimulationConfig, spec: SchemeSpec, policy: str):
    """(stochastic Metrics [1, S, ...], exact Metrics [1, ...]) for one (scheme, policy)."""
    from rlxform import sweeps
    from rlxform.simulate import Problem, SimConfig

    cfg = SimConfig(
        spec.build(),
        problem=Problem(
            policy=policy,
            num_prompts=config.num_prompts,
            num_responses=config.num_responses,
            num_correct=config.num_correct,
            init_p=config.init_p,
            population_seed=config.population_seed,
        ),
        group_size=config.group_size,
        num_steps=config.steps,
        record_every=config.record_every,
        optimizer=config.optimizer,
    )
    grid = sweeps.grid([config.learning_rate])
    keys = jax.random.split(jax.random.key(config.seed), config.seeds)
    metrics = jax.device_get(compiled_sweep(cfg, "sweep")(grid, keys))
    exact_metrics = jax.device_get(compiled_sweep(cfg, "exact")(grid))
    return cfg, metrics, exact_metrics


def run_fig5(
    config: SimulationConfig,
    out_dir: Path,
    progress: Progress = None,
    figure: FigureFormat | None = None,
) -> Result:
    from rlxform import sweeps

    start = time.perf_counter()
    cols: dict[str, list] = {
        k: []
        for k in (
            "policy",
            "scheme",
            "step",
            "num_seeds",
            "mean_p",
            "mean_p_se",
            "exact_mean_p",
            "diverged_seeds",
        )
    }
    summary = {}
    total = len(config.policies) * len(config.schemes)
    for i, (policy, spec) in enumerate((pol, s) for pol in config.policies for s in config.schemes):
        cfg, metrics, exact_metrics = _simulate(config, spec, policy)
        cmp = sweeps.compare(metrics, exact_metrics)
        steps = np.asarray(exact_metrics.step[0])
        label = cfg.scheme.label
        diverged = int(np.sum(np.asarray(metrics.nonfinite_step) >= 0))
        cols["policy"] += [policy] * steps.size
        cols["scheme"] += [label] * steps.size
        cols["step"] += list(steps)
        cols["num_seeds"] += [config.seeds] * steps.size
        cols["mean_p"] += list(cmp.mean_p[0])
        cols["mean_p_se"] += list(cmp.mean_p_se[0])
        cols["exact_mean_p"] += list(cmp.exact_mean_p[0])
        cols["diverged_seeds"] += [diverged] * steps.size
        summary[f"{policy}/{label}"] = {
            "max_abs_dev": float(cmp.max_abs_dev[0]),
            "max_z": float(cmp.max_z[0]),
            "agreement_3se": float(cmp.agreement[0]),
        }
        report_progress(progress, i + 1, total)
    table = {k: np.asarray(v) for k, v in cols.items()}
    return save_result(
        "fig5_trajectories",
        config,
        table,
        plotting.fig_trajectories(table),
        out_dir,
        start,
        figure,
        agreement=summary,
    )


def run_fig6(
    config: SimulationConfig,
    out_dir: Path,
    progress: Progress = None,
    figure: FigureFormat | None = None,
) -> Result:
    from rlxform import policies, sweeps
    from rlxform.simulate import initial_params

    start = time.perf_counter()
    cols: dict[str, list] = {
        k: []
        for k in (
            "scheme",
            "prompt",
            "initial_p",
            "final_p",
            "final_p_se",
            "exact_final_p",
            "samples_per_prompt",
        )
    }
    policy = config.policies[0]
    for i, spec in enumerate(config.schemes):
        cfg, metrics, exact_metrics = _simulate(config, spec, policy)
        p = np.asarray(metrics.p, np.float64)[0]  # [S, R, P]
        initial = np.asarray(policies.p_correct(initial_params(cfg), cfg.policy_config), np.float64)
        final, final_se = sweeps.seed_stats(p[:, -1, :], axis=0)
        exact_final = np.asarray(exact_metrics.p, np.float64)[0, -1]
        n = config.num_prompts
        cols["scheme"] += [cfg.scheme.label] * n
        cols["prompt"] += list(range(n))
        cols["initial_p"] += list(initial)
        cols["final_p"] += list(final)
        cols["final_p_se"] += list(final_se)
        cols["exact_final_p"] += list(exact_final)
        cols["samples_per_prompt"] += [config.group_size * config.steps] * n
        report_progress(progress, i + 1, len(config.schemes))
    table = {k: np.asarray(v) for k, v in cols.items()}
    return save_result(
        "fig6_difficulty", config, table, plotting.fig_difficulty(table), out_dir, start, figure
    )
