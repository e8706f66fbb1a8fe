"""Binomial and Bernstein bases, and the exact finite-group transform h_M (SPEC sections 2-3).

A scheme's tables give c_k = a[k+1] - b[k] (k = 0..M-1) and phi(S) = (1/M) sum_{j<=S} c_{j-1}.
Then w_M = B_{M-1}[c] and h_M = B_M[phi] with h_M(0) = 0, where
B_n[f](p) = sum_k f_k C(n, k) p^k (1-p)^(n-k). Binomial terms are evaluated in log space
(log C(n, k) from exact integers, xlogy, log(1-p)), so M up to 4096 and p at the ends of [0, 1] stay
accurate to float64 rounding. The derivative rule dB_n[f]/dp = n B_{n-1}[diff f] is installed
as a custom JVP: jit, vmap and grad work, grad is finite at p = 0 and 1, and grad h_M = w_M.
Results are float64 under ``jax.enable_x64(True)``, float32 otherwise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy

from rlxform.types import Array, ArrayLike, NDArray
from rlxform.validation import InputError


@functools.lru_cache(maxsize=256)
def log_binomial_coefficients(n: int) -> NDArray:
    """log C(n, k), k = 0..n, as ``float64[n+1]`` from exact integers (correctly rounded)."""
    out = np.empty(n + 1, dtype=np.float64)
    c = 1
    for k in range(n // 2 + 1):
        out[k] = out[n - k] = math.log(c)
        c = c * (n - k) // (k + 1)
    out.setflags(write=False)
    return out


def log_binom(n: ArrayLike, k: int) -> NDArray:
    """log C(n, k) by lgamma for ``float[...]`` n, -inf where n < k: ``float64[...]``."""
    n = np.asarray(n, dtype=np.float64)
    valid = n >= k
    safe = np.where(valid, n, k)
    lgamma = np.vectorize(math.lgamma, otypes=[np.float64])
    out = lgamma(safe + 1) - math.lgamma(k + 1) - lgamma(safe - k + 1)
    return np.where(valid, out, -np.inf)


def binomial_log_pmf(n: int, p: ArrayLike) -> Array:
    """log P(S = k) for S ~ Binomial(n, p), k = 0..n.

    Args:
      n: number of trials (static int).
      p: success probabilities, ``float[...]`` in [0, 1].
    Returns:
      ``float[..., n+1]``; ``-inf`` where the probability is exactly zero (p at an end).
    """
    p = jnp.asarray(p)
    p = p.astype(jnp.promote_types(p.dtype, jnp.result_type(float)))
    k = np.arange(n + 1, dtype=np.float64)
    pe = p[..., None]
    # log(1-p): XLA's log1p is ~100 ulp off near p = 0.4, which n-k ~ 4096 amplifies; 1-p is
    # exact for p >= 1/2 and off by <= 1.1e-16 absolute below, so log(1-p) is accurate there.
    log_q = jnp.where(pe < 0.01, jnp.log1p(-pe), jnp.log(1.0 - pe))
    wrong = jnp.where(k < n, (n - k) * log_q, 0.0)
    return jnp.asarray(log_binomial_coefficients(n), pe.dtype) + xlogy(k, pe) + wrong


def binomial_pmf(n: int, p: ArrayLike) -> Array:
    """P(S = k), k = 0..n, for S ~ Binomial(n, p): ``float[..., n+1]``."""
    return jnp.exp(binomial_log_pmf(n, p))


@jax.custom_jvp
def bernstein(coefficients: ArrayLike, p: ArrayLike) -> Array:
    """Bernstein polynomial B_n[f](p) = sum_k f_k C(n, k) p^k (1-p)^(n-k).

    Args:
      coefficients: ``float[n+1]`` values f_0..f_n (degree n = len - 1).
      p: ``float[...]`` points in [0, 1].
    Returns:
      ``float[...]``. Derivative (custom JVP): n B_{n-1}[diff f], exact at p = 0 and 1.
    """
    coefficients = jnp.asarray(coefficients)
    n = coefficients.shape[-1] - 1
    pmf = binomial_pmf(n, p)
    return jnp.sum(pmf * coefficients.astype(pmf.dtype), axis=-1)


@bernstein.defjvp
def _bernstein_jvp(primals, tangents):
    coefficients, p = primals
    d_coefficients, d_p = tangents
    coefficients = jnp.asarray(coefficients)
    out = bernstein(coefficients, p)
    n = coefficients.shape[-1] - 1
    if n == 0:
        slope = jnp.zeros_like(out)
    else:
        slope = n * bernstein(jnp.diff(coefficients), p)
    return out, bernstein(d_coefficients, p) + slope * jnp.asarray(d_p, out.dtype)


def coefficients_from_tables(a_table: ArrayLike, b_table: ArrayLike) -> NDArray:
    """c_k = a[k+1] - b[k], k = 0..M-1, from tables of length M+1: ``float64[M]``."""
    a_table = np.asarray(a_table, np.float64)
    b_table = np.asarray(b_table, np.float64)
    return a_table[1:] - b_table[:-1]


def phi_from_coefficients(coefficients: ArrayLike) -> NDArray:
    """phi(S) = (1/M) sum_{j=1}^{S} c_{j-1}, S = 0..M (phi(0) = 0): ``float64[M+1]``."""
    c = np.asarray(coefficients, np.float64)
    return np.concatenate([[0.0], np.cumsum(c)]) / c.shape[0]


def bernstein_weight(coefficients: ArrayLike, p: ArrayLike) -> Array:
    """w_M(p) = sum_{k<M} c_k C(M-1, k) p^k (1-p)^(M-1-k) = E_K[c_K], K ~ Bin(M-1, p)."""
    return bernstein(coefficients, p)


def bernstein_objective(coefficients: ArrayLike, p: ArrayLike) -> Array:
    """h_M(p) = E_{S ~ Bin(M, p)}[phi(S)], h_M(0) = 0 and h_M' = w_M."""
    return bernstein(phi_from_coefficients(coefficients), p)


# ---- large-M limits (named objectives) -------------------------------------------------------


def identity(p: ArrayLike) -> Array:
    """h(p) = p (REINFORCE, RLOO, mean baseline)."""
    return jnp.asarray(p)


def log_objective(p: ArrayLike) -> Array:
    """h(p) = log p (rejection sampling, MaxRL); -inf at p = 0."""
    return jnp.log(p)


def arcsin_sqrt(p: ArrayLike) -> Array:
    """h(p) = 2 arcsin sqrt p (GRPO), h' = 1/sqrt(p(1-p))."""
    return 2.0 * jnp.arcsin(jnp.sqrt(p))


def pass_at_k_objective(k: int) -> Callable[[ArrayLike], Array]:
    """h(p) = 1 - (1-p)^k (pass@k), h' = k (1-p)^(k-1)."""

    def h(p: ArrayLike) -> Array:
        return -jnp.expm1(k * jnp.log1p(-jnp.asarray(p)))

    return h


def incomplete_beta_objective(a: float, b: float) -> Callable[[ArrayLike], Array]:
    """h(p) = B_p(a, b) = int_0^p t^(a-1) (1-t)^(b-1) dt (unregularised incomplete beta)."""
    scale = math.exp(math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))

    def h(p: ArrayLike) -> Array:
        return scale * jax.scipy.special.betainc(a, b, jnp.asarray(p))

    return h


def scaled(h: Callable[[ArrayLike], Array], factor: float) -> Callable[[ArrayLike], Array]:
    """p -> factor * h(p)."""

    def g(p: ArrayLike) -> Array:
        return factor * h(p)

    return g


def _graded_panels(num_halvings: int = 52, order: int = 16) -> tuple[NDArray, NDArray]:
    """Gauss-Legendre nodes and weights on [0, 1], panels halving toward both ends.

    Breakpoints 2^-j and 1 - 2^-j (j = 1..num_halvings): an integrand with a near-singularity
    just outside an end (at distance >= 2^-52 of the interval) or an algebraic end point is
    integrated to float64 rounding. ``float64[N]`` each, N = 2 (num_halvings + 1) order.
    """
    half = 2.0 ** -np.arange(num_halvings, 0, -1)
    breaks = np.unique(np.concatenate([[0.0], half, 1.0 - half, [1.0]]))
    x, w = np.polynomial.legendre.leggauss(order)
    lo, hi = breaks[:-1, None], breaks[1:, None]
    nodes = lo + (hi - lo) * (x + 1.0) / 2.0
    weights = (hi - lo) * w / 2.0
    return nodes.reshape(-1), weights.reshape(-1)


def grpo_eps_objective(eps: float, gamma: float = 0.0) -> Callable[[ArrayLike], Array]:
    """h(p) = int_0^p (1-t)^gamma / (sqrt(t(1-t)) + eps) dt: GRPO (gamma = 0) / F-GRPO, eps > 0.

    The large-M limit of std-normalised weights with eps > 0. With t = sin^2 u the integrand
    becomes 2 sin u cos^(2 gamma + 1) u / (sin u cos u + eps) on [0, arcsin sqrt p], smooth
    except near u = -eps and at u = pi/2, so graded Gauss-Legendre panels reach float64
    rounding. Custom JVP: h'(p) = (1-p)^gamma / (sqrt(p(1-p)) + eps) exactly.
    """
    if not eps > 0:
        raise InputError(f"eps={eps!r} is invalid: must be > 0 (eps = 0 has a closed form)")
    nodes, weights = _graded_panels()

    @jax.custom_jvp
    def h(p: ArrayLike) -> Array:
        p = jnp.asarray(p)
        dtype = jnp.promote_types(p.dtype, jnp.result_type(float))
        p = p.astype(dtype)
        upper = jnp.arctan2(jnp.sqrt(p), jnp.sqrt(1.0 - p))[..., None]  # arcsin sqrt p, also near 1
        u = upper * jnp.asarray(nodes, dtype)
        s, c = jnp.sin(u), jnp.cos(u)
        f = 2.0 * s * c ** (2.0 * gamma + 1.0) / (s * c + eps)
        return upper[..., 0] * jnp.sum(jnp.asarray(weights, dtype) * f, axis=-1)

    @h.defjvp
    def _h_jvp(primals, tangents):
        (p,), (dp,) = primals, tangents
        p = jnp.asarray(p)
        weight = (1.0 - p) ** gamma / (jnp.sqrt(p * (1.0 - p)) + eps)
        return h(p), weight * dp

    return h


def floored_grpo_objective(eps: float) -> Callable[[ArrayLike], Array]:
    """h(p) = int_0^p dt / (sqrt(max(t(1-t), eps)) + eps): verl ``grpo_vectorized``'s limit.

    The variance floor makes the integrand the constant 1 / (sqrt(eps) + eps) where
    t(1-t) < eps, i.e. below t0 = (1 - sqrt(1 - 4 eps)) / 2 and above 1 - t0 (everywhere when
    eps >= 1/4); in between it is ``grpo_eps_objective(eps)``.
    """
    inner = grpo_eps_objective(eps)
    flat = 1.0 / (math.sqrt(eps) + eps)
    t0 = 0.5 if eps >= 0.25 else 2 * eps / (1 + math.sqrt(1 - 4 * eps))  # stable root

    def h(p: ArrayLike) -> Array:
        p = jnp.asarray(p)
        mid = jnp.clip(p, t0, 1.0 - t0)
        ends = jnp.minimum(p, t0) + jnp.maximum(p - (1.0 - t0), 0.0)
        return inner(mid) - inner(jnp.asarray(t0, mid.dtype)) + flat * ends

    return h
