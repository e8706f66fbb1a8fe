"""Each scheme rule is written once: NumPy float64 tables and traced JAX tables from the same rule.

References: ``data/scheme_tables_0.3.0.npz``, the tables of rlxform 0.3.0, where every rule was
written twice (numpy tables and a traced-eps copy). Keys ``case|M|f64`` (``Scheme.tables``),
``case|M|f32|none`` (``traced_tables(M, None)``), ``case|M|f32`` / ``case|M|x64`` (jit(vmap)
of ``traced_tables(M, eps)`` over EPS in float32 / under x64). The migration check is one
table-driven test over all 267 (case, M) pairs: the float64 tables are NumPy (no compile) and
the traced tables of every pair come from one jitted program per dtype.
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


PAIRS = sorted({(k.split("|")[0], int(k.split("|")[1])) for k in reference()})
X64_SIZES = (1, 2, 4, 33, 255)  # the float64 traced program: every case at these M


def traced_by_hand(scheme: Scheme, m: int) -> np.ndarray:
    """verl grpo_passk: a[1] = 1 / (sd_sample(S=1) + eps), everything else 0, per eps."""
    out = np.zeros((2, len(EPS), m + 1))
    out[0, :, 1] = 1.0 / (np.sqrt((m - 1) / (m * (m - 1.0))) + np.asarray(EPS))
    return out


def traced_all(dtype, pairs) -> dict[tuple[str, int], np.ndarray]:
    """jit(vmap over EPS) of ``traced_tables(M, eps)`` for ``pairs``: one program per call."""
    schemes = cases()

    @jax.jit
    def tables(eps):
        one = lambda name, m: jax.vmap(lambda e: jnp.stack(schemes[name].traced_tables(m, e)))
        return {f"{name}|{m}": one(name, m)(eps) for name, m in pairs}

    out = tables(np.asarray(EPS, dtype))
    # [E, 2, M+1] -> [2, E, M+1], the layout of the reference
    return {pair: np.moveaxis(np.asarray(out[f"{pair[0]}|{pair[1]}"]), 0, 1) for pair in pairs}


# rules newer than the 0.3.0 reference, tested against brute force and the trainers' own numbers
# in tests/core/test_loo_std.py and tests/frameworks/test_advantages_trainers_a.py
NEWER = {"loo_grpo", "nemo_rl", "open_instruct", "skyrl", "group_norm"}  # after 0.3.0
NEWER |= {"prime_rl", "trl_rloo"}  # trainers-c: tests/frameworks/test_trainers_c_advantages.py


def test_reference_covers_every_rule():
    covered = {cases()[name].name for name, _ in PAIRS}
    assert covered == set(RULES) - {"custom", "designed"} - NEWER  # those two: test_schemes.py
    assert len(PAIRS) == 267 and {m for _, m in PAIRS} == {1, 2, 3, 4, 7, 16, 33, 255}


def test_every_rule_migrates_from_0_3_0():
    """The whole migration check, table-driven over every (case, M) pair of the reference.

    1. ``Scheme.tables`` (NumPy float64) equals 0.3.0's float64 tables to 1e-15;
    2. ``traced_tables(M, None)`` is float32 and bitwise 0.3.0's (the golden digests rest on it);
    3. jit(vmap) of ``traced_tables(M, eps)`` over EPS in float32 is bitwise 0.3.0's, except verl
       grpo_passk, whose traced eps 0.3.0 ignored (now honoured: checked by hand);
    4. the same program under x64 (every case at ``X64_SIZES``) matches 0.3.0's float64 traced
       tables to 1e-15 and, for every eps, the NumPy tables of the scheme rebuilt with that eps:
       the NumPy route and the JAX route of each rule agree in float64.
    """
    schemes = cases()
    traced32 = traced_all(np.float32, PAIRS)
    with jax.enable_x64(True):
        traced64 = traced_all(np.float64, [(n, m) for n, m in PAIRS if m in X64_SIZES])
    for name, m in PAIRS:
        scheme, key = schemes[name], f"{name}|{m}"
        honoured = name.rsplit("_", 1)[0] in EPS_NOW_HONOURED
        a, b = scheme.tables(m)
        assert a.dtype == b.dtype == np.float64 and isinstance(a, np.ndarray)
        np.testing.assert_allclose(
            np.stack([a, b]), reference()[f"{key}|f64"], rtol=1e-15, atol=0, err_msg=key
        )
        untraced = np.stack([np.asarray(t) for t in scheme.traced_tables(m, None)])
        assert untraced.dtype == np.float32, key
        np.testing.assert_array_equal(untraced, reference()[f"{key}|f32|none"], err_msg=key)
        got32 = traced32[(name, m)]
        assert got32.dtype == np.float32, key
        if honoured:
            assert not np.array_equal(got32, reference()[f"{key}|f32"]), key
            np.testing.assert_allclose(got32, traced_by_hand(scheme, m), rtol=3e-7, err_msg=key)
        else:
            np.testing.assert_array_equal(got32, reference()[f"{key}|f32"], err_msg=key)
        if m not in X64_SIZES:
            continue
        got64 = traced64[(name, m)]
        assert got64.dtype == np.float64, key
        expected = traced_by_hand(scheme, m) if honoured else reference()[f"{key}|x64"]
        np.testing.assert_allclose(got64, expected, rtol=1e-15, atol=0, err_msg=key)
        for j, eps in enumerate(EPS):
            rebuilt = scheme
            if scheme.has_eps:
                rebuilt = Scheme.make(scheme.name, **(scheme.kwargs | {scheme.rule.eps: eps}))
            np.testing.assert_allclose(
                got64[:, j], np.stack(rebuilt.tables(m)), rtol=1e-15, atol=0, err_msg=key
            )


def test_schemes_without_eps_say_so():
    for name in ("reinforce", "rloo", "mean_baseline", "rejection_sampling", "maxrl", "psr"):
        assert not sch.get(name).has_eps
    for scheme in (sch.grpo(), sch.f_grpo(), fw.from_verl("grpo_passk")):
        assert scheme.has_eps


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
        # declared nothing else: no centred form, no real-reward form
        assert not scheme.std_normalised and not scheme.has_real_reward
    finally:
        del RULES["halved_grpo_test"]


def test_traced_eps_gradient_is_finite_at_zero():
    for scheme in (sch.grpo(), fw.from_verl("grpo_vectorized", epsilon=0.0)):
        # one compiled program per scheme (not one eager compile per primitive)
        grad = jax.jit(jax.grad(lambda e, s=scheme: jnp.sum(s.traced_tables(5, e)[0] ** 2)))(0.0)
        assert np.isfinite(float(grad))


# ---- capabilities: centred and real-reward forms, declared with the rule --------------------


def test_centred_forms_by_hand():
    """a = f(q)(1 - q), b = -f(q) q: GRPO f = 1, F-GRPO f = (1-q)^gamma, verl its rule unscaled."""
    q = np.arange(5) / 4
    centred = lambda s: np.stack(s.centred_tables(4))
    want = np.stack([np.where(q > 0, 1 - q, 0), np.where(q < 1, -q, 0)])
    for scheme in (sch.grpo(eps=0.1), sch.grpo("sample"), fw.from_verl("grpo")):
        np.testing.assert_allclose(centred(scheme), want, rtol=1e-15, atol=0)
    np.testing.assert_allclose(centred(sch.f_grpo(2.0)), want * (1 - q) ** 2, rtol=1e-15)
    # verl without a std: the rule itself; pass@k keeps only the single correct sample
    np.testing.assert_allclose(centred(fw.from_verl("rloo")), np.stack(sch.rloo().tables(4)))
    np.testing.assert_allclose(centred(fw.from_verl("grpo_passk")), [[0, 1, 0, 0, 0], [0] * 5])
    np.testing.assert_allclose(fw.from_verl("grpo").centred_tables(1)[0], [0.0, 1.0])  # mean 0
    assert sch.grpo("population").std_kind == "population"
    assert sch.f_grpo(std="sample").std_kind == fw.from_verl("grpo").std_kind == "sample"
    with pytest.raises(ValueError, match="divides by no std"):
        sch.rloo().centred_tables(4)


def test_real_reward_forms_by_hand_and_on_binary_rewards():
    """Z on real rewards equals the binary tables when the rewards are 0/1 (and is linear for
    reinforce / rloo / mean_baseline with the declared (c, d))."""
    rewards = np.array([[1.0, 0.0, 0.0, 1.0, 1.0], [0.3, -1.2, 0.7, 0.0, 2.0]])
    m = rewards.shape[-1]
    for scheme in (sch.reinforce(), sch.rloo(), sch.mean_baseline(), sch.grpo("sample", 0.1)):
        z = scheme.real_reward_weights(rewards, None, m)
        np.testing.assert_allclose(z[0], scheme.advantages(rewards[0]), rtol=1e-14)
        linear = scheme.real_reward_linear(m)
        if linear is not None:  # Z_i = c (r_i - d mean_{j != i} r_j)
            c, d = linear
            others = (rewards.sum(-1, keepdims=True) - rewards) / (m - 1)
            np.testing.assert_allclose(z, c * (rewards - d * others), rtol=1e-14, atol=1e-15)
    assert sch.grpo().real_reward_linear(4) is None
    assert {"reinforce", "rloo", "mean_baseline", "grpo", "verl", "trl_rloo"} == {
        name for name in RULES if Scheme.make(name).has_real_reward
    }
    from rlxform.frameworks.verl_rule import (
        from_verl,  # verl's rule: every estimator but grpo_passk
    )

    assert from_verl("grpo").has_real_reward and not from_verl("grpo_passk").has_real_reward
    with pytest.raises(ValueError, match="binary a/b tables"):
        sch.maxrl().real_reward_weights(rewards, None, m)


def test_no_module_outside_the_registry_checks_scheme_names():
    """``.name ==`` / ``.name in`` on a scheme appear only in core/registry.py and schemes.py."""
    import re

    root = Path(__file__).parents[2] / "rlxform"
    pattern = re.compile(
        r"scheme\.name\s*(==|!=|in\b|not\s+in\b)|(?<!field)\.name\s+(not\s+)?in\s+\("
    )
    allowed = {"core/registry.py", "core/schemes.py", "reproduce/bench/sequence_reference.py"}
    found = [
        f"{path.relative_to(root)}:{i}"
        for path in root.rglob("*.py")
        if str(path.relative_to(root)) not in allowed
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


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
