"""Shared fixtures. Exact references run in float64 via ``jax.enable_x64(True)``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import numpy as np
import pytest

DATA = Path(__file__).parent / "data"

# CLI runs under test never write to the user's persistent compilation cache
os.environ.setdefault("RLXFORM_JAX_CACHE", "off")


@pytest.fixture
def x64():
    """Run the test body with float64 JAX arrays."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="session")
def verl_cases() -> list[dict]:
    return json.loads((DATA / "verl_advantages.json").read_text())["cases"]


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
