"""Helpers shared by test modules (import as ``from helpers import ...``; pytest puts tests/ on
sys.path through tests/conftest.py). Fixtures live in conftest.py; plain functions and constants
that several modules need live here, written once."""

from __future__ import annotations

import numpy as np

# the keys of every rlxform.reproduce.bench record (tests/reproduce/test_bench*.py)
BENCH_RECORD_KEYS = frozenset(
    {
        "workload",
        "implementation",
        "samples_per_second",
        "compile_seconds",
        "first_result_seconds",
        "peak_bytes",
        "device",
        "prng",
    }
)


def brute_force_expected_update(a_table, b_table, logits, correct, group_size):
    """E[g] for a softmax policy by enumerating all K^M outcomes (float64 numpy).

    g = (1/M) sum_i Z_i grad_logits log pi(y_i), grad log pi(y) = e_y - pi.
    Returns (E[g] float64[K], p, grad_p float64[K]).
    """
    logits = np.asarray(logits, np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    num_responses = probs.shape[0]
    is_correct = np.zeros(num_responses, bool)
    is_correct[list(correct)] = True
    eye = np.eye(num_responses)
    grads = eye - probs  # row y: grad of log pi(y)
    outcomes = np.stack(
        np.meshgrid(*[np.arange(num_responses)] * group_size, indexing="ij"), -1
    ).reshape(-1, group_size)
    prob = probs[outcomes].prod(-1)
    rewards = is_correct[outcomes]
    s = rewards.sum(-1)
    weights = np.where(rewards, np.asarray(a_table)[s][:, None], np.asarray(b_table)[s][:, None])
    g = (weights[..., None] * grads[outcomes]).sum(1) / group_size
    mean = (prob[:, None] * g).sum(0)
    p = probs[is_correct].sum()
    grad_p = (probs[is_correct][:, None] * grads[is_correct]).sum(0)
    return mean, p, grad_p
