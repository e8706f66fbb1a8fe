#!/usr/bin/env bash
# KL-Cov (entropy recipe) on verl: GRPO advantages, the kl_cov policy loss, dynamic sampling by
# accuracy, the DAPO reward manager with its overlong buffer switched off.
# Conventions of verl's recipe launchers (recipe/entropy/*.sh): shell variables first, then
# `python -m recipe.entropy.main_entropy` with Hydra overrides. Written for rlxform's tests.
set -xeuo pipefail

n_resp=8
train_prompts=256
mini_prompts=32
gen_prompts=$((train_prompts * 3))

loss_mode=kl_cov
kl_cov_ratio=0.002
ppo_kl_coef=1

enable_overlong=False
overlong_len=$((1024 * 2))
overlong_factor=1.0

MODEL=${MODEL:-Qwen/Qwen2.5-7B}

python -m recipe.entropy.main_entropy \
    data.train_batch_size=${train_prompts} \
    data.gen_batch_size=${gen_prompts} \
    data.max_prompt_length=2048 \
    data.max_response_length=$((1024 * 8)) \
    actor_rollout_ref.model.path="${MODEL}" \
    actor_rollout_ref.rollout.n=${n_resp} \
    actor_rollout_ref.actor.ppo_mini_batch_size=${mini_prompts} \
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8 \
    actor_rollout_ref.actor.use_dynamic_bsz=True \
    actor_rollout_ref.actor.ppo_max_token_len_per_gpu=30720 \
    actor_rollout_ref.actor.clip_ratio_low=0.2 \
    actor_rollout_ref.actor.clip_ratio_high=0.2 \
    actor_rollout_ref.actor.policy_loss.loss_mode=${loss_mode} \
    actor_rollout_ref.actor.policy_loss.kl_cov_ratio=${kl_cov_ratio} \
    actor_rollout_ref.actor.policy_loss.ppo_kl_coef=${ppo_kl_coef} \
    actor_rollout_ref.actor.loss_agg_mode=token-mean \
    actor_rollout_ref.actor.entropy_coeff=0 \
    actor_rollout_ref.actor.use_kl_loss=False \
    actor_rollout_ref.actor.optim.lr=1e-6 \
    algorithm.adv_estimator=grpo \
    algorithm.use_kl_in_reward=False \
    algorithm.filter_groups.enable=True \
    algorithm.filter_groups.metric=acc \
    algorithm.filter_groups.max_num_gen_batches=10 \
    reward_model.reward_manager=dapo \
    reward_model.overlong_buffer.enable=${enable_overlong} \
    reward_model.overlong_buffer.len=${overlong_len} \
    reward_model.overlong_buffer.penalty_factor=${overlong_factor} \
    trainer.n_gpus_per_node=8 \
    trainer.nnodes=4 \
    trainer.total_epochs=1000
