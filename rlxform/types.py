"""Array aliases and the dimension glossary used in docstrings.

Shapes are written like ``float32[P, M]`` with these letters:
  P prompts, K responses per prompt, M samples per prompt (group size), T steps,
  S seeds (and, in the math, the correct count of a group), H hidden width, G grid points,
  B prompts per batch, R recorded steps.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.typing import ArrayLike

Array = jax.Array
PRNGKey = jax.Array
NDArray = np.ndarray
PyTree = Any

__all__ = ["Array", "ArrayLike", "NDArray", "PRNGKey", "PyTree"]
