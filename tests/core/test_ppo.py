"""PPO effective weight: the plain update at E = N = 1, autodiff of the literal clipped surrogate,
enumeration of every assignment of correct samples to minibatch positions."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from rlxform.core import ppo, schemes
from rlxform.core.objective import transform

GRPO = schemes.grpo(std="sample", eps=1e-6)


def _sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


@pytest.mark.parametrize("scheme", [GRPO, schemes.rejection_sampling(), schemes.rloo()])
@pytest.mark.parametrize("p", [0.05, 0.3, 0.8])
def test_one_epoch_one_minibatch_is_the_plain_update(scheme, p):
    m, lr = 8, 0.7
    out = ppo.ppo_effective_weight(scheme, m, p, learning_rate=lr)
    w = float(transform(scheme, m).weight(p))
    assert out.delta_theta == pytest.approx(lr * w * p * (1 - p), rel=1e-12)
    # p change through the sigmoid, from the tables and scipy's binomial pmf
    a_table, b_table = scheme.tables(m)
    theta = math.log(p / (1 - p))
    expected = 0.0
    for s in range(m + 1):
        g = (s * a_table[s] * (1 - p) - (m - s) * b_table[s] * p) / m
        expected += stats.binom.pmf(s, m, p) * (_sigmoid(theta + lr * g) - p)
    assert out.delta_p == pytest.approx(expected, rel=1e-12)
    assert out.weight == pytest.approx(expected / (lr * (p * (1 - p)) ** 2), rel=1e-12)
    assert out.clip_fraction == 0.0  # rho = 1 at the first step


def test_small_learning_rate_recovers_w_m():
    for p in (0.1, 0.5, 0.9):
        out = ppo.ppo_effective_weight(GRPO, 8, p, learning_rate=1e-5, epochs=4, num_minibatches=2)
        assert out.weight == pytest.approx(float(transform(GRPO, 8).weight(p)), rel=1e-3)


@jax.jit
def _literal_step(theta, correct, z, old, lr, clip_low, clip_high, dual):
    """One SGD step on mean_i min(rho Z, clip(rho) Z) [max(., dual Z) for Z < 0], by jax.grad.

    Returns (new theta, number of samples whose own gradient is zero and Z != 0).
    """

    def per_sample(theta, correct_i, z_i, old_i):
        pt = jax.nn.sigmoid(theta)
        rho = jnp.where(correct_i > 0, pt, 1.0 - pt) / old_i
        surrogate = jnp.minimum(rho * z_i, jnp.clip(rho, 1 - clip_low, 1 + clip_high) * z_i)
        return jnp.where(z_i < 0, jnp.maximum(surrogate, dual * z_i), surrogate)

    objective = lambda t: jnp.mean(jax.vmap(per_sample, (None, 0, 0, 0))(t, correct, z, old))
    grads = jax.vmap(jax.grad(per_sample), (None, 0, 0, 0))(theta, correct, z, old)
    clipped = jnp.sum((grads == 0) & (z != 0))
    return theta + lr * jax.grad(objective)(theta), clipped


def _surrogate_run(theta0, correct, a_value, b_value, *, lr, epochs, n, clip_low, clip_high, dual):
    """Literal PPO on one fixed split (positions j*M/N .. (j+1)*M/N - 1), replayed each epoch."""
    correct = jnp.asarray(correct, jnp.float64)
    z = jnp.where(correct > 0, a_value, b_value)
    p_old = jax.nn.sigmoid(theta0)
    old = jnp.where(correct > 0, p_old, 1.0 - p_old)
    dual = jnp.inf if dual is None else dual
    theta = jnp.asarray(theta0, jnp.float64)
    size = correct.shape[0] // n
    clipped = 0
    for _ in range(epochs):
        for j in range(n):
            sl = slice(j * size, (j + 1) * size)
            theta, count = _literal_step(
                theta, correct[sl], z[sl], old[sl], lr, clip_low, clip_high, dual
            )
            clipped += int(count)
    return float(theta), clipped


@pytest.mark.parametrize(
    ("epochs", "n", "clip_low", "clip_high", "dual"),
    [(3, 2, 0.2, 0.2, None), (2, 2, 0.2, 0.28, 3.0), (4, 1, 0.1, 0.05, 1.5)],
)
def test_against_literal_surrogate_over_all_assignments(x64, epochs, n, clip_low, clip_high, dual):
    m, p, lr = 4, 0.35, 6.0  # a big step so the clip binds
    theta0 = math.log(p / (1 - p))
    a_table, b_table = GRPO.tables(m)
    want_dp = want_clip = 0.0
    for s in range(m + 1):
        subsets = list(itertools.combinations(range(m), s))
        for subset in subsets:  # every assignment of the S correct samples to positions
            correct = np.zeros(m)
            correct[list(subset)] = 1.0
            theta, clipped = _surrogate_run(
                theta0,
                correct,
                a_table[s],
                b_table[s],
                lr=lr,
                epochs=epochs,
                n=n,
                clip_low=clip_low,
                clip_high=clip_high,
                dual=dual,
            )
            weight = stats.binom.pmf(s, m, p) / len(subsets)
            want_dp += weight * (_sigmoid(theta) - p)
            want_clip += weight * clipped / (epochs * m)
    out = ppo.ppo_effective_weight(
        GRPO,
        m,
        p,
        learning_rate=lr,
        epochs=epochs,
        num_minibatches=n,
        clip_low=clip_low,
        clip_high=clip_high,
        dual_clip=dual,
    )
    assert out.delta_p == pytest.approx(want_dp, rel=1e-10, abs=1e-14)
    assert out.clip_fraction == pytest.approx(want_clip, rel=1e-10, abs=1e-14)
    assert out.clip_fraction > 0.0


def test_no_clip_is_repeated_importance_weighted_steps(x64):
    # clip = 1e9: each epoch steps along (1/M) sum_i Z_i grad rho_i = Z_i grad pi_i / pi_old_i
    m, p, lr, epochs = 6, 0.4, 2.0, 3
    a_table, b_table = GRPO.tables(m)
    theta0 = math.log(p / (1 - p))
    p_old = p
    expected = 0.0
    for s in range(m + 1):
        theta = theta0
        for _ in range(epochs):
            pt = _sigmoid(theta)
            grad_pi = pt * (1 - pt)
            theta += (
                lr
                * (s * a_table[s] * grad_pi / p_old - (m - s) * b_table[s] * grad_pi / (1 - p_old))
                / m
            )
        expected += stats.binom.pmf(s, m, p) * (_sigmoid(theta) - p)
    out = ppo.ppo_effective_weight(
        GRPO, m, p, learning_rate=lr, epochs=epochs, clip_low=1.0, clip_high=1e9
    )
    assert out.delta_p == pytest.approx(expected, rel=1e-12)


def test_minibatch_splits_hypergeometric():
    counts, probs = ppo.minibatch_splits(6, 3, 3)  # blocks of 2, 3 correct among 6
    assert probs.sum() == pytest.approx(1.0, abs=1e-15)
    # P(first block has c correct) is hypergeometric(6, 3, 2)
    for c in range(3):
        assert probs[counts[:, 0] == c].sum() == pytest.approx(
            stats.hypergeom.pmf(c, 6, 3, 2), abs=1e-15
        )
    assert np.all(counts.sum(1) == 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"learning_rate": -0.1}, "learning_rate=-0.1"),
        ({"learning_rate": float("nan")}, "learning_rate=nan"),
        ({"epochs": 0}, "epochs=0"),
        ({"num_minibatches": 0}, "num_minibatches=0"),
        ({"num_minibatches": 3}, "num_minibatches=3 is invalid: must divide"),
        ({"clip_low": 0.0}, "clip_low=0.0"),
        ({"clip_low": 1.5}, "clip_low=1.5"),
        ({"clip_high": -0.1}, "clip_high=-0.1"),
        ({"dual_clip": 1.0}, "dual_clip=1.0"),
        ({"p": 1.0}, "p=1.0"),
        ({"group_size": 1}, "group_size=1"),
    ],
)
def test_validation(kwargs, match):
    args = {"scheme": GRPO, "group_size": 8, "p": 0.3, "learning_rate": 0.1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ppo.ppo_effective_weight(**args)
