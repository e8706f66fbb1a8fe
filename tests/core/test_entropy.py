"""Entropy bonuses (issue 24 item 5): the exact expected update of the entropy term against brute
force over every batch of responses (the trainers' own aggregation rules, written out here) and
JAX autodiff of the trainers' loss; ``entropy_equilibrium`` by hand, against its stationarity
rule and the KL equilibrium with a uniform reference. NumPy float64 references."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlxform.core import entropy as ent
from rlxform.core import schemes
from rlxform.core.bernstein import bernstein
from rlxform.core.kl import kl_equilibrium
from rlxform.core.sequences import (
    SequenceTask,
    enumerate_sequences,
    num_prefixes,
    prefix_indices,
    response_log_probs,
    tilted_logits,
)
from rlxform.validation import InputError

TASK = SequenceTask(3, 3, "first_token")  # 7 prefixes, 15 responses of lengths 1..3


def _table(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(num_prefixes(TASK), TASK.vocab_size))


def _visits() -> np.ndarray:
    """visits[y, n] = how often response y draws a token at prefix n (0 or 1)."""
    prefixes = prefix_indices(TASK)
    out = np.zeros((prefixes.shape[0], num_prefixes(TASK)))
    for y, row in enumerate(prefixes):
        for n in row[row >= 0]:
            out[y, n] += 1.0
    return out


def _agg_weights(mode: str, visits: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """d(aggregated entropy)/dH_n of one batch ``[..., B, N_pre]`` by verl's ``agg_loss``
    (core_algos.py:1170-1202 in 0.9.1): token-mean = all tokens / their count; seq-mean-token-sum
    = mean over sequences of token sums; seq-mean-token-mean = mean of per-sequence token means;
    seq-mean-token-sum-norm = seq-mean-token-sum / max_length."""
    if mode == "token-mean":
        return visits.sum(-2) / lengths.sum(-1)[..., None]
    if mode == "seq-mean-token-mean":
        return (visits / lengths[..., None]).mean(-2)
    scale = 1.0 / TASK.max_length if mode == "seq-mean-token-sum-norm" else 1.0
    return scale * visits.mean(-2)


def _outcomes(batch: int):
    enum = enumerate_sequences(TASK)
    n = enum.lengths.shape[0]
    outcomes = np.array(list(itertools.product(range(n), repeat=batch)))  # [O, B]
    return outcomes, enum.lengths[outcomes].astype(np.float64)


def test_entropy_by_hand_and_its_gradient_by_finite_differences():
    np.testing.assert_allclose(ent.entropy(np.zeros(5)), np.log(5), rtol=1e-15)
    p = 0.3
    two = np.log([p, 1 - p])
    np.testing.assert_allclose(ent.entropy(two), -p * np.log(p) - (1 - p) * np.log(1 - p))
    z = _table(1)
    grad = ent.entropy_logit_gradient(z)
    h = 1e-6
    for j in range(z.shape[-1]):
        dz = np.zeros_like(z)
        dz[:, j] = h
        fd = (ent.entropy(z + dz) - ent.entropy(z - dz)) / (2 * h)
        np.testing.assert_allclose(grad[:, j], fd, atol=1e-9)
    np.testing.assert_allclose(grad.sum(-1), 0.0, atol=1e-15)  # invariant to a common shift


def test_subtree_sums_count_every_response_through_each_prefix():
    weights = np.random.default_rng(2).random(TASK.num_sequences)
    np.testing.assert_allclose(ent.subtree_sums(weights, TASK), weights @ _visits(), rtol=1e-14)
    u = ent.subtree_sums(np.exp(response_log_probs(_table(), TASK)), TASK)
    assert u[0] == pytest.approx(1.0, abs=1e-15)  # every response is drawn through the root


@pytest.mark.parametrize(
    "mode,groups,group_size",
    [
        ("seq-mean-token-sum", 1, 2),
        ("seq-mean-token-mean", 1, 3),
        ("seq-mean-token-sum-norm", 1, 2),
        ("token-mean", 1, 3),
        ("token-mean", 2, 2),
    ],
)
def test_expected_update_equals_brute_force_over_every_batch(mode, groups, group_size):
    table = _table(3)
    probs = np.exp(response_log_probs(table, TASK))
    outcomes, lengths = _outcomes(groups * group_size)
    prob = np.prod(probs[outcomes], axis=-1)  # [O]
    visits = _visits()[outcomes]  # [O, B, N_pre]
    per_batch = _agg_weights(mode, visits, lengths)  # [O, N_pre]
    u_brute = prob @ per_batch
    np.testing.assert_allclose(
        ent.prefix_weights(mode, group_size, table, TASK, batch_groups=groups), u_brute, rtol=1e-12
    )
    coef = 0.37
    expected = coef * u_brute[:, None] * ent.entropy_logit_gradient(table)
    got = ent.expected_entropy_update(mode, group_size, coef, table, TASK, batch_groups=groups)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    h_brute = prob @ (per_batch @ ent.entropy(table))  # E[agg H], the value
    assert float(ent.expected_entropy(mode, group_size, table, TASK, batch_groups=groups)) == (
        pytest.approx(h_brute, rel=1e-12)
    )


@pytest.mark.parametrize("mode", ["seq-mean-token-mean", "token-mean"])
def test_expected_update_equals_autodiff_of_the_trainers_loss(x64, mode):
    # the loss written as verl writes it (entropy_from_logits = logsumexp - sum softmax * logits
    # per token, agg_loss, minus coef), differentiated by JAX with the batch's probability held
    # fixed, summed over every batch of M = 3 responses
    table = _table(4)
    group_size, coef = 3, 0.5
    probs = np.exp(response_log_probs(table, TASK))
    outcomes, lengths = _outcomes(group_size)
    prob = np.prod(probs[outcomes], axis=-1)
    prefixes = prefix_indices(TASK)[outcomes]  # [O, M, L]
    live = prefixes >= 0

    def loss(z):
        rows = z[np.where(live, prefixes, 0)]  # [O, M, L, V]
        tokens = jax.scipy.special.logsumexp(rows, -1) - jnp.sum(
            jax.nn.softmax(rows, -1) * rows, -1
        )
        tokens = jnp.where(live, tokens, 0.0)
        if mode == "token-mean":
            agg = tokens.sum((-2, -1)) / lengths.sum(-1)
        else:
            agg = (tokens.sum(-1) / lengths).mean(-1)
        return jnp.sum(prob * (0.0 - coef * agg))  # the trainers' loss: policy - coef * H

    descent = np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(table)))
    got = ent.expected_entropy_update(mode, group_size, coef, table, TASK)
    np.testing.assert_allclose(-descent, got, rtol=1e-11, atol=1e-14)


def test_bandit_update_is_the_gradient_of_c_times_entropy(x64):
    logits = np.array([[0.3, -1.0, 0.5, 0.0], [2.0, 0.0, 0.0, -0.5]])
    coef = 0.2
    auto = jax.jit(jax.grad(lambda z: coef * jnp.sum(ent.entropy(z))))(jnp.asarray(logits))
    one_token = SequenceTask(4, 1, "first_token")  # a bandit: one prefix, K = V responses
    for mode in ("seq-mean-token-sum", "seq-mean-token-mean", "token-mean"):
        got = ent.expected_entropy_update(mode, 4, coef, logits[:, None, :], one_token)
        np.testing.assert_allclose(got[:, 0], np.asarray(auto), rtol=1e-13, atol=1e-16)


def test_the_update_is_not_the_gradient_of_the_expected_aggregate(x64):
    # grad E[agg H] adds sum_n H_n grad u_n (the visitation's score-function term), which no
    # trainer computes: on sequences the two differ; what remains is that term exactly
    table = _table(5)
    task = TASK

    def weights_of(z):
        probs = jnp.exp(response_log_probs(z, task))
        return ent.subtree_sums(probs / jnp.asarray(enumerate_sequences(task).lengths), task)

    def aggregate(z):  # E[seq-mean-token-mean H] = sum_n u_n(z) H_n(z)
        return jnp.sum(weights_of(z) * ent.entropy(z))

    full = np.asarray(jax.jit(jax.grad(aggregate))(jnp.asarray(table)))
    update = ent.expected_entropy_update("seq-mean-token-mean", 4, 1.0, table, task)
    fixed_h = ent.entropy(table)
    score = np.asarray(jax.jit(jax.grad(lambda z: jnp.sum(weights_of(z) * fixed_h)))(table))
    assert np.abs(full - update).max() > 1e-2
    np.testing.assert_allclose(full - update, score, atol=1e-12)


# ---- the equilibrium -----------------------------------------------------------------------------


@pytest.mark.parametrize("coef", [0.1, 0.5, 1.0, 3.0])
def test_reinforce_equilibrium_in_closed_form(coef):
    # w_M = 1: logit p* = 1 / c (two answers); K = 5, C = 2: logit p* = log(2/3) + 1/c
    assert ent.entropy_equilibrium("reinforce", 8, coef) == pytest.approx(
        1 / (1 + np.exp(-1 / coef)), abs=1e-13
    )
    want = 1 / (1 + np.exp(-(np.log(2 / 3) + 1 / coef)))
    got = ent.entropy_equilibrium("reinforce", 8, coef, init_p=0.9, num_responses=5, num_correct=2)
    assert got == pytest.approx(want, abs=1e-13)


@pytest.mark.parametrize("scheme", [schemes.grpo(), schemes.get("rejection_sampling")])
@pytest.mark.parametrize("group_size", [4, 16])
def test_equilibrium_solves_its_stationarity_rule_and_is_the_uniform_kl_root(scheme, group_size):
    coef = 0.7
    coefficients = scheme.coefficients(group_size)
    p = ent.entropy_equilibrium(scheme, group_size, coef)
    residual = bernstein(coefficients, p) - coef * np.log(p / (1 - p))
    assert abs(residual) < 1e-9
    # c H = c log 2 - c KL(pi || uniform): from p_ref = 0.5 the reverse-KL root (k2 on a bandit)
    same = kl_equilibrium(scheme, group_size, coef, 0.5, estimator="k2", placement="loss")
    assert p == pytest.approx(same, abs=1e-10)
    # a start above the root comes down to it (the first root below)
    assert ent.entropy_equilibrium(scheme, group_size, coef, init_p=0.999) == pytest.approx(
        p, abs=1e-10
    )


def test_zero_coefficient_is_ascent_on_h_m_alone():
    assert ent.entropy_equilibrium("grpo", 8, 0.0) == 1.0
    assert ent.entropy_equilibrium("reinforce", 8, 0.0, init_p=0.2) == 1.0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"coef": -0.1}, r"coef=-0.1 is invalid: must be a finite number in \[0, inf\)"),
        ({"coef": float("nan")}, r"coef=nan is invalid"),
        ({"coef": float("inf")}, r"coef=inf is invalid"),
        ({"coef": 0.1, "init_p": 1.0}, r"init_p=1.0 is invalid"),
        ({"coef": 0.1, "num_responses": 1}, r"num_responses=1 is invalid"),
        ({"coef": 0.1, "num_correct": 2}, r"num_correct=2 is invalid"),
        ({"coef": 0.1, "scheme": "nope"}, r"nope"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    args = {"scheme": "grpo", "group_size": 8, **kwargs}
    with pytest.raises(InputError, match=match):
        ent.entropy_equilibrium(args.pop("scheme"), args.pop("group_size"), **args)


def test_bad_sequence_input_names_the_argument():
    table = tilted_logits(TASK, [0.3])[0]
    with pytest.raises(InputError, match="aggregation='mean'"):
        ent.prefix_weights("mean", 4, table, TASK)
    with pytest.raises(InputError, match=r"logits with shape \(7, 4\)"):
        ent.prefix_weights("token-mean", 4, np.zeros((7, 4)), TASK)
    with pytest.raises(InputError, match="coef=-1"):
        ent.expected_entropy_update("token-mean", 4, -1.0, table, TASK)
    with pytest.raises(InputError, match="task="):
        ent.prefix_weights("token-mean", 4, table, "first_token")
