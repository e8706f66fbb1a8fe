#!/bin/bash
# AReaL v1.0.4 launch, as its README.md:139 writes it (python3 SCRIPT --config FILE key=value ...,
# scheduler.type=local): the GRPO YAML beside this script with Dr. GRPO's overrides (no std in
# the reward norm, no batch whitening), a KL coefficient without a ref model, and asynchronous
# rollouts. Written for rlxform's tests (not run).
python3 examples/math/gsm8k_rl.py \
    --config experiments/configs/areal/gsm8k_grpo.yaml \
    scheduler.type=local \
    actor.reward_norm.std_level=null \
    actor.adv_norm=null \
    actor.kl_ctl=0.05 \
    rollout.max_head_offpolicyness=2 \
    gconfig.n_samples=4
