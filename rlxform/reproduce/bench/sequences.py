"""Workload W5 of ``rlxform bench``: the tabular sequence simulator vs its peers and the bound.

W5: sequence_tabular, V = 4, max_length = 8 (first_token), P = 1024, M = 16, T = 100, GRPO,
seq-mean-token-mean, SGD at lr 0.1, recorded at step 0 and T (exact p and lengths from the
9841 enumerated responses). rlxform runs ``build_simulate(cfg)``, the program of
``rlxform simulate`` (for sequence_tabular with SGD the sparse path, ``sequence_sparse``);
``jax_reference`` is the plain-JAX run (``sequence_reference``: ``jax.random.categorical``,
``jax.grad`` of the dense table, ``optax.sgd``, one jit); the NumPy reference samples token by
token (inverse CDF, one uniform per token) and applies the same update with ``np.add.at``; the
bound draws M * max_length uniforms per group per step in a ``lax.scan``. The simulator draws
tokens with ``sampling.sample_tokens`` (inverse CDF, one uniform per token, one draw per step).
Rates are sampled responses per second, P M T / wall, best of interleaved repeats.
"""

from __future__ import annotations

import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rlxform import runtime
from rlxform.core.sequences import enumerate_sequences, length_stats, num_prefixes
from rlxform.reproduce.bench.programs import cold_start
from rlxform.reproduce.bench.sequence_reference import build_sequence_reference
from rlxform.sim.ascent import initial_params
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams
from rlxform.sim.sampling import sample_token_probs
from rlxform.sim.simulate import build_simulate
from rlxform.types import Array, NDArray, PRNGKey
from rlxform.validation import check_float, check_int

LEARNING_RATE = 0.1


def w5_config(scale: float = 1.0) -> SimConfig:
    """The W5 config; ``scale`` in (0, 1] shrinks P and T (for tests)."""
    scale = check_float("scale", scale, 0.0, 1.0, low_open=True)
    steps = max(2, int(100 * scale))
    problem = Problem(
        "sequence_tabular",
        max(1, int(1024 * scale)),
        init_p=(0.2, 0.5, 0.8),
        vocab_size=4,
        max_length=8,
        verifier="first_token",
    )
    return SimConfig(
        "grpo",
        problem,
        group_size=16,
        num_steps=steps,
        record_every=steps,
        aggregation="seq-mean-token-mean",
    )


def numpy_step(
    rng: np.random.Generator, logits: NDArray, cfg: SimConfig, tables: tuple, lr: float
) -> NDArray:
    """One step in vectorised NumPy: sample [P, M] responses token by token, weights
    f Z = a[S] / L or b[S] / L, logits[x, n] += lr c (onehot(t) - softmax(row)) / (P M)."""
    task = cfg.problem.task
    p, m, length, v = cfg.problem.num_prompts, cfg.group_size, task.max_length, task.vocab_size
    b = v - 1
    prompt = np.arange(p)[:, None]
    node = np.zeros((p, m), np.int64)
    done = np.zeros((p, m), bool)
    nodes = np.full((p, m, length), -1, np.int64)
    tokens = np.zeros((p, m, length), np.int64)
    probs_seen = np.zeros((p, m, length, v), np.float32)
    index = np.zeros((p, m), np.int64)
    lengths = np.zeros((p, m), np.int64)
    for j in range(length):
        rows = logits[prompt, node]  # [P, M, V]
        e = np.exp(rows - rows.max(-1, keepdims=True))
        probs = e / e.sum(-1, keepdims=True)
        u = rng.random((p, m, 1))
        token = np.minimum((np.cumsum(probs, -1) < u).sum(-1), v - 1)
        live = ~done
        nodes[..., j] = np.where(live, node, -1)
        tokens[..., j] = token
        probs_seen[..., j, :] = probs
        lengths += live
        content = live & (token != task.stop)
        index = np.where(content, b * index + 1 + token, index)
        done |= token == task.stop
        node = np.minimum(b * node + 1 + token, num_prefixes(task) - 1)
    correct = enumerate_sequences(task).correct[index]
    s = correct.sum(-1)
    a_table, b_table = tables
    z = np.where(correct, a_table[s][:, None], b_table[s][:, None])
    coef = z / lengths / (p * m)
    live = nodes >= 0
    onehot = np.eye(v, dtype=np.float32)[tokens]
    delta = lr * coef[..., None, None] * (onehot - probs_seen)
    np.add.at(
        logits, (np.broadcast_to(prompt[..., None], nodes.shape)[live], nodes[live]), delta[live]
    )
    return logits


def numpy_simulate(cfg: SimConfig, lr: float, seed: int) -> NDArray:
    """Run the NumPy reference; returns the final logits."""
    rng = np.random.default_rng(seed)
    logits = np.array(initial_params(cfg)["logits"], np.float32)
    tables = tuple(np.asarray(t, np.float32) for t in cfg.scheme.tables(cfg.group_size))
    for _ in range(cfg.num_steps):
        logits = numpy_step(rng, logits, cfg, tables, lr)
    return logits


def _compile(fn, *args):
    cold_start()  # alike for every row (rlxform.reproduce.bench.programs)
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def _programs(cfg: SimConfig) -> dict[str, tuple[Any, tuple, float]]:
    """{row: (compiled, args, compile seconds)} of the simulator, the JAX reference, the bound."""
    hparams = HParams(jnp.float32(LEARNING_RATE))
    key = jax.random.key(0)
    compiled, seconds = _compile(build_simulate(cfg), hparams, key)
    out = {"rlxform": (compiled, (hparams, key), seconds)}
    args = (jnp.asarray(initial_params(cfg)["logits"]), jnp.float32(LEARNING_RATE), key)
    compiled, seconds = _compile(build_sequence_reference(cfg), *args)
    out["jax_reference"] = (compiled, args, seconds)
    size = cfg.problem.num_prompts * cfg.group_size * cfg.problem.task.max_length

    def bound(key):
        def step(total, step_key):
            return total + jnp.sum(jax.random.uniform(step_key, (size,))), None

        return jax.lax.scan(step, jnp.float32(0), jax.random.split(key, cfg.num_steps))[0]

    compiled, seconds = _compile(bound, key)
    out["uniform_bound"] = (compiled, (key,), seconds)
    return out


def run_w5(scale: float = 1.0, repeats: int = 3) -> dict[str, Any]:
    """Interleaved best-of-``repeats`` walls and rates of rlxform, jax_reference, NumPy, the bound.

    Returns walls, rates, compile and first-result (compile + first call) seconds per row, and
    the ratios of the rlxform row to jax_reference, to NumPy and to the bound.
    """
    cfg = w5_config(scale)
    repeats = check_int("repeats", repeats, 1)
    programs = _programs(cfg)
    first = {}
    for name, (fn, args, seconds) in programs.items():
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        first[name] = seconds + time.perf_counter() - start
    numpy_simulate(w5_config(scale / 10) if scale >= 0.1 else cfg, LEARNING_RATE, 0)
    best = dict.fromkeys((*programs, "numpy"), math.inf)
    for i in range(repeats):
        for name, (fn, args, _) in programs.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            best[name] = min(best[name], time.perf_counter() - start)
        start = time.perf_counter()
        numpy_simulate(cfg, LEARNING_RATE, i)
        best["numpy"] = min(best["numpy"], time.perf_counter() - start)
    first["numpy"] = best["numpy"]
    samples = cfg.problem.num_prompts * cfg.group_size * cfg.num_steps
    return {
        "workload": "W5",
        "num_samples": samples,
        "wall_seconds": best,
        "samples_per_second": {k: samples / v for k, v in best.items()},
        "compile_seconds": {k: v[2] for k, v in programs.items()} | {"numpy": 0.0},
        "first_result_seconds": first,
        "speedup_vs_jax_reference": {"rlxform": best["jax_reference"] / best["rlxform"]},
        "speedup_vs_numpy": {k: best["numpy"] / best[k] for k in ("rlxform",)},
        "fraction_of_uniform_bound": {k: best["uniform_bound"] / best[k] for k in ("rlxform",)},
    }


def w5_records(scale: float = 1.0, repeats: int = 3) -> list[dict[str, Any]]:
    """``run_w5`` as ``rlxform.reproduce.bench`` records (one per implementation)."""
    from rlxform.reproduce.bench.workloads import device_name

    out = run_w5(scale, repeats)
    return [
        {
            "workload": "W5",
            "implementation": name,
            "samples_per_second": out["samples_per_second"][name],
            "compile_seconds": out["compile_seconds"][name],
            "first_result_seconds": out["first_result_seconds"][name],
            "peak_bytes": 0,
            "device": "numpy" if name == "numpy" else device_name(),
            "prng": "numpy" if name == "numpy" else runtime.current_prng(),
            "wall_seconds": out["wall_seconds"][name],
            "num_samples": out["num_samples"],
        }
        for name in ("rlxform", "jax_reference", "numpy", "uniform_bound")
    ]


def cdf_walk(key: PRNGKey, cdf: Array, prompts: Array, group_size: int, max_length: int) -> Array:
    """Inverse-CDF token walk on a precomputed cumulative table, ``int32[B, M, max_length]``.

    ``cdf float[P, num_prefixes, V]`` holds each row's normalised prefix sums (the last, the
    total, is set to 2 so no uniform reaches it); at each position t = #{k : u >= cdf[row, k]}
    with the uniforms of ``sample_tokens`` (same draws), then the walk moves to row
    b n + 1 + t, b = V - 1. One gather and V-1 compares per token: the least work a
    per-token sampler does once its probabilities exist (no softmax, no PAD bookkeeping; tokens
    after a stop are kept). The W5 breakdown times it as the sampler's floor.
    """
    num_prompts, num_nodes, width = cdf.shape
    batch = prompts.shape[0]
    rows_of = cdf.reshape(num_prompts * num_nodes, width)
    base = (prompts * num_nodes)[:, None]
    uniforms = jax.random.uniform(key, (max_length, batch, group_size), cdf.dtype)

    def step(node, u):
        rows = rows_of.at[(base + node).reshape(-1)].get(mode="promise_in_bounds")
        token = jnp.sum(u.reshape(-1, 1) >= rows, axis=-1, dtype=jnp.int32).reshape(node.shape)
        return jnp.minimum((width - 1) * node + 1 + token, num_nodes - 1), token

    _, tokens = jax.lax.scan(step, jnp.zeros((batch, group_size), jnp.int32), uniforms)
    return jnp.moveaxis(tokens, 0, -1)


def w5_breakdown(scale: float = 1.0, repeats: int = 3) -> dict[str, Any]:
    """Walls of W5's parts, timed side by side (interleaved, best of ``repeats``).

    Rows: ``uniform_bound``; ``cdf_walk`` (T steps of ``cdf_walk`` on the initial policy's
    cumulative table: uniforms, gathers, compares); ``cdf_walk_cached`` (the same walk with
    every group reading prompt 0's rows: the same work on a cache-resident table, so the gap
    to ``cdf_walk`` is the cost of reading the ``[P, num_prefixes, V]`` table); ``sampler``
    (T steps of ``sample_token_probs``, the simulator's sampler with its row softmax);
    ``records`` (the run's two exact records, ``length_stats`` of two tables); ``record_exp``
    (one exp per entry of each table: the least an exact record computes, since p depends on
    every row's softmax); ``scatter`` (T scatter-adds of one real step's score delta into its
    visited rows: the update's memory traffic, no coefficients); ``rlxform`` (the whole run).
    Returns {"wall_seconds": {row: s}, "fraction_of_uniform_bound": {row: bound / wall}}.
    """
    cfg = w5_config(scale)
    repeats = check_int("repeats", repeats, 1)
    problem, task = cfg.problem, cfg.problem.task
    logits = jnp.asarray(initial_params(cfg)["logits"])
    prompts = jnp.arange(problem.num_prompts, dtype=jnp.int32)
    table = np.asarray(logits, np.float64)
    probs = np.exp(table - table.max(-1, keepdims=True))
    cdf = np.cumsum(probs / probs.sum(-1, keepdims=True), axis=-1)
    cdf = jnp.asarray(
        np.concatenate([cdf[..., :-1], np.full_like(cdf[..., -1:], 2.0)], -1), jnp.float32
    )
    steps = lambda key: jax.random.split(key, cfg.num_steps)
    m, length = cfg.group_size, task.max_length

    def walk(key, cdf, prompts):
        def step(total, k):
            return total + jnp.sum(cdf_walk(k, cdf, prompts, m, length)[..., -1]), None

        return jax.lax.scan(step, jnp.int32(0), steps(key))[0]

    def sampler(key, logits):
        def step(total, k):
            tokens, _, probs = sample_token_probs(k, logits, prompts, m, length)
            return total + jnp.sum(probs[:, :, -1, 0]) + jnp.sum(tokens[..., -1]), None

        return jax.lax.scan(step, jnp.float32(0), steps(key))[0]

    def records(first, last):
        return jax.tree.map(jnp.mean, (length_stats(first, task), length_stats(last, task)))

    def record_exp(first, last):
        return jnp.sum(jnp.exp(first)) + jnp.sum(jnp.exp(last))

    def scatter(flat, rows, delta):
        def step(flat, _):
            return flat.at[rows].add(delta, mode="promise_in_bounds"), None

        flat = jax.lax.scan(step, flat, None, length=cfg.num_steps)[0]
        return flat[rows[-1]]

    key = jax.random.key(0)
    tokens, nodes, probs = sample_token_probs(key, logits, prompts, m, length)
    live = nodes >= 0  # one real step's visited rows and a score-shaped delta (as sequence_sparse)
    num_nodes = logits.shape[1]
    rows = (prompts[:, None, None] * num_nodes + jnp.where(live, nodes, 0)).reshape(-1)
    onehot = jax.nn.one_hot(jnp.where(live, tokens, 0), logits.shape[-1])
    delta = (1e-3 * live[..., None] * (onehot - probs)).reshape(-1, logits.shape[-1])
    flat = logits.reshape(-1, logits.shape[-1])

    programs = {name: v[:2] for name, v in _programs(cfg).items() if name != "jax_reference"}
    for name, read in (("cdf_walk", prompts), ("cdf_walk_cached", jnp.zeros_like(prompts))):
        programs[name] = (_compile(walk, key, cdf, read)[0], (key, cdf, read))
    programs["sampler"] = (_compile(sampler, key, logits)[0], (key, logits))
    tables = (logits, jnp.array(logits, copy=True))
    programs["records"] = (_compile(records, *tables)[0], tables)
    programs["record_exp"] = (_compile(record_exp, *tables)[0], tables)
    programs["scatter"] = (_compile(scatter, flat, rows, delta)[0], (flat, rows, delta))
    best = dict.fromkeys(programs, math.inf)
    for fn, args in programs.values():
        jax.block_until_ready(fn(*args))
    for _ in range(repeats):
        for name, (fn, args) in programs.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            best[name] = min(best[name], time.perf_counter() - start)
    bound = best["uniform_bound"]
    return {
        "wall_seconds": best,
        "fraction_of_uniform_bound": {k: bound / v for k, v in best.items()},
    }


def format_w5_breakdown(result: dict[str, Any]) -> str:
    """``w5_breakdown``'s result as a Markdown table (wall ms, fraction of the uniform bound)."""
    lines = ["| part | wall ms | fraction of uniform bound |", "|---|---|---|"]
    for name, wall in result["wall_seconds"].items():
        fraction = result["fraction_of_uniform_bound"][name]
        lines.append(f"| {name} | {wall * 1e3:.1f} | {fraction:.2f}x |")
    return "\n".join(lines)
