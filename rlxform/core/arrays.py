"""One formula, two array namespaces: NumPy for exact float64 references, jax.numpy when traced.

The exact sequence math (``core.sequences``, ``core.aggregation``) is written once against an
array namespace ``xp``: NumPy arrays in give NumPy out (float64, no JAX imported), JAX arrays or
tracers in give jax.numpy out (the simulator's references under ``jit``). JAX is looked up in
``sys.modules``, never imported here: an input cannot be a JAX array unless JAX is loaded.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def namespace(*arrays: Any) -> Any:
    """``jax.numpy`` when any of ``arrays`` is a JAX array (or tracer), else ``numpy``."""
    jax = sys.modules.get("jax")
    if jax is not None and any(isinstance(a, jax.Array) for a in arrays):
        import jax.numpy as jnp

        return jnp
    return np


def is_traced(*arrays: Any) -> bool:
    """True when one of ``arrays`` is a JAX tracer (no host values to check)."""
    jax = sys.modules.get("jax")
    return jax is not None and any(isinstance(a, jax.core.Tracer) for a in arrays)


def tensordot(xp: Any, a: Any, b: Any, axes: int = 1) -> Any:
    """``xp.tensordot`` at full float precision (JAX: ``Precision.HIGHEST``)."""
    if xp is np:
        return np.tensordot(a, b, axes)
    import jax

    return xp.tensordot(a, b, axes=axes, precision=jax.lax.Precision.HIGHEST)


def matmul(xp: Any, a: Any, b: Any) -> Any:
    """``a @ b`` at full float precision (JAX: ``Precision.HIGHEST``)."""
    if xp is np:
        return np.matmul(a, b)
    import jax

    return xp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)


def log_softmax(xp: Any, logits: Any) -> Any:
    """log softmax over the last axis (JAX: ``jax.nn.log_softmax``, its gradient rule)."""
    if xp is np:
        shifted = logits - np.max(logits, axis=-1, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    import jax

    return jax.nn.log_softmax(logits, axis=-1)
