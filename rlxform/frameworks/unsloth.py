"""Unsloth: TRL's ``GRPOConfig`` and advantage, with Unsloth's own loss and defaults.

A Python script that imports ``unsloth`` is read as Unsloth. Unsloth keeps TRL's advantage
block but replaces the loss (``unsloth_zoo/rl_replacements.py grpo_compute_loss``): up to
unsloth_zoo 2026.9.1 its KL has no bias correction (k3, not TRL's ratio * k3) and it reads
neither ``top_entropy_quantile`` nor ``entropy_coef`` (no effect). Its ``GRPOConfig`` wrapper
changes defaults (``unsloth/models/rl.py``, see tests/data/trainers/README.md): beta 0.001
unless loss_type is dapo or dr_grpo, the vLLM importance-sampling correction off, 4 x 2
micro-batches, scale_rewards "none" with dr_grpo.
"""

from __future__ import annotations

import dataclasses

from rlxform.frameworks import trl, trl_rule
from rlxform.frameworks.common import RunConfig, Settings
from rlxform.frameworks.record import Framework

_IGNORED = "Unsloth's loss (unsloth_zoo <= 2026.9.1) does not read it"
_IGNORED_KEYS = ("top_entropy_quantile", "use_bias_correction_kl")
_DEFAULTS = {  # unsloth/models/rl.py:3310-3372, 3521-3571 (unsloth 2026.10.9)
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 2,
    "vllm_importance_sampling_correction": False,
    "learning_rate": 5e-5,
}


def unsloth_table(s: Settings):
    """TRL's table with Unsloth's defaults, and the keys its loss ignores classed no_effect."""
    table = s.table
    keys = {k: dict(v) for k, v in table.keys.items()}
    for key, value in _DEFAULTS.items():
        if key in keys:
            keys[key]["default"] = value
    loss_type = s.values.get("loss_type", keys.get("loss_type", {}).get("default"))
    if "beta" in keys:
        keys["beta"]["default"] = 0.0 if loss_type in ("dapo", "dr_grpo") else 0.001
    if loss_type == "dapo" and s.is_set("loss_type") and "mask_truncated_completions" in keys:
        keys["mask_truncated_completions"]["default"] = True
    classes = {k: dict(v) for k, v in table.classes.items()}
    for key in _IGNORED_KEYS:
        classes["classes"][key] = "no_effect"
        classes["effects"][key] = _IGNORED
    return dataclasses.replace(table, framework="unsloth on trl", keys=keys, classes=classes)


def read_unsloth(s: Settings) -> RunConfig:
    """TRL's reader on Unsloth's defaults; k3 without bias correction; dr_grpo forces none."""
    s.table = unsloth_table(s)
    if s.values.get("loss_type") == "dr_grpo" and s.values.get("scale_rewards") in (
        None,
        True,
        "group",
    ):
        s.values["scale_rewards"] = "none"  # rl.py:3548-3555 (check_dr_grpo)
    ignored = {k: s.values[k] for k in ("top_entropy_quantile",) if k in s.values}
    s.values["use_bias_correction_kl"] = False  # not read by Unsloth's loss
    s.values["top_entropy_quantile"] = 1.0  # nor is this (the reducer must not apply it)
    run = trl.read_trl(s)
    s.values.pop("use_bias_correction_kl")
    s.values.pop("top_entropy_quantile")
    s.values.update(ignored)
    loss = run.loss and dataclasses.replace(run.loss, note=_LOSS_NOTE)
    return dataclasses.replace(run, loss=loss, **unsloth_entropy(run))


_LOSS_NOTE = (
    "Unsloth replaces TRL's loss with its own (unsloth_zoo rl_replacements.grpo_compute_loss), "
    "whose per-token losses and loss_type aggregations follow TRL's (rl_replacements.py:1152-1249 "
    "in unsloth_zoo 2026.10.9); reduced here as the TRL release's code, without the KL bias "
    "correction and top_entropy_quantile that unsloth_zoo <= 2026.9.1 does not read."
)


def unsloth_entropy(run: RunConfig) -> dict:
    """unsloth_zoo 2026.10.9 applies a fixed entropy_coef with TRL >= 1.10's per-token weights
    and drops the whole bonus under use_adaptive_entropy; unsloth_zoo <= 2026.9.1 reads neither
    (tests/data/entropy/README.md)."""
    if run.entropy_coef is None:
        return {}
    if run.entropy_adaptive is None:
        where = run.entropy_normaliser + (
            "; Unsloth: the same weights (unsloth_zoo/rl_replacements.py:1460-1500 in 2026.10.9; "
            "unsloth_zoo <= 2026.9.1 has no entropy bonus)"
        )
        return {"entropy_normaliser": where}
    where = (
        "use_adaptive_entropy=True: Unsloth drops the whole bonus, its starting entropy_coef "
        "included (unsloth_zoo/rl_replacements.py:1548-1568, 2659-2666 in 2026.10.9)"
    )
    return {"entropy_coef": 0.0, "entropy_adaptive": None, "entropy_normaliser": where}


_SAMPLING = "vllm_sampling_params"
_SAMPLING_EFFECT = (
    "Unsloth adds the keyword arguments of this vLLM SamplingParams to the generation's own "
    "(unsloth/models/rl.py:4062, 4198-4206 at 015bdef): a min_p > 0, top_p < 1, top_k > 0 or "
    "another temperature there changes the sampling law, so completions are not drawn from "
    "the policy being trained"
)


def unsloth_active(s: Settings) -> list[dict]:
    """UnslothGRPOConfig's own ``vllm_sampling_params`` (rl.py:491), under Not modelled when set,
    whether to a literal or to an expression the file builds (``SamplingParams(min_p=0.1)``)."""
    value = s.values.get(_SAMPLING)
    found = getattr(s, "found", None)
    for text in getattr(found, "unresolved", ()) if value is None else ():
        if text.startswith(_SAMPLING + " (= "):
            value = text[len(_SAMPLING) + 4 :].removesuffix(")").split(" = ", 1)[-1]
    if value is None:
        return []
    return [{"key": _SAMPLING, "value": value, "effect": _SAMPLING_EFFECT}]


def unsloth_advantages(estimator, g, lengths, get):
    """TRL's advantage; with loss_type dr_grpo a group scale becomes "none" (rl.py:3548-3555)."""
    if get("loss_type") == "dr_grpo" and estimator in (True, "group"):
        estimator = "none"
    return trl_rule.trl_advantages(estimator, g, lengths, get)


RECORD = Framework(
    name="unsloth",
    title="Unsloth",
    data="trl",
    programs=(),
    markers=(),
    arguments="argparse",
    read=read_unsloth,
    rewards=trl.trl_rewards,
    normaliser=trl.trl_normaliser,
    rule=dataclasses.replace(  # TRL's estimators and schemes, under no scheme names of its own
        trl_rule.RULE,
        advantages=unsloth_advantages,
        settings={"loss_type": None},
        scheme_estimators=(),
    ),
    imports=("unsloth",),
    script_keys=trl.SCRIPT_KEYS | {_SAMPLING},
    active=unsloth_active,
    notes=(
        "Unsloth keeps TRL's advantage and replaces its loss: up to unsloth_zoo 2026.9.1 the KL "
        "has no bias correction (k3, not ratio * k3), and top_entropy_quantile and entropy_coef "
        "have no effect (from 2026.9.9 both are applied again).",
    ),
)
