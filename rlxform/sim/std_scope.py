"""Where std-normalised schemes take their std: the group (default), the whole batch, or nowhere.

A std-normalised scheme's advantage is A = f(q) (r - q) / (sd + eps), q = S / M, f the focal
factor (1 for GRPO). ``std_scope="group"`` keeps the scheme's tables (sd of the group);
``"none"`` keeps the centred numerator f(q) (r - q) (Dr. GRPO for GRPO); ``"batch"`` divides the
centred numerator by sd_batch + eps, the std of all n = B M rewards of the step (TRL
``scale_rewards="batch"``), one scalar per step: for binary rewards sd_batch depends only on
the batch total T = sum_b S_b. Exact finite-batch and large-batch references:
``rlxform.core.batch_norm`` (large batch: the mean-baseline direction divided by
sqrt(pbar (1 - pbar)) + eps).
"""

from __future__ import annotations

import jax.numpy as jnp

from rlxform.core.schemes import Scheme
from rlxform.core.xp import to_jax
from rlxform.types import Array, ArrayLike


def centred_tables(scheme: Scheme, group_size: int) -> tuple[Array, Array]:
    """The scheme's centred form (``Scheme.centred_tables``) as JAX ``float[M+1]`` tables.

    E.g. a = f(q) (1 - q), b = -f(q) q (a[0] = b[M] = 0), f(q) = (1 - q)^gamma for f_grpo.
    """
    a_table, b_table = scheme.centred_tables(group_size)
    return to_jax(a_table), to_jax(b_table)


def std_kind(scheme: Scheme) -> str:
    """``"sample"`` (Bessel, torch's ``std()``: verl, TRL) or ``"population"`` (the scheme's)."""
    return scheme.std_kind


def scheme_eps(scheme: Scheme, eps: ArrayLike | None) -> Array:
    """eps of the denominator: the traced ``eps`` if given, else the scheme's own."""
    return jnp.asarray(scheme.own_eps if eps is None else eps, jnp.float32)


def batch_scale(num_correct: Array, group_size: int, std: str, eps: ArrayLike) -> Array:
    """1 / (sd_batch + eps) of one step, ``float32[]`` (0 when sd_batch + eps = 0).

    sd_batch = sqrt(T (n - T) / (n (n - ddof))), T = sum_b S_b, n = B M, ddof 1 ("sample") or 0
    (``rlxform.core.batch_norm.batch_std``).

    Args:
      num_correct: ``int32[B]`` S of each group; group_size: M; std: "sample" | "population";
      eps: float[] >= 0.
    """
    n = num_correct.shape[-1] * group_size
    total = jnp.sum(num_correct).astype(jnp.float32)
    ddof = 1 if std == "sample" else 0
    sd = jnp.sqrt(total * (n - total) / (n * max(n - ddof, 1)))
    den = sd + jnp.asarray(eps, jnp.float32)
    ok = den > 0
    return jnp.where(ok, 1.0 / jnp.where(ok, den, 1.0), 0.0)
