"""Throughput benchmark: the jitted simulator vs a NumPy reference vs the raw PRNG bound.

Workloads (GRPO, SGD, tabular unless said): W1 P=4096 K=8 M=16 T=200; W2 network policy (MLP
width 64, features d=16) with T=100; W3 16 learning rates x 8 seeds vmapped on W1 shapes with
P=512; W4 W1 with M=256 (the multinomial-counts sampler). Rates are sampled responses per second,
P*M*T*G / wall (G = grid size, 1 except W3), the best of ``repeats`` timed calls after a
warm-up call (the best, because the machine may be shared). ``compile_seconds`` is
``lower().compile()``. ``peak_bytes`` is XLA's buffer plan of the compiled program (arguments +
outputs + temporaries, ``compiled.memory_analysis()``), or ``device.memory_stats()`` peak on
accelerators that report it; for NumPy it is the tracemalloc peak of one run.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rlxform import simulate as sim
from rlxform import sweeps
from rlxform.types import NDArray

WORKLOADS = ("W1", "W2", "W3", "W4")
IMPLEMENTATIONS = ("rlxform", "numpy", "uniform_bound")
LEARNING_RATE = 0.1
INIT_P = ("beta", 1.0, 1.0)
GRID_LRS = 16
GRID_SEEDS = 8


@dataclasses.dataclass(frozen=True)
class Workload:
    """One benchmark workload: a simulator config and a grid size G = lrs x seeds."""

    name: str
    cfg: sim.SimConfig
    num_lrs: int = 1
    num_seeds: int = 1

    @property
    def grid_size(self) -> int:
        return self.num_lrs * self.num_seeds

    @property
    def num_samples(self) -> int:
        """P * M * T * G sampled responses per call."""
        cfg = self.cfg
        return cfg.num_prompts * cfg.group_size * cfg.num_steps * self.grid_size


def workload(name: str, scale: float = 1.0, **overrides: Any) -> Workload:
    """The named workload; ``scale`` < 1 shrinks P and T (for tests), ``overrides`` go to cfg."""
    base = dict(
        scheme="grpo",
        policy="tabular",
        num_prompts=4096,
        num_responses=8,
        num_correct=1,
        group_size=16,
        num_steps=200,
        optimizer="sgd",
        init_p=INIT_P,
    )
    lrs, seeds = 1, 1
    if name == "W2":
        base.update(policy="network", num_steps=100, hidden=64, features=16)
    elif name == "W3":
        base.update(num_prompts=512)
        lrs, seeds = GRID_LRS, GRID_SEEDS
    elif name == "W4":
        base.update(group_size=256)
    elif name != "W1":
        raise ValueError(f"workload={name!r} is invalid: must be one of {', '.join(WORKLOADS)}")
    base["num_prompts"] = max(1, int(base["num_prompts"] * scale))
    base["num_steps"] = max(2, int(base["num_steps"] * scale) // 2 * 2)
    base.update(overrides)
    base.setdefault("record_every", _record_every(base["num_steps"]))
    return Workload(name, sim.SimConfig(**base), lrs, seeds)


def _record_every(num_steps: int) -> int:
    """About 10 records per run (the largest divisor of T not above T / 10, at least 1)."""
    for every in range(max(1, num_steps // 10), 0, -1):
        if num_steps % every == 0:
            return every
    return 1


def device_name() -> str:
    """e.g. ``"cpu (cpu) x1"`` or ``"NVIDIA H100 80GB HBM3 (gpu) x8"``."""
    devices = jax.devices()
    return f"{devices[0].device_kind} ({devices[0].platform}) x{len(devices)}"


# ---- the NumPy reference a user would otherwise write ------------------------------------------


def numpy_step(
    rng: np.random.Generator,
    logits: NDArray,
    a_table: NDArray,
    b_table: NDArray,
    num_correct: int,
    group_size: int,
    learning_rate: float,
) -> tuple[NDArray, NDArray]:
    """One GRPO/SGD step on tabular logits ``float32[P, K]`` in vectorised NumPy.

    Inverse-CDF sampling of M responses per prompt, weights Z = a[S] (correct) / b[S] (wrong),
    the closed-form gradient of mean_b (1/M) sum_i Z_i log pi(y_i) w.r.t. the logits,
    (coef - sum_k coef_k * probs) / P, and an SGD ascent step.

    Returns:
      (new logits float32[P, K], S int[P]).
    """
    num_prompts, num_responses = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    cdf = np.cumsum(probs, axis=1)
    uniforms = rng.random((num_prompts, group_size), dtype=np.float32) * cdf[:, -1:]
    actions = (uniforms[:, :, None] >= cdf[:, None, :-1]).sum(axis=2)
    rewards = actions < num_correct
    s = rewards.sum(axis=1)
    weights = np.where(rewards, a_table[s][:, None], b_table[s][:, None]) / group_size
    flat = (np.arange(num_prompts)[:, None] * num_responses + actions).reshape(-1)
    coef = np.bincount(flat, weights.reshape(-1), num_prompts * num_responses)
    coef = coef.reshape(num_prompts, num_responses).astype(np.float32)
    grad = (coef - coef.sum(axis=1, keepdims=True) * probs) / num_prompts
    return (logits + learning_rate * grad).astype(np.float32), s


def numpy_simulate(cfg: sim.SimConfig, learning_rate: float, seed: int) -> NDArray:
    """Run the NumPy reference for ``cfg`` (tabular, SGD); returns final p ``float32[P]``."""
    if cfg.policy != "tabular" or cfg.optimizer != "sgd" or cfg.batch != cfg.num_prompts:
        raise ValueError("the NumPy reference covers tabular policies, SGD, full batches")
    rng = np.random.default_rng(seed)
    logits = np.asarray(sim.initial_params(cfg)["logits"], np.float32)
    a_table, b_table = (np.asarray(t) for t in sim.tables(cfg))
    for _ in range(cfg.num_steps):
        logits, _ = numpy_step(
            rng, logits, a_table, b_table, cfg.num_correct, cfg.group_size, learning_rate
        )
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return probs[:, : cfg.num_correct].sum(axis=1)


# ---- timing ------------------------------------------------------------------------------------


def _peak_bytes(compiled) -> int:
    """Peak bytes of a compiled program: device memory_stats if reported, else XLA's plan."""
    stats = None
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # CPU backends may not implement it
        stats = None
    if stats and "peak_bytes_in_use" in stats:
        return int(stats["peak_bytes_in_use"])
    analysis = compiled.memory_analysis()
    if analysis is None:
        return -1
    return int(
        analysis.argument_size_in_bytes
        + analysis.output_size_in_bytes
        + analysis.temp_size_in_bytes
        - analysis.alias_size_in_bytes
    )


def _time_compiled(compiled, args: Sequence[Any], repeats: int) -> float:
    jax.block_until_ready(compiled(*args))  # warm-up
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        best = min(best, time.perf_counter() - start)
    return best


def _compile(fn: Callable, args: Sequence[Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def rlxform_program(work: Workload) -> tuple[Callable, tuple[Any, ...]]:
    """The simulator call for a workload and its arguments (W3: the vmapped sweep)."""
    key = jax.random.key(0)
    if work.grid_size == 1:
        return sim.build_simulate(work.cfg), (sim.HParams(jnp.float32(LEARNING_RATE)), key)
    lrs = np.geomspace(LEARNING_RATE / 10, LEARNING_RATE * 10, work.num_lrs)
    keys = jax.random.split(key, work.num_seeds)
    simulate = sim.build_simulate(work.cfg)
    over_seeds = jax.vmap(simulate, in_axes=(None, 0))
    return jax.vmap(over_seeds, in_axes=(0, None)), (sweeps.grid(lrs), keys)


def uniform_program(work: Workload) -> tuple[Callable, tuple[Any, ...]]:
    """The raw bound: ``jax.random.uniform`` drawing P*M*G numbers per step for T steps.

    A ``lax.scan`` over pre-split step keys, each step's draw summed into the carry (so nothing
    of size T is kept and XLA cannot drop the draw).
    """
    cfg = work.cfg
    size = cfg.num_prompts * cfg.group_size * work.grid_size

    def bound(key):
        def step(total, step_key):
            return total + jnp.sum(jax.random.uniform(step_key, (size,))), None

        total, _ = jax.lax.scan(step, jnp.float32(0), jax.random.split(key, cfg.num_steps))
        return total

    return bound, (jax.random.key(0),)


def record(
    work: Workload, implementation: str, wall: float, compile_s: float, peak: int
) -> dict[str, Any]:
    return {
        "workload": work.name,
        "implementation": implementation,
        "samples_per_second": work.num_samples / wall,
        "compile_seconds": compile_s,
        "peak_bytes": peak,
        "device": device_name() if implementation != "numpy" else "numpy",
        "wall_seconds": wall,
        "num_samples": work.num_samples,
    }


def bench_jax(work: Workload, implementation: str, repeats: int) -> dict[str, Any]:
    """Compile, warm up and time the rlxform or uniform-bound program of ``work``."""
    make = rlxform_program if implementation == "rlxform" else uniform_program
    fn, args = make(work)
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


def _time_interleaved(programs: Sequence[tuple[Any, Sequence[Any]]], repeats: int) -> list[float]:
    """Best-of-``repeats`` wall time of each compiled program, the repeats interleaved.

    Each round runs every program once, so drift (other load, memory state left by earlier
    workloads) reaches them alike and the ratios between them stay meaningful.
    """
    for compiled, args in programs:
        jax.block_until_ready(compiled(*args))  # warm-up
    best = [math.inf] * len(programs)
    for _ in range(repeats):
        for i, (compiled, args) in enumerate(programs):
            start = time.perf_counter()
            jax.block_until_ready(compiled(*args))
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def run_workload(name: str, scale: float = 1.0, repeats: int = 3) -> list[dict[str, Any]]:
    """Records for one workload: rlxform, numpy (W1 only), uniform_bound.

    The two JAX programs are compiled first and then timed with interleaved repeats, after a
    garbage collection (so buffers of earlier workloads are freed).
    """
    gc.collect()
    work = workload(name, scale)
    compiled = {}
    for implementation, make in (("rlxform", rlxform_program), ("uniform_bound", uniform_program)):
        fn, args = make(work)
        compiled[implementation] = (*_compile(fn, args), args)
    walls = _time_interleaved([(c, a) for c, _, a in compiled.values()], repeats)
    records = [
        record(work, implementation, wall, compile_s, _peak_bytes(c))
        for (implementation, (c, compile_s, _)), wall in zip(compiled.items(), walls, strict=True)
    ]
    if name == "W1":
        records.insert(1, bench_numpy(work, max(1, min(repeats, 2))))
    return records


# ---- scaling -----------------------------------------------------------------------------------


def loglog_slope(sizes: Sequence[float], times: Sequence[float]) -> float:
    """Least-squares slope of log(time) on log(size) (1 = linear)."""
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


def affine_fit(sizes: Sequence[float], times: Sequence[float]) -> tuple[float, float]:
    """Least-squares (a, b) of time = a + b * size: fixed cost a, marginal cost b per unit."""
    slope, intercept = np.polyfit(np.asarray(sizes, float), np.asarray(times, float), 1)
    return float(intercept), float(slope)


def scaling(scale: float = 1.0, repeats: int = 3) -> dict[str, Any]:
    """Time of W1 vs P and vs M (3 sizes each) and memory vs T.

    Each axis reports the log-log slope and the affine fit time = a + b * size (a: per-step
    costs independent of the size). M uses 32, 64, 128 with the inverse-CDF sampler forced
    ("auto" would switch to counts at M >= 64), sizes where the per-sample cost dominates.

    Memory vs T compares XLA's temporaries (``temp_size_in_bytes``: the working set of the scan)
    and outputs (the recorded metrics) at three T with the same number of records.
    """
    out: dict[str, Any] = {}
    for axis, field, sizes in (
        ("P", "num_prompts", (1024, 2048, 4096)),
        ("M", "group_size", (32, 64, 128)),
    ):
        sizes = [max(1, int(s * scale)) if axis == "P" else s for s in sizes]
        times = []
        for size in sizes:
            work = workload("W1", scale, sampler="inverse_cdf", **{field: size})
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


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """Readable table with rlxform/numpy and rlxform/uniform ratios per workload."""
    rate = {(r["workload"], r["implementation"]): r["samples_per_second"] for r in records}
    lines = [
        f"device: {device_name()}",
        f"{'workload':8} {'implementation':14} {'samples/s':>12} {'compile s':>10} "
        f"{'peak MB':>9} {'vs numpy':>9} {'vs uniform':>10}",
    ]
    for r in records:
        ratios = ["-", "-"]
        if r["implementation"] == "rlxform":
            for i, other in enumerate(("numpy", "uniform_bound")):
                if (r["workload"], other) in rate:
                    ratios[i] = f"{r['samples_per_second'] / rate[(r['workload'], other)]:.2f}x"
        lines.append(
            f"{r['workload']:8} {r['implementation']:14} {r['samples_per_second']:12.4g} "
            f"{r['compile_seconds']:10.2f} {r['peak_bytes'] / 2**20:9.1f} {ratios[0]:>9} "
            f"{ratios[1]:>10}"
        )
    return "\n".join(lines)


def format_scaling(result: dict[str, Any]) -> str:
    lines = []
    for axis in ("P", "M"):
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

    JSON: ``{"device": str, "records": [one per (workload, implementation)],
    "scaling": {...} or absent}``.
    """
    import json

    from rlxform.results import atomic_write_text
    from rlxform.validation import check_float, check_int

    choices = (*WORKLOADS, "W5", "scaling", "all")  # W5: rlxform.bench_sequences
    if workload_name not in choices:
        raise ValueError(
            f"--workload={workload_name!r} is invalid: must be one of " + ", ".join(choices)
        )
    repeats = check_int("--repeats", repeats, 1)
    scale = check_float("--scale", scale, 0.0, 1.0, low_open=True)
    names = (
        (*WORKLOADS, "W5")
        if workload_name == "all"
        else (() if workload_name == "scaling" else (workload_name,))
    )
    records: list[dict[str, Any]] = []
    for name in names:
        if name == "W5":
            from rlxform.bench_sequences import w5_records

            records.extend(w5_records(scale, repeats))
        else:
            records.extend(run_workload(name, scale, repeats))
        print(f"{name} done", flush=True)
    out: dict[str, Any] = {"device": device_name(), "records": records}
    if records:
        print(format_table(records))
    if workload_name in ("scaling", "all"):
        out["scaling"] = scaling(scale, repeats)
        print(format_scaling(out["scaling"]))
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(out, indent=2))
        print(f"wrote {json_path}")
    return 0
