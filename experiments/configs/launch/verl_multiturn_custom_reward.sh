#!/usr/bin/env bash
# Multi-turn GRPO with tool calls on GSM8K, launched from the root of a verl checkout: the
# reward is a project's own scoring function and the base config is a project YAML, both found
# through $PROJECT_DIR="$(pwd)". Conventions of verl's examples/sglang_multiturn/*.sh
# (volcengine/verl): --config-path/--config-name, key=value overrides on continued lines;
# key names of verl 0.9.1. Written for rlxform's tests: the file cannot say what the reward
# function returns (it is shaped for tool use), nor what the composed YAML sets.
set -x
ulimit -n 65535

PROJECT_DIR="$(pwd)"
CONFIG_PATH="$PROJECT_DIR/examples/sglang_multiturn/config"
REWARD_FN="$PROJECT_DIR/my_rewards/gsm8k_tool_bonus.py"

python3 -m verl.trainer.main_ppo \
    --config-path="$CONFIG_PATH" \
    --config-name='gsm8k_multiturn_grpo' \
    algorithm.adv_estimator=grpo \
    algorithm.use_kl_in_reward=False \
    data.train_batch_size=128 \
    data.max_prompt_length=1024 \
    data.max_response_length=1024 \
    data.return_raw_chat=True \
    actor_rollout_ref.model.path=Qwen/Qwen2.5-3B-Instruct \
    actor_rollout_ref.actor.optim.lr=1e-6 \
    actor_rollout_ref.actor.ppo_mini_batch_size=32 \
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8 \
    actor_rollout_ref.actor.use_kl_loss=True \
    actor_rollout_ref.actor.kl_loss_coef=0.001 \
    actor_rollout_ref.actor.kl_loss_type=low_var_kl \
    actor_rollout_ref.actor.entropy_coeff=0 \
    actor_rollout_ref.rollout.name=sglang \
    actor_rollout_ref.rollout.n=8 \
    actor_rollout_ref.rollout.multi_turn.enable=True \
    actor_rollout_ref.rollout.multi_turn.max_assistant_turns=5 \
    actor_rollout_ref.rollout.multi_turn.tool_config_path="$CONFIG_PATH/tool_config/gsm8k_tool_config.yaml" \
    custom_reward_function.path="$REWARD_FN" \
    custom_reward_function.name=compute_score \
    trainer.logger='["console"]' \
    trainer.project_name='rlxform_examples' \
    trainer.experiment_name='qwen2.5_3b_multiturn_tool_bonus' \
    trainer.n_gpus_per_node=8 \
    trainer.nnodes=1 \
    trainer.total_epochs=15
