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
    for framework schemes; a custom scheme's function is named by its label)."""
    try:
        defaults = dict(schemes_lib.get(scheme.name).params)
    except ValueError:  # not a catalog name (verl, designed, ...)
        defaults = {}
    missing = object()
    shown = [
        (k, v)
        for k, v in scheme.params
        if k not in ("fn", "coefficients") and defaults.get(k, missing) != v
    ]
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
        scheme = config.schemes[i]
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
