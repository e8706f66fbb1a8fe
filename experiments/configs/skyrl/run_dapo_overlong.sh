set -x

# SkyRL 0.3.0: DAPO-style GRPO through the DAPO example entrypoint, whose config class adds the
# soft overlong punishment keys (trainer.algorithm.overlong_buffer_*) to the base config.
# Written for rlxform's tests in SkyRL's launcher conventions (Hydra-style overrides).

: "${DATA_DIR:="$HOME/data/dapo"}"
GPUS=8
BUFFER=$((1024 * 2))

uv run --isolated --extra fsdp -m examples.train.algorithms.dapo.main_dapo \
  data.train_data="['$DATA_DIR/train.parquet']" \
  data.val_data="['$DATA_DIR/test.parquet']" \
  trainer.algorithm.advantage_estimator="grpo" \
  trainer.algorithm.overlong_buffer_len=$BUFFER \
  trainer.algorithm.overlong_buffer_penalty_factor=0.5 \
  trainer.algorithm.eps_clip_low=0.2 \
  trainer.algorithm.eps_clip_high=0.28 \
  trainer.algorithm.use_kl_loss=false \
  trainer.policy.model.path="Qwen/Qwen2.5-Math-7B" \
  trainer.placement.colocate_all=true \
  trainer.strategy=fsdp \
  trainer.placement.policy_num_gpus_per_node=$GPUS \
  generator.inference_engine.num_engines=$GPUS \
  trainer.update_epochs_per_batch=1 \
  trainer.train_batch_size=128 \
  trainer.policy_mini_batch_size=32 \
  generator.sampling_params.max_generate_length=8192 \
  generator.n_samples_per_prompt=8 \
  environment.env_class=gsm8k \
  trainer.logger=wandb
