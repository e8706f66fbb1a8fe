"""TRL 1.16.0 GRPOTrainer losses: per-token gradient d loss / d log pi_theta, restated.

``GRPOTrainer._compute_loss`` (grpo_trainer.py:3020) for every ``loss_type`` at token or sequence
importance-sampling level, with two-sided ``delta``, ``epsilon_high``, the vLLM
importance-sampling correction (ratio from :2660-2708), the off-policy sequence mask (:2945) and
the k3 KL term (with ``use_bias_correction_kl``). A sequence-level coefficient
c_i = exp(mean_t log r) is differentiable through every token of the answer (``spread``).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from rlxform.core.loss_modes.batch import (
    clamp,
    guarded_lengths,
    passes,
    pick_min,
    sequence_log_ratio,
    spread,
)
from rlxform.validation import InputError

_CLIPPED = ("grpo", "bnpo", "dr_grpo", "dapo", "luspo")


def gradient(settings: dict[str, Any], mode: str, xp: ModuleType, batch) -> Any:
    """float[B, W]: d loss / d logp of TRL's ``loss_type`` under resolved ``settings``."""
    s = settings
    if s["top_entropy_quantile"] < 1.0:
        raise InputError(
            f"top_entropy_quantile={s['top_entropy_quantile']!r} is invalid here: the per-token "
            "gradient needs token entropies (only 1.0 is restated)"
        )
    mask = batch.mask
    adv = batch.advantages[:, None]
    log_ratio = batch.logp - batch.old_logp
    sequence = s["importance_sampling_level"] == "sequence"
    coef = (
        xp.exp(sequence_log_ratio(xp, log_ratio, mask))[:, None] if sequence else xp.exp(log_ratio)
    )
    vllm = s["use_vllm"] and s["vllm_importance_sampling_correction"]
    is_ratio = vllm_ratio(s, xp, batch) if vllm else None
    norm = _normaliser(s, mode, xp, batch)
    weights = norm
    if s["off_policy_mask_threshold"] is not None:
        weights = weights * off_policy_mask(s, xp, batch)
    if is_ratio is not None and mode != "vespo":
        weights = weights * is_ratio
    if mode == "cispo":
        cap = s["epsilon_high"] if s["epsilon_high"] is not None else s["epsilon"]
        grad = weights * -xp.minimum(coef, cap) * adv
    elif mode == "vespo":
        grad = weights * -gamma_weights(s, xp, adv, log_ratio, mask, is_ratio) * adv
    else:
        log_derivative = _log_derivative(s, mode, xp, adv, coef)
        grad = (
            spread(xp, log_derivative[:, 0], mask, weights)
            if sequence
            else weights * log_derivative
        )
    if s["beta"] > 0:
        grad = grad + _kl(s, xp, batch, norm, coef, sequence)
    return grad


def _normaliser(s: dict[str, Any], mode, xp: ModuleType, batch) -> Any:
    """n_{i,t} of the loss_type (:3153-3180); one process, no gradient accumulation."""
    mask = batch.mask
    rows = mask.shape[0] if batch.num_answers is None else batch.num_answers
    if mode in ("grpo", "sapo"):
        return mask / (rows * guarded_lengths(xp, mask, "clamp")[:, None])
    if mode == "bnpo":
        return mask / xp.maximum(xp.sum(mask), 1.0)
    if mode == "dr_grpo":
        return mask / (rows * s["max_completion_length"])
    if mode == "luspo":
        return mask / rows
    items = xp.sum(mask) if batch.num_tokens is None else batch.num_tokens  # num_items_in_batch
    return mask / xp.maximum(items, 1.0)


def _log_derivative(s: dict[str, Any], mode, xp: ModuleType, adv, coef) -> Any:
    """coef x d(per-token loss)/d coef: the clipped family and sapo's soft gate."""
    if mode == "sapo":
        tau = xp.where(adv > 0, s["sapo_temperature_pos"], s["sapo_temperature_neg"])
        gate = 1.0 / (1.0 + xp.exp(-tau * (coef - 1.0)))
        return -adv * 4.0 * gate * (1.0 - gate) * coef
    assert mode in _CLIPPED, mode
    low = s["epsilon"]
    high = s["epsilon_high"] if s["epsilon_high"] is not None else s["epsilon"]
    clipped = clamp(xp, coef, 1.0 - low, 1.0 + high)
    d_clipped = coef * passes(xp, coef, 1.0 - low, 1.0 + high)
    capped, d_capped = coef, coef
    if s["delta"] is not None:  # two-sided clipping (INTELLECT-2)
        capped = xp.minimum(coef, s["delta"])
        d_capped = coef * passes(xp, coef, high=s["delta"])
    return -pick_min(xp, capped * adv, clipped * adv, d_capped * adv, d_clipped * adv)


def vllm_ratio(s: dict[str, Any], xp: ModuleType, batch) -> Any:
    """The vLLM importance-sampling ratio: float[B, W] (token modes) or float[B, 1] (sequence)."""
    if batch.rollout_logp is None:
        raise InputError("rollout_logp=None is invalid: the vLLM correction needs the sampler's")
    diff = xp.nan_to_num((batch.old_logp - batch.rollout_logp) * batch.mask, nan=0.0)
    vmode = s["vllm_importance_sampling_mode"]
    if vmode.startswith("sequence"):
        diff = xp.sum(diff, axis=-1, keepdims=True)
    ratio = xp.exp(diff)
    low, high = s["vllm_importance_sampling_clip_min"], s["vllm_importance_sampling_clip_max"]
    if vmode.endswith("truncate"):
        return clamp(xp, ratio, low, high)
    low = -math.inf if low is None else low
    high = math.inf if high is None else high
    return xp.where((ratio < low) | (ratio > high), 0.0, ratio)


def off_policy_mask(s: dict[str, Any], xp: ModuleType, batch) -> Any:
    """float[B, 1]: keep answers with A >= 0 or mean log(pi_sampler / pi_theta) <= threshold."""
    if s["use_vllm"]:
        if batch.rollout_logp is None:
            raise InputError(
                "rollout_logp=None is invalid: the off-policy mask under vLLM needs it"
            )
        sampling = batch.rollout_logp
    else:
        sampling = batch.old_logp
    kl = xp.nan_to_num(sampling - batch.logp, nan=0.0)
    mean_kl = xp.sum(kl * batch.mask, axis=-1) / guarded_lengths(xp, batch.mask, "clamp")
    keep = (batch.advantages >= 0) | (mean_kl <= s["off_policy_mask_threshold"])
    return keep[:, None] * 1.0


def gamma_weights(s: dict[str, Any], xp: ModuleType, adv, log_ratio, mask, is_ratio) -> Any:
    """VESPO's detached phi(w) = exp(lambda + k log w - lambda w), float[B, 1] (:2972)."""
    floor = math.log(1e-8)
    seq = xp.sum(clamp(xp, log_ratio, -20.0, 20.0) * mask, axis=-1, keepdims=True)
    if is_ratio is not None:
        log_is = clamp(xp, xp.log(xp.maximum(is_ratio, 1e-30)), floor, 20.0)
        seq = seq + xp.sum(log_is, axis=-1, keepdims=True)
    log_w = clamp(xp, seq, floor, 20.0)
    nonneg = adv >= 0
    k = xp.where(nonneg, s["vespo_k_pos"], s["vespo_k_neg"])
    lam = xp.maximum(xp.where(nonneg, s["vespo_lambda_pos"], s["vespo_lambda_neg"]), 1e-4)
    phi = xp.exp(lam + k * log_w - lam * xp.exp(log_w))
    return xp.nan_to_num(phi, nan=0.0, posinf=0.0, neginf=0.0)


def _kl(s: dict[str, Any], xp: ModuleType, batch, norm, coef, sequence) -> Any:
    """beta k3 per token, times the ratio coef_1 when use_bias_correction_kl (:3098-3105, :3150)."""
    if batch.ref_logp is None:
        raise InputError("ref_logp=None is invalid: beta > 0 needs the reference log-probs")
    diff = batch.ref_logp - batch.logp
    k3 = xp.exp(diff) - diff - 1.0
    d_k3 = 1.0 - xp.exp(diff)
    beta = s["beta"]
    if not s["use_bias_correction_kl"]:
        return beta * norm * d_k3
    if not sequence:
        return beta * norm * (d_k3 + k3) * coef
    through_coef = spread(xp, coef[:, 0], batch.mask, beta * norm * k3)
    return beta * norm * d_k3 * coef + through_coef
