"""The theorem, checked by independent routes: brute-force enumeration, scipy, closed forms,
quadrature, large-M limits, autodiff, and the exact noise of SPEC section 5.

Exact values are the NumPy float64 route (no compile); the JAX route (jit, vmap, grad through
the custom JVP) is held to it with one compiled program for the whole catalog."""

from __future__ import annotations

import dataclasses
import itertools
import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from helpers import brute_force_expected_update
from scipy import integrate, stats

import rlxform
from rlxform import frameworks
from rlxform.core import objective as transforms
from rlxform.core import schemes
from rlxform.core.group_norm import group_norm

CATALOG = [
    schemes.reinforce(),
    schemes.rloo(),
    schemes.mean_baseline(),
    schemes.grpo(),
    schemes.grpo(std="sample", eps=1e-6),
    schemes.grpo(eps=0.1),
    schemes.rejection_sampling(),
    schemes.maxrl(),
    schemes.pass_at_k(k=2),
    schemes.psr(),
    schemes.nsr(),
    schemes.w_reinforce(lam=0.3),
    schemes.f_grpo(gamma=1.5),
    schemes.custom(lambda r, s, m: (r - s / m) * (1 + s)),
    frameworks.from_verl("grpo_passk"),
]
IDS = [s.label for s in CATALOG]


@pytest.mark.parametrize("scheme", CATALOG, ids=IDS)
@pytest.mark.parametrize("group_size", [2, 3, 5])
def test_brute_force_enumeration_matches_theorem(scheme, group_size):
    a_table, b_table = scheme.tables(group_size)
    t = rlxform.transform(scheme, group_size)
    rng = np.random.default_rng(group_size)
    for correct in ([0], [0, 2]):
        logits = rng.normal(size=3)
        mean, p, grad_p = brute_force_expected_update(a_table, b_table, logits, correct, group_size)
        np.testing.assert_allclose(mean, float(t.weight(p)) * grad_p, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scheme", CATALOG, ids=IDS)
def test_weight_and_objective_match_scipy_binomial_and_quadrature(scheme):
    m = 7
    t = rlxform.transform(scheme, m)
    c = scheme.coefficients(m)
    a_table, b_table = scheme.tables(m)
    phi = np.concatenate([[0.0], np.cumsum(a_table[1:] - b_table[:-1])]) / m
    for p in (0.0, 0.07, 0.5, 0.93, 1.0):
        w_ref = np.sum(c * stats.binom.pmf(np.arange(m), m - 1, p))
        h_ref = np.sum(phi * stats.binom.pmf(np.arange(m + 1), m, p))
        assert float(t.weight(p)) == pytest.approx(w_ref, rel=1e-12, abs=1e-13)
        assert float(t.objective(p)) == pytest.approx(h_ref, rel=1e-12, abs=1e-13)
        quad, _ = integrate.quad(lambda x: float(t.weight(x)), 0.0, p, epsabs=1e-13)
        assert float(t.objective(p)) == pytest.approx(quad, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("m", [1, 2, 4, 16, 100])
def test_closed_forms(m):
    p = np.linspace(0.0, 1.0, 41)
    q = 1.0 - p
    tr = lambda s: rlxform.transform(s, m)
    for s in (schemes.reinforce(), schemes.psr(), schemes.nsr()):
        np.testing.assert_allclose(tr(s).weight(p), 1.0, rtol=1e-13)
        np.testing.assert_allclose(tr(s).objective(p), p, atol=1e-13)
    np.testing.assert_allclose(tr(schemes.w_reinforce(lam=0.25)).weight(p), 1.25, rtol=1e-13)
    # rejection sampling: w = (1 - (1-p)^M)/p, h = H_M - sum_k (1-p)^k / k
    rs = tr(schemes.rejection_sampling())
    inner = p > 0
    np.testing.assert_allclose(rs.weight(p)[inner], (1 - q[inner] ** m) / p[inner], rtol=1e-12)
    assert float(rs.weight(0.0)) == pytest.approx(m)
    harmonic = sum(1.0 / k for k in range(1, m + 1))
    h_rs = harmonic - sum(q**k / k for k in range(1, m + 1))
    np.testing.assert_allclose(rs.objective(p), h_rs, atol=1e-12)
    if m >= 2:
        np.testing.assert_allclose(tr(schemes.rloo()).weight(p), 1.0, rtol=1e-13)
        np.testing.assert_allclose(tr(schemes.mean_baseline()).weight(p), (m - 1) / m, rtol=1e-13)
        h_max = harmonic - 1 / m - sum(q**k / k for k in range(1, m))
        np.testing.assert_allclose(tr(schemes.maxrl()).objective(p), h_max, atol=1e-12)
        pop, sample = tr(schemes.grpo()), tr(schemes.grpo(std="sample"))
        np.testing.assert_allclose(
            sample.weight(p), pop.weight(p) * math.sqrt((m - 1) / m), rtol=1e-12
        )
        w_pop = np.asarray(pop.weight(p))
        assert float(pop.weight(0.0)) == pytest.approx(math.sqrt(m - 1), rel=1e-12)
        assert w_pop.max() <= math.sqrt(m - 1) * (1 + 1e-12)
        np.testing.assert_allclose(w_pop, w_pop[::-1], rtol=1e-12)  # symmetric in p <-> 1-p
    for k in range(1, m + 1):
        pk = tr(schemes.pass_at_k(k=k))
        np.testing.assert_allclose(pk.weight(p), k * q ** (k - 1), atol=1e-12)
        np.testing.assert_allclose(pk.objective(p), 1 - q**k, atol=1e-12)


def test_large_m_limits():
    p = np.linspace(0.05, 0.95, 181)
    m = 4096
    for scheme in (schemes.grpo(), schemes.grpo(std="sample")):
        t = rlxform.transform(scheme, m)
        target = 2 * np.arcsin(np.sqrt(p))
        np.testing.assert_allclose(t.limit(p), target, rtol=1e-14)
        # weight -> 1/sqrt(p(1-p)); objective -> arcsine up to the O(M^-1/2) mass near p = 0
        assert np.max(np.abs(t.weight(p) - 1 / np.sqrt(p * (1 - p)))) < 1e-2
        assert np.max(np.abs(t.normalised_objective(p) - target / np.pi)) < 1e-2
        gap = np.asarray(t.objective(p)) - target
        assert np.ptp(gap) < 1e-2 and abs(gap.mean()) < 3 / math.sqrt(m)
    rs = rlxform.transform(schemes.rejection_sampling(), m)
    shifted = np.asarray(rs.objective(p)) - float(rs.objective(0.5))
    np.testing.assert_allclose(shifted, np.log(p) - np.log(0.5), atol=1e-11)
    for gamma in (0.5, 2.0):
        f = rlxform.transform(schemes.f_grpo(gamma=gamma), m)
        w_lim = p**-0.5 * (1 - p) ** (gamma - 0.5)
        assert np.max(np.abs(f.weight(p) / w_lim - 1)) < 1e-2
        h_num = np.array(
            [integrate.quad(lambda x, g=gamma: x**-0.5 * (1 - x) ** (g - 0.5), 0, v)[0] for v in p]
        )
        np.testing.assert_allclose(f.limit(p), h_num, rtol=1e-8)
    # the gap to the limit shrinks with M
    gaps = [
        np.max(
            np.abs(
                rlxform.transform(schemes.grpo(), mm).normalised_objective(p)
                - 2 * np.arcsin(np.sqrt(p)) / np.pi
            )
        )
        for mm in (4, 16, 64, 256)
    ]
    assert all(g1 > g2 for g1, g2 in itertools.pairwise(gaps))


@pytest.mark.parametrize(
    "scheme, gamma, eps",
    [
        (schemes.grpo(eps=0.05), 0.0, 0.05),
        (schemes.grpo(std="sample", eps=1e-6), 0.0, 1e-6),
        (schemes.f_grpo(gamma=1.5, eps=0.3), 1.5, 0.3),
        (schemes.f_grpo(gamma=0.5, std="sample", eps=0.05), 0.5, 0.05),
        (frameworks.from_trl("group"), 0.0, 1e-4),
    ],
    ids=lambda v: getattr(v, "label", None),
)
def test_eps_limits_are_the_true_large_m_limit(scheme, gamma, eps):
    """h = int_0^p (1-t)^gamma / (sqrt(t(1-t)) + eps) dt against mpmath, to 1e-12 relative."""
    mpmath.mp.dps = 30
    limit, name = scheme.limit()
    assert name.startswith("int_0^p") and f"{eps:g}" in name
    for p in (1e-9, 0.01, 0.3, 0.5, 0.97, 1 - 1e-9, 1.0):
        f = lambda t: (1 - t) ** gamma / (mpmath.sqrt(t * (1 - t)) + eps)
        ref = mpmath.quad(f, [0, p / 2, p])  # split: mpmath needs each end on its own
        assert float(limit(np.float64(p))) == pytest.approx(float(ref), rel=1e-12)
    grid = np.array([0.0, 0.2, 0.9, 1.0])
    want = (1 - grid) ** gamma / (np.sqrt(grid * (1 - grid)) + eps)
    np.testing.assert_allclose(transforms.limit_weight(scheme, grid), want, rtol=1e-14)


def test_eps_limit_is_what_large_m_approaches():
    """At eps = 0.05 the finite-M weight tends to the eps limit, not to 1/sqrt(p(1-p))."""
    p = np.linspace(0.1, 0.9, 17)
    scheme = schemes.grpo(eps=0.05)
    lim_w = transforms.limit_weight(scheme, p)
    gaps = [np.max(np.abs(rlxform.transform(scheme, m).weight(p) - lim_w)) for m in (64, 1024)]
    assert gaps[1] < gaps[0] / 4 and gaps[1] < 0.05
    assert np.max(np.abs(lim_w - 1 / np.sqrt(p * (1 - p)))) > 0.2
    assert schemes.grpo().limit()[1] == "2 arcsin sqrt p"  # eps = 0 unchanged


def test_incomplete_beta_limit_matches_mpmath():
    """F-GRPO's eps = 0 limit B_p(1/2, gamma + 1/2), by the graded arcsine quadrature (NumPy,
    no scipy at run time), against mpmath's betainc to 1e-14 relative; w = h' exactly."""
    mpmath.mp.dps = 30
    for gamma in (0.0, 0.5, 1.0, 2.0, 3.7):
        limit, name = schemes.f_grpo(gamma=gamma).limit()
        assert name == f"B_p(1/2, {gamma + 0.5:g})"
        for p in (1e-12, 1e-6, 0.01, 0.3, 0.5, 0.97, 1 - 1e-9, 1.0):
            ref = float(mpmath.betainc(0.5, gamma + 0.5, 0, p))
            assert float(limit(p)) == pytest.approx(ref, rel=1e-14), (gamma, p)
        grid = np.array([0.2, 0.5, 0.9])
        want = grid**-0.5 * (1 - grid) ** (gamma - 0.5)  # t^(a-1) (1-t)^(b-1)
        np.testing.assert_allclose(limit.weight(grid), want, rtol=1e-14)


def test_verl_vectorized_limit_keeps_the_variance_floor():
    eps = 0.01
    limit, name = frameworks.from_verl("grpo_vectorized", epsilon=eps).limit()
    assert "max(t(1-t)" in name
    mpmath.mp.dps = 30
    for p in (0.005, 0.3, 0.995, 1.0):
        f = lambda t: 1 / (mpmath.sqrt(max(t * (1 - t), eps)) + eps)
        t0 = (1 - math.sqrt(1 - 4 * eps)) / 2
        ref = mpmath.quad(f, [x for x in (0, t0, 1 - t0) if x < p] + [p])
        assert float(limit(np.float64(p))) == pytest.approx(float(ref), rel=1e-12)


def test_grad_of_objective_is_weight_and_jit_agrees(x64):
    """jax.grad(h_M) = w_M through the custom JVP, and jit(w_M), jit(h_M) equal the NumPy float64
    route, for the whole catalog in one compiled program (float64)."""
    transforms_ = {s.label: rlxform.transform(s, 6) for s in CATALOG}
    p = np.linspace(0.0, 1.0, 21)

    @jax.jit
    def jax_route(p):
        return {
            label: (jax.vmap(jax.grad(t.objective))(p), t.weight(p), t.objective(p))
            for label, t in transforms_.items()
        }

    routes = jax_route(jnp.asarray(p))
    for label, t in transforms_.items():
        grad, weight, objective = (np.asarray(x) for x in routes[label])
        assert grad.dtype == np.float64, label
        np.testing.assert_allclose(grad, t.weight(p), rtol=1e-12, atol=1e-12, err_msg=label)
        np.testing.assert_allclose(weight, t.weight(p), rtol=1e-14, atol=1e-15, err_msg=label)
        np.testing.assert_allclose(objective, t.objective(p), rtol=1e-14, atol=1e-15, err_msg=label)
        # independent of the custom JVP: central differences of the objective
        h = 1e-5
        inner = np.linspace(0.1, 0.9, 9)
        fd = (t.objective(inner + h) - t.objective(inner - h)) / (2 * h)
        np.testing.assert_allclose(fd, t.weight(inner), rtol=1e-7, atol=1e-8, err_msg=label)


def every_rule() -> list:
    """One scheme per registered rule (several for verl), for the route-equality test."""
    from rlxform.core.registry import RULES

    out = [
        *CATALOG,
        schemes.design("log", 7),
        frameworks.from_trl("batch", batch_std=0.4),
        *(
            frameworks.from_verl(e, n, 0.2)
            for e in ("grpo", "grpo_vectorized", "rloo_vectorized")
            for n in (True, False)
        ),
        # issue 25: NeMo-RL's leave-one-out GRPO and the trainers' framework rules
        schemes.loo_grpo(),
        schemes.loo_grpo("population", 0.0),
        frameworks.resolve_scheme("nemo_rl:grpo", advantage_clip_high=2.0, reward_scale=2.0),
        frameworks.resolve_scheme("open_instruct:centered"),
        frameworks.resolve_scheme("skyrl:maxrl"),
        # slime, ROLL, AReaL: a clipped leave-one-out normalisation has no catalog twin
        group_norm("leave_one_out", "group", eps=1e-6, clip=1.5, catalog=False),
        group_norm("none", "group", unbiased=False, eps=0.1, keep=(0.0, 1.0), catalog=False),
        frameworks.resolve_scheme("prime_rl:max_rl", group_size=1),  # trainers-c
        frameworks.resolve_scheme("trl_rloo:rloo", reward_weights=[1.5]),
    ]
    assert {s.name for s in out} == set(RULES)
    return out


def test_numpy_and_jax_routes_agree_for_every_rule(x64):
    """w_M, h_M and grad h_M through JAX (float64, jit) equal the NumPy float64 route for every
    registered rule at M = 2, 7, 64 (designed: its own M), and every named limit h with its
    weight w = h' (jax.grad of the limit) equals its NumPy values. A rule is its coefficient
    table: the Transform methods run on the tables of all rules of one M as traced, vmapped
    arguments (one compile per M, not one copy of the code per rule), and one rule per M also
    through its own tables as constants."""
    p = np.array([0.0, 1e-12, 0.013, 0.3, 0.5, 0.77, 1 - 1e-12, 1.0])
    transforms_ = {}
    for scheme in every_rule():
        for m in (7,) if scheme.name == "designed" else (2, 7, 64):
            if m >= scheme.min_group_size:
                transforms_[f"{scheme.label}|{m}"] = rlxform.transform(scheme, m)
    limits = {t.limit_name: t.limit for t in transforms_.values() if t.limit is not None}
    assert len(limits) >= 8
    inner = p[2:-2]  # limits: log p and the arcsine weight are infinite at the ends
    by_size: dict[int, list[str]] = {}
    for key, t in transforms_.items():
        by_size.setdefault(t.group_size, []).append(key)

    def routes_of(t, p):
        return t.weight(p), t.objective(p), jax.vmap(jax.grad(t.objective))(p)

    def traced_routes(template, coefficients, phi, p):
        def one(c, f, p):
            return routes_of(dataclasses.replace(template, coefficients=c, phi=f), p)

        return jax.jit(jax.vmap(one, (0, 0, None)))(coefficients, phi, p)

    @jax.jit
    def constant_routes_and_limits(p, inner):
        constant = {m: routes_of(transforms_[keys[0]], p) for m, keys in by_size.items()}
        lims = {k: (h(inner), jax.vmap(jax.grad(h))(inner)) for k, h in limits.items()}
        return constant, lims

    routes = {}
    for keys in by_size.values():
        ts = [transforms_[k] for k in keys]
        stacked = traced_routes(
            ts[0],
            jnp.asarray(np.stack([t.coefficients for t in ts]), jnp.float64),
            jnp.asarray(np.stack([t.phi for t in ts]), jnp.float64),
            jnp.asarray(p),
        )
        routes.update({k: tuple(np.asarray(x[i]) for x in stacked) for i, k in enumerate(keys)})
    constant, lims = constant_routes_and_limits(jnp.asarray(p), jnp.asarray(inner))
    for m, keys in by_size.items():
        routes[f"{keys[0]} (constant tables)"] = tuple(np.asarray(x) for x in constant[m])
        transforms_[f"{keys[0]} (constant tables)"] = transforms_[keys[0]]
    assert len(routes) == len(transforms_) == len(by_size) + sum(map(len, by_size.values()))
    for key, t in transforms_.items():
        weight, objective, grad = routes[key]
        w, h = t.weight(p), t.objective(p)
        assert isinstance(w, np.ndarray) and w.dtype == h.dtype == np.float64
        np.testing.assert_allclose(weight, w, rtol=1e-13, atol=1e-14, err_msg=key)
        np.testing.assert_allclose(objective, h, rtol=1e-13, atol=1e-14, err_msg=key)
        np.testing.assert_allclose(grad, w, rtol=1e-12, atol=1e-12, err_msg=key)
    for name, h in limits.items():
        value, grad = (np.asarray(x) for x in lims[name])
        np.testing.assert_allclose(value, h(inner), rtol=1e-13, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(grad, h.weight(inner), rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(  # w = h' by central differences, independent of both
            (h(inner + 1e-6) - h(inner - 1e-6)) / 2e-6, h.weight(inner), rtol=1e-6, err_msg=name
        )


def test_objective_starts_at_zero_and_is_finite_at_large_m(x64):
    ends = jnp.array([0.0, 1.0])
    transforms_ = [
        rlxform.transform(s, 4096)
        for s in (schemes.grpo(), schemes.rejection_sampling(), schemes.maxrl())
    ]
    grads = jax.jit(lambda p: [jax.vmap(jax.grad(t.objective))(p) for t in transforms_])(ends)
    for t, grad in zip(transforms_, grads, strict=True):
        values = t.objective(np.array([0.0, 1e-12, 0.5, 1 - 1e-12, 1.0]))
        assert values[0] == 0.0 and np.all(np.isfinite(values))
        assert np.all(np.isfinite(np.asarray(grad)))
        np.testing.assert_allclose(grad, t.weight(np.array([0.0, 1.0])), rtol=1e-12)


def test_noise_mean_is_theorem_and_variance_is_direct_sum():
    for scheme in (schemes.grpo(), schemes.rloo(), schemes.rejection_sampling()):
        m = 6
        a_table, b_table = scheme.tables(m)
        p = np.array([0.0, 0.1, 0.5, 0.8, 1.0])
        stats_ = rlxform.noise(scheme, m, p)
        t = rlxform.transform(scheme, m)
        np.testing.assert_allclose(stats_.mean, t.weight(p) * p * (1 - p), atol=1e-14)
        for i, pi in enumerate(p):
            s = np.arange(m + 1)
            g = (s * a_table * (1 - pi) - (m - s) * b_table * pi) / m
            pmf = stats.binom.pmf(s, m, pi)
            var = np.sum(pmf * g**2) - np.sum(pmf * g) ** 2
            assert float(stats_.variance[i]) == pytest.approx(var, abs=1e-13)
        assert float(stats_.snr[0]) == 0.0 and float(stats_.snr[-1]) == 0.0


def _exact_tables(name, m):
    """a[S], b[S] as exact mpmath values from the catalog formulas (SPEC section 3)."""
    out_a, out_b = [], []
    for s in range(m + 1):
        q = mpmath.mpf(s) / m
        if name == "reinforce":
            a, b = 1, 0
        elif name == "rloo":
            a, b = mpmath.mpf(m - s) / (m - 1), -mpmath.mpf(s) / (m - 1)
        elif name == "rejection_sampling":
            a, b = (mpmath.mpf(m) / s if s else 0), 0
        elif name == "maxrl":
            a, b = (mpmath.mpf(m) / s - 1, -1) if s else (0, 0)  # S = 0: A = 0
        else:  # grpo, population std
            sd = mpmath.sqrt(q * (1 - q))
            a, b = ((1 - q) / sd, -q / sd) if 0 < s < m else (0, 0)
        out_a.append(mpmath.mpf(a))
        out_b.append(mpmath.mpf(b))
    return out_a, out_b


@pytest.mark.parametrize("name", ["reinforce", "rloo", "rejection_sampling", "maxrl", "grpo"])
def test_noise_variance_matches_mpmath_even_when_tiny(name):
    """Relative 1e-10 against 40-digit sums over exact tables, e.g. 2.0e-125 at M=50, p=0.996."""
    mpmath.mp.dps = 40
    for m in (8, 50):
        a, b = _exact_tables(name, m)
        ps = (1e-3, 0.3, 0.9, 0.996, 0.99999)
        got = np.asarray(rlxform.noise(schemes.get(name), m, np.array(ps)).variance)
        for i, p in enumerate(ps):
            pp = mpmath.mpf(p)
            pmf = [mpmath.binomial(m, s) * pp**s * (1 - pp) ** (m - s) for s in range(m + 1)]
            g = [(s * a[s] * (1 - pp) - (m - s) * b[s] * pp) / m for s in range(m + 1)]
            mean = mpmath.fsum(w * v for w, v in zip(pmf, g, strict=True))
            var = mpmath.fsum(w * (v - mean) ** 2 for w, v in zip(pmf, g, strict=True))
            assert got[i] == pytest.approx(float(var), rel=1e-10), (m, p)
    if name == "rejection_sampling":  # closed form: (1-p)^2 P(S=0) (1 - P(S=0))
        p0 = mpmath.mpf(0.004) ** 50
        want = float(mpmath.mpf(0.004) ** 2 * p0 * (1 - p0))
        got = float(rlxform.noise(schemes.rejection_sampling(), 50, 0.996).variance)
        assert got == pytest.approx(want, rel=1e-10) and 1.9e-125 < got < 2.1e-125
        # (1-p)^M underflows: the step is deterministic (variance 0, mean > 0): SNR = inf
        stats_ = rlxform.noise(schemes.rejection_sampling(), 256, np.array([0.97, 1.0]))
        assert float(stats_.variance[0]) == 0.0 and float(stats_.mean[0]) > 0
        assert np.isposinf(float(stats_.snr[0])) and float(stats_.snr[1]) == 0.0


def test_noise_matches_monte_carlo():
    scheme, m, p = schemes.grpo(), 8, 0.3
    rng = np.random.default_rng(0)
    s = rng.binomial(m, p, size=200_000)
    a_table, b_table = scheme.tables(m)
    g = (s * a_table[s] * (1 - p) - (m - s) * b_table[s] * p) / m
    exact = rlxform.noise(scheme, m, p)
    se = g.std() / math.sqrt(g.size)
    assert abs(g.mean() - float(exact.mean)) < 4 * se
    assert float(exact.variance) == pytest.approx(g.var(), rel=0.02)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), [0.2, float("nan")]])
def test_bad_p_is_rejected(bad):
    t = rlxform.transform(schemes.grpo(), 4)
    for fn in (t.weight, t.objective, lambda p: rlxform.noise(schemes.grpo(), 4, p)):
        with pytest.raises(ValueError, match=r"p=.* is invalid: must be in \[0, 1\]"):
            fn(bad)


def test_transform_rejects_bad_group_size_and_scheme():
    with pytest.raises(ValueError, match="group_size=0 is invalid"):
        rlxform.transform(schemes.grpo(), 0)
    with pytest.raises(ValueError, match="scheme='grpo' is invalid"):
        rlxform.transform("grpo", 4)
