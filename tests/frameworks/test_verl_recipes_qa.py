"""verl recipe launchers (QA round 2): entry points that train nothing, a disabled overlong buffer.

Facts from verl's code: verl/trainer/main_generation.py samples answers and main_eval.py scores
saved ones (0.4.1); the DAPO reward manager adds the overlong penalty only when
``overlong_buffer_cfg.enable`` (verl/workers/reward_manager/dapo.py:121 in 0.9.1), so a buffer
that is off makes its ``len`` and ``penalty_factor`` act on nothing.
"""

from __future__ import annotations

import pytest

from rlxform.frameworks import read_config

TRAIN = (
    "python3 -m verl.trainer.main_ppo algorithm.adv_estimator=grpo actor_rollout_ref.rollout.n=8"
)
EVAL_ONLY = """\
python3 -m recipe.r1.data_process --local_dir /data/r1 --tasks all
python3 -m verl.trainer.main_generation data.n_samples=8 rollout.temperature=0.6
python3 -m recipe.r1.main_eval data.path=/data/r1/out.parquet data.response_key=responses
"""


def test_a_launcher_of_generation_and_evaluation_only_is_refused_by_what_it_runs(tmp_path):
    path = tmp_path / "eval.sh"
    path.write_text(EVAL_ONLY)
    with pytest.raises(ValueError) as err:
        read_config(path)
    message = str(err.value)
    assert message.startswith("found 3 launch command(s), none is an RL training run: ")
    assert "recipe.r1.data_process (line 1) is a recipe's data preparation script" in message
    assert "verl.trainer.main_generation (line 2) is verl's generation entry point" in message
    assert "recipe.r1.main_eval (line 3) is a recipe's evaluation entry point" in message
    with pytest.raises(
        ValueError, match=r"^--command=2 is invalid: verl.trainer.main_gen.*not an RL training run"
    ):
        read_config(path, command=2)


def test_the_training_command_after_data_preparation_is_read(tmp_path):
    path = tmp_path / "run.sh"
    path.write_text(EVAL_ONLY.splitlines()[0] + "\n" + TRAIN + "\n")
    run = read_config(path)
    assert (run.estimator, run.group_size, run.command["index"]) == ("grpo", 8, 2)


@pytest.mark.parametrize("enable", [False, True])
def test_the_recipe_overlong_buffer_counts_only_when_enabled(tmp_path, enable):
    """reward_model.overlong_buffer.* (the DAPO and entropy recipes' keys): off, its length and
    factor are neither unknown knobs nor shaping; on, the rewards stop being binary."""
    path = tmp_path / "run.sh"
    buffer = (
        f" reward_model.reward_manager=dapo reward_model.overlong_buffer.enable={enable}"
        " reward_model.overlong_buffer.len=2048 reward_model.overlong_buffer.penalty_factor=1.0"
        " data.max_response_length=8192"
    )
    path.write_text(TRAIN + buffer + "\n")
    run = read_config(path)
    listed = {item["key"] for item in run.not_modelled}
    assert not listed & {"reward_model.overlong_buffer." + k for k in ("len", "penalty_factor")}
    assert run.rewards["binary"] is (not enable)
    assert (run.overlong_buffer, run.overlong_factor) == ((2048.0, 1.0) if enable else (None, None))


def test_an_in_reward_kl_beside_the_loss_kl_is_named_as_not_modelled(tmp_path):
    """Both on: the loss holds kl_loss_coef x kl_loss_type (dp_actor / losses.py) and
    apply_kl_penalty subtracts kl_ctrl.kl_coef x kl_penalty from the token rewards
    (verl/trainer/ppo/ray_trainer.py:78-111 in 0.9.1). The card's KL term is the loss's; the
    reward's 0.05 must be on the card, as a term rlxform does not model."""
    path = tmp_path / "run.sh"
    kl = " algorithm.use_kl_in_reward=True algorithm.kl_ctrl.kl_coef=0.05"
    loss = " actor_rollout_ref.actor.use_kl_loss=True actor_rollout_ref.actor.kl_loss_coef=0.01"
    path.write_text(TRAIN + kl + loss + "\n")
    run = read_config(path)
    assert (run.kl_placement, run.kl_coef) == ("loss", 0.01)
    (item,) = [i for i in run.not_modelled if i["key"] == "algorithm.use_kl_in_reward"]
    assert "0.05" in item["effect"] and "kl_penalty kl" in item["effect"]
    path.write_text(TRAIN + kl + "\n")  # the reward's KL alone is the card's KL term
    alone = read_config(path)
    assert (alone.kl_placement, alone.kl_coef, alone.kl_estimator) == ("reward", 0.05, "kl")
    assert "algorithm.use_kl_in_reward" not in {i["key"] for i in alone.not_modelled}


@pytest.mark.parametrize(
    ("program", "what"),
    [
        ("openrlhf.cli.train_sft", "supervised fine-tuning"),
        ("openrlhf.cli.train_rm", "reward-model training"),
        ("openrlhf.cli.train_dpo", "DPO"),
    ],
)
def test_openrlhf_entry_points_without_rollouts_are_named_not_read_as_ppo(tmp_path, program, what):
    """OpenRLHF's examples/scripts/train_sft.sh, train_rm.sh and train_dpo_llama.sh run
    ``deepspeed --module openrlhf.cli.train_{sft,rm,dpo}`` (no rollouts, no advantage); they
    were read as train_ppo_ray with its default estimator and refused as gae."""
    path = tmp_path / "run.sh"
    path.write_text(f"deepspeed --module {program} --max_len 2048 --train_batch_size 256\n")
    with pytest.raises(ValueError) as err:
        read_config(path)
    assert str(err.value).startswith("found 1 launch command(s), none is an RL training run: ")
    assert f"{program} (line 1) is OpenRLHF's {what}" in str(err.value)


def test_an_openrlhf_flag_the_release_lacks_stops_the_launch(tmp_path):
    """OpenRLHF v0.9.10's examples/scripts/train_dapo_ray_hybrid_engine.sh passes
    --vllm_enable_is_correction; the release defines --enable_vllm_is_correction
    (openrlhf/cli/train_ppo_ray.py:254 in 0.9.10) and reads flags with parse_args() (:527), which
    exits on an unrecognized argument: the card must say the run does not start."""
    path = tmp_path / "run.sh"
    command = "python3 -m openrlhf.cli.train_ppo_ray --advantage_estimator group_norm "
    command += "--n_samples_per_prompt 8 --rollout_batch_size 128 --train_batch_size 128 "
    path.write_text(command + "--vllm_enable_is_correction\n")
    run = read_config(path, version="0.9.10")
    (refused,) = [p for p in run.pitfalls if "unrecognized arguments" in p]
    assert refused.startswith("--vllm_enable_is_correction: not a flag of openrlhf 0.9.10's")
    path.write_text(command + "--enable_vllm_is_correction\n")
    assert not [p for p in read_config(path, version="0.9.10").pitfalls if "unrecognized" in p]


@pytest.mark.parametrize(
    ("program", "why"),
    [
        ("recipe.flowrl.main_flowrl", "trajectory-balance loss"),  # flowrl_actor.py:434-463
        ("recipe.prime.main_prime", "implicit process reward model"),  # prime_core_algos.py:21
        ("recipe.sppo.main_sppo", "squared loss"),  # sppo/dp_actor.py:34-55
        ("recipe.spin.main_spin", "online DPO loss"),  # spin/core_algos.py:131
    ],
)
def test_recipes_that_replace_the_loss_or_advantage_are_refused_by_name(tmp_path, program, why):
    """verl-recipe 48ea0a7: these recipes' workers train with their own loss or advantage, so a
    card of verl's grpo/rloo and PPO loss (what explain printed for flowrl and prime, with
    adv_estimator=grpo / rloo set) would describe another update."""
    path = tmp_path / "run.sh"
    path.write_text(f"python3 -m {program} algorithm.adv_estimator=grpo {TRAIN.split()[-1]}\n")
    with pytest.raises(ValueError) as err:
        read_config(path)
    assert str(err.value).startswith(f"{program} is not modelled by rlxform: ")
    assert why in str(err.value) and "(verl-recipe 48ea0a7)" in str(err.value)


DAPO = "python3 -m recipe.dapo.main_dapo algorithm.adv_estimator=grpo actor_rollout_ref.rollout.n=8"
FILTER = " algorithm.filter_groups.enable=True algorithm.filter_groups.metric="


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        # dapo_ray_trainer.py:240-244 (verl-recipe 48ea0a7): seq_final_reward sums
        # token_level_rewards, which hold -beta * KL when use_kl_in_reward is on
        (FILTER + "seq_final_reward algorithm.use_kl_in_reward=True", "after the in-reward KL"),
        # :245-248: seq_reward sums token_level_scores, the DAPO manager's score plus its
        # overlong penalty (verl/workers/reward_manager/dapo.py:121-127 in 0.9.1)
        (
            FILTER + "seq_reward reward_model.overlong_buffer.enable=True "
            "reward_model.overlong_buffer.len=512 data.max_response_length=4096",
            "overlong penalties differ",
        ),
        (FILTER + "acc algorithm.use_kl_in_reward=True", None),  # correctness: the card's rule
    ],
)
def test_what_the_group_filter_compares_is_said(tmp_path, extra, says):
    path = tmp_path / "run.sh"
    path.write_text(DAPO + extra + "\n")
    run = read_config(path)
    said = [p for p in run.pitfalls if p.startswith("algorithm.filter_groups.metric=")]
    assert run.dynamic_sampling is True
    assert [says in p for p in said] == ([] if says is None else [True])


def test_openrlhf_answers_not_filling_the_last_optimizer_step_are_said(tmp_path):
    """rollout.batch_size 100 x 8 = 800 answers, train.batch_size 128: 800 // 128 = 6 full steps
    and 800 - 768 = 32 answers left; DeepSpeed steps every train_batch / (micro x world)
    micro-batches (openrlhf/utils/deepspeed/deepspeed.py:110-116 in 0.11.2), counting micro-steps
    across calls, so those 32 answers' gradients join the next step."""
    path = tmp_path / "run.sh"
    command = "python3 -m openrlhf.cli.train_ppo_ray --algo.advantage.estimator group_norm "
    command += "--rollout.n_samples_per_prompt 8 --train.batch_size 128 --rollout.batch_size "
    path.write_text(command + "100\n")
    run = read_config(path)
    (said,) = [p for p in run.pitfalls if "not a multiple of train.batch_size 128" in p]
    assert run.updates_per_rollout == 6
    assert said.startswith("rollout.batch_size x n_samples_per_prompt = 800 answers")
    assert "6 full optimizer steps per epoch, and the last 32 answers'" in said
    path.write_text(command + "128\n")  # 1024 = 8 x 128: nothing left over
    assert not [p for p in read_config(path).pitfalls if "not a multiple" in p]


def test_a_plus_override_of_a_key_the_config_holds_stops_the_launch(tmp_path):
    """Hydra's _apply_overrides_to_config (hydra/_internal/config_loader_impl.py): ``+key=v``
    raises "Could not append to config" when the composed config holds a non-null value at key
    and v is no mapping or list. verl 0.9.1's ppo_trainer.yaml holds rollout.n = 1 and
    trainer.val_before_train = True; override_config is an empty mapping, so its keys are new."""
    path = tmp_path / "run.sh"
    words = [
        "+actor_rollout_ref.rollout.n=8",  # refused
        "++actor_rollout_ref.actor.ppo_epochs=2",  # ++ adds or overrides
        "+actor_rollout_ref.model.override_config.attention_dropout=0.",  # a new key
        "trainer.val_before_train=False",  # no prefix
    ]
    path.write_text(
        "python3 -m verl.trainer.main_ppo algorithm.adv_estimator=grpo " + " ".join(words)
    )
    run = read_config(path)
    said = [p for p in run.pitfalls if "Could not append to config" in p]
    assert [p.split(":")[0] for p in said] == ["+actor_rollout_ref.rollout.n=8"]
    assert (run.group_size, run.updates_per_rollout) == (8, 8)  # 1024 // 256 * 2


# ---- the verl release a recipe pins (QA round 3) ---------------------------------------------
# verl-recipe 48ea0a7 pins per recipe in <recipe>/REQUIRED_VERL.txt: gvpo TAG=v0.6.0 (:4),
# retool TAG=v0.6.1 (:4, README.md:30 pip install verl==0.6.1), entropy rolling at verl commit
# bcb63864 (v0.7.0-498, before v0.8.0; main_entropy.py:94 imports verl.workers.fsdp_workers).
# Legacy workers (verl < 0.8) divide token-mean by one micro-batch's tokens: dp_actor.py:418
# splits the mini-batch, agg_loss masked_mean core_algos.py:788 (0.6.0 and 0.6.1).

PINNED = "experiments/configs/launch/verl_recipe_pinned/run_qwen2_5_3b_grpo.sh"
RECIPE_ARGS = (
    " algorithm.adv_estimator=grpo actor_rollout_ref.rollout.n=8 data.train_batch_size=128"
    " actor_rollout_ref.actor.ppo_mini_batch_size=32"
    " actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8\n"
)


def test_a_launcher_beside_its_recipes_pin_file_is_read_with_the_pinned_release():
    run = read_config(PINNED)
    assert run.version == "verl 0.6.1"  # v0.6.0 pinned, the nearest table
    assert run.normaliser.answers == 8  # one micro-batch, not 32 x 8 of verl 0.9.1's engine
    pin = [p for p in run.pitfalls if "pinned to verl 0.6.0" in p]
    assert len(pin) == 1
    assert "verl_recipe_pinned/REQUIRED_VERL.txt:4 TAG=v0.6.0" in pin[0]
    assert "defaults of verl 0.6.1 are used (the nearest it reads)" in pin[0]


def test_framework_version_wins_over_the_recipes_pin():
    run = read_config(PINNED, version="0.9.1")
    assert run.version == "verl 0.9.1"
    assert run.normaliser.answers == 256
    assert not any(" pinned to " in p for p in run.pitfalls)


def test_a_known_recipe_without_a_pin_file_takes_the_shipped_pin(tmp_path):
    path = tmp_path / "run.sh"
    path.write_text("python3 -m recipe.retool.main_retool" + RECIPE_ARGS)
    run = read_config(path)
    assert run.version == "verl 0.6.1"
    assert run.normaliser.answers == 8
    assert any("retool/REQUIRED_VERL.txt:4 TAG=v0.6.1" in p for p in run.pitfalls)


def test_a_plain_main_ppo_inside_a_pinned_recipe_folder_takes_its_requirements(tmp_path):
    (tmp_path / "requirements.txt").write_text("vllm==0.8.5\nverl==0.5.0\n")
    path = tmp_path / "run.sh"
    path.write_text("python3 -m verl.trainer.main_ppo" + RECIPE_ARGS)
    run = read_config(path)
    assert run.version == "verl 0.5.0"
    assert any("a verl launch pinned to verl 0.5.0" in p for p in run.pitfalls)


@pytest.mark.parametrize(
    ("program", "pin", "said"),
    [
        ("recipe.entropy.main_entropy", None, "pinned to a verl commit (entropy/REQUIRED_VERL"),
        ("recipe.mine.main_mine", None, "whose verl pin rlxform cannot find"),
        (
            "recipe.mine.main_mine",
            "MODE=pinned_commit\nCOMMIT=" + "ab" * 20,
            "verl commit abababab",
        ),
    ],
)
def test_an_undetermined_pin_names_what_an_older_release_does_otherwise(
    tmp_path, program, pin, said
):
    if pin:
        (tmp_path / "REQUIRED_VERL.txt").write_text(f"UPSTREAM=verl\n{pin}\n")
    path = tmp_path / "run.sh"
    path.write_text(f"python3 -m {program}" + RECIPE_ARGS)
    run = read_config(path)
    assert run.version == "verl 0.9.1"
    (text,) = [p for p in run.pitfalls if said in p]
    assert "the defaults of verl 0.9.1 are used" in text
    assert "algorithm.filter_groups.enable (verl 0.9.1 only)" in text
    assert "token-mean divides by one GPU micro-batch's tokens" in text
