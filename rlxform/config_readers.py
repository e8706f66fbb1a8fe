"""Per-framework config rules: key names, defaults and known pitfalls (verl, TRL, OpenRLHF).

Each ``read_*`` takes the config as a mapping and returns a ``RunConfig``. Defaults follow verl
0.9.1 (composed ``ppo_trainer.yaml``), trl 1.16.0 (``GRPOConfig``) and openrlhf 0.11.2
(``train_ppo_ray`` argparse dests; the flat names of <= 0.10.1 are mapped to the dotted ones).
Updates per rollout: verl train_batch_size // ppo_mini_batch_size * ppo_epochs; TRL
steps_per_generation * num_iterations / gradient_accumulation_steps; OpenRLHF
rollout.batch_size * n_samples_per_prompt // train.batch_size * train.max_epochs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlxform import frameworks as fw
from rlxform.configs import (
    VERSIONS,
    RunConfig,
    get_bool,
    get_float,
    get_int,
    get_str,
    get_table,
    misspelled,
)

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
VERL_LOSS_AGG = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")


def _nested(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Expand dotted keys (Hydra overrides ``a.b.c: v``) into nested mappings."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        parts = str(key).split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"{key}={value!r} is invalid: {part} is not a section")
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
    if estimator not in fw.VERL_ESTIMATORS:
        default = " (verl's default)" if "adv_estimator" not in algo else ""
        raise ValueError(
            f"algorithm.adv_estimator={estimator!r}{default} is not modelled by rlxform: it "
            f"models verl's {', '.join(fw.VERL_ESTIMATORS)} for binary outcome rewards"
        )
    norm = get_bool(algo, "norm_adv_by_std_in_grpo", True, "algorithm.")
    normalised = norm and estimator.startswith("grpo")
    group_size = get_int(rollout, "n", 1, "actor_rollout_ref.rollout.")
    a = "actor_rollout_ref.actor."
    agg = get_str(actor, "loss_agg_mode", "token-mean", a, VERL_LOSS_AGG)
    train_batch = get_int(data, "train_batch_size", 1024, "data.")
    mini_batch = get_int(actor, "ppo_mini_batch_size", 256, a)
    if mini_batch > train_batch:
        raise ValueError(
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
    if get_bool(actor, "use_kl_loss", False, a):
        kl = ("loss", get_str(actor, "kl_loss_type", "low_var_kl", a), "kl_loss_coef", actor, a)
    elif get_bool(algo, "use_kl_in_reward", False, "algorithm."):
        kl = ("reward", get_str(algo, "kl_penalty", "kl", "algorithm."), "kl_coef", kl_ctrl,
              "algorithm.kl_ctrl.")  # fmt: skip
        pitfalls.append(
            "algorithm.use_kl_in_reward: verl subtracts the KL from the token rewards before "
            "the advantage, so the group normalisation sees non-binary rewards"
        )
    else:
        kl = None
    if kl is not None and get_bool(algo, "use_kl_in_reward", False, "algorithm.") and (
        kl[0] == "loss"
    ):
        pitfalls.append("both actor.use_kl_loss and algorithm.use_kl_in_reward are on: two KLs")
    placement, kl_est, kl_coef = "none", None, 0.0
    if kl is not None:
        kl_coef = get_float(kl[3], kl[2], 0.001, kl[4])
        placement, kl_est = (kl[0], kl[1]) if kl_coef > 0 else ("none", None)
    dynamic = get_bool(filt, "enable", False, "algorithm.filter_groups.")
    if dynamic and "max_num_gen_batches" in filt:
        pitfalls.append(
            "algorithm.filter_groups.max_num_gen_batches is ignored by verl 0.9.1's built-in "
            "trainer, which refills one prompt at a time"
        )
    if group_size == 1 and estimator.startswith(("grpo", "rloo")):
        pitfalls.append(
            "actor_rollout_ref.rollout.n is 1 (verl's default when unset): groups of one "
            "sample, so the group baseline and std do nothing (mean 0, std 1)"
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
        std_normalised=normalised,
        std_epsilon=fw.VERL_STD_EPSILON if normalised else None,
        std_scope="group" if normalised else None,
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
        raise ValueError(
            f"scale_rewards={raw_scale!r} is invalid: must be one of group, batch, none, true, false"
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
        std_normalised=normalised,
        std_epsilon=fw.TRL_STD_EPSILON if normalised else None,
        std_scope=scale if normalised else None,
        aggregation=loss_type,
        updates_per_rollout=int(updates) if float(updates).is_integer() else updates,
        clip_low=eps,
        clip_high=eps if not eps_high else eps_high,
        kl_placement="loss" if beta > 0 else "none",
        kl_estimator="k3" if beta > 0 else None,
        kl_coef=beta,
        dynamic_sampling=False,
        pitfalls=tuple(pitfalls),
        warnings=tuple(warnings),
    )


# ---- openrlhf 0.11.2 -------------------------------------------------------------------------

OPENRLHF_FLAT_NAMES = {
    "advantage_estimator": "algo.advantage.estimator",
    "n_samples_per_prompt": "rollout.n_samples_per_prompt",
    "init_kl_coef": "algo.kl.init_coef",
    "use_kl_loss": "algo.kl.use_loss",
    "kl_estimator": "algo.kl.estimator",
    "kl_target": "algo.kl.target",
    "eps_clip": "actor.eps_clip",
    "eps_clip_low_high": "actor.eps_clip_low_high",
    "max_epochs": "train.max_epochs",
    "micro_train_batch_size": "train.micro_batch_size",
    "train_batch_size": "train.batch_size",
    "rollout_batch_size": "rollout.batch_size",
    "dynamic_filtering": "algo.dynamic_filtering_enable",
    "dynamic_filtering_reward_range": "algo.dynamic_filtering_range",
    "no_advantage_std_norm": "algo.advantage.no_std_norm",
    "overlong_buffer_len": "reward.overlong_buffer_len",
}
OPENRLHF_KEYS = (
    "algo.advantage.estimator algo.advantage.gamma algo.advantage.lambd "
    "algo.advantage.no_std_norm algo.advantage.is_correction_enable "
    "algo.advantage.is_correction_threshold algo.advantage.is_correction_type algo.kl.target "
    "algo.kl.horizon algo.kl.init_coef algo.kl.estimator algo.kl.use_loss "
    "algo.dynamic_filtering_enable algo.dynamic_filtering_range rollout.batch_size "
    "rollout.n_samples_per_prompt rollout.micro_batch_size rollout.max_new_tokens "
    "rollout.temperature rollout.top_p rollout.vllm_generate_batch_size "
    "rollout.max_tokens_per_gpu train.batch_size train.micro_batch_size train.max_epochs "
    "train.num_episodes train.seed train.colocate_all train.colocate_actor_ref "
    "train.colocate_critic_reward train.async_enable train.async_queue_size "
    "train.dynamic_batch_enable train.max_tokens_per_gpu train.enable_ema train.ema_beta "
    "train.full_determinism_enable train.partial_rollout_enable train.agent_func_path "
    "actor.eps_clip actor.eps_clip_low_high actor.dual_clip actor.loss_agg_mode "
    "actor.policy_loss_type actor.entropy_coef actor.aux_loss_coef actor.num_nodes "
    "actor.num_gpus_per_node actor.model_name_or_path actor.gradient_checkpointing_enable "
    "actor.gradient_checkpointing_reentrant actor.freeze_visual_encoder actor.optim "
    "actor.max_norm actor.lr_scheduler actor.lr_warmup_ratio actor.min_lr_ratio"
).split()
OPENRLHF_LOSS_AGG = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum")


def _dotted(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested sections to dotted argparse dests; map the flat names of <= 0.10.1."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = prefix + str(key)
        if isinstance(value, Mapping):
            out.update(_dotted(value, name + "."))
        else:
            out[OPENRLHF_FLAT_NAMES.get(name, name)] = value
    return out


def read_openrlhf(mapping: Mapping[str, Any]) -> RunConfig:
    """openrlhf 0.11.2 ``train_ppo_ray`` argparse dests (dotted, or the older flat names)."""
    cfg = _dotted(mapping)
    watched = [k for k in cfg if k.split(".")[0] in ("algo", "rollout", "train", "actor")]
    warnings = misspelled(watched, OPENRLHF_KEYS, "")
    old = any(k in OPENRLHF_FLAT_NAMES for k in mapping)
    estimator = get_str(cfg, "algo.advantage.estimator", "gae", "")
    if estimator not in fw.OPENRLHF_ESTIMATORS:
        default = " (OpenRLHF's default)" if "algo.advantage.estimator" not in cfg else ""
        raise ValueError(
            f"algo.advantage.estimator={estimator!r}{default} is not modelled by rlxform: it "
            f"models OpenRLHF's {', '.join(fw.OPENRLHF_ESTIMATORS)} for binary rewards"
        )
    group_size = get_int(cfg, "rollout.n_samples_per_prompt", 1, "")
    if group_size < 2:
        raise ValueError(
            f"rollout.n_samples_per_prompt={group_size!r} is invalid for {estimator}: must be "
            "> 1 (OpenRLHF asserts it; the default is 1)"
        )
    no_std = get_bool(cfg, "algo.advantage.no_std_norm", False, "")
    agg = get_str(cfg, "actor.loss_agg_mode", "token-mean", "", OPENRLHF_LOSS_AGG)
    rollout_batch = get_int(cfg, "rollout.batch_size", 1024, "")
    train_batch = get_int(cfg, "train.batch_size", 128, "")
    updates = rollout_batch * group_size // train_batch * get_int(cfg, "train.max_epochs", 1, "")
    eps = get_float(cfg, "actor.eps_clip", 0.2, "")
    clip_low, clip_high = eps, eps
    pair = cfg.get("actor.eps_clip_low_high")
    pitfalls = []
    if pair is not None:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise ValueError(
                f"actor.eps_clip_low_high={pair!r} is invalid: must be two numbers [low, high]"
            )
        clip_low = get_float({"v": pair[0]}, "v", None, "actor.eps_clip_low_high[0].")
        clip_high = get_float({"v": pair[1]}, "v", None, "actor.eps_clip_low_high[1].")
        if "actor.eps_clip" in cfg:
            pitfalls.append("actor.eps_clip_low_high is set, so actor.eps_clip is ignored")
    coef = get_float(cfg, "algo.kl.init_coef", 0.01, "")
    use_loss = get_bool(cfg, "algo.kl.use_loss", False, "")
    kl_est = get_str(cfg, "algo.kl.estimator", "k1", "", ("k1", "k2", "k3"))
    placement = "none" if coef == 0 else ("loss" if use_loss else "reward")
    if placement == "reward" and "algo.kl.init_coef" not in cfg:
        pitfalls.append(
            "algo.kl.init_coef is not set: OpenRLHF's default 0.01 puts a k1 KL penalty in the "
            "reward; only algo.kl.init_coef = 0 removes it"
        )
    if cfg.get("algo.kl.target") is not None and placement != "none":
        pitfalls.append("algo.kl.target is set: the KL coefficient adapts (init_coef is a start)")
    if estimator == "reinforce_baseline":
        pitfalls.append(
            "reinforce_baseline whitens r - group mean over the whole rollout batch with "
            "token-weighted mean and variance: long answers weigh more in the statistics"
        )
    dynamic = get_bool(cfg, "algo.dynamic_filtering_enable", False, "")
    overlong = cfg.get("reward.overlong_buffer_len")
    shaping = None
    if overlong is not None:
        shaping = f"reward.overlong_buffer_len={overlong}: overlong penalty, rewards not binary"
        pitfalls.append(shaping)
    normalised = estimator == "group_norm" or (estimator == "reinforce_baseline" and not no_std)
    eps_std = fw.OPENRLHF_STD_EPSILON if estimator == "group_norm" else fw.OPENRLHF_VAR_FLOOR
    return RunConfig(
        framework="openrlhf",
        version="openrlhf <= 0.10.1 (flat names)" if old else VERSIONS["openrlhf"],
        estimator=estimator,
        group_size=group_size,
        std_normalised=normalised,
        std_epsilon=eps_std if normalised else None,
        std_scope=("group" if estimator == "group_norm" else "batch") if normalised else None,
        aggregation=agg,
        updates_per_rollout=updates,
        clip_low=clip_low,
        clip_high=clip_high,
        kl_placement=placement,
        kl_estimator=kl_est if placement != "none" else None,
        kl_coef=coef if placement != "none" else 0.0,
        dynamic_sampling=dynamic,
        scheme_params=(("no_std_norm", no_std),) if estimator == "reinforce_baseline" else (),
        reward_shaping=shaping,
        pitfalls=tuple(pitfalls),
        warnings=tuple(warnings),
    )
