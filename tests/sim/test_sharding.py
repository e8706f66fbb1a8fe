"""Sharded sweeps equal single-device sweeps; sweeps over devices and hosts give one table.

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
import pytest

from rlxform.results import read_table

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    from rlxform.sim import config as sim, sweeps

    assert len(jax.devices()) == 4, jax.devices()
    problem = sim.Problem("tabular", 6, 4, 1, init_p=("beta", 1.0, 1.0))
    cfg = sim.SimConfig("grpo", problem, 8, 12, record_every=4)
    hp = sweeps.grid([0.05, 0.1, 0.3])
    keys = jax.random.split(jax.random.key(0), 3)  # G = 9, not a multiple of 4: padded
    reference = sweeps.make_sweep(cfg)(hp, keys)
    single = sweeps.make_sweep(cfg, jax.devices()[:1])(hp, keys)
    sharded = sweeps.make_sweep(cfg, jax.devices())(hp, keys)
    flat_hp, flat_keys = sweeps.flatten_grid(hp, keys)
    part = sweeps.make_sweep(cfg, jax.devices()).runs(
        jax.tree_util.tree_map(lambda x: x[2:7], flat_hp), flat_keys[2:7])
    out = {"fields": {}}
    for name in reference._fields:
        ref = np.asarray(getattr(reference, name))
        out["fields"][name] = {
            "shape": list(np.asarray(getattr(sharded, name)).shape),
            "sharded_vs_make_sweep": bool(np.array_equal(ref, np.asarray(getattr(sharded, name)))),
            "sharded_vs_single": bool(np.array_equal(np.asarray(getattr(single, name)),
                                                     np.asarray(getattr(sharded, name)))),
            "part_vs_grid": bool(np.array_equal(ref.reshape(9, *ref.shape[2:])[2:7],
                                                np.asarray(getattr(part, name)))),
        }
    print("RESULT " + json.dumps(out))
    """
)


def test_sharded_sweep_matches_single_device_and_parts():
    """``make_sweep(cfg, devices)`` over 4 devices equals ``make_sweep(cfg)`` bit for bit, and
    ``.runs`` of a slice of the flat grid equals that slice of the grid."""
    env = {
        **os.environ,
        # the user's optimisation level: a part of the grid equals the whole grid's rows bit for
        # bit at XLA's default level, not at the tests' level 0 (tests/xla_flags.py)
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT ") :])
    assert out["fields"]["p"]["shape"] == [3, 3, 4, 6]
    for name, item in out["fields"].items():
        assert item["sharded_vs_make_sweep"], name
        assert item["sharded_vs_single"], name
        assert item["part_vs_grid"], name


def test_initialize_distributed_single_process_is_a_no_op(monkeypatch):
    from rlxform.reproduce import sweep_runner

    for name in ("RLXFORM_COORDINATOR", "RLXFORM_NUM_PROCESSES", "RLXFORM_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    assert sweep_runner.initialize_distributed() == (0, 1)


def test_flatten_grid_order():
    import jax
    import numpy as np

    from rlxform.sim import sweeps

    hp = sweeps.grid([0.1, 0.2])
    keys = jax.random.split(jax.random.key(3), 3)
    flat_hp, flat_keys = sweeps.flatten_grid(hp, keys)
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
"""


def test_cli_sweep_uses_all_devices_with_identical_tables(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(SWEEP_TOML)
    outputs = {}
    flags = os.environ.get("XLA_FLAGS", "")  # the test processes' (tests/xla_flags.py)
    for devices in (1, 4):
        env = dict(
            os.environ,
            XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count={devices}",
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


MULTI_TOML = """
learning_rate = [0.3, 1.0]
group_size = [2]
seeds = 2
steps = 6
records = 3

[policy]
kind = "tabular"
num_prompts = 3
num_responses = 3

[[schemes]]
name = "grpo"

[[schemes]]
name = "reinforce"
"""


def test_sweep_multi_host_flags_parse_and_validate(tmp_path, capsys):
    from rlxform import cli

    args = cli.build_parser().parse_args(
        ["sweep", "x.toml", "--coordinator", "h0:1234", "--num-processes", "3", "--process-id", "2"]
    )
    assert (args.coordinator, args.num_processes, args.process_id) == ("h0:1234", 3, 2)
    config = tmp_path / "s.toml"
    config.write_text(MULTI_TOML)
    out = tmp_path / "out"
    argv = ["sweep", str(config), "--out", str(out), "--num-processes", "2", "--process-id", "2"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--process-id=2 is invalid" in err and "\n" not in err
    assert not out.exists()


def test_one_process_multi_host_and_two_processes_equal_the_plain_sweep(tmp_path, monkeypatch):
    from rlxform import cli
    from rlxform.reproduce import sweep_runner
    from rlxform.reproduce.sweep_config import load_sweep_config

    for name in ("RLXFORM_COORDINATOR", "RLXFORM_NUM_PROCESSES", "RLXFORM_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "s.toml"
    config.write_text(MULTI_TOML)
    plain, one = tmp_path / "plain", tmp_path / "one"
    assert cli.main(["sweep", str(config), "--out", str(plain)]) == 0
    flags = ["--num-processes", "1", "--process-id", "0"]
    assert cli.main(["sweep", str(config), "--out", str(one), *flags]) == 0
    # two processes, one after the other on a shared directory: process 1 owns chunk 1 only
    two = tmp_path / "two"
    cfg = load_sweep_config(config)
    assert sweep_runner.run_sweep(cfg, two, process_index=1, process_count=2) is None
    assert sorted(p.name for p in (two / "chunks").glob("*.npz")) == ["001-reinforce-M2.npz"]
    assert not (two / "sweep.csv").exists()
    assert sweep_runner.run_sweep(cfg, two, process_index=0, process_count=2) is not None
    meta = json.loads((two / "sweep.json").read_text())
    assert (meta["chunks_total"], meta["chunks_reused"]) == (2, 0)  # chunk 1 was not owned
    for name in ("sweep.csv", "sweep_summary.csv"):
        expected = (plain / name).read_bytes()
        assert (one / name).read_bytes() == expected
        assert (two / name).read_bytes() == expected


@pytest.mark.slow
def test_two_real_processes_through_jax_distributed_equal_the_plain_sweep(tmp_path):
    """Two ``rlxform sweep`` processes joined by ``jax.distributed`` on localhost."""
    import socket

    from rlxform import cli

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    config = tmp_path / "s.toml"
    config.write_text(MULTI_TOML)
    shared, plain = tmp_path / "shared", tmp_path / "plain"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLXFORM_")}
    env["RLXFORM_JAX_CACHE"] = "off"
    argv = [sys.executable, "-m", "rlxform", "sweep", str(config), "--out", str(shared)]
    argv += ["--coordinator", f"localhost:{port}", "--num-processes", "2"]
    procs = [
        subprocess.Popen(
            [*argv, "--process-id", str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (0, 1)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sum("wrote" in out for out, _ in outs) >= 1  # the last to finish writes the tables
    assert cli.main(["sweep", str(config), "--out", str(plain)]) == 0
    for name in ("sweep.csv", "sweep_summary.csv"):
        assert (shared / name).read_bytes() == (plain / name).read_bytes()
