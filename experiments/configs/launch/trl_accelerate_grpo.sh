#!/usr/bin/env bash
# GRPO with TRL: a training script run by `accelerate launch`, its own flags after the script.
# Conventions of TRL's docs and open-r1's README: `accelerate launch --config_file
# <accelerate config> [--num_processes N] script.py --flag value ...` (TrlParser flags are the
# GRPOConfig field names; a bare --bf16 means true).
# Written for rlxform's tests; the objective settings are those of ../trl_grpo.json.
set -e

ACCELERATE_CONFIG=examples/accelerate_configs/deepspeed_zero2.yaml
MODEL=Qwen/Qwen2.5-1.5B-Instruct
OUT_DIR=runs/qwen2.5-1.5b-grpo

export WANDB_PROJECT=rlxform-examples
mkdir -p "${OUT_DIR}"

ACCELERATE_LOG_LEVEL=info accelerate launch \
    --config_file "${ACCELERATE_CONFIG}" \
    --num_processes 4 \
    train_grpo.py \
    --model_name_or_path "${MODEL}" \
    --dataset_name trl-lib/DeepMath-103K \
    --output_dir "${OUT_DIR}" \
    --learning_rate 1e-6 \
    --per_device_train_batch_size 8 \
    --gradient_accumulation_steps 2 \
    --steps_per_generation 4 \
    --num_generations 8 \
    --max_completion_length 512 \
    --loss_type dapo \
    --scale_rewards group \
    --beta 0.0 \
    --epsilon 0.2 \
    --num_iterations 1 \
    --use_vllm \
    --vllm_mode colocate \
    --bf16 \
    --gradient_checkpointing \
    --report_to none \
    2>&1 | tee "${OUT_DIR}/train.log"
