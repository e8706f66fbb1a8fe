"""The array namespace of a computation: NumPy unless a JAX array (or tracer) is among the inputs.

Exact math in ``rlxform.core`` is written once against a namespace ``xp`` (``numpy`` or
``jax.numpy``): NumPy float64 on the host (no JAX import, no compilation), JAX when the simulator
passes traced values (jit, vmap, grad). JAX arrays are recognised without importing JAX: if
``jax`` is not in ``sys.modules`` no argument can be one.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np


def is_jax(value: Any) -> bool:
    """True when ``value`` is a ``jax.Array`` or a tracer (never imports JAX)."""
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(value, jax.Array)


def namespace(*arrays: Any) -> ModuleType:
    """``jax.numpy`` when one of ``arrays`` is a JAX array or tracer, else ``numpy``."""
    if any(is_jax(a) for a in arrays):
        import jax.numpy as jnp

        return jnp
    return np


def float_array(xp: ModuleType, value: Any) -> Any:
    """``value`` as a floating array of ``xp``: NumPy float64; JAX's default float or wider."""
    if xp is np:
        return np.asarray(value, np.float64)
    if isinstance(value, np.ndarray):  # a fresh copy: see ``to_jax``
        value = np.array(value)
    value = xp.asarray(value)
    return value.astype(xp.promote_types(value.dtype, xp.result_type(float)))


def xlogy(xp: ModuleType, x: Any, y: Any) -> Any:
    """x log y with 0 log 0 = 0 (``jax.scipy.special.xlogy`` under JAX: its gradient is safe)."""
    if xp is np:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x == 0, 0.0, x * np.log(y))
    from jax.scipy.special import xlogy as jax_xlogy

    return jax_xlogy(x, y)


def constant(xp: ModuleType, table: Any, dtype: Any) -> Any:
    """A host constant (often cached) as an ``xp`` array of ``dtype`` (``to_jax`` under JAX)."""
    if xp is np:
        return np.asarray(table, dtype)
    return to_jax(table, dtype)


def to_jax(table: Any, dtype: Any = None) -> Any:
    """A (cached, read-only) NumPy table entering JAX: a fresh copy with an explicit dtype.

    ``dtype`` None means JAX's default float (float32, float64 under x64); a JAX array passes
    through (cast to ``dtype`` when given). Never a bare ``jnp.asarray`` of a long-lived NumPy
    array: JAX 0.10 keeps the constant a float32 jit made of that very object, and a later float64
    ``jnp.asarray`` of it returns the float32 rounding (8e-9 relative; issue 23).
    """
    if is_jax(table):
        return table if dtype is None else table.astype(dtype)
    import jax.numpy as jnp

    dtype = jnp.result_type(float) if dtype is None else dtype
    return jnp.array(np.array(table, np.float64), dtype=dtype)


def is_traced(*arrays: Any) -> bool:
    """True when one of ``arrays`` is a JAX tracer (no host values to check)."""
    jax = sys.modules.get("jax")
    return jax is not None and any(isinstance(a, jax.core.Tracer) for a in arrays)


def tensordot(xp: ModuleType, a: Any, b: Any, axes: int = 1) -> Any:
    """``xp.tensordot`` at full float precision (JAX: ``Precision.HIGHEST``)."""
    if xp is np:
        return np.tensordot(a, b, axes)
    import jax

    return xp.tensordot(a, b, axes=axes, precision=jax.lax.Precision.HIGHEST)


def matmul(xp: ModuleType, a: Any, b: Any) -> Any:
    """``a @ b`` at full float precision (JAX: ``Precision.HIGHEST``)."""
    if xp is np:
        return np.matmul(a, b)
    import jax

    return xp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)


def log_softmax(xp: ModuleType, logits: Any) -> Any:
    """log softmax over the last axis (JAX: ``jax.nn.log_softmax``, its gradient rule)."""
    if xp is np:
        shifted = logits - np.max(logits, axis=-1, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    import jax

    return jax.nn.log_softmax(logits, axis=-1)
