#!/bin/bash
# Dr. GRPO-style run on slime v0.3.1: no std division (--disable-grpo-std-normalization),
# per-token loss over the step (--calculate-per-token-loss), DAPO dynamic sampling through
# slime's own filter with over-sampling, 2 optimizer steps per rollout. Written for rlxform's
# tests (not run); conventions of slime's scripts/run-qwen3-4B.sh and its dynamic sampling docs.

ARGS=(
   --hf-checkpoint /root/Qwen3-4B
   --prompt-data /root/dapo-math-17k/dapo-math-17k.jsonl
   --rm-type math
   --rollout-batch-size 64
   --over-sampling-batch-size 96
   --dynamic-sampling-filter-path slime.rollout.filter_hub.dynamic_sampling_filters.check_reward_nonzero_std
   --n-samples-per-prompt 16
   --num-steps-per-rollout 2
   --rollout-max-response-len 4096
   --advantage-estimator grpo
   --disable-grpo-std-normalization
   --calculate-per-token-loss
   --eps-clip 0.2
   --eps-clip-high 0.28
   --rollout-top-p 0.95
)

python3 train.py "${ARGS[@]}"
