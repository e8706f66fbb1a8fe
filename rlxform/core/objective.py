"""The exact finite-group objective of a scheme: ``transform(scheme, M) -> Transform``.

E[update] = w_M(p) grad p with w_M = B_{M-1}[c], c_k = a[k+1] - b[k]; the scheme ascends
h_M(p) = E_{S~Bin(M,p)} phi(S), h_M(0) = 0, h_M' = w_M (SPEC section 2). Both are NumPy
float64 for NumPy / Python p (no JAX involved) and JAX-traceable for JAX p (jit, vmap, grad;
float64 under ``jax.enable_x64(True)``). ``normalised_limit`` / ``limit_weight`` evaluate the
scheme's named large-M limit h and h' in NumPy float64.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core.registry import Scheme
from rlxform.types import Array, ArrayLike, NDArray
from rlxform.validation import InputError, check_unit_interval


@dataclasses.dataclass(frozen=True)
class Transform:
    """Exact objective of ``scheme`` at group size M.

    Attributes:
      scheme: the scheme.
      group_size: M.
      coefficients: c_k, ``float64[M]``.
      phi: phi(S), ``float64[M+1]`` with phi(0) = 0.
      limit: the named large-M objective as a callable, or None.
      limit_name: its formula as text, or None.
    """

    scheme: Scheme
    group_size: int
    coefficients: NDArray
    phi: NDArray
    limit: Callable[[ArrayLike], Array] | None
    limit_name: str | None

    def weight(self, p: ArrayLike) -> Array:
        """w_M(p) = sum_k c_k C(M-1, k) p^k (1-p)^(M-1-k), ``float[...]`` like ``p``.

        NumPy float64 for NumPy / Python p; JAX for JAX p (its dtype), grad-able.
        """
        check_unit_interval("p", p)
        return bern.bernstein(self.coefficients, p)

    def objective(self, p: ArrayLike) -> Array:
        """h_M(p) = sum_S phi(S) C(M, S) p^S (1-p)^(M-S), h_M(0) = 0, ``float[...]``."""
        check_unit_interval("p", p)
        return bern.bernstein(self.phi, p)

    def normalised_objective(self, p: ArrayLike) -> Array:
        """h_M(p) / h_M(1) (curves through (0, 0) and (1, 1) when h_M(1) != 0)."""
        top = float(self.phi[-1])
        return self.objective(p) / (top if top != 0.0 else 1.0)


def transform(scheme: Scheme, group_size: int) -> Transform:
    """Exact objective h_M and weight w_M of ``scheme`` for groups of ``group_size``."""
    if not isinstance(scheme, Scheme):
        raise InputError(f"scheme={scheme!r} is invalid: must be an rlxform.core.schemes.Scheme")
    group_size = scheme.check_group_size(group_size)
    coefficients = scheme.coefficients(group_size)
    phi = bern.phi_from_coefficients(coefficients)
    coefficients.setflags(write=False)
    phi.setflags(write=False)
    limit, limit_name = scheme.limit()
    return Transform(scheme, group_size, coefficients, phi, limit, limit_name)


def normalised_limit(scheme: Scheme, p: ArrayLike) -> NDArray:
    """The large-M objective h of ``scheme`` normalised to pass through (1, 1).

    (h(p) - h(0)) / (h(1) - h(0)) when h(0) is finite (p, (2/pi) arcsin sqrt p), else
    h(p) - h(1) + 1 (1 + log p), evaluated in float64 (SPEC section 2, the large-M limits).

    Args:
      scheme: a scheme whose ``limit()`` names its large-M objective.
      p: grid of success probabilities, ``float[G]`` in [0, 1].

    Returns:
      ``float64[G]``.
    """
    limit, _ = scheme.limit()
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.asarray(limit(np.asarray(p, np.float64)), np.float64)
        h0, h1 = (float(np.asarray(limit(np.float64(v)))) for v in (0.0, 1.0))
    if np.isfinite(h0):
        return (h - h0) / (h1 - h0)
    return h - h1 + 1.0


def limit_weight(scheme: Scheme, p: ArrayLike) -> NDArray:
    """w(p) = h'(p) of the large-M limit h of ``scheme`` (the limit's declared weight), float64.

    Args:
      scheme: a scheme; one without a named limit gives all NaN.
      p: grid of success probabilities, ``float[G]`` in [0, 1].

    Returns:
      ``float64[G]``, NaN where h' is not finite.
    """
    limit, _ = scheme.limit()
    if limit is None:
        return np.full(np.shape(p), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.asarray(limit.weight(np.asarray(p, np.float64)), np.float64)
    return np.where(np.isfinite(w), w, np.nan)
