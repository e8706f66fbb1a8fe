#!/bin/bash
# GSPO (actor.policy_loss_type gspo) with group_norm advantages on OpenRLHF 0.11.2.
# Conventions of OpenRLHF's examples/scripts: flags grouped in bash arrays and the dotted flag
# names of 0.10.2+ (train_ppo_ray.py of 0.11.2: --actor.policy_loss_type, --actor.eps_clip_low_high
# taking two values), launched with ray job submit.
# Written for rlxform's tests: the GSPO paper's clip (3e-4, 4e-4), 4 optimizer steps per rollout
# batch (128 prompts x 8 samples over train.batch_size 256), no KL.

ARGS=(
   --actor.model_name_or_path Qwen/Qwen2.5-7B-Instruct
   --reward.remote_url examples/python/reward_func.py   # a rule-based reward script
   --data.prompt_dataset OpenRLHF/prompt-collection-v0.1
   --data.input_key context_messages
   --data.apply_chat_template
   --rollout.batch_size 128
   --rollout.n_samples_per_prompt 8
   --rollout.max_new_tokens 2048
   --train.batch_size 256
   --train.micro_batch_size 8
   --train.max_epochs 1
   --algo.advantage.estimator group_norm
   --algo.kl.init_coef 0
   --actor.policy_loss_type gspo
   --actor.eps_clip_low_high 3e-4 4e-4
   --actor.adam.lr 1e-6
   --ds.zero_stage 3 --ds.param_dtype bf16
)

ray job submit --address="http://127.0.0.1:8265" \
   -- python3 -m openrlhf.cli.train_ppo_ray "${ARGS[@]}"
