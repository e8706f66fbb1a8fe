"""Throughput benchmark: the jitted simulator vs its peers, timed interleaved in one process.

Workloads (GRPO, SGD, tabular unless said): W1 P=4096 K=8 M=16 T=200; W2 network policy (MLP
width 64, features d=16) with T=100; W3 16 learning rates x 8 seeds vmapped on W1 shapes with
P=512 (the learning rates share each seed's draws; ``rlxform_distinct_keys`` times a distinct
key per run); W4 W1 with M=256 (the multinomial-counts sampler). Peers: ``jax_reference``, the
plain JAX a strong user writes (inverse CDF or ``jax.random.multinomial`` counts, ``jax.grad`` of
the surrogate, optax, ``lax.scan`` in one jit); ``numpy`` (W1); ``uniform_bound``, drawing with
``jax.random.uniform`` as many numbers as the run's responses (W3: the draws actually made).
Rates are sampled responses per second, P*M*T*G / wall (G = grid size), the best of ``repeats``
interleaved calls after a warm-up call; ratios are wall-time ratios of programs timed side by
side. ``compile_seconds`` is ``lower().compile()``; ``first_result_seconds`` adds the first call
(what one fresh call costs). ``peak_bytes`` is XLA's buffer plan of the compiled program
(``compiled.memory_analysis()``), or ``device.memory_stats()`` peak on accelerators that report
it; for NumPy it is the tracemalloc peak of one run. The PRNG is the process default
(``rlxform bench --prng``).
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
import optax

from rlxform import runtime
from rlxform.sim import policies, sweeps
from rlxform.sim import simulate as sim
from rlxform.types import NDArray

WORKLOADS = ("W1", "W2", "W3", "W4")
IMPLEMENTATIONS = (
    "rlxform",
    "rlxform_distinct_keys",
    "jax_reference",
    "numpy",
    "uniform_bound",
    "uniform_bound_distinct_keys",
)
SIMULATE_COMPILE_M = 4096
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
        return cfg.problem.num_prompts * cfg.group_size * cfg.num_steps * self.grid_size


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
        base.update(group_size=256, sampler="counts")
    elif name != "W1":
        raise ValueError(f"workload={name!r} is invalid: must be one of {', '.join(WORKLOADS)}")
    base["num_prompts"] = max(1, int(base["num_prompts"] * scale))
    base["num_steps"] = max(2, int(base["num_steps"] * scale) // 2 * 2)
    base.update(overrides)
    base.setdefault("record_every", _record_every(base["num_steps"]))
    return Workload(name, sim.SimConfig.from_flat(**base), lrs, seeds)


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
    if (
        cfg.problem.policy != "tabular"
        or cfg.optimizer != "sgd"
        or cfg.batch != cfg.problem.num_prompts
    ):
        raise ValueError("the NumPy reference covers tabular policies, SGD, full batches")
    rng = np.random.default_rng(seed)
    logits = np.asarray(sim.initial_params(cfg)["logits"], np.float32)
    a_table, b_table = (np.asarray(t) for t in sim.tables(cfg))
    for _ in range(cfg.num_steps):
        logits, _ = numpy_step(
            rng, logits, a_table, b_table, cfg.problem.num_correct, cfg.group_size, learning_rate
        )
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return probs[:, : cfg.problem.num_correct].sum(axis=1)


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


def rlxform_program(work: Workload, distinct_keys: bool = False) -> tuple[Callable, tuple]:
    """The simulator call for a workload and its arguments (W3: the vmapped sweep).

    W3 shares each seed's key across learning rates (``sweeps.make_sweep``); with
    ``distinct_keys`` every (learning rate, seed) run gets its own key.
    """
    key = jax.random.key(0)
    simulate = sim.build_simulate(work.cfg)
    if work.grid_size == 1:
        return simulate, (sim.HParams(jnp.float32(LEARNING_RATE)), key)
    hparams = sweeps.grid(np.geomspace(LEARNING_RATE / 10, LEARNING_RATE * 10, work.num_lrs))
    if distinct_keys:
        keys = jax.random.split(key, (work.num_lrs, work.num_seeds))
        return jax.vmap(jax.vmap(simulate, in_axes=(None, 0))), (hparams, keys)
    keys = jax.random.split(key, work.num_seeds)
    over_seeds = jax.vmap(simulate, in_axes=(None, 0))
    return jax.vmap(over_seeds, in_axes=(0, None)), (hparams, keys)


def build_reference(cfg: sim.SimConfig) -> Callable:
    """Plain-JAX simulator ``(learning_rate, key) -> mean p float32[T+1]`` (full batch, SGD).

    What a strong JAX user writes: responses by inverse CDF (``sampler="inverse_cdf"``) or
    multinomial counts (``jax.random.multinomial``, ``sampler="counts"``), weights a[S] / b[S],
    ``jax.grad`` of the surrogate -mean_b (1/M) sum_i Z_i log pi(y_i | x_b), ``optax.sgd``, one
    ``lax.scan`` over ``jax.random.split(key, T)``. Same problem (``initial_params``) and tables.
    """
    if cfg.optimizer != "sgd" or cfg.batch != cfg.problem.num_prompts or cfg.dynamic_sampling:
        raise ValueError("the JAX reference covers SGD, full batches, no dynamic sampling")
    pcfg = cfg.problem
    num_prompts, num_responses = cfg.problem.num_prompts, cfg.problem.num_responses
    num_correct, group_size = cfg.problem.num_correct, cfg.group_size
    a_table, b_table = sim.tables(cfg)
    trainable0, constants = policies.partition(sim.initial_params(cfg))
    counts_sampler = cfg.resolved_sampler == "counts"

    def surrogate(trainable, coef):
        logits = policies.logits(policies.combine(trainable, constants), pcfg)
        return -jnp.sum(coef * jax.nn.log_softmax(logits)) / num_prompts

    def run(learning_rate, key):
        optimizer = optax.sgd(learning_rate)

        def step(carry, step_key):
            trainable, opt_state = carry
            logits = policies.logits(policies.combine(trainable, constants), pcfg)
            probs = jax.nn.softmax(logits)
            if counts_sampler:
                counts = jax.random.multinomial(step_key, group_size, probs)
            else:
                cdf = jnp.cumsum(probs, axis=-1)
                uniforms = jax.random.uniform(step_key, (num_prompts, group_size))
                actions = jnp.sum(uniforms[..., None] >= cdf[:, None, :-1], axis=-1)
                counts = jax.nn.one_hot(actions, num_responses).sum(axis=1)
            s = jnp.sum(counts[:, :num_correct], axis=-1).astype(jnp.int32)
            is_correct = jnp.arange(num_responses) < num_correct
            weights = jnp.where(is_correct, a_table[s][:, None], b_table[s][:, None])
            grads = jax.grad(surrogate)(trainable, counts * weights / group_size)
            updates, opt_state = optimizer.update(grads, opt_state)
            mean_p = jnp.mean(jnp.sum(probs[:, :num_correct], axis=-1))
            return (optax.apply_updates(trainable, updates), opt_state), mean_p

        carry = (trainable0, optimizer.init(trainable0))
        carry, mean_p = jax.lax.scan(step, carry, jax.random.split(key, cfg.num_steps))
        logits = policies.logits(policies.combine(carry[0], constants), pcfg)
        last = jnp.mean(jnp.sum(jax.nn.softmax(logits)[:, :num_correct], axis=-1))
        return jnp.concatenate([mean_p, last[None]])

    return run


def reference_program(work: Workload) -> tuple[Callable, tuple[Any, ...]]:
    """The ``jax_reference`` call for a workload (W3: vmapped, keys shared across lrs)."""
    run = build_reference(work.cfg)
    key = jax.random.key(0)
    if work.grid_size == 1:
        return run, (jnp.float32(LEARNING_RATE), key)
    lrs = np.geomspace(LEARNING_RATE / 10, LEARNING_RATE * 10, work.num_lrs).astype(np.float32)
    keys = jax.random.split(key, work.num_seeds)
    return jax.vmap(jax.vmap(run, in_axes=(None, 0)), in_axes=(0, None)), (lrs, keys)


def uniform_program(work: Workload, distinct_keys: bool = False) -> tuple[Callable, tuple]:
    """The raw bound: ``jax.random.uniform`` drawing the run's P*M numbers per step for T steps.

    Per step P*M*S numbers for a grid whose learning rates share the S seeds' draws, P*M*G
    with ``distinct_keys``. A ``lax.scan`` over pre-split step keys, each step's draw summed
    into the carry (so nothing of size T is kept and XLA cannot drop the draw).
    """
    cfg = work.cfg
    runs = work.grid_size if distinct_keys else work.num_seeds
    size = cfg.problem.num_prompts * cfg.group_size * runs

    def bound(key):
        def step(total, step_key):
            return total + jnp.sum(jax.random.uniform(step_key, (size,))), None

        total, _ = jax.lax.scan(step, jnp.float32(0), jax.random.split(key, cfg.num_steps))
        return total

    return bound, (jax.random.key(0),)


PROGRAMS = {
    "rlxform": rlxform_program,
    "rlxform_distinct_keys": lambda work: rlxform_program(work, distinct_keys=True),
    "jax_reference": reference_program,
    "uniform_bound": uniform_program,
    "uniform_bound_distinct_keys": lambda work: uniform_program(work, distinct_keys=True),
}


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
    cfg = sim.SimConfig(
        "grpo",
        problem=sim.Problem(num_prompts=16, num_responses=4, init_p="grid"),
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


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """Readable table: rates, compile and first-result times, ratios to the peers."""
    ratio = ratios(records)
    columns = ("vs jax_ref", "vs numpy", "vs uniform")
    lines = [
        f"device: {device_name()}  prng: {runtime.current_prng()}",
        f"{'workload':8} {'implementation':27} {'samples/s':>10} {'compile s':>9} "
        f"{'first s':>8} {'peak MB':>8} " + " ".join(f"{c:>10}" for c in columns),
    ]
    for r in records:
        cells = dict.fromkeys(columns, "-")
        for peer, column in PEERS.get(r["implementation"], ()):
            key = (r["workload"], r["implementation"], peer)
            if key in ratio:
                cells[column] = f"{ratio[key]:.2f}x"
        lines.append(
            f"{r['workload']:8} {r['implementation']:27} {r['samples_per_second']:10.3g} "
            f"{r['compile_seconds']:9.2f} {r['first_result_seconds']:8.2f} "
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
    "simulate_compile": [...] and "scaling": {...} with ``--workload all`` / scaling}``.
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
    print(f"device: {device_name()}  prng: {runtime.current_prng()}", flush=True)
    for name in names:
        if name == "W5":
            from rlxform.bench_sequences import w5_records

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
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(out, indent=2))
        print(f"wrote {json_path}")
    return 0
