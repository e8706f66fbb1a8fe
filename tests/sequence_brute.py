"""Brute-force references of the exact sequence math (SPEC section 8), NumPy float64.

Import as ``from sequence_brute import ...`` (tests/ is on sys.path). Every batch of G groups of
M responses is enumerated (N^(G M) of them), weighted the way a trainer weights it (scheme
tables times the aggregation factor f), and averaged; ``walk_log_probs`` walks the prefix tree
token by token. Independent of ``rlxform.core.aggregation`` and ``rlxform.core.sequences``.
"""

from __future__ import annotations

import itertools

import numpy as np


def walk_log_probs(table, task):
    """log pi(y) of every enumerated response by walking the tree token by token (prefix n,
    content token t -> b n + 1 + t): ``float[..., num_prefixes, V] -> float64[..., N]``."""
    from rlxform.core.sequences import enumerate_sequences

    table = np.asarray(table, np.float64)
    shifted = table - table.max(-1, keepdims=True)
    cond = np.exp(shifted) / np.exp(shifted).sum(-1, keepdims=True)
    enum = enumerate_sequences(task)
    b = task.vocab_size - 1
    out = np.zeros((*table.shape[:-2], enum.tokens.shape[0]))
    for i, (row, length) in enumerate(zip(enum.tokens, enum.lengths, strict=True)):
        node = 0
        for t in row[:length]:
            out[..., i] += np.log(cond[..., node, t])
            node = b * node + 1 + t
    return out


def _factor(agg, lengths_batch, max_length):
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
    factor = _factor(agg, lengths[index], max_length)[:, :m]
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
