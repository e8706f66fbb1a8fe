"""std_scope: centred tables and the batch scale by hand; the simulator's one-step mean against
``rlxform.core.batch_norm`` (exact finite batch, Monte Carlo with standard errors) and its
large-batch objective; bad input."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlxform.core import batch_norm as bn
from rlxform.core import schemes
from rlxform.sim import ascent, estimator, exact, simulate, std_scope
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams
from rlxform.validation import InputError

EPS = 1e-4


def test_centred_tables_by_hand():
    a_table, b_table = std_scope.centred_tables(schemes.grpo(eps=0.1), 4)
    want_a, want_b = schemes.mean_baseline().tables(4)
    np.testing.assert_allclose(a_table, want_a)
    np.testing.assert_allclose(b_table, want_b)
    a_table, b_table = std_scope.centred_tables(schemes.get("f_grpo"), 2)
    gamma = schemes.get("f_grpo").kwargs["gamma"]
    np.testing.assert_allclose(a_table, [0.0, 0.5**gamma * 0.5, 0.0])
    np.testing.assert_allclose(b_table, [0.0, -(0.5**gamma) * 0.5, 0.0])


def test_batch_scale_by_hand():
    # n = 4 rewards, T = 3: sample sd = sqrt(3 * 1 / (4 * 3)) = 0.5; population sqrt(3/16)
    s = jnp.array([1, 2], jnp.int32)
    np.testing.assert_allclose(std_scope.batch_scale(s, 2, "sample", 0.0), 2.0, rtol=1e-6)
    np.testing.assert_allclose(
        std_scope.batch_scale(s, 2, "population", 0.5), 1 / (np.sqrt(3 / 16) + 0.5), rtol=1e-6
    )
    assert float(std_scope.batch_scale(jnp.array([2, 2]), 2, "sample", 0.0)) == 0.0  # no signal


def _std_cfg(scope: str, p: np.ndarray, group_size: int) -> SimConfig:
    problem = Problem("scalar", num_prompts=p.size, init_p=tuple(p))
    scheme = schemes.grpo(std="sample", eps=EPS)
    return SimConfig(scheme, problem, group_size=group_size, num_steps=1, std_scope=scope)


@functools.cache
def _sampled_gradients(p: tuple[float, ...], group_size: int):
    """jit(vmap over keys) of the estimator, (g, S), with the a/b tables as arguments: one
    compile for every scope (a scope enters ``simulate.sample_gradient`` through its tables and,
    for "batch", the scale applied after: ``simulate.scale_by_batch_std``)."""
    cfg = _std_cfg("group", np.array(p), group_size)
    policy = ascent.policy_of(cfg)

    def one(key, params, a_table, b_table):
        return estimator.sample_gradient(key, params, policy, cfg, a_table, b_table)

    return jax.jit(jax.vmap(one, in_axes=(0, None, None, None)))


def _one_step_weights(scope: str, p: np.ndarray, group_size: int, seeds: int):
    """Per-prompt w = E[g_x] P / (p (1-p)) of the scalar-logit policy (mean, SE), ``[P]``."""
    cfg = _std_cfg(scope, p, group_size)
    params = ascent.initial_params(cfg)
    keys = jax.random.split(jax.random.key(11), seeds)
    g, s = _sampled_gradients(tuple(p.tolist()), group_size)(keys, params, *ascent.tables(cfg))
    if scope == "batch":
        g = jax.jit(jax.vmap(lambda g, s: simulate.scale_by_batch_std(g, s, cfg, None)))(g, s)
    else:
        assert simulate.scale_by_batch_std(g, s, cfg, None) is g
    g = np.asarray(g["logit"], np.float64)
    w = g * p.size / (p * (1 - p))
    return w.mean(0), w.std(0, ddof=1) / np.sqrt(seeds)


@pytest.mark.parametrize("scope", ["group", "batch", "none"])
def test_finite_batch_one_step_mean_matches_exact(scope):
    m, p = 4, np.array([0.2, 0.4, 0.6, 0.8])
    mean, se = _one_step_weights(scope, p, m, 40_000)
    if scope == "batch":
        want = bn.batch_std_weights(m, p, std="sample", eps=EPS)
    elif scope == "group":  # no other groups: GRPO's own tables
        want = np.array([bn.batch_std_weight(m, x, [], std="sample", eps=EPS) for x in p])
    else:
        want = np.full(p.size, (m - 1) / m)  # the mean baseline
    assert np.all(np.abs(mean - want) < 5 * se + 1e-6), (mean, want, se)
    assert np.all(se < 0.02 * np.abs(want))  # the check can resolve a 10% deviation


def test_large_batch_objective_is_the_rescaled_mean_baseline():
    """G = 64 groups: every prompt's weight is (M-1) / (M (sqrt(pbar (1-pbar)) + eps)), so the
    objective is p; the finite-batch deviation of exact and simulator is measured here."""
    m, p = 4, np.linspace(0.2, 0.8, 64)
    limit = bn.batch_std_limit_weight(m, float(p.mean()), eps=EPS)
    finite = bn.batch_std_weights(m, p, std="sample", eps=EPS)
    np.testing.assert_allclose(finite, limit, rtol=2e-3)  # exact, G = 64
    mean, se = _one_step_weights("batch", p, m, 4_000)
    z = (mean.mean() - finite.mean()) / np.sqrt(np.mean(se**2) / p.size)
    assert abs(z) < 5
    # the per-prompt weight is flat in p (GRPO's group std is not: 1/sqrt(p(1-p)) shape)
    slope = np.polyfit(p, mean, 1)[0]
    assert abs(slope) < 5 * np.sqrt(np.mean(se**2) * 12 / p.size) / (p.max() - p.min())


def test_bad_input_and_exact_refusal():
    with pytest.raises(InputError, match=r"^std_scope='batch' is invalid for scheme"):
        SimConfig("reinforce", std_scope="batch")
    with pytest.raises(InputError, match=r"^std_scope="):
        SimConfig("grpo", std_scope="prompt")
    with pytest.raises(InputError, match=r"^std_scope='batch' has no exact ascent reference"):
        exact.make_exact(SimConfig("grpo", std_scope="batch"))
    cfg = SimConfig(schemes.grpo(eps=1e-6), Problem(num_prompts=2), std_scope="none")
    got = exact.make_exact(cfg)(HParams(0.1))
    want = exact.make_exact(SimConfig("mean_baseline", Problem(num_prompts=2)))(HParams(0.1))
    np.testing.assert_allclose(got.mean_p, want.mean_p, rtol=1e-6)
