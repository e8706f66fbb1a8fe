"""loo_grpo (NeMo-RL's GRPO): hand tables, Bernstein vs brute-force enumeration, limits, noise.

Routes: (1) the registered rule's tables through ``transform`` (Bernstein w_M, h_M) and
``noise``; (2) brute force over all 2^M reward vectors, each sample's advantage computed here
from its definition (the mean and std of the *other* M - 1 rewards, written out with Python
lists), the scalar-logit update (1/M) sum_i A_i (r_i - p) averaged with its binomial
probability; (3) closed forms (the M = 4 tables by hand, the pre-fix end terms, the limits).
NumPy float64 only.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from rlxform.core import schemes as sch
from rlxform.core.noise import noise
from rlxform.core.objective import limit_weight, transform
from rlxform.frameworks import resolve_scheme

S3 = math.sqrt(3.0)
VARIANTS = {
    "v0.7.0": sch.loo_grpo("sample", 1e-6, "undivided"),
    "v0.3.1": sch.loo_grpo("population", 0.0, "undivided"),
    "pre-fix": sch.loo_grpo("sample", 1e-6, "eps"),
    "sample-eps-0.3": sch.loo_grpo("sample", 0.3, "undivided"),
}


def loo_advantage(rewards: tuple[int, ...], i: int, std: str, eps: float, zero_std: str) -> float:
    """A_i from its definition: the others' mean b and std s; (r_i - b) / (s + eps) where s > 0,
    else r_i - b (undivided) or (r_i - b) / eps."""
    others = [r for j, r in enumerate(rewards) if j != i]
    n = len(others)
    b = sum(others) / n
    squares = sum((r - b) ** 2 for r in others)
    var = (
        squares / (n - 1)
        if std == "sample" and n > 1
        else (squares / n if std != "sample" else 0.0)
    )
    s = math.sqrt(var)
    if s > 0 or zero_std == "eps":
        return (rewards[i] - b) / (s + eps)
    return rewards[i] - b


def brute(scheme: sch.Scheme, m: int, p: float) -> tuple[float, float]:
    """(mean, variance) of g = (1/M) sum_i A_i (r_i - p) over all 2^M outcomes."""
    kw = scheme.kwargs
    mean = second = 0.0
    for rewards in itertools.product((0, 1), repeat=m):
        s = sum(rewards)
        prob = p**s * (1 - p) ** (m - s)
        adv = [loo_advantage(rewards, i, kw["std"], kw["eps"], kw["zero_std"]) for i in range(m)]
        g = sum(a * (r - p) for a, r in zip(adv, rewards, strict=True)) / m
        mean += prob * g
        second += prob * g * g
    return mean, second - mean * mean


def test_hand_tables_m4():
    """M = 4. v0.7.0 (Bessel, eps 1e-6): S = 1 success sees (0,0,0): A = 1 undivided; S = 2
    success sees one success in three: b = 1/3, s = sqrt(1/3), A = (2/3)/(s + eps) = 2/sqrt(3);
    v0.3.1 (population, no eps): s = sqrt(2)/3. Pre-fix: the S = 1 success gets 1/1e-6."""
    a, b = VARIANTS["v0.7.0"].tables(4)
    e = 1e-6
    np.testing.assert_allclose(
        a, [0, 1, (2 / 3) / (1 / S3 + e), (1 / 3) / (1 / S3 + e), 0], rtol=1e-15
    )
    np.testing.assert_allclose(
        b, [0, -(1 / 3) / (1 / S3 + e), -(2 / 3) / (1 / S3 + e), -1, 0], rtol=1e-15
    )
    a, b = VARIANTS["v0.3.1"].tables(4)
    sd = math.sqrt(2) / 3
    np.testing.assert_allclose(a, [0, 1, (2 / 3) / sd, (1 / 3) / sd, 0], rtol=1e-15)
    np.testing.assert_allclose(b, [0, -(1 / 3) / sd, -(2 / 3) / sd, -1, 0], rtol=1e-15)
    a, b = VARIANTS["pre-fix"].tables(4)
    assert a[1] == pytest.approx(1e6, rel=1e-15) and b[3] == pytest.approx(-1e6, rel=1e-15)
    # M = 2: the one other sample has no spread: RLOO (undivided) or +-1/eps
    np.testing.assert_allclose(VARIANTS["v0.7.0"].tables(2), sch.rloo().tables(2), atol=0)
    assert VARIANTS["pre-fix"].tables(2)[0][1] == pytest.approx(1e6)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_bernstein_matches_brute_force_enumeration(name):
    """E[update] = w_M(p) p (1-p), variance = noise(...).variance, h_M = int_0^p w_M: exact
    (1e-12 relative), M = 2..8, against all 2^M outcomes (h_M at M = 3 and 8)."""
    scheme = VARIANTS[name]
    nodes, weights = np.polynomial.legendre.leggauss(8)
    for m in range(2, 9):
        t = transform(scheme, m)
        for p in (0.01, 0.17, 0.5, 0.83):
            mean, var = brute(scheme, m, p)
            scale = max(abs(mean), 1e-300)
            assert abs(t.weight(p) * p * (1 - p) - mean) <= 1e-12 * scale, (name, m, p)
            stats = noise(scheme, m, p)
            assert stats.mean == pytest.approx(mean, rel=1e-12)
            assert stats.variance == pytest.approx(var, rel=1e-10)
        if m not in (3, 8):
            continue
        # h_M(p) = int_0^p w_M: Gauss-Legendre of the brute-force weight (degree M-1: exact)
        p = 0.7
        ts = p * (nodes + 1) / 2
        w = [brute(scheme, m, x)[0] / (x * (1 - x)) for x in ts]
        h = p / 2 * float(np.dot(weights, w))
        assert float(t.objective(p)) == pytest.approx(h, rel=1e-12), (name, m)


def test_coefficients_are_inverse_std_of_the_others():
    """c_k = a[k+1] - b[k] = 1 / (sd(k) + eps), sd(k) the Bessel std of k successes among M-1,
    for 0 < k < M-1; c_0 = c_{M-1} = 1 (undivided) or 1/eps (pre-fix)."""
    for m in (3, 7, 16):
        k = np.arange(m)
        n = m - 1
        sd = np.sqrt(k * (n - k) / (n * (n - 1.0)))
        inner = slice(1, m - 1)
        np.testing.assert_allclose(
            VARIANTS["v0.7.0"].coefficients(m)[inner], 1 / (sd[inner] + 1e-6), rtol=1e-14
        )
        assert VARIANTS["v0.7.0"].coefficients(m)[[0, -1]].tolist() == [1.0, 1.0]
        np.testing.assert_allclose(
            VARIANTS["pre-fix"].coefficients(m)[[0, -1]], [1e6, 1e6], rtol=1e-15
        )


@pytest.mark.parametrize("m", [4, 16, 64])
def test_pre_fix_end_terms_in_closed_form(m):
    """h_M(pre-fix) - h_M(v0.7.0) = (1/eps - 1) (1 - (1-p)^M + p^M) / M: the S = 1 and S = M-1
    groups' +-1e6 dominate h_M until M >> 1/eps."""
    p = np.array([0.001, 0.05, 0.3, 0.5, 0.9, 0.999])
    diff = transform(VARIANTS["pre-fix"], m).objective(p) - transform(
        VARIANTS["v0.7.0"], m
    ).objective(p)
    expected = (1e6 - 1) * (1 - (1 - p) ** m + p**m) / m
    np.testing.assert_allclose(diff, expected, rtol=1e-9)


def test_large_m_limit_is_grpo_limit():
    """Named limit: GRPO's (eps in it), for every variant; w_M -> 1 / (sqrt(p(1-p)) + eps) as M
    grows (the error shrinks with M, < 1% at M = 2048 for p = 0.3)."""
    for scheme in VARIANTS.values():
        name = sch.grpo(eps=scheme.kwargs["eps"]).limit()[1]
        assert scheme.limit()[1].startswith(name)
        late = "reached only for M >> 1e+06" in scheme.limit()[1]
        assert late is (scheme == VARIANTS["pre-fix"])
    scheme = VARIANTS["v0.7.0"]
    target = float(limit_weight(scheme, np.array([0.3]))[0])
    assert target == pytest.approx(1 / (math.sqrt(0.21) + 1e-6), rel=1e-15)
    errors = [abs(float(transform(scheme, m).weight(0.3)) / target - 1) for m in (128, 512, 2048)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.01


def test_issue_numbers_m16_p001():
    """NeMo-RL's default at M = 16, p = 0.01: 1.39 against GRPO's (Bessel, 1e-6) 3.61; the
    population-std GRPO gives 3.73. The lone success of a 1-of-16 group is not divided."""
    w = {name: float(transform(s, 16).weight(0.01)) for name, s in VARIANTS.items()}
    assert round(w["v0.7.0"], 2) == 1.39 and round(w["v0.3.1"], 2) == 1.41
    assert round(float(transform(sch.grpo("sample", 1e-6), 16).weight(0.01)), 2) == 3.61
    assert w["pre-fix"] > 8e5  # 1e6 (1-p)^15


def test_catalog_and_framework_names():
    assert sch.get("loo_grpo") == sch.loo_grpo() == resolve_scheme("nemo_rl:grpo")
    assert "loo_grpo(std='sample', eps=1e-06, zero_std='undivided')" in sch.catalog()
    with pytest.raises(
        ValueError, match="zero_std='drop' is invalid: must be one of undivided, eps"
    ):
        sch.loo_grpo(zero_std="drop")
