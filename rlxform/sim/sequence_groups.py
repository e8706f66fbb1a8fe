"""Sequence policies behind the ``Policy`` protocol: groups of token sequences (SPEC section 8).

Both kinds expose a prefix table, next-token logits at every prefix of every prompt
``float[P, num_prefixes, V]`` (``sequence_tabular``: the params; ``sequence_network``: a GRU,
``rlxform.sim.sequence_network``). ``sample`` draws M responses per batch prompt token by
token (``lax.scan`` over positions); the ``Group`` holds tokens, the prefix node of each token,
lengths and rewards (the verifier on the enumeration). ``log_prob`` sums the chosen tokens'
log-softmax. ``length_stats`` gives the exact p, E[L | correct], E[L | wrong] from the
enumerated response law (``tree_log_probs``).
"""

from __future__ import annotations

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
    are gathered, never copied). Rewards come from the enumeration index of each response, the
    breadth-first tree index of its content string n = sum_j (1 + t_j) b^(k-1-j), b = V-1
    (enumeration order).
    """
    b = task.vocab_size - 1
    tokens, nodes = sample_tokens(key, table, prompts, group_size, task.max_length)
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


def tree_log_probs(table: Array, task: SequenceTask) -> Array:
    """log pi(y) of every enumerated response, level by level down the prefix tree.

    cum[child] = cum[parent] + log softmax(table[parent])[t]; a stopped response at prefix n has
    cum[n] + log softmax(table[n])[stop], a truncated one the cum of its full-length content.
    The enumeration index is the tree index, so the result is ordered like
    ``sequence_log_probs`` (the reference; equal values) at O(num_prefixes V) instead of
    O(N max_length) gathers. ``float[..., num_prefixes, V] -> float[..., N]``.
    """
    b = task.vocab_size - 1
    log_probs = jax.nn.log_softmax(table, axis=-1)
    lead = table.shape[:-2]
    levels = [jnp.zeros((*lead, 1), table.dtype)]
    start = 0
    for k in range(task.max_length):  # static unroll over max_length levels
        width = b**k
        rows = log_probs[..., start : start + width, :b]  # [..., width, b]
        levels.append((levels[-1][..., :, None] + rows).reshape(*lead, width * b))
        start += width
    cum = jnp.concatenate(levels[:-1], axis=-1)  # [..., num_prefixes]
    stopped = cum + log_probs[..., task.stop]
    return jnp.concatenate([stopped, levels[-1]], axis=-1)


def length_stats(log_pi: Array, task: SequenceTask) -> tuple[Array, Array, Array]:
    """(p, E[L | correct], E[L | wrong]) from ``log pi float[..., N]``, each ``float[...]``."""
    enum = enumerate_sequences(task)
    probs = jnp.exp(log_pi)
    correct = jnp.asarray(enum.correct)
    mass = probs * jnp.asarray(enum.lengths, probs.dtype)
    p = jnp.sum(jnp.where(correct, probs, 0.0), axis=-1)
    length_correct = jnp.sum(jnp.where(correct, mass, 0.0), axis=-1) / p
    length_wrong = jnp.sum(jnp.where(correct, 0.0, mass), axis=-1) / (1.0 - p)
    return p, length_correct, length_wrong


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
        return length_stats(tree_log_probs(prefix_table(params, problem), task), task)

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
