"""Sequence policies behind the ``Policy`` protocol: groups of token sequences (SPEC section 8).

Both kinds are a prefix table, next-token logits at every prefix of every prompt
``float[P, num_prefixes, V]`` (``sequence_tabular``: the params, started at the tilted uniform
policy of ``core.sequences.tilted_logits``; ``sequence_network``: a GRU evaluated on every
prefix, ``rlxform.sim.sequence_network``). ``sample`` draws M responses per batch prompt token
by token (``sampling.sample_tokens``); the ``Group`` holds tokens, the prefix node of each token,
lengths and rewards (the verifier on the enumeration). ``log_prob`` sums the chosen tokens'
log-softmax. The exact law, the records (``length_stats``) and the per-token log-probs of every
response are ``core.sequences``' on the table, evaluated in jax.numpy.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from rlxform.core import sequences as core
from rlxform.core.sequences import PAD, SequenceTask, enumerate_sequences
from rlxform.sim.config import Problem
from rlxform.sim.policies import ExactLaw, Footprint, Group, Policy, initial_p
from rlxform.sim.sampling import sample_tokens
from rlxform.sim.sequence_network import NetworkConfig, init_sequence_network, network_logits
from rlxform.types import Array, PRNGKey, PyTree


def network_config(problem: Problem) -> NetworkConfig:
    """The GRU's ``NetworkConfig`` (task, P, hidden) of a sequence problem."""
    return NetworkConfig(problem.task, problem.num_prompts, problem.hidden)


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


def group_token_log_probs(table: Array, group: Group) -> tuple[Array, Array]:
    """(log pi(y_t | y_<t) ``float[B, M, L]`` with 0 on padding, live tokens ``bool[B, M, L]``)."""
    live = group.nodes >= 0
    rows = table[group.prompts[:, None, None], jnp.where(live, group.nodes, 0)]  # [B, M, L, V]
    log_probs = jax.nn.log_softmax(rows, axis=-1)
    chosen = jnp.take_along_axis(log_probs, jnp.where(live, group.tokens, 0)[..., None], -1)
    return jnp.where(live, chosen[..., 0], 0.0), live


def group_token_entropies(table: Array, group: Group) -> Array:
    """Entropy of the next-token distribution at each drawn token's prefix, ``float[B, M, L]``
    (0 on padding)."""
    live = group.nodes >= 0
    rows = table[group.prompts[:, None, None], jnp.where(live, group.nodes, 0)]  # [B, M, L, V]
    log_probs = jax.nn.log_softmax(rows, axis=-1)
    return jnp.where(live, -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1), 0.0)


def group_log_probs(table: Array, group: Group) -> Array:
    """log pi(y_bi | x_b) of the sampled responses from the prefix table, ``float[B, M]``."""
    return jnp.sum(group_token_log_probs(table, group)[0], axis=-1)


def _table_policy(
    problem: Problem, table: Callable[[PyTree], Array], init: Callable, sparse_sgd: bool
) -> Policy:
    """The ``Policy`` of a prefix-table function ``table(params) -> float[P, num_prefixes, V]``."""
    task = problem.task

    def sample(key, params, prompts, group_size):
        if prompts is None:
            prompts = jnp.arange(problem.num_prompts, dtype=jnp.int32)
        return sample_groups(key, jax.lax.stop_gradient(table(params)), task, prompts, group_size)

    def stats(params):
        return core.length_stats(table(params), task)

    law = ExactLaw(
        enumerate_sequences(task),
        lambda params: core.response_log_probs(table(params), task),
        lambda params: core.token_log_probs(table(params), task)[0],
    )
    return Policy(
        init=init,
        sample=sample,
        log_prob=lambda params, group: group_log_probs(table(params), group),
        p_correct=lambda params: stats(params)[0],
        exact_law=law,
        length_stats=stats,
        token_log_prob=lambda params, group: group_token_log_probs(table(params), group),
        sparse_sgd=sparse_sgd,
        large_params=True,
        token_entropy=lambda params, group: group_token_entropies(table(params), group),
        prefix_logits=table,
    )


def tabular_policy(problem: Problem, sampler: str | None = None) -> Policy:
    """``sequence_tabular``: params ``{"logits": float32[P, num_prefixes, V]}``, started at the
    tilted uniform policy with the population's p. ``sampler`` (the bandits' count sampler) is
    not used: tokens are always drawn by inverse CDF."""
    del sampler

    def init(key: PRNGKey) -> PyTree:
        pop_key, _ = jax.random.split(key)
        p = np.asarray(initial_p(pop_key, problem))
        return {"logits": jnp.asarray(core.tilted_logits(problem.task, p), jnp.float32)}

    return _table_policy(problem, lambda params: params["logits"], init, sparse_sgd=True)


def network_policy(problem: Problem, sampler: str | None = None) -> Policy:
    """``sequence_network``: a GRU shared by every prompt (``sequence_network``); initial p is
    what the initialisation gives. ``sampler`` is not used (tokens by inverse CDF)."""
    del sampler
    config = network_config(problem)

    def init(key: PRNGKey) -> PyTree:
        _, init_key = jax.random.split(key)
        return init_sequence_network(init_key, config)

    return _table_policy(problem, lambda params: network_logits(params, config), init, False)


def tabular_footprint(problem: Problem, group_size: int) -> Footprint:
    """float32 elements of one run: a logit row over V per prefix per prompt; sampling work
    P M max_length (V + 1) (``rlxform.resources.simulation_bytes``)."""
    vocab, length = problem.vocab_size, problem.max_length
    params = problem.num_prompts * core.num_prefixes(problem.task) * vocab
    return Footprint(params, problem.num_prompts * group_size * length * (vocab + 1), 0)


def network_footprint(problem: Problem, group_size: int) -> Footprint:
    """float32 elements of one run: the GRU (3 gates), head and prompt embedding; sampling work
    as tabular; 4 P H max_length activations."""
    vocab, hidden, length = problem.vocab_size, problem.hidden, problem.max_length
    params = 3 * (vocab + hidden + 1) * hidden + (hidden + 1) * vocab + problem.num_prompts * hidden
    work = problem.num_prompts * group_size * length * (vocab + 1)
    return Footprint(params, work, 4 * problem.num_prompts * hidden * length)
