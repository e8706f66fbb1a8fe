"""Exact expected gradients of KL estimators against grad KL(pi || pi_ref), by enumeration.

A tabular sequence policy is a prefix tree of per-prefix softmaxes over V tokens: token V-1
stops, and a response also ends at ``max_length`` tokens. Every response is enumerated, so each
expectation E_{y~pi}[.] is an exact float64 sum. A bandit is the tree with ``max_length = 1``
(one prefix, V one-token responses). Placement ``loss``: E_y[sum_t grad k(l_t)] with the sampled
y held fixed (token-sum, sequence mean). Placement ``reward``: E_y[k(y) grad log pi(y)] with
k(y) = sum_t k(l_t) detached (verl's ``use_kl_in_reward`` summed over tokens) and no baseline;
a baseline independent of the sample's own y (leave-one-out, or a mean over other samples)
leaves this expectation unchanged, and per-token return-to-go gives the same expectation.
"""

from __future__ import annotations

import functools
import itertools
from typing import NamedTuple

import numpy as np

from rlxform.core.kl import K3_CLAMP, PLACEMENTS, canonical_estimator, check_placement
from rlxform.types import ArrayLike, NDArray, PRNGKey
from rlxform.validation import check_float, check_int

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


class ResponseTree(NamedTuple):
    """All responses of a prefix-tree policy, padded to ``max_length`` = L.

    Attributes:
      prefix: ``int[N, L]`` index of the prefix (tree node) each token is drawn at.
      token: ``int[N, L]`` token ids (V-1 = stop).
      mask: ``bool[N, L]`` real tokens.
      num_prefixes: number of tree nodes (rows of the logits table).
      num_tokens: V.
    """

    prefix: np.ndarray
    token: np.ndarray
    mask: np.ndarray
    num_prefixes: int
    num_tokens: int


@functools.lru_cache(maxsize=16)
def enumerate_responses(num_tokens: int, max_length: int) -> ResponseTree:
    """Every response of a V-token tree policy: stop (token V-1) ends it, or length L does.

    Nodes are the stop-free prefixes of length < L (V = 3, L = 3: 7 nodes, 15 responses).
    ``max_length = 1`` is a bandit over V one-token responses.
    """
    num_tokens = check_int("num_tokens", num_tokens, 2)
    max_length = check_int("max_length", max_length, 1)
    stop = num_tokens - 1
    nodes: dict[tuple[int, ...], int] = {}
    for length in range(max_length):
        for seq in itertools.product(range(stop), repeat=length):
            nodes[seq] = len(nodes)
    responses = []
    for length in range(1, max_length + 1):
        for seq in itertools.product(range(num_tokens), repeat=length):
            if stop in seq[:-1] or (length < max_length and seq[-1] != stop):
                continue
            responses.append(seq)
    n = len(responses)
    prefix = np.zeros((n, max_length), np.int32)
    token = np.zeros((n, max_length), np.int32)
    mask = np.zeros((n, max_length), bool)
    for i, seq in enumerate(responses):
        for t, tok in enumerate(seq):
            prefix[i, t] = nodes[seq[:t]]
            token[i, t] = tok
            mask[i, t] = True
    return ResponseTree(prefix, token, mask, len(nodes), num_tokens)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def token_log_probs(logits: ArrayLike, tree: ResponseTree) -> NDArray:
    """log pi(y_t | y_<t) per response and position, 0 on padding: ``float64[N, L]``.

    Args:
      logits: ``float[num_prefixes, V]`` per-node softmax logits.
    """
    log_probs = _log_softmax(np.asarray(logits, np.float64))
    return np.where(tree.mask, log_probs[tree.prefix, tree.token], 0.0)


def kl_divergence(logits: ArrayLike, ref_logits: ArrayLike, tree: ResponseTree) -> float:
    """KL(pi || pi_ref) = sum_y pi(y) log(pi(y) / pi_ref(y)) over all responses."""
    log_pi = token_log_probs(logits, tree).sum(-1)
    log_ref = token_log_probs(ref_logits, tree).sum(-1)
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


def _scatter(tree: ResponseTree, probs: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """sum_{y, t} coef[y, t] grad_logits log pi(y_t | y_<t), grad = e_{y_t} - pi(.|node) per node.

    Args:
      probs: ``float64[num_prefixes, V]`` per-node probabilities; coef: ``float64[N, L]``.
    Returns:
      ``float64[num_prefixes, V]``.
    """
    coef = np.where(tree.mask, coef, 0.0)
    out = np.zeros_like(probs)
    np.add.at(out, (tree.prefix, tree.token), coef)
    weight_per_node = np.zeros(probs.shape[0])
    np.add.at(weight_per_node, tree.prefix, coef)
    return out - weight_per_node[:, None] * probs


def expected_kl_gradient(
    estimator: str, placement: str, logits: ArrayLike, ref_logits: ArrayLike, tree: ResponseTree
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
    tok = token_log_probs(logits, tree)
    log_ratio = tok - token_log_probs(ref_logits, tree)
    response_probs = np.exp(tok.sum(-1))
    values, slopes = _estimate_and_slope(estimator, log_ratio)
    values = np.where(tree.mask, values, 0.0)
    if placement == "loss":
        coef = response_probs[:, None] * slopes
    else:
        coef = (response_probs * values.sum(-1))[:, None] * np.ones_like(tok)
    return _scatter(tree, np.exp(_log_softmax(logits)), coef)


def true_kl_gradient(logits: ArrayLike, ref_logits: ArrayLike, tree: ResponseTree) -> NDArray:
    """grad_logits KL(pi || pi_ref) = E[log(pi/ref)(y) grad log pi(y)]: ``float64[nodes, V]``."""
    return expected_kl_gradient("k1", "reward", logits, ref_logits, tree)


def compare(estimate: ArrayLike, truth: ArrayLike) -> tuple[float, float]:
    """(cosine, relative_error = |E g - grad KL| / |grad KL|); cosine NaN when E g = 0."""
    estimate = np.ravel(np.asarray(estimate, np.float64))
    truth = np.ravel(np.asarray(truth, np.float64))
    norm_e, norm_t = np.linalg.norm(estimate), np.linalg.norm(truth)
    relative = float(np.linalg.norm(estimate - truth) / norm_t)
    if norm_e <= 1e-12 * norm_t:
        return float("nan"), relative
    return float(estimate @ truth / (norm_e * norm_t)), relative


def audit_rows(
    policy: str, logits: ArrayLike, ref_logits: ArrayLike, tree: ResponseTree
) -> list[dict]:
    """One row per (estimator, placement): policy, estimator, placement, cosine, relative_error.

    float64 numpy throughout. Bandit identities (exact, k3 where its clamp does not bind):
    E grad k2(l) = E[l grad log pi] = grad KL(pi||ref); E grad k3(l) = sum_y (pi - ref) grad log
    pi = grad KL(ref||pi); E grad k1(l) = E grad log pi = 0.
    """
    truth = true_kl_gradient(logits, ref_logits, tree)
    rows = []
    for estimator in AUDIT_ESTIMATORS:
        for placement in PLACEMENTS:
            g = expected_kl_gradient(estimator, placement, logits, ref_logits, tree)
            cosine, relative = compare(g, truth)
            rows.append(
                {
                    "policy": policy,
                    "estimator": estimator,
                    "placement": placement,
                    "cosine": cosine,
                    "relative_error": relative,
                    "follows": FOLLOWS[(policy, estimator, placement)],
                }
            )
    return rows


def kl_estimator_table(
    key: PRNGKey,
    *,
    bandit_responses: int = 4,
    num_tokens: int = 3,
    max_length: int = 3,
    num_draws: int = 8,
    logit_scale: float = 1.0,
) -> dict[str, np.ndarray]:
    """The estimator audit over ``num_draws`` random (pi, pi_ref) pairs, float64.

    Logits of pi and pi_ref are i.i.d. N(0, logit_scale^2) per node and token (independent),
    drawn by numpy's PCG64 seeded with the key's data (no XLA compile; deterministic per key).
    Returns columns policy, estimator, placement, cosine (mean over draws; NaN where E g = 0),
    relative_error (mean), cosine_min, relative_error_max, follows, num_draws: 16 rows.
    """
    num_draws = check_int("num_draws", num_draws, 1)
    logit_scale = check_float("logit_scale", logit_scale, 0.0, low_open=True)
    trees = {
        "bandit": enumerate_responses(bandit_responses, 1),
        "sequence": enumerate_responses(num_tokens, max_length),
    }
    collected: dict[tuple[str, str, str], list[tuple[float, float, str]]] = {}
    import jax

    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).tolist())
    for policy, tree in trees.items():
        draws = rng.standard_normal((num_draws, 2, tree.num_prefixes, tree.num_tokens))
        for logits, ref_logits in logit_scale * draws:
            for row in audit_rows(policy, logits, ref_logits, tree):
                cell = (row["policy"], row["estimator"], row["placement"])
                collected.setdefault(cell, []).append(
                    (row["cosine"], row["relative_error"], row["follows"])
                )
    cols: dict[str, list] = {
        k: []
        for k in (
            "policy",
            "estimator",
            "placement",
            "cosine",
            "relative_error",
            "cosine_min",
            "relative_error_max",
            "follows",
            "num_draws",
        )
    }
    for (policy, estimator, placement), values in collected.items():
        cosines = np.array([v[0] for v in values])
        errors = np.array([v[1] for v in values])
        cols["policy"].append(policy)
        cols["estimator"].append(estimator)
        cols["placement"].append(placement)
        zero = bool(np.all(np.isnan(cosines)))
        cols["cosine"].append(float("nan") if zero else float(np.nanmean(cosines)))
        cols["cosine_min"].append(float("nan") if zero else float(np.nanmin(cosines)))
        cols["relative_error"].append(float(np.mean(errors)))
        cols["relative_error_max"].append(float(np.max(errors)))
        cols["follows"].append(values[0][2])
        cols["num_draws"].append(num_draws)
    return {k: np.asarray(v) for k, v in cols.items()}
