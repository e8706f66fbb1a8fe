"""Exact expected gradients of KL estimators against grad KL(pi || pi_ref), by enumeration.

A tabular sequence policy is the prefix tree of ``core.sequences`` (``SequenceTask(V, L)``):
per-prefix softmaxes over V tokens, token V-1 stops, and a response also ends at
``max_length`` tokens. Every response is enumerated, so each expectation E_{y~pi}[.] is an
exact float64 NumPy sum. A bandit is the tree with ``max_length = 1`` (one prefix, V one-token
responses). Placement ``loss``: E_y[sum_t grad k(l_t)] with the sampled y held fixed
(token-sum, sequence mean). Placement ``reward``: E_y[k(y) grad log pi(y)] with
k(y) = sum_t k(l_t) detached (verl's ``use_kl_in_reward`` summed over tokens) and no baseline;
a baseline independent of the sample's own y (leave-one-out, or a mean over other samples)
leaves this expectation unchanged, and per-token return-to-go gives the same expectation. The
audit table over random policies is ``rlxform.reproduce.penalties.kl_estimator_table``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from rlxform.core import sequences
from rlxform.core.kl import K3_CLAMP, canonical_estimator, check_placement
from rlxform.core.sequences import SequenceTask

ArrayLike = Any

AUDIT_ESTIMATORS = ("k1", "k2", "k3", "abs")

# What the exact expected gradient follows (derivations in the module docs of rlxform.core.kl and in
# ``audit_rows``); "prefix law fixed" = sum over prefixes s of P_pi(s) grad D(pi(.|s), ref(.|s))
# with P_pi(s) not differentiated.
FOLLOWS = {
    ("bandit", "k1", "loss"): "0 (E grad log pi = 0)",
    ("bandit", "k1", "reward"): "grad KL(pi||ref) (exact)",
    ("bandit", "k2", "loss"): "grad KL(pi||ref) (exact)",
    ("bandit", "k2", "reward"): "grad (E_pi[l^2]/2 - KL(pi||ref))",
    ("bandit", "k3", "loss"): "grad KL(ref||pi) (forward KL, exact)",
    ("bandit", "k3", "reward"): "grad (KL(pi||ref) - KL(ref||pi))",
    ("bandit", "abs", "loss"): "grad sum_y |pi - ref| (signs held)",
    ("bandit", "abs", "reward"): "grad (E_pi|l| - sum_y |pi - ref|)",
    ("sequence", "k1", "loss"): "0 (E grad log pi = 0 per token)",
    ("sequence", "k1", "reward"): "grad KL(pi||ref) (exact)",
    ("sequence", "k2", "loss"): "per-prefix reverse KL, prefix law fixed",
    ("sequence", "k2", "reward"): "no named divergence",
    ("sequence", "k3", "loss"): "per-prefix forward KL, prefix law fixed",
    ("sequence", "k3", "reward"): "no named divergence",
    ("sequence", "abs", "loss"): "per-prefix sum |pi - ref|, prefix law fixed",
    ("sequence", "abs", "reward"): "no named divergence",
}


def token_log_probs(logits: ArrayLike, task: SequenceTask) -> NDArray:
    """log pi(y_t | y_<t) per response and position, 0 on padding: ``float64[N, L]``.

    Args:
      logits: ``float[num_prefixes, V]`` per-prefix softmax logits (``core.sequences``' tree).
    """
    return sequences.token_log_probs(np.asarray(logits, np.float64), task)[0]


def kl_divergence(logits: ArrayLike, ref_logits: ArrayLike, task: SequenceTask) -> float:
    """KL(pi || pi_ref) = sum_y pi(y) log(pi(y) / pi_ref(y)) over all responses."""
    log_pi = token_log_probs(logits, task).sum(-1)
    log_ref = token_log_probs(ref_logits, task).sum(-1)
    return float(np.sum(np.exp(log_pi) * (log_pi - log_ref)))


def _estimate_and_slope(estimator: str, log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """k(l) and dk/dl (0 where verl's k3 clamp binds), float64, same shape as ``log_ratio``."""
    if estimator == "k1":
        return log_ratio, np.ones_like(log_ratio)
    if estimator == "k2":
        return 0.5 * log_ratio**2, log_ratio
    if estimator == "k3":
        raw = np.exp(-log_ratio) + log_ratio - 1.0
        inside = np.abs(raw) <= K3_CLAMP
        return np.clip(raw, -K3_CLAMP, K3_CLAMP), np.where(inside, 1.0 - np.exp(-log_ratio), 0.0)
    return np.abs(log_ratio), np.sign(log_ratio)


def expected_kl_gradient(
    estimator: str, placement: str, logits: ArrayLike, ref_logits: ArrayLike, task: SequenceTask
) -> NDArray:
    """Exact E_{y~pi}[g] of one KL estimator's gradient w.r.t. the logits: ``float64[nodes, V]``.

    loss:   E_y[sum_t k'(l_t) grad log pi(y_t|y_<t)],   l_t = log pi(y_t|y_<t) - log ref(y_t|y_<t)
    reward: E_y[k(y) grad log pi(y)],  k(y) = sum_t k(l_t) detached (score function, no baseline)
    Sign: the gradient of the penalty (descent direction of the divergence it follows); the score
    of a softmax node is e_token - pi(.|node).
    """
    estimator = canonical_estimator(estimator)
    placement = check_placement(placement)
    logits = np.asarray(logits, np.float64)
    tok, live = sequences.token_log_probs(logits, task)
    log_ratio = tok - token_log_probs(ref_logits, task)
    response_probs = np.exp(tok.sum(-1))
    values, slopes = _estimate_and_slope(estimator, log_ratio)
    values = np.where(live, values, 0.0)
    if placement == "loss":
        coef = response_probs[:, None] * slopes
    else:
        coef = (response_probs * values.sum(-1))[:, None] * np.ones_like(tok)
    return sequences.score_gradient(logits, np.where(live, coef, 0.0), task)


def true_kl_gradient(logits: ArrayLike, ref_logits: ArrayLike, task: SequenceTask) -> NDArray:
    """grad_logits KL(pi || pi_ref) = E[log(pi/ref)(y) grad log pi(y)]: ``float64[nodes, V]``."""
    return expected_kl_gradient("k1", "reward", logits, ref_logits, task)


def compare(estimate: ArrayLike, truth: ArrayLike) -> tuple[float, float]:
    """(cosine, relative_error = |E g - grad KL| / |grad KL|); cosine NaN when E g = 0."""
    estimate = np.ravel(np.asarray(estimate, np.float64))
    truth = np.ravel(np.asarray(truth, np.float64))
    norm_e, norm_t = np.linalg.norm(estimate), np.linalg.norm(truth)
    relative = float(np.linalg.norm(estimate - truth) / norm_t)
    if norm_e <= 1e-12 * norm_t:
        return float("nan"), relative
    return float(estimate @ truth / (norm_e * norm_t)), relative
