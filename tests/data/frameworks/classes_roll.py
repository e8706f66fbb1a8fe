"""The key classes of ROLL v0.3.0 (alibaba/ROLL git 7f9d4d38): every field of RLVRConfig and the
dataclasses it holds, by the help text and the code of the RLVR pipeline that reads it (file:line
below are at that tag, roll/ unless said). The eight workers share WorkerConfig: a field's class
depends on the worker's role, written out per worker below (no rule spans two sections)."""

from __future__ import annotations

from key_classes import (
    DATA,
    DURATION,
    EVALUATION,
    LENGTH_CAP,
    LOGGING,
    MOE_AUX,
    OPTIMIZER,
    PARTIAL_TRAINING,
    PATHS,
    PLACEMENT,
    PRECISION,
    SEED,
    Classes,
)

C = Classes()

# ---- read by rlxform/frameworks/roll.py and roll_rule.py -------------------------------------
C.modelled(
    "adv_estimator num_return_sequences_in_group norm_mean_type norm_std_type whiten_advantages "
    "reward_clip advantage_clip difficulty_mask difficulty_low_threshold "
    "difficulty_high_threshold rollout_batch_size ppo_epochs loss_agg_mode pg_clip pg_clip_low "
    "pg_clip_high use_pg_clip_range use_kl_loss kl_loss_coef add_token_level_kl init_kl_coef "
    "kl_penalty rewards response_length actor_train.device_mapping actor_train.strategy_args "
    "actor_train.training_args.per_device_train_batch_size "
    "actor_train.training_args.gradient_accumulation_steps"
)

# ---- top-level keys that change the update, not modelled -------------------------------------
_UNMODELLED = {
    "gamma": (
        1,
        (
            "discounts the return over tokens "
            "(functionals.py:488-500): long answers' early tokens get less"
        ),
    ),
    "whiten_rewards": (
        False,
        "whitens the token rewards (zero except the last token) before the return",
    ),
    "max_len_mask": (
        False,
        "answers that hit the length limit get advantage 0 and leave the statistics: a "
        "length-dependent filter",
    ),
    "error_max_len_clip": (False, "wrong answers longer than a threshold are masked"),
    "difficulty_loss_weight": (False, "weights each sample's loss by its group's difficulty"),
    "length_loss_weight": (False, "weights each sample's loss by its length"),
    "dual_clip_loss": (
        False,
        "dual clip of negative-advantage ratios (acts once the ratio leaves 1)",
    ),
    "entropy_loss_coef": (0, "adds an entropy term to the loss"),
    "importance_sampling": ("token", "seq: one sequence-level ratio per answer (GSPO-like)"),
    "use_policy_loss_type": ("PPO", "another policy loss than PPO's clipped ratio"),
    "use_topr_loss": (False, "the TOPR loss (truncated importance sampling of negatives)"),
    "use_reward_scaling": (False, "scales rewards by running statistics"),
    "use_reward_norm": (False, "normalises rewards by running statistics"),
    "add_len_reward": (False, "adds a length term to the reward"),
    "async_generation_ratio": (
        0,
        "generates with an older policy (asynchronous): off-policy answers on the first update",
    ),
    "is_use_additional_prompts": (False, "samples extra prompts to replace filtered groups"),
    "use_opd": (False, "on-policy distillation: a teacher KL in the advantages"),
    "is_pure_opd": (False, "pure distillation: the advantage is the teacher KL"),
    "l2": (0.0, "adds an L2 penalty to the loss"),
    "rl_loss_coef": (1.0, "scales the policy-gradient loss against the other terms"),
    "postive_loss_coef": (0, "adds a loss on positive samples"),
    "enable_old_logprobs_recompute": (False, "recomputes old log-probs with the trainer"),
    "train_infer_correction.is_weight.enabled": (
        False,
        "importance weights of trainer over inference log-probs on every token",
    ),
    "train_infer_correction.filters": (
        [[]],
        "drops tokens or answers whose train/inference mismatch exceeds a bound",
    ),
    "reward_model": (None, "a reward model scores the answers"),
    "target_kl": (None, "adapts the KL coefficient of the reward towards a target"),
    "dataset_filter.*": (
        [None, 0],
        "drops prompts by difficulty before sampling: changes the population of prompts, not "
        "the update of one prompt",
    ),
    # ---- classified by the catch-all "*": no_effect before (issue 22 item 2) ----
    "force_disable_old_logprobs_recompute": (
        False,
        "keeps each mini-batch's own first forward pass as its old log-probabilities even when "
        "several backward steps share a rollout (configs/base_config.py:657-662; "
        "pipeline/base_worker.py:173-210): the ratio is 1 on every mini-batch's first pass, so "
        "later mini-batches are not clipped against the rollout's policy",
    ),
    "user_defined_rollout_loop_cls": (
        "roll.distributed.scheduler.user_defined_rollout_loop.UserDefinedRolloutLoop",
        "a custom rollout loop (distributed/scheduler/generate_scheduler.py:514): how answers "
        "are generated, filtered and collected",
    ),
    "rollout_mock": (
        None,
        "dump records the rollouts; mock trains on rollouts recorded earlier instead of "
        "sampling the current policy (distributed/scheduler/generate_scheduler.py:617-619)",
    ),
}
for _key, (_neutral, _effect) in _UNMODELLED.items():
    C.unmodelled(_key, _effect, _neutral)
C.unmodelled(
    "kl_horizon",
    "adapts the KL coefficient of the reward",
    only_with={"target_kl": {"not": [None]}},
)
C.unmodelled(
    "use_topr_neg_loss_coef",
    "the weight of TOPR's negative samples",
    only_with={"use_topr_loss": [True]},
)
C.unmodelled(
    "error_max_len_threshold",
    "the length past which wrong answers are masked",
    only_with={"error_max_len_clip": [True]},
)
C.unmodelled(
    "train_infer_correction.is_weight.*",
    "the importance weights' bound and kind",
    only_with={"train_infer_correction.is_weight.enabled": [True]},
)
C.only_with["gamma"] = {"adv_estimator": ["reinforce", "grpo", "gae"]}
C.unmodelled(
    "max_additional_running_prompts",
    "how many prompts run beyond the batch to replace filtered groups (the first to finish "
    "are kept; distributed/scheduler/generate_scheduler.py:150-250)",
    only_with={"is_use_additional_prompts": [True]},
)
_GAE = {"adv_estimator": ["gae"]}
C.unmodelled("lambd", "the GAE lambda of the gae estimator (a learned critic)", only_with=_GAE)
C.unmodelled(
    "value_clip", "clips the critic's value loss: shapes gae's learned baseline", only_with=_GAE
)

# ---- top-level keys with no effect on the expected update -------------------------------------
C.no_effect(
    PATHS,
    "base_dir output_dir pretrain checkpoint_config save_steps max_ckpt_to_keep "
    "resume_from_checkpoint model_download_type",
)
C.no_effect(
    LOGGING,
    "exp_name logging_dir logging_steps track_with tracker_kwargs profiler_timeline "
    "profiler_memory profiler_output_dir length_profiler_dir otlp_output_dir "
    "report_length_and_rewards rollout_dump_dir save_logging_board_dir",
)
C.no_effect(
    PLACEMENT,
    "local_rank num_nodes num_gpus_per_node rpc_timeout system_envs is_offload_states "
    "is_offload_optimizer_states_in_train_step model_update_buffer_size_mb transfer_backend "
    "router_args max_running_requests",
)
C.no_effect(
    "how generation requests are scheduled (a batch at once, or prompt by prompt; one request "
    "for a group's answers or one per answer): the same prompts and answers are sampled",
    "generate_opt_level is_num_return_sequences_expand",
)
C.no_effect(SEED, "seed")
C.no_effect(DURATION, "max_steps")
C.no_effect(
    EVALUATION,
    "eval_steps validation val_batch_size val_prompt_length val_sequence_length val_greedy "
    "val_n_sample",
)
C.no_effect(LENGTH_CAP, "prompt_length sequence_length")
C.no_effect(
    "the chat template of the prompts: changes the prompts, not the update rule",
    "global_template tag_to_template",
)
C.no_effect(OPTIMIZER, "max_grad_norm")
C.no_effect(
    "declared in RLVRConfig but read nowhere in ROLL v0.3.0",
    "balance_length minibatch_data_iter_num mask_type",
)
_CRITIC = (
    "critic settings: used only by the gae estimator (a learned value baseline), which rlxform "
    "refuses"
)
C.no_effect(_CRITIC, "critic_warmup reward_pretrain")
C.no_effect(
    "loads the reference model; ROLL turns it on itself whenever a KL is used "
    "(configs/base_config.py:654-656)",
    "enable_reference",
)
C.no_effect(
    "which pipeline examples/start_onpolicy_distill_pipeline.py runs for pure distillation "
    "(is_pure_opd, named on the card)",
    "pure_opd_pipeline_type",
)

# ---- the workers (WorkerConfig, configs/worker_config.py) -----------------------------------
WORKERS = (
    "actor_train actor_infer reference critic reward teacher student_train student_infer".split()
)
_BATCHING = (
    "splits a step into micro-batches (dynamic batching, sequence packing): ROLL normalises "
    "the loss over the whole step (apply_loss_scale, configs/worker_config.py:228-240)"
)
_COMMON = {
    **dict.fromkeys(
        "name backend_timeout system_envs num_gpus_per_worker world_size infer_batch_size "
        "max_concurrency offload_nccl".split(),
        PLACEMENT,
    ),
    **dict.fromkeys(
        "use_dynamic_batching_in_train max_tokens_per_microbatch_in_train "
        "sequence_length_round_in_train use_dynamic_batching_in_infer "
        "max_tokens_per_microbatch_in_infer sequence_length_round_in_infer "
        "use_sequence_packing".split(),
        _BATCHING,
    ),
    "logits_in_fp32": PRECISION,
    "apply_loss_scale": (
        "multiplies the loss by the step's micro-batch count (DP x GA) to undo the backend's "
        "averaging (configs/worker_config.py:228-240): a constant factor on the gradient, "
        "which shapes the optimizer step, not the expected gradient's direction"
    ),
}
_ACTOR_ONLY = (
    "read only from actor_train (pipeline/rlvr/rlvr_pipeline.py:362-366, "
    "pipeline/rlvr/actor_pg_worker.py:20-24, third_party/megatron/mtp_patcher.py)"
)
_TEACHER_ONLY = "read only for distillation teachers (utils/functionals.py:780-830, 1124)"
_ROLES = {
    "actor_infer": (
        "the rollout engine's model, engine, placement and batching: they do not change the "
        "sampling law beyond rounding"
    ),
    "reference": (
        "the reference worker's model, engine and placement: it computes the reference "
        "log-probabilities, whose KL is modelled"
    ),
    "critic": _CRITIC,
    "reward": (
        "the reward worker of ROLL's agentic pipelines: the RLVR pipeline scores answers with "
        "rewards.<domain> and reward_model"
    ),
    "teacher": (
        "the distillation teacher's model, engine and placement (use_opd / is_pure_opd, named "
        "on the card)"
    ),
    "student_train": (
        "used only by pure on-policy distillation (is_pure_opd, named on the card), which puts "
        "student_train in place of actor_train (configs/base_config.py:714-720)"
    ),
    "student_infer": (
        "used only by pure on-policy distillation (is_pure_opd, named on the card), which puts "
        "student_infer in place of actor_infer (configs/base_config.py:714-720)"
    ),
}
_ACTOR_WORKER = "roll.pipeline.rlvr.actor_worker.ActorWorker"
_PG_WORKER = {"actor_train.worker_cls": {"not": [None, _ACTOR_WORKER]}}

# actor_train: the policy's trainer
for _field, _effect in _COMMON.items():
    C.no_effect(_effect, f"actor_train.{_field}")
C.no_effect(DATA, "actor_train.data_args")
C.no_effect(
    "not read from actor_train: answers are sampled by actor_infer", "actor_train.generating_args"
)
C.no_effect(_TEACHER_ONLY, "actor_train.opd_kl_coef actor_train.tag_included")
C.unmodelled(
    "actor_train.worker_cls",
    "another actor worker class replaces the loss (e.g. pipeline/rlvr/actor_pg_worker.py's "
    "ActorPGWorker with pg_variant vanilla, ppo, tis, topr, cispo, ...)",
    [None, _ACTOR_WORKER],
)
C.unmodelled(
    "actor_train.pg_variant",
    "the policy-gradient loss of ActorPGWorker (actor_pg_worker.py:85-100)",
    only_with=_PG_WORKER,
)
C.unmodelled(
    "actor_train.topr_positive_weight actor_train.topr_negative_weight",
    "the weights of positive and negative samples in ActorPGWorker's TOPR loss "
    "(actor_pg_worker.py:275-320)",
    only_with=_PG_WORKER,
)
C.unmodelled(
    "actor_train.model_update_frequency",
    "pushes the trained weights to actor_infer only every N steps "
    "(pipeline/rlvr/rlvr_pipeline.py:362-366, distributed/executor/model_update_group.py:32): "
    "answers come from a policy up to N-1 updates old (off-policy)",
    1,
)
C.unmodelled(
    "actor_train.mtp_training_mode",
    "joint: the multi-token-prediction loss flows into the main model's update "
    "(third_party/megatron/mtp_patcher.py:83-131)",
    ["disabled", "standalone"],
)
C.unmodelled(
    "actor_train.router_replay.mode",
    "MoE models: the training forward pass replays the experts chosen at inference (R2: "
    "Megatron, R3: SGLang): the trained log-probabilities and ratios use the replayed routing",
    "disable",
)
C.unmodelled("actor_train.model_args.moe_aux_loss_coef", MOE_AUX, [None, 0, 0.0])
C.no_effect(
    PARTIAL_TRAINING,
    [
        f"actor_train.model_args.{f}"
        for f in "lora_target lora_rank lora_alpha lora_dropout additional_target "
        "freeze_module_prefix".split()
    ],
)
C.no_effect(
    PRECISION, ["actor_train.model_args.dtype", "actor_train.model_args.autocast_adapter_dtype"]
)
C.no_effect(
    PATHS,
    ["actor_train.model_args.model_name_or_path", "actor_train.model_args.adapter_name_or_path"],
)
C.no_effect(
    PLACEMENT,
    [
        f"actor_train.model_args.{f}"
        for f in "attn_implementation device_map disable_gradient_checkpointing "
        "gradient_checkpointing_use_reentrant ulysses_size".split()
    ],
)
C.no_effect(
    "the model's configuration (architecture overrides): what is trained, not the update rule",
    "actor_train.model_args.model_config_kwargs",
)
C.no_effect(
    "reward and value models only (classification heads)",
    "actor_train.model_args.model_type actor_train.model_args.num_labels",
)
_TRAINING = {
    OPTIMIZER: "learning_rate lr_scheduler_type weight_decay adam_beta1 adam_beta2 warmup_ratio "
    "warmup_steps",
    PRECISION: "bf16 fp16 tf32",
    SEED: "seed data_seed",
    PATHS: "output_dir save_hf_model",
    PLACEMENT: "dataloader_num_workers",
    DURATION: "max_steps num_train_epochs",
}
for _effect, _fields in _TRAINING.items():
    C.no_effect(_effect, [f"actor_train.training_args.{f}" for f in _fields.split()])
C.no_effect(_BATCHING, "actor_train.sequence_packing_args.*")

# the other workers: a role sentence for what does not act, the exceptions by name
for _worker in WORKERS[1:]:
    _role = _ROLES[_worker]
    for _field in (
        "data_args device_mapping generating_args strategy_args model_update_frequency "
        "mtp_training_mode pg_variant topr_positive_weight topr_negative_weight worker_cls "
        "opd_kl_coef tag_included".split()
        + list(_COMMON)
    ):
        key = f"{_worker}.{_field}"
        if _worker in ("actor_infer", "reference") and _field in (
            "model_update_frequency mtp_training_mode pg_variant topr_positive_weight "
            "topr_negative_weight".split()
        ):
            C.no_effect(_ACTOR_ONLY, key)
        elif _worker in ("actor_infer", "reference") and _field in ("opd_kl_coef", "tag_included"):
            C.no_effect(_TEACHER_ONLY, key)
        elif (_worker, _field) == ("actor_infer", "generating_args"):
            C.unmodelled(
                key,
                "the rollout engine's sampling settings: temperature, top_p and top_k are named "
                "on the card when set (its sub-keys); other sampling knobs (repetition "
                "penalty, ...) change the sampling law too",
                None,
            )
        elif (_worker, _field) == ("actor_infer", "worker_cls"):
            C.unmodelled(
                key,
                "a custom inference worker: how the answers are generated",
                [None, "roll.pipeline.base_worker.InferWorker"],
            )
        elif (_worker, _field) == ("reference", "worker_cls"):
            C.unmodelled(
                key,
                "a custom worker computes the reference log-probabilities of the KL",
                [None, _ACTOR_WORKER],
            )
        elif (_worker, _field) == ("teacher", "opd_kl_coef"):
            C.unmodelled(
                key,
                "the weight of this teacher's KL in the rewards (utils/functionals.py:1124; 1.0 "
                "when unset)",
                only_with={"use_opd": [True]},
            )
        elif (_worker, _field) == ("teacher", "tag_included"):
            C.unmodelled(
                key,
                "which prompts (by tag) this teacher distils (utils/functionals.py:780-830)",
                only_with={"use_opd": [True]},
            )
        else:
            C.no_effect(_role, key)
    for _section in ("model_args", "training_args", "sequence_packing_args", "router_replay"):
        _text = _role
        if _section == "training_args" and _worker in ("actor_infer", "reference", "teacher"):
            _text = (
                f"training arguments of {_worker}, which trains nothing: only actor_train's "
                "optimizer updates the policy"
            )
        C.no_effect(_text, f"{_worker}.{_section}.*")

ROLL = C.table()
