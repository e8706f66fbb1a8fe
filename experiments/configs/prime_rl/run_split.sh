#!/usr/bin/env bash
# prime-rl v0.8.0 run with the three parts launched on their own (as on Kubernetes,
# examples/basic/reverse-text/README.md:185-189): inference, orchestrator, trainer.
# The orchestrator's config (and flags) decide the advantage, the group and the batch.
set -euo pipefail

OUT=/data/outputs

uv run inference --model.name Qwen/Qwen3-1.7B &
uv run orchestrator @ experiments/configs/prime_rl/orch_length_penalty.toml \
  --output-dir ${OUT} --group-size 8
uv run trainer @ experiments/configs/prime_rl/train.toml --output-dir ${OUT}
