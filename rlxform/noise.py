"""Exact update noise for the scalar-logit policy (SPEC section 5).

With p = sigmoid(theta) and two responses, grad log pi(correct) = 1-p and grad log pi(wrong) = -p,
so one step is g(S) = (1/M) [S a[S] (1-p) - (M-S) b[S] p] with S ~ Binomial(M, p). Its mean is
w_M(p) p (1-p); mean, variance and SNR = mean / sd are finite binomial sums.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from rlxform import bernstein as bern
from rlxform.schemes import Scheme
from rlxform.types import Array, ArrayLike
from rlxform.validation import check_unit_interval


class NoiseStats(NamedTuple):
    """Exact moments of the scalar-logit update at each p (all ``float[...]`` like p)."""

    mean: Array
    variance: Array
    snr: Array


def update_values(a_table: ArrayLike, b_table: ArrayLike, p: ArrayLike) -> Array:
    """g(S) for S = 0..M: ``float[..., M+1]`` (SPEC section 5)."""
    a_table = jnp.asarray(a_table)
    b_table = jnp.asarray(b_table)
    m = a_table.shape[-1] - 1
    s = jnp.arange(m + 1, dtype=a_table.dtype)
    p = jnp.asarray(p, a_table.dtype)[..., None]
    return (s * a_table * (1.0 - p) - (m - s) * b_table * p) / m


def noise(scheme: Scheme, group_size: int, p: ArrayLike) -> NoiseStats:
    """Exact mean, variance and signal-to-noise ratio of one scalar-logit update.

    Args:
      scheme: weight scheme.
      group_size: M.
      p: success probabilities ``float[...]`` in [0, 1].
    Returns:
      ``NoiseStats``; snr is 0 where the variance is 0 (p at an end, or a zero-weight scheme).
    """
    check_unit_interval("p", p)
    group_size = scheme.check_group_size(group_size)
    a_table, b_table = scheme.tables(group_size)
    p = jnp.asarray(p)
    pmf = bern.binomial_pmf(group_size, p)
    values = update_values(np.asarray(a_table), np.asarray(b_table), p).astype(pmf.dtype)
    mean = jnp.sum(pmf * values, axis=-1)
    variance = jnp.maximum(jnp.sum(pmf * (values - mean[..., None]) ** 2, axis=-1), 0.0)
    positive = variance > 0
    sd = jnp.sqrt(jnp.where(positive, variance, 1.0))
    snr = jnp.where(positive, mean / sd, 0.0)
    return NoiseStats(mean, variance, snr)
