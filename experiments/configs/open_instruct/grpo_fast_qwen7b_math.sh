#!/bin/bash
# Open-Instruct v0.3.0 grpo_fast on math with the binary verifier (scores 10 / 0), through Beaker's
# mason.py, written after scripts/train/qwen/grpo_fast_7b.sh (flags as v0.3.0's dataclasses name them).
MODEL=Qwen/Qwen2.5-7B
GROUP=16

python mason.py \
    --cluster ai2/jupiter \
    --workspace ai2/tulu-3-dev \
    --priority high \
    --image nathanl/open_instruct_auto --pure_docker_mode \
    --preemptible \
    --num_nodes 2 \
    --budget ai2/oe-other \
    --gpus 8 -- source configs/beaker_configs/ray_node_setup.sh \&\& python open_instruct/grpo_fast.py \
    --exp_name qwen2.5_7b_grpo_fast_math \
    --beta 0.0 \
    --num_unique_prompts_rollout 48 \
    --num_samples_per_prompt_rollout $GROUP \
    --kl_estimator 2 \
    --learning_rate 5e-7 \
    --dataset_mixer_list ai2-adapt-dev/math_ground_truth_zs 1.0 \
    --dataset_mixer_list_splits train \
    --max_prompt_token_length 2048 \
    --response_length 4096 \
    --pack_length 6144 \
    --model_name_or_path $MODEL \
    --apply_verifiable_reward True \
    --verification_reward 10.0 \
    --temperature 1.0 \
    --total_episodes 5000000 \
    --deepspeed_stage 3 \
    --per_device_train_batch_size 1 \
    --num_mini_batches 1 \
    --num_epochs 1 \
    --num_learners_per_node 4 \
    --vllm_num_engines 12 \
    --lr_scheduler_type linear \
    --seed 1 \
    --gradient_checkpointing \
    --with_tracking
