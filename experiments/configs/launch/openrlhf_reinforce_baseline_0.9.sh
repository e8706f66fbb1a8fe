#!/bin/bash
# REINFORCE++-baseline with the flat flag names OpenRLHF used up to 0.10.1
# (--advantage_estimator, --n_samples_per_prompt, --init_kl_coef, --micro_train_batch_size),
# submitted to Ray. Conventions of OpenRLHF's examples/scripts/train_ppo_llama_ray.sh at the
# 0.9 releases: one flag per continued line, --runtime-env-json in single quotes.
# Written for rlxform's tests; the objective settings are those of ../openrlhf_reinforce_pp.json.
set -x

ray job submit --address="http://127.0.0.1:8265" \
   --runtime-env-json='{"working_dir": "/openrlhf"}' \
   -- python3 -m openrlhf.cli.train_ppo_ray \
   --ref_num_nodes 1 \
   --ref_num_gpus_per_node 8 \
   --actor_num_nodes 1 \
   --actor_num_gpus_per_node 8 \
   --vllm_num_engines 4 \
   --vllm_tensor_parallel_size 2 \
   --colocate_all_models \
   --pretrain Qwen/Qwen3-4B-Thinking-2507 \
   --remote_rm_url /openrlhf/examples/python/reward_func.py \
   --save_path /openrlhf/checkpoint/qwen3-4b-reinforce-baseline \
   --micro_train_batch_size 1 \
   --train_batch_size 1024 \
   --micro_rollout_batch_size 8 \
   --rollout_batch_size 128 \
   --n_samples_per_prompt 8 \
   --max_epochs 1 \
   --prompt_max_len 2048 \
   --generate_max_len 14336 \
   --zero_stage 3 \
   --bf16 \
   --actor_learning_rate 5e-7 \
   --advantage_estimator reinforce_baseline \
   --init_kl_coef 1e-5 \
   --use_kl_loss \
   --kl_estimator k2 \
   --prompt_data zhuzilin/dapo-math-17k \
   --input_key prompt \
   --label_key label \
   --apply_chat_template \
   --packing_samples \
   --gradient_checkpointing
