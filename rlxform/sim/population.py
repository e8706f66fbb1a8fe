"""Populations of initial success probabilities p_x for the P prompts of a problem.

A spec is an explicit tuple of p (cycled over prompts), ``("beta", alpha, beta)`` (drawn with a
key, clipped into [P_CLIP, 1 - P_CLIP] so logits stay finite) or ``"grid"``
(p_i = (i + 1/2) / P). ``check_population`` canonicalises a spec (hashable), ``parse_init_p``
reads the CLI forms.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.types import NDArray, PRNGKey
from rlxform.validation import InputError, check_choice, check_float, check_int

P_CLIP = 1e-6
PopulationSpec = Any  # tuple[float, ...] | tuple["beta", float, float] | "grid"


def check_population(spec: PopulationSpec, name: str = "init_p") -> PopulationSpec:
    """Validate a population spec; returns it in canonical (hashable) form."""
    if isinstance(spec, str):
        check_choice(name, spec, ("grid",))
        return spec
    if isinstance(spec, tuple | list) and len(spec) > 0 and spec[0] == "beta":
        if len(spec) != 3:
            raise InputError(f"{name}={spec!r} is invalid: must be ('beta', alpha, beta)")
        alpha = check_float(f"{name} alpha", spec[1], 0.0, low_open=True)
        beta = check_float(f"{name} beta", spec[2], 0.0, low_open=True)
        return ("beta", alpha, beta)
    values = np.atleast_1d(np.asarray(spec, dtype=object))
    if values.ndim != 1 or values.size == 0:
        raise InputError(
            f"{name}={spec!r} is invalid: must be a non-empty list of p, "
            "('beta', alpha, beta) or 'grid'"
        )
    return tuple(
        check_float(name, v, 0.0, 1.0, low_open=True, high_open=True) for v in values.tolist()
    )


def parse_init_p(text: str) -> PopulationSpec:
    """Parse the CLI forms ``"0.1,0.5"`` | ``"beta:A,B"`` | ``"grid"`` into a population spec."""
    text = str(text).strip()
    if text == "grid":
        return "grid"
    try:
        if text.startswith("beta:"):
            alpha, beta = (float(v) for v in text[5:].split(","))
            return check_population(("beta", alpha, beta))
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError(
            f"init_p={text!r} is invalid: must be a comma list of p in (0, 1), 'beta:A,B' or 'grid'"
        ) from None
    return check_population(values)


def population(key: PRNGKey | None, spec: PopulationSpec, num_prompts: int) -> NDArray:
    """Initial success probabilities ``float64[P]`` for a population spec.

    Args:
      key: used only by ``("beta", alpha, beta)`` (may be None otherwise).
      spec: explicit values (cycled over the P prompts), ``("beta", a, b)`` or ``"grid"``
        (p_i = (i + 1/2) / P).
      num_prompts: P.
    """
    spec = check_population(spec)
    num_prompts = check_int("num_prompts", num_prompts, 1)
    if spec == "grid":
        return (np.arange(num_prompts) + 0.5) / num_prompts
    if spec[0] == "beta":
        if key is None:
            raise InputError("key=None is invalid for init_p=('beta', ...): must be a PRNG key")
        import jax  # lazily: checking a spec (the CLI's flags) imports no JAX

        draw = np.asarray(jax.random.beta(key, spec[1], spec[2], (num_prompts,)), np.float64)
        return np.clip(draw, P_CLIP, 1.0 - P_CLIP)
    values = np.asarray(spec, np.float64)
    return np.resize(values, num_prompts)
