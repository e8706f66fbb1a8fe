"""Exact references: theorem vs brute-force enumeration (float64), exact ascent by hand."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlxform import transform
from rlxform.core import schemes
from rlxform.sim import reference as exact
from rlxform.sim import simulate
from rlxform.sim.config import HParams, Problem, SimConfig

SCHEMES = [
    schemes.reinforce(),
    schemes.rloo(),
    schemes.grpo(eps=1e-3, std="sample"),
    schemes.rejection_sampling(),
    schemes.pass_at_k(k=2),
    schemes.maxrl(),
]


def _as64(tree):
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), tree)


@pytest.mark.parametrize("policy", ["scalar", "tabular", "network"])
@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
def test_expected_update_equals_brute_force(policy, scheme):
    k = 2 if policy == "scalar" else 3
    cfg = SimConfig(
        scheme,
        problem=Problem(
            policy=policy,
            num_prompts=3,
            num_responses=k,
            hidden=4,
            features=3,
            init_p=(0.1, 0.45, 0.9),
        ),
        group_size=4,
    )
    params = simulate.initial_params(cfg)
    params = jax.tree_util.tree_map(
        lambda x: x + 0.2 * jax.random.normal(jax.random.key(2), x.shape), params
    )
    with jax.enable_x64(True):
        params = _as64(params)
        theorem = exact.expected_update(None, params, cfg)
        brute = exact.brute_force_update(None, params, cfg)
        for a, b in zip(
            jax.tree_util.tree_leaves(theorem), jax.tree_util.tree_leaves(brute), strict=True
        ):
            np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)
        assert max(float(jnp.abs(x).max()) for x in jax.tree_util.tree_leaves(theorem)) > 1e-3


def test_brute_force_differs_for_a_wrong_scheme():
    """The comparison can fail: tables of another scheme give a different mean."""
    cfg = SimConfig(
        schemes.grpo(),
        problem=Problem(num_prompts=2, num_responses=3, init_p=(0.3, 0.6)),
        group_size=3,
    )
    params = simulate.initial_params(cfg)
    with jax.enable_x64(True):
        params = _as64(params)
        a = exact.expected_update(schemes.reinforce(), params, cfg)["logits"]
        b = exact.brute_force_update(None, params, cfg)["logits"]
        assert float(jnp.abs(a - b).max()) > 1e-2


def test_objective_matches_transform_and_its_gradient_is_expected_update():
    scheme = schemes.grpo(eps=1e-2)
    cfg = SimConfig(
        scheme,
        problem=Problem(num_prompts=4, num_responses=4, num_correct=2, init_p="grid"),
        group_size=6,
    )
    params = simulate.initial_params(cfg)
    with jax.enable_x64(True):
        params = _as64(params)
        p = np.asarray([0.125, 0.375, 0.625, 0.875])
        ref = np.mean(np.asarray(transform(scheme, 6).objective(p)))
        np.testing.assert_allclose(exact.objective(params, cfg), ref, rtol=1e-6)
        grad = jax.grad(exact.objective)(params, cfg)["logits"]
        np.testing.assert_allclose(
            grad, exact.expected_update(None, params, cfg)["logits"], atol=1e-12
        )


def test_exact_ascent_scalar_step_by_hand():
    """One SGD step on a logit: theta1 = theta0 + lr * w_M(p) p (1-p) / P (J is a mean over P)."""
    scheme = schemes.rejection_sampling()
    cfg = SimConfig(
        scheme,
        problem=Problem(policy="scalar", num_prompts=2, init_p=(0.2, 0.7)),
        group_size=4,
        num_steps=1,
    )
    metrics = exact.make_exact(cfg)(HParams(0.5))
    p0 = np.array([0.2, 0.7])
    w = (1 - (1 - p0) ** 4) / p0
    theta1 = np.log(p0 / (1 - p0)) + 0.5 * w * p0 * (1 - p0) / 2
    np.testing.assert_allclose(metrics.p[1], 1 / (1 + np.exp(-theta1)), rtol=1e-5)
    np.testing.assert_allclose(
        metrics.degenerate_fraction[1], np.mean(p0**4 + (1 - p0) ** 4), rtol=1e-5
    )
