"""Running the benchmark: interleaved timing of each workload's programs, records, scaling fits,
peer ratios, the printed table and ``main`` behind ``rlxform bench`` (record format unchanged).
"""

from __future__ import annotations

import dataclasses
import gc
import math
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from rlxform import runtime
from rlxform.reproduce.bench.programs import (
    PROGRAMS,
    _compile,
    _peak_bytes,
    _time_compiled,
    rlxform_program,
)
from rlxform.reproduce.bench.workloads import (
    LEARNING_RATE,
    SIMULATE_COMPILE_M,
    WORKLOADS,
    Workload,
    device_name,
    numpy_simulate,
    workload,
)
from rlxform.sim import config, sweeps


def record(
    work: Workload,
    implementation: str,
    wall: float,
    compile_s: float,
    peak: int,
    first_result_s: float | None = None,
) -> dict[str, Any]:
    return {
        "workload": work.name,
        "implementation": implementation,
        "samples_per_second": work.num_samples / wall,
        "compile_seconds": compile_s,
        "first_result_seconds": compile_s + wall if first_result_s is None else first_result_s,
        "peak_bytes": peak,
        "device": device_name() if implementation != "numpy" else "numpy",
        "prng": runtime.current_prng() if implementation != "numpy" else "numpy",
        "wall_seconds": wall,
        "num_samples": work.num_samples,
    }


def bench_jax(work: Workload, implementation: str, repeats: int) -> dict[str, Any]:
    """Compile, warm up and time one program of ``work`` (a key of ``PROGRAMS``)."""
    fn, args = PROGRAMS[implementation](work)
    compiled, compile_s = _compile(fn, args)
    wall = _time_compiled(compiled, args, repeats)
    return record(work, implementation, wall, compile_s, _peak_bytes(compiled))


def bench_numpy(work: Workload, repeats: int) -> dict[str, Any]:
    """Time the NumPy reference on ``work`` (tabular SGD only); peak from tracemalloc."""
    best = math.inf
    numpy_simulate(dataclasses.replace(work.cfg, num_steps=2, record_every=1), LEARNING_RATE, 0)
    for i in range(repeats):
        start = time.perf_counter()
        numpy_simulate(work.cfg, LEARNING_RATE, i)
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    numpy_simulate(dataclasses.replace(work.cfg, num_steps=2, record_every=1), LEARNING_RATE, 0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return record(work, "numpy", best, 0.0, int(peak))


def _time_interleaved(
    programs: Sequence[tuple[Any, Sequence[Any]]], repeats: int
) -> tuple[list[float], list[float]]:
    """(best wall, first-call wall) of each compiled program, the repeats interleaved.

    Each round runs every program once, so drift (other load, memory state left by earlier
    workloads) reaches them alike and the ratios between them stay meaningful.
    """
    first = []
    for compiled, args in programs:
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))  # warm-up
        first.append(time.perf_counter() - start)
    best = [math.inf] * len(programs)
    for _ in range(repeats):
        for i, (compiled, args) in enumerate(programs):
            start = time.perf_counter()
            jax.block_until_ready(compiled(*args))
            best[i] = min(best[i], time.perf_counter() - start)
    return best, first


def implementations(name: str) -> tuple[str, ...]:
    """The JAX programs timed for a workload (W3 adds the distinct-key run and its bound)."""
    if name == "W3":
        return (
            "rlxform",
            "rlxform_distinct_keys",
            "jax_reference",
            "uniform_bound",
            "uniform_bound_distinct_keys",
        )
    return ("rlxform", "jax_reference", "uniform_bound")


def run_workload(name: str, scale: float = 1.0, repeats: int = 3) -> list[dict[str, Any]]:
    """Records for one workload: rlxform, jax_reference, numpy (W1 only), uniform bound(s).

    The JAX programs are compiled first and then timed with interleaved repeats, after a
    garbage collection (so buffers of earlier workloads are freed).
    """
    gc.collect()
    work = workload(name, scale)
    compiled = {}
    for implementation in implementations(name):
        fn, args = PROGRAMS[implementation](work)
        compiled[implementation] = (*_compile(fn, args), args)
    walls, firsts = _time_interleaved([(c, a) for c, _, a in compiled.values()], repeats)
    records = [
        record(work, implementation, wall, compile_s, _peak_bytes(c), compile_s + first)
        for (implementation, (c, compile_s, _)), wall, first in zip(
            compiled.items(), walls, firsts, strict=True
        )
    ]
    if name == "W1":
        records.append(bench_numpy(work, max(1, min(repeats, 2))))
    return records


def simulate_compile_seconds(
    group_size: int = SIMULATE_COMPILE_M, sampler: str = "auto"
) -> dict[str, Any]:
    """Compile time of ``rlxform simulate``'s program at its defaults, group size M, sampler.

    (GRPO, tabular, P = 16, K = 4, T = 100, 64 seeds.)
    """
    cfg = config.SimConfig(
        "grpo",
        problem=config.Problem(num_prompts=16, num_responses=4, init_p="grid"),
        group_size=group_size,
        num_steps=100,
        sampler=sampler,
    )
    keys = jax.random.split(jax.random.key(0), 64)
    start = time.perf_counter()
    sweeps.make_sweep(cfg).lower(sweeps.grid([0.1]), keys).compile()
    seconds = time.perf_counter() - start
    return {"group_size": group_size, "sampler": cfg.resolved_sampler, "compile_seconds": seconds}


# ---- scaling -----------------------------------------------------------------------------------


def loglog_slope(sizes: Sequence[float], times: Sequence[float]) -> float:
    """Least-squares slope of log(time) on log(size) (1 = linear)."""
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


def affine_fit(sizes: Sequence[float], times: Sequence[float]) -> tuple[float, float]:
    """Least-squares (a, b) of time = a + b * size: fixed cost a, marginal cost b per unit."""
    slope, intercept = np.polyfit(np.asarray(sizes, float), np.asarray(times, float), 1)
    return float(intercept), float(slope)


def scaling(scale: float = 1.0, repeats: int = 3) -> dict[str, Any]:
    """Time of W1 vs P, vs M and of W3 vs grid size G (3 sizes each), and memory vs T.

    Each axis reports the log-log slope and the affine fit time = a + b * size (a: costs
    independent of the size, per step). M uses 32, 128, 512 with the inverse-CDF sampler forced
    (sizes where the per-sample cost dominates); G = 8, 32, 128 learning rates x 1 seed.

    Memory vs T compares XLA's temporaries (``temp_size_in_bytes``: the working set of the scan)
    and outputs (the recorded metrics) at three T with the same number of records.
    """
    out: dict[str, Any] = {}
    for axis, name, field, sizes in (
        ("P", "W1", "num_prompts", (1024, 4096, 16384)),
        ("M", "W1", "group_size", (32, 128, 512)),
        ("G", "W3", "num_lrs", (8, 32, 128)),
    ):
        sizes = [max(1, int(s * scale)) if axis == "P" else s for s in sizes]
        times = []
        for size in sizes:
            if axis == "G":
                work = dataclasses.replace(workload(name, scale), num_lrs=size, num_seeds=1)
            else:
                work = workload(name, scale, sampler="inverse_cdf", **{field: size})
            fn, args = rlxform_program(work)
            compiled, _ = _compile(fn, args)
            times.append(_time_compiled(compiled, args, repeats))
        intercept, per_unit = affine_fit(sizes, times)
        out[f"time_vs_{axis}"] = {
            "sizes": sizes,
            "seconds": times,
            "slope": loglog_slope(sizes, times),
            "affine_seconds": intercept,
            "affine_seconds_per_unit": per_unit,
        }
    steps = [max(10, int(t * scale)) // 10 * 10 for t in (50, 100, 200)]
    temp, output = [], []
    for num_steps in steps:
        work = workload("W1", scale, num_steps=num_steps, record_every=num_steps // 10)
        fn, args = rlxform_program(work)
        analysis = jax.jit(fn).lower(*args).compile().memory_analysis()
        temp.append(int(analysis.temp_size_in_bytes) if analysis else -1)
        output.append(int(analysis.output_size_in_bytes) if analysis else -1)
    out["memory_vs_T"] = {"steps": steps, "records": 11, "temp_bytes": temp, "output_bytes": output}
    return out


# ---- report -------------------------------------------------------------------------------------


PEERS = {  # (peer, column) compared with each rlxform row
    "rlxform": (
        ("jax_reference", "vs jax_ref"),
        ("numpy", "vs numpy"),
        ("uniform_bound", "vs uniform"),
    ),
    "rlxform_distinct_keys": (("uniform_bound_distinct_keys", "vs uniform"),),
}


def ratios(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], float]:
    """{(workload, implementation, peer): peer wall / rlxform wall} of the rows timed together.

    Above 1 rlxform is faster. The uniform bounds time only the draws, so against them the
    ratio is the time of drawing the run's uniforms over the time of the whole run.
    """
    wall = {(r["workload"], r["implementation"]): r["wall_seconds"] for r in records}
    out = {}
    for (name, implementation), own in wall.items():
        for peer, _ in PEERS.get(implementation, ()):
            if (name, peer) in wall:
                out[(name, implementation, peer)] = wall[(name, peer)] / own
    return out


def first_result_ratios(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """{workload: jax_reference's first-result seconds / rlxform's} (cold compile + first call).

    Above 1 rlxform's first result comes first.
    """
    first = {(r["workload"], r["implementation"]): r["first_result_seconds"] for r in records}
    return {
        name: first[(name, "jax_reference")] / own
        for (name, implementation), own in first.items()
        if implementation == "rlxform" and (name, "jax_reference") in first
    }


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """Readable table: rates, compile and first-result times, ratios to the peers.

    ``first x``: the first-result ratio (``first_result_ratios``); the ``vs`` columns are
    steady-state wall ratios (``ratios``).
    """
    ratio = ratios(records)
    first_ratio = first_result_ratios(records)
    columns = ("vs jax_ref", "vs numpy", "vs uniform")
    lines = [
        f"device: {device_name()}  prng: {runtime.current_prng()}",
        f"{'workload':8} {'implementation':27} {'samples/s':>10} {'compile s':>9} "
        f"{'first s':>8} {'first x':>8} {'peak MB':>8} " + " ".join(f"{c:>10}" for c in columns),
    ]
    for r in records:
        first_cell = "-"
        if r["implementation"] == "rlxform" and r["workload"] in first_ratio:
            first_cell = f"{first_ratio[r['workload']]:.2f}x"
        cells = dict.fromkeys(columns, "-")
        for peer, column in PEERS.get(r["implementation"], ()):
            key = (r["workload"], r["implementation"], peer)
            if key in ratio:
                cells[column] = f"{ratio[key]:.2f}x"
        lines.append(
            f"{r['workload']:8} {r['implementation']:27} {r['samples_per_second']:10.3g} "
            f"{r['compile_seconds']:9.2f} {r['first_result_seconds']:8.2f} {first_cell:>8} "
            f"{r['peak_bytes'] / 2**20:8.1f} " + " ".join(f"{cells[c]:>10}" for c in columns)
        )
    return "\n".join(lines)


def format_scaling(result: dict[str, Any]) -> str:
    lines = []
    for axis in ("P", "M", "G"):
        item = result[f"time_vs_{axis}"]
        pairs = ", ".join(
            f"{s}: {t * 1e3:.1f} ms" for s, t in zip(item["sizes"], item["seconds"], strict=True)
        )
        lines.append(
            f"time vs {axis}: {pairs}; log-log slope {item['slope']:.2f}; affine fit "
            f"{item['affine_seconds'] * 1e3:.1f} ms + {item['affine_seconds_per_unit'] * 1e6:.2f} "
            f"us * {axis}"
        )
    mem = result["memory_vs_T"]
    lines.append(
        f"memory vs T (records fixed at {mem['records']}): T={mem['steps']} temp bytes "
        f"{mem['temp_bytes']}, output bytes {mem['output_bytes']}"
    )
    return "\n".join(lines)


def main(
    workload_name: str = "all",
    json_path: str | None = None,
    repeats: int = 3,
    scale: float = 1.0,
) -> int:
    """Run workloads, print the table (and scaling fits), optionally write JSON; returns 0.

    JSON: ``{"device": str, "prng": str, "records": [one per (workload, implementation)],
    "first_result_ratios": {workload: jax_reference first-result s / rlxform's},
    "simulate_compile": [...] and "scaling": {...} with ``--workload all`` / scaling,
    "w5_breakdown": {...} with ``--workload W5-breakdown``}``.
    """
    import json

    from rlxform.results import atomic_write_text
    from rlxform.validation import check_float, check_int

    # W5 and its breakdown: rlxform.reproduce.bench.sequences; W5-breakdown is not in "all"
    choices = (*WORKLOADS, "W5", "W5-breakdown", "scaling", "explain", "all")
    if workload_name not in choices:
        raise ValueError(
            f"--workload={workload_name!r} is invalid: must be one of " + ", ".join(choices)
        )
    repeats = check_int("--repeats", repeats, 1)
    scale = check_float("--scale", scale, 0.0, 1.0, low_open=True)  # checked though explain
    if workload_name == "explain":  # whole-process time of `rlxform explain`: bench/explain.py
        from rlxform.reproduce.bench.explain import explain_records, format_explain

        found = explain_records(repeats)
        print(format_explain(found))
        if json_path is not None:
            atomic_write_text(json_path, json.dumps({"explain": found}, indent=2))
        return 0
    names = (
        (*WORKLOADS, "W5")
        if workload_name == "all"
        else (() if workload_name in ("scaling", "W5-breakdown") else (workload_name,))
    )
    records: list[dict[str, Any]] = []
    print(f"device: {device_name()}  prng: {runtime.current_prng()}", flush=True)
    for name in names:
        if name == "W5":
            from rlxform.reproduce.bench.sequences import w5_records

            records.extend(w5_records(scale, repeats))
        else:
            records.extend(run_workload(name, scale, repeats))
        print(f"{name} done", flush=True)
    out: dict[str, Any] = {
        "device": device_name(),
        "prng": runtime.current_prng(),
        "records": records,
    }
    if records:
        out["first_result_ratios"] = first_result_ratios(records)
        print(format_table(records))
    if workload_name == "all":
        out["simulate_compile"] = [
            simulate_compile_seconds(),
            simulate_compile_seconds(sampler="counts"),
        ]
        for item in out["simulate_compile"]:
            print(
                f"simulate compile (M = {item['group_size']}, {item['sampler']} sampler): "
                f"{item['compile_seconds']:.2f} s"
            )
    if workload_name in ("scaling", "all"):
        out["scaling"] = scaling(scale, repeats)
        print(format_scaling(out["scaling"]))
    if workload_name == "W5-breakdown":
        from rlxform.reproduce.bench.sequences import format_w5_breakdown, w5_breakdown

        out["w5_breakdown"] = w5_breakdown(scale, repeats)
        print(format_w5_breakdown(out["w5_breakdown"]))
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(out, indent=2))
        print(f"wrote {json_path}")
    return 0
