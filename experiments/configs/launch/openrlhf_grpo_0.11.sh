#!/bin/bash
# GRPO-style training (group_norm advantages) with dynamic filtering on OpenRLHF 0.11.
# Conventions of OpenRLHF's examples/scripts: flags grouped in bash arrays
# (train_reinforce_baseline_hybrid_engine.sh) and the dotted flag names of 0.10.2+
# (train_dapo_ray_hybrid_engine.sh: --algo.advantage.estimator, --algo.dynamic_filtering_range
# taking two values, bare switches such as --algo.kl.use_loss), submitted with ray job submit.
# Written for rlxform's tests.

SCRIPT_DIR="$(dirname "$0")"
SAVE_DIR="${SCRIPT_DIR}/ckpt/qwen2.5-7b-grpo"

MODEL_ARGS=(
   --actor.model_name_or_path Qwen/Qwen2.5-7B-Instruct
   --reward.remote_url examples/python/reward_func.py   # rule-based 0/1 reward
   --ckpt.output_dir "${SAVE_DIR}"
   --ckpt.save_steps 20
)

ROLLOUT_ARGS=(
   --data.prompt_dataset OpenRLHF/prompt-collection-v0.1
   --data.input_key context_messages
   --data.apply_chat_template
   --rollout.batch_size 128
   --rollout.n_samples_per_prompt 8
   --rollout.micro_batch_size 16
   # --rollout.temperature 0.8
   --algo.dynamic_filtering_enable
   --algo.dynamic_filtering_range 0 1
)

TRAIN_ARGS=(
   --train.batch_size 128
   --train.micro_batch_size 8
   --train.max_epochs 1
   --algo.advantage.estimator group_norm
   --algo.kl.use_loss
   --algo.kl.estimator k3
   --algo.kl.init_coef 1e-3
   --actor.eps_clip_low_high 0.2 0.28
   --actor.adam.lr 5e-7
)

ENGINE_ARGS=(
   --actor.num_nodes 1 --actor.num_gpus_per_node 8
   --ref.num_nodes 1 --ref.num_gpus_per_node 8
   --vllm.num_engines 4 --vllm.tensor_parallel_size 2
   --vllm.gpu_memory_utilization 0.6
   --train.colocate_all
   --ds.zero_stage 3 --ds.param_dtype bf16 --ds.packing_samples
)

set -x
ray job submit --address="http://127.0.0.1:8265" \
   -- python3 -m openrlhf.cli.train_ppo_ray \
   "${MODEL_ARGS[@]}" \
   "${ROLLOUT_ARGS[@]}" \
   "${TRAIN_ARGS[@]}" \
   "${ENGINE_ARGS[@]}"
