"""Entropy bonuses: the exact expected update of a trainer's entropy term; where it stops ascent.

At every generated token t the trainers take the full-vocabulary entropy H(n_t) = -sum_v
pi(v | n_t) log pi(v | n_t) of the next-token distribution at the generated prefix n_t (from the
logits, not a sample estimate), aggregate the per-token values like a loss and subtract c times
the aggregate from the loss (verl ``actor.entropy_coeff``, TRL ``entropy_coef``, OpenRLHF
``actor.entropy_coef``; sources in tests/data/entropy/README.md). The gradient flows through each
H(n_t) only: the sampled tokens, so the visited prefixes and the aggregation factors, are held
fixed. One group's entropy update is c (1/M) sum_i f_i sum_t grad H(n_it) (f_i the aggregation
factor of ``core.aggregation``) and its expectation is exactly

    E[update] = c sum_n u_n grad H_n,   u_n = sum_{y drawn through prefix n} pi(y) E[f | y]

(``prefix_weights``): the gradient of the visitation-weighted entropy sum_n sg(u_n) H_n, not of
the expected aggregate E[agg H] = sum_n u_n H_n, whose gradient would add sum_n H_n grad u_n (the
score-function term no trainer computes). On a one-token (bandit) policy u = 1: exactly c grad
H(pi). Functions of logits are written once against an array namespace (``core.xp``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rlxform.core import bernstein as bern
from rlxform.core import schemes as schemes_lib
from rlxform.core.aggregation import check_aggregation, sequence_weights_from_tables
from rlxform.core.schemes import Scheme
from rlxform.core.sequence_tasks import SequenceTask, enumerate_sequences
from rlxform.core.sequences import num_prefixes, response_log_probs
from rlxform.core.xp import log_softmax, namespace
from rlxform.validation import InputError, check_float, check_int

_LOGIT_CAP = 40.0  # sigmoid(40) == 1.0 in float64: a root beyond is p* = 1.0 (0.0 below -40)


def check_coef(name: str, value: Any) -> float:
    """An entropy coefficient: a finite number >= 0 (InputError naming ``name`` otherwise)."""
    return check_float(name, value, 0.0)


# ---- functions of logits (NumPy or JAX) ---------------------------------------------------------


def entropy(logits: Any) -> Any:
    """H = -sum_v pi_v log pi_v of softmax(logits) over the last axis (finite logits).

    Args:
      logits: ``float[..., V]`` next-token logits.
    Returns:
      ``float[...]`` in the namespace of ``logits`` (verl ``entropy_from_logits``).
    """
    xp = namespace(logits)
    log_probs = log_softmax(xp, logits)
    return -xp.sum(xp.exp(log_probs) * log_probs, axis=-1)


def entropy_logit_gradient(logits: Any) -> Any:
    """dH/dz_v = -pi_v (log pi_v + H): ``float[..., V]`` (TRL's kernel uses the same rule)."""
    xp = namespace(logits)
    log_probs = log_softmax(xp, logits)
    probs = xp.exp(log_probs)
    h = -xp.sum(probs * log_probs, axis=-1, keepdims=True)
    return -probs * (log_probs + h)


def subtree_sums(weights: Any, task: SequenceTask) -> Any:
    """u_n = sum of ``weights`` over the responses that draw a token at prefix n.

    Responses are ``enumerate_sequences`` order: the first num_prefixes stop at prefix n (their
    index is n), the rest are the truncated full-length strings. Level by level up the tree: a
    prefix's total is its stopped response plus its b = V-1 children's totals (children of the
    j-th node of a level are nodes b j .. b j + b - 1 of the next level, the truncated strings
    for the last one). ``float[..., N] -> float[..., num_prefixes]``, either namespace.
    """
    xp = namespace(weights)
    b, n_pre = task.vocab_size - 1, num_prefixes(task)
    lead = weights.shape[:-1]
    below = weights[..., n_pre:]  # level max_length: the truncated responses
    levels = []
    for k in range(task.max_length - 1, -1, -1):  # static unroll over the levels
        start, width = sum(b**i for i in range(k)), b**k
        children = xp.sum(below.reshape(*lead, width, b), axis=-1)
        below = weights[..., start : start + width] + children
        levels.append(below)
    return xp.concatenate(levels[::-1], axis=-1)


# ---- NumPy float64: the exact expected update ---------------------------------------------------


def aggregation_scale(
    aggregation: str, group_size: int, probs: Any, task: SequenceTask, *, batch_groups: int = 1
) -> Any:
    """s(y) = E[f | y drawn], the aggregation factor of a sampled response: ``float[..., N]``.

    1, 1/L(y) or 1/max_length for the own-length modes; token-mean G M E[1 / (L(y) + T' + T'')]
    over the other samples of G groups from the same policy (``core.aggregation``, exact).
    """
    enum = enumerate_sequences(task)
    ones = np.ones(group_size + 1)
    return sequence_weights_from_tables(
        ones,
        ones,
        aggregation,
        probs,
        enum.lengths,
        enum.correct,
        max_length=task.max_length,
        batch_groups=batch_groups,
    )


def _check(aggregation, group_size, logits, task, batch_groups):
    if not isinstance(task, SequenceTask):
        raise InputError(f"task={task!r} is invalid: must be an rlxform SequenceTask")
    aggregation = check_aggregation(aggregation)
    group_size = check_int("group_size", group_size, 1)
    batch_groups = check_int("batch_groups", batch_groups, 1)
    logits = np.asarray(logits, np.float64)
    expected = (num_prefixes(task), task.vocab_size)
    if logits.ndim < 2 or logits.shape[-2:] != expected or not np.all(np.isfinite(logits)):
        raise InputError(
            f"logits with shape {logits.shape} is invalid: must be finite, [..., {expected[0]}, "
            f"{expected[1]}] for this task"
        )
    return aggregation, group_size, logits, batch_groups


def prefix_weights(
    aggregation: str, group_size: int, logits: Any, task: SequenceTask, *, batch_groups: int = 1
) -> NDArray:
    """u_n = sum_{y through n} pi(y) E[f | y]: the weight of prefix n's entropy in E[agg H].

    seq-mean-token-sum: the probability of reaching n; seq-mean-token-mean: E[1{n on y} / L(y)];
    seq-mean-token-sum-norm: reach / max_length; token-mean over G groups: E[1{n on y} G M /
    (tokens of the batch)], exact (module docstring).

    Args:
      aggregation: a mode of ``core.aggregation.AGGREGATIONS`` (or a TRL alias).
      group_size: M; batch_groups: G groups sharing a token-mean normaliser.
      logits: ``float[..., num_prefixes, V]`` prefix tables (finite).
      task: the sequence task.
    Returns:
      ``float64[..., num_prefixes]``.
    """
    aggregation, group_size, logits, batch_groups = _check(
        aggregation, group_size, logits, task, batch_groups
    )
    probs = np.exp(response_log_probs(logits, task))  # [..., N]
    scale = aggregation_scale(aggregation, group_size, probs, task, batch_groups=batch_groups)
    return subtree_sums(probs * scale, task)


def expected_entropy_update(
    aggregation: str,
    group_size: int,
    coef: float,
    logits: Any,
    task: SequenceTask,
    *,
    batch_groups: int = 1,
) -> NDArray:
    """Exact E[update] of the entropy term c agg(H): c u_n dH_n/dz_n at every prefix n.

    The sampled prefixes (and f) held fixed, as the trainers differentiate (module docstring);
    a bandit is the task with max_length 1 (one prefix, u = 1): c grad H(pi).

    Returns:
      ``float64[..., num_prefixes, V]`` (before the learning rate; added to the ascent step).
    """
    coef = check_coef("coef", coef)
    weights = prefix_weights(aggregation, group_size, logits, task, batch_groups=batch_groups)
    return coef * weights[..., None] * entropy_logit_gradient(np.asarray(logits, np.float64))


def expected_entropy(
    aggregation: str, group_size: int, logits: Any, task: SequenceTask, *, batch_groups: int = 1
) -> NDArray:
    """E[agg H] = sum_n u_n H_n, the expected aggregated entropy of one group: ``float64[...]``."""
    weights = prefix_weights(aggregation, group_size, logits, task, batch_groups=batch_groups)
    return np.sum(weights * entropy(np.asarray(logits, np.float64)), axis=-1)


# ---- where exact ascent on h_M(p) + c H stops ---------------------------------------------------


def _sigmoid(z: Any) -> NDArray:
    z = np.asarray(z, np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _first_root(g: Callable[[NDArray], NDArray], start: float, end: float, num: int):
    """First z from ``start`` towards ``end`` where g changes sign from its sign at ``start``
    (a grid of ``num`` points, then bisection to float64 spacing); None if there is none."""
    grid = np.linspace(start, end, num)
    sign = np.sign(g(np.array(start)))
    down = np.flatnonzero(sign * g(grid) <= 0.0)
    if down.size == 0:
        return None
    j = int(down[0])
    if j == 0:
        return float(grid[0])
    a, b = float(grid[j - 1]), float(grid[j])  # sign * g(a) > 0 >= sign * g(b)
    for _ in range(200):
        mid = 0.5 * (a + b)
        if mid in (a, b):
            break
        if sign * g(np.array(mid)) > 0.0:
            a = mid
        else:
            b = mid
    return 0.5 * (a + b)


def entropy_equilibrium(
    scheme: Scheme | str,
    group_size: int,
    coef: float,
    *,
    init_p: float = 0.5,
    num_responses: int = 2,
    num_correct: int = 1,
    num_grid: int = 8193,
) -> float:
    """p where exact ascent on h_M(p) + c H(pi), started at ``init_p``, stops (float64).

    Softmax policy over K responses, C correct, its mass spread evenly over the correct ones and
    over the wrong ones (rlxform's scalar and tabular starts); the gradient keeps that symmetry,
    so ascent is 1-D ascent on J(d) = h_M(p) + c H in d = logit p - log(C / (K-C)). On that
    family H = H_2(p) + p log C + (1-p) log(K-C), so dH/dp = -d and dJ/dd = p (1-p) (w_M(p) -
    c d). Every stationary policy with pi > 0 (symmetric or not) tilts the uniform one,
    pi*(y) ∝ exp(w_M(p*) r(y) / c), so

        logit p* - log(C / (K - C)) = w_M(p*) / c

    (c H = c log K - c KL(pi || uniform): the KL equilibrium with the uniform reference, from
    ``init_p`` instead of the reference). Ascent stops at the first root in the direction it
    starts in (up where w_M(p0) > c d0, down where below, p0 where equal), found on a grid of
    ``num_grid`` points in logit p over the bracket [c_min / c, c_max / c] (w_M lies between
    the least and largest Bernstein coefficient), then bisected; 1.0 (0.0) if there is none
    below logit 40 (above -40). c = 0: ascent on h_M alone (first zero of w_M, else 1 or 0).
    An asymmetric start also stops on a root of this equation, not necessarily the first.

    Args:
      scheme, group_size: a ``Scheme`` or catalog name, and M (valid for it).
      coef: c >= 0, finite. init_p: the starting accuracy in (0, 1).
      num_responses, num_correct: K >= 2 and C in [1, K-1] (two answers: K = 2, C = 1, where
        the rule reads logit p* = w_M(p*) / c).
    Returns:
      p* as a Python float.
    """
    scheme = schemes_lib.as_scheme(scheme)
    group_size = scheme.check_group_size(group_size)
    coef = check_coef("coef", coef)
    init_p = check_float("init_p", init_p, 0.0, 1.0, low_open=True, high_open=True)
    k = check_int("num_responses", num_responses, 2)
    c_count = check_int("num_correct", num_correct, 1, k - 1)
    num_grid = check_int("num_grid", num_grid, 3)
    coefficients = np.asarray(scheme.coefficients(group_size), np.float64)
    z_uniform = float(np.log(c_count) - np.log(k - c_count))
    z0 = float(np.log(init_p) - np.log1p(-init_p))

    def g(z: NDArray) -> NDArray:  # sign of dJ/dd: w_M(p) - c (logit p - z_uniform)
        return bern.bernstein(coefficients, _sigmoid(z)) - coef * (np.asarray(z) - z_uniform)

    g0 = float(g(np.array(z0)))
    if g0 == 0.0:
        return init_p
    up = g0 > 0.0
    if coef > 0.0:  # beyond z_uniform + c_max / c, g < 0; below z_uniform + c_min / c, g > 0
        bound = z_uniform + float(coefficients.max() if up else coefficients.min()) / coef
        bound += (1e-6 if up else -1e-6) * (1.0 + abs(bound))
        end = min(max(bound, z0), _LOGIT_CAP) if up else max(min(bound, z0), -_LOGIT_CAP)
    else:
        end = _LOGIT_CAP if up else -_LOGIT_CAP
    if (up and end <= z0) or (not up and end >= z0):
        return 1.0 if up else 0.0
    root = _first_root(g, z0, end, num_grid)
    if root is None:
        return 1.0 if up else 0.0
    return float(_sigmoid(np.float64(root)))
