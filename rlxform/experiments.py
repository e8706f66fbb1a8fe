"""The experiments behind the figures: each is ``run(config, out_dir, progress) -> Result``.

An experiment computes a tidy table (one row per configuration, seed or aggregate, and step or
grid point), writes ``<name>.csv``, ``<name>.png`` (via ``rlxform.plotting``) and ``<name>.json``
(``results.metadata``: config, versions, git revision, device, wall time) into ``out_dir``.
``EXPERIMENTS`` maps names to their run function and ``tiny`` / ``quick`` / ``full`` configs
(frozen dataclasses). Analytic figures (1-4, 7) are exact float64 Bernstein sums; figures 5-6 and
the sweep run the jitted simulator, vmapped over seeds (and learning rates). Integer seeds become
keys here (``jax.random.key(seed)``), split once into the S run keys shared by every scheme.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from rlxform import plotting
from rlxform import results as res
from rlxform.chunks import ChunkStore
from rlxform.noise import noise
from rlxform.schemes import Scheme
from rlxform.sweep_config import PolicySpec, SchemeSpec, SweepConfig
from rlxform.transforms import transform
from rlxform.types import NDArray

Progress = Callable[[int, int], None] | None  # progress(done, total) inside long experiments
Table = dict[str, NDArray]


class Result(NamedTuple):
    """What an experiment wrote: its table(s), file paths and wall time in seconds."""

    table: Table
    paths: dict[str, Path]
    wall_time_s: float


def _tick(progress: Progress, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def _save_png(fig: Any, path: Path) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    res.atomic_write_bytes(path, buf.getvalue())


def _finish(
    name: str, config: Any, table: Table, fig: Any, out_dir: Path, start: float, **extra: Any
) -> Result:
    out_dir = res.check_writable(out_dir, name="out")
    paths = {
        "csv": out_dir / f"{name}.csv",
        "png": out_dir / f"{name}.png",
        "json": out_dir / f"{name}.json",
    }
    res.write_table(paths["csv"], table)
    _save_png(fig, paths["png"])
    wall = time.perf_counter() - start
    res.write_metadata(
        paths["json"], res.metadata(config, experiment=name, wall_time_s=wall, **extra)
    )
    return Result(table, paths, wall)


def _label(scheme: Scheme) -> str:
    return scheme.label


def _specs(*items: str | tuple[str, dict]) -> tuple[SchemeSpec, ...]:
    out = []
    for item in items:
        name, params = (item, {}) if isinstance(item, str) else item
        out.append(SchemeSpec(name, tuple(sorted(params.items()))))
    return tuple(out)


def normalised_limit(scheme: Scheme, p: NDArray) -> NDArray:
    """The large-M objective h normalised through (1, 1): (h - h(0)) / (h(1) - h(0)) when h(0)
    is finite (p, (2/pi) arcsin sqrt p), else h - h(1) + 1 (1 + log p). float64[G]."""
    limit, _ = scheme.limit()
    with jax.enable_x64(True), np.errstate(divide="ignore", invalid="ignore"):
        h = np.asarray(limit(np.asarray(p, np.float64)), np.float64)
        h0, h1 = (float(np.asarray(limit(np.float64(v)))) for v in (0.0, 1.0))
    if np.isfinite(h0):
        return (h - h0) / (h1 - h0)
    return h - h1 + 1.0


def limit_weight(scheme: Scheme, p: NDArray) -> NDArray:
    """w(p) = h'(p) of the large-M limit by autodiff (float64[G]; NaN where not finite)."""
    limit, _ = scheme.limit()
    if limit is None:
        return np.full(np.shape(p), np.nan)
    with jax.enable_x64(True):
        w = np.asarray(jax.vmap(jax.grad(lambda x: limit(x)))(np.asarray(p, np.float64)))
    return np.where(np.isfinite(w), w, np.nan)


# ---- figure 1: the three large-M objectives --------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TransformsConfig:
    """Figure 1: p, (2/pi) arcsin sqrt p and 1 + log p on a grid of G points."""

    num_grid: int = 401
    schemes: tuple[SchemeSpec, ...] = _specs("reinforce", "grpo", "rejection_sampling")


def run_fig1(config: TransformsConfig, out_dir: Path, progress: Progress = None) -> Result:
    start = time.perf_counter()
    p = np.linspace(0.0, 1.0, config.num_grid)
    cols: dict[str, list] = {"scheme": [], "limit": [], "p": [], "normalised_objective": []}
    for spec in config.schemes:
        scheme = spec.build()
        cols["scheme"] += [_label(scheme)] * p.size
        cols["limit"] += [scheme.limit()[1]] * p.size
        cols["p"] += list(p)
        cols["normalised_objective"] += list(normalised_limit(scheme, p))
    table = {k: np.asarray(v) for k, v in cols.items()}
    return _finish("fig1_transforms", config, table, plotting.fig_limits(table), out_dir, start)


# ---- figure 2: rejection sampling at finite M ------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RejectionConfig:
    """Figure 2: h_M(p) - h_M(1) of rejection sampling vs log p, p log-spaced in [p_min, 1]."""

    group_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 64)
    num_grid: int = 400
    p_min: float = 1e-3


def run_fig2(config: RejectionConfig, out_dir: Path, progress: Progress = None) -> Result:
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
    return _finish(
        "fig2_rejection_sampling",
        config,
        table,
        plotting.fig_rejection_sampling(table),
        out_dir,
        start,
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


def run_fig3(config: GrpoConfig, out_dir: Path, progress: Progress = None) -> Result:
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
    return _finish("fig3_grpo", config, table, plotting.fig_grpo(table), out_dir, start)


# ---- figure 4: the catalog's weights at M = 8 ------------------------------------------------


CATALOG = _specs(
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


def run_fig4(config: WeightsConfig, out_dir: Path, progress: Progress = None) -> Result:
    start = time.perf_counter()
    p = np.linspace(0.0, 1.0, config.num_grid)
    cols: dict[str, list] = {k: [] for k in ("scheme", "limit", "M", "p", "weight", "limit_weight")}
    for spec in config.schemes:
        scheme = spec.build()
        with jax.enable_x64(True):
            w = np.asarray(transform(scheme, config.group_size).weight(p), np.float64)
        cols["scheme"] += [_label(scheme)] * p.size
        cols["limit"] += [scheme.limit()[1] or ""] * p.size
        cols["M"] += [config.group_size] * p.size
        cols["p"] += list(p)
        cols["weight"] += list(w)
        cols["limit_weight"] += list(limit_weight(scheme, p))
    table = {k: np.asarray(v) for k, v in cols.items()}
    return _finish("fig4_weights", config, table, plotting.fig_weights(table), out_dir, start)


# ---- figure 7: exact signal-to-noise ratio ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NoiseConfig:
    """Figure 7: exact SNR E[g] / sd[g] of the scalar-logit update on an open grid of p."""

    group_sizes: tuple[int, ...] = (4, 16, 64, 256)
    num_grid: int = 199
    schemes: tuple[SchemeSpec, ...] = _specs(
        "reinforce", "rloo", "grpo", "rejection_sampling", "maxrl", ("pass_at_k", {"k": 4})
    )


def run_fig7(config: NoiseConfig, out_dir: Path, progress: Progress = None) -> Result:
    start = time.perf_counter()
    p = np.linspace(0.0, 1.0, config.num_grid + 2)[1:-1]
    cols: dict[str, list] = {k: [] for k in ("scheme", "M", "p", "mean", "variance", "snr")}
    with jax.enable_x64(True):
        for spec in config.schemes:
            scheme = spec.build()
            for m in config.group_sizes:
                stats = noise(scheme, m, p)
                cols["scheme"] += [_label(scheme)] * p.size
                cols["M"] += [m] * p.size
                cols["p"] += list(p)
                cols["mean"] += list(np.asarray(stats.mean, np.float64))
                cols["variance"] += list(np.asarray(stats.variance, np.float64))
                cols["snr"] += list(np.asarray(stats.snr, np.float64))
    table = {k: np.asarray(v) for k, v in cols.items()}
    return _finish("fig7_noise", config, table, plotting.fig_noise(table), out_dir, start)


# ---- simulations: figures 5 and 6 -------------------------------------------------------------


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

    schemes: tuple[SchemeSpec, ...] = _specs(
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


@functools.lru_cache(maxsize=128)
def _compiled(cfg: Any, kind: str):
    """``sweeps.make_sweep`` / ``make_exact_sweep`` cached per static config in this process."""
    from rlxform import sweeps

    return sweeps.make_sweep(cfg) if kind == "sweep" else sweeps.make_exact_sweep(cfg)


def _simulate(config: SimulationConfig, spec: SchemeSpec, policy: str):
    """(stochastic Metrics [1, S, ...], exact Metrics [1, ...]) for one (scheme, policy)."""
    from rlxform import sweeps
    from rlxform.simulate import SimConfig

    cfg = SimConfig(
        spec.build(),
        policy=policy,
        num_prompts=config.num_prompts,
        num_responses=config.num_responses,
        num_correct=config.num_correct,
        group_size=config.group_size,
        num_steps=config.steps,
        record_every=config.record_every,
        optimizer=config.optimizer,
        init_p=config.init_p,
        population_seed=config.population_seed,
    )
    grid = sweeps.grid([config.learning_rate])
    keys = jax.random.split(jax.random.key(config.seed), config.seeds)
    metrics = jax.device_get(_compiled(cfg, "sweep")(grid, keys))
    exact_metrics = jax.device_get(_compiled(cfg, "exact")(grid))
    return cfg, metrics, exact_metrics


def run_fig5(config: SimulationConfig, out_dir: Path, progress: Progress = None) -> Result:
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
        label = _label(cfg.scheme)
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
            "agreement_3se": float(cmp.agreement[0]),
        }
        _tick(progress, i + 1, total)
    table = {k: np.asarray(v) for k, v in cols.items()}
    return _finish(
        "fig5_trajectories",
        config,
        table,
        plotting.fig_trajectories(table),
        out_dir,
        start,
        agreement=summary,
    )


def run_fig6(config: SimulationConfig, out_dir: Path, progress: Progress = None) -> Result:
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
        cols["scheme"] += [_label(cfg.scheme)] * n
        cols["prompt"] += list(range(n))
        cols["initial_p"] += list(initial)
        cols["final_p"] += list(final)
        cols["final_p_se"] += list(final_se)
        cols["exact_final_p"] += list(exact_final)
        cols["samples_per_prompt"] += [config.group_size * config.steps] * n
        _tick(progress, i + 1, len(config.schemes))
    table = {k: np.asarray(v) for k, v in cols.items()}
    return _finish("fig6_difficulty", config, table, plotting.fig_difficulty(table), out_dir, start)


# ---- the learning-rate x group-size sweep -----------------------------------------------------


def _first_reach(mean_p: NDArray, steps: NDArray, threshold: float) -> NDArray:
    """Step of the first record with mean_p >= threshold (-1 if never): ``[..., R] -> [...]``."""
    hit = np.asarray(mean_p) >= threshold
    first = np.argmax(hit, axis=-1)
    return np.where(hit.any(axis=-1), np.asarray(steps)[first], -1)


def diverged_steps(
    nonfinite_step: NDArray, finite: NDArray, steps: NDArray, mean_p: NDArray
) -> NDArray:
    """Step at which parameters first became non-finite (-1 if never), ``int64[...]``.

    Uses the simulator's ``nonfinite_step`` and falls back to the first record whose parameters
    or mean p are not finite (the record's step), for safety.
    """
    bad = ~np.asarray(finite, bool) | ~np.isfinite(np.asarray(mean_p))
    from_records = np.where(bad.any(-1), np.asarray(steps)[np.argmax(bad, -1)], -1)
    sim = np.asarray(nonfinite_step, np.int64)
    return np.where(sim >= 0, sim, from_records).astype(np.int64)


def _chunk_id(index: int, spec: SchemeSpec, group_size: int) -> str:
    return f"{index:03d}-{spec.name}-M{group_size}"


def _sweep_chunk(config: SweepConfig, spec: SchemeSpec, group_size: int) -> dict[str, NDArray]:
    from rlxform.simulate import HParams, SimConfig

    pol: PolicySpec = config.policy
    cfg = SimConfig(
        spec.build(),
        policy=pol.kind,
        num_prompts=pol.num_prompts,
        num_responses=pol.num_responses,
        num_correct=pol.num_correct,
        hidden=pol.hidden,
        features=pol.features,
        batch_size=pol.batch_size,
        group_size=group_size,
        num_steps=config.steps_for(group_size),
        record_every=config.record_every_for(group_size),
        optimizer=config.optimizer,
        init_p=config.init_p,
        population_seed=config.population_seed,
    )
    hparams = HParams(np.asarray(config.learning_rate, np.float32), None)
    keys = jax.random.split(jax.random.key(config.seed), config.seeds)
    metrics = jax.device_get(_compiled(cfg, "sweep")(hparams, keys))
    return {
        "step": np.asarray(metrics.step[0, 0]),
        "mean_p": np.asarray(metrics.mean_p),
        "objective": np.asarray(metrics.objective),
        "finite": np.asarray(metrics.finite),
        "nonfinite_step": np.asarray(metrics.nonfinite_step),
    }


def sweep_tables(
    config: SweepConfig, chunks: Mapping[tuple[int, int], Mapping[str, NDArray]]
) -> tuple[Table, Table]:
    """Tidy trajectory and summary tables from the (scheme index, M) chunks.

    Trajectory rows: (scheme, M, learning rate, seed or aggregate seed = -1, step), with
    ``mean_p`` / ``objective`` masked (NaN) after ``diverged_at``; aggregate rows average the
    finite seeds and carry their SE, the earliest ``diverged_at`` and ``diverged_seeds``.
    Summary rows: (scheme, M, learning rate, seed or -1) with ``steps_to_threshold`` (-1 never),
    ``samples_to_threshold`` (steps x M), ``final_mean_p``, ``final_objective``, ``diverged_at``.
    """
    traj: dict[str, list] = {
        k: []
        for k in (
            "scheme",
            "scheme_params",
            "group_size",
            "learning_rate",
            "seed",
            "step",
            "samples",
            "mean_p",
            "mean_p_se",
            "objective",
            "diverged_at",
            "diverged_seeds",
        )
    }
    summ: dict[str, list] = {
        k: []
        for k in (
            "scheme",
            "scheme_params",
            "group_size",
            "learning_rate",
            "seed",
            "steps_to_threshold",
            "samples_to_threshold",
            "final_mean_p",
            "final_objective",
            "diverged_at",
            "diverged_seeds",
        )
    }
    lrs = np.asarray(config.learning_rate, np.float64)  # as configured (runs use float32)
    for (i, m), chunk in chunks.items():
        spec = config.schemes[i]
        label = _label(spec.build())
        params = ",".join(f"{k}={v}" for k, v in spec.params)
        steps = chunk["step"].astype(np.int64)
        div = diverged_steps(chunk["nonfinite_step"], chunk["finite"], steps, chunk["mean_p"])
        masked = (div[..., None] >= 0) & (steps > div[..., None])  # [H, S, R]
        masked |= ~np.isfinite(chunk["mean_p"])
        mean_p = np.where(masked, np.nan, chunk["mean_p"].astype(np.float64))
        objective = np.where(masked, np.nan, chunk["objective"].astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            count = np.sum(~np.isnan(mean_p), axis=1)  # [H, R]
            agg_p = np.where(count > 0, np.nansum(mean_p, 1) / np.maximum(count, 1), np.nan)
            agg_obj = np.where(count > 0, np.nansum(objective, 1) / np.maximum(count, 1), np.nan)
            dev = np.where(np.isnan(mean_p), 0.0, mean_p - agg_p[:, None])
            var = np.sum(dev**2, 1) / np.maximum(count - 1, 1)
            agg_se = np.where(count > 1, np.sqrt(var / np.maximum(count, 1)), np.nan)
        num_seeds = mean_p.shape[1]
        for h, lr in enumerate(lrs):
            div_h = div[h]
            bad = div_h[div_h >= 0]
            rows = [
                (
                    s,
                    mean_p[h, s],
                    objective[h, s],
                    np.full(steps.size, np.nan),
                    int(div_h[s]),
                    int(div_h[s] >= 0),
                )
                for s in range(num_seeds)
            ]
            rows.append(
                (
                    -1,
                    agg_p[h],
                    agg_obj[h],
                    agg_se[h],
                    int(bad.min()) if bad.size else -1,
                    int(bad.size),
                )
            )
            for seed, p_row, obj_row, se_row, d_at, d_n in rows:
                n = steps.size
                traj["scheme"] += [label] * n
                traj["scheme_params"] += [params] * n
                traj["group_size"] += [m] * n
                traj["learning_rate"] += [lr] * n
                traj["seed"] += [seed] * n
                traj["step"] += list(steps)
                traj["samples"] += list(steps * m)
                traj["mean_p"] += list(p_row)
                traj["mean_p_se"] += list(se_row)
                traj["objective"] += list(obj_row)
                traj["diverged_at"] += [d_at] * n
                traj["diverged_seeds"] += [d_n] * n
                reach = int(_first_reach(np.nan_to_num(p_row, nan=-1.0), steps, config.threshold))
                summ["scheme"].append(label)
                summ["scheme_params"].append(params)
                summ["group_size"].append(m)
                summ["learning_rate"].append(lr)
                summ["seed"].append(seed)
                summ["steps_to_threshold"].append(reach)
                summ["samples_to_threshold"].append(reach * m if reach >= 0 else -1)
                summ["final_mean_p"].append(float(p_row[-1]))
                summ["final_objective"].append(float(obj_row[-1]))
                summ["diverged_at"].append(d_at)
                summ["diverged_seeds"].append(d_n)
    return (
        {k: np.asarray(v) for k, v in traj.items()},
        {k: np.asarray(v) for k, v in summ.items()},
    )


def run_sweep(
    config: SweepConfig, out_dir: Path, progress: Progress = None, name: str = "sweep"
) -> Result:
    """Run (or resume) a sweep: one vmapped (lr x seeds) run per (scheme, M) chunk.

    Chunks go through ``chunks.ChunkStore`` in ``out_dir/chunks`` (a rerun with the same config
    skips finished chunks). Writes ``<name>.csv`` (trajectories), ``<name>_summary.csv``,
    ``<name>.png`` (heatmaps per scheme) and ``<name>.json``.
    """
    start = time.perf_counter()
    out_dir = res.check_writable(Path(out_dir), name="out")
    store = ChunkStore(out_dir / "chunks", config)
    jobs = [(i, spec, m) for i, spec in enumerate(config.schemes) for m in config.group_size]
    reused = 0
    chunks = {}
    _tick(progress, 0, len(jobs))
    for done, (i, spec, m) in enumerate(jobs, 1):
        chunk_id = _chunk_id(i, spec, m)
        if store.has(chunk_id):
            reused += 1
        else:
            store.save(chunk_id, _sweep_chunk(config, spec, m))
        chunks[(i, m)] = store.load(chunk_id)
        _tick(progress, done, len(jobs))
    trajectories, summary = sweep_tables(config, chunks)
    res.write_table(out_dir / f"{name}_summary.csv", summary)
    return _finish(
        name,
        config,
        trajectories,
        plotting.fig_sweep(summary, config.threshold, config.budget),
        out_dir,
        start,
        chunks_total=len(jobs),
        chunks_reused=reused,
        summary_table=f"{name}_summary.csv",
    )


def run_sweep_lr_groupsize(config: SweepConfig, out_dir: Path, progress: Progress = None) -> Result:
    return run_sweep(config, out_dir, progress, name="sweep_lr_groupsize")


# ---- registry ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A named experiment: its run function, configs per mode and a one-line description."""

    name: str
    run: Callable[[Any, Path, Progress], Result]
    configs: Mapping[str, Any]
    description: str


_SIM_TINY = SimulationConfig(
    schemes=_specs("grpo"),
    policies=("tabular", "network"),
    num_prompts=4,
    group_size=4,
    steps=20,
    record_every=5,
    seeds=4,
)
_SWEEP_FULL = SweepConfig(
    learning_rate=(0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
    group_size=(2, 4, 8, 16, 32, 64),
    schemes=_specs("reinforce", "rloo", "grpo", "rejection_sampling", ("pass_at_k", {"k": 2})),
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
                    num_prompts=6,
                    schemes=_specs("reinforce", "rejection_sampling"),
                ),
                "quick": SimulationConfig(
                    policies=("tabular",),
                    num_prompts=24,
                    steps=100,
                    seeds=32,
                    learning_rate=0.3,
                    schemes=_specs(
                        "reinforce", "grpo", "rejection_sampling", ("pass_at_k", {"k": 4})
                    ),
                ),
                "full": SimulationConfig(
                    policies=("tabular",),
                    num_prompts=48,
                    steps=100,
                    seeds=256,
                    learning_rate=0.3,
                    schemes=_specs(
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
                    schemes=_specs("grpo"),
                    steps=10,
                    records=5,
                    policy=PolicySpec(num_prompts=4),
                ),
                "quick": SweepConfig(
                    learning_rate=(0.1, 0.3, 1.0, 3.0, 10.0),
                    group_size=(2, 4, 8, 16, 32),
                    schemes=_specs("reinforce", "grpo", "rejection_sampling"),
                    seeds=8,
                    steps=200,
                    records=20,
                ),
                "full": _SWEEP_FULL,
            },
            "steps to mean p >= 0.9 and final objective over lr x M x scheme x seeds",
        ),
    )
}

MODES = ("tiny", "quick", "full")


def run_experiment(name: str, mode: str, out_dir: Path, progress: Progress = None) -> Result:
    """Run ``EXPERIMENTS[name]`` with its ``mode`` config into ``out_dir``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment={name!r} is invalid: must be one of {', '.join(EXPERIMENTS)}")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is invalid: must be one of {', '.join(MODES)}")
    exp = EXPERIMENTS[name]
    return exp.run(exp.configs[mode], Path(out_dir), progress)


def script_main(name: str, config: Any, argv: list[str] | None = None) -> int:
    """Entry point of the thin ``experiments/*.py`` scripts: run ``config`` (or a registry mode).

    ``python experiments/<name>.py [--mode tiny|quick|full] [--out DIR]``; without ``--mode`` the
    script's own config literal runs.
    """
    import argparse

    parser = argparse.ArgumentParser(prog=name, description=EXPERIMENTS[name].description)
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="use the registry config instead of the script's literal",
    )
    parser.add_argument("--out", default=f"results/{name}", help="output directory")
    args = parser.parse_args(argv)
    exp = EXPERIMENTS[name]
    result = exp.run(exp.configs[args.mode] if args.mode else config, Path(args.out), None)
    print(f"{name}: {result.wall_time_s:.1f}s -> " + ", ".join(map(str, result.paths.values())))
    return 0
