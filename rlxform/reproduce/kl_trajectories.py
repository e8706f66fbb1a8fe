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
from rlxform.reproduce.entropy import TWO_ANSWER_SIM
from rlxform.reproduce.runner import Columns, experiment
from rlxform.results import Progress, Table, report_progress
from rlxform.sim.config import SimConfig
from rlxform.sim.exact import make_exact
from rlxform.sim.hparams import HParams
from rlxform.sim.simulate import make_simulate

# the entropy experiment's setting (GRPO, M = 8, one tabular prompt with K = 2 from
# p_ref = 0.3, SGD at lr 0.1 for T = 300 steps) with k2 as a loss
_SIM = dataclasses.replace(TWO_ANSWER_SIM, kl_estimator="k2", kl_placement="loss")
_LR = HParams(0.1)


@dataclasses.dataclass(frozen=True)
class KlTrajectoriesConfig:
    """The run (``sim``: its problem's one init_p is p_ref), the betas, ``hparams``, seeds.

    Attributes:
      sim: a one-prompt bandit run with the KL estimator and placement.
      betas: kl_coef values (each replaces ``hparams.kl_coef``).
      hparams: the traced values (learning rate). seeds, seed: S runs from key(seed).
    """

    sim: SimConfig = _SIM
    betas: tuple[float, ...] = (0.0, 0.5, 2.0)
    hparams: HParams = _LR
    seeds: int = 256
    seed: int = 0


def _configs(steps: int, record_every: int, seeds: int) -> KlTrajectoriesConfig:
    sim = dataclasses.replace(_SIM, num_steps=steps, record_every=record_every)
    return KlTrajectoriesConfig(sim=sim, seeds=seeds)


@experiment(
    "kl_trajectories",
    fig_kl_trajectories,
    configs={
        "tiny": _configs(40, 10, 16),
        "quick": KlTrajectoriesConfig(),
        "full": _configs(1000, 20, 4096),
    },
    description="mean p vs step with KL: simulated (seed mean) vs exact, p* of kl_equilibrium",
)
def run_kl_trajectories(config: KlTrajectoriesConfig, progress: Progress = None) -> Table:
    """``kl_trajectories.csv``: beta, step, mean_p, mean_p_se, exact_mean_p, p_star."""
    cfg = config.sim
    (p_ref,) = cfg.problem.init_p
    runs = jax.jit(jax.vmap(make_simulate(cfg).jitted, in_axes=(None, 0)))
    exact = make_exact(cfg)
    keys = jax.random.split(jax.random.key(config.seed), config.seeds)
    lr = jnp.float32(config.hparams.learning_rate)
    cols = Columns()
    for i, beta in enumerate(config.betas):
        hp = config.hparams._replace(learning_rate=lr, kl_coef=jnp.float32(beta))
        values = np.asarray(runs(hp, keys).mean_p, np.float64)
        reference = np.asarray(exact(hp).mean_p, np.float64)
        se = values.std(0, ddof=1) / np.sqrt(values.shape[0])
        p_star = (
            kl_equilibrium(
                cfg.scheme,
                cfg.group_size,
                beta,
                p_ref,
                estimator=cfg.kl_estimator,
                placement=cfg.kl_placement,
            )
            if beta > 0
            else float("nan")
        )
        for r, step in enumerate(np.arange(cfg.num_records) * cfg.record_every):
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
