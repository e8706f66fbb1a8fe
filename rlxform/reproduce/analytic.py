"""Analytic figure experiments (1-4, 7): exact float64 Bernstein sums, no simulation.

Each is ``run_figN(config, out_dir, progress, figure) -> results.Result`` (``runner.experiment``):
a tidy table (one row per scheme / M / eps and grid point) written as ``<name>.csv``,
``<name>.png`` (``rlxform.plotting``) and ``<name>.json``. Configs are frozen dataclasses, each
experiment's tiny / quick / full ones registered with it (``@experiment(..., configs=...)``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from rlxform import plotting
from rlxform.core import schemes as schemes_lib
from rlxform.core.noise import noise
from rlxform.core.objective import limit_weight, normalised_limit, transform
from rlxform.core.schemes import Scheme
from rlxform.reproduce.runner import Columns, experiment
from rlxform.results import Progress, Table


def _schemes(*items: str | tuple[str, dict]) -> tuple[Scheme, ...]:
    """Catalog schemes from names or ``(name, params)`` pairs."""
    pairs = [(item, {}) if isinstance(item, str) else item for item in items]
    return tuple(schemes_lib.get(name, **params) for name, params in pairs)


# ---- figure 1: the three large-M objectives --------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TransformsConfig:
    """Figure 1: p, (2/pi) arcsin sqrt p and 1 + log p on a grid of G points."""

    num_grid: int = 401
    schemes: tuple[Scheme, ...] = _schemes("reinforce", "grpo", "rejection_sampling")


@experiment(
    "fig1_transforms",
    plotting.fig_limits,
    configs={
        "tiny": TransformsConfig(num_grid=21),
        "quick": TransformsConfig(),
        "full": TransformsConfig(num_grid=1001),
    },
    description="p, (2/pi) arcsin sqrt p and 1 + log p through (1, 1)",
)
def run_fig1(config: TransformsConfig, progress: Progress = None) -> Table:
    p = np.linspace(0.0, 1.0, config.num_grid)
    cols = Columns()
    for scheme in config.schemes:
        cols.add(
            scheme=scheme.label,
            limit=scheme.limit()[1],
            p=p,
            normalised_objective=normalised_limit(scheme, p),
        )
    return cols.table()


# ---- figure 2: rejection sampling at finite M ------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RejectionConfig:
    """Figure 2: h_M(p) - h_M(1) of rejection sampling vs log p, p log-spaced in [p_min, 1]."""

    group_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 64)
    num_grid: int = 400
    p_min: float = 1e-3


@experiment(
    "fig2_rejection_sampling",
    plotting.fig_rejection_sampling,
    configs={
        "tiny": RejectionConfig(num_grid=40),
        "quick": RejectionConfig(),
        "full": RejectionConfig(num_grid=2000, p_min=1e-4),
    },
    description="finite-M rejection-sampling objective vs log p",
)
def run_fig2(config: RejectionConfig, progress: Progress = None) -> tuple[Table, dict[str, Any]]:
    scheme = schemes_lib.rejection_sampling()
    p = np.logspace(np.log10(config.p_min), 0.0, config.num_grid)
    p[-1] = 1.0
    cols = Columns()
    max_gap = {}
    with jax.enable_x64(True):
        for m in config.group_sizes:
            h = np.asarray(transform(scheme, m).objective(p), np.float64)
            anchored = h - h[-1]
            gap = anchored - np.log(p)
            max_gap[str(m)] = float(np.max(np.abs(gap)))
            cols.add(M=m, p=p, objective=anchored, log_p=np.log(p), gap=gap)
    return cols.table(), {"max_gap": max_gap}


# ---- figure 3: GRPO at finite M, eps and std convention ---------------------------------------


@dataclasses.dataclass(frozen=True)
class GrpoConfig:
    """Figure 3: h_M(p) / h_M(1) of GRPO vs (2/pi) arcsin sqrt p = 2 arcsin sqrt p / pi."""

    group_sizes: tuple[int, ...] = (2, 4, 8, 16, 64, 256)
    eps: tuple[float, ...] = (0.0, 1e-6, 1e-2, 0.1)
    stds: tuple[str, ...] = ("population", "sample")
    num_grid: int = 201


@experiment(
    "fig3_grpo",
    plotting.fig_grpo,
    configs={
        "tiny": GrpoConfig(group_sizes=(2, 8, 64), eps=(0.0, 0.1), num_grid=41),
        "quick": GrpoConfig(),
        "full": GrpoConfig(num_grid=1001),
    },
    description="normalised GRPO objective vs the arcsine, by M, eps and std",
)
def run_fig3(config: GrpoConfig, progress: Progress = None) -> Table:
    p = np.linspace(0.0, 1.0, config.num_grid)
    arcsine = normalised_limit(schemes_lib.grpo(), p)
    cols = Columns()
    with jax.enable_x64(True):
        for std in config.stds:
            for eps in config.eps:
                scheme = schemes_lib.grpo(std=std, eps=eps)
                for m in config.group_sizes:
                    h = np.asarray(transform(scheme, m).normalised_objective(p), np.float64)
                    cols.add(
                        std=std,
                        eps=float(eps),
                        M=m,
                        p=p,
                        normalised_objective=h,
                        arcsine=arcsine,
                        gap=h - arcsine,
                    )
    return cols.table()


# ---- figure 4: the catalog's weights at M = 8 ------------------------------------------------


CATALOG = _schemes(
    "reinforce",
    "rloo",
    "mean_baseline",
    "grpo",
    ("grpo", {"std": "sample"}),
    "rejection_sampling",
    "maxrl",
    ("pass_at_k", {"k": 4}),
    "psr",
    "nsr",
    ("w_reinforce", {"lam": 0.5}),
    ("f_grpo", {"gamma": 1.0}),
)


@dataclasses.dataclass(frozen=True)
class WeightsConfig:
    """Figure 4: w_M(p) of every catalog scheme at one M next to the large-M h'(p)."""

    group_size: int = 8
    num_grid: int = 201
    schemes: tuple[Scheme, ...] = CATALOG


@experiment(
    "fig4_weights",
    plotting.fig_weights,
    configs={
        "tiny": WeightsConfig(num_grid=21),
        "quick": WeightsConfig(),
        "full": WeightsConfig(num_grid=1001),
    },
    description="w_8(p) of the whole catalog next to the large-M limits",
)
def run_fig4(config: WeightsConfig, progress: Progress = None) -> Table:
    p = np.linspace(0.0, 1.0, config.num_grid)
    cols = Columns()
    for scheme in config.schemes:
        with jax.enable_x64(True):
            w = np.asarray(transform(scheme, config.group_size).weight(p), np.float64)
        cols.add(
            scheme=scheme.label,
            limit=scheme.limit()[1] or "",
            M=config.group_size,
            p=p,
            weight=w,
            limit_weight=limit_weight(scheme, p),
        )
    return cols.table()


# ---- figure 7: exact signal-to-noise ratio ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NoiseConfig:
    """Figure 7: exact SNR E[g] / sd[g] of the scalar-logit update on an open grid of p."""

    group_sizes: tuple[int, ...] = (4, 16, 64, 256)
    num_grid: int = 199
    schemes: tuple[Scheme, ...] = _schemes(
        "reinforce", "rloo", "grpo", "rejection_sampling", "maxrl", ("pass_at_k", {"k": 4})
    )


@experiment(
    "fig7_noise",
    plotting.fig_noise,
    configs={
        "tiny": NoiseConfig(group_sizes=(4, 16), num_grid=19),
        "quick": NoiseConfig(),
        "full": NoiseConfig(group_sizes=(4, 8, 16, 64, 256, 1024), num_grid=999),
    },
    description="exact SNR of the scalar-logit update vs p per scheme and M",
)
def run_fig7(config: NoiseConfig, progress: Progress = None) -> Table:
    p = np.linspace(0.0, 1.0, config.num_grid + 2)[1:-1]
    cols = Columns()
    with jax.enable_x64(True):
        for scheme in config.schemes:
            for m in config.group_sizes:
                stats = noise(scheme, m, p)
                cols.add(
                    scheme=scheme.label,
                    M=m,
                    p=p,
                    mean=np.asarray(stats.mean, np.float64),
                    variance=np.asarray(stats.variance, np.float64),
                    snr=np.asarray(stats.snr, np.float64),
                )
    return cols.table()
