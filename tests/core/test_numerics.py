"""Numerics at the extremes (M up to 4096, p at and next to the ends) against mpmath, and
property-based checks (hypothesis) of the theorem's structure. All in the NumPy float64 route
(no compile per example); the JAX route is held to it in test_objective.py."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings

import rlxform
from rlxform.core import bernstein as bern
from rlxform.core import schemes

P_EXTREME = [0.0, 1e-12, 0.5, 1 - 1e-12, 1.0]


def _mp_pmf(n: int, p: float) -> list:
    p = mpmath.mpf(p)  # the float64 value, exactly
    q = 1 - p
    return [mpmath.binomial(n, k) * p**k * q ** (n - k) for k in range(n + 1)]


@pytest.mark.parametrize("m", [2, 64, pytest.param(4096, marks=pytest.mark.slow)])
def test_weights_and_objectives_match_mpmath(m):
    """README, Numerics: within 1e-10 relative of mpmath for M up to 4096 at p in
    {0, 1e-12, 0.5, 1-1e-12, 1} (M = 4096 is marked slow for mpmath's sake, not ours)."""
    mpmath.mp.dps = 50
    catalog = [
        schemes.reinforce(),
        schemes.rloo(),
        schemes.mean_baseline(),
        schemes.grpo(),
        schemes.grpo(std="sample", eps=1e-6),
        schemes.rejection_sampling(),
        schemes.maxrl(),
        schemes.pass_at_k(k=2),
        schemes.nsr(),
        schemes.f_grpo(),
    ]
    for p in P_EXTREME:
        pmf_w, pmf_h = _mp_pmf(m - 1, p), _mp_pmf(m, p)
        for scheme in catalog:
            t = rlxform.transform(scheme, m)
            # exact references from the tables' float64 values (exact rationals in mpmath)
            c = [mpmath.mpf(float(x)) for x in t.coefficients]
            w_ref = mpmath.fsum(ci * bi for ci, bi in zip(c, pmf_w, strict=False))
            phi = [mpmath.mpf(0)]
            for ci in c:
                phi.append(phi[-1] + ci)
            h_ref = mpmath.fsum(f / m * bi for f, bi in zip(phi, pmf_h, strict=False))
            w, h = t.weight(p), t.objective(p)
            assert np.asarray(w).dtype == np.asarray(h).dtype == np.float64
            w, h = float(w), float(h)
            assert math.isfinite(w) and math.isfinite(h)
            for ours, ref in ((w, w_ref), (h, h_ref)):
                assert abs(ours - float(ref)) <= 1e-10 * abs(float(ref)) + 1e-300, (
                    scheme.label,
                    p,
                    ours,
                    float(ref),
                )


def test_float32_weights_are_finite_at_large_m():
    """The simulator's route: JAX float32 inputs stay float32 and finite at M = 4096."""
    t = rlxform.transform(schemes.grpo(), 4096)
    p = np.array(P_EXTREME, np.float32)  # each route one compiled program, as in the simulator
    w, h = np.asarray(jax.jit(t.weight)(p)), np.asarray(jax.jit(t.objective)(p))
    assert w.dtype == np.float32 and np.all(np.isfinite(w)) and np.all(np.isfinite(h))
    np.testing.assert_allclose(w, t.weight(np.array(P_EXTREME)), rtol=1e-4)


# ---- property-based ------------------------------------------------------------------------

tables = st.integers(1, 12).flatmap(
    lambda m: st.tuples(
        st.just(m),
        hnp.arrays(np.float64, m + 1, elements=st.floats(-5, 5)),
        hnp.arrays(np.float64, m + 1, elements=st.floats(-5, 5)),
    )
)


@settings(max_examples=60, deadline=None)
@given(tables, st.floats(0.0, 1.0))
def test_bernstein_weight_equals_direct_binomial_sum(mab, p):
    m, a_table, b_table = mab
    direct = sum(
        (a_table[k + 1] - b_table[k]) * math.comb(m - 1, k) * p**k * (1 - p) ** (m - 1 - k)
        for k in range(m)
    )
    ours = float(bern.bernstein_weight(bern.coefficients_from_tables(a_table, b_table), p))
    assert ours == pytest.approx(direct, rel=1e-11, abs=1e-11)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40).flatmap(lambda m: hnp.arrays(np.float64, m, elements=st.floats(0, 10))))
def test_nonnegative_coefficients_give_nondecreasing_objective(c):
    p = np.linspace(0, 1, 201)
    h = bern.bernstein_objective(c, p)
    assert np.all(np.diff(h) >= -1e-12 * max(1.0, np.abs(h).max()))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 200),  # any M: the NumPy route compiles nothing per example
    st.sampled_from(["population", "sample"]),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
)
def test_grpo_weight_is_symmetric(m, std, eps, p):
    t = rlxform.transform(schemes.grpo(std=std, eps=eps), m)
    assert float(t.weight(p)) == pytest.approx(float(t.weight(1.0 - p)), rel=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 16).flatmap(lambda m: hnp.arrays(np.int64, m, elements=st.integers(0, 1))),
    st.floats(-10, 10),
    st.floats(0.01, 100),
    st.sampled_from(["population", "sample"]),
)
def test_grpo_advantages_invariant_to_affine_rewards(rewards, alpha, beta, std):
    table = schemes.grpo(std=std).advantages(rewards)
    general = schemes.grpo_advantages(alpha + beta * rewards, std=std)
    assert table.dtype == general.dtype == np.float64
    np.testing.assert_allclose(general, table, rtol=1e-9, atol=1e-9)
