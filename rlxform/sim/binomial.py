"""Exact batched binomial sampler: BTRS above a mean of 10, CDF inversion below.

``binomial(key, n, p)`` draws Binomial(n, p) elementwise (float32 n and p of one shape). BTRS
(Hormann 1993, "The generation of binomial random variates") takes one proposal per element;
the rejected ones (15-25%) run to acceptance in one loop (``_run_to_acceptance``): they are
compacted into a buffer of ``buffer_size`` slots, and each round gives every still-rejected slot
a proposal read from a pool at its rank, so only those consume uniforms (the pool is refilled
from the loop key if a run of rejections empties it). For n * min(p, 1-p) < 10 an unrolled CDF
inversion of ``INVERSION_TABLE`` terms with a while-loop tail. The BTRS code is traced once per
call (first proposal) plus once in the loop, so a program holds few copies of it (compile time
is paid per XLA kernel). ``binomial_from_uniforms`` takes its uniforms from a caller's draw
(``num_uniforms(size)`` of them), so that the counts sampler (``rlxform.sim.sampling``) makes
one draw per step. ``key`` first.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rlxform.types import Array, ArrayLike, PRNGKey
from rlxform.validation import check_int

BTRS_MIN_MEAN = 10.0  # BTRS for n * min(p, 1-p) >= this, inversion below
# rejected BTRS elements (15-25% of them) run to acceptance in a buffer of size // 4 slots (at
# least 64; elements beyond it wait for the next pass); the pool holds 0.75 uniforms per element,
# about 1.5x what the rounds use on average (then it is refilled from the loop key)
BUFFER_DIVISOR = 4
BUFFER_MIN = 64
POOL_PER_ELEMENT = 0.75
INVERSION_TABLE = 32  # CDF terms unrolled (P(X >= 32 | mean < 10) < 2e-6)

# log(k!) - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2], k = 0..9 (Hormann 1993, table 2)
_STIRLING_TAIL = np.array(
    [
        0.0810614667953272,
        0.0413406959554092,
        0.0276779256849983,
        0.02079067210376509,
        0.0166446911898211,
        0.0138761288230707,
        0.0118967099458917,
        0.0104112652619720,
        0.00925546218271273,
        0.00833056343336287,
    ]
)


def _stirling_tail(k: Array) -> Array:
    """f_c(k) = log k! - log of Stirling's approximation at k + 1 (table for k <= 9).

    The table is read with a chain of selects, not a gather (elementwise, fuses on CPU).
    """
    kp1 = k + 1.0
    kp1sq = kp1 * kp1
    value = (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / kp1sq) / kp1sq) / kp1
    for j in range(9, -1, -1):
        value = jnp.where(k == j, jnp.asarray(_STIRLING_TAIL[j], k.dtype), value)
    return value


def _btrs_constants(n: Array, p: Array) -> tuple[Array, ...]:
    """Per-element constants of BTRS (Hormann 1993) for p <= 1/2, n p >= 10.

    ``log_mode`` collects the k-independent terms of log f(k) / f(m), m the mode, and
    ``rest_mode`` = n - m + 1.
    """
    q = 1.0 - p
    spq = jnp.sqrt(n * p * q)
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    alpha = (2.83 + 5.1 / b) * spq
    v_r = 0.92 - 4.2 / b
    m = jnp.floor((n + 1.0) * p)
    r = p / q
    log_mode = (
        (m + 0.5) * jnp.log((m + 1.0) / (r * (n - m + 1.0)))
        + _stirling_tail(m)
        + _stirling_tail(n - m)
    )
    return n, p, b, a, alpha, v_r, r, n - m + 1.0, log_mode


def _btrs_accept(n, p, b, a, alpha, v_r, r, rest_mode, log_mode, u, v):
    """(k, accepted) of BTRS proposals (u - 1/2, v) for Binomial(n, p), p <= 1/2.

    Accept if the squeeze holds (us >= 0.07, v <= v_r) or k in [0, n] and
    log(v alpha / (a / us^2 + b)) <= log f(k) - log f(m) (Stirling form, Hormann 1993).
    """
    us = 0.5 - jnp.abs(u)
    k = jnp.floor((2.0 * a / us + b) * u + n * p + 0.5)
    squeeze = (us >= 0.07) & (v <= v_r)
    in_range = (k >= 0) & (k <= n)
    k_safe = jnp.clip(k, 0.0, n)
    log_v = jnp.log(v * alpha / (a / (us * us) + b))
    rest = n - k_safe + 1.0  # ratios inside the logs: no cancellation of O(n log n) terms
    bound = (
        log_mode
        + (n + 1.0) * jnp.log(rest_mode / rest)
        + (k_safe + 0.5) * jnp.log(r * rest / (k_safe + 1.0))
        - _stirling_tail(k_safe)
        - _stirling_tail(n - k_safe)
    )
    return k_safe, squeeze | (in_range & (log_v <= bound))


def _compact_indices(mask: Array, buffer: int) -> Array:
    """``jnp.nonzero(mask, size=buffer, fill_value=size)[0]`` with a cheaper prefix count.

    The inclusive prefix sums of the 0/1 mask are a matmul of 128-blocks with a triangular
    ones matrix plus block offsets (exact in float32 below 2^24 elements; XLA CPU's cumsum is
    several times slower), and each set position is scattered to its rank.
    """
    size = mask.shape[0]
    block = 128
    if size % block or size >= 2**24:
        return jnp.nonzero(mask, size=buffer, fill_value=size)[0]
    ones = mask.astype(jnp.float32).reshape(size // block, block)
    within = ones @ jnp.triu(jnp.ones((block, block), jnp.float32))
    totals = within[:, -1:]
    rank = (within + (jnp.cumsum(totals, axis=0) - totals)).reshape(-1).astype(jnp.int32) - 1
    target = jnp.where(mask & (rank < buffer), rank, buffer)
    positions = jnp.arange(size, dtype=jnp.int32)
    return jnp.full((buffer,), size, jnp.int32).at[target].set(positions, mode="drop")


def _exclusive_rank(mask: Array) -> Array:
    """#{j < i : mask[j]} for a bool[C] mask: ``int32[C]``."""
    ones = mask.astype(jnp.int32)
    return jnp.cumsum(ones) - ones


def _run_to_acceptance(
    key: PRNGKey, n: Array, p: Array, value: Array, done: Array, pool: Array
) -> Array:
    """Run the not-done BTRS elements of ``value`` (float[N]) to acceptance: ``-> float[N]``.

    Outer loop (one pass unless more than ``buffer_size(N)`` elements are rejected): the
    not-done elements are compacted into a buffer, their BTRS constants computed once. Inner
    loop: every round gives each still-rejected slot one proposal (u, v) =
    ``pool[offset + 2 r], pool[offset + 2 r + 1]``, r its rank among the still-rejected slots,
    and advances ``offset`` by twice their number, so no uniform is read by two proposals.
    When the pool cannot serve a round it is replaced by a fresh draw from
    ``fold_in(key, round)`` (rounds are counted across passes). Which element sits in which
    slot and which uniforms it reads depend only on earlier rejections, so every element's
    value is the first accepted proposal of an i.i.d. sequence: exact.

    Args:
      key: seeds the refills (independent of ``pool``).
      n, p: float[N] parameters, p <= 1/2 and n p >= 10 where not ``done`` (elsewhere unused).
      value, done: float[N] first proposals' values and bool[N] accepted (or not BTRS).
      pool: float[Q] uniforms, Q >= 2 ``buffer_size(N)``.
    """
    size = n.shape[0]
    buffer = buffer_size(size)
    total = pool.shape[0]

    def refill(pool, offset, need, round_):
        def fresh():
            return jax.random.uniform(jax.random.fold_in(key, round_), (total,), pool.dtype)

        return jax.lax.cond(
            offset + need > total, lambda: (fresh(), jnp.int32(0)), lambda: (pool, offset)
        )

    def one_pass(state):
        value, done, pool, offset, round_ = state
        index = _compact_indices(~done, buffer)  # size = empty slot
        # gather n and p only; the constants are recomputed on the buffer (cheaper than 9 gathers)
        consts = _btrs_constants(
            n.at[index].get(mode="fill", fill_value=2 * BTRS_MIN_MEAN),
            p.at[index].get(mode="fill", fill_value=0.5),
        )

        def one_round(state):
            sub_value, sub_done, pool, offset, round_ = state
            todo = ~sub_done
            need = 2 * jnp.sum(todo, dtype=jnp.int32)
            pool, offset = refill(pool, offset, need, round_)
            at = offset + 2 * _exclusive_rank(todo)
            u = pool.at[at].get(mode="clip")
            v = pool.at[at + 1].get(mode="clip")
            k, ok = _btrs_accept(*consts, u - 0.5, v)
            sub_value = jnp.where(sub_done, sub_value, k)
            return sub_value, sub_done | ok, pool, offset + need, round_ + 1

        sub = (jnp.zeros((buffer,), value.dtype), index >= size, pool, offset, round_)
        sub_value, _, pool, offset, round_ = jax.lax.while_loop(
            lambda s: ~jnp.all(s[1]), one_round, sub
        )
        value = value.at[index].set(sub_value, mode="drop")
        done = done.at[index].set(True, mode="drop")
        return value, done, pool, offset, round_

    state = (value, done, pool, jnp.int32(0), jnp.int32(0))
    return jax.lax.while_loop(lambda s: ~jnp.all(s[1]), one_pass, state)[0]


def _inversion(u: Array, n: Array, p: Array, table: int) -> Array:
    """Binomial(n, p) by sequential CDF inversion, exact where p <= 1/2 and n p is small.

    pmf(0) = q^n, pmf(k) = pmf(k-1) (n - k + 1) / k * p / q; X = #{k : u >= cdf(k)} (one
    uniform u, float[...]). The first ``table`` terms are an unrolled elementwise recurrence
    (one fused loop); a while loop continues the search for the rare u beyond them.
    """
    dtype = p.dtype
    r = p / (1.0 - p)  # p <= 1/2
    pmf = jnp.exp(n * jnp.log1p(-p))
    cdf = pmf
    value = (u >= cdf).astype(dtype)
    for k in range(1, table):
        pmf = pmf * (jnp.maximum(n - (k - 1), 0.0) * (r / k))
        cdf = cdf + pmf
        value = value + (u >= cdf).astype(dtype)

    # u >= cdf(table - 1), i.e. X >= table: continue the search term by term
    def body(state):
        k, value, pmf_k, cdf_k, active = state
        pmf_k = pmf_k * (jnp.maximum(n - (k - 1.0), 0.0) * (r / k))  # as the unrolled terms
        cdf_k = cdf_k + pmf_k
        passed = active & (u >= cdf_k) & (k < n)  # then X >= k + 1
        return k + 1.0, value + passed.astype(dtype), pmf_k, cdf_k, passed

    active = (value >= table) & (n > table - 1)
    state = (jnp.asarray(table, dtype), value, pmf, cdf, active)
    value = jax.lax.while_loop(lambda s: jnp.any(s[4]), body, state)[1]
    return jnp.minimum(value, n)  # rounding can leave cdf(n) < u


def buffer_size(size: int) -> int:
    """Slots of the buffer in which rejected BTRS elements of a batch of ``size`` are retried."""
    return min(size, max(BUFFER_MIN, size // BUFFER_DIVISOR))


def pool_size(size: int) -> int:
    """Uniforms of the retry pool for a batch of ``size`` (at least one round of a full buffer)."""
    return max(2 * buffer_size(size), int(POOL_PER_ELEMENT * size))


def num_uniforms(size: int) -> int:
    """Uniforms ``binomial`` takes from its single draw for a batch of ``size`` elements.

    2 per element (a BTRS proposal (u, v); inversion elements use u, never BTRS, so one
    uniform serves both) and the retry pool of the rejected ones (``pool_size``).
    """
    size = check_int("size", size, 0)
    return 2 * size + pool_size(size)


def binomial(key: PRNGKey, n: ArrayLike, p: ArrayLike) -> Array:
    """Exact Binomial(n, p) draws, elementwise: ``float[...] , float[...] -> float[...]``.

    With p' = min(p, 1 - p): BTRS (transformed rejection with squeeze, Hormann 1993, the
    algorithm of ``jax.random.binomial`` and ``tf.random.binomial``) where n p' >= 10, CDF
    inversion where n p' < 10; X = n - X' for p > 1/2. Both are evaluated on the whole batch
    (no data-dependent branching); each has a fallback (BTRS: rejected proposals, run to
    acceptance in a compacted buffer; inversion: u past the tabulated CDF) so the result is
    exact for every element. All uniforms of the common path come from one draw: every
    threefry call is a loop of its own on CPU, so few large draws beat many small ones.
    Several times faster than ``jax.random.binomial`` on CPU, whose while loops run over the
    whole batch until its slowest element is done; about as large a program (XLA kernels).

    Args:
      key: PRNG key.
      n: float[...] non-negative integer-valued trial counts.
      p: float[...] success probabilities in [0, 1] (broadcast against n).
    Returns:
      float[...] draws with the dtype of p (float32 unless p is float64).
    """
    p = jnp.asarray(p)
    if not jnp.issubdtype(p.dtype, jnp.floating):
        p = p.astype(jnp.float32)
    n, p = jnp.broadcast_arrays(jnp.asarray(n, p.dtype), p)
    draw_key, loop_key = jax.random.split(key)
    draws = jax.random.uniform(draw_key, (num_uniforms(n.size),), p.dtype)
    return binomial_from_uniforms(draws, loop_key, n, p)


def binomial_from_uniforms(draws: Array, loop_key: PRNGKey, n: Array, p: Array) -> Array:
    """``binomial`` with its uniforms given: ``float[num_uniforms(n.size)]`` i.i.d. U[0, 1).

    ``loop_key`` (independent of ``draws``) seeds the rare refills of the retry pool.
    Lets a caller draw the uniforms of several batches at once (``counts_from_masses``).
    Works on the flattened batch (XLA CPU vectorises along the minor axis: a [B, 2] batch
    runs its elementwise chains several times slower than the same elements in one row).
    """
    n, p = jnp.broadcast_arrays(n, p)
    shape = n.shape
    n, p = n.reshape(-1), p.reshape(-1)
    size = n.size
    if jnp.shape(draws) != (num_uniforms(size),):
        raise ValueError(
            f"draws of shape {jnp.shape(draws)} is invalid: must have shape "
            f"({num_uniforms(size)},) = (num_uniforms(n.size),) for n of shape {shape}"
        )
    u, v = draws[: 2 * size].reshape(2, size)
    pool = draws[2 * size :]
    flip = p > 0.5
    p_low = jnp.clip(jnp.where(flip, 1.0 - p, p), 0.0, 0.5)
    use_btrs = n * p_low >= BTRS_MIN_MEAN
    # each algorithm sees safe parameters outside its own regime (values there are discarded)
    p_btrs = jnp.where(use_btrs, p_low, 0.5)
    n_btrs = jnp.where(use_btrs, n, 2 * BTRS_MIN_MEAN)
    from_btrs, accepted = _btrs_accept(*_btrs_constants(n_btrs, p_btrs), u - 0.5, v)
    from_inv = _inversion(u, n, jnp.where(use_btrs, 0.0, p_low), INVERSION_TABLE)
    low = jnp.where(use_btrs, from_btrs, from_inv)
    low = _run_to_acceptance(loop_key, n_btrs, p_btrs, low, accepted | ~use_btrs, pool)
    return jnp.where(flip, n - low, low).reshape(shape)
