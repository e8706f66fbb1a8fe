"""verl 0.9.1 policy losses: per-token gradient d loss / d log pi_theta, restated from the math.

Every registered ``loss_mode`` (core_algos.py) as the loss function computes it: the per-token
loss's derivative times the ``agg_loss`` weight (sapo forces seq-mean-token-mean, geo_mean takes
its own mean over answers), with the decoupled rollout-correction weights and mask
(``algorithm.rollout_correction``) or bypass mode's own. clip_cov drops randomly chosen tokens:
``dropped`` gives one draw; without it the gradient is the expectation over verl's draw.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from rlxform.core.loss_modes import verl_correction
from rlxform.core.loss_modes.batch import (
    aggregation_weights,
    answer_advantages,
    clamp,
    guarded_lengths,
    passes,
    pick_max,
    pick_min,
    sequence_log_ratio,
    totals,
)
from rlxform.validation import InputError

LOG_RATIO_BOUND = 20.0  # the clamp of log r in vanilla, dppo, sapo, cispo (core_algos.py:1343)


def gradient(settings: dict[str, Any], mode: str, xp: ModuleType, batch, dropped=None) -> Any:
    """float[B, W]: d loss / d logp of verl's ``mode`` under resolved ``settings``."""
    s = settings
    mask = batch.mask
    weights = None
    if mode == "bypass_mode":
        return _bypass(s, xp, batch)
    if s["rollout_is"] is not None or s["rollout_rs"] is not None:
        if batch.rollout_logp is None:
            raise InputError("rollout_logp=None is invalid: rollout correction needs the sampler's")
        log_ratio = batch.old_logp - batch.rollout_logp
        weights, mask = verl_correction.correct(xp, log_ratio, mask, s)
    num_tokens, num_answers = totals(xp, batch, mask)
    adv = answer_advantages(xp, batch)
    log_ratio = batch.logp - batch.old_logp
    if mode == "geo_mean":
        return _geo_mean(s, xp, adv, log_ratio, mask, weights)
    agg = "seq-mean-token-mean" if mode == "sapo" else s["loss_agg_mode"]
    norm = aggregation_weights(
        xp, mask, agg, num_tokens, num_answers, horizon=s["loss_scale_factor"]
    )
    if weights is not None:
        norm = norm * weights
    low, high = _clip_range(s)
    if mode == "vanilla":
        ratio, d_ratio = _ratio(xp, log_ratio)
        per_token = ppo_clip(xp, adv, ratio, d_ratio, low, high, s["clip_ratio_c"])
    elif mode in ("dppo_tv", "dppo_kl"):
        per_token = _dppo(s, mode, xp, adv, batch, log_ratio, low, high)
    elif mode == "gspo":
        seq = sequence_log_ratio(xp, log_ratio, mask)[:, None]
        ratio = xp.exp(xp.minimum(seq, 10.0)) * xp.ones_like(mask)  # clamp(max=10), :1590
        per_token = ppo_clip(xp, adv, ratio, ratio * passes(xp, seq, high=10.0), low, high, None)
    elif mode == "sapo":
        ratio, d_ratio = _ratio(xp, log_ratio)
        tau = xp.where(adv > 0, s["tau_pos"], s["tau_neg"])
        gate = 1.0 / (1.0 + xp.exp(-tau * (ratio - 1.0)))
        per_token = -adv * 4.0 * gate * (1.0 - gate) * d_ratio
    elif mode == "gpg":
        per_token = -adv
    elif mode == "clip_cov":
        per_token = _clip_cov(s, xp, adv, batch.logp, log_ratio, mask, low, high, dropped)
    elif mode == "kl_cov":
        per_token = _kl_cov(s, xp, adv, batch.logp, log_ratio, mask)
    elif mode == "dro":
        per_token = -adv + s["dro_beta"] * log_ratio
    elif mode == "cispo":
        ratio, _ = _ratio(xp, log_ratio)
        per_token = -adv * clamp(xp, ratio, 1.0 - low, 1.0 + high)
    else:
        raise ValueError(mode)
    return norm * per_token


def _clip_range(s: dict[str, Any]) -> tuple[float, float]:
    low = s["clip_ratio_low"] if s["clip_ratio_low"] is not None else s["clip_ratio"]
    high = s["clip_ratio_high"] if s["clip_ratio_high"] is not None else s["clip_ratio"]
    return low, high


def _ratio(xp: ModuleType, log_ratio) -> tuple[Any, Any]:
    """r = exp(clamp(log r, -20, 20)) and d r / d logp."""
    ratio = xp.exp(clamp(xp, log_ratio, -LOG_RATIO_BOUND, LOG_RATIO_BOUND))
    return ratio, ratio * passes(xp, log_ratio, -LOG_RATIO_BOUND, LOG_RATIO_BOUND)


def ppo_clip(xp: ModuleType, adv, ratio, d_ratio, low, high, dual) -> Any:
    """d/d logp of verl's clipped loss max(-A r, -A clip(r)), dual clip min(., -A c) for A < 0."""
    loss1, loss2 = -adv * ratio, -adv * clamp(xp, ratio, 1.0 - low, 1.0 + high)
    grad1 = -adv * d_ratio
    grad2 = grad1 * passes(xp, ratio, 1.0 - low, 1.0 + high)
    clipped = pick_max(xp, loss1, loss2, grad1, grad2)
    if dual is None:
        return clipped
    loss3 = -adv * dual
    lower = pick_min(xp, loss3, xp.maximum(loss1, loss2), xp.zeros_like(clipped), clipped)
    return xp.where(adv < 0, lower, clipped)


def _dppo(s: dict[str, Any], mode, xp: ModuleType, adv, batch, log_ratio, low, high) -> Any:
    """-A sg(min(r, clip_ratio_c)) m: REINFORCE in a TV or binary-KL trust region (:1380, :1461)."""
    ratio, _ = _ratio(xp, log_ratio)
    truncated = xp.minimum(ratio, s["clip_ratio_c"])
    prob, old_prob = xp.exp(batch.logp), xp.exp(batch.old_logp)
    if mode == "dppo_tv":
        valid = xp.where(adv > 0, prob - old_prob <= high, prob - old_prob >= -low)
    else:
        binary_kl = old_prob * (batch.old_logp - batch.logp) + (1.0 - old_prob) * xp.log(
            (1.0 - old_prob + 1e-8) / (1.0 - prob + 1e-8)
        )
        valid = xp.where(
            adv > 0,
            (binary_kl <= high) | (prob <= old_prob),
            (binary_kl <= low) | (prob >= old_prob),
        )
    return -adv * truncated * valid


def clip_cov_candidates(
    s: dict[str, Any], xp: ModuleType, adv, logp, log_ratio, mask, low, high
) -> tuple[Any, Any]:
    """(candidate tokens float[B, W], how many verl drops): covariance in (lb, ub), not clipped."""
    ratio = xp.exp(log_ratio)
    clipped = (-adv * clamp(xp, ratio, 1.0 - low, 1.0 + high) > -adv * ratio) & (mask > 0)
    count = xp.sum(mask)
    centred_adv = adv - xp.sum(adv * mask) / (count + 1e-8)
    centred_logp = logp - xp.sum(logp * mask) / (count + 1e-8)
    cov = centred_adv * centred_logp
    candidates = (cov < s["clip_cov_ub"]) & (cov > s["clip_cov_lb"]) & (mask > 0) & ~clipped
    return candidates * 1.0, xp.maximum(xp.floor(s["clip_cov_ratio"] * count), 1.0)


def _clip_cov(
    s: dict[str, Any], xp: ModuleType, adv, logp, log_ratio, mask, low, high, dropped
) -> Any:
    """Vanilla clip (no dual clip, no log-ratio clamp), dropped tokens' gradient zero (:1744)."""
    ratio = xp.exp(log_ratio)
    per_token = ppo_clip(xp, adv, ratio, ratio, low, high, None)
    if dropped is None:
        candidates, count = clip_cov_candidates(s, xp, adv, logp, log_ratio, mask, low, high)
        share = xp.minimum(1.0, count / xp.maximum(xp.sum(candidates), 1.0))
        return per_token * (1.0 - candidates * share)
    return per_token * (1.0 - xp.asarray(dropped, dtype=per_token.dtype))


def kl_cov_selected(s: dict[str, Any], xp: ModuleType, adv, logp, mask) -> Any:
    """float[B, W]: the max(1, int(kl_cov_ratio N)) valid tokens of largest covariance (:1849)."""
    valid = mask > 0
    count = xp.sum(valid)
    centred = (adv - xp.sum(adv * valid) / count) * (logp - xp.sum(logp * valid) / count)
    flat = xp.where(valid, centred, -xp.inf).reshape(-1)
    rank = xp.argsort(xp.argsort(-flat, stable=True), stable=True).reshape(mask.shape)
    k = xp.maximum(xp.floor(count * s["kl_cov_ratio"]), 1.0)
    return (rank < k) & valid


def _kl_cov(s: dict[str, Any], xp: ModuleType, adv, logp, log_ratio, mask) -> Any:
    """-A r on every token (no clip) plus ppo_kl_coef |log r| on the selected ones."""
    selected = kl_cov_selected(s, xp, adv, logp, mask)
    return -adv * xp.exp(log_ratio) + selected * s["ppo_kl_coef"] * xp.sign(log_ratio)


def _geo_mean(s: dict[str, Any], xp: ModuleType, adv, log_ratio, mask, weights) -> Any:
    """GMPO: mean over answers of -Abar_i exp(mean_t clip_sign(x_t)) (x token log-ratio, :1929)."""
    low, high = _clip_range(s)
    sign = xp.sign(adv)
    clipped = clamp(xp, log_ratio, -low, high)
    a, b = sign * log_ratio, sign * clipped
    d_min = sign * pick_min(xp, a, b, sign, sign * passes(xp, log_ratio, -low, high))
    x_min = sign * xp.minimum(a, b)
    length = guarded_lengths(xp, mask, "eps")
    seq_ratio = xp.exp(xp.sum(x_min * mask, axis=-1) / length)
    mean_adv = xp.sum(adv * mask, axis=-1) / length
    factor = -mean_adv * seq_ratio / mask.shape[0]  # torch.mean over the batch rows (:2000)
    if weights is not None:  # token weights enter as their geometric mean per answer (:1991-1998)
        factor = factor * xp.exp(xp.sum(xp.log(weights + 1e-10) * mask, axis=-1) / length)
    return (factor / length)[:, None] * d_min * mask


def _bypass(s: dict[str, Any], xp: ModuleType, batch) -> Any:
    """bypass_mode (:2414): old = rollout; IS and rejection from log pi_theta - log pi_rollout."""
    num_tokens, num_answers = totals(xp, batch)  # the engine counts tokens before rejection
    log_ratio = batch.logp - batch.old_logp
    weights, mask = verl_correction.correct(xp, log_ratio, batch.mask, s)
    adv = answer_advantages(xp, batch)
    norm = aggregation_weights(
        xp, mask, s["loss_agg_mode"], num_tokens, num_answers, horizon=s["loss_scale_factor"]
    )
    if s["loss_type"] == "reinforce":  # compute_policy_loss_reinforce :2333
        return norm * -adv * (1.0 if weights is None else weights)
    low, high = _clip_range(s)  # ppo_clip: vanilla, IS weights never applied (:2529-2541)
    ratio, d_ratio = _ratio(xp, log_ratio)
    return norm * ppo_clip(xp, adv, ratio, d_ratio, low, high, s["clip_ratio_c"])
