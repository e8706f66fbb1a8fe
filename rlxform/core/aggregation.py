"""Loss aggregation over tokens and the exact expected weight of each response (SPEC section 8).

Frameworks sum per-token log-probs and weight sample i by f_i Z_i, so one group's update is
g = (1/M) sum_i f_i Z_i grad log pi(y_i). The factor f_i per aggregation mode:
seq-mean-token-sum 1; seq-mean-token-mean 1/L_i; seq-mean-token-sum-norm 1/max_length;
token-mean over G groups G M / (sum of all lengths in the batch). ``sequence_weights`` gives the
exact omega(y) = E[f_1 Z_1 | y_1 = y], so E[g] = sum_y pi(y) omega(y) grad log pi(y) for any
parameterisation. Written once against an array namespace (``core.xp``): NumPy inputs give
float64 NumPy results without JAX; JAX inputs (the simulator's references, traced) give JAX
arrays. The other samples' correct count is Binomial(M-1, p) (``core.bernstein``); with
token-mean, the joint law of that count and the other samples' token total is computed exactly
by discrete Fourier transforms (a convolution power is a power of the transform); beyond
``FFT_MAX_CELLS`` grid cells (large M, NumPy) by the Laplace route of ``core.token_mean``, in
O(M) memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core.schemes import Scheme
from rlxform.core.xp import constant, is_traced, matmul, namespace
from rlxform.validation import InputError, check_int

AGGREGATIONS = (
    "seq-mean-token-sum",
    "seq-mean-token-mean",
    "seq-mean-token-sum-norm",
    "token-mean",
)
# TRL GRPOTrainer loss_type -> mode (trl/trainer/grpo_trainer.py): grpo averages each sequence's
# tokens then the sequences; dr_grpo divides the token sum by (batch size * max_completion_length);
# bnpo divides by the local batch's token count, dapo by the global one (num_items_in_batch):
# both are token-mean here, with batch_groups = the groups sharing that token count.
AGGREGATION_ALIASES = {
    "trl:grpo": "seq-mean-token-mean",
    "trl:dr_grpo": "seq-mean-token-sum-norm",
    "trl:dapo": "token-mean",
    "trl:bnpo": "token-mean",
}

_OBJECTIVES = {
    "seq-mean-token-sum": "f = 1: gradient of h_M(p) (the paper's lens; E[g] = w_M(p) grad p)",
    "seq-mean-token-sum-norm": (
        "f = 1/max_length: gradient of h_M(p) / max_length (a constant rescaling)"
    ),
    "seq-mean-token-mean": (
        "f = 1/L: E[g] = abar(p) grad E[r/L] + bbar(p) grad E[(1-r)/L] (R-A identity); the "
        "gradient of abar E[r/L] + bbar E[(1-r)/L] when the tables do not depend on S (reinforce, "
        "psr, nsr, w_reinforce, pass_at_k(1)); otherwise not a gradient (the Jacobian of the "
        "expected-update field is not symmetric), except in special tasks (e.g. b = 0 and every "
        "correct response of one length: h_M(p) / L_correct)"
    ),
    "token-mean": (
        "f = G M / (batch tokens): not a gradient at finite G M for any scheme (the sample's own "
        "length is in the shared normaliser: a damped 1/L effect); as G M -> inf, f -> 1/E[L] "
        "and E[g] -> w_M(p) grad p / E[L], the direction of grad h_M(p)"
    ),
}


def check_aggregation(aggregation: Any) -> str:
    """The canonical mode for a name or TRL alias; InputError listing the names otherwise."""
    if isinstance(aggregation, str) and aggregation in AGGREGATION_ALIASES:
        return AGGREGATION_ALIASES[aggregation]
    if aggregation not in AGGREGATIONS:
        allowed = ", ".join(AGGREGATIONS + tuple(AGGREGATION_ALIASES))
        raise InputError(f"aggregation={aggregation!r} is invalid: must be one of {allowed}")
    return aggregation


def aggregation_objective(aggregation: str) -> str:
    """What the mode's expected update ascends: an objective, or why it is not a gradient."""
    return _OBJECTIVES[check_aggregation(aggregation)]


def aggregation_factor(
    aggregation: str, lengths: Any, *, max_length: int, batch_groups: int = 1
) -> Any:
    """f_i for a sampled batch: ``lengths int[G, M]`` (G = batch_groups) -> ``float[G, M]``.

    The reference the simulator's loss must match: seq-mean-token-sum 1, seq-mean-token-mean
    1/L_i, seq-mean-token-sum-norm 1/max_length, token-mean G M / sum of all G M lengths.
    NumPy lengths give float64; JAX lengths JAX's default float.
    """
    mode = check_aggregation(aggregation)
    xp = namespace(lengths)
    lengths = xp.asarray(lengths)
    dtype = xp.result_type(float)
    lengths_f = lengths.astype(dtype)
    if mode == "seq-mean-token-sum":
        return xp.ones_like(lengths_f)
    if mode == "seq-mean-token-mean":
        return 1.0 / lengths_f
    if mode == "seq-mean-token-sum-norm":
        return xp.full_like(lengths_f, 1.0 / max_length)
    return xp.full_like(lengths_f, lengths.size) / xp.sum(lengths_f)


def constant_factor(aggregation: str, lengths: Any, max_length: int) -> float | None:
    """f when it is the same for every sample of every batch of responses with ``lengths``.

    seq-mean-token-sum 1 and seq-mean-token-sum-norm 1/max_length always; 1/L for the other
    modes when every response has the same length L (a bandit: L = max_length = 1); None
    otherwise. With a constant f, E[g] = f w_M(p) grad p (SPEC section 8).
    """
    mode = check_aggregation(aggregation)
    if mode == "seq-mean-token-sum":
        return 1.0
    if mode == "seq-mean-token-sum-norm":
        return 1.0 / max_length
    values = np.unique(np.asarray(lengths))
    return 1.0 / float(values[0]) if values.size == 1 else None


def token_mean_grid(group_size: int, max_length: int, batch_groups: int = 1) -> int:
    """Points of the transform grid of token-mean weights: the largest T' + T'' plus one.

    T' (other M-1 samples of the group) is at most (M-1) max_length tokens, T'' (the other
    G-1 groups) at most (G-1) M max_length; spectra passed as ``others`` live on this grid.
    """
    return (group_size - 1) * max_length + (batch_groups - 1) * group_size * max_length + 1


def length_spectrum(probs: Any, lengths: Any, size: int) -> Any:
    """Discrete Fourier transform of one sample's length law on ``size`` points.

    Args:
      probs: ``float[..., N]`` response probabilities; lengths: ``int[N]`` (static).
      size: the grid (``token_mean_grid``).
    Returns:
      ``complex[..., size // 2 + 1]``; a power n is the spectrum of the total of n samples.
    """
    xp = namespace(probs)
    lengths = np.asarray(lengths)
    onehot = np.zeros((lengths.shape[0], int(lengths.max()) + 1))
    onehot[np.arange(lengths.shape[0]), lengths] = 1.0
    law = matmul(xp, probs, xp.asarray(onehot, dtype=probs.dtype))
    return xp.fft.rfft(law, n=size)


def _check_inputs(probs, lengths, correct, max_length):
    """(probs, lengths, correct, max_length): probs ``float[..., N]`` in the caller's
    namespace; lengths ``int[N]`` and correct ``bool[N]`` static NumPy."""
    xp = namespace(probs)
    probs = xp.asarray(probs)
    lengths = np.asarray(lengths)
    correct = np.asarray(correct)
    n = lengths.shape[0] if lengths.ndim == 1 else -1
    if probs.ndim < 1 or probs.shape[-1] != n or correct.shape != lengths.shape:
        raise InputError(
            f"probs, lengths, correct with shapes {probs.shape}, {lengths.shape}, "
            f"{correct.shape} are invalid: must be [..., N], [N], [N]"
        )
    if max_length is None:
        max_length = int(np.max(lengths))
    max_length = check_int("max_length", max_length, 1)
    if lengths.size and (lengths.min() < 1 or lengths.max() > max_length):
        raise InputError(
            f"lengths with range [{lengths.min()}, {lengths.max()}] is invalid: must be in "
            f"[1, max_length={max_length}]"
        )
    if not np.all((correct == 0) | (correct == 1)):
        raise InputError("correct is invalid: must hold booleans (or 0/1)")
    if not is_traced(probs):
        pv = np.asarray(probs, np.float64)
        sums = pv.sum(-1)
        if not (np.all(pv >= 0) and np.all(np.abs(sums - 1.0) < 1e-4)):  # float32 sums
            raise InputError(
                f"probs with sum {sums.reshape(-1)[0]!r} is invalid: must be non-negative and "
                "sum to 1 over the last axis"
            )
    dtype = xp.result_type(float)
    return xp, probs.astype(dtype), lengths.astype(np.int64), correct.astype(bool), max_length


def _others_law(xp, law_correct, law_wrong, others, group_size: int, size: int):
    """P(S' = s, T' + T'' = t): ``float[..., M, size]``, s = 0..M-1, t = 0..size-1.

    (S', T') are the correct count and total length of the other M-1 samples of a group, each
    drawn from the per-sample laws ``law_correct`` / ``law_wrong`` ``float[..., L+1]`` (mass of
    correct / wrong responses by length); T'' ~ ``others`` (a spectrum on the grid, or None:
    T'' = 0). The bivariate generating function (w(z) + c(z) y)^(M-1) is evaluated at the
    ``size`` points z of the length grid and the M roots of unity y, then inverted.
    """
    c_hat = xp.fft.rfft(law_correct, n=size)[..., None, :]  # [..., 1, F]
    w_hat = xp.fft.rfft(law_wrong, n=size)[..., None, :]
    roots = np.exp(-2j * np.pi * np.arange(group_size) / group_size)[:, None]  # [M, 1]
    spectrum = (w_hat + c_hat * xp.asarray(roots, dtype=c_hat.dtype)) ** (group_size - 1)
    if others is not None:
        spectrum = spectrum * others[..., None, :]
    return xp.fft.irfft(xp.fft.ifft(spectrum, axis=-2), n=size, axis=-1)


FFT_MAX_CELLS = 2**22  # [M, grid] cells of the FFT route (64 MB complex); beyond: Laplace route


def _laplace_tables(law_correct, law_wrong, a_table, b_table, max_length, groups):
    """``core.token_mean.token_mean_tables`` for every leading index of the laws."""
    from rlxform.core.token_mean import token_mean_tables

    lead = law_correct.shape[:-1]
    correct_out = np.zeros((*lead, max_length))
    wrong_out = np.zeros((*lead, max_length))
    for index in np.ndindex(*lead):
        correct_out[index], wrong_out[index] = token_mean_tables(
            law_correct[index], law_wrong[index], a_table, b_table, max_length, groups
        )
    return correct_out, wrong_out


def _weights(xp, a_table, b_table, probs, lengths, correct, mode, max_length, groups, others):
    m = a_table.shape[0] - 1
    dtype = probs.dtype
    a_table = constant(xp, a_table, dtype)  # cached tables enter JAX as fresh copies
    b_table = constant(xp, b_table, dtype)
    if mode != "token-mean":  # own-length factors: only S' ~ Bin(M-1, p) matters (R-A identity)
        pmf = bern.binomial_pmf(m - 1, xp.sum(xp.where(correct, probs, 0.0), axis=-1))  # [..., M]
        abar = matmul(xp, pmf, a_table[1:])[..., None]
        bbar = matmul(xp, pmf, b_table[:-1])[..., None]
        factor = {
            "seq-mean-token-sum": np.ones(lengths.shape),
            "seq-mean-token-mean": 1.0 / lengths,
            "seq-mean-token-sum-norm": np.full(lengths.shape, 1.0 / max_length),
        }[mode]
        return xp.asarray(factor, dtype=dtype) * xp.where(correct, abar, bbar)
    # token-mean: omega(r, l) = G M E[Z_r(S') / (l + T' + T'')]
    size = token_mean_grid(m, max_length, groups)
    onehot = np.zeros((lengths.shape[0], max_length + 1))
    onehot[np.arange(lengths.shape[0]), lengths] = 1.0
    onehot = xp.asarray(onehot, dtype=dtype)
    law_correct = matmul(xp, xp.where(correct, probs, 0.0), onehot)  # [..., L+1]
    law_wrong = matmul(xp, xp.where(correct, 0.0, probs), onehot)
    if xp is np and others is None and m * size > FFT_MAX_CELLS:  # O(M) memory route
        table_correct, table_wrong = _laplace_tables(
            law_correct, law_wrong, a_table, b_table, max_length, groups
        )
        return np.where(correct, table_correct[..., lengths - 1], table_wrong[..., lengths - 1])
    if others is None:  # the other G-1 groups drawn from this same law
        others = xp.fft.rfft(law_correct + law_wrong, n=size) ** ((groups - 1) * m)
    joint = _others_law(xp, law_correct, law_wrong, others, m, size)  # [..., M, size]
    totals = np.arange(size)[:, None] + np.arange(1, max_length + 1)[None, :]
    by_count = matmul(xp, joint, xp.asarray(1.0 / totals, dtype=dtype))  # [..., M, L]
    scale = groups * m
    table_correct = scale * matmul(xp, a_table[1:], by_count)  # [..., L]
    table_wrong = scale * matmul(xp, b_table[:-1], by_count)
    return xp.where(correct, table_correct[..., lengths - 1], table_wrong[..., lengths - 1])


def sequence_weights_from_tables(
    a_table: Any,
    b_table: Any,
    aggregation: str,
    probs: Any,
    lengths: Any,
    correct: Any,
    *,
    max_length: int | None = None,
    batch_groups: int = 1,
    others: Any = None,
) -> Any:
    """``sequence_weights`` from tables ``a, b float[M+1]`` (which may be traced).

    ``others``: token-mean only, the spectrum (``length_spectrum`` powers on the grid
    ``token_mean_grid(M, max_length, G)``) of the other G-1 groups' total length, ``complex[...,
    F]`` broadcasting against probs' leading axes; None: G-1 groups from the same law as y's.
    """
    mode = check_aggregation(aggregation)
    batch_groups = check_int("batch_groups", batch_groups, 1)
    xp, probs, lengths, correct, max_length = _check_inputs(probs, lengths, correct, max_length)
    if not isinstance(a_table, np.ndarray) or not isinstance(b_table, np.ndarray):
        xp = namespace(probs, a_table, b_table)
        probs = xp.asarray(probs)
    return _weights(
        xp, a_table, b_table, probs, lengths, correct, mode, max_length, batch_groups, others
    )


def sequence_weights(
    scheme: Scheme,
    aggregation: str,
    group_size: int,
    probs: Any,
    lengths: Any,
    correct: Any,
    **options: Any,
) -> Any:
    """Exact expected weight omega(y) = E[f_1 Z_1 | y_1 = y] of each response.

    E[(1/M) sum_i f_i Z_i grad log pi(y_i)] = sum_y pi(y) omega(y) grad log pi(y). Own-length
    factors (R-A identity, J ~ Bin(M-1, p)): omega(y) = f(L(y)) (r abar + (1-r) bbar),
    abar = E_J[a[J+1]], bbar = E_J[b[J]]. token-mean: omega(y) = G M E[Z / (L(y) + T' + T'')],
    with (S', T') the correct count and total length of the other M-1 samples and T'' the other
    G-1 groups' total length.

    Args:
      scheme: an rlxform Scheme (tables a[S], b[S] from ``scheme.tables(M)``).
      aggregation: a mode of ``AGGREGATIONS`` or a TRL alias (``trl:grpo``, ...).
      group_size: M.
      probs: pi(y), ``float[..., N]`` summing to 1 over N (leading axes: prompts).
      lengths: L(y) in [1, max_length], ``int[N]``.
      correct: r(y), ``bool[N]``.
      options: ``max_length``, the length cap (seq-mean-token-sum-norm divides by it; None:
        max(lengths)); ``batch_groups``, G >= 1 groups sharing the token-mean normaliser.
    Returns:
      omega, ``float64[..., N]`` for NumPy probs (JAX probs: a JAX array).
    """
    if not isinstance(scheme, Scheme):
        raise InputError(f"scheme={scheme!r} is invalid: must be an rlxform.core.schemes.Scheme")
    a_table, b_table = scheme.tables(scheme.check_group_size(group_size))
    return sequence_weights_from_tables(
        a_table, b_table, aggregation, probs, lengths, correct, **options
    )
