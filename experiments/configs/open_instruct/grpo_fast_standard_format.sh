#!/bin/bash
# Open-Instruct v0.3.0 grpo_fast, single node: standard (std-normalised) advantages, active sampling
# (zero-std groups dropped and refilled), an additive R1 format reward (rewards no longer two-valued),
# k1 x ratio KL, two mini-batches and two epochs, a constant loss denominator, no rho correction.
python open_instruct/grpo_fast.py \
    --exp_name qwen2.5_3b_grpo_standard_format \
    --model_name_or_path Qwen/Qwen2.5-3B \
    --dataset_mixer_list ai2-adapt-dev/rlvr_gsm8k_zs 1.0 \
    --advantage_normalization_type standard \
    --verification_reward 1.0 \
    --apply_r1_style_format_reward True \
    --additive_format_reward True \
    --r1_style_format_reward 0.5 \
    --filter_zero_std_samples True \
    --active_sampling True \
    --async_steps 4 \
    --num_unique_prompts_rollout 32 \
    --num_samples_per_prompt_rollout 8 \
    --beta 0.01 \
    --kl_estimator 3 \
    --num_mini_batches 2 \
    --num_epochs 2 \
    --loss_denominator 4096 \
    --mask_truncated_completions True \
    --no_use_rho_correction \
    --response_length 2048 \
    --pack_length 4096 \
    --single_gpu_mode \
    --vllm_gpu_memory_utilization 0.5
