"""Sequence policies behind the ``Policy`` protocol: groups of token sequences (SPEC section 8).

Both kinds expose a prefix table, next-token logits at every prefix of every prompt
``float[P, num_prefixes, V]`` (``sequence_tabular``: the params; ``sequence_network``: a GRU,
``rlxform.sim.sequence_network``). ``sample`` draws M responses per batch prompt token by
token (``lax.scan`` over positions); the ``Group`` holds tokens, the prefix node of each token,
lengths and rewards (the verifier on the enumeration). ``log_prob`` sums the chosen tokens'
log-softmax. ``length_stats`` gives the exact p, E[L | correct], E[L | wrong] from the
enumerated response law (``tree_log_probs``, one matrix product over the responses).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from rlxform.sim.config import Problem
from rlxform.sim.policies import Group, Policy, initial_p, register
from rlxform.sim.sampling import sample_tokens
from rlxform.sim.sequence_network import NetworkConfig, init_sequence_network, network_logits
from rlxform.sim.sequence_policies import init_sequence_tabular
from rlxform.sim.sequence_tasks import PAD, SequenceTask, enumerate_sequences
from rlxform.types import Array, PRNGKey, PyTree


def network_config(problem: Problem) -> NetworkConfig:
    """The GRU's ``NetworkConfig`` (task, P, hidden) of a sequence problem."""
    return NetworkConfig(problem.task, problem.num_prompts, problem.hidden)


def prefix_table(params: PyTree, problem: Problem) -> Array:
    """Next-token logits at every prefix of every prompt, ``float[P, num_prefixes, V]``."""
    if problem.policy == "sequence_network":
        return network_logits(params, network_config(problem))
    return params["logits"]


def sample_groups(
    key: PRNGKey, table: Array, task: SequenceTask, prompts: Array, group_size: int
) -> Group:
    """Draw M responses for each prompt of ``prompts int32[B]``, token by token.

    Inverse CDF with one uniform per token (``sampling.sample_tokens``; rows of the full table
    are gathered, never copied); the ``Group`` of the draws is ``token_group``.
    """
    tokens, nodes = sample_tokens(key, table, prompts, group_size, task.max_length)
    return token_group(task, prompts, tokens, nodes)


def token_group(task: SequenceTask, prompts: Array, tokens: Array, nodes: Array) -> Group:
    """The ``Group`` of drawn ``tokens`` / ``nodes int32[B, M, L]`` (``PAD`` after the stop).

    Rewards come from the enumeration index of each response, the breadth-first tree index of
    its content string n = sum_j (1 + t_j) b^(k-1-j), b = V-1 (enumeration order).
    """
    b = task.vocab_size - 1
    lengths = jnp.sum(tokens != PAD, axis=-1).astype(jnp.int32)
    content = (tokens != PAD) & (tokens != task.stop)
    k = jnp.sum(content, axis=-1, keepdims=True)
    power = (k - 1 - jnp.arange(task.max_length)).clip(0)
    index = jnp.sum(jnp.where(content, (1 + tokens) * b**power, 0), axis=-1).astype(jnp.int32)
    rewards = jnp.asarray(enumerate_sequences(task).correct)[index]
    return Group(prompts, None, rewards, lengths, tokens, nodes)


def group_log_probs(table: Array, group: Group) -> Array:
    """log pi(y_bi | x_b) of the sampled responses from the prefix table, ``float[B, M]``."""
    live = group.nodes >= 0
    rows = table[group.prompts[:, None, None], jnp.where(live, group.nodes, 0)]  # [B, M, L, V]
    log_probs = jax.nn.log_softmax(rows, axis=-1)
    chosen = jnp.take_along_axis(log_probs, jnp.where(live, group.tokens, 0)[..., None], -1)
    return jnp.sum(jnp.where(live, chosen[..., 0], 0.0), axis=-1)


def group_token_log_probs(table: Array, group: Group) -> tuple[Array, Array]:
    """(log pi(y_t | y_<t) ``float[B, M, L]`` with 0 on padding, live tokens ``bool[B, M, L]``)."""
    live = group.nodes >= 0
    rows = table[group.prompts[:, None, None], jnp.where(live, group.nodes, 0)]  # [B, M, L, V]
    log_probs = jax.nn.log_softmax(rows, axis=-1)
    chosen = jnp.take_along_axis(log_probs, jnp.where(live, group.tokens, 0)[..., None], -1)
    return jnp.where(live, chosen[..., 0], 0.0), live


def _response_log_probs(table: Array, task: SequenceTask) -> Array:
    """log pi(y) of every enumerated response with the prompt axes last, ``float[N, ...]``.

    Level by level down the prefix tree: cum[child] = cum[parent] + log softmax(table[parent])[t];
    a stopped response at prefix n has cum[n] + log softmax(table[n])[stop], a truncated one the
    cum of its full-length content (the enumeration index is the tree index). The table is moved
    to ``[num_prefixes, V, ...]`` once, so every level is a contiguous slab and the V-way
    log-softmax is V column ops (XLA CPU reduces a short minor axis several times slower).
    O(num_prefixes V) adds per prompt instead of O(N max_length) gathers.
    """
    b, lead = task.vocab_size - 1, table.shape[:-2]
    moved = jnp.moveaxis(table, (-2, -1), (0, 1))  # [num_prefixes, V, ...]
    columns = [moved[:, v] for v in range(task.vocab_size)]
    top = functools.reduce(jnp.maximum, columns)
    total = functools.reduce(jnp.add, [jnp.exp(c - top) for c in columns])
    log_probs = moved - (top + jnp.log(total))[:, None]
    levels = [jnp.zeros((1, *lead), table.dtype)]
    start = 0
    for k in range(task.max_length):  # static unroll over max_length levels
        width = b**k
        rows = log_probs[start : start + width, :b]  # [width, b, ...]
        levels.append((levels[-1][:, None] + rows).reshape(width * b, *lead))
        start += width
    stopped = jnp.concatenate(levels[:-1], axis=0) + log_probs[:, task.stop]
    return jnp.concatenate([stopped, levels[-1]], axis=0)


def tree_log_probs(table: Array, task: SequenceTask) -> Array:
    """log pi(y) of every enumerated response, ``float[..., num_prefixes, V] -> float[..., N]``.

    Ordered like ``sequence_log_probs`` (the reference; equal values); see
    ``_response_log_probs`` for the recursion.
    """
    return jnp.moveaxis(_response_log_probs(table, task), 0, -1)


def length_stats(table: Array, task: SequenceTask) -> tuple[Array, Array, Array]:
    """(p, E[L | correct], E[L | wrong]) of the prefix table, each ``float[...]``.

    With pi(y) = exp ``_response_log_probs`` and the static columns w(y) = (r(y), r(y) L(y),
    (1 - r(y)) L(y)), (p, E[r L], E[(1 - r) L]) = w^T pi, one matrix product over the N
    responses (full float32 precision); E[L | correct] = E[r L] / p, E[L | wrong] =
    E[(1 - r) L] / (1 - p).
    """
    enum = enumerate_sequences(task)
    lengths = np.asarray(enum.lengths, np.float64)
    columns = np.stack([enum.correct, enum.correct * lengths, ~enum.correct * lengths])
    probs = jnp.exp(_response_log_probs(table, task))  # [N, ...]
    p, mass_correct, mass_wrong = jnp.tensordot(
        jnp.asarray(columns, probs.dtype), probs, axes=1, precision=jax.lax.Precision.HIGHEST
    )
    return p, mass_correct / p, mass_wrong / (1.0 - p)


def _sequence_policy(problem: Problem) -> Policy:
    task = problem.task

    def init(key: PRNGKey) -> PyTree:
        pop_key, init_key = jax.random.split(key)
        if problem.policy == "sequence_network":
            return init_sequence_network(init_key, network_config(problem))
        return init_sequence_tabular(task, np.asarray(initial_p(pop_key, problem)))

    def sample(key, params, prompts, group_size):
        if prompts is None:
            prompts = jnp.arange(problem.num_prompts, dtype=jnp.int32)
        table = jax.lax.stop_gradient(prefix_table(params, problem))
        return sample_groups(key, table, task, prompts, group_size)

    def stats(params):
        return length_stats(prefix_table(params, problem), task)

    return Policy(
        init=init,
        sample=sample,
        log_prob=lambda params, group: group_log_probs(prefix_table(params, problem), group),
        p_correct=lambda params: stats(params)[0],
        length_stats=stats,
        token_log_prob=lambda params, g: group_token_log_probs(prefix_table(params, problem), g),
    )


for _kind in ("sequence_tabular", "sequence_network"):
    register(_kind)(_sequence_policy)
