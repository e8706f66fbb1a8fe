"""The sequence policy kinds (``rlxform.sim.sequence_groups``) against their references.

Test references, stated as such (not part of the package): ``categorical_reference``, the
library route of ``sampling.sample_tokens`` (``jax.random.categorical`` per token, V Gumbels,
keys split per position), and ``gru_walk``, the GRU's recurrence run token by token along every
enumerated response, the law that ``network_logits``' prefix table must reproduce.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from rlxform.core import sequences as sq
from rlxform.core.sequences import PAD, SequenceTask, enumerate_sequences
from rlxform.sim.ascent import initial_params, policy_of
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.sequence_network import NetworkConfig, _GRUPolicy, _module, network_logits

TASK = SequenceTask(3, 3, "parity")  # N = 15 responses


@functools.partial(jax.jit, static_argnames=("task", "num_samples"))
def categorical_reference(key, logits, task: SequenceTask, num_samples: int):
    """Autoregressive sampling of one prompt's table ``float[num_prefixes, V]`` with
    ``jax.random.categorical`` per token: tokens ``int32[S, max_length]`` (PAD after the end)."""
    b, last = task.vocab_size - 1, sq.num_prefixes(task) - 1

    def step(carry, step_key):
        node, done = carry
        token = jax.random.categorical(step_key, logits[node], axis=-1).astype(jnp.int32)
        out = jnp.where(done, PAD, token)
        return (jnp.minimum(b * node + 1 + token, last), done | (token == task.stop)), out

    start = (jnp.zeros(num_samples, jnp.int32), jnp.zeros(num_samples, bool))
    _, tokens = jax.lax.scan(step, start, jax.random.split(key, task.max_length))
    return tokens.T


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


def test_policy_sampler_and_its_library_reference_match_the_enumerated_law():
    """The policy's draws (``sample_tokens``, inverse CDF) and ``jax.random.categorical`` per
    token both follow the enumerated law (chi-square), and so agree with each other."""
    cfg = SimConfig(
        "grpo",
        Problem(
            "sequence_tabular", 2, init_p=(0.3, 0.6), vocab_size=3, max_length=3, verifier="parity"
        ),
        group_size=4,
    )
    policy = policy_of(cfg)
    params = {
        "logits": initial_params(cfg)["logits"] + jax.random.normal(jax.random.key(1), (2, 7, 3))
    }
    group = jax.jit(policy.sample, static_argnums=3)(jax.random.key(2), params, None, 20000)
    reference = categorical_reference(jax.random.key(3), params["logits"][1], TASK, 20000)
    law = np.exp(sq.response_log_probs(np.asarray(params["logits"], np.float64), TASK))[1]
    enum = enumerate_sequences(TASK)
    for tokens in (np.asarray(group.tokens[1]), np.asarray(reference)):
        index = _sample_index(TASK, tokens)  # raises if a row is not a valid response
        counts = np.bincount(index, minlength=law.shape[0])
        assert scipy.stats.chisquare(counts, law * counts.sum()).pvalue > 1e-3
        wrong = float(TASK.vocab_size) ** -enum.lengths.astype(float)  # uniform continuations
        assert scipy.stats.chisquare(counts, wrong / wrong.sum() * counts.sum()).pvalue < 1e-10
    index = _sample_index(TASK, np.asarray(group.tokens[1]))
    np.testing.assert_array_equal(enum.correct[index], np.asarray(group.rewards[1]))
    np.testing.assert_array_equal(enum.lengths[index], np.asarray(group.lengths[1]))


def gru_walk(params, cfg: NetworkConfig) -> np.ndarray:
    """log pi(y | x) of every enumerated response by running the GRU token by token:
    ``float64[P, N]`` (the recurrence itself, not the prefix table)."""
    model, task = _module(cfg), cfg.task
    enum = enumerate_sequences(task)
    ids = jnp.arange(cfg.num_prompts)

    @jax.jit
    def walk(tokens):  # tokens int32[L] of one response, PAD after the end
        hidden = model.apply(params, ids, method=_GRUPolicy.start)
        total = jnp.zeros(cfg.num_prompts)
        for t in range(task.max_length):
            log_probs = jax.nn.log_softmax(model.apply(params, hidden, method=_GRUPolicy.logits))
            live = tokens[t] >= 0
            token = jnp.maximum(tokens[t], 0)
            total = total + jnp.where(live, log_probs[:, token], 0.0)
            step = jnp.full(cfg.num_prompts, token)
            hidden = model.apply(params, hidden, step, method=_GRUPolicy.step)
        return total

    return np.stack([np.asarray(walk(row)) for row in enum.tokens], axis=-1)


def test_network_prefix_table_is_the_gru_recurrence():
    cfg = SimConfig(
        "grpo",
        Problem("sequence_network", 2, vocab_size=3, max_length=3, verifier="parity", hidden=8),
        group_size=4,
    )
    params = initial_params(cfg)
    net = NetworkConfig(cfg.problem.task, 2, 8)
    table = np.asarray(network_logits(params, net), np.float64)
    got = sq.response_log_probs(table, cfg.problem.task)
    np.testing.assert_allclose(got, gru_walk(params, net), atol=2e-5)
    np.testing.assert_allclose(np.exp(got).sum(-1), 1.0, atol=1e-5)
    p = sq.length_stats(table, cfg.problem.task)[0]  # the reported initial p
    assert np.all((p > 0) & (p < 1)) and abs(p[0] - p[1]) > 1e-4  # prompts differ
