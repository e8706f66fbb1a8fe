"""Each scheme rule is written once: float64 tables and traced float32 tables from the same rule.

References: ``data/scheme_tables_0.3.0.npz``, the tables of rlxform 0.3.0, where every rule was
written twice (numpy tables and a traced-eps copy). Keys ``case|M|f64`` (``Scheme.tables``),
``case|M|f32|none`` (``traced_tables(M, None)``), ``case|M|f32`` / ``case|M|x64`` (jit(vmap)
of ``traced_tables(M, eps)`` over EPS in float32 / under x64).
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlxform import frameworks as fw
from rlxform.core import schemes as sch
from rlxform.core.registry import RULES, Scheme, register

DATA = Path(__file__).parent / "data" / "scheme_tables_0.3.0.npz"
EPS = (0.0, 1e-6, 0.1, 0.37)
# 0.3.0 ignored a traced eps for verl grpo_passk (its own epsilon stayed): now honoured
EPS_NOW_HONOURED = ("verl_grpo_passk_True",)


def cases() -> dict[str, Scheme]:
    out = {
        "reinforce": sch.reinforce(),
        "rloo": sch.rloo(),
        "mean_baseline": sch.mean_baseline(),
        "grpo_pop": sch.grpo(),
        "grpo_sample_1e-6": sch.grpo("sample", 1e-6),
        "grpo_pop_0.1": sch.grpo("population", 0.1),
        "rejection_sampling": sch.rejection_sampling(),
        "maxrl": sch.maxrl(),
        "pass_at_k_1": sch.pass_at_k(1),
        "pass_at_k_3": sch.pass_at_k(3),
        "psr": sch.psr(),
        "nsr": sch.nsr(),
        "w_reinforce_0.3": sch.w_reinforce(0.3),
        "f_grpo_1": sch.f_grpo(),
        "f_grpo_0.5_sample_1e-4": sch.f_grpo(0.5, "sample", 1e-4),
        "f_grpo_2_pop_0.05": sch.f_grpo(2.0, "population", 0.05),
        "trl_batch": fw.from_trl("batch", batch_std=0.4),
        "openrlhf_batch": fw.from_openrlhf("reinforce_baseline", batch_std=0.3),
    }
    for est in fw.VERL_ESTIMATORS:
        for norm in (True, False):
            for e in (1e-6, 0.2):
                out[f"verl_{est}_{norm}_{e}"] = fw.from_verl(est, norm, e)
    return out


@functools.cache
def reference() -> dict[str, np.ndarray]:
    return dict(np.load(DATA))


def keys(fast: bool) -> list[tuple[str, int]]:
    pairs = sorted({tuple(k.split("|")[:2]) for k in reference()})
    pairs = [(name, int(m)) for name, m in pairs]
    if fast:  # every case at a few M; the full grid runs under -m slow
        pairs = [(n, m) for n, m in pairs if m in (1, 4, 33) or (m == 255 and "grpo" in n)]
    return pairs


ALL = keys(fast=False)
FAST = keys(fast=True)
SLOW = [pytest.param(*p, marks=pytest.mark.slow) for p in ALL if p not in FAST]


def test_reference_covers_every_rule():
    covered = {cases()[name].name for name, _ in ALL}
    assert covered == set(RULES) - {"custom", "designed"}  # those two: test_schemes.py


@pytest.mark.parametrize(("name", "m"), FAST + SLOW)
def test_float64_tables_match_0_3_0(name, m):
    a, b = cases()[name].tables(m)
    expected = reference()[f"{name}|{m}|f64"]
    np.testing.assert_allclose(np.stack([a, b]), expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize(("name", "m"), FAST + SLOW)
def test_traced_float32_tables_bitwise_equal_to_0_3_0(name, m):
    scheme = cases()[name]
    a, b = scheme.traced_tables(m, None)
    expected = reference()[f"{name}|{m}|f32|none"]
    assert np.stack([a, b]).dtype == np.float32
    np.testing.assert_array_equal(np.stack([a, b]), expected)  # bitwise: golden depends on it
    a, b = jax.jit(jax.vmap(lambda e: scheme.traced_tables(m, e)))(np.asarray(EPS, np.float32))
    got = np.stack([np.asarray(a), np.asarray(b)])
    expected = reference()[f"{name}|{m}|f32"]
    if name.rsplit("_", 1)[0] in EPS_NOW_HONOURED and m > 1:
        assert not np.array_equal(got, expected)
        np.testing.assert_allclose(got, traced_by_hand(scheme, m), rtol=3e-7)
    else:
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("name", "m"), [p for p in FAST if p[1] in (4, 33)])
def test_traced_float64_tables_match_0_3_0(x64, name, m):
    scheme = cases()[name]
    a, b = jax.jit(jax.vmap(lambda e: scheme.traced_tables(m, e)))(np.asarray(EPS, np.float64))
    got = np.stack([np.asarray(a), np.asarray(b)])
    assert got.dtype == np.float64
    if name.rsplit("_", 1)[0] in EPS_NOW_HONOURED:
        np.testing.assert_allclose(got, traced_by_hand(scheme, m), rtol=1e-15)
    else:
        np.testing.assert_allclose(got, reference()[f"{name}|{m}|x64"], rtol=1e-15, atol=0)


def traced_by_hand(scheme: Scheme, m: int) -> np.ndarray:
    """verl grpo_passk: a[1] = 1 / (sd_sample(S=1) + eps), everything else 0, per eps."""
    out = np.zeros((2, len(EPS), m + 1))
    out[0, :, 1] = 1.0 / (np.sqrt((m - 1) / (m * (m - 1.0))) + np.asarray(EPS))
    return out


@pytest.mark.parametrize(
    "scheme",
    [
        sch.grpo(eps=0.2),
        sch.f_grpo(gamma=0.5, std="sample", eps=0.2),
        fw.from_verl("grpo", epsilon=0.2),
        fw.from_verl("grpo_vectorized", epsilon=0.2),
        fw.from_verl("grpo_passk", epsilon=0.2),
    ],
    ids=lambda s: s.label,
)
def test_every_scheme_with_eps_honours_a_traced_eps(x64, scheme):
    """traced_tables(M, eps) equals the tables of the same scheme built with that eps."""
    assert scheme.has_eps
    for m in (1, 2, 6):
        if m < scheme.min_group_size:
            continue
        for eps in (0.0, 0.05, 0.7):
            rebuilt = dict(scheme.params) | {scheme.rule.eps: eps}
            expected = Scheme.make(scheme.name, **rebuilt).tables(m)
            got = jax.jit(lambda e, m=m: scheme.traced_tables(m, e))(eps)
            np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


def test_schemes_without_eps_say_so():
    for name in ("reinforce", "rloo", "mean_baseline", "rejection_sampling", "maxrl", "psr"):
        assert not sch.get(name).has_eps


def test_a_new_rule_with_eps_is_traced_without_extra_code(x64):
    """One rule, one decorator: the traced route comes for free and honours eps."""

    @register("halved_grpo_test", "half the population-std GRPO weights", min_group_size=2)
    def halved(c, eps):
        return sch.normalised_rule(c, c.std("population"), eps, factor=0.5)

    try:
        scheme = Scheme.make("halved_grpo_test", eps=0.0)
        a, b = jax.jit(lambda e: scheme.traced_tables(4, e))(0.25)
        # by hand, M = 4, S = 1: sd = sqrt(3)/4, a = 0.5 * 0.75 / (sqrt(3)/4 + 0.25)
        assert float(a[1]) == pytest.approx(0.375 / (np.sqrt(3) / 4 + 0.25), rel=1e-15)
        assert float(b[2]) == pytest.approx(-0.25 / (0.5 + 0.25), rel=1e-15)
        expected = [0, 0.375 / (np.sqrt(3) / 4), 0.5, 0.125 / (np.sqrt(3) / 4), 0]
        np.testing.assert_allclose(scheme.tables(4)[0], expected, rtol=1e-15)
    finally:
        del RULES["halved_grpo_test"]


def test_traced_eps_gradient_is_finite_at_zero():
    for scheme in (sch.grpo(), fw.from_verl("grpo_vectorized", epsilon=0.0)):
        grad = jax.grad(lambda e, s=scheme: jnp.sum(s.traced_tables(5, e)[0] ** 2))(0.0)
        assert np.isfinite(float(grad))


@pytest.mark.parametrize(
    "call",
    [
        lambda: sch.get("grop"),
        lambda: sch.get("grpo", gamma=1.0),
        lambda: sch.grpo(std="bessel"),
        lambda: sch.rloo().tables(1),
        lambda: sch.custom(lambda r, s, m: float("nan")).tables(3),
        lambda: sch.design("log", 8, grid=(0.5, 0.2)),
        lambda: sch.design("designed_by_nobody", 8),
        lambda: fw.from_verl("gae"),
        lambda: fw.advantages("verl", "grpo", [1.0, 0.0, 1.0], 2),
        lambda: sch.grpo().advantages([1, 2]),
    ],
)
def test_bad_input_raises_the_one_input_error(call):
    from rlxform.validation import InputError

    with pytest.raises(InputError, match="is invalid"):
        call()
