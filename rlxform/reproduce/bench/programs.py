"""Benchmark programs and timers: rlxform, the plain-JAX reference and the uniform bound.

Each ``*_program(work)`` returns ``(jitted fn, args)`` for one ``Workload``; ``_compile`` times
``lower().compile()`` from a cold cache; ``_time_compiled`` is the best wall time of ``repeats``
calls; ``_peak_bytes`` reads device memory stats or XLA's buffer plan.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rlxform.reproduce.bench.workloads import (
    LEARNING_RATE,
    Workload,
)
from rlxform.sim import ascent, bandits, config, policies, sweeps
from rlxform.sim import simulate as sim
from rlxform.sim.hparams import HParams

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


@functools.cache
def _start_backend() -> None:
    """Compile and run one tiny program, once per process (the backend's start-up)."""
    jax.block_until_ready(jax.jit(lambda x: x + 1)(np.float32(0)))


def cold_start() -> None:
    """Make the next compile cold, alike for every program: the backend is up (no program
    pays the process's start-up) and JAX's trace and lowering caches are empty
    (``jax.clear_caches``: no program reuses what an earlier one lowered, e.g. the PRNG)."""
    _start_backend()
    jax.clear_caches()


def _compile(fn: Callable, args: Sequence[Any]) -> tuple[Any, float]:
    """(compiled, seconds) of ``jax.jit(fn).lower(*args).compile()`` from ``cold_start``."""
    cold_start()
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
        return simulate, (HParams(jnp.float32(LEARNING_RATE)), key)
    hparams = sweeps.grid(np.geomspace(LEARNING_RATE / 10, LEARNING_RATE * 10, work.num_lrs))
    if distinct_keys:
        keys = jax.random.split(key, (work.num_lrs, work.num_seeds))
        return jax.vmap(jax.vmap(simulate, in_axes=(None, 0))), (hparams, keys)
    keys = jax.random.split(key, work.num_seeds)
    over_seeds = jax.vmap(simulate, in_axes=(None, 0))
    return jax.vmap(over_seeds, in_axes=(0, None)), (hparams, keys)


def build_reference(cfg: config.SimConfig) -> Callable:
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
    a_table, b_table = ascent.tables(cfg)
    trainable0, constants = policies.partition(ascent.initial_params(cfg))
    counts_sampler = cfg.resolved_sampler == "counts"

    def surrogate(trainable, coef):
        logits = bandits.logits(policies.combine(trainable, constants), pcfg)
        return -jnp.sum(coef * jax.nn.log_softmax(logits)) / num_prompts

    def run(learning_rate, key):
        optimizer = optax.sgd(learning_rate)

        def step(carry, step_key):
            trainable, opt_state = carry
            logits = bandits.logits(policies.combine(trainable, constants), pcfg)
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
        logits = bandits.logits(policies.combine(carry[0], constants), pcfg)
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
