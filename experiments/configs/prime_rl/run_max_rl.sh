#!/usr/bin/env bash
# prime-rl v0.8.0: MaxRL on the math run of rl.toml, 16 answers per problem, synchronous
# (no stale rollouts), zero-advantage groups dropped before they take a batch slot (the batch
# is refilled: dynamic sampling). After configs/debug/algo/README.md:
#   uv run rl @ configs/debug/algo/max_rl.toml --output-dir outputs/max_rl
set -euo pipefail

CONFIG=experiments/configs/prime_rl/rl.toml
GROUP_SIZE=16
OUT=outputs/max_rl

uv run rl @ ${CONFIG} \
  --orchestrator.algo.type max_rl \
  --orchestrator.group-size ${GROUP_SIZE} \
  --orchestrator.batch-size 256 \
  --orchestrator.max-off-policy-steps 0 \
  --orchestrator.pre-batch-filters '[{"type": "zero_advantage", "enforce": true}]' \
  --wandb.name prime-rl-max-rl \
  --output-dir ${OUT}
