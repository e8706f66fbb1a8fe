"""The one surrogate: coefficients and reductions by hand."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rlxform.sim import group_loss
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.policies import Group

# each routine one compiled program (not one eager compile per primitive)
_coefficients = jax.jit(group_loss.group_coefficients, static_argnums=3)
_surrogate = jax.jit(group_loss.surrogate)


def test_bandit_coefficients_by_hand():
    cfg = SimConfig("grpo", Problem(num_prompts=2, num_responses=3), group_size=4)
    a_table = jnp.array([0.0, 1.0, 2.0, 3.0, 4.0])
    b_table = -a_table
    counts = jnp.array([[1.0, 2.0, 1.0], [4.0, 0.0, 0.0]])  # S = 1, S = 4
    group = Group(None, counts, jnp.array([True, False, False]))
    coef, s = _coefficients(group, a_table, b_table, cfg)
    np.testing.assert_array_equal(s, [1, 4])
    np.testing.assert_allclose(coef, [[1 * 1 / 4, 2 * -1 / 4, 1 * -1 / 4], [4 * 4 / 4, 0, 0]])


def test_sequence_coefficients_token_mean_over_blocks():
    problem = Problem("sequence_tabular", num_prompts=2, vocab_size=3, max_length=3)
    cfg = SimConfig("grpo", problem, group_size=2, aggregation="token-mean", batch_groups=2)
    a_table, b_table = jnp.array([0.0, 1.0, 2.0]), jnp.array([-2.0, -1.0, 0.0])
    rewards = jnp.array([[True, False], [True, True]])
    lengths = jnp.array([[1, 3], [2, 2]])
    group = Group(jnp.arange(2), None, rewards, lengths)
    coef, s = _coefficients(group, a_table, b_table, cfg)
    np.testing.assert_array_equal(s, [1, 2])
    f = 4 / 8  # G M / block tokens
    np.testing.assert_allclose(coef, [[f * 1 / 2, f * -1 / 2], [f * 2 / 2, f * 2 / 2]])


def test_surrogate_dynamic_sampling_averages_the_kept_groups():
    log_probs = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    coef = jnp.array([[1.0, 1.0], [2.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(_surrogate(log_probs, coef), (3 + 6 + 6) / 3)
    keep = jax.jit(group_loss.kept_groups, static_argnums=1)(np.array([1, 0, 2]), 4)
    np.testing.assert_array_equal(keep, [True, False, True])
    np.testing.assert_allclose(_surrogate(log_probs, coef, keep), (3 + 6) / 2)
    none = np.zeros(3, bool)
    np.testing.assert_allclose(_surrogate(log_probs, coef, none), 0.0)
    grad = jax.jit(jax.grad(lambda lp: group_loss.surrogate(lp, coef, keep)))(log_probs)
    np.testing.assert_allclose(grad, [[0.5, 0.5], [0, 0], [0, 0.5]])
