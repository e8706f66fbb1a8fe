"""Experiment ``kl_trajectories``: mean p against step with a KL penalty, simulated vs exact.

GRPO on a one-prompt tabular bandit (K = 2) from p_ref, KL as a loss with k2 (on one token its
expected gradient is grad KL(pi || pi_ref) exactly, ``rlxform.core.kl``), for several beta:
the seed mean (+- SE) of the simulator against exact ascent (``rlxform.sim.kl_exact``), and
p* = ``kl_equilibrium`` where exact ascent stops. Writes ``kl_trajectories.csv``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from rlxform.core.kl import kl_equilibrium
from rlxform.plotting.penalties import fig_kl_trajectories
from rlxform.reproduce.runner import Columns, experiment
from rlxform.results import Progress, Table, report_progress
from rlxform.sim.config import HParams, Problem, SimConfig
from rlxform.sim.reference import make_exact
from rlxform.sim.simulate import make_simulate


@dataclasses.dataclass(frozen=True)
class KlTrajectoriesConfig:
    """GRPO (population std, eps = 0), M, p_ref, betas, SGD learning rate, steps, seeds."""

    group_size: int = 8
    p_ref: float = 0.3
    betas: tuple[float, ...] = (0.0, 0.5, 2.0)
    estimator: str = "k2"
    learning_rate: float = 0.1
    steps: int = 300
    record_every: int = 10
    seeds: int = 256
    seed: int = 0


@experiment("kl_trajectories", fig_kl_trajectories)
def run_kl_trajectories(config: KlTrajectoriesConfig, progress: Progress = None) -> Table:
    """``kl_trajectories.csv``: beta, step, mean_p, mean_p_se, exact_mean_p, p_star."""
    problem = Problem(policy="tabular", num_prompts=1, num_responses=2, init_p=(config.p_ref,))
    cfg = SimConfig(
        "grpo",
        problem,
        group_size=config.group_size,
        num_steps=config.steps,
        record_every=config.record_every,
        kl_estimator=config.estimator,
        kl_placement="loss",
    )
    runs = jax.jit(jax.vmap(make_simulate(cfg).jitted, in_axes=(None, 0)))
    exact = make_exact(cfg)
    keys = jax.random.split(jax.random.key(config.seed), config.seeds)
    cols = Columns()
    for i, beta in enumerate(config.betas):
        hp = HParams(jnp.float32(config.learning_rate), kl_coef=jnp.float32(beta))
        values = np.asarray(runs(hp, keys).mean_p, np.float64)
        reference = np.asarray(exact(hp).mean_p, np.float64)
        se = values.std(0, ddof=1) / np.sqrt(values.shape[0])
        p_star = (
            kl_equilibrium(
                cfg.scheme,
                config.group_size,
                beta,
                config.p_ref,
                estimator=config.estimator,
                placement="loss",
            )
            if beta > 0
            else float("nan")
        )
        for r, step in enumerate(np.arange(cfg.num_records) * config.record_every):
            cols.add(
                beta=float(beta),
                step=int(step),
                mean_p=values[:, r].mean(),
                mean_p_se=se[r],
                exact_mean_p=reference[r],
                p_star=p_star,
            )
        report_progress(progress, i + 1, len(config.betas))
    return cols.table()


CONFIGS = {
    "tiny": KlTrajectoriesConfig(steps=40, record_every=10, seeds=16),
    "quick": KlTrajectoriesConfig(),
    "full": KlTrajectoriesConfig(steps=1000, record_every=20, seeds=4096),
}
