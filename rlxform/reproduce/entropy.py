"""Experiment ``entropy_equilibrium``: where an entropy bonus stops ascent; a run that gets there.

Part ``equilibrium``: p* of exact ascent on h_M(p) + c H on a two-answer policy from p0
(``rlxform.core.entropy.entropy_equilibrium``: logit p* = w_M(p*) / c) against c, for a few
schemes and group sizes. Part ``trajectory``: GRPO on a one-prompt tabular bandit (K = 2) from
p0 with the bonus at a few c, the seed mean (+- SE) of the simulator against exact ascent
(``rlxform.sim.entropy_term``) and p*. Writes ``entropy_equilibrium.csv`` (one tidy table; the
columns of the other part are NaN or empty).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from rlxform.core import schemes as schemes_lib
from rlxform.core.entropy import entropy_equilibrium
from rlxform.core.schemes import Scheme
from rlxform.plotting.entropy import fig_entropy_equilibrium
from rlxform.reproduce.runner import Columns, experiment
from rlxform.results import Progress, Table, report_progress
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.exact import make_exact
from rlxform.sim.hparams import HParams
from rlxform.sim.simulate import make_simulate

# GRPO (population std, eps = 0), M = 8, on one tabular prompt (K = 2) from p0 = 0.3; SGD at
# lr 0.1 for T = 300 steps (the KL trajectories run the same setting with a KL term)
TWO_ANSWER_SIM = SimConfig(
    "grpo",
    Problem(policy="tabular", num_prompts=1, num_responses=2, init_p=(0.3,)),
    group_size=8,
    num_steps=300,
    record_every=10,
)
_LR = HParams(0.1)
_NAN = float("nan")


@dataclasses.dataclass(frozen=True)
class EntropyEquilibriumConfig:
    """p* against c per scheme and M, and one simulated setting at a few c.

    Attributes:
      schemes, group_sizes, coefs: the grid of the equilibrium part; init_p: p0 of both parts
        (the run's problem starts there too).
      sim: a one-prompt bandit run (its init_p is p0); sim_coefs: entropy_coef values (each
        replaces ``hparams.entropy_coef``; 0 is no bonus); hparams: the learning rate.
      seeds, seed: S runs from key(seed).
    """

    schemes: tuple[Scheme, ...] = (
        schemes_lib.reinforce(),
        schemes_lib.rejection_sampling(),
        schemes_lib.grpo(),
    )
    group_sizes: tuple[int, ...] = (4, 8, 16)
    coefs: tuple[float, ...] = tuple(np.round(np.logspace(-1.5, 1.5, 31), 6).tolist())
    init_p: float = 0.3
    sim: SimConfig = TWO_ANSWER_SIM
    sim_coefs: tuple[float, ...] = (0.0, 1.0, 3.0)
    hparams: HParams = _LR
    seeds: int = 256
    seed: int = 0


def _configs(group_sizes, coefs, steps, record_every, seeds) -> EntropyEquilibriumConfig:
    sim = dataclasses.replace(TWO_ANSWER_SIM, num_steps=steps, record_every=record_every)
    return EntropyEquilibriumConfig(group_sizes=group_sizes, coefs=coefs, sim=sim, seeds=seeds)


@experiment(
    "entropy_equilibrium",
    fig_entropy_equilibrium,
    configs={
        "tiny": _configs((4, 16), (0.3, 1.0, 3.0), 40, 10, 16),
        "quick": EntropyEquilibriumConfig(),
        "full": _configs(
            (2, 4, 8, 16, 64), tuple(np.round(np.logspace(-3, 1, 81), 6).tolist()), 1000, 20, 4096
        ),
    },
    description="entropy equilibrium p* against c per scheme and M; simulated vs exact ascent",
)
def run_entropy_equilibrium(config: EntropyEquilibriumConfig, progress: Progress = None) -> Table:
    """``entropy_equilibrium.csv``: part, scheme, M, coef, init_p, p_star, step, mean_p,
    mean_p_se, exact_mean_p."""
    cols = Columns()
    total = len(config.schemes) + len(config.sim_coefs)
    done = 0
    for scheme in config.schemes:
        for m in config.group_sizes:
            p_star = [entropy_equilibrium(scheme, m, c, init_p=config.init_p) for c in config.coefs]
            cols.add(
                part="equilibrium",
                scheme=scheme.label,
                M=m,
                coef=np.asarray(config.coefs, float),
                init_p=config.init_p,
                p_star=np.asarray(p_star),
                step=-1,
                mean_p=_NAN,
                mean_p_se=_NAN,
                exact_mean_p=_NAN,
            )
        done += 1
        report_progress(progress, done, total)
    cfg = dataclasses.replace(
        config.sim,
        problem=dataclasses.replace(config.sim.problem, init_p=(config.init_p,)),
    )
    runs = jax.jit(jax.vmap(make_simulate(cfg).jitted, in_axes=(None, 0)))
    exact = make_exact(cfg)
    keys = jax.random.split(jax.random.key(config.seed), config.seeds)
    lr = jnp.float32(config.hparams.learning_rate)
    steps = np.arange(cfg.num_records) * cfg.record_every
    for c in config.sim_coefs:
        hp = config.hparams._replace(learning_rate=lr, entropy_coef=jnp.float32(c))
        values = np.asarray(runs(hp, keys).mean_p, np.float64)
        reference = np.asarray(exact(hp).mean_p, np.float64)
        p_star = (
            entropy_equilibrium(cfg.scheme, cfg.group_size, c, init_p=config.init_p)
            if c > 0
            else _NAN
        )
        cols.add(
            part="trajectory",
            scheme=cfg.scheme.label,
            M=cfg.group_size,
            coef=float(c),
            init_p=config.init_p,
            p_star=p_star,
            step=steps,
            mean_p=values.mean(0),
            mean_p_se=values.std(0, ddof=1) / np.sqrt(values.shape[0]),
            exact_mean_p=reference,
        )
        done += 1
        report_progress(progress, done, total)
    return cols.table()
