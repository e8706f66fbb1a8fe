"""Binomial and Bernstein bases, and the exact finite-group transform h_M (SPEC sections 2-3).

A scheme's tables give c_k = a[k+1] - b[k] (k = 0..M-1) and phi(S) = (1/M) sum_{j<=S} c_{j-1}.
Then w_M = B_{M-1}[c] and h_M = B_M[phi] with h_M(0) = 0, where
B_n[f](p) = sum_k f_k C(n, k) p^k (1-p)^(n-k). Binomial terms are evaluated in log space
(log C(n, k) from exact integers, xlogy, log(1-p)), so M up to 4096 and p at the ends of [0, 1] stay
accurate to float64 rounding. Each formula is written once against an array namespace
(``rlxform.core.xp``): NumPy float64 for NumPy / Python inputs (no JAX import), JAX for JAX
arrays and tracers, where the derivative rule dB_n[f]/dp = n B_{n-1}[diff f] is a custom JVP (jit,
vmap and grad work, grad is finite at p = 0 and 1, and grad h_M = w_M); the JAX route is float64
under ``jax.enable_x64(True)``, float32 otherwise. Large-M limits are ``Limit``s: h and h' = w,
both written once, callable on either namespace (``jax.grad`` of a limit is its w).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from rlxform.core.xp import constant, float_array, is_jax, namespace, to_jax, xlogy
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


def _binomial_log_pmf(xp: ModuleType, n: int, p: ArrayLike) -> Any:
    p = float_array(xp, p)
    k = np.arange(n + 1, dtype=np.float64)
    pe = p[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        # log(1-p): XLA's log1p is ~100 ulp off near p = 0.4, which n-k ~ 4096 amplifies; 1-p is
        # exact for p >= 1/2 and off by <= 1.1e-16 absolute below, so log(1-p) is accurate there.
        log_q = xp.where(pe < 0.01, xp.log1p(-pe), xp.log(1.0 - pe))
        wrong = xp.where(k < n, (n - k) * log_q, 0.0)
        return constant(xp, log_binomial_coefficients(n), pe.dtype) + xlogy(xp, k, pe) + wrong


def binomial_log_pmf(n: int, p: ArrayLike) -> Array:
    """log P(S = k) for S ~ Binomial(n, p), k = 0..n.

    Args:
      n: number of trials (static int).
      p: success probabilities, ``float[...]`` in [0, 1] (NumPy: float64; JAX: its dtype).
    Returns:
      ``float[..., n+1]``; ``-inf`` where the probability is exactly zero (p at an end).
    """
    return _binomial_log_pmf(namespace(p), n, p)


def binomial_pmf(n: int, p: ArrayLike) -> Array:
    """P(S = k), k = 0..n, for S ~ Binomial(n, p): ``float[..., n+1]``."""
    xp = namespace(p)
    return xp.exp(_binomial_log_pmf(xp, n, p))


def _bernstein_sum(xp: ModuleType, coefficients: Any, p: ArrayLike) -> Any:
    """sum_k f_k C(n, k) p^k (1-p)^(n-k), the one formula behind both routes."""
    n = coefficients.shape[-1] - 1
    pmf = xp.exp(_binomial_log_pmf(xp, n, p))
    return xp.sum(pmf * coefficients.astype(pmf.dtype), axis=-1)


def bernstein(coefficients: ArrayLike, p: ArrayLike) -> Array:
    """Bernstein polynomial B_n[f](p) = sum_k f_k C(n, k) p^k (1-p)^(n-k).

    Args:
      coefficients: ``float[n+1]`` values f_0..f_n (degree n = len - 1).
      p: ``float[...]`` points in [0, 1].
    Returns:
      ``float[...]``: NumPy float64 when no argument is a JAX array; else JAX, whose derivative
      (custom JVP) is n B_{n-1}[diff f], exact at p = 0 and 1.
    """
    if namespace(coefficients, p) is np:
        return _bernstein_sum(np, np.asarray(coefficients, np.float64), p)
    return _traced_bernstein()(to_jax(coefficients), p)


@functools.cache
def _traced_bernstein() -> Callable[[Array, ArrayLike], Array]:
    """``_bernstein_sum`` under JAX with the derivative rule as its custom JVP (built once)."""
    import jax
    import jax.numpy as jnp

    @jax.custom_jvp
    def traced(coefficients: Array, p: ArrayLike) -> Array:
        return _bernstein_sum(jnp, jnp.asarray(coefficients), p)

    @traced.defjvp
    def _jvp(primals, tangents):
        coefficients, p = primals
        d_coefficients, d_p = tangents
        coefficients = jnp.asarray(coefficients)
        out = traced(coefficients, p)
        n = coefficients.shape[-1] - 1
        slope = jnp.zeros_like(out) if n == 0 else n * traced(jnp.diff(coefficients), p)
        return out, traced(d_coefficients, p) + slope * jnp.asarray(d_p, out.dtype)

    return traced


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

Formula = Callable[[ModuleType, Any], Any]  # (xp, float p) -> float[...] like p


class Limit:
    """A large-M objective h with its weight w = h', each written once against ``xp``.

    ``limit(p)`` is h(p): NumPy float64 for NumPy / Python p, JAX for JAX p with w as its custom
    JVP (``jax.grad(limit) == limit.weight``); ``limit.weight(p)`` is w(p). Values at the ends
    may be infinite (log p at 0; w of the arcsine at 0 and 1).
    """

    def __init__(self, value: Formula, weight: Formula, name: str = "h"):
        self._value, self._weight, self.__name__ = value, weight, name

    def __call__(self, p: ArrayLike) -> Array:
        return self._evaluate(self._value, p)

    def weight(self, p: ArrayLike) -> Array:
        """w(p) = h'(p), ``float[...]`` like p."""
        return self._evaluate(self._weight, p)

    def _evaluate(self, formula: Formula, p: ArrayLike) -> Array:
        if not is_jax(p):
            with np.errstate(divide="ignore", invalid="ignore"):
                return formula(np, float_array(np, p))
        if formula is self._weight:
            import jax.numpy as jnp

            return formula(jnp, float_array(jnp, p))
        return self._traced(p)

    @functools.cached_property
    def _traced(self) -> Callable[[Array], Array]:
        import jax
        import jax.numpy as jnp

        @jax.custom_jvp
        def h(p):
            return self._value(jnp, float_array(jnp, p))

        @h.defjvp
        def _jvp(primals, tangents):
            (p,), (dp,) = primals, tangents
            out = h(p)
            return out, self._weight(jnp, float_array(jnp, p)) * jnp.asarray(dp, out.dtype)

        return h

    def __repr__(self) -> str:
        return f"Limit({self.__name__})"


identity = Limit(lambda xp, p: p, lambda xp, p: xp.ones_like(p), "p")
identity.__doc__ = "h(p) = p (REINFORCE, RLOO, mean baseline), w = 1."
log_objective = Limit(lambda xp, p: xp.log(p), lambda xp, p: 1.0 / p, "log p")
log_objective.__doc__ = "h(p) = log p (rejection sampling, MaxRL), w = 1/p; -inf at p = 0."
arcsin_sqrt = Limit(
    lambda xp, p: 2.0 * xp.arcsin(xp.sqrt(p)),
    lambda xp, p: 1.0 / xp.sqrt(p * (1.0 - p)),
    "2 arcsin sqrt p",
)
arcsin_sqrt.__doc__ = "h(p) = 2 arcsin sqrt p (GRPO), w = 1/sqrt(p(1-p))."


def pass_at_k_objective(k: int) -> Limit:
    """h(p) = 1 - (1-p)^k (pass@k), h' = k (1-p)^(k-1)."""
    return Limit(
        lambda xp, p: -xp.expm1(k * xp.log1p(-p)),
        lambda xp, p: k * (1.0 - p) ** (k - 1),
        f"1 - (1-p)^{k}",
    )


def scaled(h: Limit, factor: float) -> Limit:
    """p -> factor * h(p) (weight factor * h')."""
    return Limit(
        lambda xp, p: factor * h._value(xp, p),
        lambda xp, p: factor * h._weight(xp, p),
        f"{factor:g} {h.__name__}",
    )


@functools.cache
def _graded_panels(num_halvings: int = 52, order: int = 16) -> tuple[NDArray, NDArray]:
    """Gauss-Legendre nodes and weights on [0, 1], panels halving toward both ends.

    Breakpoints 2^-j and 1 - 2^-j (j = 1..num_halvings): an integrand with a near-singularity
    just outside an end (at distance >= 2^-52 of the interval) or an algebraic end point is
    integrated to float64 rounding. ``float64[N]`` each (read-only, cached),
    N = 2 (num_halvings + 1) order.
    """
    half = 2.0 ** -np.arange(num_halvings, 0, -1)
    breaks = np.unique(np.concatenate([[0.0], half, 1.0 - half, [1.0]]))
    x, w = np.polynomial.legendre.leggauss(order)
    lo, hi = breaks[:-1, None], breaks[1:, None]
    nodes = (lo + (hi - lo) * (x + 1.0) / 2.0).reshape(-1)
    weights = ((hi - lo) * w / 2.0).reshape(-1)
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


def _arcsine_integral(xp: ModuleType, p: Any, integrand: Callable[[Any, Any], Any]) -> Any:
    """int_0^p f(t) dt with t = sin^2 u: int_0^{arcsin sqrt p} integrand(sin u, cos u) du.

    ``integrand(s, c)`` = f(s^2) 2 s c, integrated by graded Gauss-Legendre panels (float64
    rounding for integrands smooth in u except near the ends).
    """
    nodes, weights = _graded_panels()
    upper = xp.arctan2(xp.sqrt(p), xp.sqrt(1.0 - p))[..., None]  # arcsin sqrt p, also near 1
    u = upper * constant(xp, nodes, p.dtype)
    f = integrand(xp.sin(u), xp.cos(u))
    return upper[..., 0] * xp.sum(constant(xp, weights, p.dtype) * f, axis=-1)


def incomplete_beta_objective(a: float, b: float) -> Limit:
    """h(p) = B_p(a, b) = int_0^p t^(a-1) (1-t)^(b-1) dt (unregularised incomplete beta), a, b > 0.

    With t = sin^2 u the integrand is 2 sin^(2a-1) u cos^(2b-1) u on [0, arcsin sqrt p]
    (``_arcsine_integral``); h' = p^(a-1) (1-p)^(b-1).
    """
    if not (a > 0 and b > 0):
        raise InputError(f"(a, b)={(a, b)!r} is invalid: must both be > 0")
    return Limit(
        lambda xp, p: _arcsine_integral(
            xp, p, lambda s, c: 2.0 * s ** (2.0 * a - 1.0) * c ** (2.0 * b - 1.0)
        ),
        lambda xp, p: p ** (a - 1.0) * (1.0 - p) ** (b - 1.0),
        f"B_p({a:g}, {b:g})",
    )


def grpo_eps_objective(eps: float, gamma: float = 0.0) -> Limit:
    """h(p) = int_0^p (1-t)^gamma / (sqrt(t(1-t)) + eps) dt: GRPO (gamma = 0) / F-GRPO, eps > 0.

    The large-M limit of std-normalised weights with eps > 0. With t = sin^2 u the integrand
    becomes 2 sin u cos^(2 gamma + 1) u / (sin u cos u + eps) on [0, arcsin sqrt p], smooth
    except near u = -eps and at u = pi/2, so graded Gauss-Legendre panels reach float64
    rounding. h'(p) = (1-p)^gamma / (sqrt(p(1-p)) + eps) exactly (the weight; JAX's JVP).
    """
    if not eps > 0:
        raise InputError(f"eps={eps!r} is invalid: must be > 0 (eps = 0 has a closed form)")
    return Limit(
        lambda xp, p: _arcsine_integral(
            xp, p, lambda s, c: 2.0 * s * c ** (2.0 * gamma + 1.0) / (s * c + eps)
        ),
        lambda xp, p: (1.0 - p) ** gamma / (xp.sqrt(p * (1.0 - p)) + eps),
        f"int_0^p (1-t)^{gamma:g} dt / (sqrt(t(1-t)) + {eps:g})",
    )


def floored_grpo_objective(eps: float) -> Limit:
    """h(p) = int_0^p dt / (sqrt(max(t(1-t), eps)) + eps): verl ``grpo_vectorized``'s limit.

    The variance floor makes the integrand the constant 1 / (sqrt(eps) + eps) where
    t(1-t) < eps, i.e. below t0 = (1 - sqrt(1 - 4 eps)) / 2 and above 1 - t0 (everywhere when
    eps >= 1/4); in between it is ``grpo_eps_objective(eps)``.
    """
    inner = grpo_eps_objective(eps)
    flat = 1.0 / (math.sqrt(eps) + eps)
    t0 = 0.5 if eps >= 0.25 else 2 * eps / (1 + math.sqrt(1 - 4 * eps))  # stable root

    def value(xp: ModuleType, p: Any) -> Any:
        mid = xp.clip(p, t0, 1.0 - t0)
        ends = xp.minimum(p, t0) + xp.maximum(p - (1.0 - t0), 0.0)
        return inner._value(xp, mid) - inner._value(xp, xp.asarray(t0, mid.dtype)) + flat * ends

    def weight(xp: ModuleType, p: Any) -> Any:
        return 1.0 / (xp.sqrt(xp.maximum(p * (1.0 - p), eps)) + eps)

    return Limit(value, weight, f"int_0^p dt / (sqrt(max(t(1-t), {eps:g})) + {eps:g})")
