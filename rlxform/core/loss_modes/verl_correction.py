"""verl 0.9.1 rollout correction: importance weights and rejection masks from a log-ratio.

The same rule serves the decoupled mode (``algorithm.rollout_correction``, log-ratio
log pi_old - log pi_rollout, fixed before the update) and ``bypass_mode`` (log pi_theta -
log pi_rollout, computed without gradient inside the loss). Restated from
rollout_corr_helper.py: weights :522-657 (TIS clamp, IcePop zeroing, batch normalisation), rejection
:197-413 (k1 band in log space, k2/k3 upper bounds; token, sequence sum, mean or max).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from rlxform.core.loss_modes.batch import clamp, guarded_lengths

SAFETY_BOUND = 20.0  # rollout_corr_helper.py:75


def thresholds(spec: Any) -> tuple[float | None, float]:
    """(lower, upper) of a threshold spec: 2.0 -> (None, 2.0); "0.5_2.0" -> (0.5, 2.0)."""
    if isinstance(spec, str) and "_" in spec:
        low, high = spec.split("_", 1)
        return float(low), float(high)
    return None, float(spec)


def is_weights(xp: ModuleType, log_ratio, mask, settings: dict[str, Any]) -> Any:
    """Rollout IS weights float[B, W] (zero on padding): token or sequence, TIS or IcePop."""
    low, high = thresholds(settings["rollout_is_threshold"])
    if settings["rollout_is"] == "token":
        raw = xp.exp(clamp(xp, log_ratio, -SAFETY_BOUND, SAFETY_BOUND))
    else:
        total = xp.sum(log_ratio * mask, axis=-1)
        raw = xp.exp(clamp(xp, total, -SAFETY_BOUND, SAFETY_BOUND))[:, None] * xp.ones_like(mask)
    raw = raw * mask
    if low is None:
        weights = xp.minimum(raw, high)
    else:
        weights = xp.where((raw >= low) & (raw <= high), raw, 0.0)
    if settings["rollout_is_batch_normalize"]:
        if settings["rollout_is"] == "token":
            mean = xp.sum(weights * mask) / (xp.sum(mask) + 1e-8)
        else:
            per_answer = xp.sum(weights * mask, axis=-1) / guarded_lengths(xp, mask, "eps")
            has_tokens = xp.sum(mask, axis=-1) > 0
            mean = xp.sum(per_answer * has_tokens) / xp.maximum(xp.sum(has_tokens), 1e-8)
        weights = xp.where(mean > 1e-8, weights / xp.where(mean > 1e-8, mean, 1.0), weights)
    return weights


def _option_thresholds(settings: dict[str, Any]) -> list[tuple[str, float | None, float]]:
    options = settings["rollout_rs"].split(",")
    spec = settings["rollout_rs_threshold"]
    specs = [p.strip() for p in spec.split(",") if p.strip()] if isinstance(spec, str) else [spec]
    specs = specs * len(options) if len(specs) == 1 else specs
    out = []
    for option, one in zip(options, specs, strict=True):
        low, high = thresholds(one)
        if option.endswith("k1") and low is None:
            low = 1.0 / high
        out.append((option, low, high))
    return out


def rejection_mask(xp: ModuleType, log_ratio, mask, settings: dict[str, Any]) -> Any:
    """The response mask after rejection sampling, float[B, W] (every option must pass)."""
    safe = clamp(xp, log_ratio, -SAFETY_BOUND, SAFETY_BOUND)
    stats = {"k1": -safe, "k2": 0.5 * safe**2, "k3": xp.exp(safe) - 1.0 - safe}
    keep_all = xp.ones_like(mask)
    for option, low, high in _option_thresholds(settings):
        level, kind = option.rsplit("_", 1)
        token_stat = stats[kind]
        if level == "token":
            stat = token_stat
        elif level == "seq_sum":
            stat = xp.sum(token_stat * mask, axis=-1)[:, None]
        elif level == "seq_mean":
            stat = (xp.sum(token_stat * mask, axis=-1) / guarded_lengths(xp, mask, "eps"))[:, None]
        else:  # seq_max over the answer's tokens (0 for an empty answer)
            masked = xp.where(mask > 0, token_stat, -xp.inf)
            top = xp.max(masked, axis=-1)
            stat = xp.where(top == -xp.inf, 0.0, top)[:, None]
        if kind == "k1":
            keep = (stat >= math.log(low)) & (stat <= math.log(high))
        else:
            keep = stat <= high
        keep_all = keep_all * keep
    return mask * keep_all


def correct(xp: ModuleType, log_ratio, mask, settings: dict[str, Any]) -> tuple[Any, Any]:
    """(IS weights or None, modified mask) as compute_rollout_correction_and_rejection_mask."""
    weights = None
    if settings["rollout_is"] is not None:
        weights = is_weights(xp, log_ratio, mask, settings)
    if settings["rollout_rs"] is not None:
        mask = rejection_mask(xp, log_ratio, mask, settings)
    return weights, mask
