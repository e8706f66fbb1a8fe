"""One guard path for size and memory (issue 26, item 4).

``resources.check_run`` is called by ``rlxform simulate`` (every policy kind), ``run_sweep`` (TOML
sweeps, experiments), ``make_simulate``, ``make_sweep``'s calls, ``make_exact`` and
``make_exact_sweep``. Each hostile size of the 0.4.1 probes is answered in one line (exit 2, or
``InputError`` from Python) within a fraction of a second, nothing written: no integer of the
task's response count is formed, the PRNG keys of every step and PPO epoch, the per-step values of
a record block and the inverse-CDF sampler's B x M x K work are counted.
"""

from __future__ import annotations

import time

import jax
import numpy as np
import pytest

from rlxform import cli, resources
from rlxform.core import schemes
from rlxform.core.sequence_tasks import SequenceTask, enumerate_sequences, num_sequences
from rlxform.sim import exact, simulate, sweeps
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams
from rlxform.sim.kinds import BANDIT_POLICIES, SEQUENCE_POLICIES
from rlxform.validation import InputError

SIM = ["simulate", "--scheme", "grpo", "--steps", "2"]
SEQ = [*SIM, "--policy", "sequence_tabular"]


def _one_error(capsys, *needles: str) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlxform: error: "), lines
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(autouse=True)
def _known_budget(monkeypatch):
    """A 16 GB machine with 16 GB available, whatever runs the tests."""
    monkeypatch.delenv(resources.BUDGET_ENV, raising=False)
    monkeypatch.setattr(resources, "available_memory", lambda: 16 * 2**30)
    monkeypatch.setattr(resources, "physical_memory", lambda: 16 * 2**30)


# (argv after `simulate`, phrases of the one line): the 0.4.1 probes
PROBES = {
    "V=1e9, L=1e6": (
        [*SEQ, "--vocab", "1000000000", "--max-length", "1000000"],
        ["--vocab=1000000000", "N ~ 10^9,000,000", "MAX_SEQUENCES"],
    ),
    "V=3, L=1e9": (
        [*SEQ, "--vocab", "3", "--max-length", "1000000000"],
        ["--max-length=1000000000", "N ~ 10^"],
    ),
    "V=2, L=1e9": ([*SEQ, "--vocab", "2", "--max-length", "1000000000"], ["N=1000000001"]),
    "GRU H=1e6": (
        [*SIM, "--policy", "sequence_network", "--hidden", "1000000"],
        ["parameters and optimizer state", "--hidden=1000000"],
    ),
    "sequence M=16384, P=4096": (
        [*SEQ, "--group-size", "16384", "--prompts", "4096"],
        ["sampling work", "--prompts=4096", "--group-size=16384"],
    ),
    "M=16384, K=1e6": (
        [*SIM, "--group-size", "16384", "--responses", "1000000"],
        ["sampling work", "--responses=1000000"],
    ),
    "T=2^31-1, E=2^31-1": (
        [*SIM[:-2], "--steps", "2147483647", "--record-every", "2147483647"],
        ["--record-every=2147483647", "TB"],
    ),
    "T=2^31-1": (
        [*SIM[:-2], "--steps", "2147483647", "--record-every", "1"],
        ["records (2147483648"],
    ),
    "PPO E=1e9": ([*SIM, "--ppo-epochs", "1000000000"], ["--ppo-epochs=1000000000"]),
    "V=65536, L=1, 64 seeds": (
        [*SEQ, "--vocab", "65536", "--max-length", "1", "--seeds", "64", "--prompts", "16"],
        ["sampling work", "--vocab=65536"],
    ),
}


@pytest.mark.parametrize("name", list(PROBES))
def test_cli_size_probes_are_one_line_and_quick(name, tmp_path, capsys, monkeypatch):
    argv, phrases = PROBES[name]
    if name.startswith("V=65536"):  # 4.5 GB: refused below it (it runs on a larger budget)
        monkeypatch.setenv(resources.BUDGET_ENV, "2G")
    out = tmp_path / "out"
    cli.main([*argv, "--out", str(out)])  # the modules this kind imports: time the checks only
    capsys.readouterr()
    start = time.perf_counter()
    assert cli.main([*argv, "--out", str(out)]) == 2
    elapsed = time.perf_counter() - start
    _one_error(capsys, *phrases)
    assert elapsed < 0.5, elapsed
    assert not out.exists()


def test_response_count_decided_without_forming_it():
    start = time.perf_counter()
    for vocab, length in [(10**9, 10**6), (3, 10**9), (2**62, 2**31)]:
        with pytest.raises(ValueError, match="MAX_SEQUENCES"):
            enumerate_sequences(SequenceTask(vocab, length))
    assert time.perf_counter() - start < 0.1
    for vocab in range(2, 7):  # the closed form is the sum it replaces
        for length in range(1, 7):
            b = vocab - 1
            assert num_sequences(vocab, length) == sum(b**k for k in range(length)) + b**length


def test_large_vocab_log_probs_trace_one_reduce_not_v_columns():
    from rlxform.core.sequences import response_log_probs

    task = SequenceTask(4096, 1)
    table = jax.numpy.zeros((1, 1, 4096))
    jaxpr = jax.make_jaxpr(lambda t: response_log_probs(t, task))(table)
    assert len(jaxpr.jaxpr.eqns) < 60  # 0.4.1: 3 x 4096 column ops traced (minutes)


TOML = 'learning_rate = [0.1]\ngroup_size = [4]\nsteps = 10\n{}\n[[schemes]]\nname = "grpo"\n'


@pytest.mark.parametrize(
    "line, phrases",
    [
        ("ppo_epochs = 1000000000", ["PRNG keys of steps=10 x ppo_epochs=1000000000"]),
        ("ppo_epochs = 1e9", ["ppo_epochs=1000000000.0", "integer"]),
        ("ppo_epochs = 1e39", ["ppo_epochs=1e+39", "integer"]),
        ("ppo_epochs = " + "1" + "0" * 38, ["39 digits"]),
        (
            "learning_rate = [" + ", ".join(["0.1"] * 2000) + "]\nsteps = 100000\nrecords = 100000",
            ["table rows (400,004,000 ="],
        ),
    ],
    ids=["1000000000", "1e9", "1e39", "10^38", "tables of 400M rows"],
)
def test_absurd_toml_refused_in_one_line(line, phrases, tmp_path, capsys, monkeypatch):
    if "table" in phrases[0]:  # the table stage is counted too (0.4.1: 20 minutes, 15 GB)
        text = TOML.replace("learning_rate = [0.1]\n", "").replace("steps = 10\n", "")
        text = text.format(line + "\nseeds = 1")
    else:
        text = TOML.format(line)
    path = tmp_path / "s.toml"
    path.write_text(text)
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 2
    _one_error(capsys, *phrases)
    assert not (tmp_path / "o").exists()


def test_budget_beyond_the_machine_is_clamped_with_a_warning(monkeypatch):
    monkeypatch.setenv(resources.BUDGET_ENV, "1T")
    with pytest.warns(resources.BudgetWarning, match=r"1T is more than this machine's memory"):
        budget, source = resources.memory_budget()
    assert budget == 16 * 2**30 and "clamped" in source
    monkeypatch.setenv(resources.BUDGET_ENV, "8G")
    assert resources.memory_budget() == (8 * 2**30, resources.BUDGET_ENV)


def test_accelerator_memory_bounds_the_budget(monkeypatch):
    monkeypatch.setattr(resources, "device_memory", lambda devices=1: devices * 2**30)
    assert resources.memory_budget(devices=4)[0] == 4 * 2**30
    assert "accelerator" in resources.memory_budget()[1]


def _cfg(policy: str, **fields) -> SimConfig:
    problem = Problem(policy=policy, num_prompts=2, **fields)
    return SimConfig(schemes.grpo(), problem, group_size=4, num_steps=4)


@pytest.mark.parametrize("policy", [*BANDIT_POLICIES, *SEQUENCE_POLICIES])
def test_every_kind_goes_through_the_same_guard(policy, monkeypatch):
    cfg = _cfg(policy)
    small = resources.simulation_bytes(cfg, 10)
    assert resources.check_run(cfg, 10) == small
    monkeypatch.setenv(resources.BUDGET_ENV, str(small - 1))
    with pytest.raises(InputError, match=r"make_sweep .* runs"):
        resources.check_run(cfg, 10, what="make_sweep")
    monkeypatch.setenv(resources.BUDGET_ENV, str(resources.simulation_bytes(cfg, 1) - 1))
    with pytest.raises(InputError, match="make_simulate"):
        simulate.make_simulate(cfg)


def test_python_entry_points_refuse_before_compiling(monkeypatch):
    cfg = _cfg("tabular")
    one = resources.simulation_bytes(cfg, 1)
    monkeypatch.setenv(resources.BUDGET_ENV, str(50 * one))
    sweep = sweeps.make_sweep(cfg)  # fine to build: the size comes with the call
    grid = HParams(np.full(8, 0.1, np.float32))
    keys = jax.random.split(jax.random.key(0), 8)  # 64 runs > 50
    with pytest.raises(InputError, match=r"make_sweep \(64 runs"):
        sweep(grid, keys)
    with pytest.raises(InputError, match=r"make_sweep \(64 runs"):
        sweep.lower(grid, keys)
    with pytest.raises(InputError, match=r"\.runs \(64 runs"):
        sweep.runs(*sweeps.flatten_grid(grid, keys))
    monkeypatch.setenv(resources.BUDGET_ENV, "100")  # bytes: below one exact point
    with pytest.raises(InputError, match="make_exact"):
        exact.make_exact(cfg)
    with pytest.raises(InputError, match="make_exact_sweep"):
        sweeps.make_exact_sweep(cfg)(grid)


def test_run_sweep_is_guarded_before_writing(tmp_path, monkeypatch):
    from rlxform.reproduce.sweep_config import SweepConfig
    from rlxform.reproduce.sweep_runner import run_sweep

    config = SweepConfig(_cfg("tabular"), HParams((0.1, 0.2)), (2,), (schemes.grpo(),), seeds=2)
    monkeypatch.setenv(resources.BUDGET_ENV, "1K")
    with pytest.raises(InputError, match="sweep"):
        run_sweep(config, tmp_path / "o")
    assert not (tmp_path / "o").exists()
