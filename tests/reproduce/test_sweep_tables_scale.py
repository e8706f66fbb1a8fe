"""The table and figure stage of a sweep is linear in its rows (issue 26, item 4).

``sweep_tables`` builds whole arrays; it equals the row-by-row reference (the 0.4 loop, kept
here) bit for bit, masked, diverged and PPO columns included. ``write_table`` streams the CSV in
blocks (bounded memory); ``fig_sweep`` labels at most ``MAX_ANNOTATED_CELLS`` cells and
``MAX_TICKS`` learning rates, so 20,000 learning rates take seconds (0.4.1: 200,000 took over
20 minutes at 15 GB; now ~1 minute and 1.2 GB end to end, README).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from rlxform.core import schemes
from rlxform.plotting import fig_sweep
from rlxform.plotting.simulation import MAX_ANNOTATED_CELLS, MAX_TICKS
from rlxform.reproduce.sweep_config import SWEEP_SIM, SweepConfig
from rlxform.reproduce.sweep_tables import (
    SUMMARY_COLUMNS,
    TRAJECTORY_COLUMNS,
    _first_reach,
    diverged_steps,
    extra_columns,
    scheme_params,
    sweep_tables,
)
from rlxform.results import read_table, tables, write_table
from rlxform.sim.hparams import HParams


def reference_tables(config, chunks):
    """The 0.4 row-by-row construction (Python lists), the reference of ``sweep_tables``."""
    extra = extra_columns(config)
    traj = {k: [] for k in TRAJECTORY_COLUMNS + extra}
    summ = {k: [] for k in SUMMARY_COLUMNS}
    lrs = np.asarray(config.hparams.learning_rate, np.float64)
    for (i, m), chunk in chunks.items():
        scheme = config.schemes[i]
        label, params = scheme.label, scheme_params(scheme)
        steps = chunk["step"].astype(np.int64)
        div = diverged_steps(chunk["nonfinite_step"], chunk["finite"], steps, chunk["mean_p"])
        masked = (div[..., None] >= 0) & (steps > div[..., None])
        masked |= ~np.isfinite(chunk["mean_p"])
        mean_p = np.where(masked, np.nan, chunk["mean_p"].astype(np.float64))
        objective = np.where(masked, np.nan, chunk["objective"].astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            count = np.sum(~np.isnan(mean_p), axis=1)
            agg_p = np.where(count > 0, np.nansum(mean_p, 1) / np.maximum(count, 1), np.nan)
            agg_obj = np.where(count > 0, np.nansum(objective, 1) / np.maximum(count, 1), np.nan)
            dev = np.where(np.isnan(mean_p), 0.0, mean_p - agg_p[:, None])
            var = np.sum(dev**2, 1) / np.maximum(count - 1, 1)
            agg_se = np.where(count > 1, np.sqrt(var / np.maximum(count, 1)), np.nan)
        per_run = {k: np.where(masked, np.nan, chunk[k].astype(np.float64)) for k in extra}
        with np.errstate(invalid="ignore", divide="ignore"):
            extra_agg = {k: np.nansum(v, 1) / np.sum(~np.isnan(v), 1) for k, v in per_run.items()}
        for h, lr in enumerate(lrs):
            div_h = div[h]
            bad = div_h[div_h >= 0]
            nan_row = np.full(steps.size, np.nan)
            rows = [
                (s, mean_p[h, s], objective[h, s], nan_row, int(div_h[s]), int(div_h[s] >= 0))
                for s in range(mean_p.shape[1])
            ]
            first = int(bad.min()) if bad.size else -1
            rows.append((-1, agg_p[h], agg_obj[h], agg_se[h], first, int(bad.size)))
            for seed, p_row, obj_row, se_row, d_at, d_n in rows:
                n = steps.size
                for key, value in (
                    ("scheme", [label] * n),
                    ("scheme_params", [params] * n),
                    ("group_size", [m] * n),
                    ("learning_rate", [lr] * n),
                    ("seed", [seed] * n),
                    ("step", list(steps)),
                    ("samples", list(steps * m)),
                    ("mean_p", list(p_row)),
                    ("mean_p_se", list(se_row)),
                    ("objective", list(obj_row)),
                    ("diverged_at", [d_at] * n),
                    ("diverged_seeds", [d_n] * n),
                ):
                    traj[key] += value
                for k in extra:
                    traj[k] += list(per_run[k][h, seed] if seed >= 0 else extra_agg[k][h])
                reach = int(_first_reach(np.nan_to_num(p_row, nan=-1.0), steps, config.threshold))
                for key, value in (
                    ("scheme", label),
                    ("scheme_params", params),
                    ("group_size", m),
                    ("learning_rate", lr),
                    ("seed", seed),
                    ("steps_to_threshold", reach),
                    ("samples_to_threshold", reach * m if reach >= 0 else -1),
                    ("final_mean_p", float(p_row[-1])),
                    ("final_objective", float(obj_row[-1])),
                    ("diverged_at", d_at),
                    ("diverged_seeds", d_n),
                ):
                    summ[key].append(value)
    return {k: np.asarray(v) for k, v in traj.items()}, {k: np.asarray(v) for k, v in summ.items()}


def _config(num_lrs: int, seeds: int, records: int, ppo: bool = False) -> SweepConfig:
    sim = dataclasses.replace(SWEEP_SIM, num_steps=records)
    if ppo:
        sim = dataclasses.replace(sim, ppo_epochs=2)
    lrs = tuple(float(v) for v in np.geomspace(0.01, 10.0, num_lrs))
    grpo = schemes.grpo(std="sample", eps=1e-6)
    return SweepConfig(
        sim, HParams(lrs), (2, 4), (schemes.reinforce(), grpo), seeds, records=records
    )


def _chunks(config: SweepConfig, seed: int = 0):
    """Random records with divergences (a run non-finite from some step), NaN and -0.0."""
    rng = np.random.default_rng(seed)
    num_lrs, num_seeds = len(config.learning_rate), config.seeds
    records = config.records + 1
    out = {}
    for i in range(len(config.schemes)):
        for m in config.group_size:
            shape = (num_lrs, num_seeds, records)
            mean_p = rng.random(shape).astype(np.float32)
            mean_p[0, 0, 0] = -0.0
            finite = np.ones(shape, bool)
            nonfinite = np.full(shape[:2], -1, np.int32)
            dead = rng.random(shape[:2]) < 0.2
            nonfinite[dead] = rng.integers(0, records, dead.sum())
            finite[rng.random(shape) < 0.05] = False
            mean_p[rng.random(shape) < 0.05] = np.nan
            chunk = {
                "step": np.arange(records) * 2,
                "mean_p": mean_p,
                "objective": rng.standard_normal(shape).astype(np.float32),
                "finite": finite,
                "nonfinite_step": nonfinite,
            }
            for k in extra_columns(config):
                chunk[k] = rng.random(shape).astype(np.float32)
            out[(i, m)] = chunk
    return out


@pytest.mark.parametrize("ppo", [False, True])
def test_whole_array_tables_equal_the_row_loop(ppo, tmp_path):
    config = _config(5, 3, 4, ppo)
    chunks = _chunks(config)
    got, want = sweep_tables(config, chunks), reference_tables(config, chunks)
    for name, table, expected in zip(("traj", "summ"), got, want, strict=True):
        assert list(table) == list(expected)
        for key in expected:  # the label columns hold str objects (8 bytes a row), not '<U'
            kinds = {table[key].dtype.kind, expected[key].dtype.kind}
            assert len(kinds) == 1 or kinds == {"O", "U"}, key
        write_table(tmp_path / f"{name}.csv", table)  # repr: bit for bit, NaN and -0.0 included
        write_table(tmp_path / f"{name}_ref.csv", expected)
        assert (tmp_path / f"{name}.csv").read_bytes() == (
            tmp_path / f"{name}_ref.csv"
        ).read_bytes()
    first_row = (tmp_path / "traj.csv").read_text().splitlines()[1]
    assert ",-0.0," in first_row and "nan" in (tmp_path / "traj.csv").read_text()


def test_write_table_streams_in_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "_BLOCK_ROWS", 7)
    blocks = []
    real = tables._csv_blocks
    monkeypatch.setattr(
        tables, "_csv_blocks", lambda cols: (blocks.append(b) or b for b in real(cols))
    )
    columns = {"x": np.linspace(0, 1, 30), "s": np.array(["a,b", 'q"'] * 15), "i": np.arange(30)}
    write_table(tmp_path / "t.csv", columns)
    assert len(blocks) == 1 + 5 and max(len(b) for b in blocks) < 400  # header + 30 / 7 rows
    back = read_table(tmp_path / "t.csv")
    np.testing.assert_array_equal(back["x"], columns["x"])
    assert back["s"].tolist() == columns["s"].tolist()


def test_figure_of_many_learning_rates_is_bounded_and_quick():
    config = _config(20_000, 1, 2)
    chunks = _chunks(config)
    start = time.perf_counter()
    _, summary = sweep_tables(config, chunks)
    fig = fig_sweep(summary, config.threshold)
    elapsed = time.perf_counter() - start
    ax = fig.axes[0]
    assert len(ax.get_yticks()) <= MAX_TICKS and not ax.texts  # 40,000 cells: colours only
    assert 20_000 * 2 > MAX_ANNOTATED_CELLS
    assert elapsed < 15, elapsed  # 0.4.1: 2,000 learning rates took a minute to draw
    small = fig_sweep(sweep_tables(_config(3, 1, 2), _chunks(_config(3, 1, 2)))[1])
    assert len(small.axes[0].texts) == 3 * 2  # a small grid keeps its labels
