"""Per-token gradients: the batch they act on and the pieces every trainer's loss shares.

A batch holds B answers padded to width W (B is the frameworks' batch dimension, answers here).
Each loss is sum_{i,t} n_{i,t} l_{i,t}: a per-token loss l times an aggregation weight n (mask
included). The gradient is d loss / d log pi_theta(y_{i,t}), the number autograd gives the
framework; on-policy it reads -A_i c(L_i). Where l_{i,t} depends on answer i's tokens through a
sequence ratio c_i = exp(sum_t m_t x_t / L_i) (GSPO, GMPO), ``spread`` distributes its
log-derivative over the answer's tokens. ``pick_max``/``pick_min`` are torch.maximum/minimum's
derivatives (a tie splits it in halves). Every function takes ``xp`` (numpy or jax.numpy).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple

from rlxform.core.xp import float_array, namespace


class TokenBatch(NamedTuple):
    """One (micro-)batch of B answers padded to width W (a pytree).

    advantages: float[B], one per answer (broadcast onto its tokens).
    mask: float[B, W], 1 on the answer's tokens, 0 on padding.
    logp: float[B, W], log pi_theta of each token: the variable of the gradient.
    old_logp: float[B, W], log-probs when the batch was scored (ratio = exp(logp - old_logp));
      equal to ``logp`` on the first update.
    rollout_logp: float[B, W] or None, the sampler's log-probs (vLLM) for the mismatch corrections.
    ref_logp: float[B, W] or None, the reference model's (KL terms).
    num_tokens: the token-mean normaliser (global batch tokens); None: mask.sum().
    num_answers: the seq-mean normaliser (global batch answers); None: B.
    """

    advantages: Any
    mask: Any
    logp: Any
    old_logp: Any
    rollout_logp: Any = None
    ref_logp: Any = None
    num_tokens: Any = None
    num_answers: Any = None


def as_arrays(batch: TokenBatch) -> tuple[Any, TokenBatch]:
    """The batch's namespace and the batch with float arrays (None fields kept)."""
    xp = namespace(*[v for v in batch if v is not None])
    fields = [None if v is None else float_array(xp, v) for v in batch]
    return xp, TokenBatch(*fields)


def answer_advantages(xp: ModuleType, batch: TokenBatch) -> Any:
    """A_i on every position of answer i: float[B, W] (0 on padding, as the trainers pass it)."""
    return batch.advantages[:, None] * batch.mask


def lengths(xp: ModuleType, mask) -> Any:
    """L_i: float[B]."""
    return xp.sum(mask, axis=-1)


def totals(xp: ModuleType, batch: TokenBatch, mask=None) -> tuple[Any, Any]:
    """(N, B): the token-mean and seq-mean normalisers of the batch."""
    mask = batch.mask if mask is None else mask
    num_tokens = xp.sum(mask) if batch.num_tokens is None else batch.num_tokens
    num_answers = mask.shape[0] if batch.num_answers is None else batch.num_answers
    return num_tokens, num_answers


def aggregation_weights(
    xp: ModuleType,
    mask,
    agg: str,
    num_tokens,
    num_answers,
    *,
    horizon=None,
    length_guard: str = "eps",
) -> Any:
    """n_{i,t}: the weight of token t of answer i in the aggregated loss, float[B, W].

    token-mean 1/N; token-sum 1; seq-mean-token-sum 1/B; seq-mean-token-sum-norm 1/(B W) with
    W = ``horizon`` or the padded width; seq-mean-token-mean 1/(B L_i'), L_i' = L_i + 1e-8 (verl
    agg_loss, OpenRLHF aggregate_loss: ``length_guard="eps"``) or max(L_i, 1) (TRL: "clamp").
    """
    if agg == "token-mean":
        return mask / num_tokens
    if agg == "token-sum":
        return mask
    if agg == "seq-mean-token-sum":
        return mask / num_answers
    if agg == "seq-mean-token-sum-norm":
        width = mask.shape[-1] if horizon is None else horizon
        return mask / (num_answers * width)
    if agg == "seq-mean-token-mean":
        return mask / (num_answers * guarded_lengths(xp, mask, length_guard)[:, None])
    raise ValueError(agg)


def guarded_lengths(xp: ModuleType, mask, length_guard: str) -> Any:
    """L_i + 1e-8 ("eps", verl and OpenRLHF) or max(L_i, 1) ("clamp", TRL and GSPO means)."""
    counts = lengths(xp, mask)
    return counts + 1e-8 if length_guard == "eps" else xp.maximum(counts, 1.0)


def sequence_log_ratio(xp: ModuleType, log_ratio, mask) -> Any:
    """sum_t m_t x_t / max(L_i, 1): the log of the GSPO sequence ratio, float[B]."""
    return xp.sum(log_ratio * mask, axis=-1) / guarded_lengths(xp, mask, "clamp")


def spread(xp: ModuleType, log_derivative, mask, weights) -> Any:
    """d/d logp_t of sum_u weights_{i,u} F_i(c_i), c_i = exp(sum_t m_t x_t / max(L_i, 1)).

    ``log_derivative`` is c_i F_i'(c_i), float[B]; ``weights`` is float[B, W] (aggregation weight
    times any fixed per-token factor). Returns float[B, W].
    """
    per_answer = log_derivative * xp.sum(weights, axis=-1) / guarded_lengths(xp, mask, "clamp")
    return per_answer[:, None] * mask


def pick_max(xp: ModuleType, a, b, da, db) -> Any:
    """Derivative of torch.maximum(a, b) given da, db (ties: half each)."""
    return xp.where(a > b, da, xp.where(a < b, db, 0.5 * (da + db)))


def pick_min(xp: ModuleType, a, b, da, db) -> Any:
    """Derivative of torch.minimum(a, b) given da, db (ties: half each)."""
    return xp.where(a < b, da, xp.where(a > b, db, 0.5 * (da + db)))


def passes(xp: ModuleType, x, low=None, high=None) -> Any:
    """1 where torch.clamp(x, low, high) passes the gradient (low <= x <= high), else 0."""
    inside = xp.ones_like(x)
    if low is not None:
        inside = inside * (x >= low)
    if high is not None:
        inside = inside * (x <= high)
    return inside


def clamp(xp: ModuleType, x, low=None, high=None) -> Any:
    """torch.clamp with optional bounds."""
    if low is not None:
        x = xp.maximum(x, low)
    if high is not None:
        x = xp.minimum(x, high)
    return x
