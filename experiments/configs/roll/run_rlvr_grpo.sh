#!/bin/bash
# ROLL's launcher convention (examples/qwen2.5-7B-rlvr_megatron/run_rlvr_pipeline.sh): Hydra
# composes <config_path>/<config_name>.yaml. Here the config is roll/rlvr_grpo.yaml beside
# this script. Written for rlxform's tests (not run).
set +x

python examples/start_rlvr_pipeline.py --config_path roll --config_name rlvr_grpo
