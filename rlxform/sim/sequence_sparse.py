"""Fast path of the sequence simulator: tabular policy with SGD as an in-place sparse update.

With SGD, one step changes only the prefix rows the batch visited: the gradient of
sum_bi c_bi log pi(y_bi) in logits[x_b, n] is sum over visits of c_bi (onehot(t) - softmax(row)),
so the step is a scatter-add of lr times those rows into the [P, num_prefixes, V] table (no dense
gradient, no dense optimizer pass). Same draws, coefficients and records as
``simulate.make_simulate`` (its reference route; tests check they agree); a step
whose visited rows turn non-finite stops the run like the reference (same nonfinite_step,
same masked records).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rlxform.sim import loop
from rlxform.sim.ascent import initial_params, make_record, policy_of, tables
from rlxform.sim.config import SequenceMetrics, SimConfig
from rlxform.sim.group_loss import draw_prompts, group_coefficients
from rlxform.sim.hparams import HParams, checked_hparams
from rlxform.sim.sampling import sample_token_probs
from rlxform.sim.sequence_groups import token_group
from rlxform.types import Array, PRNGKey, PyTree
from rlxform.validation import InputError


def sparse_sgd_step(
    key: PRNGKey,
    logits: Array,
    cfg: SimConfig,
    a_table: Array,
    b_table: Array,
    lr: Array,
    frozen: Array,
) -> tuple[Array, Array, Array]:
    """One SGD ascent step on ``logits float32[P, num_prefixes, V]``; returns (logits, bad, S).

    Same draws as ``estimator.sample_gradient`` (``sample_token_probs`` is the policy's sampler
    plus the softmax of each visited row); with c_bm = ``group_coefficients`` / B, the rows
    r = (x_b, n_bmj) of the flat ``[P num_prefixes, V]`` table get
    lr c_bm (onehot(t_bmj) - softmax(row_r)) on live positions, scatter-added in place (zero
    when ``frozen``). ``bad``: a visited row is not finite afterwards. A diverged run keeps its
    non-finite table (never read: every later record is masked), so no dense select is needed
    to restore the last finite one.
    """
    problem = cfg.problem
    num_prompts, num_nodes, vocab = logits.shape
    batch_key, sample_key = jax.random.split(key)
    prompts = draw_prompts(batch_key, cfg)
    if prompts is None:
        prompts = jnp.arange(num_prompts, dtype=jnp.int32)
    tokens, nodes, probs = sample_token_probs(
        sample_key, logits, prompts, cfg.group_size, problem.task.max_length
    )
    group = token_group(problem.task, prompts, tokens, nodes)
    coef, s = group_coefficients(group, a_table, b_table, cfg)  # [B, M]
    live = nodes >= 0
    rows = (prompts[:, None, None] * num_nodes + jnp.where(live, nodes, 0)).reshape(-1)
    onehot = jax.nn.one_hot(jnp.where(live, tokens, 0), vocab, dtype=probs.dtype)
    scale = jnp.where(live & ~frozen, lr * coef[:, :, None] / cfg.batch, 0.0)[..., None]
    delta = (scale * (onehot - probs)).reshape(-1, vocab)
    flat = logits.reshape(num_prompts * num_nodes, vocab)
    new = flat.at[rows].add(delta, mode="promise_in_bounds")
    bad = ~jnp.all(jnp.isfinite(new.at[rows].get(mode="promise_in_bounds")))
    return new.reshape(logits.shape), bad, s


def build_sparse_simulate(cfg: SimConfig, params0: PyTree | None = None):
    """Un-jitted ``(hparams, key) -> SequenceMetrics`` for sequence_tabular with SGD."""
    policy = policy_of(cfg)
    if not policy.sparse_sgd or cfg.optimizer != "sgd":
        raise InputError(
            f"policy={cfg.problem.policy!r}, optimizer={cfg.optimizer!r} is invalid for the "
            "sparse path: must be a policy with sparse_sgd (sequence_tabular) with sgd"
        )
    params0 = initial_params(cfg) if params0 is None else params0

    def simulate(hparams: HParams, key: PRNGKey) -> SequenceMetrics:
        a_table, b_table = tables(cfg, hparams.eps)
        keys = jax.random.split(key, cfg.num_steps).reshape(-1, cfg.record_every)
        lr = jnp.asarray(hparams.learning_rate, jnp.float32)
        record_of = make_record(cfg, policy, {}, a_table, b_table)

        def step(carry, step_key):
            logits, first, count = carry
            new, bad, s = sparse_sgd_step(step_key, logits, cfg, a_table, b_table, lr, first >= 0)
            first = jnp.where((first < 0) & bad, count, first)
            degenerate = jnp.mean(((s == 0) | (s == cfg.group_size)).astype(jnp.float32))
            return (new, first, count + 1), degenerate

        def record(carry, degenerate, end):
            degenerate = 0.0 if degenerate is None else jnp.mean(degenerate)
            return record_of({"logits": carry[0]}, degenerate, end, carry[1] >= 0)

        start = jax.lax.optimization_barrier(params0)  # a closed-over constant: do not fold
        carry = (start["logits"], jnp.asarray(-1, jnp.int32), jnp.asarray(0, jnp.int32))
        carry, metrics = loop.scan_records(
            step, record, carry, keys, cfg.num_steps, cfg.record_every
        )
        return metrics._replace(nonfinite_step=carry[1])

    return simulate


def make_sparse_simulate(cfg: SimConfig, params0: PyTree | None = None):
    """Jitted sparse-SGD simulator ``(hparams, key) -> SequenceMetrics`` (tabular, sgd only)."""
    return checked_hparams(jax.jit(build_sparse_simulate(cfg, params0)))
