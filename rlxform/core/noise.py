"""Exact update noise for the scalar-logit policy (SPEC section 5).

With p = sigmoid(theta) and two responses, grad log pi(correct) = 1-p and grad log pi(wrong) = -p,
so one step is g(S) = (1/M) [S a[S] (1-p) - (M-S) b[S] p] with S ~ Binomial(M, p). Its mean is
w_M(p) p (1-p); mean, variance and SNR = mean / sd are finite binomial sums (the variance
summed around the most likely value, table rounding ignored, so tiny variances keep their
relative accuracy). NumPy float64 for NumPy / Python p, JAX for JAX p.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core.registry import Scheme
from rlxform.core.xp import float_array, namespace
from rlxform.types import Array, ArrayLike
from rlxform.validation import check_unit_interval


class NoiseStats(NamedTuple):
    """Exact moments of the scalar-logit update at each p (all ``float[...]`` like p)."""

    mean: Array
    variance: Array
    snr: Array


def update_values(a_table: ArrayLike, b_table: ArrayLike, p: ArrayLike) -> Array:
    """g(S) for S = 0..M: ``float[..., M+1]`` (SPEC section 5)."""
    xp = namespace(a_table, b_table, p)
    a_table, b_table = float_array(xp, a_table), float_array(xp, b_table)
    m = a_table.shape[-1] - 1
    s = xp.arange(m + 1, dtype=a_table.dtype)
    p = xp.asarray(p, a_table.dtype)[..., None]
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
    xp = namespace(pmf, values, scale)
    mode = xp.argmax(pmf, axis=-1)[..., None]
    shift = xp.take_along_axis(values, mode, axis=-1)
    shift_scale = xp.take_along_axis(scale, mode, axis=-1)
    deviation = values - shift
    rounding = 8 * xp.finfo(values.dtype).eps * (scale + shift_scale)
    deviation = xp.where(xp.abs(deviation) <= rounding, 0.0, deviation)
    mu = xp.sum(pmf * deviation, axis=-1, keepdims=True)
    variance = xp.sum(pmf * (deviation - mu) ** 2, axis=-1)
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
    xp = namespace(p)
    p = float_array(xp, p)
    pmf = bern.binomial_pmf(group_size, p)
    values = update_values(a_table, b_table, p).astype(pmf.dtype)
    scale = update_values(np.abs(a_table), -np.abs(b_table), p).astype(pmf.dtype)
    mean, variance = _moments(pmf, values, scale)
    positive = variance > 0
    sd = xp.sqrt(xp.where(positive, variance, 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = xp.where(positive, mean / sd, xp.where(mean == 0, 0.0, xp.sign(mean) * xp.inf))
    return NoiseStats(mean, variance, snr)
