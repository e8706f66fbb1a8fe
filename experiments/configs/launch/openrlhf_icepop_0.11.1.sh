#!/bin/bash
# group_norm advantages with ICEPOP (token-level filtering of the vLLM / trainer probability
# ratio) on OpenRLHF 0.11.1, whose flags were --algo.advantage.is_correction_enable and
# --algo.advantage.is_correction_type (0.11.2 renamed them to is_correction_level / _mode).
# Conventions of OpenRLHF's examples/scripts (train_prorlv2_math_hybrid_engine.sh): WORK_DIR
# found with $(cd ... && pwd), a reward function file under it, flags in bash arrays, float
# flags written as floats (--algo.advantage.gamma 1.0, --algo.dynamic_filtering_range 0.0 1.0,
# both type=float with integer defaults in openrlhf/cli/train_ppo_ray.py). Written for
# rlxform's tests.

SCRIPT_DIR="$(dirname "$0")"
WORK_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
REWARD_FUNC="${WORK_DIR}/examples/python/math_reward_func.py"

set -x

ROLLOUT_ARGS=(
   --actor.model_name_or_path Qwen/Qwen2.5-Math-7B
   --reward.remote_url ${REWARD_FUNC}
   --data.prompt_dataset zhuzilin/dapo-math-17k
   --data.input_key prompt
   --data.label_key label
   --data.apply_chat_template
   --rollout.batch_size 64
   --rollout.n_samples_per_prompt 16
   --rollout.max_new_tokens 8192
   --algo.dynamic_filtering_enable
   --algo.dynamic_filtering_range 0.0 1.0
)

TRAIN_ARGS=(
   --train.batch_size 256
   --train.micro_batch_size 4
   --train.max_epochs 1
   --algo.advantage.estimator group_norm
   --algo.advantage.gamma 1.0
   --algo.kl.use_loss
   --algo.kl.estimator k2
   --algo.kl.init_coef 1e-4
   --actor.eps_clip_low_high 0.2 0.28
   --actor.adam.lr 1e-6
   --algo.advantage.is_correction_enable
   --algo.advantage.is_correction_type icepop
)

ray job submit --address="http://127.0.0.1:8265" \
   -- python3 -m openrlhf.cli.train_ppo_ray \
   ${ROLLOUT_ARGS[@]} \
   ${TRAIN_ARGS[@]} \
   --ckpt.output_dir ${WORK_DIR}/exp/qwen2.5-math-icepop \
   --actor.num_nodes 1 --actor.num_gpus_per_node 8 \
   --vllm.num_engines 4 --vllm.tensor_parallel_size 2 \
   --train.colocate_all --ds.zero_stage 3 --ds.param_dtype bf16
