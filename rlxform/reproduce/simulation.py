"""Simulation figure experiments (5, 6): the jitted simulator vs exact ascent, vmapped over seeds.

Every scheme runs on the same bandit problem and the same S run keys (``jax.random.key(seed)``
split once), with equal M x T samples; ``sim.reference`` gives the noise-free reference. Each is
``run_figN(config, out_dir, progress, figure) -> results.Result`` (``runner.experiment``) writing
``<name>.csv`` / ``.png`` / ``.json``; the registry of names and modes is
``rlxform.reproduce.registry``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from rlxform import plotting
from rlxform.reproduce.runner import Columns, experiment
from rlxform.results import Progress, Table, report_progress
from rlxform.sim.config import Problem
from rlxform.sim.sweep_config import SchemeSpec, scheme_specs, sweep_problem
from rlxform.sim.sweep_runner import compiled_sweep


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    """Figures 5-6: every scheme on the same bandit problem, S seeds, vs exact ascent.

    Attributes:
      schemes: schemes compared (on the same keys).
      problem: what is learned (``sim.config.Problem``: P, K, C, init_p, population_seed),
        nested as is; its policy is replaced by each entry of ``policies``.
      policies: policy kinds (figure 5 uses tabular and network; figure 6 the first only).
      group_size: M; steps: T; record_every: E. All schemes get the same M x T samples.
      learning_rate, optimizer: SGD makes the seed mean follow exact ascent as lr -> 0.
      seeds, seed: S runs from ``jax.random.key(seed)``.
    """

    schemes: tuple[SchemeSpec, ...] = scheme_specs(
        "reinforce", "rloo", "grpo", "rejection_sampling", ("pass_at_k", {"k": 4})
    )
    problem: Problem = dataclasses.field(default_factory=sweep_problem)  # tabular, P 16, K 4
    policies: tuple[str, ...] = ("tabular", "network")
    group_size: int = 8
    steps: int = 200
    record_every: int = 5
    learning_rate: float = 0.5
    optimizer: str = "sgd"
    seeds: int = 64
    seed: int = 0


def _simulate(config: SimulationConfig, spec: SchemeSpec, policy: str):
    """(stochastic Metrics [1, S, ...], exact Metrics [1, ...]) for one (scheme, policy)."""
    from rlxform.sim import sweeps
    from rlxform.sim.config import SimConfig

    cfg = SimConfig(
        spec.build(),
        problem=dataclasses.replace(config.problem, policy=policy),
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


@experiment("fig5_trajectories", plotting.fig_trajectories)
def run_fig5(config: SimulationConfig, progress: Progress = None) -> tuple[Table, dict[str, Any]]:
    from rlxform.sim import sweeps

    cols = Columns()
    summary = {}
    total = len(config.policies) * len(config.schemes)
    for i, (policy, spec) in enumerate((pol, s) for pol in config.policies for s in config.schemes):
        cfg, metrics, exact_metrics = _simulate(config, spec, policy)
        cmp = sweeps.compare(metrics, exact_metrics)
        label = cfg.scheme.label
        cols.add(
            policy=policy,
            scheme=label,
            step=np.asarray(exact_metrics.step[0]),
            num_seeds=config.seeds,
            mean_p=cmp.mean_p[0],
            mean_p_se=cmp.mean_p_se[0],
            exact_mean_p=cmp.exact_mean_p[0],
            diverged_seeds=int(np.sum(np.asarray(metrics.nonfinite_step) >= 0)),
        )
        summary[f"{policy}/{label}"] = {
            "max_abs_dev": float(cmp.max_abs_dev[0]),
            "max_z": float(cmp.max_z[0]),
            "agreement_3se": float(cmp.agreement[0]),
        }
        report_progress(progress, i + 1, total)
    return cols.table(), {"agreement": summary}


@experiment("fig6_difficulty", plotting.fig_difficulty)
def run_fig6(config: SimulationConfig, progress: Progress = None) -> Table:
    from rlxform.sim import sweeps
    from rlxform.sim.simulate import initial_params, policy_of

    cols = Columns()
    policy = config.policies[0]
    for i, spec in enumerate(config.schemes):
        cfg, metrics, exact_metrics = _simulate(config, spec, policy)
        p = np.asarray(metrics.p, np.float64)[0]  # [S, R, P]
        initial = np.asarray(policy_of(cfg).p_correct(initial_params(cfg)), np.float64)
        final, final_se = sweeps.seed_stats(p[:, -1, :], axis=0)
        cols.add(
            scheme=cfg.scheme.label,
            prompt=np.arange(config.problem.num_prompts),
            initial_p=initial,
            final_p=final,
            final_p_se=final_se,
            exact_final_p=np.asarray(exact_metrics.p, np.float64)[0, -1],
            samples_per_prompt=config.group_size * config.steps,
        )
        report_progress(progress, i + 1, len(config.schemes))
    return cols.table()
