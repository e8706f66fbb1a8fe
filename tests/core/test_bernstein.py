"""Bernstein/binomial basis: hand cases, scipy, mpmath, derivatives, jit/vmap.

Exact values come from the NumPy float64 route (no compile); the JAX route (custom JVP) is
checked against it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from scipy import stats

from rlxform.core import bernstein as bern


def test_binomial_pmf_hand_case():
    # Bin(3, 0.5): 1/8, 3/8, 3/8, 1/8
    np.testing.assert_allclose(bern.binomial_pmf(3, 0.5), [0.125, 0.375, 0.375, 0.125], rtol=1e-15)


@pytest.mark.parametrize("n", [0, 1, 7, 64, 1000, 4096])
def test_binomial_pmf_matches_scipy(n):
    p = np.array([0.0, 1e-12, 1e-3, 0.3, 0.5, 0.97, 1 - 1e-12, 1.0])
    ours = bern.binomial_pmf(n, p)
    assert isinstance(ours, np.ndarray) and ours.dtype == np.float64
    ref = stats.binom.pmf(np.arange(n + 1)[None, :], n, p[:, None])
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(ours.sum(-1), 1.0, rtol=1e-11)  # log-space terms: ~ulp(log C)


def test_endpoints_are_exact():
    c = np.array([2.0, -1.0, 5.0, 7.0])
    assert float(bern.bernstein(c, 0.0)) == 2.0
    assert float(bern.bernstein(c, 1.0)) == 7.0


def test_bernstein_reproduces_linear_and_monomials():
    # B_n[k/n] = p, B_n[k(k-1)/(n(n-1))] = p^2
    n = 9
    k = np.arange(n + 1.0)
    p = np.linspace(0, 1, 17)
    np.testing.assert_allclose(bern.bernstein(k / n, p), p, atol=1e-15)
    np.testing.assert_allclose(bern.bernstein(k * (k - 1) / (n * (n - 1)), p), p**2, atol=1e-15)


def test_bernstein_matches_mpmath_at_large_degree():
    rng = np.random.default_rng(0)
    n = 2048
    c = rng.uniform(0.1, 2.0, n + 1)
    mpmath.mp.dps = 40
    for p in (1e-12, 0.013, 0.5, 1 - 1e-12):
        # sum_k c_k C(n, k) p^k q^(n-k) at 40 digits, each term from the last by the ratio
        # (n - k) / (k + 1) * p / q (10x faster than mpmath.binomial and powers per term, which
        # it matches to 2e-39 relative here)
        q = 1 - mpmath.mpf(p)
        term, ratio, terms = q**n, mpmath.mpf(p) / q, []
        for k in range(n + 1):
            terms.append(mpmath.mpf(c[k]) * term)
            term = term * (n - k) / (k + 1) * ratio
        ref = mpmath.fsum(terms)
        assert abs(float(bern.bernstein(c, p)) - float(ref)) <= 1e-11 * abs(float(ref))


def test_derivative_rule_matches_finite_differences(x64):
    c = np.array([0.3, -1.0, 2.5, 0.7, 1.1])
    f = lambda p: bern.bernstein(c, p)  # NumPy float64 at Python floats (no JAX)
    grad = jax.jit(jax.grad(f))  # one compiled program for every p (not one per primitive)
    for p in (0.0, 0.2, 0.5, 0.9, 1.0):
        h = 1e-6
        lo, hi = max(p - h, 0.0), min(p + h, 1.0)
        fd = (float(f(hi)) - float(f(lo))) / (hi - lo)
        assert abs(float(grad(p)) - fd) < 1e-4  # one-sided at the ends: O(h f"")
    # second derivative through the custom JVP as well
    d2 = jax.jit(jax.grad(jax.grad(f)))(0.4)
    h = 1e-4
    fd2 = (float(f(0.4 + h)) - 2 * float(f(0.4)) + float(f(0.4 - h))) / h**2
    assert abs(float(d2) - fd2) < 1e-4


def test_gradient_wrt_coefficients_is_the_basis(x64):
    c = jnp.array([1.0, 2.0, 3.0])
    g = jax.jit(jax.grad(lambda cc: bern.bernstein(cc, 0.25)))(c)
    np.testing.assert_allclose(g, bern.binomial_pmf(2, 0.25), rtol=1e-15)


def test_jit_vmap_and_eager_jax_agree_with_numpy(x64):
    c = np.array([1.0, 0.5, 2.0, 3.0])
    p = np.linspace(0, 1, 11)
    reference = bern.bernstein(c, p)  # NumPy float64
    eager = bern.bernstein(c, jnp.asarray(p))
    assert isinstance(eager, jax.Array) and eager.dtype == jnp.float64
    np.testing.assert_allclose(eager, reference, rtol=1e-15)
    np.testing.assert_allclose(jax.jit(bern.bernstein)(c, p), reference, rtol=1e-15)
    vmapped = jax.jit(jax.vmap(lambda x: bern.bernstein(c, x)))  # eager JAX is checked above
    np.testing.assert_allclose(vmapped(p), reference, rtol=1e-15)


def test_dtypes_follow_the_namespace():
    """NumPy / Python inputs: NumPy float64 (no JAX); JAX inputs: JAX's dtype (float32 default)."""
    out = bern.bernstein(np.ones(4), 0.3)
    assert isinstance(out, np.ndarray | np.floating) and out.dtype == np.float64
    assert bern.bernstein(np.ones(4), np.float32(0.3)).dtype == np.float64
    assert bern.bernstein(np.ones(4), jnp.float32(0.3)).dtype == jnp.float32
    assert bern.bernstein(jnp.ones(4), 0.3).dtype == jnp.float32
    assert isinstance(bern.binomial_pmf(3, jnp.asarray(0.5)), jax.Array)
