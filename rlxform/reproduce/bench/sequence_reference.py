"""The ``jax_reference`` row of W5: the sequence run as a strong JAX user writes it.

Independent of rlxform's sampler and estimator: responses drawn token by token with
``jax.random.categorical`` in a ``lax.scan`` over positions, rewards looked up in the task's
enumeration, GRPO advantages computed from the rewards, the seq-mean-token-mean surrogate
differentiated by ``jax.grad`` with respect to the DENSE ``float32[P, num_prefixes, V]`` table,
``optax.sgd`` and a ``lax.scan`` over T steps, all in one jit. Prefix n, content token t -> child
b n + 1 + t (b = V-1, the tabular policy's breadth-first layout). It starts from the same table
(``ascent.initial_params``) and makes the same two exact records (step 0 and T) with rlxform's
``length_stats``, so both rows pay the same record work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rlxform.core.sequences import SequenceTask, enumerate_sequences, length_stats
from rlxform.sim.config import SimConfig
from rlxform.types import Array, ArrayLike, PRNGKey
from rlxform.validation import InputError


class Responses(NamedTuple):
    """M sampled responses per prompt (P prompts, L = max_length positions).

    Attributes:
      tokens: ``int32[P, M, L]`` chosen tokens (arbitrary after the end).
      nodes: ``int32[P, M, L]`` prefix index at which each token was chosen.
      live: ``bool[P, M, L]`` the position is part of the response (its stop included).
      index: ``int32[P, M]`` enumeration index (``enumerate_sequences`` order).
    """

    tokens: Array
    nodes: Array
    live: Array
    index: Array


class ReferenceRecords(NamedTuple):
    """Exact records at step 0 and step T (leading axis 2).

    Attributes:
      p: ``float32[2, P]`` success probability per prompt.
      mean_p: ``float32[2]``.
      mean_length_correct, mean_length_wrong: ``float32[2]``, prompt means of E[L | correct],
        E[L | wrong].
    """

    p: Array
    mean_p: Array
    mean_length_correct: Array
    mean_length_wrong: Array


def sample_responses(key: PRNGKey, logits: Array, task: SequenceTask, group_size: int) -> Responses:
    """Draw M responses per prompt from ``logits float32[P, num_prefixes, V]``.

    Position j draws t ~ categorical(logits[x, n]) for every (x, i) at once; a live content
    token moves n to b n + 1 + t. The enumeration index of a response is the prefix where it
    chose stop, or, truncated after L content tokens, the unclamped child of its last prefix
    (the last tree level follows the ``num_prefixes`` prefixes in the enumeration).
    """
    num_prompts, num_nodes, _ = logits.shape
    b = task.vocab_size - 1
    rows_of = jnp.arange(num_prompts)[:, None]

    def position(carry, position_key):
        node, done, index = carry  # [P, M] each
        rows = logits[rows_of, jnp.minimum(node, num_nodes - 1)]  # [P, M, V]
        token = jax.random.categorical(position_key, rows, axis=-1).astype(jnp.int32)
        live = ~done
        stop = token == task.stop
        child = b * node + 1 + token
        index = jnp.where(live & stop, node, jnp.where(live, child, index))
        return (child, done | stop, index), (token, node, live)

    zeros = jnp.zeros((num_prompts, group_size), jnp.int32)
    start = (zeros, jnp.zeros((num_prompts, group_size), bool), zeros)
    keys = jax.random.split(key, task.max_length)
    (_, _, index), (tokens, nodes, live) = jax.lax.scan(position, start, keys)
    move = lambda x: jnp.moveaxis(x, 0, -1)  # [L, P, M] -> [P, M, L]
    nodes = jnp.minimum(move(nodes), num_nodes - 1)  # dead positions only exceed the table
    return Responses(move(tokens), nodes, move(live), index)


def group_advantages(rewards: ArrayLike, std: str = "population", eps: float = 0.0) -> Array:
    """GRPO advantages (r - mean_i r) / (sd_i r + eps) over the last axis; 0 if sd = 0.

    ``float[..., M] -> float[..., M]``; sd the population (ddof 0) or sample (ddof 1) std.
    """
    rewards = jnp.asarray(rewards, jnp.float32)
    m = rewards.shape[-1]
    centred = rewards - jnp.mean(rewards, axis=-1, keepdims=True)
    ddof = 1 if std == "sample" else 0
    sd = jnp.sqrt(jnp.sum(centred**2, axis=-1, keepdims=True) / (m - ddof))
    return jnp.where(sd > 0, centred / jnp.where(sd > 0, sd + eps, 1.0), 0.0)


def surrogate(logits: Array, responses: Responses, advantages: Array) -> Array:
    """seq-mean-token-mean: mean_x mean_i (A_xi / L_xi) sum_t log pi(t_xit | n_xit).

    ``logits float32[P, num_prefixes, V]``, ``advantages float32[P, M]`` -> scalar; its
    gradient is the ascent direction (L_xi = number of live positions, the stop included).
    """
    prompts = jnp.arange(logits.shape[0])[:, None, None]
    log_probs = jax.nn.log_softmax(logits[prompts, responses.nodes], axis=-1)  # [P, M, L, V]
    chosen = jnp.take_along_axis(log_probs, responses.tokens[..., None], axis=-1)[..., 0]
    per_response = jnp.sum(jnp.where(responses.live, chosen, 0.0), axis=-1)  # log pi(y) [P, M]
    lengths = jnp.sum(responses.live, axis=-1)
    return jnp.mean(advantages / lengths * per_response)


def _records(logits: Array, task: SequenceTask) -> tuple[Array, Array, Array]:
    """(p ``float32[P]``, mean E[L | correct], mean E[L | wrong]) from rlxform's exact route."""
    p, length_correct, length_wrong = length_stats(logits, task)
    return p, jnp.mean(length_correct), jnp.mean(length_wrong)


def build_sequence_reference(
    cfg: SimConfig,
) -> Callable[[Array, ArrayLike, PRNGKey], ReferenceRecords]:
    """Un-jitted ``(logits0 float32[P, num_prefixes, V], learning_rate, key) -> records``.

    Each of the T steps (keys ``jax.random.split(key, T)``) draws M responses per prompt,
    rewards r = correct[index], A = GRPO(r), and applies ``optax.sgd(learning_rate)`` to the
    loss -surrogate (dense gradient of the whole table). Covers ``sequence_tabular``, GRPO,
    ``seq-mean-token-mean``, SGD, full batches (the W5 configuration).
    """
    problem = cfg.problem
    if (
        problem.policy != "sequence_tabular"
        or cfg.scheme.name != "grpo"
        or cfg.aggregation != "seq-mean-token-mean"
        or cfg.optimizer != "sgd"
        or cfg.batch != problem.num_prompts
        or cfg.dynamic_sampling
        or cfg.std_scope != "group"
    ):
        raise InputError(
            "cfg is invalid for the W5 JAX reference: must be sequence_tabular, grpo, "
            "seq-mean-token-mean, sgd, full batches, no dynamic sampling, std_scope group"
        )
    task = problem.task
    correct = jnp.asarray(np.asarray(enumerate_sequences(task).correct))
    std, eps = cfg.scheme.kwargs.get("std", "population"), cfg.scheme.kwargs.get("eps", 0.0)
    group_size = cfg.group_size

    def run(logits0: Array, learning_rate: ArrayLike, key: PRNGKey) -> ReferenceRecords:
        optimizer = optax.sgd(learning_rate)

        def step(carry, step_key):
            logits, opt_state = carry
            responses = sample_responses(step_key, logits, task, group_size)
            advantages = group_advantages(correct[responses.index], std, eps)
            loss = lambda x: -surrogate(x, responses, advantages)
            updates, opt_state = optimizer.update(jax.grad(loss)(logits), opt_state)
            return (optax.apply_updates(logits, updates), opt_state), None

        start = _records(logits0, task)
        carry = (logits0, optimizer.init(logits0))
        (logits, _), _ = jax.lax.scan(step, carry, jax.random.split(key, cfg.num_steps))
        p, length_correct, length_wrong = (
            jnp.stack(pair) for pair in zip(start, _records(logits, task), strict=True)
        )
        return ReferenceRecords(p, jnp.mean(p, axis=-1), length_correct, length_wrong)

    return run
