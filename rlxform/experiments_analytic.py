"""Analytic figure experiments (1-4, 7): exact float64 Bernstein sums, no simulation.

Each is ``run_figN(config, out_dir, progress) -> results.Result``: a tidy table (one row per
scheme / M / eps and grid point), written with ``results.save_result`` as ``<name>.csv``,
``<name>.png`` (``rlxform.plotting``) and ``<name>.json``. Configs are frozen dataclasses; the
registry of names and modes is ``rlxform.experiments``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import numpy as np

from rlxform import plotting
from rlxform.noise import noise
from rlxform.results import FigureFormat, Progress, Result, save_result
from rlxform.sweep_config import SchemeSpec, scheme_specs
from rlxform.transforms import limit_weight, normalised_limit, transform

# ---- figure 1: the three large-M objectives --------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TransformsConfig:
    """Figure 1: p, (2/pi) arcsin sqrt p and 1 + log p on a grid of G points."""

    num_grid: int = 401
    schemes: tuple[SchemeSpec, ...] = scheme_specs("reinforce", "grpo", "rejection_sampling")


def run_fig1(
    config: TransformsConfig,
    out_dir: Path,
    progress: Progress = None,
    figure: FigureFormat | None = None,
) -> Result:
    start = time.perf_counter()
    p = np.linspace(0.0, 1.0, config.num_grid)
    cols: dict[str, list] = {"scheme": [], "limit": [], "p": [], "normalised_objective": []}
    for spec in config.schemes:
        scheme = spec.build()
        cols["scheme"] += [scheme.label] * p.size
        cols["limit"] += [scheme.limit()[1]] * p.size
        cols["p"] += list(p)
        cols["normalised_objective"] += list(normalised_limit(scheme, p))
    table = {k: np.asarray(v) for k, v in cols.items()}
    return save_result(
        "fig1_transforms",
        config,
        table,
        plotting.fig_limits(table),
        out_dir,
        start,
        figure,
    )


# ---- figure 2: rejection sampling at finite M ------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RejectionConfig:
    """Figure 2: h_M(p) - h_M(1) of rejection sampling vs log p, p log-spaced in [p_min, 1]."""

    group_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 64)
    num_grid: int = 400
    p_min: float = 1e-3


def run_fig2(
    config: RejectionConfig,
    out_dir: Path,
    progress: Progress = None,
    figure: FigureFormat | None = None,
) -> Result:
    start = time.perf_counter()
    from rlxform import schemes

    scheme = schemes.rejection_sampling()
    p = np.logspace(np.log10(config.p_min), 0.0, config.num_grid)
    p[-1] = 1.0
    cols: dict[str, list] = {"M": [], "p": [], "objective": [], "log_p": [], "gap": []}
    max_gap = {}
    with jax.enable_x64(True):
        for m in config.group_sizes:
            h = np.asarray(transform(scheme, m).objective(p), np.float64)
            anchored = h - h[-1]
            gap = anchored - np.log(p)
            max_gap[str(m)] = float(np.max(np.abs(gap)))
            cols["M"] += [m] * p.size
            cols["p"] += list(p)
            cols["objective"] += list(anchored)
            cols["log_p"] += list(np.log(p))
            cols["gap"] += list(gap)
    table = {k: np.asarray(v) for k, v in cols.items()}
    return save_result(
        "fig2_rejection_sampling",
        config,
        table,
        plotting.fig_rejection_sampling(table),
        out_dir,
        start,
        figure,
        max_gap=max_gap,
    )


# ---- figure 3: GRPO at finite M, eps and std convention ---------------------------------------


@dataclasses.dataclass(frozen=True)
class GrpoConfig:
    """Figure 3: h_M(p) / h_M(1) of GRPO vs (2/pi) arcsin sqrt p = 2 arcsin sqrt p / pi."""

    group_sizes: tuple[int, ...] = (2, 4, 8, 16, 64, 256)
    eps: tuple[float, ...] = (0.0, 1e-6, 1e-2, 0.1)
    stds: tuple[str, ...] = ("population", "sample")
    num_grid: int = 201


def run_fig3(
    config: GrpoConfig,
    out_dir: Path,
    progress: Progress = None,
    figure: FigureFormat | None = None,
) -> Result:
    start = time.perf_counter()
    from rlxform import schemes

    p = np.linspace(0.0, 1.0, config.num_grid)
    arcsine = normalised_limit(schemes.grpo(), p)
    cols: dict[str, list] = {
        k: [] for k in ("std", "eps", "M", "p", "normalised_objective", "arcsine", "gap")
    }
    with jax.enable_x64(True):
        for std in config.stds:
            for eps in config.eps:
                scheme = schemes.grpo(std=std, eps=eps)
                for m in config.group_sizes:
                    h = np.asarray(transform(scheme, m).normalised_objective(p), np.float64)
                    cols["std"] += [std] * p.size
                    cols["eps"] += [float(eps)] * p.size
                    cols["M"] += [m] * p.size
                    cols["p"] += list(p)
                    cols["normalised_objective"] += list(h)
                    cols["arcsine"] += list(arcsine)
                    cols["gap"] += list(h - arcsine)
    table = {k: np.asarray(v) for k, v in cols.items()}
    return save_result("fig3_grpo", config, table, plotting.fig_grpo(table), out_dir, start, figure)


# ---- figure 4: the catalog's weights at M = 8 ------------------------------------------------


CATALOG = scheme_specs(
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
    schemes: tuple[SchemeSpec, ...] = CATALOG


def run_fig4(
    config: WeightsConfig,
    out_dir: Path,
    progress: Progress = None,
    figure: FigureFormat | None = None,
) -> Result:
    start = time.perf_counter()
    p = np.linspace(0.0, 1.0, config.num_grid)
    cols: dict[str, list] = {k: [] for k in ("scheme", "limit", "M", "p", "weight", "limit_weight")}
    for spec in config.schemes:
        scheme = spec.build()
        with jax.enable_x64(True):
            w = np.asarray(transform(scheme, config.group_size).weight(p), np.float64)
        cols["scheme"] += [scheme.label] * p.size
        cols["limit"] += [scheme.limit()[1] or ""] * p.size
        cols["M"] += [config.group_size] * p.size
        cols["p"] += list(p)
        cols["weight"] += list(w)
        cols["limit_weight"] += list(limit_weight(scheme, p))
    table = {k: np.asarray(v) for k, v in cols.items()}
    return save_result(
        "fig4_weights",
        config,
        table,
        plotting.fig_weights(table),
        out_dir,
        start,
        figure,
    )


# ---- figure 7: exact signal-to-noise ratio ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NoiseConfig:
    """Figure 7: exact SNR E[g] / sd[g] of the scalar-logit update on an open grid of p."""

    group_sizes: tuple[int, ...] = (4, 16, 64, 256)
    num_grid: int = 199
    schemes: tuple[SchemeSpec, ...] = scheme_specs(
        "reinforce", "rloo", "grpo", "rejection_sampling", "maxrl", ("pass_at_k", {"k": 4})
    )


def run_fig7(
    config: NoiseConfig,
    out_dir: Path,
    progress: Progress = None,
    figure: FigureFormat | None = None,
) -> Result:
    start = time.perf_counter()
    p = np.linspace(0.0, 1.0, config.num_grid + 2)[1:-1]
    cols: dict[str, list] = {k: [] for k in ("scheme", "M", "p", "mean", "variance", "snr")}
    with jax.enable_x64(True):
        for spec in config.schemes:
            scheme = spec.build()
            for m in config.group_sizes:
                stats = noise(scheme, m, p)
                cols["scheme"] += [scheme.label] * p.size
                cols["M"] += [m] * p.size
                cols["p"] += list(p)
                cols["mean"] += list(np.asarray(stats.mean, np.float64))
                cols["variance"] += list(np.asarray(stats.variance, np.float64))
                cols["snr"] += list(np.asarray(stats.snr, np.float64))
    table = {k: np.asarray(v) for k, v in cols.items()}
    return save_result(
        "fig7_noise",
        config,
        table,
        plotting.fig_noise(table),
        out_dir,
        start,
        figure,
    )
