"""PPO's clipped, stale updates on the scalar-logit policy, exactly (SPEC section 10).

One prompt, p = sigmoid(theta), one rollout group of M samples with S ~ Bin(M, p) correct and
weights Z from the scheme's tables (a[S] for correct, b[S] for wrong, fixed for the iteration).
Then E epochs x N minibatches of SGD steps on the clipped surrogate
``min(rho Z, clip(rho, 1 - clip_low, 1 + clip_high) Z)`` (optionally ``max(., dual_clip Z)`` for
Z < 0, verl's dual clip), rho = pi / pi_old, loss averaged over the minibatch. As in verl's
``dp_actor.update_policy`` the data is split once (``data.split`` before the epoch loop) and the
same split is replayed every epoch; the group's samples are exchangeable, so the split is a
uniformly random partition into N minibatches of M / N. (verl counts ``ppo_mini_batch_size`` in
prompts x n, so a group usually sits inside one minibatch: that is N = 1 here.) Every (S, split)
path is enumerated in float64. With a ``loss_mode`` (``rlxform.loss_modes.reduce``) each step
takes that framework's own per-token gradient (``token_gradient``, one row per sample) instead of
the clipped surrogate, and the clip fraction becomes the share of the unclipped gradient the
mode's clips, caps and gates remove (``loss_modes.simulated.clipped_share``).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import numpy as np

from rlxform.core.schemes import Scheme
from rlxform.validation import InputError, check_float, check_int

MAX_MODE_STEPS = 200_000  # loss modes: (S, split, step) triples evaluated one by one

MAX_PATHS = 2_000_000  # (M/N + 1)^N minibatch compositions enumerated per call


class PPOEffectiveWeight(NamedTuple):
    """Exact outcome of one PPO iteration at success probability p (all Python floats).

    Attributes:
      weight: w_eff(p) = E[change of p] / (lr E N (p (1-p))^2), to compare with w_M(p).
      clip_fraction: expected fraction of per-step sample evaluations whose gradient the clip
        zeroes (verl's ``pg_clipfrac``, plus the dual clip), averaged over all E x N steps.
      delta_p: E[p_after - p]; delta_theta: E[theta_after - theta].
    """

    weight: float
    clip_fraction: float
    delta_p: float
    delta_theta: float


def check_ppo_args(
    group_size: int,
    learning_rate: float,
    epochs: int,
    num_minibatches: int,
    clip_low: float,
    clip_high: float,
    dual_clip: float | None,
) -> tuple[float, int, int, float, float, float | None]:
    """Validate PPO hyperparameters (InputError naming the argument); returns them converted."""
    learning_rate = check_float("learning_rate", learning_rate, 0.0, low_open=True)
    epochs = check_int("epochs", epochs, 1)
    num_minibatches = check_int("num_minibatches", num_minibatches, 1)
    if group_size % num_minibatches:
        raise InputError(
            f"num_minibatches={num_minibatches!r} is invalid: must divide the group size "
            f"{group_size}"
        )
    clip_low = check_float("clip_low", clip_low, 0.0, 1.0, low_open=True)
    clip_high = check_float("clip_high", clip_high, 0.0)
    if dual_clip is not None:
        dual_clip = check_float("dual_clip", dual_clip, 1.0, low_open=True)
    return learning_rate, epochs, num_minibatches, clip_low, clip_high, dual_clip


@functools.lru_cache(maxsize=1024)
def minibatch_splits(
    group_size: int, num_correct: int, num_minibatches: int
) -> tuple[np.ndarray, np.ndarray]:
    """Correct counts per minibatch of a uniformly random split, with their probabilities.

    P(c_1..c_N) = prod_j C(M/N, c_j) / C(M, S) (multivariate hypergeometric), sum_j c_j = S.
    Returns:
      (``int64[P, N]`` counts, ``float64[P]`` probabilities summing to 1), read-only (cached).
    """
    size = group_size // num_minibatches
    if (size + 1) ** num_minibatches > MAX_PATHS:
        raise InputError(
            f"num_minibatches={num_minibatches!r} is invalid for group_size={group_size}: "
            f"(M/N + 1)^N must be <= {MAX_PATHS} for exact enumeration"
        )
    counts = np.array(
        [
            c
            for c in itertools.product(range(size + 1), repeat=num_minibatches)
            if sum(c) == num_correct
        ],
        dtype=np.int64,
    ).reshape(-1, num_minibatches)
    ways = np.array([math.prod(math.comb(size, int(c)) for c in row) for row in counts], float)
    probs = ways / math.comb(group_size, num_correct)
    counts.setflags(write=False)
    probs.setflags(write=False)
    return counts, probs


def _clipped(ratio: np.ndarray, weight: float, clip_low: float, clip_high: float, dual_clip):
    """True where min(rho Z, clip(rho) Z) (and the dual clip) has zero gradient in theta."""
    if weight > 0:
        return ratio > 1.0 + clip_high
    if weight < 0:
        out = ratio < 1.0 - clip_low
        if dual_clip is not None:
            out = out | (ratio > dual_clip)
        return out
    return np.zeros_like(ratio, dtype=bool)


def _sigmoid(z):
    z = np.asarray(z, np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def ppo_iteration(
    theta: float,
    counts: np.ndarray,
    group_size: int,
    a_value: float,
    b_value: float,
    *,
    learning_rate: float,
    epochs: int,
    clip_low: float,
    clip_high: float,
    dual_clip: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Final theta and clipped-sample count of one PPO iteration, per minibatch split.

    Each step on a minibatch of m = M/N samples with c correct, at p = sigmoid(theta):
      theta += lr / m * [c a rho_c (1-p) 1{c not clipped} - (m-c) b rho_w p 1{w not clipped}]
    with rho_c = p / p_old, rho_w = (1-p) / (1-p_old) (grad rho = rho grad log pi).
    Args:
      theta: the rollout logit (theta_old); counts: ``int[P, N]`` correct per minibatch.
      a_value, b_value: the weights a[S], b[S] of this group.
    Returns:
      (``float64[P]`` final theta, ``float64[P]`` clipped sample evaluations over all steps).
    """
    counts = np.asarray(counts, np.float64)
    size = group_size / counts.shape[1]
    p_old = float(_sigmoid(theta))
    thetas = np.full(counts.shape[0], float(theta))
    clipped = np.zeros(counts.shape[0])
    for _ in range(epochs):
        for j in range(counts.shape[1]):
            c = counts[:, j]
            p = _sigmoid(thetas)
            q = _sigmoid(-thetas)  # 1 - p without cancellation
            rho_c, rho_w = p / p_old, q / (1.0 - p_old)
            clip_c = _clipped(rho_c, a_value, clip_low, clip_high, dual_clip)
            clip_w = _clipped(rho_w, b_value, clip_low, clip_high, dual_clip)
            grad_c = np.where(clip_c, 0.0, a_value * rho_c * q)
            grad_w = np.where(clip_w, 0.0, -b_value * rho_w * p)
            clipped += c * clip_c + (size - c) * clip_w
            thetas = thetas + learning_rate * (c * grad_c + (size - c) * grad_w) / size
    return thetas, clipped


def mode_iteration(
    theta: float,
    counts: np.ndarray,
    group_size: int,
    a_value: float,
    b_value: float,
    loss_mode,
    *,
    learning_rate: float,
    epochs: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``ppo_iteration`` with a loss mode's per-token gradient (``loss_modes.token_gradient``).

    A minibatch of m = M/N samples, c correct, is a ``TokenBatch`` of m one-token rows (the c
    correct first: A = a[S], log pi = log p; then A = b[S], log pi = log(1 - p)) normalised as the
    framework normalises its micro-batch; theta -= lr sum_i g_i d log pi_i / d theta with
    d log p / d theta = 1 - p and d log(1 - p) / d theta = -p.
    Returns:
      (``float64[P]`` final theta, ``float64[P]`` summed ``clipped_share`` over all steps).
    """
    from rlxform.core.loss_modes import TokenBatch, token_gradient
    from rlxform.core.loss_modes.simulated import clipped_share, unclipped

    open_mode = unclipped(loss_mode)
    size = group_size // counts.shape[1]
    log_old = -np.logaddexp(0.0, [-theta, theta])  # log p_old, log(1 - p_old)
    mask = np.ones((size, 1))
    finals, clipped = np.full(counts.shape[0], float(theta)), np.zeros(counts.shape[0])
    for path, row in enumerate(np.asarray(counts)):
        value, share = float(theta), 0.0
        for _ in range(epochs):
            for c in row:
                correct = np.arange(size) < c
                log_now = -np.logaddexp(0.0, [-value, value])
                batch = TokenBatch(
                    advantages=np.where(correct, a_value, b_value),
                    mask=mask,
                    logp=np.where(correct, log_now[0], log_now[1])[:, None],
                    old_logp=np.where(correct, log_old[0], log_old[1])[:, None],
                )
                grad = token_gradient(loss_mode, batch)[:, 0]
                open_grad = token_gradient(open_mode, batch)[:, 0]
                share += float(np.sum(clipped_share(np, grad, open_grad, mask[:, 0])))
                p_now = float(_sigmoid(value))
                slope = np.where(correct, 1.0 - p_now, -p_now)
                value -= learning_rate * float(np.sum(grad * slope))
        finals[path], clipped[path] = value, share
    return finals, clipped


def ppo_effective_weight(
    scheme: Scheme,
    group_size: int,
    p: float,
    *,
    learning_rate: float,
    epochs: int = 1,
    num_minibatches: int = 1,
    clip_low: float | None = None,
    clip_high: float | None = None,
    dual_clip: float | None = None,
    loss_mode=None,
) -> PPOEffectiveWeight:
    """Exact effective weight of one PPO iteration on the scalar-logit policy.

    E[change of p] = sum_S Bin(S; M, p) sum_splits P(split | S) (sigmoid(theta_final) - p);
    w_eff(p) = E[change of p] / (lr E N (p (1-p))^2). With E = N = 1 the single step is the plain
    update: E[delta theta] = lr w_M(p) p (1-p) exactly (SPEC sections 2, 10); with a loss mode,
    lr s w_M(p) p (1-p), s the mode's first-update scale (``loss_modes.simulated.first_update``).

    Args:
      scheme, group_size: weights Z and M (num_minibatches must divide M).
      p: success probability in (0, 1) at the rollout.
      learning_rate: SGD step (> 0); epochs: E >= 1; num_minibatches: N >= 1.
      clip_low: in (0, 1] (None: 0.2); clip_high: >= 0 (None: 0.2; DAPO clip-higher:
        clip_high > clip_low); dual_clip: None or c > 1 (Z < 0 samples with rho > c stop
        contributing). Without a loss mode only: a mode has its own clip settings.
      loss_mode: None (the clipped surrogate above) or a ``LossMode`` (``loss_modes.reduce`` or
        ``simulated_mode``): each step is that framework's loss (``mode_iteration``).
    Returns:
      ``PPOEffectiveWeight(weight, clip_fraction, delta_p, delta_theta)``.
    """
    if not isinstance(scheme, Scheme):
        raise InputError(f"scheme={scheme!r} is invalid: must be an rlxform.core.schemes.Scheme")
    group_size = scheme.check_group_size(group_size)
    p = check_float("p", p, 0.0, 1.0, low_open=True, high_open=True)
    if loss_mode is not None:
        _check_mode_args(loss_mode, clip_low, clip_high, dual_clip)
    clip_low = 0.2 if clip_low is None else clip_low
    clip_high = 0.2 if clip_high is None else clip_high
    lr, epochs, num_minibatches, clip_low, clip_high, dual_clip = check_ppo_args(
        group_size, learning_rate, epochs, num_minibatches, clip_low, clip_high, dual_clip
    )
    a_table, b_table = scheme.tables(group_size)
    theta = math.log(p) - math.log1p(-p)
    pmf = np.array(
        [
            math.comb(group_size, s) * p**s * (1.0 - p) ** (group_size - s)
            for s in range(group_size + 1)
        ]
    )
    splits = [minibatch_splits(group_size, s, num_minibatches) for s in range(group_size + 1)]
    if loss_mode is not None:
        work = epochs * num_minibatches * sum(len(probs) for _, probs in splits)
        if work > MAX_MODE_STEPS:
            raise InputError(
                f"num_minibatches={num_minibatches!r} is invalid with a loss mode for "
                f"group_size={group_size}, epochs={epochs}: {work} steps to evaluate, at most "
                f"{MAX_MODE_STEPS}"
            )
    if loss_mode is None:
        iterate = functools.partial(
            ppo_iteration, clip_low=clip_low, clip_high=clip_high, dual_clip=dual_clip
        )
    else:
        iterate = functools.partial(mode_iteration, loss_mode=loss_mode)
    delta_p = delta_theta = clipped = 0.0
    for s in range(group_size + 1):
        counts, probs = splits[s]
        final, clip_count = iterate(
            theta,
            counts,
            group_size,
            float(a_table[s]),
            float(b_table[s]),
            learning_rate=lr,
            epochs=epochs,
        )
        delta_p += pmf[s] * float(probs @ (_sigmoid(final) - p))
        delta_theta += pmf[s] * float(probs @ (final - theta))
        clipped += pmf[s] * float(probs @ clip_count)
    steps = epochs * num_minibatches
    weight = delta_p / (lr * steps * (p * (1.0 - p)) ** 2)
    return PPOEffectiveWeight(
        float(weight), float(clipped / (epochs * group_size)), float(delta_p), float(delta_theta)
    )


def _check_mode_args(loss_mode, clip_low, clip_high, dual_clip) -> None:
    """A ``LossMode`` without the surrogate's own clip arguments (the mode has its settings)."""
    from rlxform.core.loss_modes import LossMode

    if not isinstance(loss_mode, LossMode):
        raise InputError(
            f"loss_mode={loss_mode!r} is invalid: must be None or a LossMode "
            "(rlxform.loss_modes.reduce)"
        )
    for name, value in (("clip_low", clip_low), ("clip_high", clip_high), ("dual_clip", dual_clip)):
        if value is not None:
            raise InputError(
                f"{name}={value!r} is invalid with loss_mode: the mode's own settings set its "
                "clip range (e.g. clip_ratio_low, epsilon, eps_clip_low_high)"
            )
