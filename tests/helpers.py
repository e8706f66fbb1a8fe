"""Helpers shared by test modules (import as ``from helpers import ...``; pytest puts tests/ on
sys.path through tests/conftest.py). Fixtures live in conftest.py; plain functions and constants
that several modules need live here, written once."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rlxform.sim import sampling

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


class SchemeTables:
    """A scheme as ``rlxform.sim.ascent.tables`` reads it: its (a, b) tables, passed as the
    ``scheme`` argument of ``exact.expected_update`` / ``brute_force_update`` (``std_scope``
    "group"; nothing else of the scheme is read there). Traced tables let one compiled program
    serve every scheme of a parametrised test."""

    has_eps = False

    def __init__(self, a_table, b_table):
        self.a_table, self.b_table = a_table, b_table

    def traced_tables(self, group_size, eps=None):
        return self.a_table, self.b_table


# ---- one compile of the binomial-tree counts sampler for every distribution test ----------------

COUNTS_ROWS, COUNTS_RESPONSES = 20_000, 5  # the one [B, K] shape the counts sampler compiles for


@jax.jit
def _tree_counts_block(key, logits, group_size):
    # group_size traced (the sampler reads M only as the first remaining count): one compile
    return sampling.sample_counts(key, logits, group_size)


def tree_counts(key, probs, group_size: int, reps: int) -> np.ndarray:
    """``reps`` groups of M = ``group_size`` from ``sampling.sample_counts`` (the counts sampler).

    ``float[K] probs -> float64[reps, K]``, K <= ``COUNTS_RESPONSES``. Compiling the sampler takes
    seconds on 2 CPU cores, so every call runs one jitted [``COUNTS_ROWS``,
    ``COUNTS_RESPONSES``] program: probs are padded with zero-mass responses (checked to stay
    at count 0), M is traced, and reps are drawn in blocks of ``COUNTS_ROWS`` rows with
    ``fold_in(key, block)``.
    """
    probs = np.asarray(probs, np.float64)
    num_responses = probs.shape[0]
    assert num_responses <= COUNTS_RESPONSES, num_responses
    padded = np.zeros(COUNTS_RESPONSES)
    padded[:num_responses] = probs
    with np.errstate(divide="ignore"):
        logits = jnp.tile(jnp.asarray(np.log(padded), jnp.float32), (COUNTS_ROWS, 1))
    blocks = []
    for block in range(-(-reps // COUNTS_ROWS)):
        counts = _tree_counts_block(jax.random.fold_in(key, block), logits, float(group_size))
        blocks.append(np.asarray(counts, np.float64))
    counts = np.concatenate(blocks)[:reps]
    assert np.all(counts[:, num_responses:] == 0)  # zero-mass padding is never drawn
    return counts[:, :num_responses]


def one_line_error(err: str, needles) -> str:
    """The one line of a refused CLI call's stderr (tqdm's "sweep chunks" lines aside), checked
    to hold no traceback and every needle."""
    lines = [x for x in err.strip().splitlines() if not x.startswith("sweep chunks")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
