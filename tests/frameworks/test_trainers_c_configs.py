"""prime-rl and TRL RLOO: example configs read into cards, launch recognition, versions.

The examples (experiments/configs/{prime_rl,trl_rloo}/) are written in each trainer's conventions
(prime-rl TOML with ``uv run rl @ FILE --a.b-c value``, the orchestrator entry point on its own;
TRL ``RLOOConfig(...)`` in a script, ``trl rloo`` flags, a recipe YAML); their expected facts
(tests/data/configs/<trainer>/X.expected.json) were derived by hand from the trainers' released
source, each with file:line in its ``why``. Pure Python: no JAX.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rlxform.explain.cards import card_of
from rlxform.explain.conclusions import normaliser_groups
from rlxform.frameworks import FACT_KEYS, read_config
from rlxform.frameworks.launch import read_command_line, read_launch_text

ROOT = Path(__file__).parent.parent.parent
DATA = ROOT / "tests" / "data" / "configs"
TRAINERS = ("prime_rl", "trl_rloo")
EXPECTED = sorted(
    str(p.relative_to(DATA)) for t in TRAINERS for p in (DATA / t).glob("*.expected.json")
)


@pytest.mark.parametrize("name", EXPECTED)
def test_every_example_yields_its_expected_facts(name, monkeypatch):
    expected = json.loads((DATA / name).read_text())
    monkeypatch.chdir(ROOT)
    for why in expected["why"].values():  # a source line, or the example's own text
        assert re.search(r"\.(py|yaml|sh|md):\d+|in the (file|script)", why), why
    framework = expected.get("read_with", {}).get("framework")
    if "error" in expected:
        with pytest.raises(ValueError, match=expected["error"]):
            read_config(expected["config"], framework)
        return
    run = read_config(expected["config"], framework)
    assert {k: getattr(run, k) for k in FACT_KEYS} == {k: expected[k] for k in FACT_KEYS}
    assert run.version == expected["version"]
    assert run.rewards["binary"] is expected["rewards_binary"], run.rewards
    assert sorted(i["key"] for i in run.not_modelled) == sorted(expected["not_modelled"])
    assert [f.partition(" (")[0] for f in run.filters] == expected["filters"]
    assert run.warnings == ()
    if expected["command"] is None:
        assert run.command is None
    else:
        assert {k: run.command[k] for k in expected["command"]} == expected["command"]
    assert normaliser_groups(run)[1] == expected["groups_per_normaliser"], run.normaliser
    card = card_of(run).to_json()
    assert card["scheme"] == expected["scheme"]
    assert card["lens"]["exact"] is (not card["lens"]["breaks"])


def test_examples_cover_every_trainer_and_each_has_an_expectation():
    for trainer in TRAINERS:
        files = sorted(p.name for p in (ROOT / "experiments" / "configs" / trainer).iterdir())
        assert files and all(f"{trainer}/{f}.expected.json" in EXPECTED for f in files), files


# ---- launch recognition ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "program", "first"),
    [
        ("uv run rl @ rl.toml --max-steps 50", "rl", "@"),
        ("uv run --no-sync --extra flash-attn orchestrator @ o.toml", "orchestrator", "@"),
        ("uv run --with trl accelerate launch rloo.py --beta 0", "rloo.py", "--beta"),
        ("uv run --isolated --extra fsdp -m skyrl.train.entrypoints.main_base a=1", None, "a=1"),
        ("trl rloo --num_generations 8", "trl rloo", "--num_generations"),
    ],
)
def test_uv_run_and_trl_rloo_commands(words, program, first):
    command = read_command_line(words.split())
    assert command.program == (program or "skyrl.train.entrypoints.main_base")
    assert command.args[0] == first


def test_uv_run_tools_are_not_trainers():
    """uv run wandb login / uv pip install: launch words of no trainer; the script's trainer
    command is the one read."""
    text = "uv pip install -e .\nuv run wandb login\nuv run rl @ rl.toml\n"
    commands = read_launch_text(text)
    assert [c.program for c in commands] == ["wandb", "rl"]
    run = read_config(["uv", "run", "rl", "--orchestrator.group-size", "4"])
    assert (run.framework, run.group_size, run.command["program"]) == ("prime_rl", 4, "rl")


def test_prime_rl_command_line_forms(tmp_path, monkeypatch):
    """pydantic_config: ``@ FILE`` merged left to right, ``--section @ FILE``, ``--a.b-c v``
    (dashes -> underscores), ``--no-<bool>``, ``--section`` (a section at its defaults),
    JSON values; the orchestrator entry point's flags are OrchestratorConfig keys."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.toml").write_text("[orchestrator]\ngroup_size = 4\nbatch_size = 64\n")
    (tmp_path / "over.toml").write_text("[orchestrator]\ngroup_size = 8\n")
    (tmp_path / "algo.toml").write_text('type = "max_rl"\n')
    run = read_config(
        ["uv", "run", "rl", "@", "base.toml", "@", "over.toml", "--orchestrator.algo", "@",
         "algo.toml", "--orchestrator.max-off-policy-steps", "0"]
    )  # fmt: skip
    assert (run.group_size, run.estimator, run.not_modelled) == (8, "max_rl", ())
    assert run.normaliser.answers == 64.0
    run = read_config(
        ["uv", "run", "orchestrator", "--group-size", "2", "--algo.length-penalty",
         "--batch-size", "8", "--no-bench"]
    )  # fmt: skip
    assert run.group_size == 2 and run.rewards["binary"] is False
    assert run.reward_shaping == "length penalty (orchestrator.algo)"
    run = read_config(["uv", "run", "rl", "--orchestrator.post-batch-filters", "[]"])
    assert run.filters == () and run.group_size == 1
    (tmp_path / "orch.toml").write_text("group_size = 16\n[algo]\ntype = 'max_rl'\n")
    (tmp_path / "train.toml").write_text("[loss]\nkl_tau = 0.0\n")
    run = read_config(  # the older split form: one file per part, nested under its section
        ["uv", "run", "rl", "--trainer", "@", "train.toml", "--orchestrator", "@orch.toml"]
    )
    assert (run.group_size, run.estimator) == (16, "max_rl")
    missing = read_config(["uv", "run", "rl", "@", "nowhere.toml"])
    assert missing.unresolved == ("@ nowhere.toml (file not found)",)


def test_a_bare_orchestrator_file_is_detected_as_prime_rl(monkeypatch):
    """Its algo.* keys also mark OpenRLHF, whose newest release knows none of them; prime-rl
    0.8.0 knows them under orchestrator. (detection read it as OpenRLHF's default gae)."""
    monkeypatch.chdir(ROOT)
    path = "experiments/configs/prime_rl/orch_length_penalty.toml"
    detected, named = read_config(path), read_config(path, "prime_rl")
    assert detected.framework == "prime_rl"
    assert {k: getattr(detected, k) for k in FACT_KEYS} == {k: getattr(named, k) for k in FACT_KEYS}


def test_prime_rl_defaults_and_refusals():
    """Defaults: group_size 1 (every advantage 0), batch 128, zero-advantage post filter, 8
    stale policies allowed; refused: other algorithms (by what they are), the removed difficulty
    pools, a batch not divisible by M."""
    run = read_config(["uv", "run", "rl"])
    assert (run.group_size, run.normaliser.answers, run.dynamic_sampling) == (1, 128.0, False)
    card = card_of(run).to_json()
    assert card["scheme"] == "prime_rl(estimator=grpo)" and card["objective"]["w_M_max"] == 0.0
    assert [i["key"] for i in run.not_modelled] == ["orchestrator.max_off_policy_steps"]
    for words, message in [
        (["--orchestrator.algo.type", "rae"], "EMA baseline kept in orchestrator memory"),
        (["--orchestrator.algo.type", "opd"], "no scalar advantage"),
        (["--orchestrator.buffer.online-difficulty-filtering", "true"], "removed in f6563ff0e"),
        (["--orchestrator.group-size", "3", "--orchestrator.batch-size", "8"], "multiple of"),
        (["--orchestrator.pre-batch-filters", '[{"type": "length"}]'], "type must be one of"),
    ]:
        with pytest.raises(ValueError, match=message):
            read_config(["uv", "run", "rl", *words])
    loud = read_config(
        [
            "uv",
            "run",
            "rl",
            "--orchestrator.post-batch-filters",
            '[{"type": "gibberish", "enforce": true}]',
        ]
    )
    assert [i["value"] for i in loud.not_modelled if "filters" in i["key"]] == [
        "gibberish (enforce)"
    ]


def test_trl_rloo_accelerate_launch():
    """accelerate launch: TRL's rloo.py by its name, any other script by RLOOConfig's own keys
    (normalize_advantages, reward_clip_range: GRPOConfig has neither)."""
    named = read_config(["accelerate", "launch", "examples/scripts/rloo.py", "--beta", "0"])
    assert (named.framework, named.kl_placement) == ("trl_rloo", "none")
    keyed = read_config(
        ["accelerate", "launch", "train.py", "--num_generations", "4", "--normalize_advantages",
         "true"]
    )  # fmt: skip
    assert (keyed.framework, keyed.group_size, keyed.std_scope) == ("trl_rloo", 4, "batch")
    grpo = read_config(["accelerate", "launch", "train.py", "--num_generations", "4"])
    assert grpo.framework == "trl"


def test_trl_rloo_python_call_and_versions(tmp_path):
    """RLOOConfig(...) is read as TRL's RLOOTrainer (not GRPOTrainer); a release before 0.22
    (the PPO-style RLOOTrainer) is refused by name; the deprecated aliases of 0.22-0.24 are
    read under their new names."""
    script = tmp_path / "train.py"
    script.write_text(
        "from trl import RLOOConfig, RLOOTrainer\n"
        "args = RLOOConfig(num_generations=4, beta=0.0, normalize_advantages=True)\n"
        "RLOOTrainer(model='m', reward_funcs=['a', 'b'], args=args)\n"
    )
    run = read_config(str(script))
    assert (run.framework, run.group_size, run.std_scope, run.kl_placement) == (
        "trl_rloo",
        4,
        "batch",
        "none",
    )
    assert run.rewards["binary"] is False  # two reward functions, summed
    with pytest.raises(ValueError, match="PPO-style on-policy trainer"):
        read_config(str(script), version="0.21.0")
    with pytest.raises(ValueError, match=r"must be one of 0\.22\.2, 0\.23\.1"):
        read_config(str(script), version="2.0")
    old = read_config({"rloo_k": 6, "kl_coef": 0.1, "normalize_reward": True}, "trl_rloo")
    assert (old.version, old.group_size, old.kl_coef, old.std_scope) == (
        "trl_rloo 0.24.0",
        6,
        0.1,
        "batch",
    )


def test_trl_rloo_reward_scale_and_kl_equilibrium():
    """reward_weights [2] and clip [0, 1.5]: rewards {0, 1.5}, 1.5 times RLOO; beta 0.05 in the
    reward: logit p* - logit p_ref = 1.5 / 0.05 (RLOO is linear, so exact for every M)."""
    run = read_config(
        {"num_generations": 8, "reward_weights": [2.0], "reward_clip_range": [0.0, 1.5]},
        "trl_rloo",
    )
    card = card_of(run).to_json()
    assert card["scheme"] == "trl_rloo(scale=1.5)"
    assert (
        card["kl_equilibrium"]["placement"] == "reward" and card["kl_equilibrium"]["beta"] == 0.05
    )
    p_ref = 0.3
    import math

    logit = math.log(p_ref / (1 - p_ref)) + 1.5 / 0.05
    assert card["kl_equilibrium"]["p_star"]["0.3"] == pytest.approx(
        1 / (1 + math.exp(-logit)), rel=1e-9
    )
    with pytest.raises(ValueError, match="num_generations=1 is invalid"):
        read_config({"num_generations": 1}, "trl_rloo")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explain", "--", "uv", "run", "rl", "--orchestrator.algo.type", "sft"], "not modelled"),
        (["explain", "--framework", "prime", "--", "uv", "run", "rl"], "--framework='prime'"),
        (["explain", "--framework-version", "0.5.0", "--", "uv", "run", "rl"], "one of 0.8.0"),
        (["explain", "--framework-version", "0.19.1", "--", "trl", "rloo"], "PPO-style"),
        (["explain", "--", "uv", "run", "trainer", "@", "t.toml"], "holds no orchestrator keys"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    from rlxform import cli

    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlxform: error: "), lines
    assert message in lines[0], lines[0]
