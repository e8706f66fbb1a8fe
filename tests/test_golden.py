"""Golden guard: the simulator's Metrics, bit for bit, for a handful of fixed configs.

Any change to what the simulator computes (random streams, operation order, dtypes) changes a
digest. Such a change must be on purpose: bump the version, say why, and regenerate with
``python tests/test_golden.py`` (prints the new digests). The digests are computed in a
subprocess with the user's XLA flags: the test processes compile at optimisation level 0
(tests/xla_flags.py), which rounds differently.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import xla_flags

from rlxform.core import schemes
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams
from rlxform.sim.metrics import Metrics

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
        HParams(np.float32(0.5)),
        7,
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
        HParams(np.float32(0.5)),
        7,
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
        HParams(np.float32(0.3)),
        7,
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
        HParams(np.float32(0.05)),
        7,
    ),
    # the default surrogate's PPO run (two epochs of two minibatches, dual clip)
    "tabular_ppo": (
        SimConfig(
            schemes.grpo(std="sample", eps=1e-6),
            Problem("tabular", num_prompts=4, num_responses=3, init_p=(0.2, 0.5, 0.7, 0.4)),
            6,
            4,
            record_every=2,
            ppo_epochs=2,
            num_minibatches=2,
        ),
        HParams(np.float32(2.0), clip_low=0.1, clip_high=0.15, dual_clip=3.0),
        1,
    ),
}

# rlxform 0.2.0-0.4.1 (unchanged), jax 0.10.2, XLA CPU; counts_m256 changed in 0.5.0 (the counts
# sampler draws K - 1 conditional binomials in one lax.scan, its BTRS retries in one loop).
# tabular_ppo moved here from tests/sim/test_loss_mode_sim.py (its digest there, 2afad9f6..., was
# the same bytes without the field names, dtypes and shapes; main dc88085).
GOLDEN = {
    "tabular_inverse_cdf": "278ba3c36ddfc246fd9ec4776c0bbe8d8d24d961197e6d9a5927bff1204ee4db",
    "counts_m256": "5e7e1957df88b35a133d24d6997034a2c686373d4f4de23710d903329e8074a6",
    "network": "e322895eb675ffe6cb033b3645c9065cfc5f20bb28264ce152405c8fbc8bdfe7",
    "scalar_adam_ds": "987698a8d06b9bda76baf0241f4ae60b41a2e233b68ee6fb9c8a00f3146f0120",
    "tabular_ppo": "019ded5c34428d4205b2cfc2886a4a7d1a937791cc88fdfeae9e8b9148059f3a",
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


def run(name: str) -> str:
    """Digest of ``CONFIGS[name]``'s Metrics, computed in this process."""
    import jax

    from rlxform.sim.simulate import make_simulate

    cfg, hparams, seed = CONFIGS[name]
    return metrics_digest(jax.device_get(make_simulate(cfg)(hparams, jax.random.key(seed))))


@pytest.fixture(scope="module")
def digests() -> dict[str, str]:
    """Every config's digest, from one subprocess at the user's XLA flags."""
    return xla_flags.json_at_user_flags(__file__)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_metrics_bitwise_unchanged(digests, name):
    assert digests[name] == GOLDEN[name]


def test_digest_sees_one_bit():
    metrics = Metrics(*(np.linspace(0.0, 1.0, 6, dtype=np.float32) for _ in Metrics._fields))
    p = np.array(metrics.p)
    p.view(np.uint32)[3] ^= 1
    assert metrics_digest(metrics._replace(p=p)) != metrics_digest(metrics)


if __name__ == "__main__":
    print(json.dumps({name: run(name) for name in CONFIGS}, indent=1))
