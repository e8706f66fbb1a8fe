"""Exact update noise for the scalar-logit policy (SPEC section 5).

With p = sigmoid(theta) and two responses, grad log pi(correct) = 1-p and grad log pi(wrong) = -p,
so one step is g(S) = (1/M) [S a[S] (1-p) - (M-S) b[S] p] with S ~ Binomial(M, p). Its mean is
w_M(p) p (1-p); mean, variance and SNR = mean / sd are finite binomial sums (the variance
summed around the most likely value, table rounding ignored, so tiny variances keep their
relative accuracy).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core.registry import Scheme
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


def _moments(pmf: Array, values: Array, scale: Array) -> tuple[Array, Array]:
    """Mean and variance of values[S] under pmf[S], without a rounding floor: ``float[...]`` each.

    Shift by c = values at the most likely S and use d = values - c, with |d| below 8 ulps of the
    terms' size (``scale``) set to 0: float64 tables are roundings of exact values (50/11 * 11
    is not 50 in binary), and these last-bit differences would otherwise dominate a tiny true
    variance. mu = sum pmf d and var = sum pmf (d - mu)^2 then keep their relative accuracy
    (rejection sampling, M = 50, p = 0.996: 2.0e-125, where sum pmf (values - mean)^2 gives
    4e-44).
    """
    mode = jnp.argmax(pmf, axis=-1)[..., None]
    shift = jnp.take_along_axis(values, mode, axis=-1)
    shift_scale = jnp.take_along_axis(scale, mode, axis=-1)
    deviation = values - shift
    rounding = 8 * jnp.finfo(values.dtype).eps * (scale + shift_scale)
    deviation = jnp.where(jnp.abs(deviation) <= rounding, 0.0, deviation)
    mu = jnp.sum(pmf * deviation, axis=-1, keepdims=True)
    variance = jnp.sum(pmf * (deviation - mu) ** 2, axis=-1)
    return (shift + mu)[..., 0], variance


def noise(scheme: Scheme, group_size: int, p: ArrayLike) -> NoiseStats:
    """Exact mean, variance and signal-to-noise ratio of one scalar-logit update.

    Args:
      scheme: weight scheme.
      group_size: M.
      p: success probabilities ``float[...]`` in [0, 1].
    Returns:
      ``NoiseStats``; where the variance is 0, snr is 0 if the mean is 0 too (p at an end, or a
      zero-weight scheme) and +-inf otherwise (a deterministic step, e.g. rejection sampling
      once (1-p)^M underflows).
    """
    check_unit_interval("p", p)
    group_size = scheme.check_group_size(group_size)
    a_table, b_table = scheme.tables(group_size)
    p = jnp.asarray(p)
    pmf = bern.binomial_pmf(group_size, p)
    values = update_values(np.asarray(a_table), np.asarray(b_table), p).astype(pmf.dtype)
    scale = update_values(np.abs(a_table), -np.abs(b_table), p).astype(pmf.dtype)
    mean, variance = _moments(pmf, values, scale)
    positive = variance > 0
    sd = jnp.sqrt(jnp.where(positive, variance, 1.0))
    snr = jnp.where(positive, mean / sd, jnp.where(mean == 0, 0.0, jnp.sign(mean) * jnp.inf))
    return NoiseStats(mean, variance, snr)
