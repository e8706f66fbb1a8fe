"""TRL's GRPOTrainer: its advantage rule, ``GRPOConfig`` reader and record.

Keys are ``GRPOConfig`` fields (and the ``TrainingArguments`` it inherits): from a JSON or YAML
file (open-r1 recipes), the flags of ``accelerate launch script.py`` / ``trl grpo``, or a
``GRPOConfig(...)`` call in a Python file. TRL has one advantage rule; ``scale_rewards`` names
it. Updates per generation batch: steps_per_generation * num_iterations /
gradient_accumulation_steps. Version rules (which keys exist, their defaults) come from the
version table; behaviour of releases without a key is written here with its source line.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.core import schemes as sch
from rlxform.frameworks.advantages import reject_unused
from rlxform.frameworks.common import RunConfig, Settings, std_fields
from rlxform.frameworks.losses import LossReading, read_settings, reduce_run, reduced_factor
from rlxform.frameworks.record import Framework, Normaliser
from rlxform.frameworks.schemes import batch_scheme
from rlxform.frameworks.tables import version_key
from rlxform.types import NDArray
from rlxform.validation import InputError

TRL_SCALE_REWARDS = ("group", "batch", "none")
TRL_STD_EPSILON = 1e-4  # GRPOTrainer: advantages / (std + 1e-4), not configurable
# open-r1 reward functions (open_r1/rewards.py get_reward_funcs) and the values they take
OPEN_R1_BINARY = {"accuracy", "format", "binary_code", "code_format"}
OPEN_R1_REAL = {
    "tag_count": "0, 0.25, 0.5, 0.75 or 1 (a quarter per tag)",
    "reasoning_steps": "min(1, steps / 3)",
    "cosine": "a cosine schedule of the length, in [-1, 1]",
    "repetition_penalty": "a penalty in [max_penalty, 0] for repeated n-grams",
    "length": "a length-based score in [-0.5, 0.5]",
    "code": "the fraction of test cases passed",
    "ioi_code": "the fraction of the subtask score obtained",
    "cf_code": "a weighted fraction of test cases passed",
    "soft_overlong_punishment": "a penalty in [-1, 0] for answers near the length limit",
}


# keys of TRL's ModelConfig and ScriptArguments (trl/trainer/model_config.py,
# trl/scripts/utils.py) and open-r1's GRPOScriptArguments (src/open_r1/configs.py): they choose
# the model and the data, not the update
SCRIPT_KEYS = frozenset(
    "model_name_or_path model_revision torch_dtype dtype attn_implementation trust_remote_code "
    "use_peft lora_r lora_alpha lora_dropout lora_target_modules lora_modules_to_save "
    "lora_task_type use_rslora use_dora load_in_8bit load_in_4bit bnb_4bit_quant_type "
    "use_bnb_nested_quant dataset_name dataset_config dataset_train_split dataset_test_split "
    "dataset_streaming gradient_checkpointing_use_reentrant ignore_bias_buffers "
    "dataset_prompt_column dataset_mixture system_prompt reward_funcs cosine_min_value_wrong "
    "cosine_max_value_wrong cosine_min_value_correct cosine_max_value_correct cosine_max_len "
    "repetition_n_grams repetition_max_penalty code_language code_eval_test_batch_size "
    "code_eval_scoring_mode code_provider enforce_same_language max_completion_len "
    "soft_punish_cache parallel_code_exec_per_proc e2b_router_url morph_router_url "
    "chat_template benchmarks callbacks hub_model_revision overwrite_hub_revision "
    "push_to_hub_revision wandb_entity wandb_project wandb_run_group".split()
)


def normalise_scale_rewards(scale_rewards: Any) -> str:
    """TRL's ``scale_rewards``: True -> "group", False -> "none" (GRPOConfig.__post_init__)."""
    if scale_rewards is True:
        return "group"
    if scale_rewards is False:
        return "none"
    if scale_rewards not in TRL_SCALE_REWARDS:
        raise InputError(
            f"scale_rewards={scale_rewards!r} is invalid: must be one of group, batch, none, "
            "True (= group), False (= none)"
        )
    return scale_rewards


def from_trl(
    scale_rewards: str | bool = "group", *, batch_std: float | None = None, **unused: Any
) -> sch.Scheme:
    """TRL 1.16.0 GRPOTrainer: A = r - group mean, divided per ``scale_rewards``.

    "group" (or True): / (std_Bessel of the group + 1e-4); "none" (or False): no division;
    "batch": / (std_Bessel of all rewards in the generation batch + 1e-4), not a per-group rule:
    pass ``batch_std`` = sigma (see ``batch_std_limit``) for its large-batch limit, the mean
    baseline over (sigma + 1e-4). The 1e-4 is hard-coded in TRL (GRPOConfig.epsilon is the clip).
    """
    if "epsilon" in unused:
        raise InputError(
            f"epsilon={unused['epsilon']!r} is invalid: TRL's std epsilon is hard-coded to 1e-4 "
            "(GRPOConfig.epsilon is the PPO clip range, which does not change the scheme)"
        )
    reject_unused("trl", unused, "scale_rewards, batch_std")
    scale = normalise_scale_rewards(scale_rewards)
    if scale == "none":
        return sch.mean_baseline()
    if scale == "group":
        return sch.grpo(std="sample", eps=TRL_STD_EPSILON)
    return batch_scheme("trl", "batch", batch_std, "scale_rewards='batch'")


def trl_advantages(estimator: Any, g: NDArray, lengths: NDArray, get) -> NDArray:
    """TRL 1.16.0 GRPOTrainer: (r - group mean) / (std + 1e-4) per ``scale_rewards``."""
    scale = normalise_scale_rewards(estimator)
    centred = g - g.mean(1, keepdims=True)
    if scale == "none":
        return centred
    if scale == "group":
        std = g.std(1, ddof=1, keepdims=True) if g.shape[1] > 1 else np.zeros((g.shape[0], 1))
    else:
        std = np.full((g.shape[0], 1), g.std(ddof=1) if g.size > 1 else 0.0)
    return centred / (std + TRL_STD_EPSILON)


# ---- the config reader ---------------------------------------------------------------------


def aggregation_of(s: Settings) -> tuple[str, str | None]:
    """``loss_type`` or, in releases without it, the rule the trainer hard-codes (and a note)."""
    if s.table.has("loss_type") or s.is_set("loss_type"):
        return s.str("loss_type", "dapo"), None
    old = version_key(s.table.version) < version_key("0.16")
    rule, name = ("per-sequence token mean", "grpo") if old else ("local-batch token mean", "bnpo")
    return name, (
        f"{s.table.label} has no loss_type: its loss is the {rule} (as loss_type {name}; "
        "trl/trainer/grpo_trainer.py compute_loss)"
    )


def read_trl(s: Settings) -> RunConfig:
    """TRL ``GRPOConfig`` fields (TRL has one estimator; ``scale_rewards`` names it)."""
    raw_scale = s.get("scale_rewards", "group")
    try:
        scale = normalise_scale_rewards(raw_scale)
    except ValueError:
        raise InputError(
            f"scale_rewards={raw_scale!r} is invalid: must be one of group, batch, none, true, "
            "false"
        ) from None
    group_size = s.int("num_generations", 8)
    loss_type, note = aggregation_of(s)
    beta = s.float("beta", 0.0)
    eps = s.float("epsilon", 0.2)
    eps_high = s.float("epsilon_high", None)
    gas = s.int("gradient_accumulation_steps", 1)
    pitfalls = [note] if note else []
    spg = steps_per_generation(s, pitfalls)
    updates = spg * s.int("num_iterations", 1) / gas
    if isinstance(raw_scale, bool):
        pitfalls.append(
            f"scale_rewards={raw_scale} is the boolean form: True means 'group' (divide by each "
            "group's std), False means 'none' (no std)"
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
    corrected = beta > 0 and s.bool("use_bias_correction_kl", False)
    if corrected:
        pitfalls.append(
            "beta > 0: TRL adds beta * k3 to the loss, multiplied by the importance ratio "
            f"(use_bias_correction_kl is on in {s.table.label}): k3_ratio"
        )
    loss = trl_loss(s, loss_type)
    return RunConfig(
        framework="trl",
        version=s.table.label,
        estimator=scale,
        group_size=group_size,
        **std_fields(scale != "none", TRL_STD_EPSILON, scale),
        aggregation=loss_type,
        updates_per_rollout=int(updates) if float(updates).is_integer() else updates,
        clip_low=eps,
        clip_high=eps_high or eps,  # TRL: epsilon_high or epsilon
        kl_placement="loss" if beta > 0 else "none",
        kl_estimator=("k3_ratio" if corrected else "k3") if beta > 0 else None,
        kl_coef=beta,
        dynamic_sampling=False,
        pitfalls=tuple(pitfalls),
        max_length=s.int("max_completion_length", 256),
        loss=loss,
    )


TRL_LOSS_KEYS = {  # the reducer's settings: GRPOConfig fields of the same names
    name: name
    for name in (
        "importance_sampling_level",
        "epsilon",
        "epsilon_high",
        "delta",
        "sapo_temperature_pos",
        "sapo_temperature_neg",
        "vespo_k_pos",
        "vespo_lambda_pos",
        "vespo_k_neg",
        "vespo_lambda_neg",
        "max_completion_length",
        "beta",
        "use_bias_correction_kl",
        "use_vllm",
        "vllm_importance_sampling_correction",
        "vllm_importance_sampling_mode",
        "vllm_importance_sampling_clip_max",  # vllm_importance_sampling_cap up to 1.5
        "vllm_importance_sampling_clip_min",
        "off_policy_mask_threshold",
        "top_entropy_quantile",
    )
}


def trl_loss(s: Settings, loss_type: str) -> LossReading:
    """``loss_type`` (or the loss a release without it hard-codes) and its settings, reduced at
    the run's TRL release."""
    version = s.table.version
    settings, keys = read_settings(s, "trl", version, TRL_LOSS_KEYS)
    key = "loss_type" if s.table.has("loss_type") or s.is_set("loss_type") else ""
    return reduce_run("trl", version, key, loss_type, settings, keys, s.table.label)


def steps_per_generation(s: Settings, pitfalls: list[str]) -> int:
    """steps_per_generation, or what it defaults to (grpo_config.py __post_init__)."""
    gas = s.int("gradient_accumulation_steps", 1)
    spg = s.get("steps_per_generation", None)
    if spg is not None:
        return s.int("steps_per_generation", 1)
    gen_batch = s.get("generation_batch_size", None)
    if gen_batch is None:
        return gas
    per_device = s.int("per_device_train_batch_size", 8)
    pitfalls.append(
        "generation_batch_size is set: steps_per_generation = generation_batch_size / "
        "(per_device_train_batch_size * processes) depends on the number of processes; "
        "1 process assumed"
    )
    return max(1, s.int("generation_batch_size", 1) // per_device)


def active_defaults(s: Settings) -> list[dict[str, Any]]:
    """Not-modelled entries whose default acts: the vLLM correction under use_vllm."""
    entry = vllm_correction(s)
    return [entry] if entry else []


def vllm_correction(s: Settings) -> dict[str, Any] | None:
    """The vLLM importance-sampling correction when it acts (use_vllm and the correction on,
    TRL's default from the release that has it), as a not-modelled entry; else None."""
    if s.get("use_vllm", False) is not True or not s.table.has(
        "vllm_importance_sampling_correction"
    ):
        return None
    if s.get("vllm_importance_sampling_correction") is not True:
        return None
    mode = s.get("vllm_importance_sampling_mode", "token_truncate")
    high = s.get("vllm_importance_sampling_clip_max", 2.0)  # _cap up to 1.5 (renamed in 1.6)
    low = s.get("vllm_importance_sampling_clip_min", None)
    bounds = f"cap {high}" if low is None else f"bounds [{low}, {high}]"
    default = "" if s.is_set("vllm_importance_sampling_correction") else " (on by default)"
    return {
        "key": "vllm_importance_sampling_correction",
        "value": True,
        "effect": (
            f"use_vllm with the vLLM importance-sampling correction{default}: mode {mode}, "
            f"{bounds}: tokens or whole sequences are reweighted or dropped by the ratio of "
            "trainer to vLLM probabilities, already on the first update; a sequence mask drops "
            "long answers more often"
        ),
    }


def trl_rewards(s: Settings, extra: Any = None) -> tuple[bool | None, str]:
    """binary True / False / None from the reward functions (a Python script's trainer call,
    or open-r1's ``reward_funcs`` / ``reward_weights`` keys)."""
    listed_weights = s.get("reward_weights", None)
    names = list(getattr(extra, "names", ()) or ())
    count = getattr(extra, "count", None) if extra is not None else None
    weights = getattr(extra, "weights", None) if extra is not None else None
    listed = s.get("reward_funcs", None)
    if not names and isinstance(listed, (list, tuple)):
        names, count = [str(n) for n in listed], len(listed)
    elif not names and isinstance(listed, str):
        names, count = [listed], 1
    if weights is None and isinstance(listed_weights, (list, tuple)):
        weights = tuple(listed_weights)
    if extra is not None and count is None:
        return None, "the reward functions are built at run time: " + str(extra.unresolved)
    if not names:
        return None, (
            "the reward functions are given to GRPOTrainer(reward_funcs=...), not in this config"
        )
    active = [n for k, n in enumerate(names) if weights is None or k >= len(weights) or weights[k]]
    shown = ", ".join(names) + (f" with weights {list(weights)}" if weights else "")
    if len(active) > 1:
        return False, f"{len(active)} reward functions summed ({shown})"
    name = active[0] if active else names[0]
    bare = name.strip("'\"")
    if bare != name or "/" in bare:
        return False, f"reward_funcs={name}: a reward model scores the answers (real-valued)"
    key = bare.removesuffix("_reward")
    if key in OPEN_R1_BINARY:
        scale = f" times {weights[0]:g}" if weights and weights[0] != 1 else ""
        return True, f"one 0/1 reward function ({bare}{scale})"
    if key in OPEN_R1_REAL:
        return False, f"reward function {bare} scores {OPEN_R1_REAL[key]}"
    return None, f"reward function {bare}: a custom function of unknown range"


def trl_normaliser(s: Settings, run: RunConfig) -> Normaliser:
    """Answers per token-mean normaliser: bnpo the device's micro-batch, dapo / cispo / vespo
    the generation batch (one process assumed), grpo / sapo 1/L, dr_grpo 1/L_max."""
    agg = run.aggregation
    per_device = s.int("per_device_train_batch_size", 8)
    reduced = reduced_factor(run)
    if reduced is not None and reduced[0] != "token-mean":
        return Normaliser(reduced[0], None, reduced[1])
    if agg in ("grpo", "sapo"):
        return Normaliser("1/L", None, f"loss_type={agg}: each answer's tokens are averaged")
    if agg == "dr_grpo":
        return Normaliser("1/L_max", None, "loss_type=dr_grpo: divided by max_completion_length")
    if agg == "bnpo":
        return Normaliser(
            "token-mean",
            float(per_device),
            "the tokens of one device's micro-batch, per_device_train_batch_size answers "
            "(trl/trainer/grpo_trainer.py:3158-3162 in 1.16.0)",
        )
    if agg in ("dapo", "cispo", "vespo"):
        spg = steps_per_generation(s, [])
        return Normaliser(
            "token-mean",
            float(per_device * spg),
            "the tokens of the whole generation batch, per_device_train_batch_size x "
            "steps_per_generation answers on one process (trl/trainer/grpo_trainer.py:2498 "
            "gathers them, :3168-3173 divides by them in 1.16.0)",
        )
    return Normaliser("1", None, f"loss_type={agg}: token sums per answer")


RECORD = Framework(
    name="trl",
    title="TRL",
    data="trl",
    programs=("trl grpo", "trl.scripts.grpo"),
    markers=(
        "num_generations",
        "scale_rewards",
        "loss_type",
        "beta",
        "epsilon_high",
        "steps_per_generation",
        "num_iterations",
        "per_device_train_batch_size",
        "reward_funcs",
    ),
    arguments="argparse",
    read=read_trl,
    rewards=trl_rewards,
    normaliser=trl_normaliser,
    estimators=TRL_SCALE_REWARDS,
    estimator_key="scale_rewards",
    default_estimator="group",
    advantage=trl_advantages,
    advantage_keys={},
    scheme=from_trl,
    scheme_names=tuple(f"trl:{s}" for s in TRL_SCALE_REWARDS if s != "batch"),
    imports=("trl",),
    active=active_defaults,
    script_keys=SCRIPT_KEYS,
)
