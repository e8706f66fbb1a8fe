#!/usr/bin/env bash
# A verl launcher that depends on its environment and arguments: the model comes from
# $MODEL_PATH (never set in the file), the group size is the script's first argument, the run
# name holds a date from $(date ...), and extra overrides pass through "$@".
# Conventions of verl's example scripts that end with `$@` (examples/grpo_trainer/run_qwen2-7b.sh).
# Written for rlxform's tests: rlxform names these in `unresolved` instead of guessing them.
set -x

n_resp=$1
stamp=$(date +%Y%m%d)
lr=${LR:-1e-6}

python3 -m verl.trainer.main_ppo \
    algorithm.adv_estimator=grpo \
    data.train_batch_size=512 \
    actor_rollout_ref.model.path=$MODEL_PATH \
    actor_rollout_ref.actor.optim.lr=$lr \
    actor_rollout_ref.actor.ppo_mini_batch_size=128 \
    actor_rollout_ref.rollout.n=$n_resp \
    trainer.experiment_name="grpo_${stamp}" \
    trainer.total_epochs=1 "$@"
