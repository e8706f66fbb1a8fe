"""Strict values (issue 26, item 6): nested lists are not numbers, a flag of another policy kind is
refused by name, bfloat16 p is a real number like float16, probe files never outlive a full disk,
``bench --json`` is checked before the benchmark. Each fault: one line, exit 2, nothing written.
"""

from __future__ import annotations

import errno
import os
import time

import numpy as np
import pytest

from rlxform import cli
from rlxform.cli_flags import FLAGS
from rlxform.cli_simulate import simulate_config
from rlxform.core import objective, schemes
from rlxform.results import atomic
from rlxform.validation import InputError, check_float, check_unit_interval


def _one_error(capsys, *needles: str) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlxform: error: "), lines
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# ---- nested lists are not numbers ----------------------------------------------------------


@pytest.mark.parametrize("value", [[[0.1]], [0.1], np.array([0.1]), [[[1e-6]]]])
def test_lists_of_one_number_are_not_numbers(value):
    with pytest.raises(InputError, match="must be a finite number"):
        check_float("x", value)
    with pytest.raises(InputError, match="eps"):
        schemes.grpo(eps=value)


def test_zero_d_arrays_are_numbers():
    assert check_float("x", np.array(0.25)) == 0.25
    assert check_float("x", np.float32(0.5)) == 0.5


@pytest.mark.parametrize(
    "line, key",
    [
        ("learning_rate = [[0.1]]", "learning_rate"),
        ("kl_coef = [[0.5]]\nlearning_rate = [0.1]", "kl_coef"),
        ("clip_high = [0.28]\nlearning_rate = [0.1]", "clip_high"),
        ("group_size = [[2]]\nlearning_rate = [0.1]", "group_size"),
        ("steps = [4]\nlearning_rate = [0.1]", "steps"),
    ],
)
def test_toml_nested_lists_refused_by_key(line, key, tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(f'{line}\n[[schemes]]\nname = "grpo"\n')
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 2
    _one_error(capsys, key)
    assert not (tmp_path / "o").exists()


# ---- flags of another policy kind -----------------------------------------------------------


def _sim(*extra: str) -> list[str]:
    return ["simulate", "--scheme", "grpo", "--steps", "2", "--seeds", "1", *extra]


@pytest.mark.parametrize(
    "extra, flag",
    [
        (["--aggregation", "foo"], "--aggregation"),
        (["--aggregation", "token-mean"], "--aggregation"),  # valid, but not for a bandit
        (["--vocab", "5"], "--vocab"),
        (["--max-length", "3"], "--max-length"),
        (["--verifier", "parity"], "--verifier"),
        (["--batch-groups", "2"], "--batch-groups"),
        (["--hidden", "8"], "--hidden"),
        (["--policy", "sequence_tabular", "--responses", "3"], "--responses"),
        (["--policy", "sequence_network", "--correct", "2"], "--correct"),
        (["--policy", "sequence_tabular", "--hidden", "8"], "--hidden"),
    ],
)
def test_flag_of_another_policy_kind_refused_by_name(extra, flag, tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main([*_sim(*extra), "--out", str(out)]) == 2
    _one_error(capsys, f"{flag}=", "applies only to")
    assert not out.exists()


def test_flags_that_apply_are_used_and_defaults_unchanged():
    parse = cli.build_parser().parse_args
    grpo = schemes.grpo()
    network = simulate_config(parse(_sim("--policy", "network", "--hidden", "64")), grpo)
    assert network.sim.problem.hidden == 64  # was silently dropped
    assert simulate_config(parse(_sim("--policy", "network")), grpo).sim.problem.hidden == 32
    gru = simulate_config(parse(_sim("--policy", "sequence_network")), grpo)
    assert gru.sim.problem.hidden == 16 and gru.sim.aggregation == "seq-mean-token-mean"
    # a flag given at its default value is still a flag given: refused for another kind
    with pytest.raises(InputError, match="--vocab"):
        simulate_config(parse(_sim("--vocab", "4")), grpo)


def test_flag_kinds_are_the_registry_kinds():
    from rlxform.sim.kinds import BANDIT_POLICIES, POLICIES, SEQUENCE_POLICIES

    assert set(BANDIT_POLICIES) | set(SEQUENCE_POLICIES) == set(POLICIES)
    kinds = set(POLICIES)
    assert all(set(f.policies or kinds) <= kinds for f in FLAGS)


# ---- bfloat16 -----------------------------------------------------------------------------


def test_bfloat16_p_is_a_real_number_like_float16():
    import jax
    import jax.numpy as jnp
    import ml_dtypes

    p = [0.125, 0.5, 0.75]  # exact in bfloat16 and float16
    t = objective.transform(schemes.grpo(), 8)
    expected = t.weight(np.asarray(p, np.float16))
    np.testing.assert_array_equal(t.weight(np.asarray(p, ml_dtypes.bfloat16)), expected)
    # JAX (one compiled program, not one eager compile per primitive): float32
    traced = np.asarray(jax.jit(t.weight)(jnp.asarray(p, jnp.bfloat16)), np.float64)
    np.testing.assert_allclose(traced, expected, rtol=1e-6)
    with pytest.raises(InputError, match=r"p=1\.5"):
        check_unit_interval("p", np.asarray([0.5, 1.5], ml_dtypes.bfloat16))
    with pytest.raises(InputError, match="not bool, complex or str"):
        check_unit_interval("p", np.asarray([0.5j]))


# ---- probe files after a full disk --------------------------------------------------------


def test_probe_file_removed_when_the_disk_is_full(tmp_path, monkeypatch):
    real = os.fdopen

    class Full:
        def __init__(self, fd, mode):
            self.file = real(fd, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fdopen", Full)
    with pytest.raises(InputError, match="No space left"):
        atomic.check_writable(tmp_path, name="--out")
    assert list(tmp_path.iterdir()) == []  # the probe file is gone


# ---- bench --json is checked first ------------------------------------------------------------


@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_bench_json_path_checked_before_the_benchmark(where, tmp_path, capsys, monkeypatch):
    from rlxform.reproduce import bench

    def never(*args, **kwargs):
        raise AssertionError("the benchmark ran before its --json path was checked")

    monkeypatch.setattr(bench, "main", never)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    path = tmp_path if where == "a directory" else blocker / "bench.json"
    start = time.perf_counter()
    assert cli.main(["bench", "--workload", "W1", "--json", str(path)]) == 2
    assert time.perf_counter() - start < 1.0
    _one_error(capsys, "--json", str(path if where == "a directory" else blocker))
    assert blocker.read_text() == "x"


# ---- an infinite clip is not one that can bind --------------------------------------------------


def _verl_card(tmp_path, clip: str):
    from pathlib import Path

    from rlxform import explain

    text = (Path(__file__).parents[1] / "experiments/configs/verl_grpo.yaml").read_text()
    text = text.replace("ppo_epochs: 1", "ppo_epochs: 2").replace("clip_ratio: 0.2", clip)
    path = tmp_path / "verl.yaml"
    path.write_text(text)
    return explain(path)


def test_infinite_clip_is_refused_or_never_said_to_bind(tmp_path):
    with pytest.raises(InputError, match=r"clip_ratio_low=inf is invalid"):
        _verl_card(tmp_path, "clip_ratio_low: .inf\n    clip_ratio_high: .inf")
    lens = _verl_card(tmp_path, "clip_ratio: 0.2").to_json()["lens"]
    (later,) = [b for b in lens["breaks"] + lens["notes"] if "optimizer steps per rollout" in b]
    assert "the ratio clip [0.8, 1.2]" in later and "never binds" not in later, later


def test_clip_binds_only_with_a_bound_the_ratio_can_reach():
    from types import SimpleNamespace

    from rlxform.explain.sections import clip_binds

    inf = float("inf")
    for low, high, binds in [
        (0.2, 0.2, True),
        (1.0, inf, False),
        (inf, inf, False),
        (1.0, 0.3, True),
        (0.2, inf, True),
    ]:
        assert clip_binds(SimpleNamespace(clip_low=low, clip_high=high)) is binds, (low, high)
