"""slime, ROLL and AReaL runs read into cards: the example configs of experiments/configs/
{slime,roll,areal} against hand-derived facts (tests/data/configs/<trainer>/*.expected.json,
``why`` with file:line in each trainer's source at slime v0.3.1, ROLL v0.3.0, AReaL v1.0.4),
command lines and bad input (their version tables: test_version_data_trainers_b.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlxform import cli
from rlxform.explain.cards import explain
from rlxform.frameworks import FACT_KEYS, read_config

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = sorted(
    str(p.relative_to(ROOT / "tests" / "data" / "configs"))
    for trainer in ("slime", "roll", "areal")
    for p in (ROOT / "tests" / "data" / "configs" / trainer).glob("*.expected.json")
)
CONTRACT = (*FACT_KEYS, "version", "source", "scheme", "objective", "lens", "length_bias",
            "kl_equilibrium", "pitfalls", "rewards", "not_modelled", "defaults_used",
            "unresolved", "command", "loss")  # fmt: skip


def test_every_example_is_checked():
    assert len(EXPECTED) == 7
    configs = {p.relative_to(ROOT).as_posix() for t in ("slime", "roll", "areal")
               for p in (ROOT / "experiments" / "configs" / t).iterdir()}  # fmt: skip
    named = {json.loads((ROOT / "tests/data/configs" / e).read_text())["config"] for e in EXPECTED}
    assert configs == named


@pytest.mark.parametrize("name", EXPECTED)
def test_example_card_has_the_hand_derived_facts(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # launchers name their config files from the repository root
    expected = json.loads((ROOT / "tests" / "data" / "configs" / name).read_text())
    run = read_config(ROOT / expected["config"])
    card = explain(ROOT / expected["config"]).to_json()
    assert set(CONTRACT) <= set(card)
    assert {k: card[k] for k in FACT_KEYS} == {k: expected[k] for k in FACT_KEYS}
    assert card["version"] == expected["version"].split(" (")[0]
    assert card["scheme"] == expected["scheme"]
    assert card["rewards"]["binary"] == expected["rewards_binary"]
    assert [i["key"] for i in card["not_modelled"]] == expected["not_modelled"]
    normaliser = {"factor": run.normaliser.factor, "answers": run.normaliser.answers}
    assert normaliser == expected["normaliser"]
    assert len(run.batch_steps) == expected["batch_steps"]
    if "command" in expected:
        assert {k: card["command"][k] for k in expected["command"]} == expected["command"]
    assert not card["lens"]["exact"] or not card["not_modelled"]
    assert card["unresolved"] == []
    assert set(expected["why"]) >= {"estimator"} or "scheme" in expected["why"]


def test_batch_steps_are_said_on_the_card():
    card = explain(ROOT / "experiments/configs/areal/gsm8k_grpo.yaml")
    objective = " ".join(card.section("objective").prose)
    assert "Step scale: actor.adv_norm.mean_level batch" in objective
    breaks = card.section("lens").values["breaks"]
    assert any(b.startswith("batch-level step, exact only as the batch grows") for b in breaks)


def test_slime_command_line_in_its_own_spellings():
    words = ["ray", "job", "submit", "--address=http://127.0.0.1:8265", "--", "python3",
             "train.py", "--advantage-estimator", "gspo", "--n-samples-per-prompt", "4",
             "--disable-rewards-normalization", "--rollout-batch-size", "16",
             "--global-batch-size", "64", "--rm-type", "dapo", "--hf-checkpoint", "/root/Qwen3-4B",
             "--rollout-max-response-len", "4096"]  # fmt: skip
    run = read_config(words)
    assert (run.framework, run.estimator, run.group_size) == ("slime", "gspo", 4)
    assert run.std_normalised is False and run.updates_per_rollout == 1
    assert run.rewards["binary"] is True and "-1" in run.rewards["why"]
    assert "--disable-rewards-normalization" in " ".join(run.pitfalls)
    # the same flags as a mapping of argparse dests
    mapped = read_config(
        {"advantage_estimator": "gspo", "n_samples_per_prompt": 4, "rewards_normalization": False,
         "rollout_batch_size": 16, "global_batch_size": 64, "rm_type": "dapo",
         "rollout_max_response_len": 4096},
        "slime",
    )  # fmt: skip
    assert mapped.facts() == run.facts()
    # `python3 train.py` is slime's program, but not claimed by name: a TRL script named
    # train.py stays TRL's, and a slime command is recognised by slime's own flags
    assert read_config(["python3", "train.py", "--num_generations", "4"]).framework == "trl"


def test_slime_switch_does_not_take_an_array_after_it(tmp_path):
    # --colocate is action="store_true" (slime v0.3.1 slime/utils/arguments.py:70-72) and
    # --offload-train argparse.BooleanOptionalAction (:85-87): neither takes a value, so
    # ${MODEL_ARGS[@]} after one is the array's own flags, not the switch's value
    script = tmp_path / "run.sh"
    script.write_text(
        'source "scripts/models/qwen3-4B.sh"\n'
        "python3 train.py --advantage-estimator gspo --n-samples-per-prompt 4 --rm-type dapo "
        "--colocate ${MODEL_ARGS[@]} --no-offload-train ${PERF_ARGS[@]} "
        "--rollout-batch-size 16 --global-batch-size 64\n"
    )
    card = explain(script)
    text = card.to_markdown()
    assert "colocate=${MODEL_ARGS[@]}" not in text and "offload_train=${PERF" not in text
    assert card.to_json()["unresolved"] == [
        f"${n} (not set in the file)" for n in ("MODEL_ARGS", "PERF_ARGS")
    ]
    # --no-offload-train is offload_train=False, not a flag of another parser
    assert "no_offload_train" not in text
    run = read_config(script)
    assert (run.framework, run.estimator, run.group_size) == ("slime", "gspo", 4)


def test_areal_defaults_and_pitfalls():
    run = read_config({"gconfig.n_samples": 4, "actor.reward_norm.mean_level": "group",
                       "actor.reward_norm.std_level": "group",
                       "actor.reward_norm.group_size": 4}, "areal")  # fmt: skip
    # kl_ctl's default 0.1 with no ref model: the k1 "KL" against log-probs 0
    assert (run.kl_placement, run.kl_estimator, run.kl_coef) == ("reward", "k1", 0.1)
    assert any("entropy bonus" in p for p in run.pitfalls)
    assert any("kl_ctl is not set" in p for p in run.pitfalls)
    keys = [i["key"] for i in explain(run_config_mapping()).to_json()["not_modelled"]]
    assert "actor.recompute_logprob" in keys  # default False: the inference engine's log-probs


def run_config_mapping() -> dict:
    return {"gconfig.n_samples": 4, "actor.kl_ctl": 0.0, "actor.reward_norm.mean_level": "group",
            "actor.reward_norm.group_size": 4}  # fmt: skip


@pytest.mark.parametrize(
    ("config", "framework", "message"),
    [
        ({"adv_estimator": "reinforce", "num_return_sequences_in_group": 4,
          "norm_mean_type": "batch", "norm_std_type": "group"}, "roll",
         "norm_std_type='group' with norm_mean_type='batch' is invalid"),
        ({"adv_estimator": "reinforce", "num_return_sequences_in_group": 4,
          "norm_std_type": "group"}, "roll",
         "norm_std_type='group' with norm_mean_type=None is invalid"),
        ({"gconfig.n_samples": 4, "actor.reward_norm.mean_level": "group"}, "areal",
         "actor.reward_norm.group_size=1 with a group level is not modelled"),
        ({"gconfig.n_samples": 4, "actor.reward_norm.mean_level": "batch",
          "actor.reward_norm.std_level": "group", "actor.reward_norm.group_size": 4}, "areal",
         "std_level=group after a batch-level mean or std is not modelled"),
        ({"advantage_estimator": "ppo"}, "slime", "advantage_estimator='ppo'"),
        ({"adv_estimator": "gae"}, "roll", "adv_estimator='gae'"),
    ],
)  # fmt: skip
def test_refused_combinations_are_named(config, framework, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_config(config, framework)


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "roll_bad.yaml"
    lines = [
        "adv_estimator: reinforce",
        "num_return_sequences_in_group: 4",
        "norm_mean_type: batch",
        "norm_std_type: group",
        "whiten_advantages: true",
    ]
    path.write_text("\n".join(lines) + "\n")
    assert cli.main(["explain", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "norm_std_type='group' with norm_mean_type='batch'" in err
    assert cli.main(["explain", str(path), "--framework", "rol"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "slime, roll, areal" in err


def test_areal_overlong_penalty_reaches_the_filters_section(tmp_path):
    """actor.overlong_reward_penalty adds min(-(L - (max_new_tokens - overlong_tokens)) /
    overlong_tokens x factor, 0) to the reward (areal/utils/functional/functional.py:780-802,
    areal/trainer/ppo/actor.py:153-164 in v1.0.4): the DAPO shape the Filters section models."""
    path = tmp_path / "dapo.yaml"
    path.write_text(
        "gconfig:\n  n_samples: 8\n  max_new_tokens: 2048\nactor:\n  max_new_tokens: 2048\n"
        "  overlong_reward_penalty: true\n  overlong_tokens: 256\n  overlong_penalty_factor: 0.5\n"
    )
    run = read_config(path, "areal")
    assert (run.overlong_buffer, run.overlong_factor, run.overlong_max_length) == (256.0, 0.5, 2048)
    assert run.rewards["binary"] is False
    assert not [i for i in run.not_modelled if i["key"].startswith("actor.overlong")]


def test_filters_section_does_not_deny_the_runs_group_filter(monkeypatch):
    """run-dr-grpo-dynamic.sh sets --dynamic-sampling-filter-path (check_reward_nonzero_std:
    groups dropped by their rewards): the Filters section, which models none of its filters,
    must not say that nothing filters by group."""
    monkeypatch.chdir(ROOT)
    text = explain(ROOT / "experiments/configs/slime/run-dr-grpo-dynamic.sh").to_markdown()
    section = text.split("## Filters that depend on length or difficulty")[1].split("\n## ")[0]
    assert "Dynamic sampling is on" in section
    assert "correctness or group" not in section
