"""Write rlxform/frameworks/data/{slime,roll,areal}.json from the extracted releases here.

    python tests/data/frameworks/build_tables_trainers_b.py

The ``versions`` section (every key's default, the file's source) comes from
tests/data/frameworks/<trainer>/<version>.json (extract_trainers_b.py); ``classes``, ``effects``,
``neutral`` and ``only_with`` are written below by hand, from reading each trainer's code at the
named tag (file:line in the effects and in tests/data/trainers/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "frameworks"
TABLES = ROOT / "rlxform" / "frameworks" / "data"
DOC = json.loads((TABLES / "openrlhf.json").read_text())["doc"]

SLIME = {
    "classes": {
        "*": "no_effect",
        **dict.fromkeys(
            "advantage_estimator n_samples_per_prompt rewards_normalization grpo_std_normalization "
            "normalize_advantages rollout_batch_size global_batch_size num_steps_per_rollout "
            "eps_clip eps_clip_high use_kl_loss kl_loss_coef kl_loss_type kl_coef "
            "calculate_per_token_loss dynamic_sampling_filter_path rm_type custom_rm_path rm_url "
            "rollout_max_response_len".split(),
            "modelled",
        ),
        **dict.fromkeys(
            "gamma entropy_coef eps_clip_c use_tis tis_clip tis_clip_low custom_tis_function_path "
            "use_rollout_logprobs partial_rollout mask_offpolicy_in_partial_rollout "
            "custom_advantage_function_path custom_loss_function_path loss_type "
            "custom_pg_loss_reducer_function_path custom_reward_post_process_path "
            "custom_convert_samples_to_train_data_path rollout_sample_filter_path "
            "buffer_filter_path rollout_all_samples_process_path rollout_data_postprocess_path "
            "custom_generate_function_path rollout_function_path rollout_temperature "
            "rollout_top_p rollout_top_k use_opd opd_kl_coef opd_type use_opsm opsm_delta "
            "use_unbiased_kl ref_update_interval keep_old_actor group_rm reward_key "
            "compute_advantages_and_returns freeze_params_name_list only_train_params_name_list "
            "enable_mtp_training mtp_loss_scaling_factor custom_config_path".split(),
            "unmodelled",
        ),
    },
    "effects": {
        "*": "engines, parallelism, paths, logging, evaluation, debugging or optimizer settings",
        "gamma": "discounts the returns of reinforce_plus_plus over tokens (ppo_utils.py:371-440)",
        "entropy_coef": "adds an entropy term to the loss (loss.py:1046-1050)",
        "eps_clip_c": "dual clip of negative-advantage ratios (acts once the ratio leaves 1)",
        "use_tis": "truncated importance weights of trainer/rollout log-probs on every token",
        "tis_clip": "the cap of the truncated importance weights",
        "tis_clip_low": "the floor of the truncated importance weights",
        "custom_tis_function_path": "a custom importance-sampling correction",
        "use_rollout_logprobs": "the old log-probs come from the rollout engine: the ratio "
        "differs from 1 already on the first update",
        "partial_rollout": "continues unfinished generations of older policies (off-policy)",
        "mask_offpolicy_in_partial_rollout": "masks the older policy's tokens of partial rollouts",
        "custom_advantage_function_path": "replaces the advantage computation",
        "custom_loss_function_path": "replaces the loss",
        "loss_type": "sft_loss or custom_loss replaces the policy loss",
        "custom_pg_loss_reducer_function_path": "replaces the per-sample token mean",
        "custom_reward_post_process_path": "replaces the group normalisation of rewards",
        "custom_convert_samples_to_train_data_path": "replaces the reward post-processing",
        "rollout_sample_filter_path": "drops samples by a custom rule",
        "buffer_filter_path": "chooses which buffered samples train",
        "rollout_all_samples_process_path": "post-processes all samples by a custom rule",
        "rollout_data_postprocess_path": "post-processes the rollout data by a custom rule",
        "custom_generate_function_path": "a custom generation (multi-turn, tools): the answers "
        "are not plain samples of the policy",
        "rollout_function_path": "a custom rollout function: how answers and rewards are made",
        "rollout_temperature": "sampling temperature: answers are not samples of the policy",
        "rollout_top_p": "nucleus sampling: answers are not samples of the policy",
        "rollout_top_k": "top-k sampling: answers are not samples of the policy",
        "use_opd": "on-policy distillation: a teacher KL added to the advantages",
        "opd_kl_coef": "the weight of the distillation KL",
        "opd_type": "where the distillation teacher runs",
        "use_opsm": "off-policy sequence masking of the loss",
        "opsm_delta": "the threshold of off-policy sequence masking",
        "use_unbiased_kl": "weights the KL loss by the importance ratio",
        "ref_update_interval": "moves the reference model to the actor every N rollouts",
        "keep_old_actor": "keeps a separate old actor for the ratio",
        "group_rm": "scores a group's answers together",
        "reward_key": "picks one field of a dict-valued reward",
        "compute_advantages_and_returns": "disabling it trains on no advantages",
        "freeze_params_name_list": "freezes parameters: the update is projected",
        "only_train_params_name_list": "trains only some parameters: the update is projected",
        "enable_mtp_training": "adds a multi-token-prediction loss",
        "mtp_loss_scaling_factor": "the weight of the multi-token-prediction loss",
        "custom_config_path": "a YAML that overrides any flag at start-up",
    },
    "neutral": {
        "gamma": 1.0,
        "entropy_coef": 0.0,
        "eps_clip_c": None,
        "use_tis": False,
        "custom_tis_function_path": None,
        "use_rollout_logprobs": False,
        "partial_rollout": False,
        "custom_advantage_function_path": None,
        "custom_loss_function_path": None,
        "loss_type": "policy_loss",
        "custom_pg_loss_reducer_function_path": None,
        "custom_reward_post_process_path": None,
        "custom_convert_samples_to_train_data_path": None,
        "rollout_sample_filter_path": None,
        "buffer_filter_path": None,
        "rollout_all_samples_process_path": None,
        "rollout_data_postprocess_path": None,
        "custom_generate_function_path": None,
        "rollout_function_path": "slime.rollout.sglang_rollout.generate_rollout",
        "rollout_temperature": 1.0,
        "rollout_top_p": 1.0,
        "rollout_top_k": -1,
        "use_opd": False,
        "use_opsm": False,
        "use_unbiased_kl": False,
        "ref_update_interval": None,
        "keep_old_actor": False,
        "group_rm": False,
        "reward_key": None,
        "compute_advantages_and_returns": True,
        "freeze_params_name_list": None,
        "only_train_params_name_list": None,
        "enable_mtp_training": False,
        "custom_config_path": None,
    },
    "only_with": {
        "tis_clip": {"use_tis": [True]},
        "tis_clip_low": {"use_tis": [True]},
        "mask_offpolicy_in_partial_rollout": {"partial_rollout": [True]},
        "opd_kl_coef": {"use_opd": [True]},
        "opd_type": {"use_opd": [True]},
        "opsm_delta": {"use_opsm": [True]},
        "mtp_loss_scaling_factor": {"enable_mtp_training": [True]},
        "gamma": {"advantage_estimator": ["reinforce_plus_plus", "ppo"]},
    },
}

_ROLL_MODELLED = (
    "adv_estimator num_return_sequences_in_group norm_mean_type norm_std_type whiten_advantages "
    "reward_clip advantage_clip difficulty_mask difficulty_low_threshold "
    "difficulty_high_threshold rollout_batch_size ppo_epochs loss_agg_mode pg_clip pg_clip_low "
    "pg_clip_high use_pg_clip_range use_kl_loss kl_loss_coef add_token_level_kl init_kl_coef "
    "kl_penalty rewards response_length actor_train.device_mapping "
    "actor_train.strategy_args actor_train.training_args.per_device_train_batch_size "
    "actor_train.training_args.gradient_accumulation_steps"
).split()
_ROLL_UNMODELLED = {
    "gamma": (
        1,
        "discounts the return over tokens (functionals.py:488-500): long answers' "
        "early tokens get less",
    ),
    "whiten_rewards": (
        False,
        "whitens the token rewards (zero except the last token) before the return",
    ),
    "max_len_mask": (
        False,
        "answers that hit the length limit get advantage 0 and leave the "
        "statistics: a length-dependent filter",
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
}
ROLL = {
    "classes": {
        "*": "no_effect",
        **dict.fromkeys(_ROLL_MODELLED, "modelled"),
        **dict.fromkeys(_ROLL_UNMODELLED, "unmodelled"),
        "kl_horizon": "unmodelled",
        "target_kl": "unmodelled",
        "use_topr_neg_loss_coef": "unmodelled",
        "error_max_len_threshold": "unmodelled",
        "train_infer_correction.is_weight.*": "unmodelled",
        "dataset_filter.*": "unmodelled",
    },
    "effects": {
        "*": "engines, parallelism, paths, logging, evaluation, the critic or optimizer settings",
        **{k: v[1] for k, v in _ROLL_UNMODELLED.items()},
        "kl_horizon": "adapts the KL coefficient of the reward",
        "target_kl": "adapts the KL coefficient of the reward towards a target",
        "use_topr_neg_loss_coef": "the weight of TOPR's negative samples",
        "error_max_len_threshold": "the length past which wrong answers are masked",
        "train_infer_correction.is_weight.*": "the importance weights' bound and kind",
        "dataset_filter.*": "drops prompts by difficulty before sampling: changes the "
        "population of prompts, not the update of one prompt",
    },
    "neutral": {
        **{k: v[0] for k, v in _ROLL_UNMODELLED.items()},
        "target_kl": None,
        "dataset_filter.*": [None, 0],
    },
    "only_with": {
        "kl_horizon": {"target_kl": {"not": [None]}},
        "use_topr_neg_loss_coef": {"use_topr_loss": [True]},
        "error_max_len_threshold": {"error_max_len_clip": [True]},
        "train_infer_correction.is_weight.*": {"train_infer_correction.is_weight.enabled": [True]},
        "gamma": {"adv_estimator": ["reinforce", "grpo", "gae"]},
    },
}

_AREAL_UNMODELLED = {
    "actor.discount": (
        1.0,
        "discounts the return over tokens: early tokens of long answers get less",
    ),
    "actor.gae_lambda": (1.0, "GAE lambda with a critic"),
    "actor.c_clip": (None, "dual clip of negative-advantage ratios (acts once the ratio leaves 1)"),
    "actor.m2_threshold": (None, "M2PO: masks tokens by the second moment of the log-ratio"),
    "actor.use_decoupled_loss": (
        False,
        "the decoupled loss of asynchronous AReaL: a proximal "
        "policy between behaviour and current policy, importance-"
        "weighted (off-policy answers on the first update)",
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
        "asynchronous rollouts: answers from policies up to "
        "N versions old (off-policy on the first update)",
    ),
    "actor.recompute_logprob": (
        True,
        "false: the old log-probs are the inference engine's, "
        "so the ratio differs from 1 already on the first update "
        "(actor.py:176-196)",
    ),
    "dynamic_bs": (False, "drops rejected trajectories and trains on a smaller batch"),
    "teacher": (None, "on-policy distillation from a teacher"),
    "critic": (None, "a critic for GAE"),
}
AREAL = {
    "classes": {
        "*": "no_effect",
        **dict.fromkeys(
            "gconfig.n_samples actor.reward_norm actor.reward_norm.* actor.adv_norm "
            "actor.adv_norm.* actor.reward_scaling actor.reward_bias actor.reward_clip "
            "actor.ppo_n_minibatches actor.eps_clip actor.eps_clip_higher actor.kl_ctl "
            "actor.kl_estimator train_dataset.batch_size gconfig.max_new_tokens ref".split(),
            "modelled",
        ),
        **dict.fromkeys(_AREAL_UNMODELLED, "unmodelled"),
        "actor.sapo_*": "unmodelled",
        "actor.overlong_tokens": "unmodelled",
        "actor.overlong_penalty_factor": "unmodelled",
        "actor.prox_logp_method": "unmodelled",
        "rollout.*": "no_effect",
    },
    "effects": {
        "*": "engines, parallelism, paths, logging, evaluation or optimizer settings",
        **{k: v[1] for k, v in _AREAL_UNMODELLED.items()},
        "actor.sapo_*": "SAPO's temperatures",
        "actor.overlong_tokens": "the tail length of the overlong penalty",
        "actor.overlong_penalty_factor": "the size of the overlong penalty",
        "actor.prox_logp_method": "how the decoupled loss's proximal policy is computed",
        "rollout.*": "the inference engine's settings",
    },
    "neutral": {k: v[0] for k, v in _AREAL_UNMODELLED.items()},
    "only_with": {
        "actor.sapo_*": {"actor.use_sapo_loss": [True]},
        "actor.overlong_tokens": {"actor.overlong_reward_penalty": [True]},
        "actor.overlong_penalty_factor": {"actor.overlong_reward_penalty": [True]},
        "actor.prox_logp_method": {"actor.use_decoupled_loss": [True]},
        "actor.rejection_sampling": {"actor.use_decoupled_loss": [True]},
        "actor.recompute_logprob": {"actor.use_decoupled_loss": [False]},
    },
}
AREAL["classes"]["rollout.max_head_offpolicyness"] = "unmodelled"

HAND = {"slime": SLIME, "roll": ROLL, "areal": AREAL}


def build(name: str) -> dict:
    versions = {}
    for path in sorted((DATA / name).glob("*.json")):
        release = json.loads(path.read_text())
        versions[release["version"]] = {
            "source": f"{release['source']} ({release['commit']}); extracted file "
            f"tests/data/frameworks/{name}/{path.name}",
            "defaults": {k: e["default"] for k, e in release["keys"].items()},
            "renamed": {},
            "removed": [],
            "rules": {},
        }
    hand = HAND[name]
    return {
        "framework": name,
        "doc": DOC,
        "latest": list(versions)[-1],
        "classes": hand["classes"],
        "effects": hand["effects"],
        "neutral": hand["neutral"],
        "only_with": hand["only_with"],
        "versions": versions,
    }


if __name__ == "__main__":
    for trainer in HAND:
        out = TABLES / f"{trainer}.json"
        out.write_text(json.dumps(build(trainer), indent=1) + "\n")
        print(out)
