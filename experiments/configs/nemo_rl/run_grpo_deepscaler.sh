#!/bin/bash
# NeMo-RL v0.7.0: the DeepScaler recipe with 16 answers per prompt, a k3 KL and sampling at T = 0.8,
# launched as the README launches GRPO (uv run python examples/run_grpo.py --config ... overrides).
CONFIG=experiments/configs/nemo_rl/grpo_deepscaler_1.5b.yaml
NUM_GENERATIONS=16

uv run python examples/run_grpo.py \
    --config $CONFIG \
    cluster.gpus_per_node=8 \
    cluster.num_nodes=1 \
    grpo.num_generations_per_prompt=${NUM_GENERATIONS} \
    policy.train_global_batch_size=512 \
    loss_fn.reference_policy_kl_penalty=1e-3 \
    policy.generation.temperature=0.8 \
    logger.wandb_enabled=True \
    logger.wandb.name=grpo-deepscaler-m16
