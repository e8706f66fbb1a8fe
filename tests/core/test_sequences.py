"""The prefix tree once (``rlxform.core.sequences``): tasks, enumeration, log-probs, length
statistics, the tilted start, the exact expected update and the length drift (SPEC section 8).

Routes that must agree: hand-computed cases; a token-by-token walk of the tree; brute force over
every batch of responses; JAX autodiff of the same formulas (jax.numpy, float64) against the
NumPy closed forms; finite differences; the Bernstein weight w_M(p) grad p for f = 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sequence_brute import brute_update, walk_log_probs

from rlxform.core import schemes
from rlxform.core import sequences as sq
from rlxform.core.objective import transform
from rlxform.core.sequences import SequenceTask, enumerate_sequences

AGGS = sq.AGGREGATIONS
SMALL = SequenceTask(3, 3, "parity")  # 15 responses, 7 prefixes: 21 parameters
TASKS = [
    SequenceTask(4, 5, "first_token"),
    SequenceTask(3, 4, "parity"),
    SequenceTask(3, 4, "match:0,1,0"),
    SequenceTask(2, 6, lambda tokens, length: bool(length % 2 == 0)),
]


def _table(task, seed, prompts=(), scale=1.0):
    rng = np.random.default_rng(seed)
    return scale * rng.standard_normal((*prompts, sq.num_prefixes(task), task.vocab_size))


# ---- tasks and enumeration ---------------------------------------------------------------------


def test_enumeration_hand_case():
    enum = enumerate_sequences(SequenceTask(3, 2, "first_token"))
    pad = sq.PAD
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
        assert np.all(row[length:] == sq.PAD)
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


# ---- the prefix tree ---------------------------------------------------------------------------


def test_prefix_indices_and_tokens_hand_case():
    task = SequenceTask(3, 2, "first_token")
    assert sq.num_prefixes(task) == 3
    pad = sq.PAD
    # responses: [stop], [0 stop], [1 stop], [0 0], [0 1], [1 0], [1 1]; prefix "0" is 1, "1" is 2
    want = [[0, pad], [0, 1], [0, 2], [0, 1], [0, 1], [0, 2], [0, 2]]
    np.testing.assert_array_equal(sq.prefix_indices(task), want)
    tokens, lengths = sq.prefix_tokens(SequenceTask(3, 3))
    np.testing.assert_array_equal(lengths, [0, 1, 1, 2, 2, 2, 2])
    np.testing.assert_array_equal(
        tokens[:, :2], [[pad, pad], [0, pad], [1, pad], [0, 0], [0, 1], [1, 0], [1, 1]]
    )


@pytest.mark.parametrize("task", [SMALL, SequenceTask(2, 2), SequenceTask(4, 1), *TASKS[:2]])
def test_log_probs_and_stats_against_the_tree_walk(task):
    table = _table(task, 1, prompts=(2,))
    want = walk_log_probs(table, task)
    np.testing.assert_allclose(sq.response_log_probs(table, task), want, rtol=0, atol=1e-12)
    tokens, live = sq.token_log_probs(table, task)  # the gather route (per token)
    np.testing.assert_allclose(tokens.sum(-1), want, rtol=0, atol=1e-12)
    assert np.all(tokens[:, ~live] == 0.0)
    enum = enumerate_sequences(task)
    probs = np.exp(want)
    p = (probs * enum.correct).sum(-1)
    stats = sq.length_stats(table, task)
    np.testing.assert_allclose(stats[0], p, rtol=0, atol=1e-14)
    np.testing.assert_allclose(
        stats[1], (probs * enum.correct) @ enum.lengths / p, rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        stats[2], (probs * ~enum.correct) @ enum.lengths / (1 - p), rtol=0, atol=1e-12
    )
    # the simulator evaluates the same formulas in jax.numpy (float32)
    traced = jax.jit(lambda x: (sq.response_log_probs(x, task), sq.length_stats(x, task)[0]))
    got, got_p = traced(jnp.asarray(table, jnp.float32))
    assert isinstance(got, jax.Array) and got.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=2e-5)
    np.testing.assert_allclose(np.asarray(got_p), p, rtol=0, atol=1e-6)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: str(t.verifier)[:12])
def test_tilted_start_gives_requested_p(task):
    init_p = np.array([0.01, 0.3, 0.5, 0.97])
    logits = sq.tilted_logits(task, init_p)
    assert logits.shape == (4, sq.num_prefixes(task), task.vocab_size)
    assert logits.dtype == np.float64
    log_pi = sq.response_log_probs(logits, task)
    np.testing.assert_allclose(np.exp(log_pi).sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(sq.length_stats(logits, task)[0], init_p, atol=1e-12)
    # the tilt of uniform continuations: pi(y) / V^-L(y) is p/p0 or (1-p)/(1-p0)
    enum = enumerate_sequences(task)
    ratio = np.exp(log_pi) * float(task.vocab_size) ** enum.lengths
    for row in ratio:
        assert np.ptp(row[enum.correct]) < 1e-9 and np.ptp(row[~enum.correct]) < 1e-9


def test_first_token_start_tilts_only_the_root():
    task = SequenceTask(4, 3, "first_token")
    logits = sq.tilted_logits(task, [0.3])[0]
    probs = np.exp(logits)
    np.testing.assert_allclose(probs[0], [0.3, 0.7 / 3, 0.7 / 3, 0.7 / 3], atol=1e-14)
    np.testing.assert_allclose(probs[1:], 0.25, atol=1e-14)


def test_score_gradient_is_autodiff_of_the_log_probs(x64):
    """The NumPy closed form (visit masses minus softmax) against jax.grad of the jax.numpy
    evaluation of the same log-probs, per response and per token."""
    task = SMALL
    table = _table(task, 2)
    rng = np.random.default_rng(3)
    weights = rng.standard_normal(task.num_sequences)
    auto = jax.jit(jax.grad(lambda x: jnp.sum(weights * sq.response_log_probs(x, task))))(table)
    np.testing.assert_allclose(sq.score_gradient(table, weights, task), auto, atol=1e-13)
    per_token = rng.standard_normal((task.num_sequences, task.max_length))
    auto = jax.jit(jax.grad(lambda x: jnp.sum(per_token * sq.token_log_probs(x, task)[0])))(table)
    np.testing.assert_allclose(sq.score_gradient(table, per_token, task), auto, atol=1e-13)


# ---- the exact expected update and its objectives ----------------------------------------------


def _log_prob_jacobian(table, task):
    """d log pi(y) / d table by JAX autodiff: ``float64[N, num_prefixes V]``."""
    with jax.enable_x64(True):
        jac = jax.jit(jax.jacobian(lambda x: sq.response_log_probs(x, task)))(jnp.asarray(table))
    return np.asarray(jac).reshape(task.num_sequences, -1)


@pytest.mark.parametrize("agg, groups", [(a, 1) for a in AGGS] + [("token-mean", 2)])
def test_expected_update_matches_brute_force(agg, groups):
    task = SequenceTask(2, 3, "parity")  # responses: stop, 0 stop, 0 0 stop, 0 0 0
    scheme, m = schemes.grpo("sample", 1e-6), 3 if groups == 1 else 2
    logits = np.array([[0.2, -0.1], [0.4, 0.3], [-0.5, 0.1]])
    enum = enumerate_sequences(task)
    probs = np.exp(walk_log_probs(logits, task))
    grads = _log_prob_jacobian(logits, task)
    want = brute_update(
        agg, *scheme.tables(m), m, groups, 3, probs, enum.lengths, enum.correct, grads
    )
    got = sq.UpdateRule(scheme, agg, m, batch_groups=groups).expected_update(logits, task)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    np.testing.assert_allclose(got.reshape(-1), want, rtol=0, atol=1e-12)
    assert np.abs(want).max() > 1e-3


def _jacobian_fd(field, x, step=1e-6):
    """d field / d x by central differences: ``float64[D, D]`` (D = x.size)."""
    cols = []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = step
        up, down = (
            field((x.reshape(-1) + e).reshape(x.shape)),
            field((x.reshape(-1) - e).reshape(x.shape)),
        )
        cols.append((up - down).reshape(-1) / (2 * step))
    return np.stack(cols, axis=1)


def _asymmetry(jacobian):
    return float(np.abs(jacobian - jacobian.T).max() / np.abs(jacobian).max())


def test_objectives_of_the_modes(x64):
    """seq-mean-token-sum(-norm) ascend h_M(p) (/ max_length); REINFORCE under 1/L ascends
    E[r/L]; GRPO under 1/L and every token-mean field have a non-symmetric Jacobian."""
    logits = _table(SMALL, 4, scale=0.5)
    grpo, m = schemes.grpo("sample", 1e-6), 4
    h = transform(grpo, m).objective
    grad_h = jax.jit(jax.grad(lambda x: h(sq.length_stats(x, SMALL)[0])))(logits)
    for agg, scale in [("seq-mean-token-sum", 1.0), ("seq-mean-token-sum-norm", 1 / 3)]:
        got = sq.UpdateRule(grpo, agg, m).expected_update(logits, SMALL)
        np.testing.assert_allclose(got, scale * np.asarray(grad_h), atol=1e-12)
    enum = enumerate_sequences(SMALL)
    reward_over_length = lambda x: jnp.sum(
        jnp.exp(sq.response_log_probs(x, SMALL)) * enum.correct / enum.lengths
    )
    got = sq.UpdateRule(schemes.reinforce(), "seq-mean-token-mean", m).expected_update(
        logits, SMALL
    )
    np.testing.assert_allclose(got, jax.jit(jax.grad(reward_over_length))(logits), atol=1e-12)

    def asymmetry(scheme, agg):
        field = lambda x: sq.UpdateRule(scheme, agg, m).expected_update(x, SMALL)
        return _asymmetry(_jacobian_fd(field, logits))

    assert asymmetry(grpo, "seq-mean-token-sum") < 1e-6  # finite differences: ~1e-9
    assert asymmetry(schemes.reinforce(), "seq-mean-token-mean") < 1e-6
    assert asymmetry(grpo, "seq-mean-token-mean") > 1e-3
    assert asymmetry(grpo, "token-mean") > 1e-3
    assert asymmetry(schemes.reinforce(), "token-mean") > 1e-3


# ---- the length drift --------------------------------------------------------------------------


def test_length_drift_first_token(x64):
    """Dr. GRPO's observation: under 1/L wrong answers lengthen; constant normalisers do not."""
    task = SequenceTask(3, 4, "first_token")
    grpo, m, p = schemes.grpo("sample", 1e-6), 6, 0.3
    drift = {a: sq.UpdateRule(grpo, a, m).length_drift(task, p) for a in AGGS}
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
    # G groups sharing the token-mean normaliser damp the own-length effect further
    two = sq.UpdateRule(grpo, "token-mean", m, batch_groups=2).length_drift(task, p)
    assert 0 < two.drift_wrong < tok.drift_wrong
    assert all(isinstance(v, float) for v in two)


@pytest.mark.parametrize("agg, groups", [("seq-mean-token-mean", 1), ("token-mean", 2)])
def test_length_drift_is_the_jvp_of_the_length_stats(x64, agg, groups):
    """The NumPy closed form against jax.jvp of the jax.numpy length statistics and against
    central finite differences, along E[g] and along grad p."""
    task, grpo, m, p = SMALL, schemes.grpo("sample", 1e-6), 4, 0.4
    d = sq.UpdateRule(grpo, agg, m, batch_groups=groups).length_drift(task, p)
    logits = sq.tilted_logits(task, [p])[0]
    update = sq.UpdateRule(grpo, agg, m, batch_groups=groups).expected_update(logits, task)
    stats = lambda x: jnp.stack(sq.length_stats(x, task))
    rates = jax.jit(lambda x, u: jax.jvp(stats, (x,), (u,))[1])
    along = rates(jnp.asarray(logits), jnp.asarray(update))
    np.testing.assert_allclose([d.drift_p, d.drift_correct, d.drift_wrong], along, rtol=1e-12)
    grad_p = jax.jit(jax.grad(lambda x: sq.length_stats(x, task)[0]))(jnp.asarray(logits))
    along = rates(jnp.asarray(logits), grad_p)
    want = [d.drift_p_grad_p, d.drift_correct_grad_p, d.drift_wrong_grad_p]
    np.testing.assert_allclose(want, along, rtol=1e-12, atol=1e-14)
    step = 1e-5
    hi = np.array(sq.length_stats(logits + step * update, task))
    lo = np.array(sq.length_stats(logits - step * update, task))
    fd = (hi - lo) / (2 * step)
    np.testing.assert_allclose([d.drift_p, d.drift_correct, d.drift_wrong], fd, rtol=1e-6)
    assert d.drift_wrong != 0.0


def test_bad_input():
    task = SequenceTask(3, 2, "first_token")
    with pytest.raises(ValueError, match=r"init_p=1.0"):
        sq.tilted_logits(task, [0.5, 1.0])
    with pytest.raises(ValueError, match=r"verifier=.*every response correct"):
        sq.tilted_logits(SequenceTask(3, 2, lambda t, n: True), [0.5])
    with pytest.raises(ValueError, match="logits with shape"):
        sq.UpdateRule(schemes.grpo(), "token-mean", 2).expected_update(np.zeros((4, 3)), task)
    with pytest.raises(ValueError, match="scheme="):
        sq.UpdateRule("grpo", "token-mean", 2).expected_update(np.zeros((3, 3)), task)
    with pytest.raises(ValueError, match="batch_groups=0"):
        sq.UpdateRule(schemes.grpo(), "token-mean", 2, batch_groups=0).length_drift(task, 0.3)
    with pytest.raises(ValueError, match=r"p=0.0"):
        sq.UpdateRule(schemes.grpo(), "token-mean", 2).length_drift(task, 0.0)
    with pytest.raises(ValueError, match="task="):
        sq.UpdateRule(schemes.grpo(), "token-mean", 2).length_drift("first_token", 0.3)


def test_update_rule_is_a_validated_hashable_record():
    """Equal inputs make equal, hashable rules, the aggregation in its canonical spelling; a
    group size the scheme does not allow is refused at construction, by name."""
    rule = sq.UpdateRule(schemes.grpo(), "trl:dapo", 4, batch_groups=2)
    same = sq.UpdateRule(schemes.grpo(), "token-mean", 4, batch_groups=2)
    assert rule.aggregation == "token-mean" and rule == same and hash(rule) == hash(same)
    assert rule != sq.UpdateRule(schemes.grpo(), "token-mean", 4)
    with pytest.raises(ValueError, match=r"group_size=1 is invalid for scheme grpo.*>= 2"):
        sq.UpdateRule(schemes.grpo(), "token-mean", 1)


def test_length_drift_runs_without_jax():
    """``rlxform explain`` asks ``UpdateRule.length_drift``: the sequence core imports and runs
    no JAX."""
    import subprocess
    import sys

    code = (
        "import sys; from rlxform.core import schemes, sequences as sq; "
        "task = sq.SequenceTask(4, 8, 'first_token'); "
        "rule = sq.UpdateRule(schemes.get('grpo'), 'token-mean', 8, batch_groups=2); "
        "d = rule.length_drift(task, 0.3); "
        "assert 0 < d.drift_wrong < 1, d; assert 'jax' not in sys.modules, 'jax imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
