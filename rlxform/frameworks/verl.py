"""verl and TRL config rules: key names, defaults and known pitfalls (OpenRLHF:
``rlxform.core.config_openrlhf``).

Each ``read_*`` takes the config as a mapping and returns a ``RunConfig``. Defaults follow verl
0.9.1 (composed ``ppo_trainer.yaml``) and trl 1.16.0 (``GRPOConfig``). Updates per rollout:
verl train_batch_size // ppo_mini_batch_size * ppo_epochs; TRL steps_per_generation *
num_iterations / gradient_accumulation_steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlxform.core import frameworks as fw
from rlxform.core.configs import (
    VERSIONS,
    RunConfig,
    check_modelled,
    get_bool,
    get_float,
    get_int,
    get_str,
    get_table,
    misspelled,
    std_fields,
)
from rlxform.validation import InputError

# ---- verl 0.9.1 ------------------------------------------------------------------------------

VERL_ALGORITHM_KEYS = (
    "_target_ adv_estimator norm_adv_by_std_in_grpo use_kl_in_reward kl_penalty kl_ctrl "
    "filter_groups gamma lam use_pf_ppo pf_ppo rollout_correction rollout_is"
).split()
VERL_ACTOR_KEYS = (
    "_target_ strategy ppo_mini_batch_size ppo_micro_batch_size ppo_micro_batch_size_per_gpu "
    "use_dynamic_bsz ppo_max_token_len_per_gpu clip_ratio clip_ratio_low clip_ratio_high "
    "clip_ratio_c loss_agg_mode loss_scale_factor entropy_coeff use_kl_loss kl_loss_coef "
    "kl_loss_type ppo_epochs shuffle grad_clip optim fsdp_config megatron "
    "ulysses_sequence_parallel_size checkpoint use_torch_compile policy_loss "
    "entropy_from_logits_with_chunking entropy_checkpointing use_fused_kernels profiler "
    "data_loader_seed use_remove_padding tis_imp_ratio_cap calculate_entropy freeze_vision_tower"
).split()
VERL_ROLLOUT_KEYS = (
    "_target_ name mode n temperature top_k top_p prompt_length response_length dtype "
    "gpu_memory_utilization ignore_eos enforce_eager free_cache_engine "
    "tensor_model_parallel_size data_parallel_size expert_parallel_size max_num_batched_tokens "
    "max_model_len max_num_seqs log_prob_micro_batch_size log_prob_micro_batch_size_per_gpu "
    "log_prob_use_dynamic_bsz log_prob_max_token_len_per_gpu disable_log_stats do_sample "
    "enable_chunked_prefill enable_prefix_caching load_format val_kwargs multi_turn "
    "calculate_log_probs agent trace engine_kwargs layered_summon "
    "update_weights_bucket_megabytes skip_rollout over_sample_rate"
).split()
VERL_DATA_KEYS = (
    "_target_ tokenizer use_shm train_files val_files prompt_key reward_fn_key "
    "max_prompt_length max_response_length train_batch_size val_batch_size gen_batch_size "
    "return_raw_input_ids return_raw_chat return_full_prompt shuffle seed validation_shuffle "
    "filter_overlong_prompts filter_overlong_prompts_workers truncation image_key video_key "
    "trust_remote_code custom_cls sampler datagen dataloader_num_workers "
    "return_multi_modal_inputs apply_chat_template_kwargs"
).split()
VERL_LOSS_AGG = (
    "token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-mean",
    "seq-mean-token-sum-norm",
)


def _nested(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Expand dotted keys (Hydra overrides ``a.b.c: v``) into nested mappings."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        parts = str(key).split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(f"{key}={value!r} is invalid: {part} is not a section")
        if isinstance(value, Mapping):
            node.setdefault(parts[-1], {}).update(_nested(value))
        else:
            node[parts[-1]] = value
    return out


def read_verl(mapping: Mapping[str, Any]) -> RunConfig:
    """verl 0.9.1 composed trainer config (``algorithm``, ``actor_rollout_ref``, ``data``)."""
    cfg = _nested(mapping)
    algo = get_table(cfg, "algorithm", "")
    arr = get_table(cfg, "actor_rollout_ref", "")
    actor = get_table(arr, "actor", "actor_rollout_ref.")
    rollout = get_table(arr, "rollout", "actor_rollout_ref.")
    data = get_table(cfg, "data", "")
    kl_ctrl = get_table(algo, "kl_ctrl", "algorithm.")
    filt = get_table(algo, "filter_groups", "algorithm.")
    warnings = (
        misspelled(algo, VERL_ALGORITHM_KEYS, "algorithm.")
        + misspelled(actor, VERL_ACTOR_KEYS, "actor_rollout_ref.actor.")
        + misspelled(rollout, VERL_ROLLOUT_KEYS, "actor_rollout_ref.rollout.")
        + misspelled(data, VERL_DATA_KEYS, "data.")
        + misspelled(kl_ctrl, ("_target_", "type", "kl_coef", "horizon", "target_kl"), "")
        + misspelled(filt, ("_target_", "enable", "metric", "max_num_gen_batches"), "")
    )
    estimator = get_str(algo, "adv_estimator", "gae", "algorithm.")
    check_modelled(
        "algorithm.adv_estimator",
        estimator,
        fw.VERL_ESTIMATORS,
        "verl",
        "adv_estimator" not in algo,
        "binary outcome rewards",
    )
    norm = get_bool(algo, "norm_adv_by_std_in_grpo", True, "algorithm.")
    normalised = norm and estimator.startswith("grpo")
    group_size = get_int(rollout, "n", 1, "actor_rollout_ref.rollout.")
    a = "actor_rollout_ref.actor."
    agg = get_str(actor, "loss_agg_mode", "token-mean", a, VERL_LOSS_AGG)
    train_batch = get_int(data, "train_batch_size", 1024, "data.")
    mini_batch = get_int(actor, "ppo_mini_batch_size", 256, a)
    if mini_batch > train_batch:
        raise InputError(
            f"{a}ppo_mini_batch_size={mini_batch!r} is invalid: must be <= "
            f"data.train_batch_size={train_batch} (both count prompts)"
        )
    updates = train_batch // mini_batch * get_int(actor, "ppo_epochs", 1, a)
    clip_ratio = get_float(actor, "clip_ratio", 0.2, a)
    clip_low = get_float(actor, "clip_ratio_low", 0.2, a)
    clip_high = get_float(actor, "clip_ratio_high", 0.2, a)
    clip_low = clip_ratio if clip_low is None else clip_low
    clip_high = clip_ratio if clip_high is None else clip_high
    pitfalls = []
    if "clip_ratio" in actor and not {"clip_ratio_low", "clip_ratio_high"} <= set(actor):
        pitfalls.append(
            f"{a}clip_ratio={clip_ratio:g} is written, but clip_ratio_low/clip_ratio_high "
            "(default 0.2, not null) take precedence: clip_ratio alone does not change the "
            f"clip range, which is [1 - {clip_low:g}, 1 + {clip_high:g}]"
        )
    placement, kl_est, kl_coef = _verl_kl(algo, actor, kl_ctrl, pitfalls)
    dynamic = get_bool(filt, "enable", False, "algorithm.filter_groups.")
    if dynamic and "max_num_gen_batches" in filt:
        pitfalls.append(
            "algorithm.filter_groups.max_num_gen_batches is ignored by verl 0.9.1's built-in "
            "trainer, which refills one prompt at a time"
        )
    if group_size == 1 and estimator.startswith(("grpo", "rloo")):
        pitfalls.append(
            "actor_rollout_ref.rollout.n is 1 (verl's default when unset): groups of one "
            "sample, so there is no group baseline (verl uses mean 0, std 1 for them)"
        )
    reward = get_table(cfg, "reward", "")
    shaping = _verl_overlong(reward, get_table(cfg, "reward_model", ""))
    if shaping:
        pitfalls.append(shaping)
    return RunConfig(
        framework="verl",
        version=VERSIONS["verl"],
        estimator=estimator,
        group_size=group_size,
        **std_fields(normalised, fw.VERL_STD_EPSILON, "group"),
        aggregation=agg,
        updates_per_rollout=updates,
        clip_low=clip_low,
        clip_high=clip_high,
        kl_placement=placement,
        kl_estimator=kl_est,
        kl_coef=kl_coef,
        dynamic_sampling=dynamic,
        scheme_params=(("norm_adv_by_std_in_grpo", norm),),
        reward_shaping=shaping,
        pitfalls=tuple(pitfalls),
        warnings=tuple(warnings),
    )


def _verl_kl(
    algo: Mapping, actor: Mapping, kl_ctrl: Mapping, pitfalls: list[str]
) -> tuple[str, str | None, float]:
    """(placement, estimator, coefficient): ``actor.use_kl_loss`` puts ``kl_loss_coef *
    kl_loss_type`` in the loss; ``algorithm.use_kl_in_reward`` puts ``kl_ctrl.kl_coef *
    kl_penalty`` in the token rewards (before the advantage). Appends pitfalls."""
    a = "actor_rollout_ref.actor."
    in_loss = get_bool(actor, "use_kl_loss", False, a)
    in_reward = get_bool(algo, "use_kl_in_reward", False, "algorithm.")
    if in_reward:
        pitfalls.append(
            "algorithm.use_kl_in_reward: verl subtracts the KL from the token rewards before "
            "the advantage, so the group normalisation sees non-binary rewards"
        )
    if in_loss and in_reward:
        pitfalls.append("both actor.use_kl_loss and algorithm.use_kl_in_reward are on: two KLs")
    if in_loss:
        placement, estimator = "loss", get_str(actor, "kl_loss_type", "low_var_kl", a)
        coef = get_float(actor, "kl_loss_coef", 0.001, a)
    elif in_reward:
        placement, estimator = "reward", get_str(algo, "kl_penalty", "kl", "algorithm.")
        coef = get_float(kl_ctrl, "kl_coef", 0.001, "algorithm.kl_ctrl.")
        if kl_ctrl.get("type", "fixed") == "adaptive":
            pitfalls.append("algorithm.kl_ctrl.type is adaptive: kl_coef is only the start")
    else:
        return "none", None, 0.0
    return (placement, estimator, coef) if coef > 0 else ("none", None, 0.0)


def _verl_overlong(reward: Mapping, reward_model: Mapping) -> str | None:
    """DAPO overlong penalty (recipe ``reward.reward_kwargs`` or older ``reward_model``)."""
    kwargs = get_table(reward, "reward_kwargs", "reward.")
    buf = get_table(kwargs, "overlong_buffer_cfg", "reward.reward_kwargs.")
    if not buf:
        buf = get_table(reward_model, "overlong_buffer", "reward_model.")
    if not get_bool(buf, "enable", False, "overlong_buffer_cfg."):
        return None
    length = buf.get("len", "?")
    max_len = kwargs.get("max_resp_len", "max_resp_len")
    return (
        f"DAPO overlong reward shaping is on (buffer {length} tokens, factor "
        f"{buf.get('penalty_factor', 1.0)}, max length {max_len}): rewards stop being binary "
        "for long answers"
    )


# ---- trl 1.16.0 ------------------------------------------------------------------------------

TRL_OBJECTIVE_KEYS = (
    "num_generations scale_rewards loss_type beta epsilon epsilon_high num_iterations "
    "steps_per_generation gradient_accumulation_steps generation_batch_size "
    "per_device_train_batch_size use_bias_correction_kl mask_truncated_completions"
).split()
TRL_OTHER_KEYS = (
    "num_generations_eval per_device_eval_batch_size eval_accumulation_steps adam_epsilon "
    "importance_sampling_level top_entropy_quantile delta max_completion_length "
    "max_prompt_length num_train_epochs vllm_importance_sampling_correction "
    "vllm_importance_sampling_mode vllm_importance_sampling_cap"
).split()


def read_trl(mapping: Mapping[str, Any]) -> RunConfig:
    """trl 1.16.0 ``GRPOConfig`` fields (TRL has one estimator; ``scale_rewards`` names it)."""
    cfg = dict(mapping)
    warnings = misspelled(
        [k for k in cfg if k not in TRL_OTHER_KEYS], TRL_OBJECTIVE_KEYS, "", cutoff=0.85
    )
    raw_scale = cfg.get("scale_rewards", "group")
    try:
        scale = fw.normalise_scale_rewards(raw_scale)
    except ValueError:
        raise InputError(
            f"scale_rewards={raw_scale!r} is invalid: must be one of group, batch, none, true, "
            "false"
        ) from None
    group_size = get_int(cfg, "num_generations", 8, "")
    loss_type = get_str(cfg, "loss_type", "dapo", "")
    beta = get_float(cfg, "beta", 0.0, "")
    eps = get_float(cfg, "epsilon", 0.2, "")
    eps_high = get_float(cfg, "epsilon_high", None, "")
    gas = get_int(cfg, "gradient_accumulation_steps", 1, "")
    spg = cfg.get("steps_per_generation")
    pitfalls = []
    if spg is None:
        gen_batch = cfg.get("generation_batch_size")
        if gen_batch is None:
            spg = gas
        else:
            per_device = get_int(cfg, "per_device_train_batch_size", 8, "")
            spg = get_int(cfg, "generation_batch_size", 1, "") // per_device
            pitfalls.append(
                "generation_batch_size is set: steps_per_generation = generation_batch_size / "
                "(per_device_train_batch_size * processes) depends on the number of processes; "
                "1 process assumed"
            )
    else:
        spg = get_int(cfg, "steps_per_generation", 1, "")
    updates = spg * get_int(cfg, "num_iterations", 1, "") / gas
    if isinstance(raw_scale, bool):
        pitfalls.append(
            f"scale_rewards={raw_scale} is the old boolean form: True means 'group' "
            "(divide by each group's std), False means 'none' (no std)"
        )
    if scale == "batch":
        pitfalls.append(
            "scale_rewards='batch' keeps the group mean but divides by the std of the whole "
            "generation batch: the step size depends on the other prompts"
        )
    if loss_type == "grpo":
        pitfalls.append(
            "loss_type='grpo' averages tokens per sequence first (1/L per answer): long wrong "
            "answers are penalised less per token than short ones"
        )
    if beta > 0 and get_bool(cfg, "use_bias_correction_kl", True, ""):
        pitfalls.append(
            "beta > 0: TRL adds beta * k3 to the loss, multiplied by the importance ratio "
            "(use_bias_correction_kl, default True in 1.16.0)"
        )
    if cfg.get("use_vllm") is True and cfg.get("vllm_importance_sampling_correction", True):
        pitfalls.append(
            "use_vllm: vllm_importance_sampling_correction (default on) also multiplies the "
            "per-token loss by the vLLM/trainer probability ratio"
        )
    normalised = scale != "none"
    return RunConfig(
        framework="trl",
        version=VERSIONS["trl"],
        estimator=scale,
        group_size=group_size,
        **std_fields(normalised, fw.TRL_STD_EPSILON, scale),
        aggregation=loss_type,
        updates_per_rollout=int(updates) if float(updates).is_integer() else updates,
        clip_low=eps,
        clip_high=eps_high or eps,  # TRL: epsilon_high or epsilon
        kl_placement="loss" if beta > 0 else "none",
        kl_estimator="k3" if beta > 0 else None,
        kl_coef=beta,
        dynamic_sampling=False,
        pitfalls=tuple(pitfalls),
        warnings=tuple(warnings),
    )
