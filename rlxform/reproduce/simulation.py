"""Simulation figure experiments (5, 6): the jitted simulator vs exact ascent, vmapped over seeds.

Every scheme runs on the same bandit problem and the same S run keys (``jax.random.key(seed)``
split once), with equal M x T samples; ``sim.exact`` gives the noise-free reference. Each is
``run_figN(config, out_dir, progress, figure) -> results.Result`` (``runner.experiment``) writing
``<name>.csv`` / ``.png`` / ``.json``; each config nests the base ``SimConfig`` and varies
it with ``dataclasses.replace``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from rlxform import plotting
from rlxform.core import schemes as schemes_lib
from rlxform.core.schemes import Scheme
from rlxform.reproduce.runner import Columns, experiment, local_exact, local_sweep
from rlxform.reproduce.sweep_config import sweep_problem
from rlxform.results import Progress, Table, report_progress
from rlxform.sim.config import SimConfig
from rlxform.sim.hparams import HParams

_SCHEMES = (
    schemes_lib.reinforce(),
    schemes_lib.rloo(),
    schemes_lib.grpo(),
    schemes_lib.rejection_sampling(),
    schemes_lib.pass_at_k(k=4),
)
# the base run: tabular, P = 16, K = 4, grid of p; M = 8, T = 200; its scheme and policy vary
_SIM = SimConfig(_SCHEMES[0], sweep_problem(), group_size=8, num_steps=200, record_every=5)
_LR = HParams(0.5)


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    """Figures 5-6: every scheme on the same bandit problem, S seeds, vs exact ascent.

    Attributes:
      sim: the run (problem, M, T, record interval, optimizer); each (policy, scheme) pair
        replaces its ``scheme`` and its problem's ``policy``: all get the same M x T samples.
      schemes: schemes compared (on the same keys).
      policies: policy kinds (figure 5 uses tabular and network; figure 6 the first only).
      hparams: the traced values (SGD makes the seed mean follow exact ascent as lr -> 0).
      seeds, seed: S runs from ``jax.random.key(seed)``.
    """

    sim: SimConfig = _SIM
    schemes: tuple[Scheme, ...] = _SCHEMES
    policies: tuple[str, ...] = ("tabular", "network")
    hparams: HParams = _LR
    seeds: int = 64
    seed: int = 0

    def run(self, scheme: Scheme, policy: str) -> SimConfig:
        """The ``SimConfig`` of one (scheme, policy) pair."""
        problem = dataclasses.replace(self.sim.problem, policy=policy)
        return dataclasses.replace(self.sim, scheme=scheme, problem=problem)


def _simulate(config: SimulationConfig, scheme: Scheme, policy: str):
    """(stochastic Metrics [1, S, ...], exact Metrics [1, ...]) for one (scheme, policy)."""
    from rlxform.sim import sweeps

    cfg = config.run(scheme, policy)
    grid = sweeps.broadcast(config.hparams)
    keys = jax.random.split(jax.random.key(config.seed), config.seeds)
    metrics = jax.device_get(local_sweep(cfg)(grid, keys))
    exact_metrics = jax.device_get(local_exact(cfg)(grid))
    return cfg, metrics, exact_metrics


def _tiny(prompts: int, *compared: Scheme, policies: tuple[str, ...]) -> SimulationConfig:
    problem = sweep_problem(num_prompts=prompts)
    sim = dataclasses.replace(_SIM, problem=problem, group_size=4, num_steps=20)
    return SimulationConfig(sim=sim, schemes=compared, policies=policies, seeds=4)


def _difficulty(prompts: int, seeds: int, *extra: Scheme) -> SimulationConfig:
    compared = (
        schemes_lib.reinforce(),
        schemes_lib.grpo(),
        schemes_lib.rejection_sampling(),
        *extra,
    )
    problem = sweep_problem(num_prompts=prompts)
    return SimulationConfig(
        sim=dataclasses.replace(_SIM, problem=problem, num_steps=100),
        schemes=(*compared, schemes_lib.pass_at_k(k=4)),
        policies=("tabular",),
        hparams=HParams(0.3),
        seeds=seeds,
    )


@experiment(
    "fig5_trajectories",
    plotting.fig_trajectories,
    configs={
        # tiny: fig6's tiny REINFORCE run on the tabular policy is this one (compiled once)
        "tiny": _tiny(6, schemes_lib.reinforce(), policies=("tabular", "network")),
        "quick": SimulationConfig(sim=dataclasses.replace(_SIM, num_steps=150), seeds=32),
        "full": SimulationConfig(sim=dataclasses.replace(_SIM, num_steps=400), seeds=256),
    },
    description="seed-mean trajectories (SE band) vs exact ascent, tabular and network",
)
def run_fig5(config: SimulationConfig, progress: Progress = None) -> tuple[Table, dict[str, Any]]:
    from rlxform.sim import sweeps

    cols = Columns()
    summary = {}
    total = len(config.policies) * len(config.schemes)
    for i, (policy, scheme) in enumerate((p, s) for p in config.policies for s in config.schemes):
        cfg, metrics, exact_metrics = _simulate(config, scheme, policy)
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


@experiment(
    "fig6_difficulty",
    plotting.fig_difficulty,
    configs={
        "tiny": _tiny(
            6, schemes_lib.reinforce(), schemes_lib.rejection_sampling(), policies=("tabular",)
        ),
        "quick": _difficulty(24, 32),
        "full": _difficulty(48, 256, schemes_lib.maxrl()),
    },
    description="final p vs initial p per prompt at an equal sample budget",
)
def run_fig6(config: SimulationConfig, progress: Progress = None) -> Table:
    from rlxform.sim import sweeps
    from rlxform.sim.ascent import initial_params, policy_of

    cols = Columns()
    policy = config.policies[0]
    for i, scheme in enumerate(config.schemes):
        cfg, metrics, exact_metrics = _simulate(config, scheme, policy)
        p = np.asarray(metrics.p, np.float64)[0]  # [S, R, P]
        initial = np.asarray(policy_of(cfg).p_correct(initial_params(cfg)), np.float64)
        final, final_se = sweeps.seed_stats(p[:, -1, :], axis=0)
        cols.add(
            scheme=cfg.scheme.label,
            prompt=np.arange(cfg.problem.num_prompts),
            initial_p=initial,
            final_p=final,
            final_p_se=final_se,
            exact_final_p=np.asarray(exact_metrics.p, np.float64)[0, -1],
            samples_per_prompt=cfg.group_size * cfg.num_steps,
        )
        report_progress(progress, i + 1, len(config.schemes))
    return cols.table()
