"""OpenRLHF 0.11.2 PolicyLoss: per-token gradient d loss / d log pi_theta, restated from the math.

``PolicyLoss.forward`` (openrlhf/models/loss.py:174): ppo (token ratio, clip, dual clip) or gspo
(sequence ratio exp(mean log r), differentiable through every token, always per-sample mean), the
train/rollout IS correction (ppo only, :216-241) and ``aggregate_loss`` (:11).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from rlxform.core.loss_modes.batch import (
    aggregation_weights,
    answer_advantages,
    clamp,
    passes,
    pick_max,
    pick_min,
    sequence_log_ratio,
    spread,
    totals,
)
from rlxform.validation import InputError


def gradient(settings: dict[str, Any], mode: str, xp: ModuleType, batch) -> Any:
    """float[B, W]: d loss / d logp of OpenRLHF's ``policy_loss_type`` under ``settings``."""
    s = settings
    mask = batch.mask
    correcting = s["is_correction_level"] != "off"
    if correcting and batch.rollout_logp is None:
        raise InputError("rollout_logp=None is invalid: is_correction_level needs the sampler's")
    num_tokens, num_answers = totals(xp, batch)
    token_level = mode == "ppo" and s["loss_agg_mode"] == "token-mean"
    agg = "token-mean" if token_level else "seq-mean-token-mean"
    norm = aggregation_weights(xp, mask, agg, num_tokens, num_answers)
    low, high = s["eps_clip_low_high"] or (s["eps_clip"], s["eps_clip"])
    if mode == "gspo":
        base = batch.rollout_logp if correcting else batch.old_logp
        ratio = xp.exp(sequence_log_ratio(xp, batch.logp - base, mask))
        adv = batch.advantages
        return spread(
            xp, clip_log_derivative(xp, adv, ratio, low, high, s["dual_clip"]), mask, norm
        )
    log_ratio = batch.logp - batch.old_logp
    ratio = xp.exp(clamp(xp, log_ratio, -20.0, 20.0))
    in_range = passes(xp, log_ratio, -20.0, 20.0)
    adv = answer_advantages(xp, batch)
    per_token = clip_log_derivative(xp, adv, ratio, low, high, s["dual_clip"]) * in_range
    if correcting:
        per_token = per_token * is_coefficient(s, xp, batch)
    return norm * per_token


def clip_log_derivative(xp: ModuleType, adv, ratio, low, high, dual) -> Any:
    """ratio x d/d ratio of -min(r A, clip(r) A), dual clip max(., dual A) for A < 0."""
    surr1, surr2 = ratio * adv, clamp(xp, ratio, 1.0 - low, 1.0 + high) * adv
    d1 = ratio * adv
    d2 = d1 * passes(xp, ratio, 1.0 - low, 1.0 + high)
    clip1 = pick_min(xp, surr1, surr2, d1, d2)
    if dual is None:
        return -clip1
    lower = dual * adv
    clip2 = pick_max(xp, xp.minimum(surr1, surr2), lower, clip1, xp.zeros_like(clip1))
    return -xp.where(adv < 0, clip2, clip1)


def is_coefficient(s: dict[str, Any], xp: ModuleType, batch) -> Any:
    """The detached train/rollout correction multiplying each token's loss, float[B, W]."""
    mask = batch.mask
    low, high = s["is_correction_threshold"]
    seq_level = s["is_correction_level"] == "seq"
    is_log_ratio = batch.old_logp - batch.rollout_logp
    token_is = xp.exp(is_log_ratio)
    if s["is_correction_gating"] == "ratio":
        stat = _masked_mean(xp, is_log_ratio, mask) if seq_level else is_log_ratio
        stat = xp.exp(stat)
    else:
        p = clamp(xp, xp.exp(batch.rollout_logp), 1e-6, 1 - 1e-6)
        q = clamp(xp, xp.exp(batch.old_logp), 1e-6, 1 - 1e-6)
        if s["is_correction_gating"] == "binary_kl":
            stat = p * xp.log(p / q) + (1 - p) * xp.log((1 - p) / (1 - q))
        else:
            stat = xp.abs(p - q)
        stat = _masked_mean(xp, stat, mask) if seq_level else stat
    if s["is_correction_mode"] == "clip":
        return clamp(xp, stat, low, high)
    return xp.where((stat >= low) & (stat <= high), token_is, 0.0)


def _masked_mean(xp: ModuleType, values, mask) -> Any:
    """Per-answer mean (OpenRLHF masked_mean, no epsilon), float[B, 1]."""
    return (xp.sum(values * mask, axis=-1) / xp.sum(mask, axis=-1))[:, None]
