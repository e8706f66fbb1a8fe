"""The learning-rate x group-size sweep: ``run_sweep(SweepConfig, out_dir) -> results.Result``.

One vmapped (learning rate x seeds) simulator run per (scheme, M) chunk, stored and resumed
through ``chunks.ChunkStore``; ``sweep_tables`` turns the chunks into tidy trajectory and
summary tables (divergence masked, steps to threshold). Used by ``rlxform sweep`` and the
``sweep_lr_groupsize`` experiment. Integer seeds become keys here (``jax.random.key(seed)``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from rlxform import plotting, resources
from rlxform.results import (
    FigureFormat,
    Progress,
    Result,
    Table,
    check_writable,
    report_progress,
    save_result,
    write_table,
)
from rlxform.results.chunks import ChunkStore, run_chunks
from rlxform.sim.sweep_config import SchemeSpec, SweepConfig
from rlxform.types import NDArray

_FLOAT32 = 4
_KEYS = "scheme scheme_params group_size learning_rate seed"
TRAJECTORY_COLUMNS = tuple(
    f"{_KEYS} step samples mean_p mean_p_se objective diverged_at diverged_seeds".split()
)
LENGTH_COLUMNS = ("mean_length_correct", "mean_length_wrong")  # sequence policies only
PPO_COLUMNS = ("clip_fraction",)  # PPO (E x N > 1) only
SUMMARY_COLUMNS = tuple(
    f"{_KEYS} steps_to_threshold samples_to_threshold final_mean_p final_objective "
    "diverged_at diverged_seeds".split()
)


@functools.lru_cache(maxsize=128)
def compiled_sweep(cfg: Any, kind: str):
    """``sweeps.make_sweep`` (kind "sweep") or ``make_exact_sweep``, cached per static config.

    With several local devices the (learning rate, seed) grid is sharded over all of them
    (``sharding.make_sharded_sweep``); each run stays on one device, so results are unchanged
    up to float32 rounding.
    """
    from rlxform.sim import sharding, sweeps

    if kind != "sweep":
        return sweeps.make_exact_sweep(cfg)
    if jax.local_device_count() == 1:
        return sweeps.make_sweep(cfg)
    sharded = sharding.make_sharded_sweep(cfg)  # every local device; same results to rounding

    def sweep(hparams, keys):
        flat = sharding.flatten_grid(hparams, keys)
        num_h = int(np.shape(hparams.learning_rate)[0])
        return sharding.unflatten(sharded(*flat), num_h, int(keys.shape[0]))

    return sweep


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


def sweep_sim_configs(config: SweepConfig) -> list:
    """The SimConfig of every (scheme, M) chunk, in chunk order, after the memory guard.

    Raises ValueError (one line) for a config the simulator rejects or that needs more memory
    than the budget (``check_sweep_memory``); call it before writing anything.
    """
    cfgs = [config.sim_config(spec, m) for spec in config.schemes for m in config.group_size]
    check_sweep_memory(config, cfgs)
    return cfgs


def check_sweep_memory(config: SweepConfig, cfgs: list) -> int:
    """Refuse (ValueError, one line) a sweep whose estimated memory exceeds the budget.

    Counts the largest chunk's vmapped run, every chunk's kept records (mean p, objective,
    finite) and the table rows (~150 bytes each as Python lists); returns the estimate in bytes.
    """
    runs = len(config.learning_rate) * config.seeds
    held = sum(3 * _FLOAT32 * runs * c.num_records for c in cfgs)  # mean_p, objective, finite
    rows = sum(len(config.learning_rate) * (config.seeds + 1) * c.num_records for c in cfgs)
    largest = max(resources.simulation_bytes(c, runs) for c in cfgs)
    what = (
        f"sweep (learning rates x seeds = {runs} runs per chunk, {len(cfgs)} chunks, "
        f"num_prompts={config.problem.num_prompts}, hidden={config.problem.hidden})"
    )
    return resources.check_memory(what, largest + held + 150 * rows)


def _sweep_chunk(config: SweepConfig, cfg) -> dict[str, NDArray]:
    from rlxform.sim.config import HParams

    hparams = HParams(np.asarray(config.learning_rate, np.float32), None)
    repeated = config.clip | ({} if config.kl_coef is None else {"kl_coef": config.kl_coef})
    hparams = hparams._replace(  # scalars repeated over the learning rates
        **{k: np.full(len(config.learning_rate), v, np.float32) for k, v in repeated.items()}
    )
    keys = jax.random.split(jax.random.key(config.seed), config.seeds)
    metrics = jax.device_get(compiled_sweep(cfg, "sweep")(hparams, keys))
    names = ("mean_p", "objective", "finite", "nonfinite_step", *extra_columns(config))
    return {"step": np.asarray(metrics.step[0, 0])} | {
        name: np.asarray(getattr(metrics, name)) for name in names
    }


def extra_columns(config: SweepConfig) -> tuple[str, ...]:
    """Per-run trajectory columns beyond ``TRAJECTORY_COLUMNS``: E[L | correct] and
    E[L | wrong] for sequence policies, PPO's ``clip_fraction`` when E x N > 1."""
    lengths = LENGTH_COLUMNS if config.problem.is_sequence else ()
    return lengths + (PPO_COLUMNS if config.ppo_epochs * config.num_minibatches > 1 else ())


def sweep_tables(
    config: SweepConfig, chunks: Mapping[tuple[int, int], Mapping[str, NDArray]]
) -> tuple[Table, Table]:
    """Tidy trajectory and summary tables from the (scheme index, M) chunks.

    Trajectory rows: (scheme, M, learning rate, seed or aggregate seed = -1, step), with
    ``mean_p`` / ``objective`` masked (NaN) after ``diverged_at``; aggregate rows average the
    finite seeds and carry their SE, the earliest ``diverged_at`` and ``diverged_seeds``.
    Sequence policies add ``mean_length_correct`` / ``mean_length_wrong`` (exact E[L | correct]
    and E[L | wrong] of each run's policy), PPO (E x N > 1) adds ``clip_fraction`` (the share of
    samples whose gradient the clip zeroed, over the updates since the previous record); both
    masked alike, aggregate =
    finite-seed mean.
    Summary rows: (scheme, M, learning rate, seed or -1) with ``steps_to_threshold`` (-1 never),
    ``samples_to_threshold`` (steps x M), ``final_mean_p``, ``final_objective``, ``diverged_at``.
    """
    extra = extra_columns(config)
    traj: dict[str, list] = {k: [] for k in TRAJECTORY_COLUMNS + extra}
    summ: dict[str, list] = {k: [] for k in SUMMARY_COLUMNS}
    lrs = np.asarray(config.learning_rate, np.float64)  # as configured (runs use float32)
    for (i, m), chunk in chunks.items():
        spec = config.schemes[i]
        label = spec.build().label
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
        per_run = {k: np.where(masked, np.nan, chunk[k].astype(np.float64)) for k in extra}
        with np.errstate(invalid="ignore", divide="ignore"):
            extra_agg = {  # seed mean over the finite seeds, [H, R]
                k: np.nansum(v, 1) / np.sum(~np.isnan(v), 1) for k, v in per_run.items()
            }
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
                for k in extra:
                    traj[k] += list(per_run[k][h, seed] if seed >= 0 else extra_agg[k][h])
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
    config: SweepConfig,
    out_dir: Path,
    progress: Progress = None,
    name: str = "sweep",
    figure: FigureFormat | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
) -> Result | None:
    """Run (or resume) a sweep: one vmapped (lr x seeds) run per (scheme, M) chunk.

    Chunks go through ``chunks.run_chunks`` into ``out_dir/chunks`` (a rerun with the same
    config skips finished chunks); each chunk's (lr x seeds) grid is sharded over the local
    devices. Multi-host: process i of n (default ``jax.process_index()`` / ``process_count()``)
    computes chunks i, i + n, ... into a shared ``out_dir``; the process that finds every chunk
    on disk writes the tables, the others return None. Writes ``<name>.csv`` (trajectories),
    ``<name>_summary.csv``, ``<name>.<format>`` (heatmaps per scheme) and ``<name>.json``.
    """
    start = time.perf_counter()
    jobs = [(i, m) for i in range(len(config.schemes)) for m in config.group_size]
    cfgs = sweep_sim_configs(config)  # validated and sized before anything is written
    out_dir = check_writable(Path(out_dir), name="out")
    store = ChunkStore(out_dir / "chunks", config)
    ids = [_chunk_id(i, config.schemes[i], m) for i, m in jobs]
    index = jax.process_index() if process_index is None else process_index
    count = jax.process_count() if process_count is None else process_count
    owned = len(range(index, len(jobs), count))
    reused = []

    def on_chunk(_: int, was_reused: bool) -> None:
        reused.append(was_reused)
        report_progress(progress, len(reused), owned)

    report_progress(progress, 0, owned)
    loaded = run_chunks(store, ids, lambda k: _sweep_chunk(config, cfgs[k]), index, count, on_chunk)
    if loaded is None:
        return None
    chunks = dict(zip(jobs, loaded, strict=True))
    trajectories, summary = sweep_tables(config, chunks)
    write_table(out_dir / f"{name}_summary.csv", summary)
    return save_result(
        name,
        config,
        trajectories,
        plotting.fig_sweep(summary, config.threshold, config.budget),
        out_dir,
        start,
        figure,
        chunks_total=len(jobs),
        chunks_reused=sum(reused),
        summary_table=f"{name}_summary.csv",
    )


def run_sweep_lr_groupsize(
    config: SweepConfig,
    out_dir: Path,
    progress: Progress = None,
    figure: FigureFormat | None = None,
) -> Result:
    return run_sweep(config, out_dir, progress, name="sweep_lr_groupsize", figure=figure)
