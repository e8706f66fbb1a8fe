"""NeMo-RL, Open-Instruct and SkyRL example configs read into cards with their expected facts.

The examples (experiments/configs/<trainer>/) are written in each trainer's conventions after its
own example scripts and recipes; the expected facts (tests/data/configs/<trainer>/X.expected.json)
were derived by hand from the trainer's released source, each with file:line in its ``why``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rlxform.explain.cards import card_of
from rlxform.explain.conclusions import normaliser_groups
from rlxform.frameworks import FACT_KEYS, read_config

ROOT = Path(__file__).parent.parent.parent
DATA = ROOT / "tests" / "data" / "configs"
EXPECTED = sorted(
    str(p.relative_to(DATA))
    for trainer in ("nemo_rl", "open_instruct", "skyrl")
    for p in (DATA / trainer).glob("*.expected.json")
)


@pytest.mark.parametrize("name", EXPECTED)
def test_every_example_yields_its_expected_facts(name, monkeypatch):
    expected = json.loads((DATA / name).read_text())
    monkeypatch.chdir(ROOT)
    run = read_config(expected["config"])
    assert {k: getattr(run, k) for k in FACT_KEYS} == {k: expected[k] for k in FACT_KEYS}
    assert run.version == expected["version"]
    assert run.rewards["binary"] is expected["rewards_binary"], run.rewards
    assert sorted(i["key"] for i in run.not_modelled) == sorted(expected["not_modelled"])
    assert run.warnings == ()
    if expected["command"] is None:
        assert run.command is None
    else:
        assert {k: run.command[k] for k in expected["command"]} == expected["command"]
    _, groups, _ = normaliser_groups(run)
    assert groups == expected["groups_per_normaliser"], run.normaliser
    card = card_of(run).to_json()
    assert card["scheme"] == expected["scheme"]
    assert card["lens"]["exact"] is (not card["lens"]["breaks"])
    for key, why in expected["why"].items():  # a source line, or the example's own text
        assert re.search(r"\.(py|yaml|sh):\d+|in the (file|script)", why), (key, why)


def test_examples_cover_every_trainer_and_each_has_an_expectation():
    for trainer in ("nemo_rl", "open_instruct", "skyrl"):
        files = sorted(p.name for p in (ROOT / "experiments" / "configs" / trainer).iterdir())
        assert files and all(f"{trainer}/{f}.expected.json" in EXPECTED for f in files), files


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["explain", "--", "uv", "run", "examples/run_grpo.py", "grpo.adv_estimator.name=gdpo"],
            "grpo.adv_estimator.name='gdpo' is not modelled by rlxform: it models NeMo-RL's grpo, "
            "reinforce_plus_plus",
        ),
        (
            ["explain", "--", "python", "-m", "skyrl.train.entrypoints.main_base",
             "trainer.algorithm.advantage_estimator=gae"],
            "'gae' is not modelled by rlxform: it models SkyRL's grpo, rloo, maxrl",
        ),
        (
            ["explain", "--", "python", "open_instruct/grpo_fast.py",
             "--advantage_normalization_type", "whiten"],
            "advantage_normalization_type='whiten' is not modelled by rlxform: it models "
            "Open-Instruct's centered, standard",
        ),
        (
            ["explain", "--framework", "nemo", "--", "uv", "run", "examples/run_grpo.py"],
            "--framework='nemo' is invalid: must be one of",
        ),
        (
            ["explain", "--framework-version", "0.2.0", "--", "uv", "run", "examples/run_grpo.py"],
            "--framework-version='0.2.0' is invalid for nemo_rl: must be one of 0.3.1, 0.4.0",
        ),
        (
            ["explain", "--", "python", "open_instruct/grpo_fast.py",
             "--num_samples_per_prompt_rollout", "1"],
            "num_samples_per_prompt_rollout=1 is invalid with filter_zero_std_samples=True",
        ),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    from rlxform import cli

    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlxform: error: "), lines
    assert message in lines[0], lines[0]


def test_nemo_rl_version_picks_its_rule():
    """--framework-version 0.3.1: the v0.3.1 rule (population std of the others, no eps) and k3;
    32 prompts x 16 // 256 = 2 updates."""
    run = read_config(
        ["uv", "run", "examples/run_grpo.py", "policy.train_global_batch_size=256"],
        version="0.3.1",
    )
    assert run.version == "nemo_rl 0.3.1" and run.std_epsilon == 0.0
    assert run.updates_per_rollout == 2
    assert (
        card_of(run).to_json()["scheme"] == "loo_grpo(eps=0.0, std=population, zero_std=undivided)"
    )
    assert (run.kl_placement, run.kl_estimator) == ("loss", "k3")


def test_nemo_rl_estimator_switches_follow_their_interpolation(tmp_path):
    """grpo.adv_estimator.use_leave_one_out_baseline is ${grpo.use_leave_one_out_baseline}
    (grpo_math_1B.yaml:34): the top key moves it; set directly, it wins."""
    base = ["uv", "run", "examples/run_grpo.py"]

    def scheme(*overrides):
        return card_of(read_config([*base, *overrides])).to_json()["scheme"]

    assert scheme() == "loo_grpo(eps=1e-06, std=sample, zero_std=undivided)"
    assert scheme("grpo.use_leave_one_out_baseline=false") == "grpo(eps=1e-06, std=sample)"
    assert (
        scheme(
            "grpo.use_leave_one_out_baseline=true",
            "grpo.adv_estimator.use_leave_one_out_baseline=false",
        )
        == "grpo(eps=1e-06, std=sample)"
    )
    assert scheme("grpo.normalize_rewards=false") == "rloo"
    config = tmp_path / "run.yaml"
    config.write_text(
        "grpo:\n  use_leave_one_out_baseline: false\n  adv_estimator:\n"
        "    name: grpo\n    use_leave_one_out_baseline: ${grpo.use_leave_one_out_baseline}\n"
    )
    run = read_config(str(config))
    assert card_of(run).to_json()["scheme"] == "grpo(eps=1e-06, std=sample)"


def test_nemo_rl_importance_sampling_knobs_follow_each_release(tmp_path):
    """Up to 0.6.0 truncated IS acts when truncated_importance_sampling_ratio is set
    (nemo_rl/algorithms/loss/loss_functions.py:452 in v0.6.0, loss_functions.py:373 in v0.5.0),
    whatever the type (0.6.0's default 'tis', examples/configs/grpo_math_1B.yaml:66; no key before
    0.6.0); disable_ppo_ratio absent means False (cfg.get(..., False), loss_functions.py:181 in
    v0.6.0). So 0.6.0's defaults list neither, and a ratio set under 0.5.0 is listed."""
    path = tmp_path / "grpo.yaml"
    path.write_text("grpo:\n  num_generations_per_prompt: 16\n")
    keys = {i["key"] for i in read_config(path, "nemo_rl", "0.6.0").not_modelled}
    assert not {k for k in keys if k.startswith("loss_fn.")}, keys
    path.write_text(
        "grpo:\n  num_generations_per_prompt: 16\nloss_fn:\n"
        "  use_importance_sampling_correction: true\n  truncated_importance_sampling_ratio: 2.0\n"
    )
    keys = {i["key"] for i in read_config(path, "nemo_rl", "0.5.0").not_modelled}
    assert "loss_fn.truncated_importance_sampling_ratio" in keys, keys


def test_nemo_rl_a_stale_engine_key_does_not_pick_an_older_release(tmp_path):
    """NeMo-RL v0.7.0's own recipe grpo-qwen3-8b-base-dapo-2n8g-long-megatron-qa-nvfp4-w4a16.yaml
    (line 38) sets policy.megatron_cfg.converter_type, which v0.7.0's nemo_rl/ code no longer
    reads (OmegaConf keeps it): the file is still read with 0.7.0's defaults."""
    path = tmp_path / "grpo.yaml"
    path.write_text(
        "grpo:\n  num_generations_per_prompt: 16\n"
        "policy:\n  megatron_cfg:\n    converter_type: Qwen3ForCausalLM\n"
    )
    run = read_config(path, "nemo_rl")
    assert run.version == "nemo_rl 0.7.0"
    assert not [p for p in run.pitfalls if "no longer has" in p]


@pytest.mark.parametrize(
    ("config", "fields"),
    [
        # grpo.reward_shaping: overlong_buffer_length 2048, max_response_length 14336 in the
        # file, overlong_buffer_penalty default 1 (examples/configs/grpo_math_1B.yaml in
        # v0.7.0); DAPO form at nemo_rl/algorithms/reward_functions.py:130-171
        ("experiments/configs/nemo_rl/dapo_qwen2.5_7b.yaml", (2048.0, 1.0, 14336)),
        # overlong_buffer_len=$((1024 * 2)), penalty 0.5, max_generate_length 8192 in the
        # script; DAPO form at examples/train/algorithms/dapo/main_dapo.py:60-70 (skyrl-v0.3.0)
        ("experiments/configs/skyrl/run_dapo_overlong.sh", (2048.0, 0.5, 8192)),
    ],
)
def test_overlong_shaping_reaches_the_filters_section(config, fields, monkeypatch):
    """The Filters section reads the overlong_* fields: a reader that shapes rewards with the
    DAPO penalty must fill them, or the card says no overlong shaping acts."""
    monkeypatch.chdir(ROOT)
    run = read_config(config)
    assert (run.overlong_buffer, run.overlong_factor, run.overlong_max_length) == fields
    assert "overlong_shaping" in card_of(run).to_json()["filters"]["active"]


def test_nemo_rl_stop_properly_penalty_is_not_the_dapo_shape(tmp_path):
    """stop_properly_penalty_coef (even 0) replaces the DAPO penalty (reward_functions.py:70-118
    in v0.7.0 returns before it)."""
    path = tmp_path / "grpo.yaml"
    path.write_text(
        "grpo:\n  num_generations_per_prompt: 16\n  reward_shaping:\n    enabled: true\n"
        "    stop_properly_penalty_coef: 0.0\n"
    )
    run = read_config(path, "nemo_rl")
    assert run.overlong_buffer is None and run.rewards["binary"] is False


@pytest.mark.parametrize(
    ("framework", "text"),
    [
        # skyrl/train/generators/utils.py:332-350 (skyrl-v0.3.0): loss masks of answers whose
        # stop reason is not a stop token are zeroed
        ("skyrl", "generator:\n  n_samples_per_prompt: 5\n  apply_overlong_filtering: true\n"),
        # nemo_rl/algorithms/grpo.py:2525-2534 (v0.7.0): loss_multiplier[truncated] = 0
        ("nemo_rl", "grpo:\n  num_generations_per_prompt: 16\n  overlong_filtering: true\n"),
    ],
)
def test_truncated_answer_masking_reaches_the_filters_section(framework, text, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    run = read_config(path, framework)
    assert run.mask_truncated is True
    assert not [i for i in run.not_modelled if "overlong_filtering" in i["key"]]
    assert "mask_truncated_completions" in card_of(run).to_json()["filters"]["active"]


def test_nemo_rl_detects_a_derived_config_without_grpo_keys(tmp_path):
    """A NeMo-RL config that only swaps the environment (as v0.7.0's
    examples/configs/grpo_rm_1B.yaml does: defaults, data.default.env_name, env.reward_model.*)
    is NeMo-RL's; a reward model's scores are not 0/1."""
    path = tmp_path / "grpo_rm.yaml"
    path.write_text(
        'defaults: "grpo_math_1B.yaml"\ndata:\n  default:\n    env_name: reward_model\n'
        "env:\n  reward_model:\n    model_name: some/reward-model\ncluster:\n  gpus_per_node: 2\n"
    )
    run = read_config(path)
    assert run.framework == "nemo_rl"
    assert run.rewards["binary"] is not True
