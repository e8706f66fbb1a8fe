"""Array aliases and the dimension glossary used in docstrings.

Shapes are written like ``float32[P, M]`` with these letters:
  P prompts, K responses per prompt, M samples per prompt (group size), T steps,
  S seeds (and, in the math, the correct count of a group), H hidden width, G grid points,
  B prompts per batch, R recorded steps.
The aliases name JAX's types for type checkers only; at run time they are ``Any``, so importing
them imports no JAX (``rlxform.core`` is NumPy-first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import jax
    from jax.typing import ArrayLike

    Array = jax.Array
    PRNGKey = jax.Array
else:
    Array = Any
    ArrayLike = Any
    PRNGKey = Any
NDArray = np.ndarray
PyTree = Any

__all__ = ["Array", "ArrayLike", "NDArray", "PRNGKey", "PyTree"]
