"""read_config on runs as they are launched: the example launchers, versions, keys, bad input.

Expected facts live beside the example files (tests/data/configs/launch/X.expected.json), each
hand-derived from the trainer's released code with file:line in its ``why``; the peer configs
(tests/data/configs/X.expected.json) were checked the same way by whoever wrote them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlxform.explain.conclusions import normaliser_groups
from rlxform.frameworks import FACT_KEYS, FRAMEWORKS, read_config

ROOT = Path(__file__).parent.parent.parent
DATA = ROOT / "tests" / "data" / "configs"
LAUNCH = sorted(p.name for p in (DATA / "launch").glob("*.expected.json"))
PEER = sorted(p.name for p in DATA.glob("*.expected.json"))


def _expected(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.parametrize("name", LAUNCH)
def test_every_example_launcher_yields_its_expected_facts(name, monkeypatch):
    expected = _expected(DATA / "launch" / name)
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
        shown = {k: run.command[k] for k in expected["command"]}
        assert shown == expected["command"]
    _, groups, _ = normaliser_groups(run)
    if expected["groups_per_normaliser"] is None:
        assert run.normaliser.factor == "1/L"
    else:
        assert groups == expected["groups_per_normaliser"], run.normaliser
    assert set(expected["why"]) and all(isinstance(v, str) for v in expected["why"].values())
    if "filters" in expected:
        assert {k: getattr(run, k) for k in expected["filters"]} == expected["filters"]
    check_loss(run, expected)
    if "overlong" in expected:
        o = expected["overlong"]
        assert f"buffer {o['buffer']} tokens" in run.rewards["why"]
        assert f"max length {o['max_length']}" in run.rewards["why"]  # the value, not the name
    assert len(LAUNCH) >= 8


def check_loss(run, expected: dict) -> None:
    """The run's loss-mode reduction against the expected file's ``loss`` (its ``why["loss"]``
    derives it from the trainer's source, file:line)."""
    want, reading = expected["loss"], run.loss
    assert "loss" in expected["why"] and ":" in expected["why"]["loss"]
    lm = reading.reduction
    assert (reading.release, reading.mode) == (want["release"], want["mode"])
    if "length_factor" in want:
        assert lm.length_factor == want["length_factor"]
    for part in want.get("phrase_contains", ()):
        assert part in lm.length_factor, (part, lm.length_factor)
    assert lm.base_length_factor == want["base_length_factor"]
    assert lm.exact_on_policy is want["exact_on_policy"]
    assert lm.scale == want["scale"]
    assert lm.off_policy_only == want["off_policy_only"]
    assert bool(run.updates_per_rollout > 1 and lm.off_policy_only) is want["off_policy_acts"]


@pytest.mark.parametrize("name", PEER)
def test_every_peer_config_still_yields_its_facts(name):
    expected = _expected(DATA / name)
    run = read_config(DATA / expected["config"])
    assert {k: getattr(run, k) for k in FACT_KEYS} == {k: expected[k] for k in FACT_KEYS}
    assert run.warnings == ()
    check_loss(run, expected)
    assert len(PEER) == 6


def test_every_example_launcher_has_its_expected_facts():
    """Each launch example but the one rlxform refuses (OpenRLHF 0.6 PPO with a critic, gae)
    has an expected-facts file, with the loss facts."""
    launch = ROOT / "experiments" / "configs" / "launch"
    pins = ("README.md", "REQUIRED_VERL.txt")  # a recipe folder's pin file is no launcher
    names = {str(p.relative_to(launch)) for p in launch.rglob("*") if p.is_file()}
    configs = {_expected(DATA / "launch" / n)["config"].split("launch/", 1)[1] for n in LAUNCH}
    assert configs == {n for n in names if n.rsplit("/", 1)[-1] not in pins} - {
        "openrlhf_ppo_deepspeed_0.6.sh"
    }


def test_the_example_set_covers_every_format_the_issue_names():
    """A shell launcher per trainer, a Python GRPOConfig script, an open-r1 recipe, a notebook,
    and a file mixing a non-binary reward with a knob rlxform does not model."""
    launch = ROOT / "experiments" / "configs" / "launch"
    runs = {p.name: read_config(p) for p in sorted(launch.iterdir()) if p.is_file()
            and p.name != "README.md" and "deepspeed_0.6" not in p.name}  # fmt: skip
    shells = {r.framework for n, r in runs.items() if n.endswith(".sh")}
    assert {"verl", "trl", "openrlhf"} <= shells
    assert runs["trl_grpo_config.py"].command["program"] == "GRPOConfig"
    assert runs["unsloth_grpo.ipynb"].framework == "unsloth"
    mixed = [n for n, r in runs.items() if r.rewards["binary"] is False and r.not_modelled]
    assert {"openrlhf_rm_gspo_0.11.sh"} <= set(mixed)
    filtered = [n for n, r in runs.items() if r.rewards["binary"] is False and r.mask_truncated]
    assert {"openr1_grpo_recipe.yaml"} <= set(filtered)  # a filter rather than an unknown knob


def test_command_picks_another_launch_command(monkeypatch):
    monkeypatch.chdir(ROOT)
    path = "experiments/configs/launch/verl_two_runs.sh"
    run = read_config(path)
    assert (run.command["index"], run.command["count"]) == (2, 2)  # the first prepares data
    with pytest.raises(ValueError, match=r"found 1 launch command\(s\), none of a trainer"):
        read_config(path, command=1)  # examples/data_preprocess/gsm8k.py is no trainer
    with pytest.raises(ValueError, match=r"--command=3 is invalid: must be an integer in \[1, 2\]"):
        read_config(path, command=3)
    forced = read_config(path, framework="verl", command=2)
    assert forced.estimator == "rloo" and forced.group_size == 4


def test_command_lines_are_read_like_files():
    words = [
        "python3", "-m", "verl.trainer.main_ppo", "algorithm.adv_estimator=grpo",
        "actor_rollout_ref.rollout.n=8", "actor_rollout_ref.actor.kl_loss_coef=1e-3",
        "actor_rollout_ref.actor.use_kl_loss=true", "+reward_model.reward_kwargs.max_resp_len=100",
    ]  # fmt: skip
    run = read_config(words)
    assert (run.framework, run.group_size, run.kl_coef) == ("verl", 8, 0.001)
    assert isinstance(run.kl_coef, float)  # 1e-3 is a float in Hydra's grammar
    assert run.command == {"index": 1, "count": 1, "line": 1, "program": "verl.trainer.main_ppo"}
    flags = "python3 -m openrlhf.cli.train_ppo_ray --algo.advantage.estimator rloo "
    flags += "--rollout.n_samples_per_prompt 4 --algo.kl.init_coef 1e-3"
    run = read_config([flags])  # one word holding a whole command: read as shell text
    assert (run.framework, run.estimator, run.kl_coef) == ("openrlhf", "rloo", 0.001)
    assert (run.kl_placement, run.kl_estimator) == ("advantage", "k1")  # OpenRLHF's defaults


def test_versions_apply_their_defaults_and_say_which_took_them():
    """TRL 0.18: beta 0.04 (k3, no bias correction before 1.10), loss_type bnpo; 1.16.0: beta
    0 and dapo (grpo_config.py of each release, tests/data/frameworks/trl)."""
    old = read_config({"num_generations": 4}, "trl", version="0.18.0")
    assert old.version == "trl 0.18.2"
    assert any("the defaults of trl 0.18.2 are used" in p for p in old.pitfalls)
    assert (old.kl_coef, old.kl_estimator, old.aggregation) == (0.04, "k3", "bnpo")
    assert {"beta", "loss_type", "scale_rewards"} <= set(old.defaults_used)
    assert "num_generations" not in old.defaults_used
    new = read_config({"num_generations": 4, "beta": 0.1}, "trl")
    assert new.version == "trl 1.16.0"
    assert (new.kl_estimator, new.aggregation) == ("k3_ratio", "dapo")  # ratio * k3 from 1.10
    oldest = read_config({"num_generations": 4}, "trl", version="0.14")
    assert oldest.aggregation == "grpo"  # no loss_type before 0.17: per-sequence mean
    with pytest.raises(ValueError, match=r"--framework-version='2.0' is invalid for trl: must be"):
        read_config({"num_generations": 4}, "trl", version="2.0")


def test_openrlhf_names_of_every_release_are_keys_not_warnings():
    """0.11.2 renamed is_correction_enable/type to is_correction_level/mode/gating: they are
    keys of 0.11.2, not misspellings; flat names pick the release that had them."""
    run = read_config(
        {
            "algo.advantage.estimator": "rloo",
            "rollout.n_samples_per_prompt": 4,
            "algo.advantage.is_correction_level": "token",
            "algo.advantage.is_correction_mode": "clip",
            "algo.kl.init_coef": 0,
        }
    )
    assert run.version == "openrlhf 0.11.2" and run.warnings == ()
    assert sorted(i["key"] for i in run.not_modelled) == [
        "algo.advantage.is_correction_level",
        "algo.advantage.is_correction_mode",
    ]
    # 0.11.2's argparse refuses the old is_correction_type values as a level (choices :260)
    with pytest.raises(ValueError, match="is_correction_level='tis' is invalid: must be one of"):
        read_config({"algo.advantage.estimator": "rloo", "rollout.n_samples_per_prompt": 4,
                     "algo.advantage.is_correction_level": "tis"})  # fmt: skip
    flat = read_config(
        {"advantage_estimator": "group_norm", "n_samples_per_prompt": 8, "init_kl_coef": 0}
    )
    assert flat.version == "openrlhf 0.10.1.post2"  # flat names end with 0.10.1
    assert (flat.estimator, flat.group_size, flat.kl_placement) == ("group_norm", 8, "none")


def test_unresolved_values_are_named_not_guessed(monkeypatch):
    monkeypatch.chdir(ROOT)
    run = read_config("experiments/configs/launch/verl_unresolved.sh")
    joined = " ".join(run.unresolved)
    assert "actor_rollout_ref.rollout.n=$n_resp" in joined and "$1 not set" in joined
    assert "$MODEL_PATH" in joined


def test_unsloth_reads_trls_config_with_its_own_loss():
    """Unsloth's loss has no KL bias correction (k3, not k3_ratio), ignores
    top_entropy_quantile, and forces scale_rewards none with dr_grpo; entropy_coef is modelled
    (unsloth_zoo 2026.10.9 applies a fixed one as TRL does)."""
    settings = {
        "num_generations": 4,
        "beta": 0.04,
        "top_entropy_quantile": 0.2,
        "entropy_coef": 0.01,
        "loss_type": "dr_grpo",
    }
    run = read_config(settings, "unsloth")
    assert (run.kl_estimator, run.estimator) == ("k3", "none")
    assert run.not_modelled == () and run.top_entropy_quantile is None
    trl = read_config(settings, "trl")
    assert trl.kl_estimator == "k3_ratio"
    assert trl.top_entropy_quantile == 0.2  # modelled: the card's filters section
    assert trl.entropy_coef == run.entropy_coef == 0.01  # modelled since issue 24 (both)
    assert any("no bias correction" in n for n in FRAMEWORKS["unsloth"].notes)


def test_trls_vllm_correction_counts_when_its_default_acts():
    off = read_config({"num_generations": 4}, "trl")
    assert off.not_modelled == () and off.vllm_is_mode is None
    on = read_config({"num_generations": 4, "use_vllm": True}, "trl")
    assert on.not_modelled == ()  # modelled: the card's filters section
    assert (on.vllm_is_mode, on.vllm_is_cap, on.vllm_is_cap_min) == ("sequence_mask", 3.0, None)
    old = read_config({"num_generations": 4, "use_vllm": True}, "trl", version="0.22")
    assert old.vllm_is_mode is None  # the correction arrives in 0.23
    first = read_config({"num_generations": 4, "use_vllm": True}, "trl", version="0.23")
    assert (first.vllm_is_mode, first.vllm_is_cap) == ("token_truncate", 2.0)  # no mode key yet
    alias = {"use_vllm": True, "vllm_importance_sampling_cap": 2.5}
    assert read_config(alias, "trl").vllm_is_cap == 2.5  # deprecated alias copied (1.6+)
    unsloth = read_config({"num_generations": 4, "use_vllm": True}, "unsloth")
    assert unsloth.vllm_is_mode is None  # Unsloth turns the correction off


@pytest.mark.parametrize(
    ("text", "suffix", "message"),
    [
        ("\x00\x01binary", ".sh", "binary data (a NUL byte at offset 0)"),
        ("echo hello\npip install verl\n", ".sh", "no launch command found: looked for"),
        ("python3 -m acme_rl.train acme.group_size=8\n", ".sh", "none of a trainer"),
        ("python3 train.py --foo 'unbalanced\n", ".sh", "unterminated"),
        ("a: &a [1, 2]\nb: [*a, *a, *a]\n" + "c: !!python/object x\n", ".yaml", "tag"),
        ("import os\nprint(1)\n", ".py", "no GRPOConfig(...) call found"),
        ("- 1\n- 2\n", ".yaml", "must hold a mapping of config keys, got list"),
    ],
)
def test_bad_input_is_one_line_naming_what_was_looked_for(tmp_path, text, suffix, message):
    path = tmp_path / f"run{suffix}"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        read_config(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_key_written_dotted_and_nested_is_read_once_or_refused(tmp_path):
    """``a.b: 2`` beside ``a: {b: 4}``: equal values are one setting, different ones refused."""
    path = tmp_path / "run.yaml"
    nested = "actor_rollout_ref:\n  actor:\n    ppo_epochs: {}\n  rollout:\n    n: 8\n"
    nested += "algorithm:\n  adv_estimator: grpo\n"
    dotted = "actor_rollout_ref.actor.ppo_epochs: 2\n"
    path.write_text(dotted + nested.format(2))
    once = read_config(path)
    path.write_text(nested.format(2))
    assert once.updates_per_rollout == read_config(path).updates_per_rollout
    path.write_text(dotted + nested.format(4))
    with pytest.raises(ValueError) as err:
        read_config(path)
    assert str(err.value) == (
        "actor_rollout_ref.actor.ppo_epochs=4 is invalid: the file also sets "
        "actor_rollout_ref.actor.ppo_epochs=2 (one key written both dotted and nested); set it once"
    )


def test_toml_configs_and_notebook_commands(tmp_path):
    """A TOML file of TRL fields; a notebook whose run is a ``!python -m`` shell line."""
    toml = tmp_path / "run.toml"
    toml.write_text('num_generations = 4\nloss_type = "dr_grpo"\nscale_rewards = "none"\n')
    run = read_config(toml)
    assert (run.framework, run.group_size, run.aggregation, run.estimator) == (
        "trl",
        4,
        "dr_grpo",
        "none",
    )
    cell = {
        "cell_type": "code",
        "metadata": {},
        "outputs": [],
        "execution_count": None,
        "source": [
            "!python3 -m verl.trainer.main_ppo algorithm.adv_estimator=rloo \\\n",
            "    actor_rollout_ref.rollout.n=6",
        ],
    }
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "run.ipynb"
    path.write_text(json.dumps(notebook))
    run = read_config(path)
    assert (run.framework, run.estimator, run.group_size) == ("verl", "rloo", 6)
    assert run.command["cell"] == 1


def test_keys_set_to_undetermined_values_still_count_as_set(tmp_path):
    """verl loads a custom reward function whenever custom_reward_function.path is non-empty
    (verl/trainer/ppo/reward.py:80-83 at b178a3cd): a path built from $(pwd) is still a path,
    so the rewards are of unknown range, not verl's 0/1 scorer; --config-name composes a YAML
    rlxform does not read, which the card names (verl's own ppo_trainer is not named)."""
    script = tmp_path / "run.sh"
    base = "python3 -m verl.trainer.main_ppo algorithm.adv_estimator=grpo"
    path = "custom_reward_function.path=$D/r.py"
    script.write_text(f'D="$(pwd)"\n{base} --config-name=mine {path}\n')
    run = read_config(script)
    assert run.rewards["binary"] is None and "custom_reward_function.path" in run.rewards["why"]
    assert any("--config-name=mine" in p for p in run.pitfalls)
    script.write_text(f"{base} --config-name=ppo_trainer actor_rollout_ref.rollout.n=4\n")
    run = read_config(script)
    assert run.rewards["binary"] is True and not any("config-name" in p for p in run.pitfalls)


def test_float_words_for_float_flags_with_integer_defaults(monkeypatch):
    """argparse's type=float flags may default to an int (OpenRLHF --algo.advantage.gamma,
    type=float, default=1: openrlhf/cli/train_ppo_ray.py:392 at 3c3be62): "1.0" is valid there.
    Two 0.11.1 keys renamed onto one 0.11.2 name keep their own names and values."""
    from rlxform.frameworks.tables import load_tables

    table = load_tables("openrlhf")["0.11.1"]
    assert table.typed("algo.advantage.gamma", "1.0", strings=True) == 1.0
    assert table.typed("algo.dynamic_filtering_range", ["0.0", "1.0"], strings=True) == [0, 1]
    monkeypatch.chdir(ROOT)
    run = read_config("experiments/configs/launch/openrlhf_icepop_0.11.1.sh")
    shown = {i["key"]: i["value"] for i in run.not_modelled}
    assert shown == {
        "algo.advantage.is_correction_enable": True,
        "algo.advantage.is_correction_type": "icepop",
    }
    assert "math_reward_func.py" in run.rewards["why"]


def test_trl_async_grpo_is_refused_not_read_as_grpo(tmp_path):
    """TRL's AsyncGRPOConfig (trl/experimental/async_grpo/async_grpo_config.py at f2cd577) is not
    a GRPOConfig: population std + 1e-8 (async_rollout_worker.py:839), max_staleness 4 (:282
    of the config); reading it with GRPOConfig's defaults would print a wrong card."""
    script = tmp_path / "a.py"
    script.write_text(
        "from trl.experimental.async_grpo import AsyncGRPOConfig, AsyncGRPOTrainer\n"
        "config = AsyncGRPOConfig(output_dir='o', per_device_train_batch_size=16)\n"
        "AsyncGRPOTrainer(model='m', args=config, reward_funcs=f)\n"
    )
    with pytest.raises(ValueError, match=r"a\.py:2: AsyncGRPOConfig .*not model"):
        read_config(script)


@pytest.mark.parametrize(
    ("version", "updates", "words"),
    [("0.7.1", 4, "4 mini-batches"), ("0.9.1", 3, "assert that it divides")],
)
def test_verl_mini_batch_that_does_not_divide_the_batch(tmp_path, version, updates, words):
    """100 prompts in mini-batches of 32: the legacy dp_actor splits into [32, 32, 32, 4]
    (DataProto.split, verl/protocol.py:925 at b178a3cd: range(0, 100, 32)), 4 steps, not
    100 // 32 = 3; the engine workers assert divisibility (utils/tensordict_utils.py:525)."""
    script = tmp_path / "run.sh"
    script.write_text(
        "python3 -m verl.trainer.main_ppo algorithm.adv_estimator=grpo "
        "data.train_batch_size=100 actor_rollout_ref.actor.ppo_mini_batch_size=32\n"
    )
    run = read_config(script, version=version)
    assert run.updates_per_rollout == updates
    assert any(words in p for p in run.pitfalls)


def test_keys_the_release_lacks_are_named_not_dropped(tmp_path):
    """A key no release table has and no close name explains (a custom entrypoint's, a newer
    release's) is listed under Not modelled; a section written null and Hydra's own keys are
    not (NeMo-RL's megatron configs write ``policy.optimizer: null``)."""
    path = tmp_path / "grpo.yaml"
    path.write_text(
        "grpo:\n  num_generations_per_prompt: 16\n  my_length_penalty: 0.3\n"
        "policy:\n  optimizer: null\nhydra:\n  run:\n    dir: .\n"
    )
    run = read_config(path, "nemo_rl")
    unknown = {i["key"]: i["value"] for i in run.not_modelled if i.get("unknown")}
    assert unknown == {"grpo.my_length_penalty": 0.3}
    assert run.warnings == ()
