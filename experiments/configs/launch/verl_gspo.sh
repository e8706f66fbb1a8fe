#!/usr/bin/env bash
# GSPO on GSM8K with verl's PPO entry point: actor.policy_loss.loss_mode=gspo with the GSPO
# paper's sequence-level clip (3e-4 below, 4e-4 above). Conventions of verl's
# examples/grpo_trainer/run_qwen2-7b.sh (volcengine/verl): `set -x`, one
# `python3 -m verl.trainer.main_ppo` call, one key=value override per continued line; key names
# of verl 0.9.1 (verl/trainer/config/_generated_ppo_trainer.yaml).
# Written for rlxform's tests: loss_agg_mode is written as verl's default token-mean, which
# verl 0.9.1's gspo applies (core_algos.py:1603-1607), not the paper's per-sequence mean.
set -x

DATA_DIR=/data/gsm8k
GROUP=8
ROLLOUT_PROMPTS=256
UPDATE_PROMPTS=64                  # 256 // 64 = 4 optimizer steps per rollout batch
clip_ratio_low=3e-4
clip_ratio_high=4e-4
loss_agg_mode=token-mean

python3 -m verl.trainer.main_ppo \
    algorithm.adv_estimator=grpo \
    algorithm.use_kl_in_reward=False \
    data.train_files=${DATA_DIR}/train.parquet \
    data.val_files=${DATA_DIR}/test.parquet \
    data.train_batch_size=${ROLLOUT_PROMPTS} \
    data.max_prompt_length=512 \
    data.max_response_length=2048 \
    actor_rollout_ref.model.path=Qwen/Qwen2.5-7B-Instruct \
    actor_rollout_ref.actor.optim.lr=1e-6 \
    actor_rollout_ref.actor.ppo_mini_batch_size=${UPDATE_PROMPTS} \
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8 \
    actor_rollout_ref.actor.policy_loss.loss_mode=gspo \
    actor_rollout_ref.actor.clip_ratio_low=${clip_ratio_low} \
    actor_rollout_ref.actor.clip_ratio_high=${clip_ratio_high} \
    actor_rollout_ref.actor.loss_agg_mode=${loss_agg_mode} \
    actor_rollout_ref.actor.use_kl_loss=False \
    actor_rollout_ref.actor.entropy_coeff=0 \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.n=${GROUP} \
    actor_rollout_ref.rollout.gpu_memory_utilization=0.6 \
    trainer.logger='["console"]' \
    trainer.project_name='rlxform_examples' \
    trainer.experiment_name='qwen2.5_7b_gspo_gsm8k' \
    trainer.n_gpus_per_node=8 \
    trainer.nnodes=1 \
    trainer.total_epochs=10
