"""Inverse design: a scheme whose exact weight w_M = B_{M-1}[c] realises a target h'.

The designed scheme has a = [0, c], b = 0 for one group size M (rule ``"designed"``);
``design`` picks c by Bernstein approximation or Chebyshev interpolation and reports the
achieved max |w_M - h'| on a grid (SPEC section 2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core.registry import Counts, LimitFn, Scheme, register
from rlxform.types import NDArray
from rlxform.validation import (
    InputError,
    check_choice,
    check_float,
    check_group_size,
    check_int,
    is_real_dtype,
)

MAX_DESIGN_GRID = 100_001  # like ``rlxform transforms --grid``

_DESIGN_LIMITS: dict[str, tuple[LimitFn, str]] = {
    "log": (bern.log_objective, "log p"),
    "arcsin_sqrt": (bern.arcsin_sqrt, "2 arcsin sqrt p"),
}
_DESIGN_TARGETS = {
    "log": lambda p: 1.0 / p,
    "arcsin_sqrt": lambda p: 1.0 / np.sqrt(p * (1.0 - p)),
}


@register(
    "designed",
    "a[k+1] = c_k, b = 0 (Bernstein-realised target h')",
    lambda target, coefficients: _DESIGN_LIMITS.get(target, (None, None)),
)
def designed_rule(c: Counts, target: str, coefficients: tuple[float, ...]):
    coefficients = np.asarray(coefficients, dtype=np.float64)
    if coefficients.shape[0] != c.m:
        raise InputError(
            f"group_size={c.m!r} is invalid for scheme designed({target}): "
            f"must be {coefficients.shape[0]}"
        )
    return np.concatenate([[0.0], coefficients]), np.zeros(c.m + 1)


def _check_grid(grid: Any) -> tuple[float, float] | None:
    if grid is None:
        return None
    try:
        lo, hi = (check_float("grid", v, 0.0, 1.0) for v in grid)
    except (TypeError, ValueError):
        lo = hi = None
    if lo is None or not lo < hi:
        raise InputError(
            f"grid={grid!r} is invalid: must be a pair (lo, hi) with 0 <= lo < hi <= 1"
        )
    return lo, hi


def _target(target: Any, m: int, k: int) -> tuple[str, Callable, NDArray | None]:
    """(name, h', exact coefficients or None) of a named or callable target."""
    if isinstance(target, str):
        check_choice("target", target, ("log", "arcsin_sqrt", "pass_at_k"))
        if target != "pass_at_k":
            return target, _DESIGN_TARGETS[target], None
        k = check_int("k", k, 1, m)
        j = np.arange(m)
        exact = k * np.exp(bern.log_binom(m - 1 - j, k - 1) - bern.log_binom(m - 1, k - 1))
        return target, lambda p: k * (1.0 - p) ** (k - 1), exact
    if callable(target):
        return getattr(target, "__name__", "custom"), _user_target(target), None
    raise InputError(
        f"target={target!r} is invalid: must be one of log, arcsin_sqrt, pass_at_k or a "
        "callable h'(p)"
    )


def _user_target(target: Callable) -> Callable:
    """``target`` called on an array of p: its exception, or a result that is not one real
    number per p, as an InputError naming it."""

    def fn(p: NDArray) -> NDArray:
        try:
            values = np.asarray(target(p))
        except Exception as err:
            raise InputError(
                f"target={target!r} is invalid: h'(p) for an array p raised "
                f"{type(err).__name__}: {err}"
            ) from None
        if not is_real_dtype(values.dtype) or values.shape not in ((), np.shape(p)):
            raise InputError(
                f"target={target!r} is invalid: h'(p) must return one real number per p "
                f"(got {values.dtype} of shape {values.shape} for p of shape {np.shape(p)})"
            )
        return np.broadcast_to(values.astype(np.float64), np.shape(p))

    return fn


def _fit(fn: Callable, m: int, method: str) -> NDArray:
    """c with B_{M-1}[c] ~ h': Chebyshev interpolation, or h' at the Bernstein nodes."""
    if method == "interpolate":
        nodes = 0.5 - 0.5 * np.cos(np.pi * (2 * np.arange(m) + 1) / (2 * m))
        basis = bern.binomial_pmf(m - 1, nodes)
        return np.linalg.solve(basis, np.asarray(fn(nodes), np.float64))
    nodes = np.arange(m) / (m - 1) if m > 1 else np.array([0.5])
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.asarray(fn(nodes), np.float64)
    if not np.all(np.isfinite(values)):  # h' infinite at an end: midpoints (k + 1/2)/M
        values = np.asarray(fn((np.arange(m) + 0.5) / m), np.float64)
    return values


def design(
    target: str | Callable[[NDArray], NDArray],
    group_size: int,
    *,
    k: int = 1,
    method: str = "bernstein",
    grid: tuple[float, float] | None = None,
    num_grid: int = 1001,
) -> Scheme:
    """Tables whose exact weight w_M = B_{M-1}[c] realises a target derivative h'.

    ``method="bernstein"``: c_k = h'(k/(M-1)), the Bernstein approximation (uniform
    convergence for continuous h'); where h' is infinite at an end (log, arcsine) the nodes move
    to the midpoints (k + 1/2)/M. ``method="interpolate"``: c solves B_{M-1}[c](t_j) = h'(t_j)
    at M Chebyshev points, exact for polynomial h' of degree <= M-1 (ill-conditioned beyond
    M ~ 30). ``"pass_at_k"`` uses its exact coefficients k C(M-1-j, k-1)/C(M-1, k-1).

    Returns a ``Scheme`` named ``"designed"`` with a = [0, c], b = 0 for this M only; its
    ``report`` holds ``max_abs_error`` = max |w_M - h'| over ``num_grid`` points of ``grid``
    (default [0, 1], or [0.05, 0.95] for targets infinite at an end).
    """
    m = check_group_size(group_size)
    check_choice("method", method, ("bernstein", "interpolate"))
    num_grid = check_int("num_grid", num_grid, 2, MAX_DESIGN_GRID)
    grid = _check_grid(grid)
    name, fn, coefficients = _target(target, m, k)
    if coefficients is None:
        coefficients = _fit(fn, m, method)
    coefficients = np.asarray(coefficients, np.float64).reshape(m)
    if not np.all(np.isfinite(coefficients)):
        raise InputError(f"target={target!r} is invalid: h' is not finite on the design nodes")
    with np.errstate(divide="ignore", invalid="ignore"):
        singular = not np.all(np.isfinite(np.asarray(fn(np.array([0.0, 1.0])), np.float64)))
    lo, hi = grid if grid is not None else ((0.05, 0.95) if singular else (0.0, 1.0))
    ps = np.linspace(lo, hi, num_grid)
    w = bern.bernstein(coefficients, ps)
    error = float(np.max(np.abs(w - np.asarray(fn(ps), np.float64))))
    return Scheme(
        "designed",
        (("coefficients", tuple(coefficients.tolist())), ("target", name)),
        report={"max_abs_error": error, "grid": (lo, hi), "num_grid": num_grid, "method": method},
    )
