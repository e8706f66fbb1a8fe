"""Fast path of the sequence simulator: tabular policy with SGD as an in-place sparse update.

With SGD, one step changes only the prefix rows the batch visited: the gradient of
sum_bi c_bi log pi(y_bi) in logits[x_b, n] is sum over visits of c_bi (onehot(t) - softmax(row)),
so the step is a scatter-add of lr times those rows into the [P, num_prefixes, V] table (no dense
gradient, no dense optimizer pass). Same draws, coefficients and records as
``sequence_sim.make_sequence_simulate`` (its reference route; tests check they agree); a step
whose visited rows turn non-finite stops the run like the reference (same nonfinite_step,
same masked records).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rlxform.sequence_sim import (
    SeqMetrics,
    SeqSimConfig,
    _record,
    initial_params,
    sample_coefficients,
    sample_groups,
)
from rlxform.sim.sequence_tasks import enumerate_sequences
from rlxform.sim.simulate import CheckedHParams, HParams
from rlxform.types import Array, PRNGKey, PyTree


def sparse_sgd_step(
    key: PRNGKey,
    logits: Array,
    cfg: SeqSimConfig,
    a_table: Array,
    b_table: Array,
    lr: Array,
    frozen: Array,
) -> tuple[Array, Array]:
    """One SGD ascent step on ``logits float32[P, num_prefixes, V]``; returns (logits, bad).

    rows_bmj = logits[x_b, n_bmj]; delta = lr c_bm (onehot(t_bmj) - softmax(rows_bmj)) on live
    positions, scatter-added at (x_b, n_bmj) in place (zero when ``frozen``). ``bad``: a visited
    row is not finite afterwards. A diverged run keeps its non-finite table (never read: every
    later record is masked), so no dense select is needed to restore the last finite one.
    """
    correct = jnp.asarray(enumerate_sequences(cfg.task).correct)
    batch = sample_groups(key, logits, cfg)
    coef = sample_coefficients(batch, correct, a_table, b_table, cfg)  # [B, M]
    live = batch.nodes >= 0
    nodes = jnp.where(live, batch.nodes, 0)
    prompt = jnp.broadcast_to(batch.prompt[:, None, None], nodes.shape)
    rows = logits[prompt, nodes]  # [B, M, L, V]
    onehot = jax.nn.one_hot(jnp.where(live, batch.tokens, 0), cfg.task.vocab_size, dtype=rows.dtype)
    scale = jnp.where(live & ~frozen, lr * coef[:, :, None], 0.0)[..., None]
    new = logits.at[prompt, nodes].add(scale * (onehot - jax.nn.softmax(rows, axis=-1)))
    bad = ~jnp.all(jnp.isfinite(new[prompt, nodes]))
    return new, bad


def build_sparse_simulate(cfg: SeqSimConfig, params0: PyTree | None = None):
    """Un-jitted ``(hparams, key) -> SeqMetrics`` for sequence_tabular with SGD."""
    if cfg.policy != "sequence_tabular" or cfg.optimizer != "sgd":
        raise ValueError(
            f"policy={cfg.policy!r}, optimizer={cfg.optimizer!r} is invalid for the sparse path: "
            "must be sequence_tabular with sgd"
        )
    params0 = initial_params(cfg) if params0 is None else params0

    def simulate(hparams: HParams, key: PRNGKey) -> SeqMetrics:
        a_table, b_table = cfg.scheme.traced_tables(cfg.group_size, hparams.eps)
        keys = jax.random.split(key, cfg.num_steps).reshape(-1, cfg.record_every)
        steps = jnp.arange(cfg.num_steps, dtype=jnp.int32).reshape(-1, cfg.record_every)
        lr = jnp.asarray(hparams.learning_rate, jnp.float32)

        def one_step(carry, x):
            logits, first = carry
            step, step_key = x
            new, bad = sparse_sgd_step(step_key, logits, cfg, a_table, b_table, lr, first >= 0)
            first = jnp.where((first < 0) & bad, step, first)
            return (new, first), None

        def block(carry, x):
            carry, _ = jax.lax.scan(one_step, carry, x)
            record = _record(
                {"logits": carry[0]}, cfg, a_table, b_table, x[0][-1] + 1, carry[1] >= 0
            )
            return carry, record

        start = jax.lax.optimization_barrier(params0)  # a closed-over constant: do not fold
        first = _record(start, cfg, a_table, b_table, 0, jnp.asarray(False))
        carry = (start["logits"], jnp.asarray(-1, jnp.int32))
        carry, records = jax.lax.scan(block, carry, (steps, keys))
        metrics = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, records)
        return metrics._replace(nonfinite_step=carry[1])

    return simulate


def make_sparse_simulate(cfg: SeqSimConfig, params0: PyTree | None = None):
    """Jitted sparse-SGD simulator ``(hparams, key) -> SeqMetrics`` (tabular, sgd only)."""
    return CheckedHParams(jax.jit(build_sparse_simulate(cfg, params0)))
