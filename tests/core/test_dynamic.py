"""Dynamic sampling's exact mean step: hand cases, joint brute force, enumeration, Monte Carlo.

``rlxform.core.dynamic`` runs in NumPy float64 (hand cases, enumeration) and, with the same
formulas, in JAX for the simulator's reference (held to NumPy in one compiled program)."""

from __future__ import annotations

import dataclasses
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SchemeTables

from rlxform.core import dynamic, schemes
from rlxform.sim import ascent, exact, simulate
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams

SCHEMES = [
    schemes.reinforce(),
    schemes.rloo(),
    schemes.grpo(eps=1e-3, std="sample"),
    schemes.rejection_sampling(),
    schemes.pass_at_k(k=2),
    schemes.maxrl(),
    schemes.nsr(),
]


def _as64(tree):
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), tree)


def _plain(cfg):
    return dataclasses.replace(cfg, dynamic_sampling=False)


def _jit(fn, cfg):
    """``fn(None, params, cfg)`` (``exact.expected_update`` / ``brute_force_update``) as one
    compiled program of ``params`` (not one eager compile per primitive)."""
    return jax.jit(lambda params: fn(None, params, cfg))


def _max_abs(a, b):
    pairs = zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
    return max(np.abs(np.asarray(x) - np.asarray(y)).max() for x, y in pairs)  # NumPy: no compile


def test_kept_weight_by_hand():
    """REINFORCE (a = 1, b = 0): w° = 1 - p^(M-1); NSR (a = 0, b = -1): w° = 1 - (1-p)^(M-1)."""
    p = np.asarray([0.1, 0.5, 0.9])
    a, b = schemes.reinforce().tables(4)
    np.testing.assert_allclose(dynamic.kept_weight(a, b, p), 1 - p**3, atol=1e-15)
    a, b = schemes.nsr().tables(4)
    np.testing.assert_allclose(dynamic.kept_weight(a, b, p), 1 - (1 - p) ** 3, atol=1e-15)
    a, b = schemes.rloo().tables(1 + 1)  # RLOO gives degenerate groups zero weight: w° = w
    np.testing.assert_allclose(dynamic.kept_weight(a, b, p), 1.0, atol=1e-15)
    a, b = schemes.reinforce().tables(1)  # M = 1: every group is degenerate, w° = 0
    np.testing.assert_allclose(dynamic.kept_weight(a, b, p), 0.0, atol=1e-15)


def test_kept_probability_by_hand_and_at_the_ends():
    p = np.asarray([0.25, 0.5, 1e-12, 1 - 1e-9])
    q = dynamic.kept_probability(p, 3)
    np.testing.assert_allclose(q[:2], [1 - 0.25**3 - 0.75**3, 0.75], rtol=1e-15)
    np.testing.assert_allclose(q[2], 3e-12, rtol=1e-9)  # 1 - (1-p)^3 - p^3 ~ 3p
    np.testing.assert_allclose(q[3], 3e-9, rtol=1e-6)


def test_factors_by_hand():
    """P = 2: kappa_1 = E[1/(1 + Bernoulli(q_2))] = 1 - q_2 / 2; B = 1 < P: factor 1/P."""
    q = np.asarray([0.3, 0.8])
    np.testing.assert_allclose(dynamic.full_batch_factor(q), [1 - 0.4, 1 - 0.15], rtol=1e-15)
    p = np.asarray([0.2, 0.7, 0.5])
    np.testing.assert_allclose(dynamic.step_factors(p, 4, 1), 1 / 3, rtol=1e-15)
    # B = 2 of P = 3: (1 + (1 - qbar)) / P
    qbar = float(np.mean(dynamic.kept_probability(p, 4)))
    np.testing.assert_allclose(dynamic.step_factors(p, 4, 2), (2 - qbar) / 3, rtol=1e-14)


def _poisson_binomial_factor(q):
    """E[1 / (1 + N_-x)] by enumerating all 2^(P-1) keep patterns of the others (float64)."""
    out = []
    for x in range(len(q)):
        others = np.delete(q, x)
        total = 0.0
        for keep in itertools.product([0, 1], repeat=len(others)):
            keep = np.array(keep)
            total += np.prod(np.where(keep, others, 1 - others)) / (1 + keep.sum())
        out.append(total)
    return np.array(out)


@pytest.mark.parametrize("num_prompts", [1, 2, 5, 9])
def test_full_batch_factor_equals_enumeration(num_prompts):
    q = np.random.default_rng(num_prompts).uniform(0, 1, num_prompts)
    got = dynamic.full_batch_factor(q)
    np.testing.assert_allclose(got, _poisson_binomial_factor(q), rtol=1e-13, atol=0)


def test_full_batch_factor_equal_prompts_closed_form_and_large_batch_limit():
    """q_y = q for all y: kappa = (1 - (1-q)^P) / (P q); P kappa (1 - d) -> 1 as P grows."""
    for num_prompts, q in [(64, 0.3), (301, 0.05), (1000, 0.7)]:
        got = dynamic.full_batch_factor(np.full((num_prompts,), q))
        want = (1 - (1 - q) ** num_prompts) / (num_prompts * q)
        np.testing.assert_allclose(got, want, rtol=1e-11)  # 500-node sums
    got = dynamic.full_batch_factor(np.full((1000,), 0.7))
    assert abs(float(got[0]) * 1000 * 0.7 - 1) < 2e-3


def test_numpy_and_jax_routes_agree(x64):
    """The simulator's reference evaluates the same formulas in JAX: equal to NumPy float64."""
    p = np.array([0.0, 1e-9, 0.05, 0.3, 0.5, 0.8, 1 - 1e-9, 1.0])
    tables = {s.label: s.tables(5) for s in SCHEMES}

    @jax.jit
    def jax_route(p, tables):  # tables as arguments: JAX arrays inside, no NumPy constants
        kept = {k: dynamic.kept_weight(a, b, p) for k, (a, b) in tables.items()}
        return kept, dynamic.kept_probability(p, 5), [dynamic.step_factors(p, 5, b) for b in (3, 8)]

    kept, probability, factors = jax_route(jnp.asarray(p), tables)
    for key, (a, b) in tables.items():
        np.testing.assert_allclose(kept[key], dynamic.kept_weight(a, b, p), rtol=1e-13, err_msg=key)
    np.testing.assert_allclose(probability, dynamic.kept_probability(p, 5), rtol=1e-14)
    for got, batch in zip(factors, (3, 8), strict=True):
        np.testing.assert_allclose(got, dynamic.step_factors(p, 5, batch), rtol=1e-13)


def _joint_cfg(scheme, batch_size):
    problem = Problem(
        num_prompts=3, num_responses=2, batch_size=batch_size, init_p=(0.15, 0.5, 0.85)
    )
    return SimConfig(scheme, problem=problem, group_size=3, dynamic_sampling=True)


@functools.cache
def _joint_routes(batch_size):
    """jit((params, a, b) -> (theorem, brute force, plain theorem)): one program per batch size
    for every scheme, whose tables are traced (``SchemeTables``: all the routes read of it)."""
    cfg = _joint_cfg(SCHEMES[0], batch_size)

    @jax.jit
    def routes(params, a_table, b_table):
        tables = SchemeTables(a_table, b_table)
        return (
            exact.expected_update(tables, params, cfg),
            exact.brute_force_update(tables, params, cfg),
            exact.expected_update(tables, params, _plain(cfg)),
        )

    return routes


@pytest.mark.parametrize("batch_size", [None, 2])
@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
def test_expected_update_equals_joint_brute_force(scheme, batch_size):
    cfg = _joint_cfg(scheme, batch_size)  # the scheme's checks at M = 3; its tables below
    with jax.enable_x64(True):
        params = _as64(ascent.initial_params(cfg))
        a_table, b_table = ascent.tables(cfg, dtype=jnp.float64)
        theorem, brute, plain = _joint_routes(batch_size)(params, a_table, b_table)
        assert _max_abs(theorem, brute) < 1e-12
        # the plain formula (the old reference) is a different number
        assert _max_abs(plain, brute) > 1e-3
        # every route reads the tables passed (linear in them), not a scheme of its own
        doubled = _joint_routes(batch_size)(params, 2 * a_table, 2 * b_table)
        twice = jax.tree_util.tree_map(lambda x: 2 * x, (theorem, brute, plain))
        assert _max_abs(doubled, twice) < 1e-12


@pytest.mark.parametrize("policy", ["scalar", "network"])
def test_expected_update_equals_brute_force_other_policies(policy):
    cfg = SimConfig(
        schemes.grpo(eps=0.1),
        problem=Problem(
            policy=policy, num_prompts=2, num_responses=2, hidden=4, features=3, init_p=(0.3, 0.6)
        ),
        group_size=3,
        dynamic_sampling=True,
    )
    with jax.enable_x64(True):
        params = _as64(ascent.initial_params(cfg))
        theorem = _jit(exact.expected_update, cfg)(params)
        assert _max_abs(theorem, _jit(exact.brute_force_update, cfg)(params)) < 1e-12


def test_plain_uniform_batch_brute_force_equals_theorem():
    """The joint enumeration also covers plain steps with B < P (mean over prompts)."""
    cfg = SimConfig(
        schemes.maxrl(),
        problem=Problem(num_prompts=3, num_responses=3, batch_size=2, init_p=(0.2, 0.5, 0.7)),
        group_size=2,
    )
    with jax.enable_x64(True):
        params = _as64(ascent.initial_params(cfg))
        theorem = _jit(exact.expected_update, cfg)(params)
        assert _max_abs(theorem, _jit(exact.brute_force_update, cfg)(params)) < 1e-12


@pytest.mark.parametrize("batch_size", [None, 3])
def test_simulator_mean_step_within_standard_errors(batch_size):
    """Average of 40000 simulated dynamic-sampling steps vs the exact mean, per coordinate."""
    cfg = SimConfig(
        schemes.rejection_sampling(),
        problem=Problem(
            num_prompts=5,
            num_responses=3,
            batch_size=batch_size,
            init_p=(0.05, 0.3, 0.5, 0.8, 0.95),
        ),
        group_size=4,
        dynamic_sampling=True,
    )
    params = ascent.initial_params(cfg)
    keys = jax.random.split(jax.random.key(7), 40000)
    grads = jax.jit(jax.vmap(lambda k: simulate.sample_gradient(k, params, cfg)[0]["logits"]))(keys)
    grads = np.asarray(grads, np.float64)
    mean, se = grads.mean(0), grads.std(0, ddof=1) / np.sqrt(len(grads))
    with jax.enable_x64(True):
        want = np.asarray(_jit(exact.expected_update, cfg)(_as64(params))["logits"])
    z = np.abs(mean - want) / se
    assert z.max() < 4.5, z
    plain = np.asarray(_jit(exact.expected_update, _plain(cfg))(params)["logits"])
    assert np.abs(mean - plain).max() > 10 * se.max()


def test_exact_ascent_one_step_by_hand():
    """One SGD step of dynamic-sampling exact ascent on scalar logits (P = 2, full batch)."""
    cfg = SimConfig(
        schemes.reinforce(),
        problem=Problem(policy="scalar", num_prompts=2, init_p=(0.2, 0.7)),
        group_size=3,
        num_steps=1,
        dynamic_sampling=True,
    )
    metrics = exact.make_exact(cfg)(HParams(0.5))
    p0 = np.array([0.2, 0.7])
    q = 1 - p0**3 - (1 - p0) ** 3
    kappa = 1 - q[::-1] / 2
    w_kept = 1 - p0**2
    theta1 = np.log(p0 / (1 - p0)) + 0.5 * kappa * w_kept * p0 * (1 - p0)
    np.testing.assert_allclose(metrics.p[1], 1 / (1 + np.exp(-theta1)), rtol=1e-5)
    np.testing.assert_allclose(metrics.degenerate_fraction[1], np.mean(1 - q), rtol=1e-5)
