"""Batch-level std (TRL scale_rewards="batch"): brute force over every reward vector of the batch,
Monte Carlo, the G = 1 hand case, and convergence to the large-batch form."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rlxform.core import batch_norm, schemes


def _brute_force_updates(p_batch, m, eps, ddof=1):
    """E[g_x] on scalar logits for every prompt: all 2^(G M) reward vectors, literal advantages."""
    p_batch = np.asarray(p_batch, float)
    g = p_batch.size
    out = np.zeros(g)
    for bits in itertools.product((0, 1), repeat=g * m):
        rewards = np.asarray(bits, float).reshape(g, m)
        prob = np.prod(np.where(rewards > 0, p_batch[:, None], 1 - p_batch[:, None]))
        sd = np.std(rewards, ddof=ddof) if g * m > ddof else 0.0
        centred = rewards - rewards.mean(1, keepdims=True)
        adv = centred / (sd + eps) if sd + eps > 0 else np.zeros_like(centred)  # all equal: 0
        # grad log pi on a scalar logit: 1 - p for a correct sample, -p for a wrong one
        score = rewards - p_batch[:, None]
        out += prob * (adv * score).sum(1) / m
    return out


def test_single_group_is_grpo():
    for std in ("sample", "population"):
        a_table, b_table = batch_norm.batch_std_tables(4, [], std=std, eps=1e-4)
        want_a, want_b = schemes.grpo(std=std, eps=1e-4).tables(4)
        np.testing.assert_allclose(a_table, want_a, rtol=1e-14)
        np.testing.assert_allclose(b_table, want_b, rtol=1e-14)


def test_batch_std_by_hand():
    # 6 rewards, 2 ones: mean 1/3, sum of squares 2 (2/3)^2 + 4 (1/3)^2 = 4/3
    assert batch_norm.batch_std(2, 6) == pytest.approx(np.sqrt(4 / 3 / 5), rel=1e-15)
    assert batch_norm.batch_std(2, 6, "population") == pytest.approx(np.sqrt(4 / 3 / 6))
    np.testing.assert_allclose(
        batch_norm.others_count_pmf(2, [0.5, 0.5]), np.array([1, 4, 6, 4, 1]) / 16, rtol=1e-15
    )


@pytest.mark.parametrize(
    ("p_batch", "m", "eps"),
    [([0.3, 0.6], 3, 1e-4), ([0.2, 0.5, 0.9], 2, 1e-4), ([0.1, 0.4, 0.7, 0.7], 2, 0.0)],
)
def test_against_brute_force(p_batch, m, eps):
    want = _brute_force_updates(p_batch, m, eps)
    w = batch_norm.batch_std_weights(m, p_batch, eps=eps)
    p = np.asarray(p_batch)
    np.testing.assert_allclose(w * p * (1 - p), want, rtol=1e-12, atol=1e-15)


def test_against_monte_carlo():
    p_batch, m, eps = np.array([0.15, 0.35, 0.6, 0.8]), 4, 1e-4
    rng = np.random.default_rng(0)
    n = 200_000
    rewards = (rng.random((n, p_batch.size, m)) < p_batch[None, :, None]).astype(float)
    sd = rewards.reshape(n, -1).std(axis=1, ddof=1)
    adv = (rewards - rewards.mean(2, keepdims=True)) / (sd[:, None, None] + eps)
    g = (adv * (rewards - p_batch[None, :, None])).sum(2) / m  # [n, G]
    mean, se = g.mean(0), g.std(0, ddof=1) / np.sqrt(n)
    exact = batch_norm.batch_std_weights(m, p_batch, eps=eps) * p_batch * (1 - p_batch)
    assert np.all(np.abs(mean - exact) < 4 * se)


def test_converges_to_large_batch_form():
    m, p, eps = 4, 0.3, 1e-4
    limit = batch_norm.batch_std_limit_weight(m, p, eps=eps)
    assert limit == pytest.approx(0.75 / (np.sqrt(0.21) + 1e-4), rel=1e-15)
    devs = []
    for g in (1, 4, 16, 64, 256):
        w = batch_norm.batch_std_weight(m, p, [p] * (g - 1), eps=eps)
        devs.append(abs(w / limit - 1.0))
    assert all(a > b for a, b in itertools.pairwise(devs))
    assert devs[-1] < 2e-3
    # O(1/G): the deviation shrinks about 4x per 4x larger batch
    assert 2.5 < devs[-2] / devs[-1] < 6.0
    # at G = 1 it is GRPO (Bessel std), far from the large-batch constant
    assert devs[0] > 0.1


def test_large_batch_weight_is_flat_in_p():
    # the large-batch objective is p (mean-baseline direction) for every prompt, whatever p_x
    m, eps = 4, 1e-4
    others = np.tile([0.2, 0.5, 0.8], 100)
    limit = batch_norm.batch_std_limit_weight(m, float(np.mean(others)), eps=eps)
    for p in (0.05, 0.5, 0.95):
        w = batch_norm.batch_std_weight(m, p, others, eps=eps)
        assert w == pytest.approx(limit, rel=5e-3)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: batch_norm.batch_std_tables(4, [0.2], std="batch"), "std='batch'"),
        (lambda: batch_norm.batch_std_tables(4, [0.2], eps=-1.0), "eps=-1.0"),
        (lambda: batch_norm.batch_std_tables(0, [0.2]), "group_size=0"),
        (lambda: batch_norm.batch_std_weights(4, [0.2, 1.5]), "p_batch=1.5"),
        (lambda: batch_norm.batch_std_weight(4, 0.3, [-0.1]), "p_others=-0.1"),
        (lambda: batch_norm.batch_std_weight(4, 1.3, [0.1]), "p=1.3"),
        (lambda: batch_norm.batch_std_limit_weight(4, 0.0, eps=0.0), "p_mean=0.0"),
    ],
)
def test_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()
