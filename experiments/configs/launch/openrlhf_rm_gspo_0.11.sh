#!/usr/bin/env bash
# RLOO with a learned reward model and GSPO, OpenRLHF 0.11 dotted flags (openrlhf/cli/train_ppo_ray.py
# of 0.11.2: --reward.model_name_or_path, --reward.normalize_enable, --actor.policy_loss_type,
# --algo.advantage.is_correction_level).
# Written for rlxform's tests: a non-binary reward (a reward model, normalised) mixed with
# knobs that change the update and that rlxform does not model (GSPO's sequence-level ratio,
# the vLLM importance-sampling correction).
set -euo pipefail

GROUP=4
PROMPTS=64

python3 -m openrlhf.cli.train_ppo_ray \
   --actor.model_name_or_path meta-llama/Llama-3.1-8B-Instruct \
   --reward.model_name_or_path OpenRLHF/Llama-3-8b-rm-mixture \
   --reward.normalize_enable \
   --data.prompt_dataset OpenRLHF/prompt-collection-v0.1 \
   --data.input_key context_messages --data.apply_chat_template \
   --rollout.batch_size ${PROMPTS} \
   --rollout.n_samples_per_prompt ${GROUP} \
   --train.batch_size 128 \
   --train.micro_batch_size 4 \
   --train.max_epochs 1 \
   --algo.advantage.estimator rloo \
   --algo.kl.init_coef 0 \
   --actor.policy_loss_type gspo \
   --algo.advantage.is_correction_level token \
   --actor.adam.lr 5e-7
