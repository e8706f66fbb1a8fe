"""Exact mean step of the sequence simulator (``rlxform.sequence_sim``), batch blocks included.

omega_x(y) = E[f Z | y drawn for prompt x] in the simulator's batch: own-length factors by the
R-A identity (``sequence_weights_from_tables``); token-mean by convolution, with the other G-1
groups of the block taken from the block's actual prompts (full batch) or drawn from the prompt
mixture (random batches, with replacement). ``expected_grad`` is the gradient of
mean_x sum_y sg(pi_x(y) omega_x(y)) log pi_x(y): E[grad loss] of one step, for any policy whose
prefix table is differentiable (tabular or network). Tests: brute force over every batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rlxform.aggregation import _power_convolve, sequence_weights_from_tables
from rlxform.sim.sequence_policies import sequence_log_probs
from rlxform.sequence_sim import SeqSimConfig, prefix_table
from rlxform.sim.sequence_tasks import enumerate_sequences
from rlxform.types import Array, PyTree


def _token_mean_omega(a_table, b_table, probs, lengths, correct, others, max_length, scale):
    """omega(y) = scale E[Z / (L(y) + T' + T'')]: (S', T') the other M-1 samples of the group
    (convolution of the per-sample (r, L) law), T'' ~ ``others`` (the other groups' tokens)."""
    m = a_table.shape[0] - 1
    law = jnp.zeros((2, max_length + 1), probs.dtype).at[correct.astype(jnp.int32), lengths]
    group = _power_convolve(law.add(probs), m - 1)  # [M, (M-1) L + 1]
    hi = jax.lax.Precision.HIGHEST
    joint = jax.vmap(lambda row: jnp.convolve(row, others, precision=hi))(group)
    total = jnp.arange(joint.shape[1], dtype=probs.dtype)
    own = jnp.arange(1, max_length + 1, dtype=probs.dtype)
    by_count = joint @ (1.0 / (own[:, None] + total[None, :])).T  # [M, L]
    table_correct = scale * (a_table[1:] @ by_count)
    table_wrong = scale * (b_table[:-1] @ by_count)
    return jnp.where(correct, table_correct[lengths - 1], table_wrong[lengths - 1])


def _others_laws(group_laws: Array, cfg: SeqSimConfig) -> Array:
    """Law of the other G-1 groups' total tokens for each prompt, ``float[P, (G-1) M L + 1]``.

    Full batch: the block's actual other prompts (consecutive blocks of G). Random batches:
    G-1 independent draws from the mixture over prompts.
    """
    g = cfg.batch_groups
    width = (g - 1) * (group_laws.shape[1] - 1) + 1
    if cfg.batch_size is not None:
        mixture = jnp.mean(group_laws, axis=0)[None, :]
        others = _power_convolve(mixture, g - 1)[0]
        return jnp.broadcast_to(others, (cfg.num_prompts, width))
    hi = jax.lax.Precision.HIGHEST
    blocks = group_laws.reshape(-1, g, group_laws.shape[1])
    start = jnp.zeros(width, group_laws.dtype).at[0].set(1.0)

    def for_member(block, member):
        def fold(acc, j):
            moved = jnp.convolve(acc, block[j], precision=hi)[:width]
            return jnp.where(j == member, acc, moved), None

        return jax.lax.scan(fold, start, jnp.arange(g))[0]

    per_block = jax.vmap(lambda blk: jax.vmap(lambda i: for_member(blk, i))(jnp.arange(g)))
    return per_block(blocks).reshape(cfg.num_prompts, width)


def exact_weights(probs: Array, a_table: Array, b_table: Array, cfg: SeqSimConfig) -> Array:
    """omega_x(y) = E[f Z | y drawn for prompt x] in the simulator's batch, ``float[P, N]``."""
    enum = enumerate_sequences(cfg.task)
    lengths, correct = jnp.asarray(enum.lengths), jnp.asarray(enum.correct)
    max_length = cfg.task.max_length
    if cfg.aggregation != "token-mean":
        weigh = lambda q: sequence_weights_from_tables(
            a_table, b_table, cfg.aggregation, q, lengths, correct, max_length=max_length
        )
        return jax.vmap(weigh)(probs)
    length_law = jnp.zeros((cfg.num_prompts, max_length + 1), probs.dtype)
    length_law = length_law.at[:, lengths].add(probs)
    group_laws = jax.vmap(lambda q: _power_convolve(q[None, :], cfg.group_size)[0])(length_law)
    others = _others_laws(group_laws, cfg)
    scale = cfg.batch_groups * cfg.group_size
    weigh = lambda q, o: _token_mean_omega(
        a_table, b_table, q, lengths, correct, o, max_length, scale
    )
    return jax.vmap(weigh)(probs, others)


def expected_grad(params: PyTree, cfg: SeqSimConfig, a_table: Array, b_table: Array) -> PyTree:
    """Exact E[grad loss] of one step: grad of mean_x sum_y sg(pi_x(y) omega_x(y)) log pi_x(y).

    Exact for every batch mode (random batches pick each prompt with probability 1/P per slot).
    """
    log_pi = sequence_log_probs(prefix_table(params, cfg), cfg.task)  # [P, N]
    probs = jnp.exp(jax.lax.stop_gradient(log_pi))
    coef = jax.lax.stop_gradient(probs * exact_weights(probs, a_table, b_table, cfg))

    def surrogate(q):
        return jnp.sum(coef * sequence_log_probs(prefix_table(q, cfg), cfg.task)) / cfg.num_prompts

    return jax.grad(surrogate)(params)
