"""Policies: exact initial p, p_correct against a numpy softmax, populations, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlxform.sim import policies
from rlxform.sim.config import Problem

KEY = jax.random.key(0)


@pytest.mark.parametrize("kind", ["scalar", "tabular", "network"])
@pytest.mark.parametrize("spec", [(0.01, 0.3, 0.5, 0.97), "grid", ("beta", 0.5, 2.0)])
def test_initial_p_is_requested(kind, spec):
    num_responses, num_correct = (2, 1) if kind == "scalar" else (5, 2)
    cfg = Problem(kind, 7, num_responses, num_correct, hidden=8, features=4)
    init_p = policies.population(jax.random.key(3), spec, 7)
    params = policies.init_params(KEY, cfg, init_p)
    p = np.asarray(policies.p_correct(params, cfg), np.float64)
    np.testing.assert_allclose(p, init_p, atol=1e-6, rtol=0)
    assert policies.logits(params, cfg).shape == (7, num_responses)
    assert policies.logits(params, cfg).dtype == jnp.float32


def test_population_forms():
    np.testing.assert_allclose(policies.population(None, (0.1, 0.5), 5), [0.1, 0.5, 0.1, 0.5, 0.1])
    np.testing.assert_allclose(policies.population(None, "grid", 4), [0.125, 0.375, 0.625, 0.875])
    draw = policies.population(jax.random.key(1), ("beta", 2.0, 5.0), 4000)
    assert abs(draw.mean() - 2.0 / 7.0) < 0.01  # Beta(2, 5) mean
    assert np.all((draw > 0) & (draw < 1))
    again = policies.population(jax.random.key(1), ("beta", 2.0, 5.0), 4000)
    np.testing.assert_array_equal(draw, again)


def test_parse_init_p():
    assert policies.parse_init_p("0.1,0.5") == (0.1, 0.5)
    assert policies.parse_init_p("beta:1,3") == ("beta", 1.0, 3.0)
    assert policies.parse_init_p("grid") == "grid"
    for bad in ("0,0.5", "1.0", "beta:1", "beta:-1,2", "abc", "nan"):
        with pytest.raises(ValueError, match="init_p"):
            policies.parse_init_p(bad)


def test_p_correct_matches_numpy_softmax():
    cfg = Problem("tabular", 3, 4, 2)
    logits = np.array([[0.0, 1.0, -1.0, 2.0], [3.0, 0.0, 0.0, 0.0], [-5.0, -5.0, 1.0, 0.5]])
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    got = policies.p_correct({"logits": jnp.asarray(logits, jnp.float32)}, cfg)
    np.testing.assert_allclose(got, probs[:, :2].sum(-1), rtol=1e-6)


def test_network_shares_parameters_and_features_are_fixed():
    cfg = Problem("network", 4, 3, 1, hidden=8, features=4)
    params = policies.init_params(KEY, cfg, np.full(4, 0.3))
    trainable, constants = policies.partition(params)
    assert set(constants) == {"features"} and "features" not in trainable
    # one step on the shared last layer moves every prompt's p
    grads = jax.grad(lambda tr: policies.p_correct(policies.combine(tr, constants), cfg)[0])(
        trainable
    )
    moved = jax.tree_util.tree_map(lambda x, g: x + 10.0 * g, trainable, grads)
    p = policies.p_correct(policies.combine(moved, constants), cfg)
    assert np.all(np.abs(np.asarray(p[1:]) - 0.3) > 1e-4)
    assert np.all(
        np.asarray(
            jax.grad(lambda f: policies.p_correct({**params, "features": f}, cfg).sum())(
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
        policies.init_params(KEY, cfg, [0.5, value])
