#!/usr/bin/env bash
# Dr. GRPO with TRL's own command line (`trl grpo`), serving generations from a separate vLLM
# server first. Conventions of TRL's CLI docs (docs/source/clis.md: `trl grpo --flag value`)
# and of its vLLM server mode (`trl vllm-serve --model ...` started in the background; it is
# not a training launch).
# Written for rlxform's tests; the objective settings are those of ../trl_dr_grpo.json.

MODEL=Qwen/Qwen2.5-Math-1.5B

CUDA_VISIBLE_DEVICES=7 trl vllm-serve --model "$MODEL" &
sleep 60

CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6 trl grpo \
  --model_name_or_path "$MODEL" \
  --dataset_name trl-lib/DeepMath-103K \
  --reward_funcs accuracy_reward \
  --output_dir runs/qwen2.5-math-1.5b-dr-grpo \
  --learning_rate 1e-6 \
  --per_device_train_batch_size 16 \
  --gradient_accumulation_steps 8 \
  --num_generations 16 \
  --max_completion_length 3000 \
  --loss_type dr_grpo \
  --scale_rewards none \
  --beta 0.0 \
  --use_vllm --vllm_mode server \
  --bf16 \
  --logging_steps 5
