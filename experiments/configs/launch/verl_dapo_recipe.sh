#!/usr/bin/env bash
# DAPO (clip-higher, dynamic sampling, overlong shaping) through verl's recipe entry point,
# submitted to a Ray cluster. Conventions of verl's recipe/dapo/run_dapo_qwen2.5_32b.sh and
# test_dapo_7b_math.sh (volcengine/verl): settings as shell variables, lengths as $((1024 * k)),
# `ray job submit ... -- python3 -m recipe.dapo.main_dapo`, the overlong penalty as
# `+reward_model.reward_kwargs.overlong_buffer_cfg.*` overrides.
# Written for rlxform's tests; the objective settings are those of ../verl_dapo.yaml.
set -euo pipefail

# --- algorithm -------------------------------------------------------------------------------
group_size=16                 # responses per prompt
prompts_per_step=512          # kept for training after filtering
prompts_per_gen=$((prompts_per_step * 3))
prompts_per_update=32
clip_low=0.2
clip_high=0.28                # clip-higher
max_prompt_len=$((1024 * 2))
max_resp_len=$((1024 * 20))
overlong_buffer=$((1024 * 4)) # soft penalty over the last 4096 tokens
overlong_factor=1.0

# --- cluster and paths (override from the environment) ----------------------------------------
RUNTIME_ENV=${RUNTIME_ENV:-"verl/trainer/runtime_env.yaml"}
NNODES=${NNODES:-8}
DATA_HOME=${DATA_HOME:-"${HOME}/dapo"}
MODEL_PATH=${MODEL_PATH:-"Qwen/Qwen2.5-32B"}
token_budget=$((max_prompt_len + max_resp_len))

ray job submit --no-wait --runtime-env="${RUNTIME_ENV}" --working-dir . \
  -- python3 -m recipe.dapo.main_dapo \
  algorithm.adv_estimator=grpo \
  algorithm.use_kl_in_reward=False \
  algorithm.kl_ctrl.kl_coef=0.0 \
  algorithm.filter_groups.enable=True \
  algorithm.filter_groups.metric=acc \
  algorithm.filter_groups.max_num_gen_batches=10 \
  data.train_files="${DATA_HOME}/dapo-math-17k.parquet" \
  data.val_files="${DATA_HOME}/aime-2024.parquet" \
  data.prompt_key=prompt \
  data.truncation=left \
  data.max_prompt_length=${max_prompt_len} \
  data.max_response_length=${max_resp_len} \
  data.gen_batch_size=${prompts_per_gen} \
  data.train_batch_size=${prompts_per_step} \
  actor_rollout_ref.model.path="${MODEL_PATH}" \
  actor_rollout_ref.rollout.n=${group_size} \
  actor_rollout_ref.rollout.temperature=1.0 \
  actor_rollout_ref.rollout.max_num_batched_tokens=${token_budget} \
  actor_rollout_ref.actor.ppo_mini_batch_size=${prompts_per_update} \
  actor_rollout_ref.actor.use_dynamic_bsz=True \
  actor_rollout_ref.actor.ppo_max_token_len_per_gpu=${token_budget} \
  actor_rollout_ref.actor.clip_ratio_low=${clip_low} \
  actor_rollout_ref.actor.clip_ratio_high=${clip_high} \
  actor_rollout_ref.actor.clip_ratio_c=10.0 \
  actor_rollout_ref.actor.loss_agg_mode="token-mean" \
  actor_rollout_ref.actor.use_kl_loss=False \
  actor_rollout_ref.actor.kl_loss_coef=0.0 \
  actor_rollout_ref.actor.entropy_coeff=0 \
  actor_rollout_ref.actor.optim.lr=1e-6 \
  actor_rollout_ref.actor.optim.weight_decay=0.1 \
  +actor_rollout_ref.model.override_config.attention_dropout=0. \
  reward_model.reward_manager=dapo \
  +reward_model.reward_kwargs.overlong_buffer_cfg.enable=True \
  +reward_model.reward_kwargs.overlong_buffer_cfg.len=${overlong_buffer} \
  +reward_model.reward_kwargs.overlong_buffer_cfg.penalty_factor=${overlong_factor} \
  +reward_model.reward_kwargs.overlong_buffer_cfg.log=False \
  +reward_model.reward_kwargs.max_resp_len=${max_resp_len} \
  trainer.logger=['console','wandb'] \
  trainer.project_name=DAPO \
  trainer.nnodes="${NNODES}" \
  trainer.n_gpus_per_node=8 \
  trainer.val_before_train=True \
  trainer.total_epochs=1
