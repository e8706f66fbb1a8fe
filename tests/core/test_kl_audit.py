"""KL estimator audit: exact expectations vs finite differences, autodiff and hand identities."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlxform.core import kl
from rlxform.core import kl_audit as audit
from rlxform.core import sequences as sq
from rlxform.core.sequences import SequenceTask
from rlxform.reproduce.penalties import kl_estimator_table

BANDIT = SequenceTask(5, 1)  # one prefix, five one-token responses
TREE = SequenceTask(3, 3)


def _draw(task, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    shape = (sq.num_prefixes(task), task.vocab_size)
    return scale * rng.standard_normal(shape), scale * rng.standard_normal(shape)


def _live(task):
    return sq.prefix_indices(task) >= 0


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _fd_gradient(fn, x, h=1e-6):
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (fn(up) - fn(down)) / (2 * h)
    return grad


def test_enumeration_by_hand():
    # V = 3 (token 2 stops), L = 3: nodes (), (0), (1), (00), (01), (10), (11); responses
    # 2 | 02, 12 | 002, 012, 102, 112 | and the 8 stop-free strings of length 3
    assert sq.num_prefixes(TREE) == 7
    assert _live(TREE).shape == (15, 3)
    assert sorted(_live(TREE).sum(1).tolist()) == [1] + [2] * 2 + [3] * 12
    logits, _ = _draw(TREE, 0)
    total = np.exp(audit.token_log_probs(logits, TREE).sum(-1)).sum()
    assert total == pytest.approx(1.0, abs=1e-14)
    assert sq.num_prefixes(BANDIT) == 1 and _live(BANDIT).shape == (5, 1)


@pytest.mark.parametrize("tree", [BANDIT, TREE], ids=["bandit", "sequence"])
def test_true_gradient_matches_finite_differences(tree):
    logits, ref = _draw(tree, 1)
    fd = _fd_gradient(lambda x: audit.kl_divergence(x, ref, tree), logits)
    np.testing.assert_allclose(audit.true_kl_gradient(logits, ref, tree), fd, atol=1e-8)


def _brute_force(pairs, logits, ref, tree, sampling=None):
    """Enumerate responses again, by JAX autodiff of the surrogate (independent route), for each
    (estimator, placement) of ``pairs`` in one compiled program; ``sampling``: the logits of the
    policy that sampled (None: pi itself). Returns {(estimator, placement): gradient}."""
    ref_tok = jnp.asarray(audit.token_log_probs(ref, tree))
    old_tok = None if sampling is None else jnp.asarray(audit.token_log_probs(sampling, tree))
    mask = jnp.asarray(_live(tree))
    prefix = np.where(_live(tree), sq.prefix_indices(tree), 0)
    token = np.where(_live(tree), sq.enumerate_sequences(tree).tokens, 0)

    def tok_fn(theta):
        log_probs = jax.nn.log_softmax(theta, -1)
        return jnp.where(mask, log_probs[prefix, token], 0.0)

    def surrogate(theta, estimator, placement):
        tok = tok_fn(theta)
        probs = jax.lax.stop_gradient(jnp.exp((tok if old_tok is None else old_tok).sum(-1)))
        old = None if old_tok is None else old_tok - ref_tok
        values = jnp.where(mask, kl.kl_estimate(estimator, tok - ref_tok, old), 0.0)
        if placement == "loss":
            return jnp.sum(probs * values.sum(-1))
        return jnp.sum(probs * jax.lax.stop_gradient(values.sum(-1)) * tok.sum(-1))

    def gradients(theta):
        return [jax.grad(surrogate)(theta, e, p) for e, p in pairs]

    out = jax.jit(gradients)(jnp.asarray(logits))
    return {pair: np.asarray(g) for pair, g in zip(pairs, out, strict=True)}


@pytest.mark.parametrize("tree", [BANDIT, TREE], ids=["bandit", "sequence"])
def test_expectations_match_autodiff(x64, tree):
    logits, ref = _draw(tree, 2)
    sampling = _draw(tree, 12, scale=0.5)[0]
    pairs = list(itertools.product(audit.AUDIT_ESTIMATORS, audit.AUDIT_PLACEMENTS))
    brute = _brute_force(pairs, logits, ref, tree)
    for estimator, placement in pairs:
        got = audit.expected_kl_gradient(estimator, placement, logits, ref, tree)
        want = brute[estimator, placement]
        np.testing.assert_allclose(got, want, atol=1e-13, err_msg=f"{estimator}/{placement}")
    off_policy = [(estimator, "loss") for estimator in audit.AUDIT_ESTIMATORS]
    brute = _brute_force(off_policy, logits, ref, tree, sampling)
    for estimator, placement in off_policy:  # sampled by another policy
        got = audit.expected_kl_gradient(estimator, placement, logits, ref, tree, sampling)
        want = brute[estimator, placement]
        np.testing.assert_allclose(got, want, atol=1e-13, err_msg=f"{estimator}/off-policy")


def test_bandit_identities():
    logits, ref = _draw(BANDIT, 3, scale=0.7)  # ratios within the k3 clamp
    pi, q = _softmax(logits[0]), _softmax(ref[0])
    assert np.all(np.exp(-np.log(pi / q)) + np.log(pi / q) - 1 < 10)
    truth = audit.true_kl_gradient(logits, ref, BANDIT)
    grad = lambda e, p: audit.expected_kl_gradient(e, p, logits, ref, BANDIT)
    # k2 as a loss is exact on one token: E[l grad log pi] = grad KL(pi || ref)
    np.testing.assert_allclose(grad("k2", "loss"), truth, atol=1e-15)
    np.testing.assert_allclose(grad("k1", "reward"), truth, atol=1e-15)
    # k1 as a loss: E grad log pi = 0
    np.testing.assert_allclose(grad("k1", "loss"), 0.0, atol=1e-16)
    # k3 as a loss: sum_y (pi - ref)(y) (e_y - pi) = pi - ref = grad KL(ref || pi)
    forward = lambda x: float(np.sum(q * (np.log(q) - np.log(_softmax(x[0])))))
    np.testing.assert_allclose(grad("k3", "loss")[0], pi - q, atol=1e-15)
    np.testing.assert_allclose(grad("k3", "loss"), _fd_gradient(forward, logits), atol=1e-8)
    # k3 in the reward: grad KL(pi || ref) - grad KL(ref || pi)
    np.testing.assert_allclose(grad("k3", "reward"), truth - (pi - q)[None], atol=1e-14)
    # abs as a loss: grad sum_y |pi - ref| with the signs held
    l1 = lambda x: float(np.sum(np.abs(_softmax(x[0]) - q)))
    np.testing.assert_allclose(grad("abs", "loss"), _fd_gradient(l1, logits), atol=1e-8)
    # k2 in the reward: grad (E_pi[l^2] / 2 - KL(pi || ref))
    second = lambda x: float(np.sum(_softmax(x[0]) * np.log(_softmax(x[0]) / q) ** 2) / 2)
    np.testing.assert_allclose(
        grad("k2", "reward"), _fd_gradient(second, logits) - truth, atol=1e-8
    )


def test_k3_clamp_zeroes_far_responses():
    logits = np.array([[0.0, 0.0, -4.0]])  # response 2: pi / ref ~ e^-4, k3 ~ 50 > 10: clamped
    ref = np.zeros((1, 3))
    pi, q = _softmax(logits[0]), _softmax(ref[0])
    kept = np.array([1.0, 1.0, 0.0])
    expected = ((pi - q) * kept) - np.sum((pi - q) * kept) * pi
    got = audit.expected_kl_gradient("k3", "loss", logits, ref, BANDIT_3)
    np.testing.assert_allclose(got[0], expected, atol=1e-15)
    assert np.abs(got[0] - (pi - q)).max() > 1e-3


BANDIT_3 = SequenceTask(3, 1)


def _node_probs(logits, tree):
    """P_pi(reach node s) for every node of the tree (by enumerating responses)."""
    tok = audit.token_log_probs(logits, tree)
    live, prefix = _live(tree), sq.prefix_indices(tree)
    reach = np.zeros(sq.num_prefixes(tree))
    for i in range(live.shape[0]):
        for t in range(live.shape[1]):
            if live[i, t]:
                reach[prefix[i, t]] = max(reach[prefix[i, t]], np.exp(tok[i, :t].sum()))
    return reach


def test_sequence_loss_follows_local_divergences():
    logits, ref = _draw(TREE, 4, scale=0.6)
    pi, q = _softmax(logits), _softmax(ref)
    reach = _node_probs(logits, TREE)
    assert reach[0] == 1.0
    # k2 loss: sum_s P(s) grad KL(pi(.|s) || ref(.|s)), grad_theta KL = pi (l - KL) per node
    log_ratio = np.log(pi / q)
    local_reverse = pi * (log_ratio - np.sum(pi * log_ratio, -1, keepdims=True))
    np.testing.assert_allclose(
        audit.expected_kl_gradient("k2", "loss", logits, ref, TREE),
        reach[:, None] * local_reverse,
        atol=1e-14,
    )
    # k3 loss: sum_s P(s) (pi(.|s) - ref(.|s)) = per-node forward KL gradient
    np.testing.assert_allclose(
        audit.expected_kl_gradient("k3", "loss", logits, ref, TREE),
        reach[:, None] * (pi - q),
        atol=1e-14,
    )
    # and neither is the full-sequence KL gradient (prefix probabilities are not differentiated)
    truth = audit.true_kl_gradient(logits, ref, TREE)
    assert np.abs(audit.expected_kl_gradient("k2", "loss", logits, ref, TREE) - truth).max() > 1e-3
    np.testing.assert_allclose(
        audit.expected_kl_gradient("k1", "loss", logits, ref, TREE), 0.0, atol=1e-15
    )
    np.testing.assert_allclose(
        audit.expected_kl_gradient("k1", "reward", logits, ref, TREE), truth, atol=1e-15
    )


def test_compare_by_hand():
    assert audit.compare([2.0, 0.0], [1.0, 0.0]) == (1.0, 1.0)
    cosine, rel = audit.compare([0.0, 1.0], [1.0, 0.0])
    assert cosine == 0.0 and rel == pytest.approx(np.sqrt(2.0))
    cosine, rel = audit.compare([0.0, 0.0], [1.0, 0.0])
    assert np.isnan(cosine) and rel == 1.0


def test_table_rows():
    table = kl_estimator_table(jax.random.key(0), num_draws=3)
    assert len(table["policy"]) == 2 * len(kl.ESTIMATORS) * 2
    rows = {
        (p, e, pl): i
        for i, (p, e, pl) in enumerate(
            zip(table["policy"], table["estimator"], table["placement"], strict=True)
        )
    }
    assert set(rows) == {
        (p, e, pl)
        for p in ("bandit", "sequence")
        for e in kl.ESTIMATORS
        for pl in ("loss", "reward")
    }
    err = table["relative_error"]
    for policy in ("bandit", "sequence"):
        assert err[rows[(policy, "k1", "reward")]] < 1e-12
        assert np.isnan(table["cosine"][rows[(policy, "k1", "loss")]])
        assert err[rows[(policy, "k1", "loss")]] == pytest.approx(1.0, abs=1e-12)
    assert err[rows[("bandit", "k2", "loss")]] < 1e-12
    assert err[rows[("sequence", "k2", "loss")]] > 1e-3
    assert err[rows[("bandit", "k3", "loss")]] > 1e-3
    for name in ("k3_ratio", "k1+", "k3+", "abs+", "k1_unbiased", "k2_unbiased", "k3_unbiased"):
        assert err[rows[("bandit", name, "loss")]] < 1e-12  # l grad log pi at rho = 1
        same = err[rows[("sequence", name, "loss")]] - err[rows[("sequence", "k2", "loss")]]
        assert abs(same) < 1e-12
        assert table["follows"][rows[("bandit", name, "loss")]] == "grad KL(pi||ref) (exact)"
    again = kl_estimator_table(jax.random.key(0), num_draws=3)
    np.testing.assert_array_equal(again["relative_error"], table["relative_error"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"num_draws": 0}, "num_draws=0"), ({"logit_scale": -1.0}, "logit_scale=-1.0")],
)
def test_table_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kl_estimator_table(jax.random.key(0), **kwargs)


def test_estimator_and_placement_names_checked():
    logits, ref = _draw(BANDIT, 5)
    with pytest.raises(ValueError, match="estimator='k7'"):
        audit.expected_kl_gradient("k7", "loss", logits, ref, BANDIT)
    with pytest.raises(ValueError, match="placement='both'"):
        audit.expected_kl_gradient("k1", "both", logits, ref, BANDIT)
    with pytest.raises(ValueError, match="placement='advantage' is invalid: must be one of loss"):
        audit.expected_kl_gradient("k1", "advantage", logits, ref, BANDIT)
    with pytest.raises(ValueError, match="sampling_logits is invalid with placement='reward'"):
        audit.expected_kl_gradient("k1", "reward", logits, ref, BANDIT, logits)
    # verl aliases name the same estimators
    np.testing.assert_array_equal(
        audit.expected_kl_gradient("low_var_kl", "loss", logits, ref, BANDIT),
        audit.expected_kl_gradient("k3", "loss", logits, ref, BANDIT),
    )


@pytest.mark.parametrize("estimator", ["k1", "k2", "k3", "abs"])
def test_reward_return_to_go_has_the_same_expectation(estimator):
    # sum_t (sum_{s>=t} k_s) grad log pi(y_t|y_<t): the dropped terms E[k_s grad log pi_t], s < t,
    # vanish because E[grad log pi(y_t|y_<t) | y_<t] = 0
    logits, ref = _draw(TREE, 6)
    tok = audit.token_log_probs(logits, TREE)
    values, _ = kl.kl_value_and_slope(estimator, tok - audit.token_log_probs(ref, TREE))
    values = np.where(_live(TREE), values, 0.0)
    to_go = np.cumsum(values[:, ::-1], axis=1)[:, ::-1]
    coef = np.exp(tok.sum(-1))[:, None] * to_go
    got = sq.score_gradient(logits, np.where(_live(TREE), coef, 0.0), TREE)
    want = audit.expected_kl_gradient(estimator, "reward", logits, ref, TREE)
    np.testing.assert_allclose(got, want, atol=1e-14)


def test_monte_carlo_matches_exact_expectations():
    # sample responses from the tree policy and average per-sample estimator gradients
    logits, ref = _draw(TREE, 7)
    pi, q = _softmax(logits), _softmax(ref)
    rng = np.random.default_rng(8)
    num = 10_000
    stop = TREE.vocab_size - 1
    cells = [("k3", "loss"), ("k2", "reward"), ("k1", "reward")]
    samples = {c: np.zeros((num, *logits.shape)) for c in cells}
    nodes = {(): 0}
    for length in (1, 2):
        for seq in itertools.product(range(stop), repeat=length):
            nodes[seq] = len(nodes)
    for i in range(num):
        prefix, path = (), []
        while True:
            node = nodes[prefix]
            token = int(rng.choice(TREE.vocab_size, p=pi[node]))
            path.append((node, token))
            prefix = (*prefix, token)
            if token == stop or len(prefix) == 3:
                break
        log_ratios = np.array([np.log(pi[n, t] / q[n, t]) for n, t in path])
        scores = []
        for n, t in path:
            score = np.zeros(logits.shape)
            score[n] -= pi[n]
            score[n, t] += 1.0
            scores.append(score)
        samples[("k3", "loss")][i] = sum(
            (1 - np.exp(-lr)) * s for lr, s in zip(log_ratios, scores, strict=True)
        )
        samples[("k2", "reward")][i] = np.sum(0.5 * log_ratios**2) * sum(scores)
        samples[("k1", "reward")][i] = np.sum(log_ratios) * sum(scores)
    for estimator, placement in cells:
        draws = samples[(estimator, placement)]
        mean = draws.mean(0)
        se = draws.std(0, ddof=1) / np.sqrt(num)
        exact = audit.expected_kl_gradient(estimator, placement, logits, ref, TREE)
        assert np.all(np.abs(mean - exact) <= 4.5 * se + 1e-12), (estimator, placement)


def test_importance_weighted_estimators_keep_the_reverse_kl_off_policy():
    """Sampled by pi_old != pi: E_old[rho l grad log pi] = E_pi[l grad log pi]. TRL's k3_ratio
    and OpenRLHF's _unbiased forms (rho <= 10 here) keep grad KL(pi || ref) on one token and the
    per-prefix reverse KL under the sampler's prefix law on sequences; verl's k3+ does not."""
    logits, ref = _draw(BANDIT, 9, scale=0.7)
    old = _draw(BANDIT, 10, scale=0.7)[0]
    assert np.max(np.abs(_softmax(logits) / _softmax(old))) < 10
    truth = audit.true_kl_gradient(logits, ref, BANDIT)
    for name in ("k3_ratio", "k1_unbiased", "k2_unbiased", "k3_unbiased"):
        got = audit.expected_kl_gradient(name, "loss", logits, ref, BANDIT, old)
        np.testing.assert_allclose(got, truth, atol=1e-15, err_msg=name)
    unweighted = audit.expected_kl_gradient("k3+", "loss", logits, ref, BANDIT, old)
    assert audit.compare(unweighted, truth)[1] > 1e-2
    # sequences: sum_s P_old(s) grad KL(pi(.|s) || ref(.|s)), P_old(s) the sampler's reach
    logits, ref = _draw(TREE, 11, scale=0.7)
    old = _draw(TREE, 12, scale=0.7)[0]
    pi, q = _softmax(logits), _softmax(ref)
    reach = sq.prefix_mass(TREE, np.exp(audit.token_log_probs(old, TREE).sum(-1))).sum(-1)
    local = pi * np.log(pi / q)
    want = reach[:, None] * (local - local.sum(-1, keepdims=True) * pi)
    for name in ("k3_ratio", "k3_unbiased"):
        got = audit.expected_kl_gradient(name, "loss", logits, ref, TREE, old)
        np.testing.assert_allclose(got, want, atol=1e-15, err_msg=name)
