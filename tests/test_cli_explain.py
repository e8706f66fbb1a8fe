"""``rlxform explain`` and the CLI answering in words (schemes, transforms, scheme names)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlxform import cli
from rlxform.reproduce.sweep_config import parse_sweep_config

ROOT = Path(__file__).parent.parent
CONFIGS = Path(__file__).parent / "data" / "configs"
LAUNCH = ROOT / "experiments" / "configs" / "launch"
REQUIRED = (
    "framework estimator group_size std_normalised std_epsilon aggregation updates_per_rollout "
    "clip_low clip_high kl_placement kl_estimator kl_coef dynamic_sampling"
).split()


def test_explain_json_is_one_object_with_the_facts_and_conclusions(capsys):
    assert cli.main(["explain", str(CONFIGS / "trl_grpo.json"), "--format", "json"]) == 0
    card = json.loads(capsys.readouterr().out)
    expected = json.loads((CONFIGS / "trl_grpo.expected.json").read_text())
    assert {k: card[k] for k in REQUIRED} == {k: expected[k] for k in REQUIRED}
    assert card["scheme"] == "grpo(eps=0.0001, std=sample)"
    # eps = 1e-4 stays in the large-M limit (issue 10): int_0^p dt / (sqrt(t(1-t)) + 1e-4)
    assert card["objective"]["limit_name"] == "int_0^p dt / (sqrt(t(1-t)) + 0.0001)"
    assert card["lens"]["exact"] is False
    # use_vllm: TRL's default vLLM correction (sequence_mask, cap 3) acts on the first update
    assert "vLLM sequence_mask" in card["lens"]["breaks"][0]
    assert any("2 optimizer steps per rollout batch" in n for n in card["lens"]["notes"])
    assert card["loss"]["mode"] == "dapo" and card["loss"]["off_policy_acts"] is True
    assert isinstance(card["pitfalls"], list)


def test_explain_markdown_and_out_dir(tmp_path, capsys):
    out = tmp_path / "card"
    argv = ["explain", str(CONFIGS / "verl_grpo.yaml"), "--framework", "verl", "--out", str(out)]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("# What this run optimises: verl grpo, M = 5\n")
    assert "clip_ratio alone does not change the clip range" in captured.out
    assert (out / "card.md").read_text() == captured.out
    written = json.loads((out / "card.json").read_text())
    assert written["updates_per_rollout"] == 4 and written["kl_estimator"] == "low_var_kl"
    assert (out / "card.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_explain_a_scheme_by_name(capsys):
    argv = ["explain", "--scheme", "pass_at_k", "--scheme-param", "k=2", "--group-size", "4"]
    assert cli.main([*argv, "--format", "json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["scheme"] == "pass_at_k(k=2)"
    # pass@2 is exact at every M: h = 1 - (1-p)^2, so h(0.5) = 0.75
    table = card["objective"]["table"]
    assert table["h_M"][table["p"].index(0.5)] == pytest.approx(0.75, abs=1e-12)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explain", "X", "--framework", "ray"], "--framework='ray' is invalid"),
        (["explain", "{cfg}/trl_grpo.json", "--format", "html"], "--format='html' is invalid"),
        (["explain", "{tmp}/bad.yaml"], "{tmp}/bad.yaml: line 4, column"),
        (["explain", "{tmp}/gae.yaml"], "'gae' (verl's default) is not modelled"),
        (["explain", "{tmp}/type.json"], "num_generations='8' is invalid: must be an integer"),
        (["explain", "--scheme", "grpo"], "--group-size=None is invalid"),
        (["explain"], "a CONFIG file, -- CMD ..., --topic NAME or --scheme NAME"),
        (["explain", "{tmp}/none.json"], "no such file"),
        (["explain", "{tmp}/vague.json"], "framework=None is invalid for this config"),
        (["explain", "{tmp}/binary.sh"], "binary data (a NUL byte"),
        (["explain", "{tmp}/nothing.sh"], "no launch command found: looked for"),
        (["explain", "{tmp}/quote.sh"], "unterminated"),
        (["explain", "{tmp}/bomb.yaml"], "alias"),
        (["explain", "{tmp}/huge.yaml"], "a config may hold at most"),
        (["explain", "--", "python3", "-m", "acme_rl.train", "a=1"], "none of a trainer"),
        (["explain", "--topic", "kll"], "--topic='kll' is invalid: must be one of aggregation"),
        (
            ["explain", "{cfg}/trl_grpo.json", "--framework-version", "9.9"],
            "--framework-version='9.9' is invalid for trl: must be one of 0.14.0, 0.15.2",
        ),
        (["explain", "{launch}/verl_two_runs.sh", "--command", "5"], "--command=5 is invalid"),
    ],
)
def test_explain_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    (tmp_path / "bad.yaml").write_text("algorithm:\n  adv_estimator: grpo\n  x: 1\n   y: 2\n")
    (tmp_path / "gae.yaml").write_text("algorithm:\n  gamma: 1.0\n")
    (tmp_path / "type.json").write_text('{"num_generations": "8"}')
    (tmp_path / "vague.json").write_text('{"learning_rate": 1e-6}')
    (tmp_path / "binary.sh").write_bytes(b"python3 -m verl\x00\x01\x02")
    (tmp_path / "nothing.sh").write_text("#!/bin/bash\nset -e\necho training\n")
    (tmp_path / "quote.sh").write_text("python3 -m verl.trainer.main_ppo a.b='open\n")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    (tmp_path / "bomb.yaml").write_text(bomb)
    (tmp_path / "huge.yaml").write_text("a: 1\n" * 2_000_000)
    argv = [a.format(cfg=CONFIGS, tmp=tmp_path, launch=LAUNCH) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlxform: error: "), err
    assert message.format(tmp=tmp_path) in lines[0]


def test_explain_a_launch_script_a_command_line_and_a_topic(capsys):
    assert cli.main(["explain", str(LAUNCH / "verl_grpo_gsm8k.sh"), "--format", "json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert (card["group_size"], card["kl_coef"], card["updates_per_rollout"]) == (5, 0.001, 4)
    assert card["command"]["program"] == "verl.trainer.main_ppo"
    argv = ["explain", "--format", "json", "--framework-version", "0.18.0", "--"]
    argv += "accelerate launch train.py --num_generations 4 --use_vllm".split()
    assert cli.main(argv) == 0
    card = json.loads(capsys.readouterr().out)
    assert (card["framework"], card["version"], card["kl_coef"]) == ("trl", "trl 0.18.2", 0.04)
    assert card["not_modelled"] == []  # no vLLM importance-sampling correction before 0.23
    argv = ["explain", str(LAUNCH / "verl_two_runs.sh"), "--command", "2", "--format", "json"]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["estimator"] == "rloo"
    assert cli.main(["explain", "--topic", "rewards"]) == 0
    assert capsys.readouterr().out.startswith("# Rewards")


def test_help_and_version_import_no_jax_and_help_shows_no_none_defaults():
    code = (
        "import sys, contextlib, io; from rlxform import cli\n"
        "for argv in (['--version'], ['--help'], ['explain', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        try: cli.main(argv)\n"
        "        except SystemExit: pass\n"
        "    text = out.getvalue()\n"
        "    assert '(default: None)' not in text and '(default: detected)' not in text, text\n"
        "print([m for m in sys.modules if m.split('.')[0] in "
        "('jax', 'flax', 'optax', 'matplotlib')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_readme_shows_a_shell_launcher_going_in_as_it_is(monkeypatch):
    readme = (ROOT / "README.md").read_text().split("## Set-up")[0]
    command = "rlxform explain experiments/configs/launch/verl_grpo_gsm8k.sh"
    assert command in readme
    shown = readme.split("```text\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    from rlxform.explain.cards import explain

    assert shown == explain("experiments/configs/launch/verl_grpo_gsm8k.sh").to_markdown()
    for path in (ROOT / "experiments" / "configs").iterdir():  # the README's copies
        if path.is_file():
            assert path.read_bytes() == (CONFIGS / path.name).read_bytes()


def test_schemes_shows_the_large_m_objective(capsys):
    assert cli.main(["schemes"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line}
    assert "2 arcsin sqrt p" in rows["grpo(std='population',"]
    assert "log p" in rows["rejection_sampling"]
    assert "int_0^p dt / (sqrt(t(1-t)) + 1e-06)" in rows["verl:grpo"]  # eps stays in the limit
    assert "  p  " in rows["openrlhf:rloo"]


def test_transforms_prints_a_summary_per_scheme_and_m(tmp_path, capsys):
    argv = ["transforms", "--schemes", "reinforce,trl:none", "--group-sizes", "4", "--grid", "5"]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    # REINFORCE: h = p, w = 1; mean baseline (TRL scale_rewards none): h = (3/4) p at M = 4
    assert out[0] == ("reinforce M=4: h_M(0.1)=0.1, h_M(0.5)=0.5, w_M in [1, 1], large-M h = p")
    assert out[1].startswith("mean_baseline M=4: h_M(0.1)=0.075, h_M(0.5)=0.375, w_M in [0.75")


def test_scheme_names_in_sweep_configs():
    config = parse_sweep_config(
        {"schemes": [{"name": "verl:grpo", "epsilon": 1e-3}, {"name": "openrlhf:rloo"}]}
    )
    labels = [scheme.label for scheme in config.schemes]
    assert labels == ["verl(epsilon=0.001, estimator=grpo, norm_adv_by_std_in_grpo=True)", "rloo"]
    with pytest.raises(ValueError, match=r"schemes\[0\] \(verl:ppo\): estimator='ppo'"):
        parse_sweep_config({"schemes": [{"name": "verl:ppo"}]})


def test_build_schemes_routes_parameters_to_framework_adapters():
    (scheme,) = cli.build_schemes(
        ["verl:grpo"], cli.parse_scheme_params(["norm_adv_by_std_in_grpo=false"])
    )
    assert scheme.kwargs["norm_adv_by_std_in_grpo"] is False
    with pytest.raises(ValueError, match="no scheme in trl:group accepts it"):
        cli.build_schemes(["trl:group"], cli.parse_scheme_params(["eps=1e-6"]))


@pytest.mark.slow
def test_simulate_accepts_framework_and_module_function_schemes(tmp_path, monkeypatch):
    """Same seed: my_rules:rloo_like (a module:function) runs exactly like verl:rloo (the same
    weights r - mean of the others)."""
    (tmp_path / "my_rules.py").write_text(
        "def rloo_like(r, s, m):\n    return r - (s - r) / (m - 1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    base = "--policy scalar --prompts 2 --responses 2 --group-size 4 --steps 4 --seeds 4".split()
    runs = {
        "custom": ["--scheme", "my_rules:rloo_like", "--allow-import"],
        "verl": ["--scheme", "verl:rloo"],
    }
    for name, scheme in runs.items():
        assert cli.main(["simulate", *scheme, *base, "--out", str(tmp_path / name)]) == 0

    def tables(name):
        return {p.name: p.read_bytes() for p in sorted((tmp_path / name).glob("*.csv"))}

    assert tables("custom") == tables("verl") and tables("custom")


def test_bench_explain_times_whole_processes_beside_the_import_floor():
    from rlxform.reproduce.bench.explain import examples, explain_records, format_explain

    paths = examples()
    assert LAUNCH / "verl_grpo_gsm8k.sh" in paths and CONFIGS.parent.parent.is_dir()
    assert all(p.name != "openrlhf_ppo_deepspeed_0.6.sh" for p in paths)  # refused by design
    (record,) = explain_records(1, [LAUNCH / "trl_cli_dr_grpo.sh"])
    assert record["example"] == "experiments/configs/launch/trl_cli_dr_grpo.sh"
    assert 0 < record["baseline_seconds"] and 0 < record["explain_seconds"] < 60
    assert "slowest card" in format_explain([record])


def test_a_launcher_that_runs_another_script_says_which(tmp_path, capsys):
    """SkyRL's algorithm launchers run ``bash examples/train/gsm8k/run_gsm8k.sh OVERRIDES``:
    one line on stderr, exit 2, naming the script that holds the launch command."""
    path = tmp_path / "run_gspo.sh"
    path.write_text(
        "bash examples/train/gsm8k/run_gsm8k.sh trainer.algorithm.policy_loss_type=gspo\n"
    )
    assert cli.main(["explain", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "it runs another script, examples/train/gsm8k/run_gsm8k.sh" in err
