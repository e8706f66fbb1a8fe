"""Scheme tables: hand-computed cases, framework vectors (verl, TRL), design, bad input."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlxform
from rlxform import frameworks
from rlxform.core import schemes

SQ3 = math.sqrt(3.0)

# Hand-computed tables for M = 4 (S = 0..4); a[0], b[4] unused and stored as 0.
HAND_M4 = {
    "reinforce": ([0, 1, 1, 1, 1], [0, 0, 0, 0, 0]),
    "rloo": ([0, 1, 2 / 3, 1 / 3, 0], [0, -1 / 3, -2 / 3, -1, 0]),
    "mean_baseline": ([0, 3 / 4, 1 / 2, 1 / 4, 0], [0, -1 / 4, -1 / 2, -3 / 4, 0]),
    # q = 1/4: sd = sqrt(3)/4 -> a = sqrt 3, b = -1/sqrt 3; q = 1/2: sd = 1/2 -> +-1
    "grpo": ([0, SQ3, 1, 1 / SQ3, 0], [0, -1 / SQ3, -1, -SQ3, 0]),
    "rejection_sampling": ([0, 4, 2, 4 / 3, 1], [0, 0, 0, 0, 0]),
    "maxrl": ([0, 3, 1, 1 / 3, 0], [0, -1, -1, -1, 0]),
    "psr": ([0, 1, 1, 1, 1], [0, 0, 0, 0, 0]),
    "nsr": ([0, 0, 0, 0, 0], [-1, -1, -1, -1, 0]),
    # pass@2, M = 4: a[S] = 4 C(4-S, 1)/C(4, 2) = 2 (4-S)/3
    "pass_at_k": ([0, 2, 4 / 3, 2 / 3, 0], [0, 0, 0, 0, 0]),
    "w_reinforce": ([0, 0.5, 0.5, 0.5, 0.5], [-1, -1, -1, -1, 0]),
}
PARAMS = {"pass_at_k": {"k": 2}, "w_reinforce": {"lam": 0.5}}


@pytest.mark.parametrize("name", sorted(HAND_M4))
def test_hand_tables_m4(name):
    a, b = schemes.get(name, **PARAMS.get(name, {})).tables(4)
    np.testing.assert_allclose(a, HAND_M4[name][0], rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(b, HAND_M4[name][1], rtol=1e-15, atol=1e-15)


def test_grpo_sample_std_and_eps_hand_m4():
    # sample sd at S=1: sqrt(1*3/(4*3)) = 1/2 -> a = (3/4)/(1/2 + 0.1)
    a, b = schemes.grpo(std="sample", eps=0.1).tables(4)
    assert a[1] == pytest.approx(0.75 / 0.6, rel=1e-15)
    assert b[1] == pytest.approx(-0.25 / 0.6, rel=1e-15)
    assert a[4] == 0.0 and b[0] == 0.0  # zero-variance groups get 0 (no 0/0)


def test_f_grpo_is_grpo_times_focal_factor():
    a, b = schemes.f_grpo(gamma=2.0).tables(4)
    ga, gb = schemes.grpo().tables(4)
    factor = (1 - np.arange(5) / 4) ** 2
    np.testing.assert_allclose(a, factor * ga, rtol=1e-15)
    np.testing.assert_allclose(b, factor * gb, rtol=1e-15)


def test_custom_scheme_reproduces_rloo():
    fn = lambda r, s, m: r - (s - r) / (m - 1)
    for m in (2, 5, 9):
        np.testing.assert_allclose(
            schemes.custom(fn).tables(m), schemes.rloo().tables(m), rtol=1e-14, atol=1e-15
        )


def test_advantages_from_rewards():
    adv = schemes.grpo().advantages(np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]]))
    assert adv.dtype == np.float64  # NumPy rewards: NumPy float64
    expected = [[SQ3, -1 / SQ3, -1 / SQ3, -1 / SQ3], [1, 1, -1, -1], [0, 0, 0, 0]]
    np.testing.assert_allclose(adv, expected, rtol=1e-15)
    traced = jax.jit(schemes.grpo().advantages)(jnp.array([[1.0, 0.0, 0.0, 0.0]]))
    assert traced.dtype == jnp.float32  # JAX rewards: the simulator's float32
    np.testing.assert_allclose(traced[0], expected[0], rtol=1e-6)


def test_traced_eps_tables_match_static_tables(x64):
    """traced_tables(M, eps) under jit equals the NumPy tables of the scheme with that eps (one
    program for all three schemes)."""
    cases = (
        schemes.grpo(eps=0.3),
        schemes.f_grpo(gamma=1.5, std="sample", eps=0.3),
        frameworks.from_verl("grpo", epsilon=0.3),
    )
    traced = jax.jit(lambda e: [s.traced_tables(7, e) for s in cases])(0.3)
    for scheme, (a, b) in zip(cases, traced, strict=True):
        sa, sb = scheme.tables(7)
        np.testing.assert_allclose(a, sa, rtol=1e-14)
        np.testing.assert_allclose(b, sb, rtol=1e-14)


def test_traced_eps_keeps_verl_vectorized_variance_floor(x64):
    """grpo_vectorized: sd = sqrt(max(var, eps)); at eps = 0.3 the floor binds for every S."""
    scheme = frameworks.from_verl("grpo_vectorized", epsilon=0.3)
    sizes = (1, 4, 16)
    traced = jax.jit(lambda e: [scheme.traced_tables(m, e) for m in sizes])(0.3)
    # traced eps = 0 has a finite gradient (no sqrt'(0) NaN)
    loss = lambda e: sum(jnp.sum(scheme.traced_tables(m, e)[0] ** 2) for m in sizes)
    assert np.isfinite(float(jax.jit(jax.grad(loss))(0.0)))
    for m, (a, b) in zip(sizes, traced, strict=True):
        sa, sb = scheme.tables(m)
        np.testing.assert_allclose(a, sa, rtol=1e-14)
        np.testing.assert_allclose(b, sb, rtol=1e-14)
        if m > 1:  # by hand: var = S(M-S)/(M(M-1)) <= 0.3 at M = 4 except S = 2 (1/3)
            s = np.arange(m + 1)
            var = s * (m - s) / (m * (m - 1))
            den = np.sqrt(np.maximum(var, 0.3)) + 0.3
            np.testing.assert_allclose(sa[1:], (1 - s / m)[1:] / den[1:], rtol=1e-14)
            plain = frameworks.from_verl("grpo", epsilon=0.3).tables(m)[0]
            assert np.abs(sa - plain).max() > 1e-2  # the floor matters here


def test_every_verl_case_is_reproduced(verl_cases):
    reproduced = 0
    for case in verl_cases:
        scheme = frameworks.from_verl(case["estimator"], **case["params"])
        rewards = np.asarray(case["rewards"])
        assert rewards.shape == (case["group_size"],)
        ours = np.asarray(scheme.advantages(rewards))
        np.testing.assert_allclose(
            ours, case["advantages"], rtol=2e-6, atol=2e-6, err_msg=str(case)
        )
        reproduced += 1
    assert reproduced == len(verl_cases) == 308


def test_verl_singleton_group_conventions():
    # verl: a group of one has mean 0, std 1 (grpo) / keeps A = r (rloo) / 0 (rloo_vectorized)
    assert frameworks.from_verl("grpo", epsilon=1e-6).advantages([1])[0] == pytest.approx(
        1 / 1.000001
    )
    assert frameworks.from_verl("grpo", norm_adv_by_std_in_grpo=False).advantages([1])[0] == 1.0
    assert frameworks.from_verl("rloo").advantages([1])[0] == 1.0
    assert frameworks.from_verl("rloo_vectorized").advantages([1])[0] == 0.0


@pytest.mark.parametrize("scale", ["group", True, "none", False])
def test_trl_matches_its_formula(scale):
    rng = np.random.default_rng(1)
    scheme = frameworks.from_trl(scale_rewards=scale)
    for m in (2, 3, 8):
        rewards = rng.integers(0, 2, size=(50, m)).astype(float)
        centred = rewards - rewards.mean(-1, keepdims=True)
        if scale in ("group", True):
            ref = centred / (rewards.std(-1, ddof=1, keepdims=True) + 1e-4)
        else:
            ref = centred
        np.testing.assert_allclose(scheme.advantages(rewards), ref, rtol=1e-5, atol=1e-6)


def test_catalog_lists_every_scheme_with_a_formula():
    cat = schemes.catalog()
    for name in (
        "reinforce",
        "rloo",
        "mean_baseline",
        "grpo",
        "rejection_sampling",
        "maxrl",
        "pass_at_k",
        "psr",
        "nsr",
        "w_reinforce",
        "f_grpo",
        "custom",
        "dr_grpo",
    ):
        assert any(key.split("(")[0] == name for key in cat), name
    assert all(isinstance(v, str) and v for v in cat.values())
    assert schemes.get("dr_grpo") == schemes.mean_baseline()


def test_schemes_are_hashable_static_config():
    assert hash(schemes.grpo(eps=1e-6)) == hash(schemes.get("grpo", eps=1e-6))
    assert schemes.grpo(eps=1e-6) != schemes.grpo(eps=1e-4)


# ---- inverse design ------------------------------------------------------------------------


def test_design_pass_at_k_is_exact():
    designed = rlxform.design("pass_at_k", 12, k=4)
    assert designed.report["max_abs_error"] < 1e-12
    p = np.linspace(0, 1, 101)
    np.testing.assert_allclose(
        rlxform.transform(designed, 12).weight(p),
        rlxform.transform(schemes.pass_at_k(k=4), 12).weight(p),
        atol=1e-12,
    )


def test_design_interpolates_polynomials_exactly():
    target = lambda p: 1.0 + 3.0 * p**2 - 2.0 * p**5
    designed = rlxform.design(target, 8, method="interpolate")
    assert designed.report["max_abs_error"] < 1e-10
    p = np.linspace(0, 1, 57)
    np.testing.assert_allclose(rlxform.transform(designed, 8).weight(p), target(p), atol=1e-10)


def test_design_bernstein_approximation_converges():
    errors = [rlxform.design(np.exp, m).report["max_abs_error"] for m in (8, 32, 128)]
    assert errors[0] > errors[1] > errors[2]
    # Bernstein approximation error of a C^2 function is O(1/M)
    assert errors[2] < errors[0] * 8 / 128 * 1.5
    log_errors = [rlxform.design("log", m).report["max_abs_error"] for m in (64, 256, 1024)]
    assert log_errors[0] > log_errors[1] > log_errors[2]


# ---- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: schemes.get("nope"), "scheme='nope' is invalid: must be one of reinforce"),
        (lambda: schemes.get("grpo", eps=-1.0), "eps=-1.0"),
        (lambda: schemes.get("grpo", bogus=1), "'bogus' is invalid for grpo"),
        (lambda: schemes.grpo(std="median"), "std='median'"),
        (lambda: schemes.grpo(eps=float("nan")), "eps=nan"),
        (lambda: schemes.pass_at_k(k=5).tables(4), "group_size=4 is invalid for scheme"),
        (lambda: schemes.pass_at_k(k=0), "k=0"),
        (lambda: schemes.rloo().tables(1), "group_size=1 is invalid for scheme rloo"),
        (lambda: schemes.grpo().tables(1), "group_size=1"),
        (lambda: schemes.reinforce().tables(0), "group_size=0 is invalid"),
        (lambda: schemes.reinforce().tables(10**6), "group_size=1000000 is invalid"),
        (lambda: frameworks.from_verl("ppo"), "estimator='ppo' is invalid: must be one of grpo"),
        (lambda: frameworks.from_verl("grpo", epsilon=-1), "epsilon=-1"),
        (lambda: frameworks.from_verl("grpo_passk").tables(1), "group_size=1"),
        (lambda: frameworks.from_trl(scale_rewards="batch"), "scale_rewards='batch'"),
        (lambda: schemes.grpo().advantages([1, 2, 0]), "rewards="),
        (lambda: rlxform.design("sqrt", 8), "target='sqrt'"),
        (lambda: rlxform.design("pass_at_k", 4, k=9), "k=9"),
        (lambda: schemes.custom(3), "fn=3"),
    ],
)
def test_bad_input_names_argument(call, fragment):
    with pytest.raises(ValueError, match=None) as info:
        call()
    assert fragment in str(info.value)
