"""KL estimators and the KL equilibrium: hand cases, scipy's brentq, long exact ascent."""

from __future__ import annotations

import json
import math
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, stats

from rlxform.core import bernstein as bern
from rlxform.core import kl, schemes


def _logit(p):
    return math.log(p) - math.log1p(-p)


def _sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def _weight_scipy(scheme, m):
    """w_M(p) = sum_k c_k Bin(k; M-1, p) with scipy's pmf (independent of core.bernstein)."""
    a_table, b_table = scheme.tables(m)
    c = a_table[1:] - b_table[:-1]
    k = np.arange(m)
    return lambda p: (
        c @ stats.binom.pmf(k[:, None], m - 1, np.atleast_1d(p))
        if np.ndim(p)
        else (float(c @ stats.binom.pmf(k, m - 1, p)))
    )


# ---- estimators ------------------------------------------------------------------------------


def test_estimator_values_by_hand():
    lr = math.log(2.0)  # pi / ref = 2
    assert float(kl.kl_estimate("k1", lr)) == pytest.approx(lr, rel=1e-6)
    assert float(kl.kl_estimate("k2", lr)) == pytest.approx(0.5 * lr * lr, rel=1e-6)
    assert float(kl.kl_estimate("k3", lr)) == pytest.approx(0.5 + lr - 1.0, rel=1e-6)
    assert float(kl.kl_estimate("abs", -lr)) == pytest.approx(lr, rel=1e-6)
    # verl aliases
    for alias, name in (("kl", "k1"), ("mse", "k2"), ("low_var_kl", "k3")):
        assert float(kl.kl_estimate(alias, 0.3)) == float(kl.kl_estimate(name, 0.3))
    # k3 = e^5 + (-5) - 1 = 142.4 is clamped to 10, with zero gradient there
    assert float(kl.kl_estimate("k3", -5.0)) == 10.0
    assert float(jax.grad(lambda x: kl.kl_estimate("k3", x))(-5.0)) == 0.0
    assert float(kl.kl_estimate("k3", 0.0)) == 0.0


@pytest.mark.parametrize("bad", ["k4", "KL", "", None])
def test_unknown_estimator_rejected(bad):
    with pytest.raises(ValueError, match="estimator="):
        kl.kl_estimate(bad, 0.1)


def test_unknown_placement_rejected():
    with pytest.raises(ValueError, match="placement='token' is invalid: must be one of loss"):
        kl.check_placement("token")
    assert kl.check_placement("advantage") == "advantage"


def test_numpy_weight_matches_transform(x64):
    """The root finder's NumPy w_M against the JAX route of ``transform`` (float64)."""
    from rlxform.core.objective import transform

    p = np.array([0.0, 1e-12, 0.1, 0.3, 0.5, 0.97, 1.0 - 1e-12, 1.0])
    for scheme, m in ((schemes.grpo(std="sample", eps=1e-6), 16), (schemes.maxrl(), 64)):
        weight = jax.jit(transform(scheme, m).weight)  # one program, not one eager compile per op
        expected = np.asarray(weight(p))
        got = kl.bernstein_weight_numpy(scheme.coefficients(m), p)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


# ---- equilibrium: hand cases -------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.1, 0.5, 1.0, 3.0])
@pytest.mark.parametrize("p_ref", [1e-12, 0.01, 0.3, 0.9, 1 - 1e-9])
def test_reinforce_reverse_closed_form(beta, p_ref):
    # KL after the advantage, w = 1: logit p* = logit p_ref + 1 / beta
    got = kl.kl_equilibrium(schemes.reinforce(), 4, beta, p_ref, placement="advantage")
    assert got == pytest.approx(_sigmoid(_logit(p_ref) + 1.0 / beta), rel=1e-12)
    # mean baseline: w = (M-1)/M
    got = kl.kl_equilibrium(schemes.mean_baseline(), 4, beta, p_ref, placement="advantage")
    assert got == pytest.approx(_sigmoid(_logit(p_ref) + 0.75 / beta), rel=1e-12)
    # KL in the reward, before the advantage: 1 / beta for both (the baseline sees the KL too)
    for scheme in (schemes.reinforce(), schemes.mean_baseline()):
        got = kl.kl_equilibrium(scheme, 4, beta, p_ref)
        assert got == pytest.approx(_sigmoid(_logit(p_ref) + 1.0 / beta), rel=1e-12)


@pytest.mark.parametrize("beta", [0.1, 0.5, 1.0, 3.0])
@pytest.mark.parametrize("p_ref", [0.01, 0.3, 0.9])
def test_reinforce_forward_closed_form(beta, p_ref):
    # k3 as a loss: p - p_ref = p (1 - p) / beta  =>  p^2 + (beta - 1) p - beta p_ref = 0
    expected = (-(beta - 1.0) + math.sqrt((beta - 1.0) ** 2 + 4.0 * beta * p_ref)) / 2.0
    got = kl.kl_equilibrium(schemes.reinforce(), 4, beta, p_ref, estimator="k3", placement="loss")
    assert got == pytest.approx(expected, rel=1e-12)
    # verl's alias gives the same
    alias = kl.kl_equilibrium(
        schemes.reinforce(), 4, beta, p_ref, estimator="low_var_kl", placement="loss"
    )
    assert alias == got


def test_k2_loss_equals_k1_after_the_advantage_and_k1_loss_has_no_penalty():
    scheme = schemes.grpo(std="sample", eps=1e-6)
    assert kl.kl_equilibrium(scheme, 8, 1.0, 0.3, estimator="k2", placement="loss") == (
        kl.kl_equilibrium(scheme, 8, 1.0, 0.3, placement="advantage")
    )
    # k1 as a loss has zero expected gradient: ascent on h_M alone, w > 0 everywhere -> 1
    assert kl.kl_equilibrium(scheme, 8, 1.0, 0.3, estimator="k1", placement="loss") == 1.0


def test_negative_weight_moves_down():
    # Z = -r: w = -1, ascent lowers p: logit p* = logit p_ref - 1 / beta
    scheme = schemes.custom(lambda r, s, m: -float(r))
    got = kl.kl_equilibrium(scheme, 3, 0.5, 0.4, placement="advantage")
    assert got == pytest.approx(_sigmoid(_logit(0.4) - 2.0), rel=1e-12)


def test_negative_weight_forward_and_zero_crossing():
    # Z = -r with k3 as a loss: mirror of the REINFORCE closed form in 1 - p
    scheme = schemes.custom(lambda r, s, m: -float(r))
    beta, q_ref = 0.5, 0.6  # q = 1 - p
    q = (-(beta - 1.0) + math.sqrt((beta - 1.0) ** 2 + 4.0 * beta * q_ref)) / 2.0
    got = kl.kl_equilibrium(scheme, 3, beta, 1 - q_ref, estimator="k3", placement="loss")
    assert got == pytest.approx(1.0 - q, rel=1e-12)
    # a[S] = (M - 2S + 1)/M, b = 0: c_k = (M - 1 - 2k)/M, w = (M-1)(1 - 2p)/M, zero at p = 1/2;
    # k1 as a loss leaves ascent on h_M alone, which stops there
    tilted = schemes.custom(lambda r, s, m: r * (m - 2 * s + 1) / m)
    assert kl.kl_equilibrium(tilted, 5, 1.0, 0.2, estimator="k1", placement="loss") == (
        pytest.approx(0.5, abs=1e-12)
    )
    assert kl.kl_equilibrium(tilted, 5, 1.0, 0.8, estimator="k1", placement="loss") == (
        pytest.approx(0.5, abs=1e-12)
    )
    # reverse KL: logit p - logit 0.2 = 0.8 (1 - 2p) / beta, checked by brentq
    fn = lambda p: _logit(p) - _logit(0.2) - 0.8 * (1 - 2 * p) / 0.7
    root = optimize.brentq(fn, 0.2, 0.5, xtol=1e-15)
    got = kl.kl_equilibrium(tilted, 5, 0.7, 0.2, placement="advantage")
    assert got == pytest.approx(root, abs=1e-12)


def test_tiny_beta_rounds_to_one():
    # logit p* = logit 0.3 + 1e3: p* = 1.0 in float64
    assert kl.kl_equilibrium(schemes.reinforce(), 2, 1e-3, 0.3) == 1.0


# ---- equilibrium: scipy's brentq ---------------------------------------------------------------


@pytest.mark.parametrize(
    "scheme",
    [
        schemes.grpo(std="sample", eps=1e-6),
        schemes.grpo(),
        schemes.rejection_sampling(),
        schemes.pass_at_k(2),
    ],
    ids=lambda s: s.label,
)
@pytest.mark.parametrize("m", [4, 8, 16])
@pytest.mark.parametrize("beta", [0.3, 1.0])
def test_against_brentq(scheme, m, beta):
    p_ref = 0.3
    w = _weight_scipy(scheme, m)
    logit = lambda p: np.log(p) - np.log1p(-p)
    reverse = lambda p: logit(p) - logit(p_ref) - w(p) / beta
    forward = lambda p: (p - p_ref) / (p * (1 - p)) - w(p) / beta
    for fn, kwargs in (
        (reverse, {"placement": "advantage"}),
        (forward, {"estimator": "k3_unclamped", "placement": "loss"}),
    ):
        grid = np.linspace(p_ref + 1e-9, 1 - 1e-9, 2001)
        values = fn(grid)
        first = int(np.flatnonzero(values > 0)[0])  # first sign change from - to +
        root = optimize.brentq(fn, grid[first - 1], grid[first], xtol=1e-15, rtol=1e-14)
        got = kl.kl_equilibrium(scheme, m, beta, p_ref, **kwargs)
        assert got == pytest.approx(root, abs=1e-11)


def test_first_of_several_roots():
    # GRPO (population std), M = 64, p_ref = 0.01, beta = 0.5 has three roots (~0.377, ~0.915,
    # ~0.99999); ascent stops at the first
    scheme, m, beta, p_ref = schemes.grpo(), 64, 0.5, 0.01
    w = _weight_scipy(scheme, m)
    fn = lambda p: np.log(p) - np.log1p(-p) - _logit(p_ref) - w(p) / beta
    grid = np.linspace(p_ref + 1e-9, 1 - 1e-9, 4001)
    signs = np.sign(fn(grid))
    changes = np.flatnonzero(np.diff(signs) != 0)
    assert changes.size == 3
    first = optimize.brentq(fn, grid[changes[0]], grid[changes[0] + 1], xtol=1e-15)
    got = kl.kl_equilibrium(scheme, m, beta, p_ref, placement="advantage")
    assert got == pytest.approx(first, abs=1e-11)


# ---- equilibrium: long exact ascent --------------------------------------------------------------


def _ascent(logits_ref, correct, scheme, m, beta, penalty, steps, lr):
    """Exact gradient ascent on h_M(p) - beta * penalty from pi_ref (float64 jax)."""
    phi = bern.phi_from_coefficients(scheme.coefficients(m))
    correct = jnp.asarray(correct, jnp.float64)
    log_ref = jax.nn.log_softmax(logits_ref)

    def direction(theta):
        def objective(t):
            probs = jax.nn.softmax(t)
            return bern.bernstein(phi, jnp.sum(probs * correct))

        grad_h = jax.grad(objective)(theta)
        if penalty == "reverse":  # grad of KL(pi || ref), by autodiff
            kl_fn = lambda t: jnp.sum(jax.nn.softmax(t) * (jax.nn.log_softmax(t) - log_ref))
            return grad_h - beta * jax.grad(kl_fn)(theta)
        # k3 as a loss: the estimator's own expected gradient, samples held fixed
        probs = jax.lax.stop_gradient(jax.nn.softmax(theta))
        k3_fn = lambda t: jnp.sum(probs * kl.kl_estimate("k3", jax.nn.log_softmax(t) - log_ref))
        return grad_h - beta * jax.grad(k3_fn)(theta)

    @jax.jit
    def run(theta):
        theta = jax.lax.fori_loop(0, steps, lambda _, t: t + lr * direction(t), theta)
        return theta, direction(theta)

    return run(logits_ref)


@pytest.mark.parametrize(
    ("scheme", "m", "beta", "penalty"),
    [
        (schemes.grpo(std="sample", eps=1e-6), 8, 1.0, "reverse"),
        pytest.param(schemes.rejection_sampling(), 4, 0.5, "reverse", marks=pytest.mark.slow),
        (schemes.grpo(std="sample", eps=1e-6), 8, 1.0, "forward"),
        pytest.param(schemes.reinforce(), 4, 0.5, "forward", marks=pytest.mark.slow),
    ],
)
def test_against_long_exact_ascent(x64, scheme, m, beta, penalty):
    logits_ref = jnp.asarray([0.3, -1.1, 0.4, -0.2, 0.9], jnp.float64)  # random-looking reference
    correct = np.array([1, 1, 0, 0, 0])
    theta, grad = _ascent(logits_ref, correct, scheme, m, beta, penalty, steps=6000, lr=4.0)
    assert float(jnp.max(jnp.abs(grad))) < 1e-12  # stationary
    probs = np.asarray(jax.nn.softmax(theta))
    ref = np.asarray(jax.nn.softmax(logits_ref))
    p_final, p_ref = float(probs @ correct), float(ref @ correct)
    kwargs = {"placement": "advantage"}
    if penalty != "reverse":
        kwargs = {"estimator": "k3", "placement": "loss"}
    p_star = kl.kl_equilibrium(scheme, m, beta, p_ref, **kwargs)
    assert p_final == pytest.approx(p_star, abs=1e-10)
    # the stationary policy has the predicted shape
    w = float(bern.bernstein(scheme.coefficients(m), p_star))
    if penalty == "reverse":
        tilt = ref * np.exp(w * correct / beta)
    else:
        tilt = ref / (1.0 - w * (correct - p_star) / beta)
    np.testing.assert_allclose(probs, tilt / tilt.sum(), atol=1e-10)


def test_ascent_stops_at_first_root_two_responses(x64):
    # K = 2 (the flow stays in the tilt family): three roots, ascent stops at the first
    scheme, m, beta, p_ref = schemes.grpo(), 64, 0.5, 0.01
    logits_ref = jnp.asarray([_logit(p_ref), 0.0], jnp.float64)
    theta, _ = _ascent(logits_ref, [1, 0], scheme, m, beta, "reverse", steps=4000, lr=4.0)
    p_final = float(jax.nn.softmax(theta)[0])
    want = kl.kl_equilibrium(scheme, m, beta, p_ref, placement="advantage")
    assert p_final == pytest.approx(want, abs=1e-9)
    assert p_final < 0.5


# ---- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beta": 0.0}, "beta=0.0"),
        ({"beta": -1.0}, "beta=-1.0"),
        ({"beta": float("nan")}, "beta=nan"),
        ({"beta": float("inf")}, "beta=inf"),
        ({"p_ref": 0.0}, "p_ref=0.0"),
        ({"p_ref": 1.0}, "p_ref=1.0"),
        ({"group_size": 1}, "group_size=1"),
        ({"estimator": "k5"}, "estimator='k5'"),
        ({"placement": "token"}, "placement='token'"),
        ({"estimator": "k3", "placement": "reward"}, "estimator='k3' with placement='reward'"),
        ({"estimator": "abs", "placement": "loss"}, "estimator='abs'"),
    ],
)
def test_equilibrium_validation(kwargs, match):
    args = {"scheme": schemes.grpo(), "group_size": 4, "beta": 1.0, "p_ref": 0.3}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match.replace("(", r"\(")):
        kl.kl_equilibrium(**args)


def test_equilibrium_takes_catalog_names_and_rejects_the_rest():
    by_name = kl.kl_equilibrium("grpo", 4, 1.0, 0.3)
    assert by_name == kl.kl_equilibrium(schemes.grpo(), 4, 1.0, 0.3)
    assert 0.3 < by_name < 1.0
    with pytest.raises(ValueError, match=r"scheme='grop' is invalid.*did you mean 'grpo'"):
        kl.kl_equilibrium("grop", 4, 1.0, 0.3)
    with pytest.raises(ValueError, match="scheme=3 is invalid: must be an rlxform Scheme"):
        kl.kl_equilibrium(3, 4, 1.0, 0.3)


# ---- estimator forms: by hand and against the frameworks' own gradients -------------------------


def test_estimator_forms_by_hand(x64):
    # l = 0.7 (pi / ref = e^0.7), sampled by pi_old with l_old = 0.2: rho = e^0.5
    x0, l_old = 0.7, 0.2
    rho = math.exp(x0 - l_old)
    k3 = math.exp(-x0) + x0 - 1.0
    want = {  # (value, d/dl) at rho = 1, (value, d/dl) at rho
        "k1": (x0, 1.0, x0, 1.0),
        "k2": (x0 * x0 / 2, x0, x0 * x0 / 2, x0),
        "k3": (k3, 1 - math.exp(-x0), k3, 1 - math.exp(-x0)),
        "k3_unclamped": (k3, 1 - math.exp(-x0), k3, 1 - math.exp(-x0)),
        "abs": (x0, 1.0, x0, 1.0),
        "k3_ratio": (k3, x0, rho * k3, rho * x0),  # d(rho k3)/dl = rho (k3 + 1 - e^-x0) = rho x0
        "k1+": (x0, x0, x0, x0),
        "k3+": (k3, x0, k3, x0),
        "abs+": (x0, x0, x0, x0),
        "k1_unbiased": (x0, x0, x0, rho * x0),
        "k2_unbiased": (x0 * x0 / 2, x0, x0 * x0 / 2, rho * x0),
        "k3_unbiased": (k3, x0, k3, rho * x0),
    }
    assert set(want) == set(kl.ESTIMATORS)

    @jax.jit
    def values_and_slopes(x, old):  # every estimator in one compiled program
        out = {}
        for name in want:
            fn = lambda x, old, name=name: kl.kl_estimate(name, x, old)
            out[name] = (fn(x, None), jax.grad(fn)(x, None), fn(x, old), jax.grad(fn)(x, old))
        return out

    got = values_and_slopes(jnp.float64(x0), jnp.float64(l_old))
    for name, (v1, d1, v_rho, d_rho) in want.items():
        assert [float(v) for v in got[name]] == pytest.approx([v1, d1, v_rho, d_rho], rel=1e-14)
        for old, (v, d) in ((None, (v1, d1)), (l_old, (v_rho, d_rho))):  # the NumPy route
            value, slope = kl.kl_value_and_slope(name, x0, old)
            assert (float(value), float(slope)) == pytest.approx((v, d), rel=1e-14), name
    # OpenRLHF caps the importance weight at 10; k3's clamp zeroes its own gradient only
    assert float(kl.kl_value_and_slope("k3_unbiased", 0.5, -5.0)[1]) == pytest.approx(5.0)
    assert float(jax.grad(lambda x: kl.kl_estimate("k3+", x))(jnp.float64(-5.0))) == -5.0
    assert float(jax.grad(lambda x: kl.kl_estimate("k3", x))(jnp.float64(-5.0))) == 0.0
    for alias, name in (("kl+", "k1+"), ("low_var_kl+", "k3+"), ("k2+", "k2"), ("mse+", "k2")):
        assert kl.canonical_estimator(alias) == name
    assert [kl.base_estimator(e) for e in ("k3_ratio", "k1_unbiased", "abs+")] == [
        "k3_unclamped",
        "k1",
        "abs",
    ]


LOSS_DATA = pathlib.Path(__file__).parent.parent / "data" / "loss_modes"


def _framework_batch(name):
    data = json.loads((LOSS_DATA / f"{name}.json").read_text())
    batch = data["batch"]
    width, lengths = batch["width"], np.array(batch["lengths"])

    def padded(rows):
        out = np.zeros((len(rows), width))
        for i, row in enumerate(rows):
            out[i, : len(row)] = row
        return out

    mask = (np.arange(width)[None, :] < lengths[:, None]) * 1.0
    arrays = {key: padded(batch[key]) for key in ("old_logp", "ref_logp")}
    arrays["offpolicy"] = padded(batch["new_logp"]["offpolicy"])
    return data, mask, lengths, arrays, padded


def _our_gradient(estimator, new, ref, old, norm):
    """d/d new of sum_t norm_t k(new - ref) with the sampler's log-ratio old - ref (None: rho 1)."""
    old_ratio = None if old is None else jnp.asarray(old - ref)
    fn = lambda x: jnp.sum(norm * kl.kl_estimate(estimator, x - ref, old_ratio))
    return np.asarray(jax.grad(fn)(jnp.asarray(new)))


def test_estimators_match_verl_and_openrlhf_kl_losses(x64):
    """verl 0.9.1 kl_penalty (k1, k2, low_var_kl, abs, k1+, k3+) and OpenRLHF 0.11.2
    compute_approx_kl with and without unbiased_gradient: per-token gradients of the frameworks'
    own losses (tests/data/loss_modes), both regimes."""
    checked = 0
    for name in ("verl", "openrlhf"):
        data, mask, lengths, arrays, padded = _framework_batch(name)
        for case in (c for c in data["cases"] if c["kind"] == "kl"):
            s = case["settings"]
            ratio1 = case["regime"] == "ratio1"
            new = arrays["old_logp"] if ratio1 else arrays["offpolicy"]
            if name == "verl":
                estimator, old, rtol, atol = s["kl_loss_type"], None, 1e-12, 1e-15
                if case["loss_agg_mode"] == "token-mean":
                    norm = mask / mask.sum()
                else:  # seq-mean-token-mean
                    norm = mask / (len(lengths) * (lengths[:, None] + 1e-8))
            else:  # log-probs cast to float32 (utils.py:93), token-mean
                estimator = s["estimator"] + ("_unbiased" if s["unbiased_gradient"] else "")
                old, norm = arrays["old_logp"], mask / mask.sum()
                rtol, atol = 1e-5, 4e-9  # float32 arithmetic: 1 - e^-l cancels near l = 0
                new, old = (v.astype(np.float32).astype(np.float64) for v in (new, old))
            ref = arrays["ref_logp"]
            if name == "openrlhf":
                ref = ref.astype(np.float32).astype(np.float64)
            ours = _our_gradient(estimator, new, ref, old, norm) * mask
            np.testing.assert_allclose(
                ours, padded(case["grad"]), rtol=rtol, atol=atol, err_msg=case["id"]
            )
            checked += 1
    assert checked == 24 + 12


def test_trl_k3_ratio_matches_use_bias_correction_kl(x64):
    """TRL 1.16.0 _compute_loss with beta = 0.04 minus the same loss without KL, token level:
    use_bias_correction_kl True is k3_ratio, False is k3_unclamped, at ratio 1 and off-policy."""
    data, mask, lengths, arrays, padded = _framework_batch("trl")
    cases = data["cases"]

    def policy_case(kl_case):
        s = kl_case["settings"]
        for c in cases:
            cs = c["settings"]
            if (
                c["kind"] == "policy"
                and c["loss_type"] == s["loss_type"]
                and cs.get("importance_sampling_level", "token") == s["importance_sampling_level"]
                and cs.get("delta") is None
                and cs.get("epsilon_high") is None
                and set(cs) <= {"loss_type", "importance_sampling_level", "delta", "epsilon_high"}
                and c["advantages"] == kl_case["advantages"]
                and c["regime"] == kl_case["regime"]
            ):
                return c
        raise AssertionError(kl_case["id"])

    b = len(lengths)
    norms = {
        "grpo": mask / (b * np.maximum(lengths, 1)[:, None]),
        "dapo": mask / mask.sum(),
        "dr_grpo": mask / (b * 16),  # max_completion_length 16
    }
    checked = 0
    for case in (c for c in cases if c["kind"] == "kl"):
        s = case["settings"]
        if s["importance_sampling_level"] != "token":
            continue  # the sequence ratio weights k3 by exp(mean log-ratio): not k3_ratio
        theirs = padded(case["grad"]) - padded(policy_case(case)["grad"])
        ratio1 = case["regime"] == "ratio1"
        new = arrays["old_logp"] if ratio1 else arrays["offpolicy"]
        estimator = "k3_ratio" if s["use_bias_correction_kl"] else "k3_unclamped"
        norm = s["beta"] * norms[s["loss_type"]]
        ours = (
            _our_gradient(
                estimator, new, arrays["ref_logp"], None if ratio1 else arrays["old_logp"], norm
            )
            * mask
        )
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-15, err_msg=case["id"])
        checked += 1
    assert checked == 12


# ---- equilibrium: KL in the reward, before the advantage ----------------------------------------


def test_kl_in_the_reward_stops_at_one_over_beta_whatever_m():
    # issue 24: verl GRPO M = 5, beta = 1 at p_ref 0.1 / 0.3 / 0.5, and M = 8, beta = 0.3, 0.1
    verl = schemes.grpo(std="sample", eps=1e-6)
    got = [kl.kl_equilibrium(verl, 5, 1.0, p) for p in (0.1, 0.3, 0.5)]
    np.testing.assert_allclose(got, [0.2320, 0.5381, 0.7311], atol=5e-5)
    assert kl.kl_equilibrium(schemes.grpo(), 8, 0.3, 0.1) == pytest.approx(0.7570, abs=5e-5)
    # the old answer (w_M root) is what the KL after the advantage gives
    old = [kl.kl_equilibrium(verl, 5, 1.0, p, placement="advantage") for p in (0.1, 0.3, 0.5)]
    np.testing.assert_allclose(old, [0.3472, 0.6737, 0.8397], atol=5e-5)
    old = kl.kl_equilibrium(schemes.grpo(), 8, 0.3, 0.1, placement="advantage")
    assert old == pytest.approx(0.9986, abs=5e-5)
    from rlxform.frameworks.verl_rule import from_verl

    for scheme in (
        schemes.reinforce(),
        schemes.rloo(),
        schemes.mean_baseline(),
        schemes.grpo(),
        verl,
        from_verl("grpo"),
        from_verl("grpo_vectorized"),
        from_verl("rloo"),
        from_verl("grpo", norm_adv_by_std_in_grpo=False),
    ):
        for m in (2, 3, 5, 8, 16, 64):
            for beta, p_ref in ((1.0, 0.3), (0.3, 0.1), (2.5, 0.9)):
                for estimator in ("k1", "kl", "k1+", "k1_unbiased"):
                    got = kl.kl_equilibrium(scheme, m, beta, p_ref, estimator=estimator)
                    assert got == pytest.approx(_sigmoid(_logit(p_ref) + 1 / beta), rel=1e-13)
    # verl's rloo_vectorized with M = 1 gives every sample 0: nothing moves
    assert kl.kl_equilibrium(from_verl("rloo_vectorized"), 1, 1.0, 0.3) == 0.3
    with pytest.raises(
        ValueError, match=r"scheme='rejection_sampling' is invalid with placement='reward'"
    ):
        kl.kl_equilibrium(schemes.rejection_sampling(), 4, 1.0, 0.3)
    with pytest.raises(ValueError, match=r"scheme='verl\(.*grpo_passk.*placement='reward'"):
        kl.kl_equilibrium(from_verl("grpo_passk"), 4, 1.0, 0.3)
    for estimator in ("k2", "k3", "abs", "k3_ratio", "k3+"):  # no stopping point derived
        with pytest.raises(ValueError, match=f"estimator='{re.escape(estimator)}' with"):
            kl.kl_equilibrium(verl, 4, 1.0, 0.3, estimator=estimator)


def test_k3_clamp_changes_the_forward_root_only_where_it_binds():
    scheme = schemes.grpo(std="sample", eps=1e-6)
    for beta in (0.3, 1.0, 3.0):  # roots where k3 < 10 on both answers: the clamp is silent
        clamped = kl.kl_equilibrium(scheme, 8, beta, 0.3, estimator="k3", placement="loss")
        plain = kl.kl_equilibrium(scheme, 8, beta, 0.3, estimator="k3_unclamped", placement="loss")
        assert clamped == plain < 0.95
    # beta = 0.05: the forward root has (1 - p)/(1 - p_ref) ~ 0.04, k3 ~ 22 > 10 on the wrong
    # answer; clamped, its gradient is 0 and the correct answer's (p - p_ref)/p < 1 < w_M/beta
    plain = kl.kl_equilibrium(scheme, 8, 0.05, 0.3, estimator="k3_unclamped", placement="loss")
    l_wrong = math.log((1 - plain) / 0.7)
    assert math.exp(-l_wrong) + l_wrong - 1 > 10
    assert kl.kl_equilibrium(scheme, 8, 0.05, 0.3, estimator="k3", placement="loss") == 1.0
