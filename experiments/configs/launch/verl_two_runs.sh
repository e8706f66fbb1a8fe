#!/usr/bin/env bash
# Two launch commands in one file: data preparation, then an RLOO run with verl.
# Conventions of verl's quickstart (docs/start/quickstart.rst: run
# examples/data_preprocess/gsm8k.py, then python3 -m verl.trainer.main_ppo) and of
# examples/rloo_trainer/run_qwen2-7b.sh (algorithm.adv_estimator=rloo).
# Setup lines (pip, export, mkdir, wandb login) are not launch commands.
# Written for rlxform's tests: `rlxform explain` reads the training run (command 2) and says so;
# `--command 1` would pick the preprocessing script.
set -euo pipefail

pip install -U "verl[vllm]"
export WANDB_MODE=offline
wandb login --relogin "anonymous"
mkdir -p ~/data/gsm8k

python3 examples/data_preprocess/gsm8k.py --local_save_dir ~/data/gsm8k

python3 -m verl.trainer.main_ppo \
    algorithm.adv_estimator=rloo \
    data.train_files=~/data/gsm8k/train.parquet \
    data.val_files=~/data/gsm8k/test.parquet \
    data.train_batch_size=256 \
    actor_rollout_ref.model.path=Qwen/Qwen2.5-3B-Instruct \
    actor_rollout_ref.actor.ppo_mini_batch_size=64 \
    actor_rollout_ref.actor.use_kl_loss=False \
    actor_rollout_ref.rollout.n=4 \
    algorithm.use_kl_in_reward=True \
    algorithm.kl_penalty=kl \
    algorithm.kl_ctrl.kl_coef=0.001 \
    trainer.logger=console \
    trainer.total_epochs=2
