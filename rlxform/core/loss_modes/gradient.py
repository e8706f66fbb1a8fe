"""Per-token gradients of a reduced loss mode and of the trainers' KL loss terms.

``token_gradient(loss_mode, batch)`` is d loss / d log pi_theta(y_{i,t}) of the framework's own
loss under the ``LossMode``'s settings, float[B, W], in the batch's namespace (NumPy float64, or
JAX when the batch holds JAX arrays: the same surrogate runs in the simulator). On the first
update (``old_logp == logp``, no sampler mismatch) it equals -A_i c(L_i) scale on every token,
with c the reducer's ``length_factor``. ``kl_term_gradient`` does the same for verl's
``use_kl_loss`` term and OpenRLHF's ``algo.kl.use_loss`` term (TRL's KL is part of its loss:
set ``beta``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from rlxform.core.loss_modes import openrlhf, trl, verl
from rlxform.core.loss_modes.batch import (
    TokenBatch,
    aggregation_weights,
    as_arrays,
    clamp,
    passes,
    totals,
)
from rlxform.core.loss_modes.record import LossMode
from rlxform.core.loss_modes.settings import VERL_AGG_MODES
from rlxform.core.loss_modes.table import VERSIONS
from rlxform.validation import InputError, check_choice

VERL_KL_TYPES = ("k1", "kl", "abs", "k2", "mse", "low_var_kl", "k3", "k1+", "k3+", "low_var_kl+")
OPENRLHF_KL_ESTIMATORS = ("k1", "k2", "k3")
KL_IS_WEIGHT_CLIP = 10.0  # openrlhf/models/utils.py KL_IS_WEIGHT_CLIP


def token_gradient(loss_mode: LossMode, batch: TokenBatch, *, dropped: Any = None) -> Any:
    """float[B, W]: d loss / d logp of ``loss_mode`` on ``batch``.

    Args:
      loss_mode: from ``reduce``.
      batch: a ``TokenBatch`` (NumPy or JAX arrays).
      dropped: verl clip_cov only: float[B, W], the tokens verl's random draw dropped; None gives
        the expectation over the draw (each candidate dropped with probability
        min(1, k / candidates)).
    """
    newest = VERSIONS[loss_mode.framework]
    if loss_mode.version != newest:
        raise InputError(
            f"loss_mode.version={loss_mode.version!r} is invalid: token_gradient restates "
            f"{loss_mode.framework} {newest}'s loss only (older releases are reduced, not restated)"
        )
    xp, batch = as_arrays(batch)
    settings = dict(loss_mode.settings)
    if loss_mode.framework == "verl":
        return verl.gradient(settings, loss_mode.mode, xp, batch, dropped)
    if dropped is not None:
        raise InputError(f"dropped is invalid for {loss_mode.framework}: only verl clip_cov draws")
    if loss_mode.framework == "trl":
        return trl.gradient(settings, loss_mode.mode, xp, batch)
    return openrlhf.gradient(settings, loss_mode.mode, xp, batch)


def kl_term_gradient(
    framework: str,
    estimator: str,
    batch: TokenBatch,
    *,
    loss_agg_mode: str = "token-mean",
    unbiased_gradient: bool = False,
) -> Any:
    """float[B, W]: d (KL loss term, before its coefficient) / d logp.

    verl (workers/utils/losses.py:132-140): ``kl_penalty(logp, ref, kl_loss_type)``
    (core_algos.py:2188) aggregated with the actor's ``loss_agg_mode``; "+" types take k2's
    gradient straight through. OpenRLHF (ppo_actor.py:318-331): ``compute_approx_kl``
    (models/utils.py:69, log-probs cast to float32) always token-mean; ``unbiased_gradient`` gives
    every estimator the gradient w (log pi - log pi_ref), w = min(pi / pi_old, 10) detached.
    """
    check_choice("framework", framework, ("verl", "openrlhf"))
    xp, batch = as_arrays(batch)
    if batch.ref_logp is None:
        raise InputError("ref_logp=None is invalid: a KL term needs the reference log-probs")
    num_tokens, num_answers = totals(xp, batch)
    if framework == "verl":
        check_choice("kl_loss_type", estimator, VERL_KL_TYPES)
        check_choice("loss_agg_mode", loss_agg_mode, VERL_AGG_MODES)
        norm = aggregation_weights(xp, batch.mask, loss_agg_mode, num_tokens, num_answers)
        return norm * _verl_kl(xp, estimator, batch.logp - batch.ref_logp)
    check_choice("estimator", estimator, OPENRLHF_KL_ESTIMATORS)
    norm = batch.mask / num_tokens
    logp, ref = (_float32(xp, v) for v in (batch.logp, batch.ref_logp))
    log_ratio = logp - ref
    if unbiased_gradient:
        weight = xp.minimum(xp.exp(logp - _float32(xp, batch.old_logp)), KL_IS_WEIGHT_CLIP)
        return norm * weight * log_ratio
    if estimator == "k1":
        value, grad = log_ratio, xp.ones_like(log_ratio)
    elif estimator == "k2":
        value, grad = log_ratio**2 / 2.0, log_ratio
    else:
        floored = xp.maximum(log_ratio, -10.0)
        value = xp.exp(-floored) - 1.0 + floored
        grad = (1.0 - xp.exp(-floored)) * passes(xp, log_ratio, -10.0)
    return norm * grad * passes(xp, value, -10.0, 10.0)


def _float32(xp: ModuleType, values) -> Any:
    """OpenRLHF's ``.float()``: values rounded to float32, computed on in float64."""
    return xp.asarray(xp.asarray(values, dtype=xp.float32), dtype=values.dtype)


def _verl_kl(xp: ModuleType, kl_type: str, log_ratio) -> Any:
    """d/d logp of verl's per-token KL estimate, log_ratio = log pi - log pi_ref."""
    if kl_type.endswith("+") and kl_type not in ("k2+", "mse+"):
        return log_ratio  # straight-through k2 gradient (core_algos.py:2203-2213)
    if kl_type in ("k1", "kl"):
        return xp.ones_like(log_ratio)
    if kl_type == "abs":
        return xp.sign(log_ratio)
    if kl_type in ("k2", "mse"):
        return log_ratio
    diff = clamp(xp, -log_ratio, -20.0, 20.0)  # low_var_kl / k3: ref - logp clamped (:2238-2243)
    value = xp.exp(diff) - diff - 1.0
    return (1.0 - xp.exp(diff)) * passes(xp, -log_ratio, -20.0, 20.0) * passes(xp, value, -10, 10)
