"""Experiment ``loss_modes``: trainers' loss modes side by side, first update and after E epochs.

For each loss mode (``rlxform.core.loss_modes.simulated``: a framework's loss and settings) the
exact effective weight of one rollout iteration on the scalar-logit policy
(``core.ppo.ppo_effective_weight(loss_mode=...)``: every correct count S and minibatch split
enumerated in float64), divided by the mode's first-update scale s (``first_update``: TRL
cispo's cap, dr_grpo's 1 / L_max), against w_M(p); and the share of the unclipped gradient the
mode's clips, caps and gates remove. The weight of the logit step, E[change of theta] / (lr E N
p (1-p)), is exactly s w_M(p) at E = 1 for every mode; the modes part only from the second update
on (``ppo_effective_weight``'s w_eff, from E[change of p], adds the sigmoid's curvature).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from rlxform.core import schemes as schemes_lib
from rlxform.core.kl import bernstein_weight_numpy
from rlxform.core.loss_modes.simulated import first_update, simulated_mode
from rlxform.core.ppo import ppo_effective_weight
from rlxform.core.schemes import Scheme
from rlxform.plotting.loss_modes import fig_loss_modes
from rlxform.reproduce.runner import Columns, experiment
from rlxform.results import Progress, Table, report_progress

Settings = tuple[tuple[str, Any], ...]
_VERL_GRPO = schemes_lib.grpo(std="sample", eps=1e-6)

MODES: tuple[tuple[str, Settings], ...] = (  # distinct on one-token answers (README "Loss modes")
    ("verl:vanilla", ()),
    ("verl:vanilla", (("clip_ratio_high", 0.28),)),
    ("verl:geo_mean", ()),
    ("verl:cispo", ()),
    ("verl:sapo", ()),
    ("verl:dppo_tv", ()),
    ("trl:cispo", ()),
    ("trl:cispo", (("epsilon_high", 5.0),)),
)


def mode_label(name: str, settings: Settings) -> str:
    """``verl:vanilla`` or ``verl:vanilla(clip_ratio_high=0.28)``."""
    if not settings:
        return name
    return (
        f"{name}("
        + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in settings)
        + ")"
    )


@dataclasses.dataclass(frozen=True)
class LossModesConfig:
    """w_eff(p) of each loss mode at E = 1 and after more epochs (scalar logit, one group).

    Attributes:
      modes: (``framework:mode``, settings) pairs; settings under the framework's own keys.
      epochs: E values (1: the first update alone); num_minibatches: N (divides M).
    """

    scheme: Scheme = _VERL_GRPO
    group_size: int = 8
    learning_rates: tuple[float, ...] = (0.5,)
    epochs: tuple[int, ...] = (1, 4)
    num_minibatches: tuple[int, ...] = (1,)
    modes: tuple[tuple[str, Settings], ...] = MODES
    num_grid: int = 25
    p_min: float = 0.02


@experiment(
    "loss_modes",
    fig_loss_modes,
    configs={
        "tiny": LossModesConfig(modes=MODES[:1] + MODES[3:5] + MODES[6:7], num_grid=5),
        "quick": LossModesConfig(),
        "full": LossModesConfig(
            learning_rates=(0.2, 0.5, 1.0), epochs=(1, 2, 4, 8), num_minibatches=(1, 2), num_grid=49
        ),
    },
    description="loss modes side by side: effective weight and clipped share, first update and "
    "after E epochs",
)
def run_loss_modes(config: LossModesConfig, progress: Progress = None) -> Table:
    """``loss_modes.csv``: one row per (mode, lr, E, N, p): w_eff (``ppo_effective_weight``'s,
    from E[change of p]), the logit step's weight E[change of theta] / (lr E N p (1-p)) (exactly
    s w_M at E = 1) and both divided by s, w_M, the clipped share and E[change of p]."""
    m = config.group_size
    coefficients = config.scheme.coefficients(m)
    ps = np.linspace(config.p_min, 1.0 - config.p_min, config.num_grid)
    w_m = np.array([float(bernstein_weight_numpy(coefficients, p)) for p in ps])
    grid = [
        (mode, lr, e, n)
        for mode in config.modes
        for lr in config.learning_rates
        for e in config.epochs
        for n in config.num_minibatches
    ]
    cols = Columns()
    for i, ((name, settings), lr, e, n) in enumerate(grid):
        loss_mode = simulated_mode(name, dict(settings))
        _, scale = first_update(loss_mode, width=1, answers=m)
        outs = [
            ppo_effective_weight(
                config.scheme,
                m,
                float(p),
                learning_rate=lr,
                epochs=e,
                num_minibatches=n,
                loss_mode=loss_mode,
            )
            for p in ps
        ]
        weight = np.array([o.weight for o in outs])
        logit = np.array([o.delta_theta for o in outs]) / (lr * e * n * ps * (1.0 - ps))
        divisor = scale if scale else np.nan  # a mode whose first update is 0: no ratio
        cols.add(
            mode=mode_label(name, settings),
            framework=name.split(":")[0],
            scale=scale,
            learning_rate=lr,
            epochs=e,
            num_minibatches=n,
            p=ps,
            weight=weight,
            weight_per_scale=weight / divisor,
            logit_weight=logit,
            logit_weight_per_scale=logit / divisor,
            w_m=w_m,
            clip_fraction=np.array([o.clip_fraction for o in outs]),
            delta_p=np.array([o.delta_p for o in outs]),
        )
        report_progress(progress, i + 1, len(grid))
    return cols.table()
