"""Exact references: theorem vs brute-force enumeration (float64), exact ascent by hand.

Every policy kind goes through its ``Policy``'s exact law: bandits (scalar, tabular, network)
and sequences (sequence_tabular, sequence_network), whose ``objective`` and ``expected_update``
raised ``KeyError: 'features'`` in 0.4.1.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SchemeTables

from rlxform import transform
from rlxform.core import schemes
from rlxform.core import sequences as sq
from rlxform.sim import ascent, exact
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams

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


def _bandit_cfg(policy, scheme=SCHEMES[0]):
    problem = Problem(
        policy=policy,
        num_prompts=3,
        num_responses=2 if policy == "scalar" else 3,
        hidden=4,
        features=3,
        init_p=(0.1, 0.45, 0.9),
    )
    return SimConfig(scheme, problem=problem, group_size=4)


@functools.cache
def _bandit_routes(policy):
    """(params float64, jitted (params, a, b) -> (theorem, brute)): one per policy, every scheme
    (the tables are the scheme, traced: ``SchemeTables``)."""
    cfg = _bandit_cfg(policy)
    params = ascent.initial_params(cfg)
    noise = np.random.default_rng(2)
    params = jax.tree_util.tree_map(
        lambda x: np.asarray(x, np.float64) + 0.2 * noise.standard_normal(np.shape(x)), params
    )

    @jax.jit
    def routes(p, a_table, b_table):
        tables = SchemeTables(a_table, b_table)
        return exact.expected_update(tables, p, cfg), exact.brute_force_update(tables, p, cfg)

    return params, routes


@pytest.mark.parametrize("policy", ["scalar", "tabular", "network"])
@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
def test_expected_update_equals_brute_force(policy, scheme):
    cfg = _bandit_cfg(policy, scheme)  # the scheme's checks at M = 4; its tables below
    with jax.enable_x64(True):
        params, routes = _bandit_routes(policy)
        a_table, b_table = ascent.tables(cfg, dtype=jnp.float64)
        theorem, brute = routes(params, a_table, b_table)
        for a, b in zip(
            jax.tree_util.tree_leaves(theorem), jax.tree_util.tree_leaves(brute), strict=True
        ):
            np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)
        # both routes read the tables passed (linear in them), not a scheme of their own
        doubled = jax.tree_util.tree_leaves(routes(params, 2 * a_table, 2 * b_table))
        for a, b in zip(doubled, jax.tree_util.tree_leaves((theorem, brute)), strict=True):
            np.testing.assert_allclose(a, 2 * np.asarray(b), atol=1e-12, rtol=0)
        assert max(np.abs(x).max() for x in jax.tree_util.tree_leaves(theorem)) > 1e-3


def test_brute_force_differs_for_a_wrong_scheme():
    """The comparison can fail: tables of another scheme give a different mean."""
    cfg = SimConfig(
        schemes.grpo(),
        problem=Problem(num_prompts=2, num_responses=3, init_p=(0.3, 0.6)),
        group_size=3,
    )
    params = ascent.initial_params(cfg)
    with jax.enable_x64(True):
        params = _as64(params)
        a = jax.jit(lambda p: exact.expected_update(schemes.reinforce(), p, cfg))(params)
        b = jax.jit(lambda p: exact.brute_force_update(None, p, cfg))(params)
        a, b = a["logits"], b["logits"]
        assert float(jnp.abs(a - b).max()) > 1e-2


def test_objective_matches_transform_and_its_gradient_is_expected_update():
    scheme = schemes.grpo(eps=1e-2)
    cfg = SimConfig(
        scheme,
        problem=Problem(num_prompts=4, num_responses=4, num_correct=2, init_p="grid"),
        group_size=6,
    )
    params = ascent.initial_params(cfg)
    with jax.enable_x64(True):
        params = _as64(params)
        p = np.asarray([0.125, 0.375, 0.625, 0.875])
        ref = np.mean(np.asarray(transform(scheme, 6).objective(p)))
        objective = jax.jit(lambda x: exact.objective(x, cfg))  # one program, not per op
        np.testing.assert_allclose(objective(params), ref, rtol=1e-6)
        grad = jax.jit(jax.grad(objective))(params)["logits"]
        update = jax.jit(lambda x: exact.expected_update(None, x, cfg))(params)["logits"]
        np.testing.assert_allclose(grad, update, atol=1e-12)


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


# ---- sequence policies -------------------------------------------------------------------------

TINY = dict(vocab_size=2, max_length=2, verifier="first_token")  # N = 3: [stop], [0 stop], [0 0]


def _sequence_cfg(policy, mode, **kw):
    problem = Problem(
        policy,
        kw.pop("num_prompts", 2),
        init_p=(0.3, 0.7, 0.5),
        hidden=3,
        **TINY,
        batch_size=kw.pop("batch_size", None),
    )
    return SimConfig(schemes.grpo("sample", 1e-6), problem, group_size=2, aggregation=mode, **kw)


def _perturbed64(cfg):
    params = ascent.initial_params(cfg)
    leaves = jax.tree_util.tree_leaves(params)
    noise = iter(np.random.default_rng(1).standard_normal(sum(x.size for x in leaves)))
    return jax.tree_util.tree_map(
        lambda x: (
            np.asarray(x, np.float64) + 0.3 * np.fromiter(noise, float, x.size).reshape(x.shape)
        ),
        params,
    )


@pytest.mark.parametrize(
    "policy, mode, kw",
    [
        ("sequence_tabular", "seq-mean-token-mean", {}),
        ("sequence_tabular", "seq-mean-token-sum-norm", {}),  # a constant factor: Bernstein
        ("sequence_tabular", "token-mean", {"batch_groups": 2}),  # the block's other prompt
        ("sequence_tabular", "token-mean", {"num_prompts": 3, "batch_size": 1}),  # random batch
        ("sequence_network", "seq-mean-token-mean", {}),
        pytest.param("sequence_network", "token-mean", {"batch_groups": 2}, marks=pytest.mark.slow),
    ],
)
def test_sequence_expected_update_equals_brute_force(policy, mode, kw):
    """The exact law's E[g] (omega, or w_M grad p for a constant factor) against every group of
    responses weighted with the simulator's coefficients (joint outcomes for token-mean blocks
    and random batches)."""
    cfg = _sequence_cfg(policy, mode, **kw)
    with jax.enable_x64(True):
        params = _perturbed64(cfg)
        theorem = jax.jit(lambda p: exact.expected_update(None, p, cfg))(params)
        brute = jax.jit(lambda p: exact.brute_force_update(None, p, cfg))(params)
        for a, b in zip(
            jax.tree_util.tree_leaves(theorem), jax.tree_util.tree_leaves(brute), strict=True
        ):
            np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)
        assert max(np.abs(x).max() for x in jax.tree_util.tree_leaves(theorem)) > 1e-3


@pytest.mark.parametrize("policy", ["sequence_tabular", "sequence_network"])
def test_sequence_objective_is_h_of_the_exact_p(policy):
    """``objective`` reads p from the policy (the 0.4.1 KeyError); with seq-mean-token-sum its
    gradient is E[g] (f = 1), and exact ascent's first step moves p by lr E[g]."""
    cfg = _sequence_cfg(policy, "seq-mean-token-sum", num_steps=1)
    with jax.enable_x64(True):
        params = _perturbed64(cfg)

        @jax.jit  # one program, not one eager compile per primitive
        def routes(q):
            objective = exact.objective(q, cfg)
            grad = jax.grad(lambda q_: exact.objective(q_, cfg))(q)
            update = exact.expected_update(None, q, cfg)
            return ascent.policy_of(cfg).p_correct(q), objective, grad, update

        p, objective, grad, update = routes(params)
        want = np.mean(np.asarray(transform(cfg.scheme, 2).objective(np.asarray(p))))
        np.testing.assert_allclose(objective, want, rtol=1e-12)
        for a, b in zip(
            jax.tree_util.tree_leaves(grad), jax.tree_util.tree_leaves(update), strict=True
        ):
            np.testing.assert_allclose(a, b, atol=1e-13)
    if policy == "sequence_tabular":  # one SGD step of exact ascent, by the NumPy core
        logits = np.asarray(ascent.initial_params(cfg)["logits"], np.float64)
        metrics = exact.make_exact(cfg)(HParams(0.5))
        rule = sq.UpdateRule(cfg.scheme, cfg.aggregation, 2)
        moved = logits + 0.5 * rule.expected_update(logits, cfg.problem.task) / 2
        np.testing.assert_allclose(
            metrics.p[1], sq.length_stats(moved, cfg.problem.task)[0], atol=1e-6
        )
