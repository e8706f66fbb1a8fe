"""``--loss-mode`` / ``--loss-setting`` on ``rlxform simulate`` and ``loss_mode`` /
``[loss_settings]`` in sweep TOML: they reach ``SimConfig``, and bad input is one line naming the
flag or key, the value and what is allowed (exit 2). Parsing only: nothing is compiled."""

from __future__ import annotations

import pytest
import tomllib

from rlxform import cli
from rlxform.cli_flags import _setting_value
from rlxform.cli_simulate import simulate_config
from rlxform.core import schemes
from rlxform.reproduce.sweep_config import parse_sweep_config
from rlxform.validation import InputError

BASE = ["simulate", "--scheme", "grpo", "--prompts", "2", "--group-size", "4", "--steps", "2"]


def _config(*extra: str):
    args = cli.build_parser().parse_args([*BASE, *extra])
    return simulate_config(args, schemes.grpo())


def test_flags_reach_the_config():
    config = _config(
        "--policy",
        "sequence_tabular",
        "--loss-mode",
        "verl:gspo",
        "--loss-setting",
        "clip_ratio_high=0.28",
        "--loss-setting",
        "loss_agg_mode=seq-mean-token-mean",
        "--ppo-epochs",
        "2",
    )
    sim = config.sim
    assert sim.loss_mode == "verl:gspo" and sim.ppo_epochs == 2
    assert sim.loss_settings == (
        ("clip_ratio_high", 0.28),
        ("loss_agg_mode", "seq-mean-token-mean"),
    )
    assert sim.aggregation == "seq-mean-token-mean" and sim.loss[0].mode == "gspo"
    # without --loss-mode the sequence default aggregation is unchanged
    assert _config("--policy", "sequence_tabular").sim.aggregation == "seq-mean-token-mean"
    assert _config("--loss-mode", "verl:vanilla").sim.aggregation == "token-mean"
    # an explicit --aggregation equal to the mode's is accepted
    same = _config(
        "--policy", "sequence_tabular", "--loss-mode", "trl:grpo", "--aggregation", "trl:grpo"
    )
    assert same.sim.aggregation == "seq-mean-token-mean"


def test_setting_values():
    assert _setting_value("true") is True and _setting_value("None") is None
    assert _setting_value("3") == 3 and _setting_value("0.28") == 0.28
    assert _setting_value("0.2,0.28") == [0.2, 0.28]
    assert _setting_value("token-mean") == "token-mean"
    config = _config("--loss-mode", "openrlhf:ppo", "--loss-setting", "eps_clip_low_high=0.2,0.28")
    assert config.sim.loss[0].setting("eps_clip_low_high") == (0.2, 0.28)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--loss-mode", "verl:nope"], "--loss-mode='verl:nope' is invalid: must be one of"),
        (["--loss-mode", "verl:clip_cov"], "--loss-mode='verl:clip_cov' is invalid in the sim"),
        (
            ["--loss-mode", "verl:vanilla", "--loss-setting", "clip_ratio_hgh=0.3"],
            "--loss-setting=clip_ratio_hgh=0.3 is invalid: not a setting of verl:vanilla; must be "
            "one of loss_agg_mode",
        ),
        (
            ["--loss-mode", "trl:grpo", "--loss-setting", "epsilon=-1"],
            "--loss-setting=epsilon=-1.0 is invalid",
        ),
        (
            ["--loss-mode", "trl:grpo", "--loss-setting", "delta"],
            "--loss-setting='delta' is invalid",
        ),
        (["--loss-setting", "delta=2"], "--loss-setting={'delta': 2} is invalid: settings need"),
        (
            ["--loss-mode", "trl:grpo", "--loss-setting", "use_vllm=true"],
            "--loss-setting=use_vllm=True is invalid in the simulator",
        ),
        (
            [
                "--policy",
                "sequence_tabular",
                "--loss-mode",
                "trl:grpo",
                "--aggregation",
                "token-mean",
            ],
            "--aggregation='token-mean' is invalid with --loss-mode='trl:grpo'",
        ),
        (["--loss-mode", "trl:grpo", "--clip-high", "0.3"], "--clip-high=0.3 is invalid with"),
        (["--loss-mode", "trl:grpo", "--dynamic-sampling"], "--dynamic-sampling=True is invalid"),
        (
            ["--policy", "sequence_tabular", "--ppo-epochs", "2"],
            "--ppo-epochs=2 is invalid for sequence policies with the default surrogate "
            "(its ratios are per sequence): set --loss-mode=...",
        ),
    ],
)
def test_bad_flags_are_one_line_exit_2(capsys, tmp_path, extra, fragment):
    assert cli.main([*BASE, "--out", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err, err


TOML = """
learning_rate = [0.3]
group_size = [4]
seeds = 2
steps = 4
records = 2
ppo_epochs = 2
loss_mode = "trl:grpo"

[loss_settings]
importance_sampling_level = "sequence"
delta = 1.5

[policy]
kind = "sequence_tabular"
num_prompts = 2
vocab_size = 3
max_length = 3

[[schemes]]
name = "grpo"
"""


def test_toml_keys_reach_the_config():
    config = parse_sweep_config(tomllib.loads(TOML))
    sim = config.sim
    assert sim.loss_mode == "trl:grpo" and sim.ppo_epochs == 2
    assert dict(sim.loss_settings) == {"importance_sampling_level": "sequence", "delta": 1.5}
    assert sim.aggregation == "seq-mean-token-mean"


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (('loss_mode = "trl:grpo"', 'loss_mode = "trl:gpo"'), "loss_mode='trl:gpo' is invalid"),
        (("delta = 1.5", "delta = 0.5"), "loss_settings=delta=0.5 is invalid"),
        (("delta = 1.5", "deltaa = 1.5"), "loss_settings=deltaa=1.5 is invalid: not a setting"),
        (
            ("ppo_epochs = 2", 'aggregation = "token-mean"'),
            "aggregation='token-mean' is invalid with",
        ),
        (("ppo_epochs = 2", "clip_high = 0.3"), "clip_high=0.3 is invalid with loss_mode"),
    ],
)
def test_toml_bad_input_named(edit, fragment):
    with pytest.raises(InputError) as err:
        parse_sweep_config(tomllib.loads(TOML.replace(*edit)))
    assert fragment in str(err.value) and "\n" not in str(err.value), str(err.value)
