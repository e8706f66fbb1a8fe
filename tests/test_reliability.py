"""Reliability (issue 6): bad input named at every entry, divergence contained, resumable sweeps,
bitwise reproducibility, no 0/0 NaN under jax.grad, configs and results read as data.

Covered elsewhere and not repeated here: float64 accuracy vs mpmath for M <= 4096 and the
hypothesis properties (tests/test_numerics.py); atomic writes, corrupt-chunk detection at the
ChunkStore level and the version warning of ``read_metadata`` (tests/test_results.py); engine and
``transforms`` bad input (tests/test_schemes.py, tests/test_cli.py); degenerate groups in the
forward simulator (tests/test_simulate.py::test_degenerate_groups_never_nan).
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tomllib

import rlxform
from rlxform import cli
from rlxform.core import objective as transforms
from rlxform.core import schemes
from rlxform.results import check_writable
from rlxform.sim import ascent, simulate, sweeps
from rlxform.sim.config import SimConfig
from rlxform.sim.hparams import HParams
from rlxform.validation import MAX_GROUP_SIZE

NAN = float("nan")
INF = float("inf")
HAS_SWEEP = "sweep" in cli.COMMANDS
needs_sweep = pytest.mark.skipif(not HAS_SWEEP, reason="`rlxform sweep` not available")


def _tiny_cfg(**kwargs) -> SimConfig:
    base = dict(scheme="reinforce", num_prompts=2, num_responses=2, group_size=4, num_steps=4)
    return SimConfig.from_flat(**{**base, **kwargs})


def _run_simulate(hparams: HParams):
    return simulate.make_simulate(_tiny_cfg())(hparams, jax.random.key(0))


def _run_sweep(hparams: HParams):
    return sweeps.make_sweep(_tiny_cfg())(hparams, jax.random.split(jax.random.key(0), 2))


# ---- 1. bad input: Python API ------------------------------------------------------------------

# (id, call, argument name, value as it appears in the message)
API_CASES = [
    ("M=0", lambda: transforms.transform(schemes.grpo(), 0), "group_size", "0"),
    (
        "M>max",
        lambda: transforms.transform(schemes.grpo(), MAX_GROUP_SIZE + 1),
        "group_size",
        str(MAX_GROUP_SIZE + 1),
    ),
    ("M=0 sim", lambda: _tiny_cfg(group_size=0), "group_size", "0"),
    (
        "M>max sim",
        lambda: _tiny_cfg(group_size=MAX_GROUP_SIZE + 1),
        "group_size",
        str(MAX_GROUP_SIZE + 1),
    ),
    ("M str", lambda: _tiny_cfg(group_size="8"), "group_size", "'8'"),
    ("p<0", lambda: transforms.transform(schemes.grpo(), 4).weight(-0.1), "p", "-0.1"),
    ("p>1", lambda: transforms.transform(schemes.grpo(), 4).objective(1.5), "p", "1.5"),
    ("p nan", lambda: transforms.transform(schemes.grpo(), 4).weight(NAN), "p", "nan"),
    ("p in array", lambda: transforms.transform(schemes.rloo(), 4).weight([0.2, 2.0]), "p", "2.0"),
    ("init_p nan", lambda: _tiny_cfg(init_p=(NAN,)), "init_p", "nan"),
    ("init_p>1", lambda: _tiny_cfg(init_p=(1.5,)), "init_p", "1.5"),
    ("eps<0", lambda: schemes.grpo(eps=-1.0), "eps", "-1.0"),
    ("eps<0 get", lambda: schemes.get("f_grpo", eps=-1e-3), "eps", "-0.001"),
    ("eps<0 hparams", lambda: _run_simulate(HParams(0.1, -1.0)), "eps", "-1.0"),
    ("k>M", lambda: transforms.transform(schemes.pass_at_k(8), 4), "group_size", "4"),
    ("k>M sim", lambda: _tiny_cfg(scheme=schemes.pass_at_k(8)), "group_size", "4"),
    ("K<2", lambda: _tiny_cfg(num_responses=1), "num_responses", "1"),
    ("C=0", lambda: _tiny_cfg(num_correct=0), "num_correct", "0"),
    ("C=K", lambda: _tiny_cfg(num_responses=3, num_correct=3), "num_correct", "3"),
    ("lr=0", lambda: _run_simulate(HParams(0.0)), "learning_rate", "0.0"),
    ("lr<0", lambda: _run_simulate(HParams(-0.1)), "learning_rate", "-0.1"),
    ("lr nan", lambda: _run_simulate(HParams(NAN)), "learning_rate", "nan"),
    ("lr inf", lambda: _run_simulate(HParams(INF)), "learning_rate", "inf"),
    ("lr inf in grid", lambda: _run_sweep(sweeps.grid([0.1, INF])), "learning_rate", "inf"),
    (
        "lr 0 exact",
        lambda: sweeps.make_exact_sweep(_tiny_cfg())(sweeps.grid([0.0])),
        "learning_rate",
        "0.0",
    ),
    ("steps=0", lambda: _tiny_cfg(num_steps=0), "num_steps", "0"),
    ("steps float", lambda: _tiny_cfg(num_steps=2.5), "num_steps", "2.5"),
    ("batch>P", lambda: _tiny_cfg(batch_size=3), "batch_size", "3"),
    ("scheme", lambda: _tiny_cfg(scheme="nope"), "scheme", "'nope'"),
    ("scheme get", lambda: schemes.get("nope"), "scheme", "'nope'"),
    ("scheme param", lambda: schemes.get("grpo", foo=1), "foo", "grpo"),
    ("policy", lambda: _tiny_cfg(policy="mlp"), "policy", "'mlp'"),
    ("optimizer", lambda: _tiny_cfg(optimizer="rmsprop"), "optimizer", "'rmsprop'"),
    ("dynamic_sampling type", lambda: _tiny_cfg(dynamic_sampling=1), "dynamic_sampling", "1"),
    ("out is a file", lambda: check_writable("/etc/hostname"), "out", "/etc/hostname"),
    ("out under a file", lambda: check_writable("/etc/hostname/sub"), "out", "/etc/hostname/sub"),
]


@pytest.mark.parametrize(
    "call, name, value", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES]
)
def test_api_bad_input_names_argument_and_value(call, name, value):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert name in message and value in message, message
    assert "invalid" in message and "must" in message, message  # says what is allowed


def test_hparams_checked_on_host_only():
    """Validation never breaks tracing: the same functions under an outer vmap still run."""
    fn = simulate.make_simulate(_tiny_cfg())
    lrs = jnp.asarray([0.1, 0.2], jnp.float32)
    out = jax.vmap(lambda lr: fn(HParams(lr), jax.random.key(0)).mean_p)(lrs)
    assert out.shape == (2, 5) and bool(jnp.all(jnp.isfinite(out)))


# ---- 1. bad input: CLI -------------------------------------------------------------------------

SIM = [
    "simulate",
    "--scheme",
    "reinforce",
    "--prompts",
    "2",
    "--responses",
    "2",
    "--steps",
    "2",
    "--seeds",
    "1",
    "--group-size",
    "4",
]

# (id, argv, substrings the one error line must contain)
CLI_CASES = [
    ("M=0", [*SIM, "--group-size", "0"], ["--group-size", "0"]),
    ("M>max", [*SIM, "--group-size", str(MAX_GROUP_SIZE + 1)], [str(MAX_GROUP_SIZE + 1)]),
    ("M not int", [*SIM, "--group-size", "abc"], ["--group-size", "'abc'"]),
    ("transforms M=0", ["transforms", "--group-sizes", "0,4"], ["--group-sizes", "0"]),
    (
        "transforms M>max",
        ["transforms", "--group-sizes", str(MAX_GROUP_SIZE + 1)],
        ["--group-sizes", str(MAX_GROUP_SIZE + 1)],
    ),
    ("init_p nan", [*SIM, "--init-p", "nan"], ["--init-p", "nan"]),
    ("init_p>1", [*SIM, "--init-p", "0.5,1.5"], ["--init-p", "1.5"]),
    ("eps<0", [*SIM, "--scheme", "grpo", "--scheme-param", "eps=-1"], ["eps", "-1"]),
    (
        "transforms eps<0",
        ["transforms", "--schemes", "grpo", "--scheme-param", "eps=-0.5"],
        ["eps", "-0.5"],
    ),
    ("k>M", [*SIM, "--scheme", "pass_at_k", "--scheme-param", "k=8"], ["--group-size", "4"]),
    (
        "transforms k>M",
        ["transforms", "--schemes", "pass_at_k", "--scheme-param", "k=8", "--group-sizes", "4"],
        ["--group-sizes", "4"],
    ),
    ("K<2", [*SIM, "--responses", "1"], ["--responses", "1"]),
    ("C=0", [*SIM, "--correct", "0"], ["--correct", "0"]),
    ("C=K", [*SIM, "--responses", "3", "--correct", "3"], ["--correct", "3"]),
    ("lr=0", [*SIM, "--lr", "0"], ["--lr", "0.0"]),
    ("lr<0", [*SIM, "--lr", "-1"], ["--lr", "-1.0"]),
    ("lr nan", [*SIM, "--lr", "nan"], ["--lr", "nan"]),
    ("lr inf", [*SIM, "--lr", "inf"], ["--lr", "inf"]),
    ("steps=0", [*SIM, "--steps", "0"], ["--steps", "0"]),
    ("batch>P", [*SIM, "--batch-size", "3"], ["--batch-size", "3"]),
    ("scheme", [*SIM, "--scheme", "nope"], ["scheme", "'nope'"]),
    ("transforms scheme", ["transforms", "--schemes", "grpo,nope"], ["scheme", "'nope'"]),
    ("policy", [*SIM, "--policy", "mlp"], ["--policy", "'mlp'"]),
    ("optimizer", [*SIM, "--optimizer", "rmsprop"], ["--optimizer", "'rmsprop'"]),
    ("unknown option", [*SIM, "--bogus", "1"], ["--bogus"]),
    ("unknown scheme param", [*SIM, "--scheme-param", "foo=1"], ["foo"]),
    ("unknown command", ["frobnicate"], ["frobnicate"]),
]


def _assert_one_error_line(err: str, needles) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rlxform: error:"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize("argv, needles", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_one_line(argv, needles, tmp_path, capsys):
    code = cli.main([*argv, "--out", str(tmp_path / "out")] if argv[0] != "frobnicate" else argv)
    captured = capsys.readouterr()
    assert code != 0
    _assert_one_error_line(captured.err, needles)
    assert not (tmp_path / "out" / "trajectories.csv").exists()


@pytest.mark.parametrize("command", ["simulate", "transforms", "sweep"])
@pytest.mark.parametrize("where", ["file", "under_file"])
def test_cli_unwritable_out(command, where, tmp_path, capsys):
    if command == "sweep" and not HAS_SWEEP:
        pytest.skip("`rlxform sweep` not available")
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    out = blocker if where == "file" else blocker / "sub"
    argv = {
        "simulate": SIM,
        "transforms": ["transforms", "--group-sizes", "4"],
        "sweep": ["sweep", str(_write_toml(tmp_path, TINY_SWEEP))],
    }[command]
    assert cli.main([*argv, "--out", str(out)]) != 0
    _assert_one_error_line(capsys.readouterr().err, ["--out", str(out)])


# Through the real entry point (python -m rlxform): one line, exit status 2, no traceback.
SUBPROCESS_CASES = [
    [*SIM, "--lr", "nan"],
    [*SIM, "--group-size", "0"],
    ["transforms", "--group-sizes", "0"],
    [*SIM, "--scheme", "nope"],
]


@pytest.mark.parametrize("argv", SUBPROCESS_CASES, ids=lambda a: " ".join(a[-2:]))
def test_cli_subprocess_bad_input(argv, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "rlxform", *argv, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    _assert_one_error_line(proc.stderr, [argv[-1]])


# ---- 1. bad input: sweep config files ------------------------------------------------------------

TINY_SWEEP = """
learning_rate = [0.5, 1e38]
group_size = [2, 4]
seeds = 2
steps = 8
records = 8
optimizer = "adam"

[policy]
kind = "tabular"
num_prompts = 2
num_responses = 2

[[schemes]]
name = "reinforce"
"""

SWEEP_CASES = [
    ("M=0", "group_size = [0]", ["group_size", "0"]),
    ("M>max", f"group_size = [{MAX_GROUP_SIZE + 1}]", ["group_size", str(MAX_GROUP_SIZE + 1)]),
    ("p nan", "[population]\ninit_p = [nan]", ["init_p", "nan"]),
    ("p>1", "[population]\ninit_p = [0.5, 1.5]", ["init_p", "1.5"]),
    ("eps<0", '[[schemes]]\nname = "grpo"\neps = -1.0', ["eps", "-1.0"]),
    ("k>M", 'group_size = [4]\n[[schemes]]\nname = "pass_at_k"\nk = 8', ["group_size", "4"]),
    ("K<2", "[policy]\nnum_responses = 1", ["num_responses", "1"]),
    ("C=0", "[policy]\nnum_correct = 0", ["num_correct", "0"]),
    ("C=K", "[policy]\nnum_responses = 4\nnum_correct = 4", ["num_correct", "4"]),
    ("scalar K=3", '[policy]\nkind = "scalar"\nnum_responses = 3', ["num_responses", "3"]),
    ("lr=0", "learning_rate = [0.1, 0.0]", ["learning_rate", "0.0"]),
    ("lr nan", "learning_rate = [nan]", ["learning_rate", "nan"]),
    ("lr inf", "learning_rate = [inf]", ["learning_rate", "inf"]),
    ("steps=0", "steps = 0", ["steps", "0"]),
    ("batch>P", "[policy]\nnum_prompts = 2\nbatch_size = 3", ["batch_size", "3"]),
    ("scheme", '[[schemes]]\nname = "nope"', ["name", "'nope'"]),
    ("policy", '[policy]\nkind = "mlp"', ["kind", "'mlp'"]),
    ("optimizer", 'optimizer = "rmsprop"', ["optimizer", "'rmsprop'"]),
    ("unknown key", "learning_rat = [0.1]", ["learning_rat"]),
    ("unknown nested key", "[policy]\nprompts = 3", ["policy.prompts"]),
    ("unknown scheme param", '[[schemes]]\nname = "grpo"\nfoo = 1', ["foo"]),
    ("wrong type int", 'seeds = "4"', ["seeds", "'4'"]),
    ("wrong type list", "learning_rate = 0.1", ["learning_rate", "0.1"]),
    ("wrong type float M", "group_size = [4.5]", ["group_size", "4.5"]),
    (
        "code is data",
        "optimizer = \"__import__('os').system('true')\"",
        ["optimizer", "__import__"],
    ),
    ("not toml", "learning_rate = [0.1", ["config", "cannot read it as TOML"]),
]


def _write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


@needs_sweep
@pytest.mark.parametrize(
    "text, needles", [c[1:] for c in SWEEP_CASES], ids=[c[0] for c in SWEEP_CASES]
)
def test_sweep_config_bad_input(text, needles, tmp_path, capsys):
    from rlxform.reproduce.sweep_config import load_sweep_config

    path = _write_toml(tmp_path, text)
    with pytest.raises(ValueError) as info:
        load_sweep_config(path)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))
    # the CLI rejects it before writing anything
    out = tmp_path / "out"
    assert cli.main(["sweep", str(path), "--out", str(out)]) != 0
    _assert_one_error_line(capsys.readouterr().err, needles)
    assert not out.exists()


# ---- 2. divergence -----------------------------------------------------------------------------


def test_divergence_masked_and_contained():
    cfg = _tiny_cfg(num_steps=8, init_p=(0.3, 0.6), optimizer="adam")  # sgd saturates
    keys = jax.random.split(jax.random.key(3), 3)
    lrs = [0.5, 1e38, 2.0]
    sweep = sweeps.make_sweep(cfg)
    metrics = jax.device_get(sweep(sweeps.grid(lrs), keys))
    diverged_at = np.asarray(metrics.diverged_at)  # [H, S]
    np.testing.assert_array_equal(diverged_at, metrics.nonfinite_step)
    assert diverged_at.shape == (3, 3)
    assert np.all(diverged_at[[0, 2]] == -1)
    assert np.all(diverged_at[1] >= 0) and np.all(diverged_at[1] < cfg.num_steps)
    steps = np.asarray(metrics.step[0, 0])
    for seed in range(3):
        t = int(diverged_at[1, seed])
        after = steps > t
        for field in ("p", "mean_p", "objective", "degenerate_fraction"):
            values = np.asarray(getattr(metrics, field))[1, seed]
            assert np.all(np.isnan(values[after])), (field, t, values)
            assert np.all(np.isfinite(values[~after])), (field, t, values)
        np.testing.assert_array_equal(metrics.finite[1, seed], ~after)
    assert simulate.diverged_at(metrics) == int(diverged_at[1].min())
    # the finite runs of the grid are bitwise what they are when run alone
    for h in (0, 2):
        alone = jax.device_get(sweep(sweeps.grid([lrs[h]]), keys))
        for field in metrics._fields:
            np.testing.assert_array_equal(
                np.asarray(getattr(metrics, field))[h],
                np.asarray(getattr(alone, field))[0],
                err_msg=field,
            )
    # a diverged run alone gives the same step and the same (masked) records
    alone = jax.device_get(simulate.make_simulate(cfg)(HParams(1e38), keys[0]))
    assert int(alone.diverged_at) == int(diverged_at[1, 0])
    np.testing.assert_array_equal(np.isnan(alone.mean_p), np.isnan(metrics.mean_p[1, 0]))


def test_divergence_freezes_last_finite_state():
    """Params are frozen before the first non-finite update: the last record kept is finite."""
    cfg = _tiny_cfg(num_steps=8, optimizer="adam", init_p=(0.3, 0.6))
    metrics = simulate.make_simulate(cfg)(HParams(1e38), jax.random.key(0))
    t = int(metrics.diverged_at)
    assert 1 <= t < 8
    assert np.all(np.isfinite(np.asarray(metrics.p)[: t + 1]))
    assert np.all(np.isnan(np.asarray(metrics.p)[t + 1 :]))


@needs_sweep
def test_sweep_table_has_diverged_at(tmp_path):
    from rlxform.results import read_table

    path = _write_toml(tmp_path, TINY_SWEEP)
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 0
    table = read_table(tmp_path / "out" / "sweep.csv")
    lr = table["learning_rate"]
    big = lr > 1e30
    assert np.all(table["diverged_at"][~big] == -1)
    assert np.all(table["diverged_at"][big] >= 0)
    masked = big & (table["step"] > table["diverged_at"])
    assert masked.any() and np.all(np.isnan(table["mean_p"][masked]))
    assert np.all(np.isfinite(table["mean_p"][~big]))
    summary = read_table(tmp_path / "out" / "sweep_summary.csv")
    assert "diverged_at" in summary


# ---- 3. resumable sweeps: SIGKILL mid-sweep, rerun, nothing recomputed, same bytes --------------

RESUME_SWEEP = """
learning_rate = [0.1, 0.5]
group_size = [2, 3, 4]
seeds = 2
steps = 6
records = 3

[policy]
kind = "tabular"
num_prompts = 3
num_responses = 3

[[schemes]]
name = "reinforce"

[[schemes]]
name = "rloo"
"""
NUM_RESUME_CHUNKS = 6


def _chunk_files(directory: Path) -> dict[str, tuple[int, int, bytes]]:
    """Complete chunks (sidecar present): name -> (inode, mtime_ns, bytes) of the .npz."""
    out = {}
    for side in sorted((directory / "chunks").glob("*.json")):
        if side.name == "manifest.json":
            continue
        data = side.with_suffix(".npz")
        if data.exists():
            st = data.stat()
            out[data.name] = (st.st_ino, st.st_mtime_ns, data.read_bytes())
    return out


def _sweep_cmd(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "rlxform", "sweep", str(config), "--out", str(out)]


@needs_sweep
@pytest.mark.slow
def test_sweep_survives_sigkill_and_resumes(tmp_path):
    config = _write_toml(tmp_path, RESUME_SWEEP)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    # one persistent compilation cache for the four runs (the default for users): the reference
    # run fills it, and the resumed runs' chunks must still equal the reference's bit for bit
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "RLXFORM_JAX_CACHE": str(tmp_path / "jax")}
    ref = subprocess.run(
        _sweep_cmd(config, reference), capture_output=True, text=True, timeout=300, env=env
    )
    assert ref.returncode == 0, ref.stderr
    assert len(_chunk_files(reference)) == NUM_RESUME_CHUNKS

    proc = subprocess.Popen(
        _sweep_cmd(config, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if _chunk_files(killed):  # at least one chunk finished
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    done = _chunk_files(killed)
    assert 1 <= len(done) < NUM_RESUME_CHUNKS, len(done)
    assert not (killed / "sweep.csv").exists()

    rerun = subprocess.run(
        _sweep_cmd(config, killed), capture_output=True, text=True, timeout=300, env=env
    )
    assert rerun.returncode == 0, rerun.stderr
    after = _chunk_files(killed)
    assert len(after) == NUM_RESUME_CHUNKS
    for name, (inode, mtime, data) in done.items():  # finished chunks were not recomputed
        assert after[name][:2] == (inode, mtime), name
        assert after[name][2] == data
    ref_chunks = _chunk_files(reference)
    for name in ref_chunks:
        assert after[name][2] == ref_chunks[name][2], name  # every chunk bitwise equal
    for table in ("sweep.csv", "sweep_summary.csv"):
        assert (killed / table).read_bytes() == (reference / table).read_bytes(), table
    meta = json.loads((killed / "sweep.json").read_text())
    assert meta.get("chunks_reused", len(done)) >= len(done)
    assert not list((killed / "chunks").glob(".*"))  # no temporary files left behind

    # a corrupt chunk planted in the directory is detected and recomputed, never read
    victim = sorted(ref_chunks)[3]
    target = killed / "chunks" / victim
    original = target.read_bytes()
    target.write_bytes(original[: len(original) // 2] + b"\0" * 7)
    untouched = {n: v[:2] for n, v in _chunk_files(killed).items() if n != victim}
    fixed = subprocess.run(
        _sweep_cmd(config, killed), capture_output=True, text=True, timeout=300, env=env
    )
    assert fixed.returncode == 0, fixed.stderr
    final = _chunk_files(killed)
    assert final[victim][2] == original
    assert {n: v[:2] for n, v in final.items() if n != victim} == untouched
    for table in ("sweep.csv", "sweep_summary.csv"):
        assert (killed / table).read_bytes() == (reference / table).read_bytes(), table


@needs_sweep
def test_sweep_resume_warns_about_other_version(tmp_path):
    """Chunks written by another rlxform version are reused with a warning naming both."""
    config = _write_toml(tmp_path, TINY_SWEEP.replace("group_size = [2, 4]", "group_size = [2]"))
    out = tmp_path / "out"
    assert cli.main(["sweep", str(config), "--out", str(out)]) == 0
    manifest = out / "chunks" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["rlxform_version"] = "0.0.1-old"
    manifest.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match=r"0\.0\.1-old.*" + re.escape(rlxform.__version__)):
        assert cli.main(["sweep", str(config), "--out", str(out)]) == 0


# ---- 4. reproducibility ------------------------------------------------------------------------

REPRO_SCRIPT = """
import sys, hashlib, jax, numpy as np
from rlxform.core import schemes
from rlxform.sim import simulate
from rlxform.sim.config import SimConfig
from rlxform.sim.hparams import HParams
cfg = SimConfig.from_flat(schemes.grpo(eps=1e-6), policy="network", num_prompts=4, num_responses=3,
                group_size=6, num_steps=10, batch_size=2, optimizer="adam", init_p=("beta", 1, 2))
m = jax.device_get(simulate.make_simulate(cfg)(HParams(0.05), jax.random.key(7)))
h = hashlib.sha256()
for field in m._fields:
    h.update(np.ascontiguousarray(getattr(m, field)).tobytes())
print(h.hexdigest())
"""


@pytest.mark.slow
def test_same_config_and_seed_bitwise_identical_across_processes():
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    digests = [
        subprocess.run(
            [sys.executable, "-c", REPRO_SCRIPT],
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
            check=True,
        ).stdout.strip()
        for _ in range(2)
    ]
    assert len(digests[0]) == 64 and digests[0] == digests[1]


# ---- 5. no 0/0 NaN in degenerate groups, including under jax.grad --------------------------------


@pytest.mark.parametrize("sampler", ["inverse_cdf", "counts"])
def test_grad_through_degenerate_simulator_is_finite(sampler):
    """GRPO eps = 0, dynamic sampling on, every group all-correct or all-wrong (float32)."""
    cfg = _tiny_cfg(
        scheme=schemes.grpo(eps=0.0),
        dynamic_sampling=True,
        init_p=(1e-6, 1 - 1e-6),
        sampler=sampler,
    )
    run = simulate.build_simulate(cfg)

    def final(lr, eps):
        metrics = run(HParams(lr, eps), jax.random.key(0))
        return metrics.objective[-1] + metrics.mean_p[-1]

    metrics = jax.jit(run)(HParams(jnp.float32(0.5), jnp.float32(0.0)), jax.random.key(0))
    assert float(metrics.degenerate_fraction[1:].min()) == 1.0
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in (metrics.p, metrics.objective))
    grads = jax.jit(jax.grad(final, argnums=(0, 1)))(jnp.float32(0.5), jnp.float32(0.0))
    assert all(np.isfinite(float(g)) for g in grads), grads


@functools.cache
def _advantages_grad_and_jacobian(std: str):
    """jit of (advantages, grad of their sum of squares, Jacobian): one compile per std."""
    advantages = lambda r: schemes.grpo_advantages(r, std=std)
    grad = jax.grad(lambda r: jnp.sum(advantages(r) ** 2))
    return jax.jit(lambda r: (advantages(r), grad(r), jax.jacrev(advantages)(r)))


@pytest.mark.parametrize("std", ["population", "sample"])
@pytest.mark.parametrize("value", [0.0, 1.0, 3.5])
def test_grpo_advantages_grad_finite_for_equal_rewards(std, value):
    """Zero-variance groups: advantages 0 and a finite gradient (sqrt'(0) must not leak)."""
    rewards = np.full((3, 4), value, np.float32)
    adv, grad, jac = _advantages_grad_and_jacobian(std)(rewards)
    np.testing.assert_array_equal(adv, 0.0)
    assert bool(jnp.all(jnp.isfinite(grad))), grad
    assert bool(jnp.all(jnp.isfinite(jac)))


def test_objective_grad_finite_at_p_0_and_1_float32():
    cfg = _tiny_cfg(scheme=schemes.grpo(eps=0.0), group_size=64)
    a_table, b_table = ascent.tables(cfg, jnp.float32(0.0))
    grad = jax.jit(jax.grad(lambda q: ascent.objective_of_tables(a_table, b_table, q)))
    for p in (0.0, 1e-12, 1.0):
        d = grad(jnp.float32(p))
        assert np.isfinite(float(d)), p
    d_eps = jax.jit(jax.grad(lambda e: jnp.sum(jnp.stack(ascent.tables(cfg, e)))))(jnp.float32(0))
    assert np.isfinite(float(d_eps))


# ---- 6. inputs are data: no eval/exec/pickle in the package --------------------------------------

PACKAGE = Path(rlxform.__file__).parent
FORBIDDEN = re.compile(r"\b(eval|exec)\s*\(|\bpickle\b|allow_pickle\s*=\s*True|yaml\.load\(")


def test_package_never_evals_or_unpickles():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            code = code.replace("allow_pickle=False", "")  # the documented, safe use
            if FORBIDDEN.search(code):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, offenders
    # every np.load in the package passes allow_pickle=False explicitly
    for path in sorted(PACKAGE.rglob("*.py")):
        for line in path.read_text().splitlines():
            if "np.load(" in line:
                assert "allow_pickle=False" in line, (path.name, line)


@needs_sweep
def test_sweep_config_is_parsed_with_tomllib_not_evaluated(tmp_path, monkeypatch):
    """A value that would run code if evaluated stays an (invalid) string."""
    import builtins

    from rlxform.reproduce.sweep_config import load_sweep_config

    def refuse(*args, **kwargs):
        raise AssertionError("eval/exec called while loading a config")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    marker = tmp_path / "pwned"
    path = _write_toml(tmp_path, f"seeds = \"__import__('pathlib').Path('{marker}').touch()\"")
    with pytest.raises(ValueError, match="seeds"):
        load_sweep_config(path)
    assert not marker.exists()
    assert load_sweep_config(_write_toml(tmp_path, TINY_SWEEP)).learning_rate == (0.5, 1e38)
    assert tomllib.loads(TINY_SWEEP)["seeds"] == 2
