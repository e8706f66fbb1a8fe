#!/usr/bin/env bash
# TRL 1.16.0 RLOO from the command line (the trl CLI's rloo command runs trl/scripts/rloo.py
# under accelerate: trl/cli/commands/__init__.py:30). No KL (beta 0, no reference model), the
# advantages whitened over each generation batch, two passes over every generation batch.
set -e

MODEL=Qwen/Qwen2.5-1.5B-Instruct
M=16

trl rloo \
  --model_name_or_path ${MODEL} \
  --dataset_name trl-lib/DeepMath-103K \
  --reward_funcs accuracy_reward \
  --num_generations ${M} \
  --per_device_train_batch_size 32 \
  --gradient_accumulation_steps 2 \
  --num_iterations 2 \
  --beta 0.0 \
  --normalize_advantages true \
  --epsilon_high 0.28 \
  --max_completion_length 2048 \
  --learning_rate 1e-6 \
  --output_dir outputs/rloo-deepmath
