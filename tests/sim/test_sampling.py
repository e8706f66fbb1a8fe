"""Samplers: exact binomial (both regimes, edges, fallbacks) and multinomial counts vs scipy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_counts
from scipy import stats

from rlxform.sim import binomial as binomial_lib
from rlxform.sim import sampling

DRAWS = 100_000


@jax.jit
def _binomial(key, n, p):
    return binomial_lib.binomial(key, n, p)


def _draw(n: float, p: float, seed: int = 0, size: int = DRAWS) -> np.ndarray:
    shape = (size,)
    n_arr = jnp.full(shape, n, jnp.float32)
    p_arr = jnp.full(shape, p, jnp.float32)
    return np.asarray(_binomial(jax.random.key(seed), n_arr, p_arr))


def _gof_pvalue(draws: np.ndarray, n: int, p: float) -> float:
    """Chi-square of draws vs the Binomial(n, p) pmf, cells with expectation < 5 pooled."""
    support = np.arange(n + 1)
    observed = np.bincount(draws.astype(np.int64), minlength=n + 1).astype(np.float64)
    expected = stats.binom.pmf(support, n, p) * draws.size
    big = expected >= 5
    obs = np.append(observed[big], observed[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    keep = exp > 0
    if keep.sum() < 2:
        return 1.0
    return float(stats.chisquare(obs[keep], exp[keep] * obs.sum() / exp[keep].sum()).pvalue)


@pytest.mark.parametrize(
    "n, p",
    [
        (1, 0.5),
        (3, 0.2),
        (7, 0.9),
        (19, 0.5),  # n p = 9.5: inversion
        (20, 0.5),  # n p = 10: BTRS at the boundary
        (21, 0.49),
        (50, 0.199),  # just under the boundary
        (50, 0.201),  # just over
        (64, 0.3),
        (256, 0.03),  # mean 7.7, inversion, tail past the unrolled table sometimes
        (256, 0.5),
        (256, 0.97),  # symmetry
        (1000, 0.001),
        (4096, 0.5),  # the largest group size the simulator's defaults time
        (5000, 0.4),
    ],
)
def test_binomial_matches_scipy_pmf(n, p):
    draws = _draw(n, p, seed=n)
    assert draws.min() >= 0 and draws.max() <= n
    np.testing.assert_array_equal(draws, np.round(draws))
    assert _gof_pvalue(draws, n, p) > 1e-4


@pytest.mark.parametrize("n", [0, 1, 5, 100])
def test_binomial_degenerate_parameters(n):
    # full-size draws: the compile of _binomial at [DRAWS] is shared with the tests above
    np.testing.assert_array_equal(_draw(n, 0.0), 0.0)
    np.testing.assert_array_equal(_draw(n, 1.0), float(n))
    np.testing.assert_array_equal(_draw(0, 0.5), 0.0)


def test_binomial_huge_and_tiny_means():
    n = 1e6
    draws = _draw(n, 0.3).astype(np.float64)
    mean, var = n * 0.3, n * 0.3 * 0.7
    assert abs(draws.mean() - mean) < 5 * np.sqrt(var / draws.size)
    assert abs(draws.var() / var - 1) < 0.03
    tiny = _draw(1e6, 1e-8)
    assert np.all(tiny <= 3) and abs(tiny.mean() - 0.01) < 5 * np.sqrt(0.01 / tiny.size)


def test_binomial_mixed_batch_and_fallbacks():
    """One batch mixing regimes: per-cell pmf still matches (fallback paths are per element)."""
    ns = np.array([0, 1, 12, 40, 40, 256, 256, 300], np.float32)
    ps = np.array([0.5, 0.7, 0.5, 0.24, 0.26, 0.035, 0.6, 0.999], np.float32)
    block = DRAWS // ns.size  # [DRAWS] blocks: the compile of _binomial is shared
    n_arr = jnp.asarray(np.tile(ns, block))
    p_arr = jnp.asarray(np.tile(ps, block))
    key = jax.random.key(3)
    draws = np.concatenate(
        [np.asarray(_binomial(jax.random.fold_in(key, i), n_arr, p_arr)) for i in range(4)]
    ).reshape(4 * block, -1)  # 50_000 draws per cell
    for j, (n, p) in enumerate(zip(ns, ps, strict=True)):
        assert _gof_pvalue(draws[:, j], int(n), float(p)) > 1e-4, (n, p)


def test_binomial_test_can_fail():
    draws = _draw(64, 0.3)
    assert _gof_pvalue(draws, 64, 0.31) < 1e-6
    reference = np.random.default_rng(0).binomial(64, 0.3, DRAWS)
    assert _gof_pvalue(reference, 64, 0.3) > 1e-4


def test_btrs_retries_are_exact(monkeypatch):
    """Every retry path at once: with a buffer of 1/64 of the batch the ~20% rejected elements
    need 12 or more passes (elements beyond the buffer wait), and with the smallest pool (one
    round of a full buffer) most rounds refill it from the loop key. One extra compile."""
    monkeypatch.setattr(binomial_lib, "BUFFER_DIVISOR", 64)
    monkeypatch.setattr(binomial_lib, "POOL_PER_ELEMENT", 0.0)
    assert binomial_lib.buffer_size(DRAWS) == 1562 and binomial_lib.pool_size(DRAWS) == 3124
    n = jnp.full((DRAWS,), 100.0)
    p = jnp.full((DRAWS,), 0.3)
    draws = np.asarray(jax.jit(binomial_lib.binomial)(jax.random.key(9), n, p))
    assert _gof_pvalue(draws, 100, 0.3) > 1e-4


def test_binomial_from_uniforms_reads_its_own_uniforms():
    """Element i reads (u, v) = draws[i], draws[size + i] (inversion elements: u only); moving
    one element's uniforms moves no other element."""
    n = jnp.array([100.0, 5.0, 100.0])
    p = jnp.array([0.3, 0.2, 0.6])
    size = n.size
    draws = np.asarray(jax.random.uniform(jax.random.key(0), (binomial_lib.num_uniforms(size),)))
    key = jax.random.key(1)
    from_uniforms = jax.jit(binomial_lib.binomial_from_uniforms)
    base = np.asarray(from_uniforms(draws, key, n, p))
    for position in range(2 * size):
        nudged = draws.copy()  # NumPy edits: the one compile of from_uniforms is all this runs
        nudged[position] = 0.97 if draws[position] < 0.5 else 0.03
        changed = np.asarray(from_uniforms(nudged, key, n, p)) != base
        assert not np.delete(changed, position % size).any(), position
    # the inversion element (n p = 1) follows its u: u = 0.03 gives 0, u = 0.97 gives >= 3
    for u, low, high in [(0.03, 0, 0), (0.97, 3, 5)]:
        nudged = draws.copy()
        nudged[1] = u
        got = np.asarray(from_uniforms(nudged, key, n, p))
        assert low <= got[1] <= high


def test_counts_joint_distribution_is_multinomial():
    """All C(M + K - 1, K - 1) count vectors at K = 4, M = 12 vs the multinomial pmf.

    Every binomial of a step reads its uniforms from one draw; two nodes of a group sharing
    a uniform leave the marginals right but fail here (checked by planting that bug).
    """
    probs = np.array([0.1, 0.35, 0.2, 0.35])
    group_size, reps = 12, 200_000
    counts = tree_counts(jax.random.key(5), probs, group_size, reps).astype(np.int64)
    keys, observed = np.unique(counts, axis=0, return_counts=True)
    expected = stats.multinomial.pmf(keys, group_size, probs) * reps
    assert expected.sum() / reps > 0.999  # every observed vector is a valid outcome
    big = expected >= 5
    obs = np.append(observed[big], observed[~big].sum() + reps - observed.sum())
    exp = np.append(expected[big], reps - expected[big].sum())
    assert stats.chisquare(obs, exp).pvalue > 1e-4


def test_inversion_fallback_is_exact():
    """A table of 2 terms: the while loop does the whole search."""
    n = jnp.full((DRAWS,), 40.0)
    p = jnp.full((DRAWS,), 0.2)
    u = jax.random.uniform(jax.random.key(4), (DRAWS,))
    draws = np.asarray(jax.jit(lambda u: binomial_lib._inversion(u, n, p, 2))(u))
    assert _gof_pvalue(draws, 40, 0.2) > 1e-4


def test_binomial_same_key_same_draws_and_vmap():
    # [DRAWS] arrays: the unbatched calls share the compile of _binomial with the tests above
    n = jnp.asarray(np.resize([10.0, 100.0, 3.0], DRAWS), jnp.float32)
    p = jnp.asarray(np.resize([0.5, 0.2, 0.9], DRAWS), jnp.float32)
    key = jax.random.key(1)
    a = _binomial(key, n, p)
    np.testing.assert_array_equal(a, _binomial(key, n, p))
    keys = jax.random.split(key, 4)
    batched = jax.vmap(lambda k: _binomial(k, n, p))(keys)
    looped = jnp.stack([_binomial(k, n, p) for k in keys])
    np.testing.assert_array_equal(batched, looped)


@pytest.mark.parametrize("group_size", [1, 7, 256, 4096])
def test_counts_marginals_match_multinomial(group_size):
    probs = np.array([0.05, 0.3, 0.15, 0.5, 0.0])
    reps = 20_000
    counts = tree_counts(jax.random.key(group_size), probs, group_size, reps)
    np.testing.assert_array_equal(counts.sum(-1), group_size)
    np.testing.assert_array_equal(counts[:, -1], 0)
    for j, pj in enumerate(probs[:-1]):
        assert _gof_pvalue(counts[:, j], group_size, pj) > 1e-4, j
    # a covariance too: Cov(c_i, c_j) = -M p_i p_j
    cov = np.cov(counts[:, 1], counts[:, 3])[0, 1]
    expected = -group_size * probs[1] * probs[3]
    var1, var3 = (group_size * q * (1 - q) for q in (probs[1], probs[3]))
    se = np.sqrt((var1 * var3 + expected**2) / reps)
    assert abs(cov - expected) < 5 * se


@pytest.mark.parametrize("num_responses", [2, 3, 7, 8, 40])
def test_softmax_cdf_matches_softmax_cumsum(num_responses):
    # one compile per K (not one eager compile per primitive); NumPy float64 references
    logits = np.random.default_rng(num_responses).standard_normal((64, num_responses)) * 30.0
    logits = logits.astype(np.float32)
    e, cdf = (np.asarray(x, np.float64) for x in jax.jit(sampling.softmax_cdf)(logits))
    shifted = np.exp(logits - logits.max(-1, keepdims=True).astype(np.float64))
    softmax = shifted / shifted.sum(-1, keepdims=True)
    np.testing.assert_allclose(e / cdf[:, -1:], softmax, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cdf / cdf[:, -1:], np.cumsum(softmax, -1), rtol=1e-5, atol=1e-6)
    assert np.all(np.diff(cdf, axis=-1) >= 0)


@pytest.mark.parametrize(
    "size, buffer, rate", [(16384, 4096, 0.2), (1024, 64, 0.5), (1000, 64, 0.1)]
)
def test_compact_indices_match_nonzero(size, buffer, rate):
    """Also the overflow case (more set than the buffer holds) and a size not a multiple of 128."""
    mask = np.random.default_rng(size).uniform(size=size) < rate
    got = jax.jit(lambda m: binomial_lib._compact_indices(m, buffer))(mask)
    first = np.flatnonzero(mask)[:buffer]  # jnp.nonzero(mask, size=buffer, fill_value=size)
    expected = np.concatenate([first, np.full(buffer - first.size, size)])
    np.testing.assert_array_equal(got, expected)


def test_binomial_from_uniforms_rejects_wrong_draws():
    n, p = jnp.full((5,), 50.0), jnp.full((5,), 0.3)
    draws = jnp.zeros((binomial_lib.num_uniforms(5) - 1,))
    with pytest.raises(ValueError, match=r"draws of shape \(\d+,\) is invalid: must have shape"):
        binomial_lib.binomial_from_uniforms(draws, jax.random.key(0), n, p)
    with pytest.raises(ValueError, match="size=-1 is invalid: must be an integer >= 0"):
        binomial_lib.num_uniforms(-1)


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
def test_action_counts_count_the_draws_of_sample_actions(impl):
    logits = jax.random.normal(jax.random.key(2), (50, 6)) * 2.0
    key = jax.random.key(3, impl=impl)
    actions = np.asarray(sampling.sample_actions(key, logits, 24))
    expected = np.stack([np.bincount(row, minlength=6) for row in actions])
    _, cdf = sampling.softmax_cdf(logits)
    counts = np.asarray(sampling.action_counts(key, cdf, 24))
    np.testing.assert_array_equal(counts, expected)
    np.testing.assert_array_equal(sampling.sample_action_counts(key, logits, 24), expected)
    assert counts.dtype == np.int32 and len(np.unique(counts[:, 0])) > 3


# ---- library counts route and the inverse-CDF token sampler ------------------------------------


@pytest.mark.parametrize("sampler", ["counts", "jax"])
def test_count_samplers_match_multinomial_moments(sampler):
    """Both counts routes: sums = M, means M p and covariances M (diag(p) - p p^T)."""
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    rows, group_size = 20000, 64
    if sampler == "counts":  # through the suite's one compile of it (tests/helpers.py)
        counts = tree_counts(jax.random.key(3), probs, group_size, rows)
    else:
        logits = jnp.tile(jnp.log(jnp.asarray(probs, jnp.float32)), (rows, 1))
        counts = np.asarray(
            jax.jit(sampling.group_counts, static_argnums=(2, 3))(
                jax.random.key(3), logits, group_size, sampler
            )
        )
    assert counts.shape == (rows, 4) and np.all(counts.sum(1) == group_size)
    mean = counts.mean(0)
    se = np.sqrt(group_size * probs * (1 - probs) / rows)
    np.testing.assert_array_less(np.abs(mean - group_size * probs), 4.5 * se)
    cov = np.cov(counts.T)
    expected = group_size * (np.diag(probs) - np.outer(probs, probs))
    np.testing.assert_allclose(cov, expected, atol=0.08 * group_size * probs.max())


def test_jax_and_tree_counts_agree_in_distribution():
    """Two-sample chi-square on the count of response 0 (Binomial(M, p0) under both)."""
    probs = [0.2, 0.5, 0.3]
    logits = jnp.tile(jnp.log(jnp.asarray(probs, jnp.float32)), (30000, 1))
    draws = {
        s: np.asarray(sampling.group_counts(jax.random.key(4), logits, 40, s)[:, 0])
        for s in ("jax", "inverse_cdf")
    }
    # the counts sampler through the suite's one compile of it (tests/helpers.py)
    draws["counts"] = tree_counts(jax.random.key(4), probs, 40, 30000)[:, 0]
    for sampler, x in draws.items():
        assert _gof_pvalue(x, 40, 0.2) > 1e-4, sampler
    # the test has power: a shifted p is rejected
    assert _gof_pvalue(draws["jax"], 40, 0.22) < 1e-6


def test_group_counts_rejects_unknown_sampler():
    with pytest.raises(ValueError, match="sampler='gumbel' is invalid"):
        sampling.group_counts(jax.random.key(0), jnp.zeros((2, 3)), 4, "gumbel")


def _tree_distribution(logits: np.ndarray, vocab_size: int, max_length: int) -> dict:
    """{token tuple (stop included): probability} of every response, by recursion on prefixes."""
    b, stop = vocab_size - 1, vocab_size - 1
    out = {}

    def visit(node, prefix, mass):
        row = np.exp(logits[node] - logits[node].max())
        row = row / row.sum()
        for t in range(vocab_size):
            seq = (*prefix, t)
            if t == stop or len(seq) == max_length:
                out[seq] = out.get(seq, 0.0) + mass * row[t]
            else:
                visit(b * node + 1 + t, seq, mass * row[t])

    visit(0, (), 1.0)
    return out


def test_sample_tokens_matches_enumeration():
    """Chi-square of the sampled responses against the exact tree probabilities (two prompts)."""
    vocab_size, max_length = 3, 3
    num_nodes = 1 + 2 + 4
    logits = jax.random.normal(jax.random.key(1), (2, num_nodes, vocab_size)) * 1.5
    prompt = jnp.array([1, 0, 1], jnp.int32)
    tokens, nodes = jax.jit(sampling.sample_tokens, static_argnums=(3, 4))(
        jax.random.key(2), logits, prompt, 20000, max_length
    )
    assert tokens.shape == nodes.shape == (3, 20000, max_length) and tokens.dtype == jnp.int32
    tokens, nodes = np.asarray(tokens), np.asarray(nodes)
    for row, x in enumerate(np.asarray(prompt)):
        exact = _tree_distribution(np.asarray(logits[x], np.float64), vocab_size, max_length)
        keys = sorted(exact)
        seqs = [tuple(int(t) for t in r if t != sampling.PAD_TOKEN) for r in tokens[row]]
        index = {k: i for i, k in enumerate(keys)}
        counts = np.bincount([index[s] for s in seqs], minlength=len(keys))
        expected = np.array([exact[k] for k in keys]) * len(seqs)
        assert stats.chisquare(counts, expected).pvalue > 1e-4
        # nodes: the breadth-first row of each prefix, PAD after the stop
        for r in range(50):
            node = 0
            for j, t in enumerate(tokens[row, r]):
                assert nodes[row, r, j] == (node if t != sampling.PAD_TOKEN else -1)
                node = 2 * node + 1 + t if t != sampling.PAD_TOKEN else node
    # the test has power: the other prompt's distribution is rejected
    other = _tree_distribution(np.asarray(logits[0], np.float64), vocab_size, max_length)
    expected = np.array([other[k] for k in keys]) * len(seqs)
    assert stats.chisquare(counts, expected).pvalue < 1e-10


def test_sample_tokens_agrees_with_the_simulator_layout():
    """Same prefix rows and stop convention as ``sequence_sim.sample_groups`` (other draws)."""
    from rlxform.core.sequences import PAD

    assert sampling.PAD_TOKEN == PAD
    logits = np.zeros((1, 1 + 3 + 9, 4), np.float32)
    logits[0, 0, 3] = -30.0  # no stop at position 0
    tokens, nodes = jax.jit(sampling.sample_tokens, static_argnums=(3, 4))(
        jax.random.key(0), logits, np.zeros(1, np.int32), 64, 3
    )
    tokens, nodes = np.asarray(tokens), np.asarray(nodes)
    assert np.all(tokens[..., 0] != 3)
    np.testing.assert_array_equal(nodes[..., 1], 1 + tokens[..., 0])
