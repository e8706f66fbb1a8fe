"""Brute-force references of the filters' exact updates (issue 24), NumPy float64.

Import as ``from filters_brute import ...`` (tests/ is on sys.path). Every batch of G groups of
M responses is enumerated (N^(G M) of them) and weighted the way a trainer weights it: rewards
(0/1, or plus the DAPO overlong penalty, computed here from verl's formula), the scheme's
weight of each sample from the group's own rewards (tables, or the real-reward form on the
M rewards), the aggregation factor with the normaliser counting only stopped answers under
mask_truncated, the group's range mask on its mean 0/1 score, and the answer's own factors.
Independent of ``rlxform.core.filter_updates`` (no count vectors, no transforms); the entropy
threshold is found by walking each response's tokens and sorting.
"""

from __future__ import annotations

import itertools

import numpy as np

from rlxform.core.sequences import enumerate_sequences


def walk_probs(table, task):
    """pi(y) of every response and the prefix of each token, by walking the tree."""
    table = np.asarray(table, np.float64)
    cond = np.exp(table - table.max(-1, keepdims=True))
    cond /= cond.sum(-1, keepdims=True)
    enum = enumerate_sequences(task)
    b = task.vocab_size - 1
    probs = np.ones(enum.lengths.shape)
    nodes = np.full(enum.tokens.shape, -1)
    for i, (row, length) in enumerate(zip(enum.tokens, enum.lengths, strict=True)):
        node = 0
        for j, t in enumerate(row[:length]):
            nodes[i, j] = node
            probs[i] *= cond[node, t]
            node = b * node + 1 + t
    return probs, nodes, cond


def brute_entropy_mask(table, task, quantile, keep):
    """Tokens kept by top_entropy_quantile: entropies of every loss token weighted by pi(y),
    sorted; the threshold is the first entropy whose cumulative share reaches 1 - rho."""
    probs, nodes, cond = walk_probs(table, task)
    entropy = -(cond * np.log(cond)).sum(-1)
    pairs = [
        (entropy[n], probs[i]) for i in range(len(probs)) if keep[i] for n in nodes[i] if n >= 0
    ]
    pairs.sort()
    total = sum(w for _, w in pairs)
    running = 0.0
    for value, weight in pairs:
        running += weight
        if running / total >= 1.0 - quantile - 1e-12:
            tau = value
            break
    return (nodes >= 0) & (entropy[np.where(nodes >= 0, nodes, 0)] >= tau)


def brute_token_mass(
    scheme,
    aggregation,
    m,
    g,
    task,
    table,
    *,
    answer_factor=None,
    token_factor=None,
    mask_truncated=False,
    overlong=None,
    reward_range=None,
    refill=True,
    advantage=None,
):
    """sum over batches of P(batch) (1/M) sum_i f_i Z_i 1{kept} k(y_i, t), per response and
    token: ``float64[N, max_length]`` (= pi(y) omega(y) k(y, t) of the exact route).

    ``answer_factor float[N]`` and ``token_factor float[N, L]`` multiply each sample's terms;
    ``overlong`` = (buffer, factor); ``reward_range`` = (low, high); with ``refill`` every
    group of the batch is a kept one (the batch conditioned on all kept); ``advantage`` a
    trainer's rule on groups ``float[O, M] -> float[O, M]`` instead of the scheme's form.
    """
    enum = enumerate_sequences(task)
    probs, _, _ = walk_probs(table, task)
    n, lmax = enum.lengths.shape[0], task.max_length
    lengths = enum.lengths.astype(np.float64)
    stopped = np.array(
        [
            row[length - 1] == task.stop
            for row, length in zip(enum.tokens, enum.lengths, strict=True)
        ]
    )
    rewards = enum.correct.astype(np.float64)
    if overlong is not None:
        buffer, factor = overlong
        rewards = rewards + np.minimum(-(lengths - (lmax - buffer)) / buffer * factor, 0.0)
    a_table, b_table = scheme.tables(m)
    index = np.array(list(itertools.product(range(n), repeat=g * m)), np.int64)
    prob = probs[index].prod(-1)
    groups = index.reshape(len(index), g, m)
    num_correct = enum.correct[groups].sum(-1)  # [O, G]
    if reward_range is None:
        kept = np.ones(num_correct.shape, bool)
    else:
        low, high = reward_range
        kept = (num_correct / m > low) & (num_correct / m < high)
    first = groups[:, 0]
    if overlong is None:
        r = enum.correct[first]
        s = num_correct[:, :1]
        z = np.where(r, a_table[s], b_table[s])
    else:
        rule = advantage or (lambda r: scheme.real_reward_weights(r, None, m))
        z = np.asarray(rule(rewards[first]))
    own = stopped[first] if mask_truncated else np.ones(first.shape, bool)
    counted = lengths * (stopped if mask_truncated else 1.0)
    if aggregation == "seq-mean-token-sum":
        f = np.ones(first.shape)
    elif aggregation == "seq-mean-token-mean":
        f = 1.0 / lengths[first]
    elif aggregation == "seq-mean-token-sum-norm":
        f = np.full(first.shape, 1.0 / lmax)
    else:
        total = counted[index].sum(-1, keepdims=True)  # 0 only when every answer is masked
        f = g * m / np.maximum(total, 1.0) * np.ones(first.shape)
    weight = np.where(own, f * z, 0.0) * kept[:, :1]
    if answer_factor is not None:
        weight = weight * answer_factor[first]
    if refill and reward_range is not None:
        all_kept = kept.all(-1)
        prob = np.where(all_kept, prob, 0.0) / prob[all_kept].sum()
    mass = np.zeros(n)
    np.add.at(mass, first.reshape(-1), (prob[:, None] * weight).reshape(-1) / m)
    live = np.arange(lmax)[None, :] < enum.lengths[:, None]
    out = np.where(live, mass[:, None], 0.0)
    return out if token_factor is None else out * token_factor
