"""Exact per-response weights of the simulator's batch, from a policy's exact law.

``exact_weights`` gives omega_x(y) = E[f Z | y drawn for prompt x], the scheme's weight times
the loss aggregation's factor f averaged over the rest of the simulator's batch (token-mean
blocks of G groups); ``step_factor`` the constant f when every sample shares it; and
``aggregation_scale`` E[f | y] (omega of unit tables). Exact ascent (``sim.exact``), the exact
KL steps (``sim.kl_exact``) and the exact entropy step (``sim.entropy_term``) ask these.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from rlxform.core.aggregation import (
    constant_factor,
    length_spectrum,
    sequence_weights_from_tables,
    token_mean_grid,
)
from rlxform.sim.config import SimConfig
from rlxform.sim.policies import ExactLaw, Policy
from rlxform.types import Array


def step_factor(cfg: SimConfig, policy: Policy) -> float | None:
    """The aggregation factor f shared by every sample (``core.aggregation.constant_factor`` on
    the policy's responses), or None when it depends on the sample (then E[g] needs omega)."""
    law = policy.exact_law
    if law is None:
        return 1.0
    return constant_factor(cfg.aggregation, law.responses.lengths, law.max_length)


def exact_weights(probs: Array, a_table: Array, b_table: Array, cfg: SimConfig, law: ExactLaw):
    """omega_x(y) = E[f Z | y drawn for prompt x] in the simulator's batch, ``float[P, N]``.

    Token-mean over G groups: the other G-1 groups of a full batch are the block's other prompts
    (consecutive blocks of G), of a random batch G-1 independent draws from the prompt mixture;
    their total length enters as a spectrum (``core.aggregation.length_spectrum``).
    """
    lengths, correct = law.responses.lengths, law.responses.correct
    options = {"max_length": law.max_length}
    if cfg.aggregation == "token-mean":
        g, m = cfg.batch_groups, cfg.group_size
        size = token_mean_grid(m, law.max_length, g)
        group = length_spectrum(probs, lengths, size) ** m  # [P, F]: one group's total tokens
        if cfg.batch < cfg.problem.num_prompts:
            others = jnp.broadcast_to(jnp.mean(group, axis=0) ** (g - 1), group.shape)
        else:
            blocks = group.reshape(-1, 1, g, group.shape[-1])  # [P / G, 1, G, F]
            self_mask = np.eye(g, dtype=bool)[None, :, :, None]  # member i skips itself
            others = jnp.prod(jnp.where(self_mask, 1.0, blocks), axis=2).reshape(group.shape)
        options.update(batch_groups=g, others=others)
    return sequence_weights_from_tables(
        a_table, b_table, cfg.aggregation, probs, lengths, correct, **options
    )


def aggregation_scale(probs: Array, cfg: SimConfig, policy: Policy) -> Array | float:
    """E[f | y] per prompt and response ``float[P, N]`` (omega of unit tables), or the constant
    f when every sample shares it (``step_factor``)."""
    factor = step_factor(cfg, policy)
    if factor is not None:
        return factor
    ones = jnp.ones(cfg.group_size + 1, probs.dtype)
    return exact_weights(probs, ones, ones, cfg, policy.exact_law)
