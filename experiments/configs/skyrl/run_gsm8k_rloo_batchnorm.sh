set -x

# SkyRL 0.3.0: RLOO with advantages z-scored over the batch, the Dr. GRPO-style constant normaliser,
# the zero-variance filter, clip-higher, no KL; 8 answers per prompt, two epochs over 4 mini-batches.

: "${DATA_DIR:="$HOME/data/gsm8k"}"
MAX_LEN=2048

uv run --isolated --extra fsdp -m skyrl.train.entrypoints.main_base \
  data.train_data="['$DATA_DIR/train.parquet']" \
  data.val_data="['$DATA_DIR/validation.parquet']" \
  trainer.algorithm.advantage_estimator=rloo \
  trainer.algorithm.advantage_batch_normalize=true \
  trainer.algorithm.loss_reduction=seq_mean_token_sum_norm \
  trainer.algorithm.max_seq_len=$MAX_LEN \
  trainer.algorithm.zero_variance_filter=true \
  trainer.algorithm.use_kl_loss=false \
  trainer.algorithm.eps_clip_high=0.28 \
  trainer.policy.model.path="Qwen/Qwen2.5-1.5B-Instruct" \
  trainer.train_batch_size=256 \
  trainer.policy_mini_batch_size=64 \
  trainer.update_epochs_per_batch=2 \
  generator.n_samples_per_prompt=8 \
  generator.sampling_params.max_generate_length=$MAX_LEN \
  environment.env_class=gsm8k \
  trainer.logger=console
