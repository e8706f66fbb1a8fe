"""Sharded sweeps equal single-device sweeps; chunked sweeps resume without recomputing.

The sharded runs happen in a subprocess with 4 host-platform CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=4; the flag must be set before JAX starts).
Equality is asserted bitwise: each run is computed wholly on one device by the same per-run
program (vmap over a flat grid axis, no cross-device reduction), so the device count changes
only which device computes it, not the arithmetic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from rlxform.results import read_table

SCRIPT = textwrap.dedent(
    """
    import json, sys, tempfile
    import jax, numpy as np
    from rlxform import sharding, sweeps, simulate as sim

    assert len(jax.devices()) == 4, jax.devices()
    cfg = sim.SimConfig("grpo", sim.Problem("tabular", 6, 4, 1, init_p=("beta", 1.0, 1.0)),
                        8, 12, record_every=4)
    hp = sweeps.grid([0.05, 0.1, 0.3])
    keys = jax.random.split(jax.random.key(0), 3)  # G = 9, not a multiple of 4: padded
    reference = sweeps.make_sweep(cfg)(hp, keys)
    single = sharding.sharded_sweep(cfg, hp, keys, devices=jax.devices()[:1])
    sharded_fn = sharding.make_sharded_sweep(cfg)
    flat_hp, flat_keys = sharding.flatten_grid(hp, keys)
    sharded_flat = sharded_fn(flat_hp, flat_keys)
    sharded = sharding.unflatten(sharded_flat, 3, 3)
    out = {"num_devices": len(sharded_fn.mesh.devices.reshape(-1)), "fields": {}}
    for name in reference._fields:
        ref = np.asarray(getattr(reference, name))
        out["fields"][name] = {
            "shape": list(np.asarray(getattr(sharded, name)).shape),
            "sharded_vs_make_sweep": bool(np.array_equal(ref, np.asarray(getattr(sharded, name)))),
            "sharded_vs_single": bool(np.array_equal(np.asarray(getattr(single, name)),
                                                     np.asarray(getattr(sharded, name)))),
        }
    directory = sys.argv[1]
    first = []
    partial = sharding.run_chunked(cfg, hp, keys, directory, chunk_size=4,
                                   process_index=0, process_count=2, on_chunk=first.append)
    rest = []
    chunked = sharding.run_chunked(cfg, hp, keys, directory, chunk_size=4, on_chunk=rest.append)
    again = []
    sharding.run_chunked(cfg, hp, keys, directory, chunk_size=4, on_chunk=again.append)
    out["partial_returned_none"] = partial is None
    out["first"], out["rest"], out["again"] = first, rest, again
    out["chunked_equal"] = all(
        np.array_equal(np.asarray(getattr(chunked, n)), np.asarray(getattr(reference, n)))
        for n in reference._fields)
    print("RESULT " + json.dumps(out))
    """
)


def test_sharded_sweep_matches_single_device_and_chunks_resume(tmp_path):
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "chunks")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT ") :])
    assert out["num_devices"] == 4
    assert out["fields"]["p"]["shape"] == [3, 3, 4, 6]
    for name, item in out["fields"].items():
        assert item["sharded_vs_make_sweep"], name
        assert item["sharded_vs_single"], name
    # 9 runs in chunks of 4 -> 3 chunks; process 0 of 2 computes chunks 0 and 2, then a
    # single-process rerun computes only chunk 1, and a third run computes nothing.
    assert out["first"] == [0, 2]
    assert out["partial_returned_none"]
    assert out["rest"] == [1]
    assert out["again"] == []
    assert out["chunked_equal"]
    assert sorted(p.name for p in (tmp_path / "chunks").glob("*.npz")) == [
        "chunk000000.npz",
        "chunk000001.npz",
        "chunk000002.npz",
    ]


def test_initialize_distributed_single_process_is_a_no_op(monkeypatch):
    from rlxform import sharding

    for name in ("RLXFORM_COORDINATOR", "RLXFORM_NUM_PROCESSES", "RLXFORM_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    assert sharding.initialize_distributed() == (0, 1)


def test_flatten_grid_order():
    import jax
    import numpy as np

    from rlxform import sharding, sweeps

    hp = sweeps.grid([0.1, 0.2])
    keys = jax.random.split(jax.random.key(3), 3)
    flat_hp, flat_keys = sharding.flatten_grid(hp, keys)
    np.testing.assert_array_equal(
        np.asarray(flat_hp.learning_rate), np.float32([0.1, 0.1, 0.1, 0.2, 0.2, 0.2])
    )
    data = np.asarray(jax.random.key_data(flat_keys))
    expected = np.asarray(jax.random.key_data(keys))[[0, 1, 2, 0, 1, 2]]
    np.testing.assert_array_equal(data, expected)


SWEEP_TOML = """
learning_rate = [0.1, 1.0, 3.0]
group_size = [2, 4]
seeds = 3
seed = 0
steps = 8
records = 4
threshold = 0.6

[policy]
kind = "tabular"
num_prompts = 4
num_responses = 3

[population]
init_p = "grid"

[[schemes]]
name = "grpo"

[[schemes]]
name = "rejection_sampling"
"""


def test_cli_sweep_uses_all_devices_with_identical_tables(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(SWEEP_TOML)
    outputs = {}
    for devices in (1, 4):
        env = dict(
            os.environ,
            XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
            JAX_PLATFORMS="cpu",
        )
        out = tmp_path / f"out{devices}"
        proc = subprocess.run(
            [sys.executable, "-m", "rlxform", "sweep", str(config), "--out", str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        outputs[devices] = out
    # Each run is computed on one device by the same per-run program, but XLA may vectorise a
    # per-device batch of 3 runs differently from 9, so floats may differ in the last bit.
    for name in ("sweep.csv", "sweep_summary.csv"):
        one, four = read_table(outputs[1] / name), read_table(outputs[4] / name)
        assert list(one) == list(four) and len(one["step" if "step" in one else "seed"]) > 10
        for column in one:
            a, b = one[column], four[column]
            if a.dtype.kind == "f":
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=column)
            else:
                np.testing.assert_array_equal(a, b, err_msg=column)
