"""Exact expected gradients of KL estimators against grad KL(pi || pi_ref), by enumeration.

A tabular sequence policy is the prefix tree of ``core.sequences`` (``SequenceTask(V, L)``):
per-prefix softmaxes over V tokens, token V-1 stops, and a response also ends at
``max_length`` tokens. Every response is enumerated, so each expectation E_{y~pi}[.] is an
exact float64 NumPy sum. A bandit is the tree with ``max_length = 1`` (one prefix, V one-token
responses). Placement ``loss``: E_y[sum_t grad k(l_t)] with the sampled y held fixed
(token-sum, sequence mean), optionally sampled from another policy pi_old (the importance-
weighted estimators: TRL's k3_ratio and OpenRLHF's _unbiased forms keep the pi-expectation,
verl's "+" types do not). Placement ``reward``: E_y[k(y) grad log pi(y)] with
k(y) = sum_t k(l_t) detached and no baseline: the KL part of the ``advantage`` placement
(OpenRLHF), and of the ``reward`` placement (verl ``use_kl_in_reward``) for schemes linear in
the reward; a baseline independent of the sample's own y (leave-one-out, or a mean over other
samples) leaves this expectation unchanged, and per-token return-to-go gives the same
expectation. GRPO on penalised rewards mixes the two terms (``core.kl.kl_equilibrium``). The
audit table over random policies is ``rlxform.reproduce.penalties.kl_estimator_table``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from rlxform.core import kl, sequences
from rlxform.core.kl import canonical_estimator, check_placement, kl_value_and_slope
from rlxform.core.sequences import SequenceTask
from rlxform.validation import InputError, check_choice

ArrayLike = Any

AUDIT_ESTIMATORS = kl.ESTIMATORS
AUDIT_PLACEMENTS = ("loss", "reward")  # reward: the score-function term (also ``advantage``)

# What the exact expected gradient follows, on-policy (derivations in the module docs of
# rlxform.core.kl and in ``audit_rows``); "prefix law fixed" = sum over prefixes s of
# P_pi(s) grad D(pi(.|s), ref(.|s)) with P_pi(s) not differentiated.
_BY_VALUE = {
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


def _follows(policy: str, estimator: str, placement: str) -> str:
    form = kl.FORMS[estimator]
    value = "k3" if form.value == "k3_unclamped" else form.value
    if placement == "loss" and form.gradient != "value":  # gradient l grad log pi at rho = 1
        value = "k2"
    return _BY_VALUE[(policy, value, placement)]


FOLLOWS = {
    (policy, estimator, placement): _follows(policy, estimator, placement)
    for policy in ("bandit", "sequence")
    for estimator in AUDIT_ESTIMATORS
    for placement in AUDIT_PLACEMENTS
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


def expected_kl_gradient(
    estimator: str,
    placement: str,
    logits: ArrayLike,
    ref_logits: ArrayLike,
    task: SequenceTask,
    sampling_logits: ArrayLike | None = None,
) -> NDArray:
    """Exact E_{y~pi_old}[g] of a KL estimator's gradient in the logits: ``float64[nodes, V]``.

    loss:   E_{y~pi_old}[sum_t k'(l_t) grad log pi(y_t|y_<t)],  l_t = log pi - log ref per token,
            k' = d k / d l with the estimator's gradient rule at rho_t = pi / pi_old per token
            (``kl.kl_value_and_slope``: rho l for k3_ratio, min(rho, 10) l for the _unbiased
            forms, l for verl's "+" types)
    reward: E_y[k(y) grad log pi(y)],  k(y) = sum_t k(l_t) detached (score function, no baseline)
    ``sampling_logits`` (pi_old, the policy that sampled; None: pi itself) for ``loss`` only.
    Sign: the gradient of the penalty (descent direction of the divergence it follows); the score
    of a softmax node is e_token - pi(.|node).
    """
    estimator = canonical_estimator(estimator)
    placement = check_choice("placement", check_placement(placement), AUDIT_PLACEMENTS)
    logits = np.asarray(logits, np.float64)
    tok, live = sequences.token_log_probs(logits, task)
    ref_tok = token_log_probs(ref_logits, task)
    log_ratio = tok - ref_tok
    if sampling_logits is None:
        old_tok = tok
    elif placement != "loss":
        raise InputError(
            "sampling_logits is invalid with placement='reward': the audit of a detached "
            "reward term is on-policy only"
        )
    else:
        old_tok = token_log_probs(sampling_logits, task)
    values, slopes = kl_value_and_slope(estimator, log_ratio, old_tok - ref_tok)
    values = np.where(live, values, 0.0)
    if placement == "loss":
        coef = np.exp(old_tok.sum(-1))[:, None] * slopes
    else:
        coef = (np.exp(tok.sum(-1)) * values.sum(-1))[:, None] * np.ones_like(tok)
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
