"""Loss aggregation and the exact expected weight omega(y) (SPEC section 8), in NumPy float64.

Routes that must agree: hand-computed cases; brute force over every batch of responses (all
N^(G M) of them); the R-A identity by the softmax score; the Bernstein weight w_M(p) grad p for
f = 1; the large-batch limit of token-mean; the same formula evaluated by jax.numpy (traced,
under jit and vmap) against its NumPy evaluation.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from sequence_brute import brute_update, brute_weights

from rlxform.core import aggregation as agg_lib
from rlxform.core import schemes
from rlxform.core.aggregation import (
    AGGREGATION_ALIASES,
    AGGREGATIONS,
    aggregation_factor,
    aggregation_objective,
    check_aggregation,
    constant_factor,
    sequence_weights,
)
from rlxform.core.objective import transform

CATALOG = [(name, {}) for name in schemes.names() if name not in ("custom", "designed")] + [
    ("grpo", {"std": "sample", "eps": 1e-6}),
    ("pass_at_k", {"k": 2}),
    ("f_grpo", {"gamma": 2.0, "std": "sample", "eps": 1e-4}),
    ("w_reinforce", {"lam": 0.3}),
]
PROBS = np.array([0.1, 0.35, 0.2, 0.35])
LENGTHS = np.array([1, 3, 2, 3])
CORRECT = np.array([True, False, False, True])


# ---- names and factors ---------------------------------------------------------------------------


def test_aggregation_names_and_aliases():
    assert check_aggregation("trl:grpo") == "seq-mean-token-mean"
    assert check_aggregation("trl:dr_grpo") == "seq-mean-token-sum-norm"
    assert check_aggregation("trl:dapo") == "token-mean"
    assert check_aggregation("trl:bnpo") == "token-mean"
    with pytest.raises(ValueError, match=r"aggregation='mean'.*token-mean.*trl:bnpo"):
        check_aggregation("mean")
    lengths = np.array([[1, 3], [2, 2]])
    got = {a: aggregation_factor(a, lengths, max_length=4) for a in AGGREGATIONS}
    np.testing.assert_allclose(got["seq-mean-token-sum"], 1.0)
    np.testing.assert_allclose(got["seq-mean-token-mean"], [[1.0, 1 / 3], [0.5, 0.5]])
    np.testing.assert_allclose(got["seq-mean-token-sum-norm"], 0.25)
    np.testing.assert_allclose(got["token-mean"], 0.5)  # G M / sum = 4 / 8
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float64 for v in got.values())


def test_aggregation_objective_covers_every_name():
    for name in AGGREGATIONS + tuple(AGGREGATION_ALIASES):
        assert aggregation_objective(name).startswith("f = ")
    assert aggregation_objective("trl:bnpo") == aggregation_objective("token-mean")
    assert "not a gradient" in aggregation_objective("trl:grpo")
    assert "h_M(p) / max_length" in aggregation_objective("trl:dr_grpo")
    assert "gradient of h_M(p)" in aggregation_objective("seq-mean-token-sum")
    with pytest.raises(ValueError, match="aggregation="):
        aggregation_objective("seq-mean")


@pytest.mark.parametrize("mode", AGGREGATIONS)
def test_constant_factor_is_the_factor_of_every_batch(mode):
    """When ``constant_factor`` names an f, ``aggregation_factor`` gives it for every batch."""
    rng = np.random.default_rng(0)
    for lengths in (LENGTHS, np.full(4, 3), np.ones(5, int)):
        f = constant_factor(mode, lengths, 4)
        batches = rng.choice(lengths, size=(50, 2, 3))
        got = np.stack([aggregation_factor(mode, b, max_length=4) for b in batches])
        if f is None:
            assert np.ptp(got) > 1e-3  # the factor really varies
        else:
            np.testing.assert_allclose(got, f, rtol=1e-15)
    assert constant_factor(mode, np.ones(3, int), 1) == 1.0  # a bandit: f = 1 in every mode


# ---- omega ---------------------------------------------------------------------------------------


def test_weights_hand_cases():
    # Mean baseline, M = 2, two equally likely responses: y1 correct L=1, y2 wrong L=3.
    # token-mean: the only mixed group has f = 2/4 and Z = +-1/2, reached with prob 1/2.
    mean = schemes.mean_baseline()
    args = ([0.5, 0.5], [1, 3], [True, False])
    got = sequence_weights(mean, "token-mean", 2, *args)
    np.testing.assert_allclose(got, [1 / 8, -1 / 8], rtol=0, atol=1e-15)
    # seq-mean-token-mean with REINFORCE: omega = r / L.
    got = sequence_weights(schemes.reinforce(), "trl:grpo", 4, *args)
    np.testing.assert_allclose(got, [1.0, 0.0], atol=1e-15)
    # f = 1/max_length with the mean baseline: abar = 1/2 (1 - p) ... = 1/4, bbar = -1/4.
    got = sequence_weights(mean, "seq-mean-token-sum-norm", 2, *args, max_length=5)
    np.testing.assert_allclose(got, [0.25 / 5, -0.25 / 5], atol=1e-15)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64


@pytest.mark.parametrize("name, params", CATALOG, ids=lambda v: str(v))
def test_weights_match_brute_force(name, params):
    scheme = schemes.get(name, **params)
    for mode, groups in [(a, 1) for a in AGGREGATIONS] + [("token-mean", 2)]:
        m = 3 if groups == 1 else 2
        a_table, b_table = scheme.tables(m)
        got = sequence_weights(
            scheme, mode, m, PROBS, LENGTHS, CORRECT, max_length=4, batch_groups=groups
        )
        want = brute_weights(mode, a_table, b_table, m, groups, 4, PROBS, LENGTHS, CORRECT)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=f"{mode} G={groups}")


def test_token_mean_larger_batch_matches_brute_force():
    scheme = schemes.grpo("sample", 1e-6)
    probs, lengths, correct = PROBS[:3] / PROBS[:3].sum(), LENGTHS[:3], CORRECT[:3]
    for m, groups in [(2, 3), (4, 2)]:
        got = sequence_weights(scheme, "trl:dapo", m, probs, lengths, correct, batch_groups=groups)
        want = brute_weights("token-mean", *scheme.tables(m), m, groups, 3, probs, lengths, correct)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_weights_of_several_prompts_at_once():
    """Leading axes are prompts: each row is that prompt's own omega."""
    scheme = schemes.grpo("sample", 1e-6)
    probs = np.stack([PROBS, PROBS[::-1], np.full(4, 0.25)])
    for mode in AGGREGATIONS:
        got = sequence_weights(scheme, mode, 3, probs, LENGTHS, CORRECT, batch_groups=2)
        for row, q in zip(got, probs, strict=True):
            want = sequence_weights(scheme, mode, 3, q, LENGTHS, CORRECT, batch_groups=2)
            np.testing.assert_allclose(row, want, rtol=0, atol=1e-15)


def test_token_mean_large_batch_limit():
    """As G M grows, token-mean f -> 1/E[L]: omega -> (r abar + (1-r) bbar) / E[L], error ~ 1/G."""
    scheme, m = schemes.grpo("sample", 1e-6), 4
    limit = sequence_weights(scheme, "seq-mean-token-sum", m, PROBS, LENGTHS, CORRECT)
    limit = limit / (PROBS @ LENGTHS)
    errors = []
    for groups in (25, 100):
        got = sequence_weights(
            scheme, "token-mean", m, PROBS, LENGTHS, CORRECT, batch_groups=groups
        )
        errors.append(np.abs(got - limit).max())
    assert errors[1] < 0.05 * np.abs(limit).max()
    assert 3.0 < errors[0] / errors[1] < 5.0  # first order in 1 / (G M)


@pytest.mark.parametrize("agg", ["seq-mean-token-sum", "seq-mean-token-mean", "trl:dr_grpo"])
@pytest.mark.parametrize("name", ["grpo", "rejection_sampling", "rloo", "maxrl"])
def test_ra_identity(x64, name, agg):
    """E[g] = abar grad E[r f(L)] + bbar grad E[(1-r) f(L)] for a softmax over 4 responses."""
    scheme, m, max_length = schemes.get(name), 3, 4
    mode = check_aggregation(agg)
    a_table, b_table = scheme.tables(m)
    logits = np.array([0.3, -0.2, 0.5, 0.1])
    probs = np.exp(logits) / np.exp(logits).sum()
    f = aggregation_factor(agg, LENGTHS[None], max_length=max_length)[0]
    p = probs[CORRECT].sum()
    pmf = scipy.stats.binom.pmf(np.arange(m), m - 1, p)
    abar, bbar = pmf @ a_table[1:], pmf @ b_table[:-1]

    def grad_expectation(h):  # grad_logits sum_y softmax(y) h(y) = pi (h - pi . h)
        return probs * (h - probs @ h)

    ra = abar * grad_expectation(f * CORRECT) + bbar * grad_expectation(f * ~CORRECT)
    grads = np.eye(4) - probs  # grad_logits log softmax(y), row y
    want = brute_update(mode, a_table, b_table, m, 1, max_length, probs, LENGTHS, CORRECT, grads)
    np.testing.assert_allclose(ra, want, rtol=0, atol=1e-12)
    omega = sequence_weights(scheme, agg, m, probs, LENGTHS, CORRECT, max_length=max_length)
    np.testing.assert_allclose((probs * omega) @ grads, want, rtol=0, atol=1e-12)
    if mode == "seq-mean-token-sum":  # f = 1: w_M(p) grad p
        grad_p = (probs * CORRECT) @ grads
        w = float(transform(scheme, m).weight(p))
        np.testing.assert_allclose(want, w * grad_p, rtol=0, atol=1e-12)


def test_bad_weight_input():
    scheme = schemes.grpo()
    args = (PROBS, LENGTHS, CORRECT)
    with pytest.raises(ValueError, match="batch_groups=0"):
        sequence_weights(scheme, "token-mean", 3, *args, batch_groups=0)
    with pytest.raises(ValueError, match="aggregation='sum'"):
        sequence_weights(scheme, "sum", 3, *args)
    with pytest.raises(ValueError, match="group_size=1"):
        sequence_weights(scheme, "token-mean", 1, *args)
    with pytest.raises(ValueError, match="lengths with range"):
        sequence_weights(scheme, "token-mean", 3, *args, max_length=2)
    with pytest.raises(ValueError, match="probs with sum"):
        sequence_weights(scheme, "token-mean", 3, PROBS * 2, LENGTHS, CORRECT)
    with pytest.raises(ValueError, match=r"must be \[\.\.\., N\]"):
        sequence_weights(scheme, "token-mean", 3, PROBS[:3], LENGTHS, CORRECT)
    with pytest.raises(ValueError, match="scheme="):
        sequence_weights("grpo", "token-mean", 3, *args)


# ---- the same formula traced by JAX ----------------------------------------------------------


def test_traced_route_equals_numpy_and_compiles_once(x64):
    """jax.numpy inputs (jit, vmap, traced tables) give the NumPy numbers; schemes are data, so
    one compilation serves every scheme."""
    import jax
    import jax.numpy as jnp

    probs = np.stack([PROBS, PROBS[::-1], np.full(4, 0.25)])

    @jax.jit
    def traced(a_table, b_table, q):
        weigh = lambda row: agg_lib.sequence_weights_from_tables(
            a_table, b_table, "token-mean", row, LENGTHS, CORRECT, max_length=4, batch_groups=2
        )
        return jax.vmap(weigh)(q)

    for scheme in (schemes.rloo(), schemes.grpo("sample", 1e-6), schemes.maxrl()):
        a_table, b_table = scheme.tables(3)
        got = traced(jnp.asarray(a_table), jnp.asarray(b_table), jnp.asarray(probs))
        want = sequence_weights(scheme, "token-mean", 3, probs, LENGTHS, CORRECT, batch_groups=2)
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-14)
    assert traced._cache_size() == 1


def test_core_modules_import_no_jax():
    """core.aggregation, core.sequences, core.sequence_tasks and core.xp import no JAX at
    module level (JAX is reached only through an input that already is a JAX array)."""
    core = Path(agg_lib.__file__).parent
    for name in ("aggregation", "sequences", "sequence_tasks", "xp", "kl_audit"):
        tree = ast.parse((core / f"{name}.py").read_text())
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] in ("jax", "flax", "optax") for n in names), name
            assert not any(n.startswith(("rlxform.sim", "rlxform.types")) for n in names), name
