"""Token-mean weights in O(M) memory (issue 26, item 4: ``explain`` at the largest group size).

The Laplace route (``core.token_mean``) against brute force over every batch of responses, and
against the FFT route of ``core.aggregation`` (its reference) over group sizes, groups and
schemes; at M = 16384 the card's length section needs well under a second and tens of MB
(0.4.1: the FFT grid, [M, 8 M] complex, 34 GB).
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
from sequence_brute import brute_weights

from rlxform.core import aggregation as agg_lib
from rlxform.core import schemes
from rlxform.core.sequence_tasks import SequenceTask, enumerate_sequences

PROBS = np.array([0.1, 0.35, 0.2, 0.35])
LENGTHS = np.array([1, 3, 2, 3])
CORRECT = np.array([True, False, False, True])
SCHEMES = [
    schemes.grpo(),
    schemes.grpo(std="sample", eps=1e-6),
    schemes.reinforce(),
    schemes.rloo(),
    schemes.rejection_sampling(),
    schemes.pass_at_k(k=2),
]


def _weights(route: str, scheme, m, probs, lengths, correct, groups, monkeypatch):
    cells = 0 if route == "laplace" else 10**15
    monkeypatch.setattr(agg_lib, "FFT_MAX_CELLS", cells)
    return agg_lib.sequence_weights(
        scheme, "token-mean", m, probs, lengths, correct, batch_groups=groups
    )


@pytest.mark.parametrize("m, groups", [(2, 1), (3, 1), (2, 2)])
def test_laplace_route_matches_brute_force(m, groups, monkeypatch):
    for scheme in SCHEMES:
        if scheme.name == "pass_at_k" and m < 2:
            continue
        got = _weights("laplace", scheme, m, PROBS, LENGTHS, CORRECT, groups, monkeypatch)
        want = brute_weights("token-mean", *scheme.tables(m), m, groups, 3, PROBS, LENGTHS, CORRECT)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=scheme.label)


@pytest.mark.parametrize("m, groups", [(8, 1), (16, 3), (64, 1), (150, 2)])
def test_laplace_route_matches_the_fft_route(m, groups, monkeypatch):
    enum = enumerate_sequences(SequenceTask(4, 6, "parity"))
    rng = np.random.default_rng(m)
    probs = rng.random((2, enum.lengths.size))
    probs /= probs.sum(-1, keepdims=True)
    for scheme in SCHEMES:
        args = (scheme, m, probs, enum.lengths, enum.correct, groups, monkeypatch)
        got, want = _weights("laplace", *args), _weights("fft", *args)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=0, err_msg=scheme.label)


def test_all_correct_or_all_wrong_laws():
    """p = 1 or p = 0: x = 1 or 0 at every node, the pmf is a point mass."""
    for correct in (np.ones(4, bool), np.zeros(4, bool)):
        want = agg_lib.sequence_weights(schemes.rloo(), "token-mean", 3, PROBS, LENGTHS, correct)
        args = ("token-mean", *schemes.rloo().tables(3))
        brute = brute_weights(args[0], args[1], args[2], 3, 1, 3, PROBS, LENGTHS, correct)
        np.testing.assert_allclose(want, brute, atol=1e-12)


def test_largest_group_size_in_o_m_memory_and_seconds():
    from rlxform.core import sequences

    task = SequenceTask(4, 8, "first_token")
    rule = sequences.UpdateRule(schemes.grpo(), "token-mean", 16384, batch_groups=2)
    tracemalloc.start()
    start = time.perf_counter()
    drift = rule.length_drift(task, 0.3)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert np.isfinite(drift.drift_correct) and np.isfinite(drift.drift_wrong)
    assert peak < 200 * 2**20, peak  # FFT route: 16384 x 262137 complex = 69 GB
    assert elapsed < 10, elapsed
