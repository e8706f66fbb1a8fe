#!/bin/bash
# PPO with a reward model on OpenRLHF 0.6 without Ray: the arguments are read into a variable
# from a here-document and handed to `deepspeed --module`. Conventions of OpenRLHF's
# examples/scripts/train_ppo_llama.sh (v0.4 to v0.7.3): `read -r -d '' training_commands <<EOF`,
# flat flag names, `deepspeed --module $training_commands` unless the first argument is "slurm".
# Written for rlxform's tests: the reward comes from a reward model with --normalize_reward, so
# rewards are not binary.
set -x

MODEL=OpenRLHF/Llama-3-8b-sft-mixture
RM=OpenRLHF/Llama-3-8b-rm-mixture

read -r -d '' training_commands <<EOF
openrlhf.cli.train_ppo \
   --pretrain $MODEL \
   --reward_pretrain $RM \
   --save_path ./checkpoint/llama3-8b-ppo \
   --micro_train_batch_size 2 \
   --train_batch_size 128 \
   --micro_rollout_batch_size 4 \
   --rollout_batch_size 1024 \
   --max_epochs 1 \
   --prompt_max_len 1024 \
   --generate_max_len 1024 \
   --zero_stage 2 \
   --bf16 \
   --actor_learning_rate 5e-7 \
   --critic_learning_rate 9e-6 \
   --init_kl_coef 0.01 \
   --prompt_data OpenRLHF/prompt-collection-v0.1 \
   --input_key context_messages \
   --apply_chat_template \
   --normalize_reward \
   --gradient_checkpointing
EOF
    # --packing_samples

if [[ ${1} != "slurm" ]]; then
    deepspeed --module $training_commands
fi
