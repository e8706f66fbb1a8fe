"""Refresh the version sections of the runtime tables from the extracted release data.

    python tests/data/frameworks/build_tables.py

For each framework, rewrites ``versions`` of ``rlxform/frameworks/data/<framework>.json`` from
``tests/data/frameworks/<framework>/<version>.json``: every key's default, the interpolations
(verl), the rules, the renames below and the keys removed since the previous release. The
hand-written parts of each table (``doc``, ``classes``, ``effects``, ``neutral``, ``only_with``)
are kept as they are. Needs nothing beyond the standard library.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
TABLES = ROOT / "rlxform" / "frameworks" / "data"
PACKAGE = {"trl": "trl", "verl": "verl", "openrlhf": "openrlhf"}

# ---- renames: {version: {old: new}} where ``version`` is the first listed release with ``new``
# (or with ``old`` turned into a deprecated alias of ``new``). A list names the keys one old key
# was split into. Evidence in the comments.

# verl/experimental/reward_loop/reward_loop.py:38-87 (0.7.1): migrate_legacy_reward_impl
_VERL_REWARD = {
    "reward_model.num_workers": "reward.num_workers",
    "reward_model.reward_manager": "reward.reward_manager.name",
    "reward_model.reward_loop_source": "reward.reward_manager.source",
    "reward_model.reward_loop_module_path": "reward.reward_manager.module.path",
    "reward_model.reward_loop_class_name": "reward.reward_manager.module.name",
    "custom_reward_function.path": "reward.custom_reward_function.path",
    "custom_reward_function.name": "reward.custom_reward_function.name",
    "reward_model.enable": "reward.reward_model.enable",
    "reward_model.enable_resource_pool": "reward.reward_model.enable_resource_pool",
    "reward_model.n_gpus_per_node": "reward.reward_model.n_gpus_per_node",
    "reward_model.nnodes": "reward.reward_model.nnodes",
    "reward_model.model.path": "reward.reward_model.model_path",
    "reward_model.sandbox_fusion.url": "reward.sandbox_fusion.url",
    "reward_model.sandbox_fusion.max_concurrent": "reward.sandbox_fusion.max_concurrent",
    "reward_model.sandbox_fusion.memory_limit_mb": "reward.sandbox_fusion.memory_limit_mb",
    "sandbox_fusion.url": "reward.sandbox_fusion.url",
    "sandbox_fusion.max_concurrent": "reward.sandbox_fusion.max_concurrent",
    "sandbox_fusion.memory_limit_mb": "reward.sandbox_fusion.memory_limit_mb",
    "reward_model.rollout.*": "reward.reward_model.rollout.*",
}

# openrlhf 0.10.2: flat argparse dests became dotted. Pairs found by diffing the package code of
# 0.10.1.post2 and 0.10.2 (``args.old`` replaced by ``args.new`` at the same place), the rest by
# identical help text and default.
_OPENRLHF_DOTTED = {
    "actor_num_gpus_per_node": "actor.num_gpus_per_node",
    "actor_num_nodes": "actor.num_nodes",
    "advantage_estimator": "algo.advantage.estimator",
    "agent_func_path": "train.agent_func_path",
    "async_train": "train.async_enable",
    "async_queue_size": "train.async_queue_size",
    "attn_implementation": "ds.attn_implementation",
    "aux_loss_coef": "actor.aux_loss_coef",
    "best_metric_key": "ckpt.best_metric_key",
    "ckpt_path": "ckpt.path",
    "colocate_actor_ref": "train.colocate_actor_ref",
    "colocate_all_models": "train.colocate_all",
    "colocate_critic_reward": "train.colocate_critic_reward",
    "critic_num_gpus_per_node": "critic.num_gpus_per_node",
    "critic_num_nodes": "critic.num_nodes",
    "critic_pretrain": "critic.model_name_or_path",
    "dataloader_num_workers": "data.dataloader_num_workers",
    "deepcompile": "ds.deepcompile",
    "deepspeed_enable_sleep": "ds.enable_sleep",
    "disable_ds_ckpt": "ckpt.disable_ds",
    "disable_fast_tokenizer": "data.disable_fast_tokenizer",
    "ds_tensor_parallel_size": "ds.tensor_parallel_size",
    "dual_clip": "actor.dual_clip",
    "dynamic_filtering": "algo.dynamic_filtering_enable",
    "dynamic_filtering_reward_range": "algo.dynamic_filtering_range",
    "ema_beta": "train.ema_beta",
    "enable_ema": "train.enable_ema",
    "enable_prefix_caching": "vllm.enable_prefix_caching",
    "enable_vllm_is_correction": "algo.advantage.is_correction_enable",
    "enforce_eager": "vllm.enforce_eager",
    "entropy_loss_coef": "actor.entropy_coef",
    "eps_clip": "actor.eps_clip",
    "eps_clip_low_high": "actor.eps_clip_low_high",
    "eval_dataset": "eval.dataset",
    "eval_n_samples_per_prompt": "eval.n_samples_per_prompt",
    "eval_split": "eval.split",
    "eval_steps": "eval.steps",
    "eval_temperature": "eval.temperature",
    "freeze_visual_encoder": "actor.freeze_visual_encoder",
    "freezing_actor_steps": "critic.freezing_steps",
    "full_determinism": "train.full_determinism_enable",
    "gamma": "algo.advantage.gamma",
    "grad_accum_dtype": "ds.grad_accum_dtype",
    "gradient_checkpointing": "actor.gradient_checkpointing_enable",
    "gradient_checkpointing_use_reentrant": "actor.gradient_checkpointing_reentrant",
    "image_key": "data.image_key",
    "init_kl_coef": "algo.kl.init_coef",
    "input_key": "data.input_key",
    "input_template": "data.input_template",
    "kl_estimator": "algo.kl.estimator",
    "kl_horizon": "algo.kl.horizon",
    "kl_target": "algo.kl.target",
    "label_key": "data.label_key",
    "lambd": "algo.advantage.lambd",
    "apply_chat_template": "data.apply_chat_template",
    "load_checkpoint": "ckpt.load_enable",
    "load_in_4bit": "ds.load_in_4bit",
    "logging_steps": "logger.logging_steps",
    "lora_alpha": "ds.lora.alpha",
    "lora_dropout": "ds.lora.dropout",
    "lora_rank": "ds.lora.rank",
    "max_ckpt_mem": "ckpt.max_mem",
    "max_ckpt_num": "ckpt.max_num",
    "max_epochs": "train.max_epochs",
    "max_images_per_prompt": "data.max_images_per_prompt",
    "max_len": "data.max_len",
    "max_new_tokens": "rollout.max_new_tokens",
    "max_samples": "data.max_samples",
    "micro_rollout_batch_size": "rollout.micro_batch_size",
    "micro_train_batch_size": "train.micro_batch_size",
    "n_samples_per_prompt": "rollout.n_samples_per_prompt",
    "no_advantage_std_norm": "algo.advantage.no_std_norm",
    "normalize_reward": "reward.normalize_enable",
    "num_episodes": "train.num_episodes",
    "overlap_comm": "ds.overlap_comm",
    "overlong_buffer_len": "reward.overlong_buffer_len",
    "overlong_penalty_factor": "reward.overlong_penalty_factor",
    "packing_samples": "ds.packing_samples",
    "param_dtype": "ds.param_dtype",
    "partial_rollout": "train.partial_rollout_enable",
    "policy_loss_type": "actor.policy_loss_type",
    "pretrain": "actor.model_name_or_path",
    "prompt_data": "data.prompt_dataset",
    "prompt_data_probs": "data.prompt_probs",
    "prompt_split": "data.prompt_split",
    "ref_num_gpus_per_node": "ref.num_gpus_per_node",
    "ref_num_nodes": "ref.num_nodes",
    "ref_reward_offload": ["ref.offload", "reward.offload"],
    "remote_rm_url": "reward.remote_url",
    "reward_clip_range": "reward.clip_range",
    "reward_num_gpus_per_node": "reward.num_gpus_per_node",
    "reward_num_nodes": "reward.num_nodes",
    "reward_pretrain": "reward.model_name_or_path",
    "ring_attn_size": "ds.ring_attn_size",
    "ring_head_stride": "ds.ring_attn_head_stride",
    "rollout_batch_size": "rollout.batch_size",
    "rollout_max_tokens_per_gpu": "rollout.max_tokens_per_gpu",
    "save_hf_ckpt": "ckpt.save_hf",
    "save_path": "ckpt.output_dir",
    "save_steps": "ckpt.save_steps",
    "save_value_network": "critic.save_value_network",
    "seed": "train.seed",
    "stop_properly_penalty_coef": "reward.stop_properly_penalty_coef",
    "target_modules": "ds.lora.target_modules",
    "temperature": "rollout.temperature",
    "top_p": "rollout.top_p",
    "train_batch_size": "train.batch_size",
    "train_max_tokens_per_gpu": "train.max_tokens_per_gpu",
    "use_dynamic_batch": "train.dynamic_batch_enable",
    "use_ds_universal_ckpt": "ds.use_universal_ckpt",
    "use_kl_loss": "algo.kl.use_loss",
    "use_liger_kernel": "ds.use_liger_kernel",
    "use_tensorboard": "logger.tensorboard_dir",
    "use_wandb": "logger.wandb.key",
    "value_clip": "critic.value_clip",
    "value_head_prefix": "ds.value_head_prefix",
    "vllm_enable_sleep": "vllm.enable_sleep",
    "vllm_generate_batch_size": "rollout.vllm_generate_batch_size",
    "vllm_gpu_memory_utilization": "vllm.gpu_memory_utilization",
    "vllm_is_correction_type": "algo.advantage.is_correction_type",
    "vllm_is_truncated_threshold": "algo.advantage.is_correction_threshold",
    "vllm_num_engines": "vllm.num_engines",
    "vllm_sync_backend": "vllm.sync_backend",
    "vllm_sync_with_ray": "vllm.sync_with_ray",
    "vllm_tensor_parallel_size": "vllm.tensor_parallel_size",
    "wandb_group": "logger.wandb.group",
    "wandb_org": "logger.wandb.org",
    "wandb_project": "logger.wandb.project",
    "wandb_run_name": "logger.wandb.run_name",
    "zero_stage": "ds.zero_stage",
    "zpg": "ds.zpg",
    # optimizer flags became per model (actor., critic.); the critic one is the old critic_ flag
    "adam_offload": "ds.adam_offload",
    "actor_learning_rate": "actor.adam.lr",
    "critic_learning_rate": "critic.adam.lr",
    "adam_betas": ["actor.adam.betas", "critic.adam.betas"],
    "l2": ["actor.adam.weight_decay", "critic.adam.weight_decay"],
    "lr_scheduler": ["actor.lr_scheduler", "critic.lr_scheduler"],
    "lr_warmup_ratio": ["actor.lr_warmup_ratio", "critic.lr_warmup_ratio"],
    "max_norm": ["actor.max_norm", "critic.max_norm"],
}

_NSYS = "global_profiler.global_tool_config.nsys."
RENAMES: dict[str, dict[str, dict[str, str | list[str]]]] = {
    "trl": {
        # transformers 4.51 (trl 0.19's minimum) dropped the deprecated alias of eval_strategy
        "0.19.1": {"evaluation_strategy": "eval_strategy"},
        # deprecated aliases copied in __post_init__ (see each version's rules)
        "0.25.1": {"use_liger_loss": "use_liger_kernel"},
        "0.26.2": {"wandb_log_unique_prompts": "log_unique_prompts"},
        "0.27.2": {"vllm_guided_decoding_regex": "vllm_structured_outputs_regex"},
        "1.6.0": {"vllm_importance_sampling_cap": "vllm_importance_sampling_clip_max"},
        "1.7.1": {"use_transformers_paged": "use_transformers_continuous_batching"},
    },
    "verl": {
        "0.6.1": {
            "ray_init.num_cpus": "ray_kwargs.ray_init.num_cpus",
            "ray_init.timeline_json_file": "ray_kwargs.timeline_json_file",
            "trainer.profile_steps": "global_profiler.steps",
            "trainer.controller_nsight_options.*": _NSYS + "controller_nsight_options.*",
            "trainer.worker_nsight_options.*": _NSYS + "worker_nsight_options.*",
        },
        "0.7.1": _VERL_REWARD,
        "0.8.0": {"critic.model.fsdp_config.*": "critic.fsdp.*"},
        "0.9.1": {
            "actor_rollout_ref.rollout.skip.enable": "skip.rollout.enable",
            "actor_rollout_ref.rollout.skip.dump_dir": "skip.rollout.dump_dir",
            "actor_rollout_ref.rollout.skip.action": "skip.rollout.action",
        },
    },
    "openrlhf": {
        "0.8.11": {"flash_attn": "attn_implementation"},  # --flash_attn = flash_attention_2
        "0.9.10": {"bf16": "param_dtype", "generate_max_len": "max_new_tokens"},
        "0.10.2": _OPENRLHF_DOTTED,
        # train_ppo_ray.py:256-290 (0.11.2): TIS = token clip, ICEPOP = token mask,
        # seq-mask-tis = seq mask; the gate reads the ratio
        "0.11.2": {
            "algo.advantage.is_correction_enable": "algo.advantage.is_correction_level",
            "algo.advantage.is_correction_type": [
                "algo.advantage.is_correction_level",
                "algo.advantage.is_correction_mode",
            ],
        },
    },
}


def version_key(version: str) -> tuple[int, ...]:
    """0.10.1.post2 -> (0, 10, 1, 2): post releases sort after their release."""
    return tuple(int(p) for p in re.findall(r"\d+", version))


def expand(renames: dict, old_keys: dict, new_keys: dict) -> dict[str, str | list[str]]:
    """Expand ``a.*`` -> ``b.*`` renames against the keys of both versions."""
    out: dict[str, str | list[str]] = {}
    for old, new in renames.items():
        if isinstance(new, str) and old.endswith(".*") and new.endswith(".*"):
            for key in old_keys:
                if key.startswith(old[:-1]) and new[:-1] + key[len(old) - 1 :] in new_keys:
                    out[key] = new[:-1] + key[len(old) - 1 :]
        else:
            out[old] = new
    return out


def build(framework: str) -> dict:
    path = TABLES / f"{framework}.json"
    table = json.loads(path.read_text(encoding="utf-8"))
    files = sorted((HERE / framework).glob("*.json"), key=lambda p: version_key(p.stem))
    versions: dict[str, dict] = {}
    prev: dict | None = None
    for file in files:
        data = json.loads(file.read_text(encoding="utf-8"))
        keys = data["keys"]
        renamed = expand(RENAMES[framework].get(data["version"], {}), prev or {}, keys)
        # a legacy name new in this release (verl 0.7's reward_model.num_workers) renames nothing
        renamed = {old: new for old, new in renamed.items() if old in (prev or {})}
        for old, new in renamed.items():
            for name in [new] if isinstance(new, str) else new:
                assert name in keys, (framework, data["version"], old, name)
        gone = [k for k in (prev or {}) if k not in keys and k not in renamed]
        entry: dict = {
            "source": f"{data['source']} (tests/data/frameworks/{framework}/{file.name})",
            "defaults": {k: v["default"] for k, v in keys.items()},
            "renamed": renamed,
            "removed": gone,
        }
        interpolations = {k: v["interpolation"] for k, v in keys.items() if "interpolation" in v}
        if interpolations:
            entry["interpolations"] = interpolations
        entry["rules"] = {
            key: "; ".join(f"{r['text']} ({r['file']}:{r['line']})" for r in rules)
            for key, rules in data.get("rules", {}).items()
        }
        versions[data["version"]] = entry
        prev = keys
    table["versions"] = versions
    table["latest"] = list(versions)[-1]
    order = ["framework", "doc", "latest", "classes", "effects", "neutral", "only_with", "versions"]
    return {k: table[k] for k in order if k in table} | {
        k: v for k, v in table.items() if k not in order
    }


def dump(obj, path: tuple = ()) -> str:
    """JSON with one entry a line: the top sections, each version's sections and their keys."""
    level = len(path)
    expand = isinstance(obj, dict) and obj and (level < 2 or (path[0] == "versions" and level < 4))
    if not expand:
        return json.dumps(obj, ensure_ascii=False)
    pad = " " * (level + 1)
    inner = ",\n".join(
        f"{pad}{json.dumps(k, ensure_ascii=False)}: {dump(v, (*path, k))}" for k, v in obj.items()
    )
    return "{\n" + inner + "\n" + " " * level + "}"


def main(argv: list[str]) -> None:
    for framework in argv or list(PACKAGE):
        table = build(framework)
        text = dump(table) + "\n"
        (TABLES / f"{framework}.json").write_text(text, encoding="utf-8")
        print(f"{framework}: {len(table['versions'])} versions, {len(text)} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
