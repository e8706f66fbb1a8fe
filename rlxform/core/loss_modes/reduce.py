"""``reduce(framework, mode, **settings)``: a trainer's loss mode -> its on-policy reduction.

The row of ``table.py`` gives the mode's factor and knobs; the rules here apply the settings
that change them: the aggregation (``loss_agg_mode``), corrections for a trainer/sampler
mismatch that act on the first update (verl ``algorithm.rollout_correction``, TRL's vLLM
importance sampling and off-policy mask, OpenRLHF ``is_correction_*``: never a per-answer factor
of the length, said in a phrase), verl's bypass mode, and TRL cispo's cap. ``markdown_table``
prints the reducer over a list of representative settings.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rlxform.core.loss_modes import table
from rlxform.core.loss_modes.record import LossMode
from rlxform.core.loss_modes.releases import Release, release
from rlxform.core.loss_modes.settings import resolve
from rlxform.core.loss_modes.verl_correction import thresholds
from rlxform.validation import InputError


def reduce(framework: str, mode: str, *, version: str | None = None, **settings: Any) -> LossMode:
    """The on-policy reduction of ``mode`` of ``framework`` under ``settings``.

    Args:
      framework: "verl", "trl" or "openrlhf".
      mode: verl ``actor.policy_loss.loss_mode``, TRL ``loss_type``, OpenRLHF
        ``actor.policy_loss_type`` (for releases without the key, the mode they hard-code:
        TRL 0.14-0.15 "grpo", 0.16 "bnpo"; OpenRLHF before 0.8 "ppo").
      version: the framework release (None: the newest, verl 0.9.1, TRL 1.16.0, OpenRLHF
        0.11.2); ``releases.RELEASES`` lists the older ones whose loss code was read.
      **settings: the framework's own key names (dotted paths read by their last part), e.g.
        ``loss_agg_mode="seq-mean-token-mean"``, ``importance_sampling_level="sequence"``,
        ``rollout_correction={"rollout_is": "token"}``.

    Returns:
      A frozen ``LossMode``. Raises ``InputError`` for an unknown framework, version, mode or
      setting (or one the release lacks), or a value the framework refuses.
    """
    rel = release(framework, version)
    if mode not in rel.modes:
        raise InputError(
            f"mode={mode!r} is invalid: must be one of {', '.join(rel.modes)} (the loss modes "
            f"rlxform reduces for {rel.label})"
        )
    resolved, given = resolve(framework, mode, settings, rel.lacks, rel.defaults, rel.label)
    rule = {"verl": _verl, "trl": _trl, "openrlhf": _openrlhf}[framework]
    r = rule(mode, resolved, rel)
    return LossMode(
        framework=rel.framework,
        version=rel.version,
        mode=r.mode,
        settings=tuple(sorted(resolved.items())),
        given=given,
        length_factor=r.factor,
        base_length_factor=r.base,
        exact_on_policy=r.factor in table.EXACT_FACTORS,
        off_policy_knobs=r.off,
        on_policy_knobs=r.on,
        source=f"{rel.label} {r.source}",
        scale=r.scale,
        note=r.note,
    )


class _Reading(NamedTuple):
    """What a trainer's rule reads from the settings; ``reduce`` turns it into a ``LossMode``.

    mode: the mode actually run; base: the aggregation's factor; source: file:line of the loss
    (without the release label); factor: the first update's per-answer factor (or a phrase);
    off, on: off- and on-policy knobs; scale: a constant multiplier; note: the card's sentences.
    """

    mode: str
    base: str
    source: str
    factor: str
    off: tuple[str, ...]
    on: tuple[str, ...]
    scale: float = 1.0
    note: str = ""


def _knobs(*groups) -> tuple[str, ...]:
    return tuple(dict.fromkeys(k for group in groups for k in group))


def _verl(mode: str, s: dict[str, Any], rel: Release) -> _Reading:
    rc_keys = []
    if s["rollout_is"] is not None:
        rc_keys += ["rollout_is", "rollout_is_threshold", "rollout_is_batch_normalize"]
    if s["rollout_rs"] is not None:
        rc_keys += ["rollout_rs", "rollout_rs_threshold"]
    if s["bypass_mode"]:
        mode = "bypass_mode"  # apply_bypass_mode (rollout_corr_helper.py:1109) replaces loss_mode
    row = table.VERL[mode]
    if mode == "dro" and s["dro_beta"] is None:
        raise InputError(
            "dro_beta=None is invalid: must be a number > 0 (verl's dro has no default)"
        )
    if s["rollout_rs"] is not None and s["rollout_rs_threshold"] is None:
        raise InputError("rollout_rs_threshold=None is invalid: must be set when rollout_rs is set")
    if s["loss_agg_mode"] not in rel.agg:
        raise InputError(
            f"loss_agg_mode={s['loss_agg_mode']!r} is invalid: must be one of "
            f"{', '.join(rel.agg)} in {rel.label}"
        )
    if "tis_only" in rel.traits and isinstance(s["rollout_is_threshold"], str):
        raise InputError(
            f"rollout_is_threshold={s['rollout_is_threshold']!r} is invalid: must be a number in "
            f"{rel.label} (the lower_upper IcePop form came in verl 0.8)"
        )
    agg_factor, _ = table.VERL_AGG[s["loss_agg_mode"]]
    agg_source = rel.agg[s["loss_agg_mode"]]
    hard_coded = ("sapo", "geo_mean", *(("gspo",) if "gspo_seq_mean" in rel.traits else ()))
    uses_agg = mode not in hard_coded
    base = agg_factor if uses_agg else "1/L"
    source = f"{rel.modes[mode]}; agg_loss {agg_source}" if uses_agg else rel.modes[mode]
    factor = base if row.factor in (*table.FACTORS, "agg") else row.factor
    note = row.note
    on, off = row.on_policy, row.off_policy
    scale = 1.0
    if "clip_ratio" in off and None not in (s["clip_ratio_low"], s["clip_ratio_high"]):
        off = tuple(k for k in off if k != "clip_ratio")
        note += " clip_ratio is unused while clip_ratio_low/high are set (both default to 0.2)."
    if mode == "gspo" and not uses_agg:
        note = (
            "The per-token ratio has the sequence ratio's value and the token's own gradient; "
            f"{rel.label} aggregates it with seq-mean-token-mean whatever loss_agg_mode says "
            "(from verl 0.9 it follows loss_agg_mode)."
        )
        on = tuple(k for k in on if k != "loss_agg_mode")
    if not uses_agg and s["loss_agg_mode"] != "token-mean":
        note += f" (loss_agg_mode={s['loss_agg_mode']} has no effect)"
    if s["loss_agg_mode"] == "seq-mean-token-sum-norm" and uses_agg:
        width = s["loss_scale_factor"] or "the padded response width"
        note += f" L_max = {width} (loss_scale_factor)."
    if mode == "bypass_mode":
        scale = _verl_bypass_scale(s)
        if scale == 0.0:
            note += " These thresholds reject ratio 1 itself: no token learns on-policy."
    elif s["rollout_is"] is not None or s["rollout_rs"] is not None:
        factor = _verl_decoupled_phrase(mode, s, base)
        on = _knobs(on, rc_keys)
        source += f"; {rel.extra['rc']}"
        note += (
            " algorithm.rollout_correction weighs or rejects with pi_old / pi_rollout, fixed "
            "before the update: it acts on the first update whenever sampler and trainer differ."
        )
    return _Reading(mode, base, source, factor, off, on, scale, note)


def _verl_bypass_scale(s: dict[str, Any]) -> float:
    """The bypass-mode weight at ratio 1: TIS min(1, t), IcePop 1[lo <= 1 <= hi], k1 bands."""
    scale = 1.0
    if s["rollout_rs"] is not None:
        specs = str(s["rollout_rs_threshold"]).split(",")
        for i, option in enumerate(s["rollout_rs"].split(",")):
            low, high = thresholds(specs[i if len(specs) > 1 else 0])
            if option.endswith("k1") and not (low if low is not None else 1 / high) <= 1 <= high:
                scale = 0.0  # k1 keeps log(pi_rollout/pi) in [log low, log high]
    if s["loss_type"] == "reinforce" and s["rollout_is"] is not None:
        low, high = thresholds(s["rollout_is_threshold"])
        weight = min(1.0, high) if low is None else float(low <= 1.0 <= high)
        scale *= 1.0 if s["rollout_is_batch_normalize"] and weight > 0 else weight
    return scale


def _verl_decoupled_phrase(mode: str, s: dict[str, Any], base: str) -> str:
    parts = []
    if s["rollout_is"] is not None:
        low, high = thresholds(s["rollout_is_threshold"])
        weight = "pi_old/pi_rollout" if s["rollout_is"] == "token" else "prod_t pi_old/pi_rollout"
        if low is None:
            rule = f"min({weight}, {high:g}) (TIS)"
        else:
            rule = f"{weight}, zeroed outside [{low:g}, {high:g}] (IcePop)"
        unit = "per-token" if s["rollout_is"] == "token" else "per-answer"
        if mode == "geo_mean":
            unit = "per-answer geometric mean of the" if s["rollout_is"] == "token" else unit
        parts.append(f"{unit} IS weight {rule}")
        if s["rollout_is_batch_normalize"]:
            parts[-1] += " divided by its batch mean"
    options = (s["rollout_rs"] or "").split(",")
    if s["rollout_rs"] is not None:
        units = " and ".join(
            dict.fromkeys("tokens" if o.startswith("token") else "answers" for o in options)
        )
        parts.append(
            f"rejection {s['rollout_rs']} (threshold {s['rollout_rs_threshold']}) drops {units} "
            "whose trainer/sampler divergence leaves the band"
            + (" (token-mean then counts only the kept tokens)" if base == "token-mean" else "")
        )
    token_level = s["rollout_is"] == "token" and mode != "geo_mean"
    token_level = token_level or any(opt.startswith("token") for opt in options)
    kind = (
        "not a per-answer factor"
        if token_level
        else "a per-answer factor of the mismatch, not of L"
    )
    return f"{kind}: {'; '.join(parts)}; times {base}"


def _trl(mode: str, s: dict[str, Any], rel: Release) -> _Reading:
    row = table.TRL[mode]
    base, note = row.factor, row.note
    on = tuple(k for k in row.on_policy if k not in rel.lacks)
    off = () if "no_clip" in rel.traits else tuple(k for k in row.off_policy if k not in rel.lacks)
    scale = 1.0
    if "fixed_grpo" in rel.traits or "fixed_bnpo" in rel.traits:
        rule = "the per-sequence token mean" if mode == "grpo" else "the micro-batch token mean"
        note = f"{rel.label} has no loss_type: its loss is {rule} (as loss_type {mode})."
    if "no_clip" in rel.traits:
        note += (
            f" {rel.label} has no clip and no num_iterations: the ratio exp(log pi - sg(log pi)) "
            "is 1 at every step."
        )
    if mode == "luspo" and "luspo_times_l" in rel.traits:
        if s["importance_sampling_level"] == "token":
            base = (
                "not a per-answer factor of 1: each token's loss is multiplied by its answer's "
                "length L and averaged over the padded (B x T) batch, so c(L) = L / (B T), T the "
                "padded width, and padded positions get gradient too"
            )
        note = (
            f"{rel.label} luspo: loss = mean over (B x T) of per-token loss x L; with "
            "importance_sampling_level = sequence the ratio is one per answer and c(L) = 1 (up "
            "to 1/B); at token level c(L) grows with L (fixed in TRL 1.10)."
        )
    if mode == "cispo":
        cap_key = "epsilon_high" if s["epsilon_high"] is not None else "epsilon"
        cap = s[cap_key]
        if cap <= 0:
            raise InputError(
                f"{cap_key}={cap!r} is invalid: must be > 0 for cispo (the weight cap)"
            )
        scale = min(1.0, cap)
        on, off = ((*on, cap_key), off) if cap < 1 else (on, (*off, cap_key))
    if mode == "dr_grpo":
        note += f" L_max = max_completion_length = {s['max_completion_length']}."
    factor = base
    vllm = s["use_vllm"] and s["vllm_importance_sampling_correction"]
    phrases = []
    if vllm:
        vmode = s["vllm_importance_sampling_mode"]
        if mode == "vespo" and vmode.startswith("sequence"):
            raise InputError(
                f"vllm_importance_sampling_mode={vmode!r} is invalid: must be one of "
                "token_truncate, token_mask for loss_type='vespo' (TRL refuses the others, "
                f"{rel.extra['vespo']})"
            )
        phrases.append(_trl_vllm_phrase(s))
        knobs = ["use_vllm", "vllm_importance_sampling_mode"]
        on = _knobs(on, [k for k in knobs if k not in rel.lacks])
    if s["off_policy_mask_threshold"] is not None:
        if s["use_vllm"]:
            phrases.append(
                "answers with A < 0 whose mean log(pi_vllm / pi_theta) exceeds "
                f"{s['off_policy_mask_threshold']:g} are dropped"
            )
            on = _knobs(on, ["off_policy_mask_threshold"])
        else:
            off = _knobs(off, ["off_policy_mask_threshold"])
    if s["top_entropy_quantile"] < 1.0:
        phrases.append(f"only the top {s['top_entropy_quantile']:g} of tokens by entropy learn")
        on = _knobs(on, ["top_entropy_quantile"])
    if phrases:
        token_level = s["top_entropy_quantile"] < 1.0 or (
            vllm and s["vllm_importance_sampling_mode"].startswith("token")
        )
        kind = (
            "not a per-answer factor"
            if token_level
            else "a per-answer factor of the mismatch, not of L"
        )
        factor = f"{kind}: {'; '.join(phrases)}; times {base}"
    if s["importance_sampling_level"] == "sequence" and mode != "vespo":
        note += " Sequence level (GSPO) gives the token level's gradient at ratio 1."
    if s["beta"] > 0:
        kind = "ratio x k3 (reverse-KL gradient)" if s["use_bias_correction_kl"] else "k3"
        note += f" beta = {s['beta']:g} adds beta {kind} per token, normalised like the loss."
    if "no_clip" not in rel.traits:
        spg = " or steps_per_generation > gradient_accumulation_steps"
        spg = "" if _before(rel, (0, 18)) else spg
        note += (
            " TRL's default num_iterations = 1 keeps every ratio at 1, so off-policy knobs act "
            f"only with num_iterations > 1{spg}."
        )
    return _Reading(mode, base, rel.modes[mode], factor, off, on, scale, note)


_ORLHF_FIXED = {
    "1/L": "each answer's token mean, then the mean over answers",
    "token-mean": "the token mean (gspo: per answer)",
}


def _trl_vllm_phrase(s: dict[str, Any]) -> str:
    vmode = s["vllm_importance_sampling_mode"]
    low, high = s["vllm_importance_sampling_clip_min"], s["vllm_importance_sampling_clip_max"]
    band = f"[{'0' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
    ratio = "pi_old/pi_vllm" if vmode.startswith("token") else "prod_t pi_old/pi_vllm"
    if vmode.endswith("truncate"):
        rule = f"weight {ratio} clamped to {band}"
    else:
        rule = f"weight {ratio}, zero outside {band} (answers dropped correct or wrong)"
    unit = "per-token" if vmode.startswith("token") else "per-answer"
    return f"vLLM {vmode}: {unit} {rule}"


def _before(rel: Release, version: tuple[int, ...]) -> bool:
    return tuple(int(p) for p in rel.version.replace(".post", ".").split(".")) < version


def _openrlhf(mode: str, s: dict[str, Any], rel: Release) -> _Reading:
    row = table.OPENRLHF[mode]
    off = tuple(k for k in row.off_policy if k not in rel.lacks)
    if s["eps_clip_low_high"] is None:
        s["eps_clip_low_high"] = (s["eps_clip"], s["eps_clip"])
    else:  # train_ppo_ray.py:633-634: eps_clip only fills an unset eps_clip_low_high
        off = tuple(k for k in off if k != "eps_clip")
    level, gating = s["is_correction_level"], s["is_correction_gating"]
    if s["is_correction_mode"] == "clip" and (level == "seq" or gating != "ratio"):
        raise InputError(
            f"is_correction_mode='clip' is invalid with is_correction_level={level!r}, "
            f"is_correction_gating={gating!r}: clip needs level token and gating ratio"
        )
    if gating != "ratio" and level != "off" and s["is_correction_threshold"][0] > 0:
        raise InputError(
            f"is_correction_threshold={list(s['is_correction_threshold'])!r} is invalid: "
            f"gating {gating!r} takes an upper bound only (a single HIGH)"
        )
    agg_factor, _ = table.OPENRLHF_AGG[s["loss_agg_mode"]]
    base = agg_factor if row.factor == "agg" else row.factor
    source = rel.modes[mode]
    if row.factor == "agg" and "loss_agg_mode" not in rel.lacks:
        source += f"; aggregate_loss {rel.agg[s['loss_agg_mode']]}"
    factor, note = base, row.note
    on = tuple(k for k in row.on_policy if k not in rel.lacks)
    if "seq_mean" in rel.traits or "token_mean" in rel.traits:
        base = factor = "1/L" if "seq_mean" in rel.traits or mode == "gspo" else "token-mean"
        note += f" {rel.label} has no loss_agg_mode: its policy loss is {_ORLHF_FIXED[base]}."
    if level != "off":
        low, high = s["is_correction_threshold"]
        knobs = ["is_correction_level", "is_correction_mode", "is_correction_gating"]
        on = _knobs(on, [k for k in knobs if k not in rel.lacks], ["is_correction_threshold"])
        if mode == "gspo":
            factor = (
                "a per-answer factor of the mismatch, not of L: the sequence ratio is "
                "(prod_t pi_theta/pi_rollout)^(1/L), clipped: not 1 on the first update when "
                f"sampler and trainer differ; times {base}"
            )
        else:
            stat = {"ratio": "pi_old/pi_rollout", "binary_kl": "binary KL", "tv": "TV"}[gating]
            unit = "token" if level == "token" else "answer (mean over its tokens)"
            if s["is_correction_mode"] == "clip":
                rule = f"per-token weight {stat} clamped to [{low:g}, {high:g}]"
            else:
                rule = (
                    f"each {unit} with {stat} outside [{low:g}, {high:g}] is dropped, the rest "
                    "keep per-token weights pi_old/pi_rollout"
                )
            factor = f"not a per-answer factor: {rule}; times {base}"
        source += f"; IS correction {rel.extra['is']}"
    return _Reading(mode, base, source, factor, off, on, note=note)
