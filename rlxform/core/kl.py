"""KL penalties to a reference policy: the estimators and the equilibrium they move ascent to.

Estimators act on the log-ratio ``l = log pi(y) - log pi_ref(y)`` (verl's ``kl = logp - ref``):
k1 = l (``kl``), k2 = l^2 / 2 (``mse``), k3 = exp(-l) + l - 1 clamped to [-10, 10]
(``low_var_kl``), abs = |l|. Placement ``reward``: the detached value is subtracted from the
reward (score-function term E[k grad log pi]); ``loss``: added to the loss per token, gradient
through l with the samples fixed. On a one-token (bandit) policy the expected gradients are exact:
k1-reward and k2-loss give grad KL(pi || pi_ref), k3-loss gives grad KL(pi_ref || pi) (derivation
in ``kl_equilibrium``), k1-loss gives 0. ``kl_equilibrium`` is SPEC section 9 in float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core import schemes as schemes_lib
from rlxform.core.schemes import Scheme
from rlxform.core.xp import namespace
from rlxform.types import Array, ArrayLike
from rlxform.validation import InputError, check_choice, check_float, check_int

ESTIMATORS = ("k1", "k2", "k3", "abs")
ALIASES = {"kl": "k1", "mse": "k2", "low_var_kl": "k3"}
PLACEMENTS = ("loss", "reward")
K3_CLAMP = 10.0  # verl clamps low_var_kl to [-10, 10]
_LOGIT_CAP = 40.0  # sigmoid(40) == 1.0 in float64: roots beyond are p* = 1.0


def canonical_estimator(estimator: str) -> str:
    """k1 | k2 | k3 | abs from a name or a verl alias (kl, mse, low_var_kl); else InputError."""
    allowed = ESTIMATORS + tuple(ALIASES)
    check_choice("estimator", estimator, allowed)
    return ALIASES.get(estimator, estimator)


def check_placement(placement: str) -> str:
    """``loss`` or ``reward``; InputError naming ``placement`` otherwise."""
    return check_choice("placement", placement, PLACEMENTS)


def kl_estimate(estimator: str, log_ratio: ArrayLike) -> Array:
    """Per-token (or per-sequence) KL estimate from ``log_ratio = log pi - log pi_ref``.

    k1 = l; k2 = l^2 / 2; k3 = clip(exp(-l) + l - 1, -10, 10) (zero gradient where clamped);
    abs = |l|. Same formulas as verl's ``kl_penalty`` (kl, mse, low_var_kl, abs).

    Args:
      estimator: k1 | k2 | k3 | abs or a verl alias.
      log_ratio: ``float[...]``.
    Returns:
      ``float[...]`` in the namespace of ``log_ratio`` (NumPy or JAX).
    """
    estimator = canonical_estimator(estimator)
    xp = namespace(log_ratio)
    log_ratio = xp.asarray(log_ratio)
    if estimator == "k1":
        return log_ratio
    if estimator == "k2":
        return 0.5 * log_ratio**2
    if estimator == "k3":
        return xp.clip(xp.exp(-log_ratio) + log_ratio - 1.0, -K3_CLAMP, K3_CLAMP)
    return xp.abs(log_ratio)


# ---- equilibrium of ascent on h_M(p) - beta D(pi, pi_ref) -------------------------------------

# Which divergence the exact expected gradient of (estimator, placement) follows on a bandit.
_DIVERGENCE = {
    ("k1", "reward"): "reverse",
    ("k2", "loss"): "reverse",
    ("k3", "loss"): "forward",
    ("k1", "loss"): "none",
}


def bernstein_weight_numpy(coefficients: ArrayLike, p: ArrayLike) -> np.ndarray:
    """w_M(p) = sum_k c_k C(M-1, k) p^k (1-p)^(M-1-k) in NumPy float64 (``bern.bernstein``).

    Args:
      coefficients: ``float[M]``; p: ``float[...]`` in [0, 1].
    Returns:
      ``float64[...]``.
    """
    return bern.bernstein(np.asarray(coefficients, np.float64), np.asarray(p, np.float64))


def _sigmoid(z: ArrayLike) -> np.ndarray:
    """1 / (1 + e^-z) in float64 without overflow."""
    z = np.asarray(z, np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _first_crossing(
    g: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, num: int
) -> float | None:
    """Smallest z in [lo, hi] with g(z) <= 0 after g > 0 just before it (None if g > 0 on the grid).

    A grid of ``num`` points finds the first sign change; each refinement round splits the
    bracket into 64 and keeps the first sign change (a 64-way bisection) down to float64 spacing.
    """
    grid = np.linspace(lo, hi, num)
    values = g(grid)
    down = np.flatnonzero(values <= 0.0)
    if down.size == 0:
        return None
    j = int(down[0])
    if j == 0:
        return float(grid[0])
    a, b = float(grid[j - 1]), float(grid[j])
    for _ in range(20):
        if b - a <= 4 * np.spacing(max(abs(a), abs(b), 1.0)):
            break
        sub = np.linspace(a, b, 65)
        vals = g(sub)
        k = int(np.flatnonzero(vals <= 0.0)[0])  # vals[-1] <= 0 by the bracket
        a, b = float(sub[max(k - 1, 0)]), float(sub[k])
    return 0.5 * (a + b)


def kl_equilibrium(
    scheme: Scheme,
    group_size: int,
    beta: float,
    p_ref: float,
    *,
    estimator: str = "k1",
    placement: str = "reward",
    num_grid: int = 8193,
) -> float:
    """p where exact ascent on h_M(p) - beta D(pi, pi_ref), started at pi_ref, stops (float64).

    Softmax policy over responses with binary correctness, p = pi(correct set), w_M = h_M'.
    Reverse KL (k1 in the reward; k2 as a loss on a one-token policy), SPEC section 9: stationary
    points tilt the reference, pi* ∝ pi_ref exp(w_M(p*) r / beta), so

        logit p* - logit p_ref = w_M(p*) / beta.

    k3 as a loss (one token): E_{y~pi}[grad k3(y)] = sum_y (pi - pi_ref)(y) grad log pi(y)
    = grad KL(pi_ref || pi) exactly (the forward KL), whose stationary points are
    pi*(y) = pi_ref(y) / (1 - w_M(p*) (r(y) - p*) / beta), so

        (p* - p_ref) / (p* (1 - p*)) = w_M(p*) / beta.

    k1 as a loss has zero expected gradient: ascent on h_M alone (first zero of w_M, else 1).
    The root is the first one in the direction ascent starts in (above p_ref when w_M(p_ref) > 0,
    below when < 0; p_ref when = 0), found on a grid of ``num_grid`` points in logit p over a
    provable bracket, then refined to float64 spacing; 1.0 if there is none below logit 40 (p
    rounds to 1). Two roots closer than the grid spacing can be missed.

    Args:
      scheme, group_size: the scheme (a ``Scheme`` or a catalog name) and M (valid for it).
      beta: KL coefficient, finite and > 0.
      p_ref: reference success probability in (0, 1).
      estimator: k1 | k2 | k3 (or kl | mse | low_var_kl); placement: reward | loss. Supported:
        (k1, reward), (k2, loss), (k3, loss), (k1, loss).
    Returns:
      p* as a Python float.
    """
    if isinstance(scheme, str):
        scheme = schemes_lib.get(scheme)  # a catalog name, default parameters
    if not isinstance(scheme, Scheme):
        raise InputError(
            f"scheme={scheme!r} is invalid: must be an rlxform Scheme or a catalog name"
        )
    group_size = scheme.check_group_size(group_size)
    beta = check_float("beta", beta, 0.0, low_open=True)
    p_ref = check_float("p_ref", p_ref, 0.0, 1.0, low_open=True, high_open=True)
    estimator = canonical_estimator(estimator)
    placement = check_placement(placement)
    num_grid = check_int("num_grid", num_grid, 3)
    kind = _DIVERGENCE.get((estimator, placement))
    if kind is None:
        raise InputError(
            f"estimator={estimator!r} with placement={placement!r} is invalid for kl_equilibrium: "
            "must be one of (k1, reward), (k2, loss), (k3, loss), (k1, loss)"
        )
    coefficients = scheme.coefficients(group_size)
    weight = lambda p: bernstein_weight_numpy(coefficients, p)

    w_ref = float(weight(np.array(p_ref)))
    if w_ref == 0.0:
        return p_ref
    if w_ref < 0.0:  # relabel correct <-> wrong: p -> 1 - p, w -> -w(1 - p); ascent goes up
        flipped = lambda p: -weight(1.0 - p)
        return 1.0 - _solve(flipped, -coefficients, beta, 1.0 - p_ref, kind, num_grid)
    return _solve(weight, coefficients, beta, p_ref, kind, num_grid)


def _solve(weight, coefficients, beta: float, p_ref: float, kind: str, num_grid: int) -> float:
    """First root above p_ref (weight(p_ref) > 0) of the stationarity equation of ``kind``."""
    z_ref = float(np.log(p_ref) - np.log1p(-p_ref))
    c_max = float(np.max(coefficients))  # w_M <= max c_k (Bernstein)
    if kind == "reverse":
        g = lambda z: weight(_sigmoid(z)) / beta - (z - z_ref)
        z_hi = z_ref + c_max / beta  # g(z_hi) <= 0
    elif kind == "forward":

        def g(z):
            p, q = _sigmoid(z), _sigmoid(-z)  # q = 1 - p without cancellation
            with np.errstate(divide="ignore"):
                return weight(p) / beta - (p - p_ref) / (p * q)

        # (p - p_ref)/(p(1-p)) >= (p - p_ref)/(1-p) >= c_max/beta once p >= p_hi:
        ratio = c_max / beta
        z_hi = float(np.log(p_ref + ratio) - np.log1p(-p_ref))
    else:
        g = lambda z: weight(_sigmoid(z))
        z_hi = _LOGIT_CAP
    z_hi = min(max(z_hi + 1e-6 * (1.0 + abs(z_hi)), z_ref), _LOGIT_CAP)  # g(z_hi) < 0 strictly
    if z_hi <= z_ref:
        return 1.0
    root = _first_crossing(g, z_ref, z_hi, num_grid)
    if root is None:
        return 1.0
    return float(_sigmoid(np.float64(root)))
