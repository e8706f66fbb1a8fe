"""Sequence tasks, loss aggregation and tabular sequence policies (SPEC section 8).

Routes that must agree: hand-computed cases; brute force over every batch of responses (all
N^(G M) of them) for the expected weights and the expected update; the R-A identity through
jax.grad; the Bernstein weight w_M(p) grad p for f = 1; scipy's chi-square for the sampler;
finite differences for the length drift.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from rlxform.core import schemes
from rlxform.core.objective import transform
from rlxform.sim import sequences
from rlxform.sim.sequences import SequenceTask, enumerate_sequences

AGGS = sequences.AGGREGATIONS
KEY = jax.random.key(0)


# ---- brute force -------------------------------------------------------------------------------


def _factor(agg, lengths_batch, max_length, group_size):
    """f for every sample of every batch: ``lengths_batch int[B, G M]`` -> ``float[B, G M]``."""
    lengths_batch = lengths_batch.astype(np.float64)
    if agg == "seq-mean-token-sum":
        return np.ones_like(lengths_batch)
    if agg == "seq-mean-token-mean":
        return 1.0 / lengths_batch
    if agg == "seq-mean-token-sum-norm":
        return np.full_like(lengths_batch, 1.0 / max_length)
    total = lengths_batch.sum(-1, keepdims=True)
    return np.broadcast_to(lengths_batch.shape[-1] / total, lengths_batch.shape)


def _batches(agg, a_table, b_table, m, g, max_length, probs, lengths, correct):
    """Every batch of G groups of M responses: (prob float[B], index int[B, M], f Z float[B, M]).

    Only group 1's samples carry a weight; the other G-1 groups enter through the token-mean
    normaliser alone.
    """
    n = probs.shape[0]
    index = np.array(list(itertools.product(range(n), repeat=g * m)), np.int64)
    prob = probs[index].prod(-1)
    factor = _factor(agg, lengths[index], max_length, m)[:, :m]
    rewards = correct[index[:, :m]]
    s = rewards.sum(-1, keepdims=True)
    z = np.where(rewards, a_table[s], b_table[s])
    return prob, index[:, :m], factor * z


def brute_weights(agg, a_table, b_table, m, g, max_length, probs, lengths, correct):
    """omega(y) = E[f_1 Z_1 | y_1 = y] by conditioning every batch on its first sample."""
    prob, index, fz = _batches(agg, a_table, b_table, m, g, max_length, probs, lengths, correct)
    out = np.zeros(probs.shape[0])
    np.add.at(out, index[:, 0], prob * fz[:, 0])
    return out / probs


def brute_update(agg, a_table, b_table, m, g, max_length, probs, lengths, correct, grads):
    """E[(1/M) sum_i f_i Z_i grad log pi(y_i)] over every batch; ``grads float[N, D]``."""
    prob, index, fz = _batches(agg, a_table, b_table, m, g, max_length, probs, lengths, correct)
    per_batch = np.einsum("bm,bmd->bd", fz, grads[index]) / m
    return prob @ per_batch


CATALOG = [(name, {}) for name in schemes.names() if name not in ("custom", "designed")] + [
    ("grpo", {"std": "sample", "eps": 1e-6}),
    ("pass_at_k", {"k": 2}),
    ("f_grpo", {"gamma": 2.0, "std": "sample", "eps": 1e-4}),
    ("w_reinforce", {"lam": 0.3}),
]
PROBS = np.array([0.1, 0.35, 0.2, 0.35])
LENGTHS = np.array([1, 3, 2, 3])
CORRECT = np.array([True, False, False, True])


# ---- tasks and enumeration ---------------------------------------------------------------------


def test_enumeration_hand_case():
    enum = enumerate_sequences(SequenceTask(3, 2, "first_token"))
    pad = sequences.PAD
    expected = [[2, pad], [0, 2], [1, 2], [0, 0], [0, 1], [1, 0], [1, 1]]
    np.testing.assert_array_equal(enum.tokens, expected)
    np.testing.assert_array_equal(enum.lengths, [1, 2, 2, 2, 2, 2, 2])
    np.testing.assert_array_equal(enum.correct, [0, 1, 0, 1, 1, 0, 0])
    assert enum.tokens.dtype == np.int32 and enum.lengths.dtype == np.int32
    assert pad == -1


@pytest.mark.parametrize("vocab, max_length", [(2, 1), (2, 5), (3, 3), (4, 4), (5, 2)])
def test_enumeration_is_every_response_once(vocab, max_length):
    task = SequenceTask(vocab, max_length, "first_token")
    enum = enumerate_sequences(task)
    stop = vocab - 1
    n = sum((vocab - 1) ** k for k in range(max_length)) + (vocab - 1) ** max_length
    assert enum.tokens.shape == (n, max_length) == (task.num_sequences, max_length)
    assert len({tuple(row) for row in enum.tokens.tolist()}) == n
    for row, length in zip(enum.tokens, enum.lengths, strict=True):
        body = row[:length]
        assert np.all(row[length:] == sequences.PAD)
        assert np.all(body[:-1] != stop) and np.all(body >= 0)
        assert body[-1] == stop or length == max_length  # stopped, or truncated at the cap


def test_named_verifiers_by_hand():
    enum = enumerate_sequences(SequenceTask(3, 3, "parity"))
    rows = {
        tuple(r[:n]): c
        for r, n, c in zip(enum.tokens.tolist(), enum.lengths, enum.correct, strict=True)
    }
    assert rows[(0, 2)] and rows[(0, 0, 0)] is np.False_  # truncated: never correct
    assert not rows[(2,)] and not rows[(0, 0, 2)] and rows[(1, 0, 2)] and not rows[(1, 1, 2)]
    enum = enumerate_sequences(SequenceTask(3, 4, "match:0,1,0"))
    correct = [
        tuple(r[:n])
        for r, n, c in zip(enum.tokens.tolist(), enum.lengths, enum.correct, strict=True)
        if c
    ]
    assert correct == [(0, 1, 0, 2)]
    enum = enumerate_sequences(SequenceTask(3, 2, "match:"))
    assert enum.correct.tolist() == [True] + [False] * 6  # only the immediate stop


def test_callable_verifier_agrees_with_named():
    def first_is_zero(tokens, length):
        assert tokens.shape == (3,) and 1 <= length <= 3
        return bool(tokens[0] == 0)

    named = enumerate_sequences(SequenceTask(4, 3, "first_token"))
    called = enumerate_sequences(SequenceTask(4, 3, first_is_zero))
    np.testing.assert_array_equal(named.correct, called.correct)


def test_bad_task_input():
    cases = [
        (dict(vocab_size=1, max_length=3), "vocab_size=1"),
        (dict(vocab_size=3, max_length=0), "max_length=0"),
        (dict(vocab_size=3, max_length=2, verifier="odd"), "verifier='odd'.*first_token, parity"),
        (dict(vocab_size=3, max_length=4, verifier="match:0,2"), "match tokens must be in"),
        (dict(vocab_size=3, max_length=2, verifier="match:0,1"), "must fit in max_length=2"),
        (dict(vocab_size=3, max_length=2, verifier="match:a"), "comma-separated integers"),
        (dict(vocab_size=3, max_length=2, verifier=3), "verifier=3"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            SequenceTask(**kwargs)
    with pytest.raises(ValueError, match=r"N=5592405 .*MAX_SEQUENCES=1048576"):
        enumerate_sequences(SequenceTask(5, 11))
    with pytest.raises(ValueError, match=r"verifier=.*raised ZeroDivisionError"):
        enumerate_sequences(SequenceTask(3, 2, lambda tokens, length: 1 / 0 > 0))
    with pytest.raises(ValueError, match=r"verifier=.*returned 1 .*must return a bool"):
        enumerate_sequences(SequenceTask(3, 2, lambda tokens, length: 1))
    with pytest.raises(ValueError, match="task="):
        enumerate_sequences((3, 2))


# ---- aggregation and expected weights ---------------------------------------------------------


def test_aggregation_names_and_aliases():
    assert sequences.check_aggregation("trl:grpo") == "seq-mean-token-mean"
    assert sequences.check_aggregation("trl:dr_grpo") == "seq-mean-token-sum-norm"
    assert sequences.check_aggregation("trl:dapo") == "token-mean"
    assert sequences.check_aggregation("trl:bnpo") == "token-mean"
    with pytest.raises(ValueError, match=r"aggregation='mean'.*token-mean.*trl:bnpo"):
        sequences.check_aggregation("mean")
    lengths = np.array([[1, 3], [2, 2]])
    got = {a: np.asarray(sequences.aggregation_factor(a, lengths, max_length=4)) for a in AGGS}
    np.testing.assert_allclose(got["seq-mean-token-sum"], 1.0)
    np.testing.assert_allclose(got["seq-mean-token-mean"], [[1.0, 1 / 3], [0.5, 0.5]])
    np.testing.assert_allclose(got["seq-mean-token-sum-norm"], 0.25)
    np.testing.assert_allclose(got["token-mean"], 0.5)  # G M / sum = 4 / 8


def test_aggregation_objective_covers_every_name():
    for name in AGGS + tuple(sequences.AGGREGATION_ALIASES):
        assert sequences.aggregation_objective(name).startswith("f = ")
    assert sequences.aggregation_objective("trl:bnpo") == sequences.aggregation_objective(
        "token-mean"
    )
    with pytest.raises(ValueError, match="aggregation="):
        sequences.aggregation_objective("seq-mean")


def test_weights_hand_cases(x64):
    # Mean baseline, M = 2, two equally likely responses: y1 correct L=1, y2 wrong L=3.
    # token-mean: the only mixed group has f = 2/4 and Z = +-1/2, reached with prob 1/2.
    mean = schemes.mean_baseline()
    args = ([0.5, 0.5], [1, 3], [True, False])
    got = sequences.sequence_weights(mean, "token-mean", 2, *args)
    np.testing.assert_allclose(got, [1 / 8, -1 / 8], rtol=0, atol=1e-15)
    # seq-mean-token-mean with REINFORCE: omega = r / L.
    got = sequences.sequence_weights(schemes.reinforce(), "trl:grpo", 4, *args)
    np.testing.assert_allclose(got, [1.0, 0.0], atol=1e-15)
    # f = 1/max_length with the mean baseline: abar = 1/2 (1 - p) ... = 1/4, bbar = -1/4.
    got = sequences.sequence_weights(mean, "seq-mean-token-sum-norm", 2, *args, max_length=5)
    np.testing.assert_allclose(got, [0.25 / 5, -0.25 / 5], atol=1e-15)
    assert got.dtype == jnp.float64


@pytest.mark.parametrize("agg, groups", [(a, 1) for a in AGGS] + [("token-mean", 2)])
@pytest.mark.parametrize("name, params", CATALOG, ids=lambda v: str(v))
def test_weights_match_brute_force(x64, name, params, agg, groups):
    scheme = schemes.get(name, **params)
    m = 3 if groups == 1 else 2
    a_table, b_table = scheme.tables(m)
    got = sequences.sequence_weights(
        scheme, agg, m, PROBS, LENGTHS, CORRECT, max_length=4, batch_groups=groups
    )
    want = brute_weights(agg, a_table, b_table, m, groups, 4, PROBS, LENGTHS, CORRECT)
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-12)


def test_token_mean_larger_batch_matches_brute_force(x64):
    scheme = schemes.grpo("sample", 1e-6)
    probs, lengths, correct = PROBS[:3] / PROBS[:3].sum(), LENGTHS[:3], CORRECT[:3]
    for m, groups in [(2, 3), (4, 2)]:
        got = sequences.sequence_weights(
            scheme, "trl:dapo", m, probs, lengths, correct, batch_groups=groups
        )
        want = brute_weights("token-mean", *scheme.tables(m), m, groups, 3, probs, lengths, correct)
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-12)


def test_weights_compile_once_per_shape():
    """Schemes are data: the weight tables are traced, so new schemes reuse one compilation."""
    from rlxform.core import aggregation

    def call(scheme):
        return sequences.sequence_weights(
            scheme, "token-mean", 5, PROBS, LENGTHS, CORRECT, max_length=7, batch_groups=3
        )

    call(schemes.rloo())
    before = aggregation._weights._cache_size()
    for scheme in (schemes.grpo(), schemes.maxrl(), schemes.pass_at_k(3), schemes.nsr()):
        call(scheme)
    assert aggregation._weights._cache_size() == before


def test_weights_jit_and_vmap_over_policies(x64):
    scheme = schemes.grpo("sample", 1e-6)
    probs = np.stack([PROBS, PROBS[::-1], np.full(4, 0.25)])
    for agg in ("seq-mean-token-mean", "token-mean"):
        fn = lambda q, agg=agg: sequences.sequence_weights(
            scheme, agg, 3, q, LENGTHS, CORRECT, max_length=4, batch_groups=2
        )
        batched = jax.jit(jax.vmap(fn))(probs)
        for row, q in zip(batched, probs, strict=True):
            np.testing.assert_allclose(row, fn(q), rtol=0, atol=1e-14)


def test_token_mean_large_batch_limit(x64):
    """As G M grows, token-mean f -> 1/E[L]: omega -> (r abar + (1-r) bbar) / E[L], error ~ 1/G."""
    scheme, m = schemes.grpo("sample", 1e-6), 4
    limit = sequences.sequence_weights(scheme, "seq-mean-token-sum", m, PROBS, LENGTHS, CORRECT)
    limit = np.asarray(limit) / (PROBS @ LENGTHS)
    errors = []
    for groups in (25, 100):
        got = sequences.sequence_weights(
            scheme, "token-mean", m, PROBS, LENGTHS, CORRECT, batch_groups=groups
        )
        errors.append(np.abs(np.asarray(got) - limit).max())
    assert errors[1] < 0.05 * np.abs(limit).max()
    assert 3.0 < errors[0] / errors[1] < 5.0  # first order in 1 / (G M)


@pytest.mark.parametrize("agg", ["seq-mean-token-sum", "seq-mean-token-mean", "trl:dr_grpo"])
@pytest.mark.parametrize("name", ["grpo", "rejection_sampling", "rloo", "maxrl"])
def test_ra_identity(x64, name, agg):
    """E[g] = abar grad E[r f(L)] + bbar grad E[(1-r) f(L)] for a softmax over 4 responses."""
    scheme, m, max_length = schemes.get(name), 3, 4
    mode = sequences.check_aggregation(agg)
    a_table, b_table = scheme.tables(m)
    logits = jnp.array([0.3, -0.2, 0.5, 0.1])
    probs = np.asarray(jax.nn.softmax(logits))
    f = np.asarray(sequences.aggregation_factor(agg, LENGTHS[None], max_length=max_length))[0]
    if mode == "seq-mean-token-sum":
        f = np.ones(4)
    p = probs[CORRECT].sum()
    pmf = scipy.stats.binom.pmf(np.arange(m), m - 1, p)
    abar, bbar = pmf @ a_table[1:], pmf @ b_table[:-1]

    def expectation(x, mask):
        return jnp.sum(jax.nn.softmax(x) * f * mask)

    ra = abar * jax.grad(expectation)(logits, CORRECT) + bbar * jax.grad(expectation)(
        logits, ~CORRECT
    )
    grads = np.eye(4) - probs  # grad_logits log softmax(y), row y
    want = brute_update(mode, a_table, b_table, m, 1, max_length, probs, LENGTHS, CORRECT, grads)
    np.testing.assert_allclose(np.asarray(ra), want, rtol=0, atol=1e-12)
    omega = sequences.sequence_weights(
        scheme, agg, m, probs, LENGTHS, CORRECT, max_length=max_length
    )
    np.testing.assert_allclose((probs * np.asarray(omega)) @ grads, want, rtol=0, atol=1e-12)
    if mode == "seq-mean-token-sum":  # f = 1: w_M(p) grad p
        grad_p = (probs * CORRECT) @ grads
        w = float(transform(scheme, m).weight(p))
        np.testing.assert_allclose(want, w * grad_p, rtol=0, atol=1e-12)


def test_bad_weight_input():
    scheme = schemes.grpo()
    args = (PROBS, LENGTHS, CORRECT)
    with pytest.raises(ValueError, match="batch_groups=0"):
        sequences.sequence_weights(scheme, "token-mean", 3, *args, batch_groups=0)
    with pytest.raises(ValueError, match="aggregation='sum'"):
        sequences.sequence_weights(scheme, "sum", 3, *args)
    with pytest.raises(ValueError, match="group_size=1"):
        sequences.sequence_weights(scheme, "token-mean", 1, *args)
    with pytest.raises(ValueError, match="lengths with range"):
        sequences.sequence_weights(scheme, "token-mean", 3, *args, max_length=2)
    with pytest.raises(ValueError, match="probs with sum"):
        sequences.sequence_weights(scheme, "token-mean", 3, PROBS * 2, LENGTHS, CORRECT)
    with pytest.raises(ValueError, match="scheme="):
        sequences.sequence_weights("grpo", "token-mean", 3, *args)


# ---- tabular policy ----------------------------------------------------------------------------


def test_prefix_indices_hand_case():
    task = SequenceTask(3, 2, "first_token")
    assert sequences.num_prefixes(task) == 3
    pad = sequences.PAD
    # responses: [stop], [0 stop], [1 stop], [0 0], [0 1], [1 0], [1 1]; prefix "0" is 1, "1" is 2
    want = [[0, pad], [0, 1], [0, 2], [0, 1], [0, 1], [0, 2], [0, 2]]
    np.testing.assert_array_equal(sequences.prefix_indices(task), want)


TASKS = [
    SequenceTask(4, 5, "first_token"),
    SequenceTask(3, 4, "parity"),
    SequenceTask(3, 4, "match:0,1,0"),
    SequenceTask(2, 6, lambda tokens, length: bool(length % 2 == 0)),
]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: str(t.verifier)[:12])
def test_init_gives_requested_p(task):
    init_p = np.array([0.01, 0.3, 0.5, 0.97])
    params = sequences.init_sequence_tabular(task, init_p)
    assert params["logits"].shape == (4, sequences.num_prefixes(task), task.vocab_size)
    assert params["logits"].dtype == jnp.float32
    with jax.enable_x64(True):
        stats = sequences.sequence_stats(jnp.asarray(params["logits"], jnp.float64), task)
        np.testing.assert_allclose(stats.p, init_p, rtol=0, atol=1e-6)
        exact = sequences.init_sequence_tabular(task, init_p, dtype=jnp.float64)["logits"]
        log_pi = sequences.sequence_log_probs(exact, task)
        np.testing.assert_allclose(jnp.exp(log_pi).sum(-1), 1.0, atol=1e-12)
        np.testing.assert_allclose(sequences.sequence_stats(exact, task).p, init_p, atol=1e-12)
        # the tilt of uniform continuations: pi(y) / V^-L(y) is p/p0 or (1-p)/(1-p0)
        enum = enumerate_sequences(task)
        ratio = np.asarray(jnp.exp(log_pi)) * float(task.vocab_size) ** enum.lengths
        for row in ratio:
            assert np.ptp(row[enum.correct]) < 1e-9 and np.ptp(row[~enum.correct]) < 1e-9


def test_first_token_init_tilts_only_the_root(x64):
    task = SequenceTask(4, 3, "first_token")
    logits = sequences.init_sequence_tabular(task, [0.3], dtype=jnp.float64)["logits"][0]
    probs = np.asarray(jax.nn.softmax(logits, -1))
    np.testing.assert_allclose(probs[0], [0.3, 0.7 / 3, 0.7 / 3, 0.7 / 3], atol=1e-14)
    np.testing.assert_allclose(probs[1:], 0.25, atol=1e-14)


def test_log_probs_and_stats_against_numpy(x64):
    task = SequenceTask(3, 4, "parity")
    logits = jax.random.normal(KEY, (2, sequences.num_prefixes(task), 3), jnp.float64)
    enum = enumerate_sequences(task)
    cond = np.asarray(jax.nn.softmax(logits, -1))
    want = np.zeros((2, enum.tokens.shape[0]))
    for i, (row, length) in enumerate(zip(enum.tokens, enum.lengths, strict=True)):
        node = 0
        for t in row[:length]:  # walk the prefix tree token by token
            want[:, i] += np.log(cond[:, node, t])
            node = 2 * node + 1 + t
    log_pi = np.asarray(sequences.sequence_log_probs(logits, task))
    np.testing.assert_allclose(log_pi, want, rtol=0, atol=1e-12)
    probs = np.exp(want)
    stats = sequences.sequence_stats(logits, task)
    p = (probs * enum.correct).sum(-1)
    np.testing.assert_allclose(stats.p, p, atol=1e-14)
    np.testing.assert_allclose(
        stats.mean_length_wrong, (probs * ~enum.correct) @ enum.lengths / (1 - p), atol=1e-12
    )
    np.testing.assert_allclose(
        stats.mean_length_correct, (probs * enum.correct) @ enum.lengths / p, atol=1e-12
    )
    entropy = -(probs * want).sum(-1)
    np.testing.assert_allclose(stats.sequence_entropy, entropy, atol=1e-12)
    # chain rule: per-token entropies summed along the path = the sequence entropy
    np.testing.assert_allclose(stats.token_entropy * stats.mean_length, entropy, atol=1e-12)


def _sample_index(task, tokens):
    """Row of the enumeration equal to each sampled row (ValueError if one is not a response)."""
    enum = enumerate_sequences(task)
    radix = (task.vocab_size + 1) ** np.arange(task.max_length)
    codes = (enum.tokens.astype(np.int64) + 1) @ radix
    order = np.argsort(codes)
    sampled = (np.asarray(tokens).astype(np.int64) + 1) @ radix
    pos = np.clip(np.searchsorted(codes[order], sampled), 0, codes.shape[0] - 1)
    if not np.all(codes[order][pos] == sampled):
        raise ValueError("a sampled row is not a valid response")
    return order[pos]


def test_sampler_matches_enumerated_distribution():
    task = SequenceTask(3, 3, "parity")
    logits = jax.random.normal(jax.random.key(1), (sequences.num_prefixes(task), 3))
    sample = sequences.sample_sequences(jax.random.key(2), logits, task, 40000)
    assert sample.tokens.shape == (40000, 3) and sample.tokens.dtype == jnp.int32
    index = _sample_index(task, sample.tokens)  # raises if a row is not a valid response
    enum = enumerate_sequences(task)
    np.testing.assert_array_equal(sample.lengths, enum.lengths[index])
    with jax.enable_x64(True):
        log_pi = np.asarray(sequences.sequence_log_probs(jnp.asarray(logits, jnp.float64), task))
    np.testing.assert_allclose(np.asarray(sample.log_probs).sum(-1), log_pi[index], atol=1e-5)
    counts = np.bincount(index, minlength=log_pi.shape[0])
    expected = np.exp(log_pi) * counts.sum()
    result = scipy.stats.chisquare(counts, expected / expected.sum() * counts.sum())
    assert result.pvalue > 1e-3, result
    # the test has power: a wrong distribution (uniform continuation) is rejected
    wrong = float(task.vocab_size) ** -enum.lengths.astype(float)
    assert scipy.stats.chisquare(counts, wrong / wrong.sum() * counts.sum()).pvalue < 1e-10


def test_sampler_vmap_jit_and_keys():
    task = SequenceTask(4, 5, "first_token")
    logits = sequences.init_sequence_tabular(task, [0.2, 0.6, 0.9])["logits"]
    policy = sequences.sequence_tabular(task)
    out = jax.jit(policy.sample, static_argnums=2)(jax.random.key(4), {"logits": logits}, 2000)
    assert out.tokens.shape == (3, 2000, 5) and out.log_probs.shape == (3, 2000, 5)
    keys = jax.random.split(jax.random.key(4), 3)  # what policy.sample does per prompt
    single = sequences.sample_sequences(keys[1], logits[1], task, 2000)
    np.testing.assert_array_equal(out.tokens[1], single.tokens)
    np.testing.assert_allclose(out.log_probs[1], single.log_probs, atol=1e-6)
    again = sequences.sample_sequences(keys[1], logits[1], task, 2000)
    np.testing.assert_array_equal(again.tokens, single.tokens)
    other = sequences.sample_sequences(keys[2], logits[1], task, 2000)
    assert not np.array_equal(other.tokens, single.tokens)
    first_zero = np.mean(np.asarray(out.tokens[..., 0]) == 0, axis=-1)
    np.testing.assert_allclose(first_zero, [0.2, 0.6, 0.9], atol=4 * np.sqrt(0.25 / 2000))


# ---- expected update, objectives, length drift -------------------------------------------------

SMALL = SequenceTask(3, 3, "parity")  # 15 responses, 7 prefixes: 21 parameters


@pytest.mark.parametrize("agg, groups", [(a, 1) for a in AGGS] + [("token-mean", 2)])
def test_expected_update_matches_brute_force(x64, agg, groups):
    task = SequenceTask(2, 3, "parity")  # responses: stop, 0 stop, 0 0 stop, 0 0 0
    scheme, m = schemes.grpo("sample", 1e-6), 3 if groups == 1 else 2
    logits = jnp.array([[0.2, -0.1], [0.4, 0.3], [-0.5, 0.1]])
    enum = enumerate_sequences(task)
    log_pi = sequences.sequence_log_probs(logits, task)
    grads = np.asarray(jax.jacobian(sequences.sequence_log_probs)(logits, task)).reshape(4, -1)
    want = brute_update(
        agg,
        *scheme.tables(m),
        m,
        groups,
        3,
        np.exp(np.asarray(log_pi)),
        enum.lengths,
        enum.correct,
        grads,
    )
    got = sequences.expected_update(scheme, agg, m, logits, task, batch_groups=groups)
    np.testing.assert_allclose(np.asarray(got).reshape(-1), want, rtol=0, atol=1e-12)


def _field(scheme, agg, m):
    return lambda x: sequences.expected_update(scheme, agg, m, x, SMALL)


def _asymmetry(jacobian):
    return float(np.abs(jacobian - jacobian.T).max() / np.abs(jacobian).max())


@pytest.mark.slow
def test_objectives_of_the_modes(x64):
    """seq-mean-token-sum(-norm) ascend h_M(p) (/ max_length); 1/L with GRPO is no gradient."""
    logits = 0.5 * jax.random.normal(KEY, (sequences.num_prefixes(SMALL), 3), jnp.float64)
    grpo, m = schemes.grpo("sample", 1e-6), 4
    h = transform(grpo, m).objective

    def objective(x):
        return h(sequences.sequence_stats(x, SMALL).p)

    for agg, scale in [("seq-mean-token-sum", 1.0), ("seq-mean-token-sum-norm", 1 / 3)]:
        got = _field(grpo, agg, m)(logits)
        np.testing.assert_allclose(got, scale * jax.grad(objective)(logits), atol=1e-12)
    enum = enumerate_sequences(SMALL)
    inv_length = 1.0 / enum.lengths

    def reward_over_length(x):  # REINFORCE: abar = 1, bbar = 0, the gradient of E[r / L]
        return jnp.sum(jnp.exp(sequences.sequence_log_probs(x, SMALL)) * enum.correct * inv_length)

    got = _field(schemes.reinforce(), "seq-mean-token-mean", m)(logits)
    np.testing.assert_allclose(got, jax.grad(reward_over_length)(logits), atol=1e-12)

    def jacobian(scheme, agg):
        flat = lambda v: _field(scheme, agg, m)(v.reshape(logits.shape)).reshape(-1)
        return np.asarray(jax.jacfwd(flat)(logits.reshape(-1)))

    assert _asymmetry(jacobian(grpo, "seq-mean-token-sum")) < 1e-10
    assert _asymmetry(jacobian(schemes.reinforce(), "seq-mean-token-mean")) < 1e-10
    assert _asymmetry(jacobian(grpo, "seq-mean-token-mean")) > 1e-3
    assert _asymmetry(jacobian(grpo, "token-mean")) > 1e-3
    assert _asymmetry(jacobian(schemes.reinforce(), "token-mean")) > 1e-3
    assert "not a gradient" in sequences.aggregation_objective("trl:grpo")
    assert "h_M(p) / max_length" in sequences.aggregation_objective("trl:dr_grpo")
    assert "gradient of h_M(p)" in sequences.aggregation_objective("seq-mean-token-sum")


def test_length_drift_first_token(x64):
    """Dr. GRPO's observation: under 1/L wrong answers lengthen; constant normalisers do not."""
    task = SequenceTask(3, 4, "first_token")
    grpo, m, p = schemes.grpo("sample", 1e-6), 6, 0.3
    drift = {a: sequences.length_drift(grpo, a, m, task, p) for a in AGGS}
    for d in drift.values():
        assert abs(d.p - p) < 1e-12
        assert abs(d.drift_correct_grad_p) < 1e-12 and abs(d.drift_wrong_grad_p) < 1e-12
    for agg in ("seq-mean-token-sum", "seq-mean-token-sum-norm"):
        assert abs(drift[agg].drift_correct) < 1e-12 and abs(drift[agg].drift_wrong) < 1e-12
    w = float(transform(grpo, m).weight(p))
    d = drift["seq-mean-token-sum"]
    np.testing.assert_allclose(d.drift_p, w * d.drift_p_grad_p, rtol=1e-12)
    np.testing.assert_allclose(drift["seq-mean-token-sum-norm"].drift_p, d.drift_p / 4, rtol=1e-12)
    inv = drift["seq-mean-token-mean"]
    assert inv.drift_wrong > 0.01 and inv.drift_correct < -0.001 and inv.drift_p > 0
    tok = drift["token-mean"]
    assert 0 < tok.drift_wrong < inv.drift_wrong and inv.drift_correct < tok.drift_correct < 0


def test_length_drift_matches_finite_differences(x64):
    task, grpo, m, p = SMALL, schemes.grpo("sample", 1e-6), 4, 0.4
    d = sequences.length_drift(grpo, "seq-mean-token-mean", m, task, p)
    logits = sequences.init_sequence_tabular(task, [p], dtype=jnp.float64)["logits"][0]
    update = sequences.expected_update(grpo, "seq-mean-token-mean", m, logits, task)
    step = 1e-5
    hi = sequences.sequence_stats(logits + step * update, task)
    lo = sequences.sequence_stats(logits - step * update, task)
    fd = [
        (getattr(hi, k) - getattr(lo, k)) / (2 * step)
        for k in ("p", "mean_length_correct", "mean_length_wrong")
    ]
    np.testing.assert_allclose([d.drift_p, d.drift_correct, d.drift_wrong], fd, rtol=1e-6)
    assert d.drift_wrong != 0.0


def test_bad_policy_input():
    task = SequenceTask(3, 2, "first_token")
    with pytest.raises(ValueError, match=r"init_p=1.0"):
        sequences.init_sequence_tabular(task, [0.5, 1.0])
    with pytest.raises(ValueError, match=r"verifier=.*every response correct"):
        sequences.init_sequence_tabular(SequenceTask(3, 2, lambda t, n: True), [0.5])
    with pytest.raises(ValueError, match="logits with shape"):
        sequences.expected_update(schemes.grpo(), "token-mean", 2, jnp.zeros((4, 3)), task)
    with pytest.raises(ValueError, match="batch_groups=0"):
        sequences.length_drift(schemes.grpo(), "token-mean", 2, task, 0.3, batch_groups=0)
    with pytest.raises(ValueError, match=r"p=0.0"):
        sequences.length_drift(schemes.grpo(), "token-mean", 2, task, 0.0)
    with pytest.raises(ValueError, match="task="):
        sequences.sequence_tabular("first_token")


@pytest.mark.slow
@pytest.mark.parametrize("agg, groups", [("seq-mean-token-mean", 1), ("token-mean", 2)])
def test_sampled_update_matches_exact_within_standard_errors(agg, groups):
    """Monte Carlo: sample batches with the sampler, weight them as a trainer would
    (scheme.advantages times aggregation_factor), average: E[g] within 5 standard errors."""
    task, m, num_batches = SMALL, 4, 20000
    scheme = schemes.grpo("sample", 1e-6)
    logits = 0.5 * jax.random.normal(jax.random.key(5), (sequences.num_prefixes(task), 3))
    draw = sequences.sample_sequences(jax.random.key(6), logits, task, num_batches * groups * m)
    index = _sample_index(task, draw.tokens).reshape(num_batches, groups, m)
    enum = enumerate_sequences(task)
    with jax.enable_x64(True):
        x = jnp.asarray(logits, jnp.float64)
        grads = np.asarray(jax.jacobian(sequences.sequence_log_probs)(x, task)).reshape(
            enum.lengths.shape[0], -1
        )
        exact = np.asarray(sequences.expected_update(scheme, agg, m, x, task, batch_groups=groups))
    rewards = enum.correct[index].astype(np.float64)
    z = np.asarray(scheme.advantages(rewards), np.float64)  # [B, G, M]
    f = np.asarray(
        sequences.aggregation_factor(agg, enum.lengths[index], max_length=task.max_length),
        np.float64,
    )
    if agg == "token-mean":  # one normaliser over the whole batch of G groups
        f = groups * m / enum.lengths[index].sum((1, 2), keepdims=True) * np.ones_like(f)
    per_batch = np.einsum("bgm,bgmd->bd", f * z, grads[index]) / (groups * m)
    mean = per_batch.mean(0)
    se = per_batch.std(0, ddof=1) / np.sqrt(num_batches)
    live = se > 0
    assert np.all(np.abs(mean - exact.reshape(-1))[live] < 5 * se[live] + 1e-9)
    assert np.all(np.abs(mean - exact.reshape(-1))[~live] < 1e-9)
    assert np.abs(exact).max() > 10 * se.max()  # the test has power: E[g] is far from 0


# ---- network policy (GRU) ----------------------------------------------------------------------


@pytest.mark.slow
def test_network_sampler_matches_its_prefix_table():
    """Token-by-token GRU sampling agrees with the exact table route (log-probs and chi-square)."""
    from rlxform.sim import sequence_network as net

    task = SequenceTask(3, 3, "parity")
    cfg = net.sequence_network(task, num_prompts=2, hidden=8)
    params = net.init_sequence_network(jax.random.key(7), cfg)
    table = net.network_logits(params, cfg)
    assert table.shape == (2, sequences.num_prefixes(task), 3)
    draw = net.sample_network_sequences(jax.random.key(8), params, cfg, 1, 20000)
    index = _sample_index(task, draw.tokens)
    with jax.enable_x64(True):
        log_pi = np.asarray(sequences.sequence_log_probs(jnp.asarray(table[1], jnp.float64), task))
    np.testing.assert_allclose(np.asarray(draw.log_probs).sum(-1), log_pi[index], atol=2e-5)
    counts = np.bincount(index, minlength=log_pi.shape[0])
    expected = np.exp(log_pi) / np.exp(log_pi).sum() * counts.sum()
    assert scipy.stats.chisquare(counts, expected).pvalue > 1e-3
    p = np.asarray(sequences.sequence_stats(table, task).p)  # the reported initial p
    assert np.all((p > 0) & (p < 1)) and abs(p[0] - p[1]) > 1e-4  # prompts differ


@pytest.mark.slow
def test_network_expected_update_is_the_chain_rule(x64):
    """Network E[g] = J^T (tabular E[g] at the network's table), and w_M(p) grad p for f = 1."""
    from rlxform.sim import sequence_network as net

    task = SequenceTask(3, 3, "parity")
    cfg = net.sequence_network(task, num_prompts=2, hidden=4)
    params = jax.tree.map(
        lambda v: v.astype(jnp.float64), net.init_sequence_network(jax.random.key(9), cfg)
    )
    grpo, m = schemes.grpo("sample", 1e-6), 4
    table, vjp = jax.vjp(lambda q: net.network_logits(q, cfg), params)
    for agg in ("seq-mean-token-mean", "token-mean"):
        got = net.network_expected_update(grpo, agg, m, params, cfg, batch_groups=2)
        tabular = sequences.expected_update(grpo, agg, m, table, task, batch_groups=2)
        (want,) = vjp(tabular)
        for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-13)
    h = transform(grpo, m).objective
    objective = lambda q: jnp.sum(h(sequences.sequence_stats(net.network_logits(q, cfg), task).p))
    got = net.network_expected_update(grpo, "seq-mean-token-sum", m, params, cfg)
    for g, w in zip(
        jax.tree.leaves(got), jax.tree.leaves(jax.grad(objective)(params)), strict=True
    ):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-13)
