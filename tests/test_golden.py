"""Golden guard: the simulator's Metrics, bit for bit, for a handful of fixed configs.

Any change to what the simulator computes (random streams, operation order, dtypes) changes a
digest. Such a change must be on purpose: bump the version, say why, and regenerate with
``python tests/test_golden.py`` (prints the new digests).
"""

from __future__ import annotations

import functools
import hashlib
import json

import jax
import numpy as np
import pytest

from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams
from rlxform.sim.simulate import make_simulate

CONFIGS = {
    "tabular_inverse_cdf": (
        SimConfig(
            "grpo",
            problem=Problem(policy="tabular", num_prompts=8, num_responses=4, init_p="grid"),
            group_size=8,
            num_steps=20,
            record_every=5,
            sampler="inverse_cdf",
        ),
        0.5,
    ),
    "counts_m256": (
        SimConfig(
            "rloo",
            problem=Problem(policy="tabular", num_prompts=8, num_responses=4, init_p="grid"),
            group_size=256,
            num_steps=10,
            record_every=5,
            sampler="counts",
        ),
        0.5,
    ),
    "network": (
        SimConfig(
            "rejection_sampling",
            problem=Problem(
                policy="network",
                num_prompts=6,
                num_responses=4,
                hidden=8,
                features=4,
                init_p=(0.2, 0.5, 0.7),
            ),
            group_size=4,
            num_steps=12,
            record_every=4,
        ),
        0.3,
    ),
    "scalar_adam_ds": (
        SimConfig(
            "grpo",
            problem=Problem(
                policy="scalar", num_prompts=5, num_responses=2, batch_size=2, init_p=(0.3, 0.6)
            ),
            group_size=4,
            num_steps=16,
            record_every=4,
            optimizer="adam",
            dynamic_sampling=True,
        ),
        0.05,
    ),
}

# rlxform 0.2.0-0.4.1 (unchanged), jax 0.10.2, XLA CPU; counts_m256 changed in 0.5.0 (the counts
# sampler draws K - 1 conditional binomials in one lax.scan, its BTRS retries in one loop)
GOLDEN = {
    "tabular_inverse_cdf": "278ba3c36ddfc246fd9ec4776c0bbe8d8d24d961197e6d9a5927bff1204ee4db",
    "counts_m256": "5e7e1957df88b35a133d24d6997034a2c686373d4f4de23710d903329e8074a6",
    "network": "e322895eb675ffe6cb033b3645c9065cfc5f20bb28264ce152405c8fbc8bdfe7",
    "scalar_adam_ds": "987698a8d06b9bda76baf0241f4ae60b41a2e233b68ee6fb9c8a00f3146f0120",
}


def metrics_digest(metrics) -> str:
    """sha256 over every Metrics field's name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for name, leaf in zip(metrics._fields, metrics, strict=True):
        arr = np.ascontiguousarray(np.asarray(leaf))
        digest.update(name.encode())
        digest.update(str(arr.dtype).encode())
        digest.update(str(arr.shape).encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


@functools.cache
def metrics_of(name: str):
    """The Metrics of ``CONFIGS[name]`` on the host (computed once per process)."""
    cfg, learning_rate = CONFIGS[name]
    metrics = make_simulate(cfg)(HParams(np.float32(learning_rate)), jax.random.key(7))
    return jax.device_get(metrics)


def run(name: str) -> str:
    return metrics_digest(metrics_of(name))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_metrics_bitwise_unchanged(name):
    assert run(name) == GOLDEN[name]


def test_digest_sees_one_bit():
    metrics = metrics_of("tabular_inverse_cdf")  # the golden run's own (no second compile)
    p = np.array(metrics.p)
    p.view(np.uint32)[0, 0] ^= 1
    assert metrics_digest(metrics._replace(p=p)) != metrics_digest(metrics)


if __name__ == "__main__":
    print(json.dumps({name: run(name) for name in CONFIGS}, indent=1))
