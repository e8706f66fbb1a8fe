"""ROLL (Alibaba, v0.3.0) RLVR pipeline: its advantage rule, YAML reader and record.

Keys are the RLVR pipeline's YAML paths (``RLVRConfig`` fields: ``norm_mean_type``,
``actor_train.training_args.per_device_train_batch_size``), from the YAML itself or from
``python examples/start_rlvr_pipeline.py --config_path DIR --config_name NAME`` (Hydra composes
``DIR/NAME.yaml`` next to the script; looked for beside the launcher, its parents and here).
Advantage (``roll_rule``), per domain, in the pipeline's order (rlvr_pipeline.py:680-723):
``difficulty_mask`` (roll/utils/functionals.py:603-611), ``reward_norm`` (:564-600; ``grpo``
forces group mean and std, :655-656), ``reward_clip`` (:667-673), return-to-go with gamma
(:488), ``whiten_advantages`` over the kept tokens (:1177-1180, 364-370), ``advantage_clip``
(:1182-1185).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from rlxform import parsing
from rlxform.frameworks.batch_steps import ROLL_WHITEN_EPS, resolve_interpolations
from rlxform.frameworks.common import (
    Clip,
    KLTerm,
    RunConfig,
    Settings,
    StdNorm,
    flatten,
)
from rlxform.frameworks.losses import LossReading
from rlxform.frameworks.record import Framework, Normaliser
from rlxform.frameworks.roll_rule import (
    ROLL_ESTIMATORS,
    ROLL_LOSS_AGG,
    ROLL_STD_EPSILON,
    RULE,
    _norm_types,
    clips,
)
from rlxform.validation import InputError

# ---- the config reader ---------------------------------------------------------------------


def load_composed(s: Settings) -> list[str]:
    """``--config_path DIR --config_name NAME``: read DIR/NAME.yaml into ``s.values`` (file
    keys under the command's), with its ``${...}`` references resolved; returns what stayed
    unresolved."""
    found = getattr(s, "found", None)
    name = s.values.pop("config_name", None)
    directory = s.values.pop("config_path", None)
    if name is not None:
        path = _find_yaml(str(directory or "config"), str(name), found)
        if path is None:
            return [f"--config_path {directory} --config_name {name} (file not found)"]
        data = parsing.load_yaml(parsing.read_text(path, what="config"), str(path))
        if not isinstance(data, dict):
            raise InputError(f"{path}: must hold a mapping of config keys")
        s.values = {**flatten(data), **s.values}
    defaults = {k: s.table.default(k) for k in s.table.keys}
    s.values, unresolved = resolve_interpolations(s.values, defaults)
    return unresolved


def _find_yaml(directory: str, name: str, found: Any) -> Path | None:
    program = str(getattr(found, "program", "") or "")
    source = getattr(found, "source", "")
    bases = [Path.cwd()]
    if source and Path(source).exists():
        base = Path(source).resolve().parent
        bases += [base, *base.parents][:5]
    for base in bases:
        for root in (base / Path(program).parent, base):
            candidate = root / directory / f"{name}.yaml"
            if candidate.is_file():
                return candidate
    return None


def _dp_size(s: Settings) -> int | None:
    """Data-parallel ranks of actor_train (base_config.py:786-806): GPUs / (tp * pp * cp)."""
    mapping = s.get("actor_train.device_mapping", None)
    gpus = None
    if isinstance(mapping, list):
        gpus = len(mapping)
    elif isinstance(mapping, str):
        match = re.fullmatch(r"\s*list\(\s*range\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*\)\s*", mapping)
        gpus = int(match[2]) - int(match[1]) if match else None
    if gpus is None:
        return None
    strategy = str(s.get("actor_train.strategy_args.strategy_name", "") or "")
    config = s.under("actor_train.strategy_args.strategy_config.")
    key = "actor_train.strategy_args.strategy_config."
    if strategy == "megatron_train":
        split = 1
        for part in ("tensor", "pipeline", "context"):
            value = config.get(
                f"{key}{part}_model_parallel_size", config.get(f"{key}{part}_parallel_size", 1)
            )
            split *= int(value) if isinstance(value, int) else 1
        return max(1, gpus // split)
    return gpus


def read_roll(s: Settings) -> RunConfig:
    """The RLVR pipeline's YAML keys -> RunConfig."""
    unresolved = load_composed(s)
    estimator = s.modelled(
        "adv_estimator",
        "gae",
        ROLL_ESTIMATORS,
        "ROLL",
        "outcome rewards (gae trains a critic; gigpo / step_reinforce are agentic)",
    )
    m = s.int("num_return_sequences_in_group", 1)
    raw_mean, raw_std = s.get("norm_mean_type", None), s.get("norm_std_type", None)
    running = [
        k for k, v in (("norm_mean_type", raw_mean), ("norm_std_type", raw_std)) if v == "running"
    ]
    mean_type = "batch" if raw_mean == "running" else raw_mean
    std_type = "batch" if raw_std == "running" else raw_std
    mean_type, std_type = _norm_types(estimator, mean_type, std_type)
    pitfalls: list[str] = [f"{u} (unresolved)" for u in unresolved]
    if estimator == "grpo" and (s.is_set("norm_mean_type") or s.is_set("norm_std_type")):
        pitfalls.append(
            "adv_estimator grpo overwrites norm_mean_type and norm_std_type with 'group' "
            "(roll/utils/functionals.py:655-656): the values written here are ignored"
        )
    whiten = s.bool("whiten_advantages", False)
    reward_clip = s.get("reward_clip", None)
    advantage_clip = s.get("advantage_clip", None)
    batch_level = mean_type == "batch" or std_type == "batch"
    clip, extra = clips(reward_clip, advantage_clip, whiten, batch_level, mean_type, std_type)
    keep = None
    if s.bool("difficulty_mask", False) and m > 1:
        keep = (
            s.float("difficulty_low_threshold", 0.0, low=-np.inf),
            s.float("difficulty_high_threshold", 1.0, low=-np.inf),
        )
        pitfalls.append(
            f"difficulty_mask keeps a group only when {keep[0]:g} < its mean score < "
            f"{keep[1]:g} (functionals.py:603-611) and does not refill the batch: the other "
            "answers get advantage 0 and leave the loss's sample count (actor_worker.py:52-62), "
            "so the step is scaled by 1 / (kept share) and the scheme's weights are kept only "
            "for those groups"
        )
    steps = _batch_steps(mean_type, std_type, whiten, running)
    updates, note = _updates(s, m)
    if note:
        pitfalls.append(note)
    agg = s.str("loss_agg_mode", "seq-mean-token-mean", ROLL_LOSS_AGG)
    pg_clip, kl = _pg_clip(s), _kl(s)
    group_std = std_type == "group"
    normalised = group_std or std_type == "batch" or whiten
    scope = "group" if group_std else "batch"
    eps = ROLL_STD_EPSILON if std_type is not None else ROLL_WHITEN_EPS
    for key, value in s.under("rewards.").items():
        if key.endswith(".query_filter_config.type") and value not in (None, "no_filter"):
            extra.append({"key": key, "value": value, "effect": _QUERY_FILTER})
    extra += _sampling(s)
    s.extras = extra + [
        {"key": k, "value": "running", "effect": _RUNNING} for k in running
    ]  # read by roll_active
    return RunConfig(
        estimator=estimator,
        group_size=m,
        std=StdNorm.of(normalised, eps, scope),
        aggregation=agg,
        updates_per_rollout=updates,
        clip=pg_clip,
        kl=kl,
        dynamic_sampling=False,
        scheme_params=(
            ("norm_mean_type", mean_type),
            ("norm_std_type", std_type),
            ("clip", clip),
            ("keep", keep),
        ),
        pitfalls=tuple(pitfalls),
        max_length=s.int_or_none("response_length"),
        loss=_loss(s, agg),
        batch_steps=tuple(steps),
    )


_QUERY_FILTER = (
    "drops a prompt's group by its rewards (mean_filter: mean outside thresholds; std_filter: "
    "std below a threshold) in the reward worker, with thresholds of its own "
    "(roll/pipeline/rlvr/rlvr_config.py:20-30)"
)
_SAMPLING = {"temperature": 1.0, "top_p": 1.0, "top_k": -1}


def _sampling(s: Settings) -> list[dict[str, Any]]:
    """actor_infer.generating_args sampling knobs that make answers differ from the policy."""
    out = []
    for name, neutral in _SAMPLING.items():
        key = f"actor_infer.generating_args.{name}"
        value = s.values.get(key, neutral)
        if value != neutral and not (name == "top_k" and value in (0, None)):
            effect = "the answers are sampled from a modified policy, not from pi"
            out.append({"key": key, "value": value, "effect": effect})
    return out


_RUNNING = (
    "running mean / std: statistics accumulated over past steps (functionals.py:568-580), so "
    "the baseline and scale lag the current policy; the card reads them as batch constants"
)


def _batch_steps(mean_type, std_type, whiten, running) -> list[str]:
    steps = []
    if mean_type == "batch":
        steps.append(
            "norm_mean_type batch subtracts the mean reward of the whole domain batch "
            "(functionals.py:571-572): a constant baseline as the batch grows (zero expected "
            "gradient)"
        )
    if std_type == "batch":
        steps.append(
            "norm_std_type batch divides by the std of the whole domain batch's rewards "
            "(functionals.py:582-583): a constant sigma as the batch grows"
        )
    if whiten:
        steps.append(
            "whiten_advantages whitens over the tokens of the kept answers (token-weighted mean, "
            "Bessel variance, / sqrt(var + 1e-8); functionals.py:1177-1180, 364-370): a shift "
            "by a batch constant and a division by the batch's std sigma as the batch grows "
            "(long answers weigh more in the statistics)"
        )
    if running:
        steps.append(f"{', '.join(running)} running: read as batch statistics (with memory)")
    return steps


def _updates(s: Settings, m: int) -> tuple[float, str | None]:
    """ppo_epochs x (rollout_batch_size M // dp) // (per_device_train_batch_size x
    gradient_accumulation_steps) backward steps (base_config.py:786-808)."""
    epochs = s.int("ppo_epochs", 1)
    batch = s.int("rollout_batch_size", 128) * m
    per_device = s.int("actor_train.training_args.per_device_train_batch_size", 1)
    accumulation = s.int("actor_train.training_args.gradient_accumulation_steps", 1)
    dp = _dp_size(s)
    if dp is None:
        return epochs, (
            "actor_train.device_mapping does not fix the data-parallel size: updates per "
            f"rollout taken as ppo_epochs = {epochs}"
        )
    steps = max(1, (batch // dp) // (per_device * accumulation))
    return steps * epochs, None


def _pg_clip(s: Settings) -> Clip:
    """pg_clip, or pg_clip_low / pg_clip_high with use_pg_clip_range (base_config.py:522-532)."""
    clip = s.float("pg_clip", 0.2)
    if s.bool("use_pg_clip_range", False):
        return Clip(s.float("pg_clip_low", clip), s.float("pg_clip_high", clip))
    return Clip(clip, clip)


def _kl(s: Settings) -> KLTerm:
    """use_kl_loss: kl_loss_coef x k3 in the loss (actor_worker.py:55-62); add_token_level_kl:
    init_kl_coef x kl_penalty in the token rewards (functionals.py:626-629)."""
    if s.bool("use_kl_loss", False) and s.float("kl_loss_coef", 0.0) > 0:
        return KLTerm("loss", "k3", s.float("kl_loss_coef", 0.0))
    if s.bool("add_token_level_kl", False) and s.float("init_kl_coef", 0.2) > 0:
        return KLTerm("reward", str(s.get("kl_penalty", "kl")), s.float("init_kl_coef", 0.2))
    return KLTerm()


def _loss(s: Settings, agg: str) -> LossReading:
    kind = s.get("use_policy_loss_type", None)
    why = (
        "ROLL's actor loss (roll/pipeline/rlvr/actor_worker.py) is not one of the losses "
        f"rlxform's reducer reads; on the first update (ratio 1) it weighs each answer's tokens "
        f"by loss_agg_mode ({agg}, roll/utils/functionals.py:228-280)"
    )
    return LossReading("use_policy_loss_type", str(kind), s.table.label, None, why)


def roll_active(s: Settings) -> list[dict[str, Any]]:
    """Not-modelled entries the reader found (clips on batch values, running statistics)."""
    return list(getattr(s, "extras", []))


def roll_rewards(s: Settings, extra: Any = None) -> tuple[bool | None, str]:
    """binary from the reward workers of ``rewards.<domain>.worker_cls``."""
    workers = {k: v for k, v in s.under("rewards.").items() if k.endswith(".worker_cls")}
    if not workers:
        return None, "no reward worker (rewards.<domain>.worker_cls) is named in this config"
    rule = ("MathRuleRewardWorker",)
    kinds = [str(v).rpartition(".")[2] for v in workers.values()]
    if all(k in rule for k in kinds):
        return True, (
            "MathRuleRewardWorker scores 1 for a verified answer, else 0 "
            "(roll/pipeline/rlvr/rewards/math_rule_reward_worker.py:313)"
        )
    if len(workers) > 1:
        return False, (
            f"{len(workers)} reward domains ({', '.join(kinds)}): the pipeline normalises each "
            "domain separately; judges and soft rewards are not 0/1"
        )
    return None, f"reward worker {kinds[0]}: its range is not read by rlxform"


def roll_normaliser(s: Settings, run: RunConfig) -> Normaliser:
    """agg_loss (functionals.py:228-280): seq-mean-token-mean divides each answer's token sum by
    its length; token-mean by the tokens of the batch (batch_num_tokens)."""
    agg = run.aggregation
    if agg == "seq-mean-token-mean":
        return Normaliser("1/L", None, "loss_agg_mode seq-mean-token-mean (functionals.py:262-267)")
    if agg == "seq-mean-token-sum":
        return Normaliser("1", None, "loss_agg_mode seq-mean-token-sum (functionals.py:256-261)")
    if agg == "seq-mean-token-sum-norm":
        return Normaliser("1/L_max", None, "loss_agg_mode seq-mean-token-sum-norm (:268-276)")
    per_device = s.int("actor_train.training_args.per_device_train_batch_size", 1)
    accumulation = s.int("actor_train.training_args.gradient_accumulation_steps", 1)
    dp = _dp_size(s)
    answers = None if dp is None else float(per_device * accumulation * dp)
    return Normaliser(
        "token-mean",
        answers,
        "loss_agg_mode token-mean divides by batch_num_tokens, the tokens of the optimizer "
        "step's answers (functionals.py:252-255, actor_worker.py:21-26)",
    )


RECORD = Framework(
    name="roll",
    title="ROLL",
    data="roll",
    programs=("*start_rlvr_pipeline.py", "roll.*"),
    markers=(
        "norm_mean_type",
        "norm_std_type",
        "whiten_advantages",
        "difficulty_mask",
        "num_return_sequences_in_group",
        "actor_train.*",
        "actor_infer.*",
    ),
    arguments="argparse",
    read=read_roll,
    rewards=roll_rewards,
    normaliser=roll_normaliser,
    rule=RULE,
    active=roll_active,
)
