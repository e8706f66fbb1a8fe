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
side. ``compile_seconds`` is ``lower().compile()`` from a cold cache (``jax.clear_caches`` before
each program, the backend started); ``first_result_seconds`` adds the first call (what one fresh
call costs); the first-result ratio is the reference's over rlxform's. ``peak_bytes`` is XLA's
buffer plan of the compiled program (``compiled.memory_analysis()``), or
``device.memory_stats()`` peak on accelerators that report it; for NumPy it is the tracemalloc
peak of one run. The PRNG is the process default (``rlxform bench --prng``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from rlxform.sim import ascent, config
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
    cfg: config.SimConfig
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
    return Workload(name, config.SimConfig.from_flat(**base), lrs, seeds)


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


def numpy_simulate(cfg: config.SimConfig, learning_rate: float, seed: int) -> NDArray:
    """Run the NumPy reference for ``cfg`` (tabular, SGD); returns final p ``float32[P]``."""
    if (
        cfg.problem.policy != "tabular"
        or cfg.optimizer != "sgd"
        or cfg.batch != cfg.problem.num_prompts
    ):
        raise ValueError("the NumPy reference covers tabular policies, SGD, full batches")
    rng = np.random.default_rng(seed)
    logits = np.asarray(ascent.initial_params(cfg)["logits"], np.float32)
    a_table, b_table = (np.asarray(t) for t in ascent.tables(cfg))
    for _ in range(cfg.num_steps):
        logits, _ = numpy_step(
            rng, logits, a_table, b_table, cfg.problem.num_correct, cfg.group_size, learning_rate
        )
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return probs[:, : cfg.problem.num_correct].sum(axis=1)
