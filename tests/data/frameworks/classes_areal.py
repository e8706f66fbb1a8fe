"""The key classes of AReaL v1.0.4 (inclusionAI/AReaL git 37d6c6400): every field of GRPOConfig
and the dataclasses it holds (areal/api/cli_args.py), by the help text and the code that reads it
(file:line below are at that tag, areal/ unless said)."""

from __future__ import annotations

from key_classes import (
    DATA,
    DROPOUT,
    DURATION,
    ENGINE,
    EVALUATION,
    LENGTH_CAP,
    LOGGING,
    OPTIMIZER,
    PARTIAL_TRAINING,
    PATHS,
    PLACEMENT,
    PRECISION,
    SEED,
    STOP_WORDS,
    Classes,
)

C = Classes()

# ---- read by rlxform/frameworks/areal.py -----------------------------------------------------
C.modelled(
    "gconfig.n_samples actor.reward_norm actor.reward_norm.* actor.adv_norm actor.adv_norm.* "
    "actor.reward_scaling actor.reward_bias actor.reward_clip actor.ppo_n_minibatches "
    "actor.eps_clip actor.eps_clip_higher actor.kl_ctl actor.kl_estimator train_dataset.batch_size "
    "gconfig.max_new_tokens ref rollout.consumer_batch_size"
)

# ---- change the update, not modelled ---------------------------------------------------------
_UNMODELLED = {
    "actor.discount": (
        1.0,
        "discounts the return over tokens: early tokens of long answers get less",
    ),
    "actor.gae_lambda": (1.0, "GAE lambda with a critic"),
    "actor.c_clip": (None, "dual clip of negative-advantage ratios (acts once the ratio leaves 1)"),
    "actor.m2_threshold": (None, "M2PO: masks tokens by the second moment of the log-ratio"),
    "actor.use_decoupled_loss": (
        False,
        "the decoupled loss of asynchronous AReaL: a proximal policy between behaviour and "
        "current policy, importance-weighted (off-policy answers on the first update)",
    ),
    "actor.rejection_sampling": (None, "drops or masks stale tokens by their importance ratio"),
    "actor.importance_sampling_level": (
        "token",
        "sequence: one geometric-mean ratio per answer (GSPO)",
    ),
    "actor.use_sapo_loss": (False, "SAPO's soft gate instead of the clip"),
    "actor.overlong_reward_penalty": (
        False,
        "a penalty for answers near the length limit: rewards not 0/1",
    ),
    "actor.mask_no_eos_with_zero": (False, "answers without EOS get no reward: a length filter"),
    "actor.temperature": (1.0, "the trainer's temperature for log-probs"),
    "gconfig.temperature": (1.0, "sampling temperature: answers are not samples of the policy"),
    "gconfig.top_p": (1.0, "nucleus sampling"),
    "gconfig.top_k": ([None, 100000000], "top-k sampling"),
    "gconfig.greedy": (False, "greedy decoding"),
    "gconfig.min_new_tokens": (0, "forbids EOS before a length"),
    "rollout.max_head_offpolicyness": (
        0,
        "asynchronous rollouts: answers from policies up to N versions old (off-policy on the "
        "first update)",
    ),
    "actor.recompute_logprob": (
        True,
        "false: the old log-probs are the inference engine's, so the ratio differs from 1 "
        "already on the first update (actor.py:176-196)",
    ),
    "dynamic_bs": (False, "drops rejected trajectories and trains on a smaller batch"),
    "teacher": (None, "on-policy distillation from a teacher"),
    "critic": (None, "a critic for GAE"),
    # ---- classified by the catch-all "*" (or rollout.*): no_effect before (issue 22 item 2) ----
    "gconfig.frequency_penalty": (
        0.0,
        "penalises tokens by their count so far: answers are not samples of the policy",
    ),
    "gconfig.ignore_eos": (
        False,
        "generation runs past EOS to the length limit: answers are not samples of the policy",
    ),
    "gconfig.use_beam_search": (
        False,
        "beam search instead of sampling (vLLM): answers are not samples of the policy",
    ),
    "rollout.agent": (
        None,
        "an agent workflow of the inference service (multi-turn, tools) makes the trajectories",
    ),
    "rollout.api_url": (
        None,
        "external model mode: an external OpenAI-compatible model generates the answers "
        "(experimental/inference_service/controller/controller.py:95-100, 734-736), not the "
        "policy being trained",
    ),
}
_ONLY_WITH = {
    "actor.rejection_sampling": {"actor.use_decoupled_loss": [True]},
    "actor.recompute_logprob": {"actor.use_decoupled_loss": [False]},
}
for _key, (_neutral, _effect) in _UNMODELLED.items():
    C.unmodelled(_key, _effect, _neutral, only_with=_ONLY_WITH.get(_key))
_OVERLONG = {"actor.overlong_reward_penalty": [True]}
C.unmodelled("actor.sapo_*", "SAPO's temperatures", only_with={"actor.use_sapo_loss": [True]})
C.unmodelled(
    "actor.overlong_tokens", "the tail length of the overlong penalty", only_with=_OVERLONG
)
C.unmodelled(
    "actor.overlong_penalty_factor", "the size of the overlong penalty", only_with=_OVERLONG
)
C.unmodelled(
    "actor.max_new_tokens",
    "the response length the overlong penalty counts from (trainer/ppo/actor.py:153-164)",
    only_with=_OVERLONG,
)
C.unmodelled(
    "actor.prox_logp_method",
    "how the decoupled loss's proximal policy is computed",
    only_with={"actor.use_decoupled_loss": [True]},
)

# ---- no effect on the expected update: the actor's engine ----------------------------------
C.no_effect(
    PLACEMENT,
    "actor._version actor.admin_api_key actor.backend actor.offload actor.request_timeout "
    "actor.setup_timeout actor.scheduling_spec actor.attn_impl actor.gradient_checkpointing "
    "actor.pad_to_maximum actor.use_kernels actor.weight_update_mode actor.is_critic",
)
C.no_effect(
    "computes the answers' shared prefixes once (tree training, docs/en/reference/"
    "tree_training.md): the same loss, fewer FLOPs",
    "actor.enable_tree_training",
)
C.no_effect(PRECISION, "actor.dtype actor.grad_reduce_dtype")
C.no_effect(DROPOUT, "actor.disable_dropout")
C.no_effect(PATHS, "actor.path actor.init_from_scratch")
C.no_effect(
    PARTIAL_TRAINING,
    "actor.use_lora actor.lora_rank actor.lora_alpha actor.target_modules actor.peft_type",
)
C.no_effect(OPTIMIZER, "actor.optimizer")
C.no_effect(
    LOGGING,
    "actor.log_agent_stats actor.log_agent_stats_keys actor.log_level actor.experiment_name "
    "actor.trial_name",
)
C.no_effect(
    "splits a minibatch into micro-batches: the loss is normalised over the minibatch's loss "
    "tokens across micro-batches and ranks (trainer/ppo/actor.py:363, engine/fsdp_engine.py:"
    "774-775)",
    "actor.mb_spec.*",
)
C.no_effect(PLACEMENT, "actor.scheduling_strategy.* actor.fsdp.* actor.megatron.ddp.*")
C.no_effect(
    PLACEMENT,
    [
        f"actor.megatron.{f}"
        for f in "distribute_saved_activations moe_enable_deepep moe_permute_fusion "
        "moe_shared_expert_overlap moe_token_dispatcher_type "
        "overlap_param_gather_with_optimizer_step recompute_granularity recompute_method "
        "recompute_modules recompute_num_layers use_custom_fsdp use_deterministic_algorithms "
        "use_torch_fsdp2 virtual_pipeline_parallel_size wrap_with_ddp".split()
    ],
)
C.no_effect(
    PRECISION,
    [
        f"actor.megatron.{f}"
        for f in "exp_avg_dtype exp_avg_sq_dtype fp8_config main_grads_dtype main_params_dtype "
        "moe_router_dtype use_precision_aware_optimizer".split()
    ],
)
C.no_effect(
    PATHS,
    [
        f"actor.megatron.{f}"
        for f in (
            "async_save bridge_type use_mbridge_save use_checkpoint_opt_param_scheduler"
        ).split()
    ],
)
C.no_effect(
    PLACEMENT,
    [
        f"actor.archon.{f}"
        for f in "ac_debug ac_memory_budget ac_mode ac_preserve_rng_state attn_type "
        "enable_compile offload_params pp_first_stage_less_layers pp_last_stage_less_layers "
        "pp_layers_per_stage pp_schedule reshard_after_forward_policy selective_ac_option "
        "use_deterministic_algorithms".split()
    ],
)
C.no_effect(PRECISION, "actor.archon.moe_router_dtype actor.archon.fp8_config.*")

# ---- generation ----------------------------------------------------------------------------
C.no_effect(LENGTH_CAP, "gconfig.max_tokens")
C.no_effect(STOP_WORDS, "gconfig.stop gconfig.stop_token_ids")
C.no_effect(
    "how answers are detokenized (special tokens dropped) for the reward function and logs; "
    "the trained tokens are the same",
    "gconfig.skip_special_tokens",
)
C.no_effect(
    "which LoRA adapter the engine samples with: the one being trained", "gconfig.lora_name"
)
C.no_effect(
    PLACEMENT,
    "rollout._version rollout.admin_api_key rollout.backend rollout.model rollout.provider_api_key "
    "rollout.pause_grace_period rollout.poll_interval rollout.request_retries "
    "rollout.request_timeout rollout.routing_strategy rollout.scheduling_spec "
    "rollout.setup_timeout rollout.tokenizer_path rollout.scheduling_strategy.*",
)
C.no_effect(
    "how many rollouts run or wait at once: throughput; their staleness is bounded by "
    "max_head_offpolicyness and consumer_batch_size (infra/staleness_manager.py:75-108)",
    "rollout.max_concurrent_rollouts rollout.queue_size",
)
C.no_effect(
    LOGGING,
    "rollout.check_trajectory_format rollout.dump_to_file rollout.enable_rollout_tracing "
    "rollout.experiment_name rollout.trial_name rollout.fileroot",
)
C.no_effect(PARTIAL_TRAINING, "rollout.use_lora")
C.no_effect(
    "returns the experts SGLang routed each token to (trainer/rl_trainer.py:982-983); the "
    "trainer does not replay them in v1.0.4",
    "rollout.return_routed_experts",
)
C.no_effect(ENGINE, "sglang.* vllm.*")

# ---- data, run, logging, cluster -------------------------------------------------------------
C.no_effect(DATA, "train_dataset.*")
C.no_effect(EVALUATION, "eval_gconfig valid_dataset evaluator.*")
C.no_effect(DURATION, "total_train_epochs total_train_n_seqs total_train_steps")
C.no_effect(SEED, "seed")
C.no_effect(PATHS, "tokenizer_path recover.* saver.*")
C.no_effect(
    LOGGING,
    "experiment_name trial_name memory_profiler perf_tracer stats_logger.experiment_name "
    "stats_logger.fileroot stats_logger.trial_name stats_logger.swanlab.* "
    "stats_logger.tensorboard.* stats_logger.trackio.* stats_logger.wandb.*",
)
C.no_effect(
    PLACEMENT,
    "allocation_mode enable_offload cluster.cluster_name cluster.fileroot cluster.n_gpus_per_node "
    "cluster.n_nodes cluster.name_resolve.* scheduler.*",
)
C.no_effect(
    "declared in SchedulerConfig but read nowhere in AReaL v1.0.4 (the reward is the training "
    "script's reward function)",
    "scheduler.reward_* scheduler.functioncall_service_domain",
)

AREAL = C.table()
