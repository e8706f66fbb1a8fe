#!/usr/bin/env bash
# GRPO on GSM8K with verl's PPO entry point and Hydra overrides. Conventions of verl's
# examples/grpo_trainer/run_qwen2-7b.sh (volcengine/verl): `set -x`, one
# `python3 -m verl.trainer.main_ppo` call, one key=value override per continued line.
# Written for rlxform's tests; the objective settings are those of ../verl_grpo.yaml
# (M = 5, 1024 prompts per rollout, 256 per update, KL loss low_var_kl with coefficient 1e-3).
set -x

DATA_DIR=${DATA_DIR:-/data/gsm8k}   # default used unless the environment sets it
MODEL=Qwen/Qwen3-8B
GROUP=5                             # responses per prompt: the group size M
ROLLOUT_PROMPTS=1024
UPDATE_PROMPTS=$((ROLLOUT_PROMPTS / 4))

export HYDRA_FULL_ERROR=1

python3 -m verl.trainer.main_ppo \
    algorithm.adv_estimator=grpo \
    algorithm.use_kl_in_reward=False \
    data.train_files=${DATA_DIR}/train.parquet \
    data.val_files=${DATA_DIR}/test.parquet \
    data.train_batch_size=${ROLLOUT_PROMPTS} \
    data.max_prompt_length=512 \
    data.max_response_length=1024 \
    data.filter_overlong_prompts=True \
    data.truncation='error' \
    actor_rollout_ref.model.path=${MODEL} \
    actor_rollout_ref.actor.optim.lr=1e-6 \
    actor_rollout_ref.actor.ppo_mini_batch_size=${UPDATE_PROMPTS} \
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=32 \
    actor_rollout_ref.actor.use_kl_loss=True \
    actor_rollout_ref.actor.kl_loss_coef=1e-3 \
    actor_rollout_ref.actor.kl_loss_type=low_var_kl \
    actor_rollout_ref.actor.entropy_coeff=0 \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.n=${GROUP} \
    actor_rollout_ref.rollout.gpu_memory_utilization=0.6 \
    actor_rollout_ref.rollout.tensor_model_parallel_size=2 \
    trainer.logger='["console","wandb"]' \
    trainer.project_name='rlxform_examples' \
    trainer.experiment_name='qwen3_8b_grpo_gsm8k' \
    trainer.n_gpus_per_node=8 \
    trainer.nnodes=1 \
    trainer.total_epochs=15  # a comment after the last override
