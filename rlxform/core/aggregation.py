"""Loss aggregation over tokens and the exact expected weight of each response (SPEC section 8).

Frameworks sum per-token log-probs and weight sample i by f_i Z_i, so one group's update is
g = (1/M) sum_i f_i Z_i grad log pi(y_i). The factor f_i per aggregation mode:
seq-mean-token-sum 1; seq-mean-token-mean 1/L_i; seq-mean-token-sum-norm 1/max_length;
token-mean over G groups G M / (sum of all lengths in the batch). ``sequence_weights`` gives the
exact omega(y) = E[f_1 Z_1 | y_1 = y], so E[g] = sum_y pi(y) omega(y) grad log pi(y) for any
parameterisation. Results are float64 under ``jax.enable_x64(True)``. JAX is imported when a
weight is computed, not with the module (``check_aggregation`` serves the CLI and the cards).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core.schemes import Scheme
from rlxform.core.xp import to_jax
from rlxform.types import Array, ArrayLike
from rlxform.validation import InputError, check_int, is_concrete

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
    aggregation: str, lengths: ArrayLike, *, max_length: int, batch_groups: int = 1
) -> Array:
    """f_i for a sampled batch: ``lengths int[G, M]`` (G = batch_groups) -> ``float[G, M]``.

    The reference the simulator's loss must match: seq-mean-token-sum 1, seq-mean-token-mean
    1/L_i, seq-mean-token-sum-norm 1/max_length, token-mean G M / sum of all G M lengths.
    """
    import jax.numpy as jnp

    mode = check_aggregation(aggregation)
    lengths = jnp.asarray(lengths)
    dtype = jnp.result_type(float)
    lengths_f = lengths.astype(dtype)
    if mode == "seq-mean-token-sum":
        return jnp.ones_like(lengths_f)
    if mode == "seq-mean-token-mean":
        return 1.0 / lengths_f
    if mode == "seq-mean-token-sum-norm":
        return jnp.full_like(lengths_f, 1.0 / max_length)
    return jnp.full_like(lengths_f, lengths.size) / jnp.sum(lengths_f)


def _check_inputs(probs, lengths, correct, max_length):
    import jax.numpy as jnp

    probs = jnp.asarray(probs)
    lengths = jnp.asarray(lengths)
    correct = jnp.asarray(correct)
    if probs.ndim != 1 or lengths.shape != probs.shape or correct.shape != probs.shape:
        raise InputError(
            f"probs, lengths, correct with shapes {probs.shape}, {lengths.shape}, "
            f"{correct.shape} are invalid: must all be [N]"
        )
    if max_length is None:
        if not is_concrete(lengths):
            raise InputError("max_length=None is invalid under jit: must be an integer >= 1")
        max_length = int(np.max(np.asarray(lengths)))
    max_length = check_int("max_length", max_length, 1)
    if is_concrete((probs, lengths, correct)):
        lv = np.asarray(lengths)
        if lv.size and (lv.min() < 1 or lv.max() > max_length):
            raise InputError(
                f"lengths with range [{lv.min()}, {lv.max()}] is invalid: must be in "
                f"[1, max_length={max_length}]"
            )
        pv = np.asarray(probs, np.float64)
        if not (np.all(pv >= 0) and abs(pv.sum() - 1.0) < 1e-4):  # float32 sums of N terms
            raise InputError(
                f"probs with sum {pv.sum()!r} is invalid: must be non-negative and sum to 1"
            )
        cv = np.asarray(correct)
        if not np.all((cv == 0) | (cv == 1)):
            raise InputError("correct is invalid: must hold booleans (or 0/1)")
    return probs, lengths.astype(jnp.int32), correct.astype(bool), max_length


def _power_convolve(law: Array, times: int) -> Array:
    """Law of the sum of ``times`` i.i.d. draws from a 2-D law ``float[R, C]`` (indices add).

    Returns ``float[times (R-1) + 1, times (C-1) + 1]``; ``times`` is static (lax.scan).
    """
    import jax
    import jax.numpy as jnp
    from jax.scipy.signal import convolve2d

    rows, cols = law.shape
    shape = (times * (rows - 1) + 1, times * (cols - 1) + 1)
    start = jnp.zeros(shape, law.dtype).at[0, 0].set(1.0)
    if times == 0:
        return start

    def step(acc, _):
        full = convolve2d(acc, law, mode="full", precision=jax.lax.Precision.HIGHEST)
        return full[: shape[0], : shape[1]], None

    out, _ = jax.lax.scan(step, start, None, length=times)
    return out


@functools.cache
def _jitted_weights():
    import jax

    return jax.jit(_weights, static_argnames=("aggregation", "max_length", "batch_groups"))


def _weights(a_table, b_table, probs, lengths, correct, aggregation, max_length, batch_groups):
    import jax
    import jax.numpy as jnp

    m = a_table.shape[0] - 1
    dtype = jnp.result_type(float)
    probs = probs.astype(dtype)
    a_table = a_table.astype(dtype)
    b_table = b_table.astype(dtype)
    lengths_f = lengths.astype(dtype)
    if aggregation != "token-mean":
        p = jnp.sum(jnp.where(correct, probs, 0.0))
        pmf = bern.binomial_pmf(m - 1, p)  # J ~ Bin(M-1, p), the other samples' correct count
        abar = jnp.sum(pmf * a_table[1:])
        bbar = jnp.sum(pmf * b_table[:-1])
        factor = {
            "seq-mean-token-sum": jnp.ones_like(lengths_f),
            "seq-mean-token-mean": 1.0 / lengths_f,
            "seq-mean-token-sum-norm": jnp.full_like(lengths_f, 1.0 / max_length),
        }[aggregation]
        return factor * jnp.where(correct, abar, bbar)
    # token-mean: joint law of (S', T') over the other M-1 samples, times the law of T'' (the
    # other G-1 groups' total length); omega(r, l) = G M E[Z_r(S') / (l + T' + T'')].
    law = jnp.zeros((2, max_length + 1), dtype).at[correct.astype(jnp.int32), lengths].add(probs)
    group = _power_convolve(law, m - 1)  # [M, (M-1) L + 1]
    others = _power_convolve(jnp.sum(law, axis=0, keepdims=True), (batch_groups - 1) * m)
    joint = jax.vmap(lambda row: jnp.convolve(row, others[0], precision=jax.lax.Precision.HIGHEST))(
        group
    )  # [M, W]: (S', T' + T'')
    total = jnp.arange(joint.shape[1], dtype=dtype)  # T' + T''
    own = jnp.arange(1, max_length + 1, dtype=dtype)
    inv = 1.0 / (own[:, None] + total[None, :])  # [L, W]
    by_count = joint @ inv.T  # [M, L]: E[1{S'=s} / (l + W)]
    scale = batch_groups * m
    table_correct = scale * (a_table[1:] @ by_count)  # [L]
    table_wrong = scale * (b_table[:-1] @ by_count)
    return jnp.where(correct, table_correct[lengths - 1], table_wrong[lengths - 1])


def sequence_weights_from_tables(
    a_table: ArrayLike,
    b_table: ArrayLike,
    aggregation: str,
    probs: ArrayLike,
    lengths: ArrayLike,
    correct: ArrayLike,
    *,
    max_length: int | None = None,
    batch_groups: int = 1,
) -> Array:
    """``sequence_weights`` from tables ``a, b float[M+1]`` (which may be traced)."""
    mode = check_aggregation(aggregation)
    batch_groups = check_int("batch_groups", batch_groups, 1)
    probs, lengths, correct, max_length = _check_inputs(probs, lengths, correct, max_length)
    a_table, b_table = to_jax(a_table), to_jax(b_table)  # fresh copies of cached tables
    return _jitted_weights()(
        a_table, b_table, probs, lengths, correct, mode, max_length, batch_groups
    )


def sequence_weights(
    scheme: Scheme,
    aggregation: str,
    group_size: int,
    probs: ArrayLike,
    lengths: ArrayLike,
    correct: ArrayLike,
    **options: int | None,
) -> Array:
    """Exact expected weight omega(y) = E[f_1 Z_1 | y_1 = y] of each response.

    E[(1/M) sum_i f_i Z_i grad log pi(y_i)] = sum_y pi(y) omega(y) grad log pi(y). Own-length
    factors (R-A identity, J ~ Bin(M-1, p)): omega(y) = f(L(y)) (r abar + (1-r) bbar),
    abar = E_J[a[J+1]], bbar = E_J[b[J]]. token-mean: omega(y) = G M E[Z / (L(y) + T' + T'')],
    with (S', T') the correct count and total length of the other M-1 samples ((M-1)-fold
    convolution of the per-sample (r, L) law) and T'' the other G-1 groups' total length.

    Args:
      scheme: an rlxform Scheme (tables a[S], b[S] from ``scheme.tables(M)``).
      aggregation: a mode of ``AGGREGATIONS`` or a TRL alias (``trl:grpo``, ...).
      group_size: M.
      probs: pi(y), ``float[N]`` summing to 1.
      lengths: L(y) in [1, max_length], ``int[N]``.
      correct: r(y), ``bool[N]``.
      options: ``max_length``, the length cap (seq-mean-token-sum-norm divides by it; None:
        max(lengths)); ``batch_groups``, G >= 1 groups sharing the token-mean normaliser.
    Returns:
      omega, ``float64[N]`` under ``jax.enable_x64(True)``.
    """
    if not isinstance(scheme, Scheme):
        raise InputError(f"scheme={scheme!r} is invalid: must be an rlxform.core.schemes.Scheme")
    a_table, b_table = scheme.tables(scheme.check_group_size(group_size))
    return sequence_weights_from_tables(
        a_table, b_table, aggregation, probs, lengths, correct, **options
    )
