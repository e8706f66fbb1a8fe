"""The command line: outputs, and one-line errors with a non-zero exit for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rlxform import cli
from rlxform.results import read_table


def test_schemes_lists_catalog(capsys):
    assert cli.main(["schemes"]) == 0
    out = capsys.readouterr().out
    for name in ("reinforce", "grpo", "rejection_sampling", "pass_at_k", "f_grpo"):
        assert name in out


def test_transforms_writes_table_and_figure(tmp_path):
    out = tmp_path / "tr"
    code = cli.main(
        [
            "transforms",
            "--schemes",
            "grpo,rloo,pass_at_k",
            "--scheme-param",
            "eps=0.01",
            "--scheme-param",
            "pass_at_k.k=2",
            "--group-sizes",
            "4,16",
            "--grid",
            "11",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    table = read_table(out / "transforms.csv")
    assert list(table) == ["scheme", "params", "M", "p", "weight", "objective", "limit"]
    assert len(table["p"]) == 3 * 2 * 11
    rloo = table["scheme"] == "rloo"
    np.testing.assert_allclose(table["weight"][rloo], 1.0, rtol=1e-12)
    np.testing.assert_allclose(table["objective"][rloo], table["p"][rloo], atol=1e-12)
    pk = table["scheme"] == "pass_at_k"
    np.testing.assert_allclose(table["objective"][pk], 1 - (1 - table["p"][pk]) ** 2, atol=1e-12)
    grpo = (table["scheme"] == "grpo") & (table["p"] == 1.0)
    assert np.all(
        np.char.find(table["params"][table["scheme"] == "grpo"].astype(str), '"eps": 0.01') >= 0
    )
    assert np.all(np.isfinite(table["objective"][grpo]))
    assert (out / "transforms.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["transforms", "--schemes", "grpo,nope"], "scheme='nope' is invalid"),
        (["transforms", "--group-sizes", "0"], "--group-sizes=0 is invalid"),
        (["transforms", "--schemes", "rloo", "--group-sizes", "1"], "--group-sizes=1 is invalid"),
        (["transforms", "--group-sizes", "4,x"], "--group-sizes='4,x' is invalid"),
        (["transforms", "--scheme-param", "eps=-1"], "eps=-1.0 is invalid"),
        (["transforms", "--scheme-param", "k=3", "--schemes", "grpo"], "'k' is invalid"),
        (["transforms", "--scheme-param", "noequals"], "--scheme-param='noequals' is invalid"),
        (
            ["transforms", "--schemes", "pass_at_k", "--scheme-param", "k=8", "--group-sizes", "4"],
            "--group-sizes=4 is invalid for scheme pass_at_k",
        ),
        (["transforms", "--bogus"], "unrecognized arguments: --bogus"),
        (["nonsense"], "invalid choice: 'nonsense'"),
        (["reproduce", "--quick", "--tiny"], "not allowed with argument --quick"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(capsys, tmp_path, argv, fragment):
    code = cli.main([*argv, "--out", str(tmp_path)] if argv[0] == "transforms" else argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("rlxform: error: ")
    assert fragment in err


def test_unwritable_out_is_rejected(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["transforms", "--out", str(blocker / "sub")]) == 2
    assert "--out=" in capsys.readouterr().err


def _simulate_argv(out, *extra):
    return [
        "simulate",
        "--scheme",
        "rejection_sampling",
        "--prompts",
        "3",
        "--responses",
        "3",
        "--group-size",
        "3",
        "--steps",
        "20",
        "--record-every",
        "5",
        "--lr",
        "0.3",
        "--seeds",
        "64",
        "--out",
        str(out),
        *extra,
    ]


def test_simulate_dynamic_sampling_compares_against_its_own_mean_step(tmp_path):
    """summary.json: max_z beside max_abs_dev; the exact column is the dynamic-sampling ascent."""
    import dataclasses
    import json

    from rlxform.core import schemes
    from rlxform.sim import exact
    from rlxform.sim.config import Problem, SimConfig
    from rlxform.sim.hparams import HParams

    out = tmp_path / "sim"
    argv = _simulate_argv(out, "--dynamic-sampling", "--format", "svg", "--dpi", "50")
    assert cli.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reference"] == "dynamic-sampling mean step"
    assert {"max_abs_dev", "max_z", "agreement"} <= set(summary)
    assert 0 <= summary["max_z"] < 1e3 and 0 <= summary["agreement"] <= 1
    assert (out / "trajectories.svg").read_text().lstrip().startswith("<?xml")
    assert not (out / "trajectories.png").exists()
    table = read_table(out / "trajectories.csv")
    cfg = SimConfig(
        schemes.rejection_sampling(),
        problem=Problem(num_prompts=3, num_responses=3, init_p="grid"),
        group_size=3,
        num_steps=20,
        record_every=5,
        dynamic_sampling=True,
    )
    want = np.asarray(exact.make_exact(cfg)(HParams(0.3)).mean_p, np.float64)
    np.testing.assert_allclose(table["exact_mean_p"], want, rtol=1e-6)
    plain = exact.make_exact(dataclasses.replace(cfg, dynamic_sampling=False))(HParams(0.3))
    assert np.abs(np.asarray(plain.mean_p) - want).max() > 1e-3


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--format", "jpg"], "--format='jpg' is invalid: must be one of png, pdf, svg"),
        (["--dpi", "0"], "--dpi=0 is invalid"),
        (["--dpi", "x"], "invalid int value: 'x'"),
    ],
)
def test_bad_figure_options_are_one_line(capsys, tmp_path, extra, fragment):
    for argv in (
        _simulate_argv(tmp_path, *extra),
        ["transforms", "--out", str(tmp_path), *extra],
        ["reproduce", "--tiny", "--only", "fig1_transforms", "--out", str(tmp_path), *extra],
    ):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and fragment in err


def test_transforms_pdf(tmp_path):
    out = tmp_path / "tr"
    argv = ["transforms", "--group-sizes", "4", "--grid", "11", "--format", "pdf"]
    argv += ["--out", str(out)]
    assert cli.main(argv) == 0
    assert (out / "transforms.pdf").read_bytes().startswith(b"%PDF")


def test_closed_pipe_exits_quietly():
    """``rlxform schemes | head -1``: the reader is gone before the first write; no traceback."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlxform.cli", "schemes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.stdout.close()  # closed before the child can write: its first write gets EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""


def test_run_guarded_broken_pipe_returns_141(capsys):
    from rlxform.cli import run_guarded

    def body() -> int:
        raise BrokenPipeError(32, "Broken pipe")

    assert run_guarded(body) == 141
    assert capsys.readouterr().err == ""


def test_every_simulate_flag_names_a_field_of_the_run():
    """``cli_flags.FLAGS`` is the one table from flags to fields: each path exists."""
    import typing

    from rlxform.cli_flags import FLAGS
    from rlxform.reproduce.simulate_run import SimulateConfig

    for flag in FLAGS:
        path = flag.field[0] if isinstance(flag.field, tuple) else flag.field
        cls = SimulateConfig
        for name in path.split("."):
            hints = typing.get_type_hints(cls)
            assert name in hints, (flag.flag, path)
            cls = hints[name]


def test_simulate_flags_build_the_config_a_user_would_write():
    from rlxform.cli_simulate import simulate_config
    from rlxform.core import schemes
    from rlxform.sim.config import Problem, SimConfig
    from rlxform.sim.hparams import HParams

    argv = _simulate_argv("out", "--kl-coef", "0.5", "--clip-high", "0.28", "--batch-size", "2")
    args = cli.build_parser().parse_args(argv)
    config = simulate_config(args, schemes.rejection_sampling())
    problem = Problem(num_prompts=3, num_responses=3, init_p="grid", batch_size=2)
    sim = SimConfig(schemes.rejection_sampling(), problem, 3, 20, record_every=5)
    assert config.sim == sim
    assert config.hparams == HParams(0.3, clip_high=0.28, kl_coef=0.5)
    assert (config.seeds, config.seed) == (64, 0)


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--prompts", "0"], "--prompts=0 is invalid"),
        (["--correct", "3"], "--correct=3 is invalid"),
        (["--batch-size", "9"], "--batch-size=9 is invalid"),
        (["--record-every", "3"], "--record-every=3 is invalid: must divide --steps=20"),
        (["--optimizer", "adamw"], "--optimizer='adamw' is invalid"),
        (["--num-minibatches", "2"], "--num-minibatches=2 is invalid"),
        (["--clip-low", "0"], "--clip-low=0.0 is invalid"),
        (["--dual-clip", "1"], "--dual-clip=1.0 is invalid"),
        (["--seeds", "0"], "--seeds=0 is invalid"),
        (["--init-p", "0.5,x"], "--init-p='0.5,x' is invalid"),
        (["--std-scope", "batch"], "--std-scope='batch' is invalid for scheme rejection_sampling"),
        (["--group-size", "0"], "--group-size=0 is invalid"),
    ],
)
def test_simulate_flags_are_checked_once_and_named(capsys, tmp_path, extra, fragment):
    out = tmp_path / "sim"
    assert cli.main(_simulate_argv(out, *extra)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err, err
    assert not out.exists()
