"""Built-in version tables, used only where ``rlxform/frameworks/data/<name>.json`` is absent.

One version per trainer (verl 0.9.1, trl 1.16.0, openrlhf 0.11.2, the 0.4.1 defaults), the keys
the readers use and their neighbours, and the classes of the keys that change the update. The
shipped data files replace these with every key of every supported release.
"""

from __future__ import annotations


def _keys(prefix: str, names: str, defaults: dict | None = None) -> dict:
    defaults = defaults or {}
    out = {prefix + n: {"default": None} for n in names.split()}
    out.update({prefix + k: {"default": v} for k, v in defaults.items()})
    return out


_VERL_KEYS = {
    **_keys(
        "algorithm.",
        "_target_ adv_estimator norm_adv_by_std_in_grpo use_kl_in_reward kl_penalty gamma lam "
        "use_pf_ppo kl_ctrl.type kl_ctrl.kl_coef kl_ctrl.horizon kl_ctrl.target_kl "
        "filter_groups.enable filter_groups.metric filter_groups.max_num_gen_batches "
        "rollout_correction.rollout_is rollout_correction.rollout_is_threshold "
        "rollout_correction.rollout_rs rollout_correction.rollout_rs_threshold "
        "rollout_correction.bypass_mode",
        {
            "adv_estimator": "gae",
            "norm_adv_by_std_in_grpo": True,
            "use_kl_in_reward": False,
            "kl_penalty": "kl",
            "kl_ctrl.type": "fixed",
            "kl_ctrl.kl_coef": 0.001,
            "filter_groups.enable": False,
        },
    ),
    **_keys(
        "actor_rollout_ref.actor.",
        "strategy ppo_mini_batch_size ppo_micro_batch_size ppo_micro_batch_size_per_gpu "
        "use_dynamic_bsz ppo_max_token_len_per_gpu clip_ratio clip_ratio_low clip_ratio_high "
        "clip_ratio_c loss_agg_mode loss_scale_factor entropy_coeff use_kl_loss kl_loss_coef "
        "kl_loss_type ppo_epochs shuffle grad_clip ulysses_sequence_parallel_size "
        "use_torch_compile policy_loss.loss_mode entropy_from_logits_with_chunking "
        "entropy_checkpointing use_fused_kernels data_loader_seed use_remove_padding "
        "tis_imp_ratio_cap calculate_entropy freeze_vision_tower optim.lr optim.lr_warmup_steps "
        "optim.weight_decay optim.lr_warmup_steps_ratio fsdp_config.param_offload "
        "fsdp_config.optimizer_offload fsdp_config.fsdp_size",
        {
            "ppo_mini_batch_size": 256,
            "use_dynamic_bsz": False,
            "clip_ratio": 0.2,
            "clip_ratio_low": 0.2,
            "clip_ratio_high": 0.2,
            "loss_agg_mode": "token-mean",
            "entropy_coeff": 0.0,
            "use_kl_loss": False,
            "kl_loss_coef": 0.001,
            "kl_loss_type": "low_var_kl",
            "ppo_epochs": 1,
            "policy_loss.loss_mode": "vanilla",
        },
    ),
    **_keys(
        "actor_rollout_ref.rollout.",
        "name mode n temperature top_k top_p prompt_length response_length dtype "
        "gpu_memory_utilization ignore_eos enforce_eager free_cache_engine "
        "tensor_model_parallel_size data_parallel_size expert_parallel_size "
        "max_num_batched_tokens max_model_len max_num_seqs log_prob_micro_batch_size "
        "log_prob_micro_batch_size_per_gpu log_prob_use_dynamic_bsz "
        "log_prob_max_token_len_per_gpu disable_log_stats do_sample enable_chunked_prefill "
        "enable_prefix_caching load_format calculate_log_probs layered_summon "
        "update_weights_bucket_megabytes skip_rollout over_sample_rate val_kwargs.temperature "
        "val_kwargs.top_p val_kwargs.top_k val_kwargs.do_sample val_kwargs.n",
        {"n": 1, "temperature": 1.0},
    ),
    **_keys(
        "data.",
        "tokenizer use_shm train_files val_files prompt_key reward_fn_key max_prompt_length "
        "max_response_length train_batch_size val_batch_size gen_batch_size return_raw_input_ids "
        "return_raw_chat return_full_prompt shuffle seed validation_shuffle "
        "filter_overlong_prompts filter_overlong_prompts_workers truncation image_key video_key "
        "trust_remote_code dataloader_num_workers return_multi_modal_inputs",
        {"train_batch_size": 1024, "max_response_length": 512},
    ),
    **_keys("reward_model.", "enable reward_manager", {"enable": False}),
    **_keys("custom_reward_function.", "path name"),
    **_keys("trainer.", "use_legacy_worker_impl", {"use_legacy_worker_impl": "auto"}),
}
_VERL_UNMODELLED = {
    "actor_rollout_ref.actor.policy_loss.loss_mode": (
        "replaces the PPO surrogate (gspo, clip_cov, kl_cov, geo_mean, cispo, ...): each mode "
        "weighs or clips tokens its own way; rlxform models vanilla only"
    ),
    "actor_rollout_ref.actor.entropy_coeff": (
        "adds an entropy bonus to the loss: a gradient of its own beside the policy gradient"
    ),
    "algorithm.rollout_correction.*": (
        "rollout correction: reweights or rejects tokens or sequences by the ratio of the "
        "trainer's to the sampler's probabilities (importance sampling, rejection sampling)"
    ),
    "algorithm.use_pf_ppo": "preference-feedback PPO: resamples the batch by reward",
    "actor_rollout_ref.actor.tis_imp_ratio_cap": (
        "truncated importance sampling: multiplies each token's loss by the capped ratio of "
        "trainer to rollout probabilities"
    ),
}
VERL = {
    "framework": "verl",
    "versions": {"0.9.1": {"keys": _VERL_KEYS}},
    "classes": {"unmodelled": _VERL_UNMODELLED},
}

_TRL_DEFAULTS = {
    "num_generations": 8,
    "scale_rewards": "group",
    "loss_type": "dapo",
    "beta": 0.0,
    "epsilon": 0.2,
    "epsilon_high": None,
    "num_iterations": 1,
    "steps_per_generation": None,
    "gradient_accumulation_steps": 1,
    "generation_batch_size": None,
    "per_device_train_batch_size": 8,
    "use_bias_correction_kl": True,
    "mask_truncated_completions": False,
    "use_vllm": False,
    "vllm_importance_sampling_correction": True,
    "vllm_importance_sampling_mode": "sequence_mask",
    "vllm_importance_sampling_cap": 3.0,
    "importance_sampling_level": "token",
    "top_entropy_quantile": 1.0,
    "entropy_coef": 0.0,
    "max_completion_length": 256,
    "reward_weights": None,
    "reward_funcs": None,
    "delta": None,
    "off_policy_mask_threshold": None,
}
_TRL_OTHER = (
    "num_generations_eval per_device_eval_batch_size eval_accumulation_steps adam_epsilon "
    "max_prompt_length num_train_epochs learning_rate output_dir logging_steps save_steps "
    "bf16 seed temperature top_p top_k model_name_or_path dataset_name lr_scheduler_type "
    "warmup_ratio max_grad_norm weight_decay"
)
_TRL_UNMODELLED = {
    "importance_sampling_level": (
        "sequence-level importance ratio (GSPO): the clip acts on the whole answer's ratio"
    ),
    "top_entropy_quantile": (
        "trains only on the tokens of highest entropy: a token filter that drops parts of answers"
    ),
    "entropy_coef": "adds an entropy bonus to the loss: a gradient of its own",
    "mask_truncated_completions": (
        "drops truncated answers from the loss: a filter that depends on length"
    ),
    "off_policy_mask_threshold": (
        "masks sequences whose policy drifted past the threshold: a filter on the ratio"
    ),
    "delta": "two-sided clip of the ratio at delta: acts only after the first update",
    "vllm_importance_sampling_*": (
        "vLLM importance-sampling correction: reweights or masks tokens or sequences by the "
        "ratio of trainer to vLLM probabilities"
    ),
}
TRL = {
    "framework": "trl",
    "versions": {
        "1.16.0": {
            "keys": {
                **{k: {"default": v} for k, v in _TRL_DEFAULTS.items()},
                **_keys("", _TRL_OTHER),
            }
        }
    },
    "classes": {"unmodelled": _TRL_UNMODELLED},
}

_OPENRLHF_KEYS = _keys(
    "",
    "algo.advantage.gamma algo.advantage.lambd algo.kl.target algo.kl.horizon "
    "rollout.micro_batch_size rollout.max_new_tokens rollout.temperature rollout.top_p "
    "rollout.vllm_generate_batch_size rollout.max_tokens_per_gpu train.num_episodes train.seed "
    "train.colocate_all train.colocate_actor_ref train.colocate_critic_reward "
    "train.async_enable train.async_queue_size train.dynamic_batch_enable "
    "train.max_tokens_per_gpu train.enable_ema train.ema_beta train.full_determinism_enable "
    "train.partial_rollout_enable train.agent_func_path actor.dual_clip actor.aux_loss_coef "
    "actor.num_nodes actor.num_gpus_per_node actor.model_name_or_path "
    "actor.gradient_checkpointing_enable actor.gradient_checkpointing_reentrant "
    "actor.freeze_visual_encoder actor.optim actor.max_norm actor.lr_scheduler "
    "actor.lr_warmup_ratio actor.min_lr_ratio algo.advantage.is_correction_enable "
    "algo.advantage.is_correction_threshold algo.advantage.is_correction_type "
    "reward.remote_url reward.normalize_enable reward.clip_range reward.overlong_buffer_len "
    "reward.overlong_penalty_factor",
    {
        "algo.advantage.estimator": "gae",
        "algo.advantage.no_std_norm": False,
        "algo.kl.init_coef": 0.01,
        "algo.kl.use_loss": False,
        "algo.kl.estimator": "k1",
        "algo.dynamic_filtering_enable": False,
        "algo.dynamic_filtering_range": [0.0, 1.0],
        "rollout.batch_size": 1024,
        "rollout.n_samples_per_prompt": 1,
        "train.batch_size": 128,
        "train.micro_batch_size": 1,
        "train.max_epochs": 1,
        "actor.eps_clip": 0.2,
        "actor.eps_clip_low_high": None,
        "actor.loss_agg_mode": "token-mean",
        "actor.policy_loss_type": "ppo",
        "actor.entropy_coef": None,
        "reward.model_name_or_path": None,
    },
)
_OPENRLHF_UNMODELLED = {
    "actor.policy_loss_type": "GSPO: a sequence-level ratio and clip replace the token ratio",
    "actor.entropy_coef": "adds an entropy bonus to the loss: a gradient of its own",
    "algo.advantage.is_correction_*": (
        "vLLM importance-sampling correction: reweights or masks tokens or sequences by the "
        "ratio of trainer to vLLM probabilities"
    ),
    "algo.dynamic_filtering_range": (
        "keeps a group only when its mean reward lies strictly inside the range"
    ),
}
OPENRLHF = {
    "framework": "openrlhf",
    "versions": {"0.11.2": {"keys": _OPENRLHF_KEYS}},
    "renames": {
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
        "reward_pretrain": "reward.model_name_or_path",
        "remote_rm_url": "reward.remote_url",
        "normalize_reward": "reward.normalize_enable",
        "entropy_loss_coef": "actor.entropy_coef",
        "policy_loss_type": "actor.policy_loss_type",
    },
    "classes": {"unmodelled": _OPENRLHF_UNMODELLED},
}
