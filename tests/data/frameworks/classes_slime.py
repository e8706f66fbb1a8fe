"""The key classes of slime v0.3.1 (THUDM/slime git a6272da0d): every argparse dest of
slime/utils/arguments.py, by the help text and the code that reads it (file:line below are at
that tag). Sections (the test's ``section``): the argparse group function declaring the flag."""

from __future__ import annotations

from key_classes import (
    DATA,
    DURATION,
    EVALUATION,
    LENGTH_CAP,
    LOGGING,
    OPTIMIZER,
    PATHS,
    PLACEMENT,
    SEED,
    STOP_WORDS,
    Classes,
)

C = Classes()

# ---- read by rlxform/frameworks/slime.py ---------------------------------------------------
C.modelled(
    "advantage_estimator n_samples_per_prompt rewards_normalization grpo_std_normalization "
    "normalize_advantages rollout_batch_size global_batch_size num_steps_per_rollout "
    "eps_clip eps_clip_high use_kl_loss kl_loss_coef kl_loss_type kl_coef "
    "calculate_per_token_loss dynamic_sampling_filter_path rm_type custom_rm_path "
    "rollout_max_response_len"
)

# ---- change the update, not modelled ---------------------------------------------------------
_UNMODELLED = {
    # key: (neutral or None for "acts whenever set", effect)
    "gamma": (
        1.0,
        "discounts the returns of reinforce_plus_plus over tokens (ppo_utils.py:371-440)",
    ),
    "entropy_coef": (0.0, "adds an entropy term to the loss (loss.py:1046-1050)"),
    "eps_clip_c": (None, "dual clip of negative-advantage ratios (acts once the ratio leaves 1)"),
    "use_tis": (False, "truncated importance weights of trainer/rollout log-probs on every token"),
    "tis_clip": ("-", "the cap of the truncated importance weights"),
    "tis_clip_low": ("-", "the floor of the truncated importance weights"),
    "custom_tis_function_path": (None, "a custom importance-sampling correction"),
    "use_rollout_logprobs": (
        False,
        "the old log-probs come from the rollout engine: the ratio differs from 1 already on "
        "the first update",
    ),
    "partial_rollout": (False, "continues unfinished generations of older policies (off-policy)"),
    "mask_offpolicy_in_partial_rollout": (
        "-",
        "masks the older policy's tokens of partial rollouts",
    ),
    "custom_advantage_function_path": (None, "replaces the advantage computation"),
    "custom_loss_function_path": (None, "replaces the loss"),
    "loss_type": ("policy_loss", "sft_loss or custom_loss replaces the policy loss"),
    "custom_pg_loss_reducer_function_path": (None, "replaces the per-sample token mean"),
    "custom_reward_post_process_path": (None, "replaces the group normalisation of rewards"),
    "custom_convert_samples_to_train_data_path": (None, "replaces the reward post-processing"),
    "rollout_sample_filter_path": (None, "drops samples by a custom rule"),
    "buffer_filter_path": (None, "chooses which buffered samples train"),
    "rollout_all_samples_process_path": (None, "post-processes all samples by a custom rule"),
    "rollout_data_postprocess_path": (None, "post-processes the rollout data by a custom rule"),
    "custom_generate_function_path": (
        None,
        "a custom generation (multi-turn, tools): the answers are not plain samples of the policy",
    ),
    "rollout_function_path": (
        "slime.rollout.sglang_rollout.generate_rollout",
        "a custom rollout function: how answers and rewards are made",
    ),
    "rollout_temperature": (1.0, "sampling temperature: answers are not samples of the policy"),
    "rollout_top_p": (1.0, "nucleus sampling: answers are not samples of the policy"),
    "rollout_top_k": (-1, "top-k sampling: answers are not samples of the policy"),
    "use_opd": (False, "on-policy distillation: a teacher KL added to the advantages"),
    "opd_kl_coef": ("-", "the weight of the distillation KL"),
    "opd_type": ("-", "where the distillation teacher runs"),
    "use_opsm": (False, "off-policy sequence masking of the loss"),
    "opsm_delta": ("-", "the threshold of off-policy sequence masking"),
    "use_unbiased_kl": (False, "weights the KL loss by the importance ratio"),
    "ref_update_interval": (None, "moves the reference model to the actor every N rollouts"),
    "keep_old_actor": (False, "keeps a separate old actor for the ratio"),
    "group_rm": (False, "scores a group's answers together"),
    "reward_key": (None, "picks one field of a dict-valued reward"),
    "compute_advantages_and_returns": (True, "disabling it trains on no advantages"),
    "freeze_params_name_list": (None, "freezes parameters: the update is projected"),
    "only_train_params_name_list": (None, "trains only some parameters: the update is projected"),
    "enable_mtp_training": (False, "adds a multi-token-prediction loss"),
    "mtp_loss_scaling_factor": ("-", "the weight of the multi-token-prediction loss"),
    "custom_config_path": (None, "a YAML that overrides any flag at start-up"),
    # ---- classified by the catch-all "*": no_effect before (issue 22 item 2) ----
    "update_weights_interval": (
        1,
        "train_async.py pushes the trained weights to the rollout engines only every N rollouts "
        "(train_async.py:66; train.py pushes them every rollout, train.py:85): its answers come "
        "from a policy up to N updates old (off-policy)",
    ),
    "over_sampling_batch_size": (
        None,
        "above rollout_batch_size, slime submits more prompts than a rollout needs and keeps the "
        "first rollout_batch_size groups to finish generating, aborting the rest "
        "(slime/rollout/sglang_rollout.py:404-445; arguments.py:1921-1925): groups with shorter "
        "answers are favoured",
    ),
    "data_source_path": (
        "slime.rollout.data_source.RolloutDataSourceWithBuffer",
        "a custom data source: which prompts, and which buffered samples, each rollout takes",
    ),
    "rollout_sample_hook_path": (
        [[]],
        "hooks that may rewrite or drop each generated answer before it is scored "
        "(arguments.py:474)",
    ),
    "megatron_config_path": (
        None,
        "a YAML of per-role overrides: any flag of the actor (loss, clips, KL, ...) can be "
        "replaced at start-up (arguments.py:1593-1614; ray/placement_group.py:165-168)",
    ),
    "load_debug_rollout_data": (
        None,
        "trains on rollouts loaded from these files (debugging) instead of sampling the current "
        "policy: the answers are not the policy's",
    ),
    "use_routing_replay": (
        False,
        "MoE models: the training forward pass replays the experts chosen for the old "
        "log-probabilities (routing replay): after the first update the ratio is not the "
        "current policy's own",
    ),
    "use_rollout_routing_replay": (
        False,
        "MoE models: the training forward pass replays the experts the rollout engine chose "
        "(R3): the trained log-probabilities and ratios use the engine's routing",
    ),
    "custom_megatron_before_log_prob_hook_path": (
        None,
        "custom code given the model before each log-probability pass (model.py:451-455): it "
        "can change the old, reference or current log-probabilities",
    ),
    "custom_megatron_before_train_step_hook_path": (
        None,
        "custom code given the model and optimizer before each training step "
        "(model.py:554-558): it can change the update",
    ),
    "lambd": ("-", "the GAE lambda of the ppo estimator (a learned critic; loss.py:737)"),
    "value_clip": (
        "-",
        "clips the critic's value loss (loss.py:1149-1150): shapes the ppo estimator's learned "
        "baseline",
    ),
    "mtp_num_layers": ("-", "how many multi-token-prediction layers the added MTP loss trains"),
}
_ONLY_WITH = {
    "tis_clip": {"use_tis": [True]},
    "tis_clip_low": {"use_tis": [True]},
    "mask_offpolicy_in_partial_rollout": {"partial_rollout": [True]},
    "opd_kl_coef": {"use_opd": [True]},
    "opd_type": {"use_opd": [True]},
    "opsm_delta": {"use_opsm": [True]},
    "mtp_loss_scaling_factor": {"enable_mtp_training": [True]},
    "gamma": {"advantage_estimator": ["reinforce_plus_plus", "ppo"]},
    "lambd": {"advantage_estimator": ["ppo"]},
    "value_clip": {"advantage_estimator": ["ppo"]},
    "mtp_num_layers": {"enable_mtp_training": [True]},
}
for _key, (_neutral, _effect) in _UNMODELLED.items():
    if _neutral == "-":  # acts whenever set (with the settings of only_with)
        C.unmodelled(_key, _effect, only_with=_ONLY_WITH.get(_key))
    else:
        C.unmodelled(_key, _effect, _neutral, only_with=_ONLY_WITH.get(_key))

# ---- no effect on the expected update --------------------------------------------------------
C.no_effect(
    PLACEMENT,
    "actor_num_gpus_per_node actor_num_nodes colocate distributed_backend "
    "distributed_timeout_minutes num_gpus_per_node offload offload_rollout offload_train "
    "rollout_num_gpus rollout_num_gpus_per_engine allgather_cp log_probs_chunk_size "
    "recompute_loss_function release_train train_env_vars qwen_gdn_backend padded_vocab_size "
    "train_backend",
)
C.no_effect(
    "splits a training step into micro-batches or balances them over data-parallel ranks: each "
    "step keeps the same answers and slime reduces the loss per answer "
    "(slime/utils/dp_schedule.py:127-200)",
    "micro_batch_size use_dynamic_batch_size max_tokens_per_gpu balance_data balance_by_flops "
    "log_probs_max_tokens_per_gpu data_pad_size_multiplier",
)
C.no_effect(
    "how the trained weights reach the rollout engines (transport, encoding, checksums, "
    "buffers): the engines receive the same weights",
    "update_weight_buffer_size update_weight_delta_checksum update_weight_delta_encoding "
    "update_weight_disk_dir update_weight_disk_keep_files update_weight_local_checkpoint_dir "
    "update_weight_mode update_weight_transport custom_update_weight_post_write_path",
)
C.no_effect(
    PATHS,
    "hf_checkpoint load save save_hf save_interval async_save no_save_optim model_name "
    "ref_load ref_ckpt_step opd_teacher_load opd_teacher_ckpt_step",
)
C.no_effect(
    DATA,
    "prompt_data input_key label_key metadata_key tool_key multimodal_keys apply_chat_template "
    "apply_chat_template_kwargs rollout_global_dataset rollout_shuffle rollout_max_prompt_len",
)
C.no_effect(LENGTH_CAP, "rollout_max_context_len")
C.no_effect(STOP_WORDS, "rollout_stop rollout_stop_token_ids")
C.no_effect(DURATION, "num_rollout num_epoch start_rollout_id")
C.no_effect(
    "rollouts at the start that train only the critic (ppo): when the actor starts updating, "
    "not what one update does",
    "num_critic_only_steps",
)
C.no_effect(SEED, "seed rollout_seed")
C.no_effect(
    EVALUATION,
    "eval_config eval_function_path eval_input_key eval_interval eval_label_key eval_max_* "
    "eval_min_new_tokens eval_prompt_data eval_temperature eval_tool_key eval_top_* "
    "n_samples_per_eval_prompt skip_eval_before_train eval_reward_key "
    "custom_eval_rollout_log_function_path",
)
C.no_effect(
    LOGGING,
    "use_wandb wandb_* use_tensorboard tb_* log_correct_samples log_multi_turn log_passrate "
    "log_reward_category custom_rollout_log_function_path dump_details save_debug_rollout_data "
    "save_debug_train_data get_mismatch_metrics memory_recorder memory_snapshot_* "
    "record_memory_history profile_target check_weight_update_equal ci_*",
)
C.no_effect(
    "network and fault tolerance: addresses, proxies, health checks, retries",
    "http_proxy use_distributed_post rollout_health_check_* use_fault_tolerance "
    "fetch_trajectory_retry_times rollout_buffer_url rollout_external_engine_addrs "
    "rollout_data_transport",
)
C.no_effect(
    "where the remote reward model (--rm-type remote_rm) or the distillation teacher "
    "(--opd-type sglang) runs (rollout/rm_hub/__init__.py:43, rollout/on_policy_distillation.py:27)"
    "; what they do is said by those flags",
    "rm_url",
)
C.no_effect(OPTIMIZER, "lr clip_grad use_stateless_adam reset_optimizer_states")
C.no_effect(
    "debugging modes: only the rollout or only the training runs, or replayed data is subsampled",
    "debug_rollout_only debug_train_only load_debug_rollout_data_subsample",
)
C.no_effect(
    "the dumped rollout that --rollout-function-path slime.rollout.forge_load.generate_rollout "
    "replays (debugging; that flag is named on the card)",
    "load_forge_rollout_data",
)
C.no_effect(
    "which tokens of a multi-turn sample are the model's own, by chat template: tool and user "
    "turns are masked from the loss",
    "loss_mask_type",
)
C.no_effect(
    "the task name sent to an external rollout buffer (slime_plugins/rollout_buffer); the "
    "buffer's rollout is --rollout-function-path",
    "rollout_task_type",
)
C.no_effect(
    "declared in arguments.py but read nowhere in slime v0.3.1", "min_batch_collection_ratio"
)
C.no_effect(
    "how answers are detokenized (special tokens dropped) for the reward function and logs; "
    "the trained tokens are the same",
    "rollout_skip_special_tokens",
)
C.no_effect(
    "computes token entropies with the log-probabilities (metrics, or a custom loss's mask)",
    "use_rollout_entropy",
)
C.no_effect(
    "custom code run once at Megatron's start-up (kernels, patches)", "custom_megatron_init_path"
)
C.no_effect(
    "a custom Megatron model provider: the model's architecture, not the update rule",
    "custom_model_provider_path",
)

SLIME = C.table()
