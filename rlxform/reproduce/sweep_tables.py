"""A sweep's tables: tidy trajectories and per-run summaries from its (scheme, M) chunks.

``sweep_tables(config, chunks)`` turns each chunk's ``[H, S, R]`` records into rows (scheme, M,
learning rate, seed or aggregate seed = -1, step): values after a run's first non-finite step
are masked (NaN), aggregates average the finite seeds, and the summary gives the steps and
samples to the threshold. Pure NumPy: no simulation, no files (``sweep_runner`` writes them).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rlxform.core import schemes as schemes_lib
from rlxform.core.schemes import Scheme
from rlxform.reproduce.sweep_config import SweepConfig
from rlxform.results import Table
from rlxform.types import NDArray

_KEYS = "scheme scheme_params group_size learning_rate seed"
TRAJECTORY_COLUMNS = tuple(
    f"{_KEYS} step samples mean_p mean_p_se objective diverged_at diverged_seeds".split()
)
LENGTH_COLUMNS = ("mean_length_correct", "mean_length_wrong")  # sequence policies only
PPO_COLUMNS = ("clip_fraction",)  # PPO (E x N > 1) or a loss mode only
SUMMARY_COLUMNS = tuple(
    f"{_KEYS} steps_to_threshold samples_to_threshold final_mean_p final_objective "
    "diverged_at diverged_seeds".split()
)


def scheme_params(scheme: Scheme) -> str:
    """``k=v,...``: the scheme's parameters that differ from its catalog defaults (all of them
    for framework schemes; a custom scheme's function as ``fn=module:function``)."""
    from rlxform.frameworks.schemes import custom_code

    try:
        defaults = dict(schemes_lib.get(scheme.name).params)
    except (ValueError, TypeError):  # not a catalog name (verl, designed), or custom (needs fn)
        defaults = {}
    missing = object()
    shown = [
        (k, v)
        for k, v in scheme.params
        if k not in ("fn", "coefficients") and defaults.get(k, missing) != v
    ]
    shown += [("fn", name) for name in custom_code([scheme])]
    return ",".join(f"{k}={v}" for k, v in shown)


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


def extra_columns(config: SweepConfig) -> tuple[str, ...]:
    """Per-run trajectory columns beyond ``TRAJECTORY_COLUMNS``: E[L | correct] and
    E[L | wrong] for sequence policies, PPO's ``clip_fraction`` (E x N > 1 or a loss mode)."""
    lengths = LENGTH_COLUMNS if config.problem.is_sequence else ()
    return lengths + (PPO_COLUMNS if config.sim.ppo_step else ())


def sweep_tables(
    config: SweepConfig, chunks: Mapping[tuple[int, int], Mapping[str, NDArray]]
) -> tuple[Table, Table]:
    """Tidy trajectory and summary tables from the (scheme index, M) chunks.

    Trajectory rows: (scheme, M, learning rate, seed or aggregate seed = -1, step), with
    ``mean_p`` / ``objective`` masked (NaN) after ``diverged_at``; aggregate rows average the
    finite seeds and carry their SE, the earliest ``diverged_at`` and ``diverged_seeds``.
    Sequence policies add ``mean_length_correct`` / ``mean_length_wrong`` (exact E[L | correct]
    and E[L | wrong] of each run's policy), PPO (E x N > 1, or a loss mode) adds
    ``clip_fraction`` (the share of samples whose gradient the clip zeroed, over the updates
    since the previous record); both
    masked alike, aggregate =
    finite-seed mean.
    Summary rows: (scheme, M, learning rate, seed or -1) with ``steps_to_threshold`` (-1 never),
    ``samples_to_threshold`` (steps x M), ``final_mean_p``, ``final_objective``, ``diverged_at``.
    """
    extra = extra_columns(config)
    traj: dict[str, list] = {k: [] for k in TRAJECTORY_COLUMNS + extra}
    summ: dict[str, list] = {k: [] for k in SUMMARY_COLUMNS}
    lrs = np.asarray(config.hparams.learning_rate, np.float64)  # as configured (runs use float32)
    for (i, m), chunk in chunks.items():
        block_traj, block_summ = _block_tables(config, i, m, chunk, lrs, extra)
        for k, v in block_traj.items():
            traj[k].append(v)
        for k, v in block_summ.items():
            summ[k].append(v)
    return (
        {k: np.concatenate(v) if v else np.asarray([]) for k, v in traj.items()},
        {k: np.concatenate(v) if v else np.asarray([]) for k, v in summ.items()},
    )


def _block_tables(
    config: SweepConfig,
    scheme_index: int,
    m: int,
    chunk: Mapping[str, NDArray],
    lrs: NDArray,
    extra: tuple[str, ...],
) -> tuple[dict[str, NDArray], dict[str, NDArray]]:
    """One (scheme, M) block's rows, in the order (learning rate, seed 0..S-1 then -1, step).

    Whole-array NumPy: time and memory linear in the rows (H (S + 1) R), a few arrays of them.
    """
    scheme = config.schemes[scheme_index]
    label, params = scheme.label, scheme_params(scheme)
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
    num_lrs, num_seeds = mean_p.shape[:2]
    n = steps.size
    # per (learning rate, seed row): the S seeds, then the aggregate row (seed -1)
    bad = div >= 0
    first_bad = np.where(bad, div, np.iinfo(np.int64).max).min(axis=1)
    agg_div = np.where(bad.any(axis=1), first_bad, -1)
    seed_ids = np.append(np.arange(num_seeds), -1)  # [S + 1]
    rows_div = np.concatenate([div, agg_div[:, None]], axis=1)  # [H, S + 1]
    rows_n = np.concatenate([bad.astype(np.int64), bad.sum(1, keepdims=True)], axis=1)
    rows_p = np.concatenate([mean_p, agg_p[:, None]], axis=1)  # [H, S + 1, R]
    rows_obj = np.concatenate([objective, agg_obj[:, None]], axis=1)
    rows_se = np.concatenate([np.full(mean_p.shape, np.nan), agg_se[:, None]], axis=1)
    num_rows = num_lrs * (num_seeds + 1)

    def per_row(values: NDArray) -> NDArray:  # [H, S + 1] -> one value per table row
        return np.repeat(np.asarray(values).reshape(num_rows), n)

    traj = {
        "scheme": np.full(num_rows * n, label, dtype=object),  # one str object, 8 bytes a row
        "scheme_params": np.full(num_rows * n, params, dtype=object),
        "group_size": np.full(num_rows * n, m, np.int64),
        "learning_rate": np.repeat(lrs, (num_seeds + 1) * n),
        "seed": np.tile(np.repeat(seed_ids, n), num_lrs).astype(np.int64),
        "step": np.tile(steps, num_rows),
        "samples": np.tile(steps * m, num_rows),
        "mean_p": rows_p.reshape(-1),
        "mean_p_se": rows_se.reshape(-1),
        "objective": rows_obj.reshape(-1),
        "diverged_at": per_row(rows_div).astype(np.int64),
        "diverged_seeds": per_row(rows_n).astype(np.int64),
    }
    for k in extra:
        traj[k] = np.concatenate([per_run[k], extra_agg[k][:, None]], axis=1).reshape(-1)
    reach = _first_reach(np.nan_to_num(rows_p, nan=-1.0), steps, config.threshold)
    reach = np.asarray(reach, np.int64).reshape(num_rows)
    summ = {
        "scheme": np.full(num_rows, label, dtype=object),
        "scheme_params": np.full(num_rows, params, dtype=object),
        "group_size": np.full(num_rows, m, np.int64),
        "learning_rate": np.repeat(lrs, num_seeds + 1),
        "seed": np.tile(seed_ids, num_lrs).astype(np.int64),
        "steps_to_threshold": reach,
        "samples_to_threshold": np.where(reach >= 0, reach * m, -1),
        "final_mean_p": rows_p[..., -1].reshape(-1),
        "final_objective": rows_obj[..., -1].reshape(-1),
        "diverged_at": rows_div.reshape(-1).astype(np.int64),
        "diverged_seeds": rows_n.reshape(-1).astype(np.int64),
    }
    return traj, summ
