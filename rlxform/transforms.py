"""The exact finite-group objective of a scheme: ``transform(scheme, M) -> Transform``.

E[update] = w_M(p) grad p with w_M = B_{M-1}[c], c_k = a[k+1] - b[k]; the scheme ascends
h_M(p) = E_{S~Bin(M,p)} phi(S), h_M(0) = 0, h_M' = w_M (SPEC section 2). Both are
JAX-traceable in p (jit, vmap, grad); float64 under ``jax.enable_x64(True)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from rlxform import bernstein as bern
from rlxform.schemes import Scheme
from rlxform.types import Array, ArrayLike, NDArray
from rlxform.validation import check_unit_interval


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
        """w_M(p) = sum_k c_k C(M-1, k) p^k (1-p)^(M-1-k), ``float[...]`` like ``p``."""
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
        raise ValueError(f"scheme={scheme!r} is invalid: must be an rlxform.schemes.Scheme")
    group_size = scheme.check_group_size(group_size)
    coefficients = scheme.coefficients(group_size)
    phi = bern.phi_from_coefficients(coefficients)
    coefficients.setflags(write=False)
    phi.setflags(write=False)
    limit, limit_name = scheme.limit()
    return Transform(scheme, group_size, coefficients, phi, limit, limit_name)
