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
from rlxform.reproduce.bench.sequence_reference import build_sequence_reference
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.sequence_policies import num_prefixes
from rlxform.sim.sequence_tasks import enumerate_sequences
from rlxform.sim.simulate import HParams, build_simulate, initial_params
from rlxform.types import NDArray

LEARNING_RATE = 0.1


def w5_config(scale: float = 1.0) -> SimConfig:
    """The W5 config; ``scale`` < 1 shrinks P and T (for tests)."""
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
