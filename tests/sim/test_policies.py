"""Policies: the registry of kinds and their capabilities, exact initial p, p_correct against a
numpy softmax, populations, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlxform.core.sequences import enumerate_sequences
from rlxform.sim import bandits, kinds, policies
from rlxform.sim.ascent import initial_params, policy_of
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.kinds import BANDIT_POLICIES, SEQUENCE_POLICIES
from rlxform.sim.population import parse_init_p, population
from rlxform.sim.simulate import sparse_eligible

KEY = jax.random.key(0)


@pytest.mark.parametrize("kind", ["scalar", "tabular", "network"])
@pytest.mark.parametrize("spec", [(0.01, 0.3, 0.5, 0.97), "grid", ("beta", 0.5, 2.0)])
def test_initial_p_is_requested(kind, spec):
    num_responses, num_correct = (2, 1) if kind == "scalar" else (5, 2)
    cfg = Problem(kind, 7, num_responses, num_correct, hidden=8, features=4)
    init_p = population(jax.random.key(3), spec, 7)
    params = bandits.init_params(KEY, cfg, init_p)
    p = np.asarray(bandits.p_correct(params, cfg), np.float64)
    np.testing.assert_allclose(p, init_p, atol=1e-6, rtol=0)
    assert bandits.logits(params, cfg).shape == (7, num_responses)
    assert bandits.logits(params, cfg).dtype == jnp.float32


def test_population_forms():
    np.testing.assert_allclose(population(None, (0.1, 0.5), 5), [0.1, 0.5, 0.1, 0.5, 0.1])
    np.testing.assert_allclose(population(None, "grid", 4), [0.125, 0.375, 0.625, 0.875])
    # 4004 draws as 572 populations of P = 7: the beta sampler's one compile (shape [7], a and
    # b traced) is shared with test_initial_p_is_requested
    draws = [population(jax.random.key(i), ("beta", 2.0, 5.0), 7) for i in range(572)]
    draw = np.concatenate(draws)
    assert abs(draw.mean() - 2.0 / 7.0) < 0.01  # Beta(2, 5) mean
    assert np.all((draw > 0) & (draw < 1))
    assert len({tuple(d) for d in draws}) == len(draws)  # every key its own draw
    again = population(jax.random.key(1), ("beta", 2.0, 5.0), 7)
    np.testing.assert_array_equal(draws[1], again)


def test_parse_init_p():
    assert parse_init_p("0.1,0.5") == (0.1, 0.5)
    assert parse_init_p("beta:1,3") == ("beta", 1.0, 3.0)
    assert parse_init_p("grid") == "grid"
    for bad in ("0,0.5", "1.0", "beta:1", "beta:-1,2", "abc", "nan"):
        with pytest.raises(ValueError, match="init_p"):
            parse_init_p(bad)


def test_p_correct_matches_numpy_softmax():
    cfg = Problem("tabular", 3, 4, 2)
    logits = np.array([[0.0, 1.0, -1.0, 2.0], [3.0, 0.0, 0.0, 0.0], [-5.0, -5.0, 1.0, 0.5]])
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    p_correct = jax.jit(bandits.p_correct, static_argnums=1)  # one program, not one per op
    got = p_correct({"logits": logits.astype(np.float32)}, cfg)
    np.testing.assert_allclose(got, probs[:, :2].sum(-1), rtol=1e-6)


def test_network_shares_parameters_and_features_are_fixed():
    cfg = Problem("network", 4, 3, 1, hidden=8, features=4)
    params = bandits.init_params(KEY, cfg, np.full(4, 0.3))
    trainable, constants = policies.partition(params)
    assert set(constants) == {"features"} and "features" not in trainable
    # one step on the shared last layer moves every prompt's p
    grads = jax.jit(
        jax.grad(lambda tr: bandits.p_correct(policies.combine(tr, constants), cfg)[0])
    )(trainable)
    moved = jax.tree_util.tree_map(lambda x, g: x + 10.0 * g, trainable, grads)
    p = bandits.p_correct(policies.combine(moved, constants), cfg)
    assert np.all(np.abs(np.asarray(p[1:]) - 0.3) > 1e-4)
    assert np.all(
        np.asarray(
            jax.jit(jax.grad(lambda f: bandits.p_correct({**params, "features": f}, cfg).sum()))(
                params["features"]
            )
        )
        == 0
    )


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"policy": "mlp"}, "policy"),
        ({"num_prompts": 0}, "num_prompts"),
        ({"num_responses": 1}, "num_responses"),
        ({"num_responses": 3, "num_correct": 0}, "num_correct"),
        ({"num_responses": 3, "num_correct": 3}, "num_correct"),
        ({"policy": "scalar", "num_responses": 3}, "num_responses"),
    ],
)
def test_bad_config(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Problem(**kwargs)


@pytest.mark.parametrize("value", [0.0, 1.0, float("nan"), -0.1])
def test_bad_init_p(value):
    cfg = Problem("tabular", 2, 3, 1)
    with pytest.raises(ValueError, match="init_p"):
        bandits.init_params(KEY, cfg, [0.5, value])


# ---- the registry and the capabilities ---------------------------------------------------------

SMALL = {
    "scalar": dict(num_responses=2),
    "tabular": dict(num_responses=4, num_correct=2),
    "network": dict(num_responses=3, hidden=4, features=3),
    "sequence_tabular": dict(vocab_size=3, max_length=3, verifier="parity"),
    "sequence_network": dict(vocab_size=3, max_length=2, hidden=4),
}


def test_the_registry_owns_the_kinds():
    assert kinds.POLICIES == tuple(kinds.KINDS) == tuple(SMALL)
    assert BANDIT_POLICIES + SEQUENCE_POLICIES == kinds.POLICIES
    assert SEQUENCE_POLICIES == tuple(k for k, v in kinds.KINDS.items() if v.sequence)
    assert Problem("sequence_network", vocab_size=3, max_length=2).is_sequence
    assert not Problem("network").is_sequence
    with pytest.raises(ValueError, match=r"policy='mlp'.*scalar, tabular, network"):
        policies.make_policy(_bad_problem())
    with pytest.raises(ValueError, match="problem="):
        policies.make_policy("tabular")


def _bad_problem():
    problem = Problem("tabular")
    object.__setattr__(problem, "policy", "mlp")  # past Problem's own check
    return problem


@pytest.mark.parametrize("kind", list(SMALL))
def test_exact_law_capabilities(kind):
    """Every kind states its exact law: the law sums to 1, its correct mass is p_correct, its
    per-token log-probs sum to the response log-probs; sequences add length records and the
    per-token log-prob of drawn groups, the tabular table the sparse SGD route."""
    cfg = SimConfig("grpo", Problem(kind, 2, init_p=(0.3, 0.6), **SMALL[kind]), group_size=3)
    policy = policy_of(cfg)
    params = initial_params(cfg)
    law = policy.exact_law

    @jax.jit
    def evaluate(params):
        log_probs = law.log_probs(params)
        return log_probs, law.token_log_probs(params), policy.p_correct(params)

    log_probs, tokens, p = (np.asarray(x, np.float64) for x in evaluate(params))
    probs = np.exp(log_probs)
    n = law.responses.lengths.shape[0]
    assert probs.shape == (2, n) and tokens.shape == (2, n, law.max_length)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose((probs * law.responses.correct).sum(-1), p, atol=1e-5)
    np.testing.assert_allclose(tokens.sum(-1), log_probs, atol=1e-5)
    assert np.all(tokens[:, ~law.live] == 0.0)
    sequence = kinds.KINDS[kind].sequence
    assert (policy.length_stats is not None) == sequence == policy.large_params
    assert (policy.token_log_prob is not None) == sequence
    assert policy.sparse_sgd == (kind == "sequence_tabular") == sparse_eligible(cfg)
    if sequence:
        assert law.responses is enumerate_sequences(cfg.problem.task)
    else:
        np.testing.assert_array_equal(law.responses.lengths, 1)
        assert law.responses.correct.sum() == cfg.problem.num_correct
        if kind != "network":
            np.testing.assert_allclose(p, [0.3, 0.6], atol=1e-6)


def test_footprints_by_hand():
    """What ``resources.simulation_bytes`` counts, from the kinds (float32 elements per run)."""
    bandit = Problem("network", 4, 3, 1, hidden=8, features=5)
    assert policies.footprint(bandit, 6) == (4 * 3 + 6 * 8 + 9 * 3 + 4 * 5, 4 * (3 + 6), 4 * 4 * 8)
    assert policies.footprint(Problem("tabular", 4, 3), 6) == (12, 36, 0)
    table = Problem("sequence_tabular", 2, vocab_size=3, max_length=3)
    assert policies.footprint(table, 4) == (2 * 7 * 3, 2 * 4 * 3 * 4, 0)
    gru = Problem("sequence_network", 2, vocab_size=3, max_length=3, hidden=5)
    params = 3 * (3 + 5 + 1) * 5 + 6 * 3 + 2 * 5
    assert policies.footprint(gru, 4) == (params, 2 * 4 * 3 * 4, 4 * 2 * 5 * 3)
