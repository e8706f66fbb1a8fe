"""TRL's GRPOTrainer: its ``GRPOConfig`` reader and record (the rule is ``frameworks.trl_rule``).

Keys are ``GRPOConfig`` fields (and the ``TrainingArguments`` it inherits): from a JSON or YAML
file (open-r1 recipes), the flags of ``accelerate launch script.py`` / ``trl grpo``, or a
``GRPOConfig(...)`` call in a Python file. TRL has one advantage rule; ``scale_rewards`` names
it. Updates per generation batch: steps_per_generation * num_iterations /
gradient_accumulation_steps. Version rules (which keys exist, their defaults) come from the
version table; behaviour of releases without a key is written here with its source line.
"""

from __future__ import annotations

from typing import Any

from rlxform.core.filters import VLLM_MODES
from rlxform.frameworks.common import Clip, KLTerm, RunConfig, Settings, StdNorm
from rlxform.frameworks.losses import LossReading, read_settings, reduce_run, reduced_factor
from rlxform.frameworks.record import Framework, Normaliser
from rlxform.frameworks.tables import version_key
from rlxform.frameworks.trl_procs import Processes, launch_processes
from rlxform.frameworks.trl_rule import (
    RULE,
    TRL_STD_EPSILON,
    check_loss_type,
    read_scale_rewards,
)
from rlxform.validation import check_float

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
    "push_to_hub_revision wandb_entity wandb_project wandb_run_group "
    # accelerate launch's flags, which `trl grpo` passes on (trl/cli/commands/training.py:60-71)
    "accelerate_config num_processes num_machines multi_gpu machine_rank main_process_ip "
    "main_process_port gpu_ids".split()
)


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


def read_trl_grpo(s: Settings) -> RunConfig:
    """TRL's reader, refusing a loss_type its release does not have (Unsloth reads its own)."""
    check_loss_type(s)
    return read_trl(s)


def read_trl(s: Settings) -> RunConfig:
    """TRL ``GRPOConfig`` fields (TRL has one estimator; ``scale_rewards`` names it)."""
    raw_scale, scale = read_scale_rewards(s)
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
            "generation batch, every process's rewards gathered (trl/trainer/grpo_trainer.py:1681, "
            ":2774-2777 in 1.16.0): the step size depends on the other prompts"
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
    procs = processes(s)
    if loss_type in GATHERED and procs.launched and procs.count is None:
        pitfalls.append(
            f"loss_type={loss_type} divides by the completion tokens of the generation batch "
            "gathered over all processes (trl/trainer/grpo_trainer.py:2498, :3168-3173 in "
            "1.16.0), so one normaliser spans every process's answers; the process count is "
            f"not determined here ({procs.why}): the card assumes 1 process"
        )
    loss = trl_loss(s, loss_type)
    return RunConfig(
        estimator=scale,
        group_size=group_size,
        std=StdNorm.of(scale != "none", TRL_STD_EPSILON, scale),
        aggregation=loss_type,
        updates_per_rollout=int(updates) if float(updates).is_integer() else updates,
        clip=Clip(eps, eps_high or eps),  # TRL: epsilon_high or epsilon
        kl=KLTerm("loss", "k3_ratio" if corrected else "k3", beta) if beta > 0 else KLTerm(),
        dynamic_sampling=False,
        pitfalls=tuple(pitfalls),
        max_length=s.int("max_completion_length", 256),
        **trl_filters(s, loss_type, pitfalls),
        loss=loss,
        **trl_entropy(s),
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


def trl_entropy(s: Settings) -> dict[str, Any]:
    """RunConfig's entropy fields (TRL >= 1.10; older releases: not modelled): ``entropy_coef``
    times the token mean of the per-token entropies over one micro-batch, whatever loss_type;
    the adaptive controller's settings when ``use_adaptive_entropy``."""
    if version_key(s.table.version) < version_key("1.10"):
        return {}
    coef = check_float("entropy_coef", s.get("entropy_coef", 0.0))
    where = (
        "the completion tokens of one micro-batch (per_device_train_batch_size completions), "
        "whatever loss_type: (entropies * mask).sum() / mask.sum() / accumulation steps, then "
        "loss - entropy_coef * entropy_loss (trl/trainer/grpo_trainer.py:3186-3210 in 1.16.0)"
    )
    if s.float("top_entropy_quantile", 1.0) < 1.0:
        where += "; with top_entropy_quantile < 1 only the high-entropy tokens count"
    adaptive = None
    if s.bool("use_adaptive_entropy", False):
        names = ("entropy_target", "entropy_coef_delta", "entropy_coef_min", "entropy_coef_max")
        adaptive = {name: check_float(name, s.get(name)) for name in names}
    return {
        "entropy_coef": coef,
        "entropy_aggregation": "token-mean",
        "entropy_normaliser": where,
        "entropy_adaptive": adaptive,
    }


GATHERED = ("dapo", "cispo", "vespo")  # normalised by num_items_in_batch, over all processes


def processes(s: Settings) -> Processes:
    """The process count of the run's launch command (``trl_procs``)."""
    return launch_processes(getattr(s, "found", None))


def steps_per_generation(s: Settings, pitfalls: list[str]) -> int:
    """steps_per_generation, or what it defaults to: generation_batch_size / (per-device batch
    x processes) (grpo_config.py:1101-1110 in 1.16.0)."""
    gas = s.int("gradient_accumulation_steps", 1)
    spg = s.get("steps_per_generation", None)
    if spg is not None:
        return s.int("steps_per_generation", 1)
    gen_batch = s.get("generation_batch_size", None)
    if gen_batch is None:
        return gas
    per_device = s.int("per_device_train_batch_size", 8)
    procs = processes(s)
    if procs.count is None:
        pitfalls.append(
            "generation_batch_size is set: steps_per_generation = generation_batch_size / "
            "(per_device_train_batch_size * processes) depends on the number of processes "
            f"({procs.why}); 1 process assumed"
        )
    return max(1, s.int("generation_batch_size", 1) // (per_device * (procs.count or 1)))


def _has(s: Settings, key: str) -> bool:
    return s.table.has(key) or s.is_set(key)


def vllm_correction(s: Settings) -> tuple[str, float | None, float | None] | None:
    """(mode, cap, clip_min) of the vLLM importance-sampling correction when it acts (use_vllm
    and the correction on: TRL's default from 0.23), else None. Releases without a mode key
    truncate per token at vllm_importance_sampling_cap (0.23-0.25: grpo_trainer.py:1390 in
    0.23.1); from 1.6 the cap is vllm_importance_sampling_clip_max, the old key a deprecated
    alias copied into it (grpo_config.py:1150 in 1.16.0)."""
    key = "vllm_importance_sampling_correction"
    if s.get("use_vllm", False) is not True or not s.table.has(key) or s.get(key) is not True:
        return None
    mode = "token_truncate"
    if _has(s, "vllm_importance_sampling_mode"):
        mode = s.str("vllm_importance_sampling_mode", None, VLLM_MODES)
    cap_min = None
    if _has(s, "vllm_importance_sampling_clip_max"):
        cap = s.float("vllm_importance_sampling_clip_max", None)
        cap_min = s.float("vllm_importance_sampling_clip_min", None)
        if (
            s.is_set("vllm_importance_sampling_cap")
            and s.values["vllm_importance_sampling_cap"] is not None
        ):
            cap = s.float("vllm_importance_sampling_cap")
    else:
        cap = s.float("vllm_importance_sampling_cap", 2.0)
    return mode, cap, cap_min


def trl_filters(s: Settings, loss_type: str, pitfalls: list[str]) -> dict[str, Any]:
    """RunConfig's filter fields: the vLLM correction when it acts, mask_truncated_completions,
    top_entropy_quantile below 1 (trl/trainer/grpo_trainer.py:2487-2498, :3049-3052 in 1.16.0)."""
    out: dict[str, Any] = {}
    vllm = vllm_correction(s)
    if vllm is not None:
        out.update(vllm_is_mode=vllm[0], vllm_is_cap=vllm[1], vllm_is_cap_min=vllm[2])
        if loss_type == "vespo":
            pitfalls.append(
                "loss_type='vespo' folds the vLLM importance ratio into its own weight instead "
                "of multiplying the loss by it (grpo_trainer.py:3001-3004 in 1.16.0)"
            )
    if _has(s, "mask_truncated_completions"):
        out["mask_truncated"] = s.bool("mask_truncated_completions", False)
    if _has(s, "top_entropy_quantile"):
        rho = s.float("top_entropy_quantile", 1.0)
        if rho is not None and rho < 1.0:
            out["top_entropy_quantile"] = rho
    return out


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
    the generation batch of all processes (``trl_procs``), grpo / sapo 1/L, dr_grpo 1/L_max."""
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
    if agg in GATHERED:
        spg, procs = steps_per_generation(s, []), processes(s)
        n = procs.count or 1
        sizes = f"per_device_train_batch_size x steps_per_generation = {per_device} x {spg}"
        if procs.count is not None:
            over = f"{sizes.replace(' =', ' x processes =')} x {n} answers ({procs.why})"
        elif procs.launched:
            over = f"{sizes} answers on 1 process, an assumption ({procs.why})"
        else:
            over = f"{sizes} answers per process, times the processes the run is launched with "
            over += "(not in this file; 1 assumed)"
        return Normaliser(
            "token-mean",
            float(per_device * spg * n),
            f"the tokens of the whole generation batch over all processes, {over}; "
            "trl/trainer/grpo_trainer.py:2498 gathers them over the processes, :3168-3173 "
            "divides by them (and DDP averages the gradients over the processes) in 1.16.0",
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
    read=read_trl_grpo,
    rewards=trl_rewards,
    normaliser=trl_normaliser,
    rule=RULE,
    imports=("trl",),
    script_keys=SCRIPT_KEYS,
)
