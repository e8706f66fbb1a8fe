"""Run (or resume) a sweep: ``run_sweep(SweepConfig, out_dir) -> results.Result``.

The one chunked runner of ``rlxform sweep`` and the Python API. Each (scheme, M) of the grid
is one vmapped (learning rate x seeds) run of ``sweeps.make_sweep`` over every local device (or,
with ``chunk_size``, parts of its flat run list), stored and resumed through
``chunks.ChunkStore`` (bound to the config's hash); ``sweep_tables`` turns the chunks into the
tables. Several processes (``initialize_distributed``) share the chunks: process i of n computes
chunks i, i + n, ...; the one that finds every chunk on disk writes the tables. Integer seeds
become keys here (``jax.random.key(seed)``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from rlxform import resources
from rlxform.core import schemes
from rlxform.frameworks.schemes import custom_code
from rlxform.reproduce.runner import experiment, local_sweep
from rlxform.reproduce.sweep_config import SweepConfig, sweep_problem
from rlxform.reproduce.sweep_tables import extra_columns, sweep_tables
from rlxform.results import (
    FigureFormat,
    Progress,
    Result,
    check_writable,
    report_progress,
    save_result,
    write_table,
)
from rlxform.results.binding import summarize
from rlxform.results.chunks import ChunkStore, run_chunks
from rlxform.sim import sweeps
from rlxform.sim.config import SimConfig
from rlxform.sim.hparams import HParams
from rlxform.types import NDArray
from rlxform.validation import InputError, check_int

_FLOAT32 = 4
TABLE_ROW_BYTES = 256  # peak bytes per trajectory row while the tables are built (measured ~250)


class Chunk(NamedTuple):
    """One chunk file: runs ``part * size`` .. of the (scheme, M) grid's flat H x S run list."""

    scheme: int
    group_size: int
    part: int
    parts: int
    size: int

    def chunk_id(self, config: SweepConfig) -> str:
        """``000-grpo-M8`` (a file name: the scheme's registry name, never a ``:`` name), with
        ``-part00001`` when the block is cut into parts."""
        base = f"{self.scheme:03d}-{config.schemes[self.scheme].name}-M{self.group_size}"
        return base if self.parts == 1 else f"{base}-part{self.part:05d}"


def sweep_chunks(config: SweepConfig) -> list[Chunk]:
    """Every chunk of the sweep in order: (scheme, M) blocks, each in ``parts`` parts."""
    runs = len(config.hparams.learning_rate) * config.seeds
    size = min(config.chunk_size or runs, runs)
    parts = -(-runs // size)
    return [
        Chunk(i, m, part, parts, size)
        for i in range(len(config.schemes))
        for m in config.group_size
        for part in range(parts)
    ]


def sweep_sim_configs(config: SweepConfig) -> list[SimConfig]:
    """The SimConfig of every (scheme, M) block, in order, after the memory guard.

    Raises ValueError (one line) for a sweep that needs more memory than the budget
    (``check_sweep_memory``); call it before writing anything.
    """
    cfgs = [config.sim_config(scheme, m) for scheme in config.schemes for m in config.group_size]
    check_sweep_memory(config, cfgs)
    return cfgs


def check_sweep_memory(config: SweepConfig, cfgs: list[SimConfig]) -> int:
    """Refuse (ValueError, one line) a sweep whose estimated memory exceeds the budget.

    Counts the largest chunk's vmapped run, every chunk's kept records (mean p, objective,
    finite) and the table rows (``TABLE_ROW_BYTES`` each: the columns as arrays and the
    whole-array steps that build them; the CSV is streamed in blocks); returns the estimate.
    """
    num_lrs = len(config.hparams.learning_rate)
    runs = num_lrs * config.seeds
    per_chunk = sweep_chunks(config)[0].size
    held = sum(3 * _FLOAT32 * runs * c.num_records for c in cfgs)  # mean_p, objective, finite
    rows = sum(num_lrs * (config.seeds + 1) * c.num_records for c in cfgs)
    largest = max(cfgs, key=lambda c: resources.simulation_bytes(c, per_chunk))
    terms = resources.run_terms(largest, per_chunk)  # the largest chunk's runs, held at once
    terms[f"records of every chunk ({len(cfgs)} blocks of {runs} runs)"] = held
    terms[f"table rows ({rows:,} = learning rates x (seeds + 1) x records)"] = (
        TABLE_ROW_BYTES * rows
    )
    names = {"num_steps": "steps"}
    detail = f"learning rates x seeds = {runs} runs, {per_chunk} per chunk, {len(cfgs)} blocks"
    return resources.check_terms("sweep", terms, detail, names=names)


def _hparams_and_keys(config: SweepConfig):
    """The traced grid (``HParams`` float32[H]) and the S run keys every chunk shares."""
    keys = jax.random.split(jax.random.key(config.seed), config.seeds)
    return sweeps.broadcast(config.hparams), keys


def _compute(config: SweepConfig, cfg: SimConfig, chunk: Chunk) -> dict[str, NDArray]:
    """The chunk's records: ``step`` [R] and per run [H, S, R] (or [runs of the part, R])."""
    hparams, keys = _hparams_and_keys(config)
    sweep = local_sweep(cfg)
    if chunk.parts == 1:
        metrics = sweep(hparams, keys)
    else:
        flat_hparams, flat_keys = sweeps.flatten_grid(hparams, keys)
        part = slice(chunk.part * chunk.size, (chunk.part + 1) * chunk.size)
        flat = jax.tree_util.tree_map(lambda x: x[part], (flat_hparams, flat_keys))
        metrics = sweep.runs(*flat)
    metrics = jax.device_get(metrics)
    names = ("mean_p", "objective", "finite", "nonfinite_step", *extra_columns(config))
    step = np.asarray(metrics.step).reshape(-1, metrics.step.shape[-1])[0]
    return {"step": step} | {name: np.asarray(getattr(metrics, name)) for name in names}


def _assemble(config: SweepConfig, parts: list[dict[str, NDArray]]) -> dict[str, NDArray]:
    """The (scheme, M) block's records from its parts: every run array [H, S, R]."""
    if len(parts) == 1:
        return parts[0]
    shape = (len(config.hparams.learning_rate), config.seeds)
    joined = {"step": parts[0]["step"]}
    for name in parts[0]:
        if name != "step":
            values = np.concatenate([part[name] for part in parts])
            joined[name] = values.reshape(*shape, *values.shape[1:])
    return joined


def run_sweep(
    config: SweepConfig,
    out_dir: Path,
    progress: Progress = None,
    figure: FigureFormat | None = None,
    *,
    name: str = "sweep",
    process_index: int | None = None,
    process_count: int | None = None,
    strict_devices: bool = False,
) -> Result | None:
    """Run (or resume) a sweep: one vmapped (lr x seeds) run per (scheme, M) chunk.

    Chunks go through ``chunks.run_chunks`` into ``out_dir/chunks`` (a rerun with the same
    config skips finished chunks; a chunk of another config or another rlxform layout is never
    read); each chunk's runs are sharded over the local devices. Multi-host: process i of n
    (default ``jax.process_index()`` / ``process_count()``) computes chunks i, i + n, ... into a
    shared ``out_dir``; the process that finds every chunk on disk writes the tables, the others
    return None. Writes ``<name>.csv`` (trajectories), ``<name>_summary.csv``, ``<name>.<format>``
    (heatmaps per scheme) and ``<name>.json``.

    The chunks are bound to the process's PRNG and devices (``runtime.run_binding``): resuming
    ``out_dir`` under another PRNG raises ValueError naming both (give a fresh ``out_dir`` to
    compute it again), under another device count or kind warns (``DeviceChangeWarning``;
    ``strict_devices=True`` raises). ``<name>.json`` records the PRNG, this run's devices and
    ``chunk_bindings`` (which devices computed how many chunks).
    """
    from rlxform import plotting, runtime

    start = time.perf_counter()
    cfgs = sweep_sim_configs(config)  # validated and sized before anything is written
    blocks = [(i, m) for i in range(len(config.schemes)) for m in config.group_size]
    chunks = sweep_chunks(config)
    out_dir = check_writable(Path(out_dir), name="out")
    store = ChunkStore(out_dir / "chunks", config, runtime.run_binding(), strict_devices)
    index = jax.process_index() if process_index is None else process_index
    count = jax.process_count() if process_count is None else process_count
    owned = len(range(index, len(chunks), count))
    reused = []

    def on_chunk(_: int, was_reused: bool) -> None:
        reused.append(was_reused)
        report_progress(progress, len(reused), owned)

    def compute(k: int) -> dict[str, NDArray]:
        chunk = chunks[k]
        block = blocks.index((chunk.scheme, chunk.group_size))
        return _compute(config, cfgs[block], chunk)

    report_progress(progress, 0, owned)
    ids = [chunk.chunk_id(config) for chunk in chunks]
    loaded = run_chunks(store, ids, compute, index, count, on_chunk)
    if loaded is None:
        return None
    parts = chunks[0].parts
    records = {
        block: _assemble(config, loaded[b * parts : (b + 1) * parts])
        for b, block in enumerate(blocks)
    }
    trajectories, summary = sweep_tables(config, records)
    write_table(out_dir / f"{name}_summary.csv", summary)
    return save_result(
        name,
        config,
        trajectories,
        plotting.fig_sweep(summary, config.threshold, config.budget),
        out_dir,
        start,
        figure,
        chunks_total=len(chunks),
        chunks_reused=sum(reused),
        chunk_bindings=summarize(store.bindings(ids)),
        custom_code=custom_code(config.schemes),
        summary_table=f"{name}_summary.csv",
    )


def initialize_distributed(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> tuple[int, int]:
    """``jax.distributed.initialize`` from arguments or env vars; returns (index, count).

    Arguments left None fall back to ``RLXFORM_COORDINATOR`` (host:port of process 0),
    ``RLXFORM_NUM_PROCESSES`` and ``RLXFORM_PROCESS_ID``; with none of them set (and no
    cluster JAX detects by itself, e.g. SLURM), this is a single-process run and nothing is
    initialised. Call before any other JAX work.
    """
    env = os.environ
    coordinator = coordinator or env.get("RLXFORM_COORDINATOR")
    if num_processes is None and "RLXFORM_NUM_PROCESSES" in env:
        num_processes = _env_int("RLXFORM_NUM_PROCESSES", 1)
    if process_id is None and "RLXFORM_PROCESS_ID" in env:
        process_id = _env_int("RLXFORM_PROCESS_ID", 0)
    if coordinator is None and num_processes in (None, 1):
        return 0, 1
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
        )
    except (ValueError, RuntimeError) as err:  # XlaRuntimeError: coordinator unreachable, ...
        raise InputError(
            f"coordinator={coordinator!r}, num_processes={num_processes!r}, "
            f"process_id={process_id!r} are invalid: jax.distributed.initialize failed "
            f"({type(err).__name__}: {err})"
        ) from None
    return jax.process_index(), jax.process_count()


def _env_int(name: str, low: int) -> int:
    """The integer of environment variable ``name`` (>= low), InputError naming it otherwise."""
    text = os.environ[name]
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{name}={text!r} is invalid: must be an integer >= {low}") from None
    return check_int(name, value, low)


# ---- the sweep_lr_groupsize experiment ---------------------------------------------------------


_GRPO = schemes.grpo()
_TINY = SweepConfig(
    SimConfig(_GRPO, sweep_problem(num_prompts=4), num_steps=10),
    HParams((0.3, 3.0)),
    group_size=(2, 4),
    schemes=(_GRPO,),
    seeds=2,
    records=5,
)
_QUICK = SweepConfig(
    SimConfig(_GRPO, sweep_problem(), num_steps=200),
    HParams((0.1, 0.3, 1.0, 3.0, 10.0)),
    group_size=(2, 4, 8, 16, 32),
    schemes=(schemes.reinforce(), _GRPO, schemes.rejection_sampling()),
    seeds=8,
    records=20,
)
_FULL = dataclasses.replace(
    _QUICK,
    sim=dataclasses.replace(_QUICK.sim, num_steps=400),
    hparams=HParams((0.03, 0.1, 0.3, 1.0, 3.0, 10.0)),
    group_size=(2, 4, 8, 16, 32, 64),
    schemes=(
        schemes.reinforce(),
        schemes.rloo(),
        _GRPO,
        schemes.rejection_sampling(),
        schemes.pass_at_k(k=2),
    ),
    seeds=32,
    records=40,
)


run_sweep_lr_groupsize = experiment(
    "sweep_lr_groupsize",
    configs={"tiny": _TINY, "quick": _QUICK, "full": _FULL},
    description="steps to mean p >= 0.9 and final objective over lr x M x scheme x seeds",
)(functools.partial(run_sweep, name="sweep_lr_groupsize"))
