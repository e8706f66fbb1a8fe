"""simulate --entropy-coef / --entropy-aggregation and sweep TOML entropy_coef: one-line errors,
the config they build, and a run that agrees with exact ascent."""

from __future__ import annotations

import json

import pytest

from rlxform import cli
from rlxform.reproduce.sweep_config import parse_sweep_config
from rlxform.validation import InputError


def _argv(out, *extra):
    base = ["simulate", "--scheme", "grpo", "--policy", "scalar", "--prompts", "1"]
    base += ["--init-p", "0.3", "--group-size", "8", "--steps", "40", "--record-every", "10"]
    return [*base, "--lr", "1", "--seeds", "32", "--out", str(out), *extra]


@pytest.mark.parametrize(
    "extra,fragment",
    [
        (["--entropy-coef", "-1"], "--entropy-coef=-1.0 is invalid"),
        (["--entropy-coef", "inf"], "--entropy-coef=inf is invalid"),
        (["--entropy-coef", "nan"], "--entropy-coef=nan is invalid"),
        (
            ["--policy", "sequence_tabular", "--entropy-aggregation", "mean"],
            "--entropy-aggregation='mean' is invalid: must be one of seq-mean-token-sum",
        ),
        (["--entropy-coef", "0.1", "--ppo-epochs", "2"], "entropy_coef is invalid with"),
    ],
)
def test_bad_entropy_flags_are_one_line_exit_2(capsys, tmp_path, extra, fragment):
    assert cli.main(_argv(tmp_path, *extra)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rlxform: error: ")
    assert fragment in err


def test_flags_and_toml_keys_build_the_fields():
    from rlxform.cli_simulate import simulate_config
    from rlxform.core import schemes

    argv = _argv("out", "--policy", "sequence_tabular", "--entropy-coef", "0.25")
    args = cli.build_parser().parse_args([*argv, "--entropy-aggregation", "trl:dapo"])
    config = simulate_config(args, schemes.grpo())
    assert config.hparams.entropy_coef == 0.25
    assert config.sim.entropy_aggregation == "token-mean"
    sweep = parse_sweep_config({"entropy_coef": 0.5, "entropy_aggregation": "token-mean"})
    assert sweep.hparams.entropy_coef == 0.5
    assert sweep.sim.entropy_aggregation == "token-mean"
    with pytest.raises(InputError, match=r"entropy_coef=-0\.5 is invalid"):
        parse_sweep_config({"entropy_coef": -0.5})
    with pytest.raises(InputError, match="entropy_coef is invalid with ppo_epochs=2"):
        parse_sweep_config({"entropy_coef": 0.5, "ppo_epochs": 2})


def test_simulate_with_entropy_agrees_with_exact_ascent(tmp_path):
    assert cli.main(_argv(tmp_path, "--entropy-coef", "2")) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["config"]["entropy_coef"] == 2.0
    assert summary["reference"] == "exact ascent"
    assert summary["max_z"] < 4.0
    rows = (tmp_path / "trajectories.csv").read_text().splitlines()
    header, last = rows[0].split(","), rows[-1].split(",")
    exact_end = float(last[header.index("exact_mean_p")])
    assert abs(exact_end - 0.7311) < 1e-3  # entropy_equilibrium("grpo", 8, 2.0) = 0.73108
