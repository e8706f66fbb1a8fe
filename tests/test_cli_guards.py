"""One line for every failure (issue 11): bad input in the API and at the CLI, file-system
failures mid-run, resource guards, signals, and the CLI conveniences (--version, defaults in
--help, scalar implies two responses, cycled --init-p, repeated --scheme-param, did you mean)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import one_line_error

from rlxform import cli, cli_guard, resources
from rlxform.core import objective as transforms
from rlxform.core import schemes
from rlxform.reproduce.sweep_config import SweepConfig, load_sweep_config
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams, check_hparams
from rlxform.validation import MAX_SEED, check_choice, check_float

ROOT = Path(__file__).resolve().parents[1]


# ---- the Python API ----------------------------------------------------------------------------

API_CASES = [
    ("eps=True", lambda: schemes.grpo(eps=True), ["eps=True"]),
    ("eps str", lambda: schemes.grpo(eps="1e-6"), ["eps='1e-6'"]),
    ("lam bool", lambda: schemes.w_reinforce(lam=False), ["lam=False"]),
    ("gamma complex", lambda: schemes.f_grpo(gamma=1j), ["gamma=1j"]),
    ("p complex", lambda: transforms.transform(schemes.rloo(), 4).weight(0.5 + 0j), ["p=(0.5+0j)"]),
    ("p str", lambda: transforms.transform(schemes.rloo(), 4).objective("0.5"), ["p='0.5'"]),
    ("p bool", lambda: transforms.transform(schemes.rloo(), 4).weight([True]), ["p="]),
    ("design num_grid 0", lambda: schemes.design("log", 8, num_grid=0), ["num_grid=0"]),
    ("design num_grid huge", lambda: schemes.design("log", 8, num_grid=10**9), ["num_grid"]),
    ("design grid reversed", lambda: schemes.design("log", 8, grid=(0.9, 0.1)), ["grid=(0.9"]),
    ("design grid scalar", lambda: schemes.design("log", 8, grid=0.5), ["grid=0.5"]),
    ("design grid > 1", lambda: schemes.design("log", 8, grid=(0.1, 2.0)), ["grid="]),
    (
        "custom returns str",
        lambda: transforms.transform(schemes.custom(lambda r, s, m: "x"), 4),
        ["fn=", "returned 'x'"],
    ),
    (
        "custom returns None",
        lambda: transforms.transform(schemes.custom(lambda r, s, m: None), 4),
        ["fn=", "returned None"],
    ),
    (
        "custom raises",
        lambda: transforms.transform(schemes.custom(lambda r, s, m: 1 / 0), 4),
        ["fn=", "ZeroDivisionError"],
    ),
    (
        "custom returns nan",
        lambda: transforms.transform(schemes.custom(lambda r, s, m: float("nan")), 4),
        ["fn=", "returned nan"],
    ),
    ("get list", lambda: schemes.get(["grpo"]), ["scheme=['grpo']"]),
    ("get near miss", lambda: schemes.get("grop"), ["did you mean 'grpo'?"]),
    ("choice near miss", lambda: check_choice("policy", "tabulr", ["tabular"]), ["'tabular'?"]),
    ("lr 0 in float32", lambda: check_hparams(HParams(1e-50)), ["learning_rate=1e-50"]),
    ("lr bool", lambda: check_hparams(HParams(True)), ["learning_rate=True"]),
    ("eps str hparams", lambda: check_hparams(HParams(0.1, "1e-6")), ["eps='1e-6'"]),
    ("lr inf in float32", lambda: check_hparams(HParams(1e39)), ["learning_rate=1e+39"]),
    ("steps absurd", lambda: SimConfig("grpo", num_steps=10**12), ["num_steps=1000000000000"]),
    (
        "population seed",
        lambda: SimConfig("grpo", problem=Problem(population_seed=2**64)),
        ["population_seed"],
    ),
]


@pytest.mark.parametrize("call, needles", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_api_rejects_by_name(call, needles):
    with pytest.raises(ValueError) as info:
        call()
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))


def test_numbers_still_accepted():
    import jax.numpy as jnp

    assert check_float("eps", np.float32(0.5)) == 0.5
    assert check_float("eps", jnp.asarray(2)) == 2.0
    assert schemes.grpo(eps=np.int64(1)).kwargs["eps"] == 1.0
    w = transforms.transform(schemes.custom(lambda r, s, m: float(r) - s / m), 4).weight(0.3)
    assert abs(float(w) - 0.75) < 1e-6  # c_k = 1 - 1/M for the mean baseline
    assert schemes.design("log", 8, grid=(0.1, 0.9), num_grid=11).report["grid"] == (0.1, 0.9)


# ---- the CLI: bad input -------------------------------------------------------------------------

SIM = ["simulate", "--scheme", "reinforce", "--prompts", "2", "--steps", "2", "--seeds", "1"]
TOML = """
learning_rate = [0.5]
group_size = [2]
seeds = 2
steps = 4
records = 2
[policy]
num_prompts = 2
num_responses = 2
[[schemes]]
name = "reinforce"
"""

CLI_CASES = [
    ("seed 2**64", [*SIM, "--seed", str(2**64)], ["--seed", str(2**64), str(MAX_SEED)]),
    ("seed < 0", [*SIM, "--seed", "-1"], ["--seed=-1"]),
    ("custom simulate", [*SIM, "--scheme", "custom"], ["custom", "Python"]),
    ("custom transforms", ["transforms", "--schemes", "grpo,custom"], ["custom", "Python"]),
    ("lr 0 in float32", [*SIM, "--lr", "1e-50"], ["--lr=1e-50", "float32"]),
    ("lr inf in float32", [*SIM, "--lr", "1e39"], ["--lr=1e+39", "float32"]),
    ("steps absurd", [*SIM, "--steps", str(10**12)], ["--steps=1000000000000"]),
    ("same key twice", [*SIM, "--scheme-param", "k=1", "--scheme-param", "k=2"], ["'k'", "once"]),
    ("did you mean policy", [*SIM, "--policy", "scaler"], ["did you mean 'scalar'?"]),
    ("did you mean scheme", [*SIM, "--scheme", "rlooo"], ["did you mean 'rloo'?"]),
    ("scalar with K=3", [*SIM, "--policy", "scalar", "--responses", "3"], ["--responses=3"]),
    ("did you mean command", ["simulat"], ["'simulat'", "did you mean 'simulate'?"]),
    ("did you mean --only", ["reproduce", "--only", "fig3_grp"], ["did you mean 'fig3_grpo'?"]),
]


@pytest.mark.parametrize("argv, needles", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_one_line(argv, needles, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main([*argv, "--out", str(out)]) == 2
    one_line_error(capsys.readouterr().err, ["rlxform: error:", *needles])
    assert not out.exists()  # rejected before anything is written


def test_cli_empty_out_is_rejected(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["transforms", "--group-sizes", "4", "--out", ""]) == 2
    one_line_error(capsys.readouterr().err, ["--out=''"])
    assert list(tmp_path.iterdir()) == []  # nothing written into the current directory


SWEEP_CASES = [
    ("not utf-8", b"learning_rate = [0.1]\n# \xff\xfe\n", ["config=", "not UTF-8"]),
    ("lr 0 in float32", b"learning_rate = [1e-50]", ["learning_rate=1e-50", "float32"]),
    ("lr inf in float32", b"learning_rate = [1e39]", ["learning_rate=1e+39", "float32"]),
    ("seed 2**64", b"seed = 18446744073709551615", ["seed=18446744073709551615"]),
    ("population seed", b"[population]\nseed = 4294967296", ["population.seed=4294967296"]),
    ("steps absurd", b"steps = 1000000000000", ["steps=1000000000000"]),
    ("did you mean", b'optimizer = "adamw"', ["did you mean 'adam'?"]),
    ("seeds 1e9", b"seeds = 1000000000", ["sweep", "memory", "RLXFORM_MEMORY_BUDGET"]),
    ("prompts 1e9", b"[policy]\nnum_prompts = 1000000000", ["memory"]),
    ("hidden 1e9", b'[policy]\nkind = "network"\nhidden = 1000000000', ["hidden=1000000000"]),
]


@pytest.mark.parametrize(
    "data, needles", [c[1:] for c in SWEEP_CASES], ids=[c[0] for c in SWEEP_CASES]
)
def test_cli_sweep_config_rejected_before_writing(data, needles, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(resources.BUDGET_ENV, "4G")
    config = tmp_path / "sweep.toml"
    config.write_bytes(data)
    out = tmp_path / "out"
    assert cli.main(["sweep", str(config), "--out", str(out)]) == 2
    one_line_error(capsys.readouterr().err, ["rlxform: error:", *needles])
    assert not out.exists()  # a rejected config never pins a directory


def test_cli_unreadable_config_names_the_file(tmp_path, capsys):
    assert cli.main(["sweep", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    one_line_error(capsys.readouterr().err, [f"config={str(tmp_path)!r}", "a directory"])


# ---- the CLI: file-system failures mid-run ---------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_cli_os_error_mid_run_is_one_line(code, tmp_path, capsys, monkeypatch):
    from rlxform.results import figures

    real = figures.atomic_write_bytes

    def failing(path, data):
        if str(path).endswith(".png"):
            raise OSError(code, os.strerror(code), str(path))
        return real(path, data)

    monkeypatch.setattr(figures, "atomic_write_bytes", failing)  # the figure's write fails
    out = tmp_path / "out"
    argv = ["transforms", "--group-sizes", "4", "--grid", "5", "--out", str(out)]
    assert cli.main(argv) == 2
    line = one_line_error(capsys.readouterr().err, [str(out / "transforms.png"), os.strerror(code)])
    assert "finished chunks are kept" in line
    assert (out / "transforms.csv").exists()  # what finished before the failure is kept


def test_cli_sweep_path_is_a_directory_keeps_chunks(tmp_path, capsys):
    from rlxform import results

    config = tmp_path / "sweep.toml"
    config.write_text(TOML)
    out = tmp_path / "out"
    (out / "sweep.csv").mkdir(parents=True)  # the table's path is a directory
    assert cli.main(["sweep", str(config), "--out", str(out)]) == 2
    one_line_error(capsys.readouterr().err, [str(out / "sweep.csv"), "Is a directory"])
    assert len(list((out / "chunks").glob("*.npz"))) == 1  # the finished chunk is kept
    (out / "sweep.csv").rmdir()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )  # a writer that has exited
    stale = out / f".sweep.csv.pid{int(gone.stdout)}-{results.atomic._host()}.abcd1234.tmp"
    stale.write_text("partial table of a killed run")
    assert cli.main(["sweep", str(config), "--out", str(out)]) == 0
    assert (out / "sweep.csv").is_file()
    assert not list(out.glob(".*.tmp")) and not list((out / "chunks").glob(".*.tmp"))


# ---- resource guards --------------------------------------------------------------------------


def test_memory_budget_default_and_override(monkeypatch):
    monkeypatch.delenv(resources.BUDGET_ENV, raising=False)
    budget, source = resources.memory_budget()
    assert source == "available memory" and budget is not None
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < budget <= physical
    monkeypatch.setenv(resources.BUDGET_ENV, "1.5G")
    assert resources.memory_budget() == (3 * 2**29, resources.BUDGET_ENV)
    monkeypatch.setenv(resources.BUDGET_ENV, "lots")
    with pytest.raises(ValueError, match="RLXFORM_MEMORY_BUDGET='lots'"):
        resources.memory_budget()


def test_simulation_estimate_scales_with_runs_prompts_and_width(monkeypatch):
    small = SimConfig("grpo", problem=Problem(num_prompts=4), num_steps=10)
    big = SimConfig("grpo", problem=Problem(num_prompts=400), num_steps=10)
    net = SimConfig(
        "grpo", problem=Problem(policy="network", num_prompts=4, hidden=4096), num_steps=10
    )
    one = resources.simulation_bytes(small, 1)
    assert resources.simulation_bytes(small, 1000) == 1000 * one
    assert resources.simulation_bytes(big, 1) > 50 * one  # ~linear in P
    assert resources.simulation_bytes(net, 1) > 4 * 4096 * 16  # at least the first layer
    monkeypatch.setenv(resources.BUDGET_ENV, str(one))
    assert resources.check_memory("x", one) == one
    with pytest.raises(ValueError, match="more than the budget"):
        resources.check_memory("x", one + 1)


def test_transforms_at_documented_maxima_refused_below_budget(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(resources.BUDGET_ENV, "8G")
    argv = ["transforms", "--group-sizes", "16384", "--grid", "100001", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    one_line_error(capsys.readouterr().err, ["--grid=100001", "8 GB", "RLXFORM_MEMORY_BUDGET"])


def test_record_every_for_huge_step_counts_without_a_python_loop_over_steps():
    import dataclasses

    def sweep(steps: int, records: int) -> SweepConfig:
        base = SweepConfig()
        sim = dataclasses.replace(base.sim, num_steps=steps)
        return dataclasses.replace(base, sim=sim, group_size=(4,), records=records)

    assert sweep(2**31 - 1, 20).record_every_for(4) == 1  # a prime
    assert sweep(2**30, 20).record_every_for(4) == 2**25
    assert sweep(10**9, 7).record_every_for(4) == 10**9 // 8


# ---- CLI conveniences -----------------------------------------------------------------------


def test_version(capsys):
    from rlxform import __version__

    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"rlxform {__version__}"


def test_help_shows_defaults_and_cycling(capsys):
    with pytest.raises(SystemExit):
        cli.main(["simulate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 0.1)" in text and "(default: sgd)" in text
    assert "cycled" in text


def test_scalar_policy_implies_two_responses_and_init_p_cycling_is_said(tmp_path, capsys):
    argv = [*SIM, "--policy", "scalar", "--prompts", "3", "--init-p", "0.2,0.6"]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 values for 3 prompts, cycled" in out
    assert '"responses": 2' in (tmp_path / "summary.json").read_text()


def test_sweep_config_loader_names_near_misses(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[policy]\nkind = "netwrok"')
    with pytest.raises(ValueError, match="did you mean 'network'"):
        load_sweep_config(path)


# ---- signals --------------------------------------------------------------------------------

LONG_SIM = [
    *["simulate", "--scheme", "grpo", "--policy", "network", "--prompts", "64", "--steps", "400"],
    *["--seeds", "256", "--group-size", "16"],
]


def _interrupt(tmp_path: Path, sig: int, delay: float) -> subprocess.CompletedProcess:
    """Start a simulate run; send ``sig`` ``delay`` s after XLA compilation has begun."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg"}
    env["JAX_LOG_COMPILES"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlxform", *LONG_SIM, "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[str] = []
    compiling = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if "Compiling" in line:
                compiling.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert compiling.wait(180), "".join(lines)
    time.sleep(delay)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    reader.join(timeout=30)
    out = proc.stdout.read()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(lines))


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(4))
def test_sigint_during_compilation_is_one_line_and_130(tmp_path, attempt):
    done = _interrupt(tmp_path, signal.SIGINT, delay=0.05 * attempt)
    assert done.returncode == 130, (done.returncode, done.stderr)  # no segfault (-11)
    assert "Traceback" not in done.stderr and "Segmentation" not in done.stderr
    ours = [line for line in done.stderr.splitlines() if "interrupted" in line]
    assert ours == [f"rlxform: {cli_guard.INTERRUPTED}"], done.stderr
    assert not (tmp_path / "trajectories.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") and "probe" not in p.name]


@pytest.mark.slow
def test_sigterm_is_one_line_and_143(tmp_path):
    done = _interrupt(tmp_path, signal.SIGTERM, delay=0.5)
    assert done.returncode == 143, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    ours = [line for line in done.stderr.splitlines() if "Compiling" not in line]
    assert ours[-1:] == [f"rlxform: {cli_guard.INTERRUPTED}"], done.stderr
