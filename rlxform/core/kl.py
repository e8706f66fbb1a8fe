"""KL penalties to a reference policy: the estimators and the equilibrium they move ascent to.

Estimators act per token on the log-ratio ``l = log pi - log pi_ref`` (verl's ``kl = logp - ref``)
and, for the importance-weighted ones, on ``l_old = log pi_old - log pi_ref`` of the policy that
sampled (``rho = pi / pi_old = exp(l - l_old)``). Each has a value and a gradient rule (``FORMS``):

* through the value (k1 = l, k2 = l^2 / 2, k3 = exp(-l) + l - 1 clamped to [-10, 10] as verl
  and OpenRLHF clamp it, k3_unclamped as TRL and Unsloth compute it, abs = |l|);
* ``k3_ratio`` (TRL ``use_bias_correction_kl``, token level): rho * k3_unclamped with rho
  differentiable; its gradient is rho l grad log pi (k3 + k3' = l);
* verl's "+" types (``k1+``, ``k3+``, ``abs+``): the value, with k2's gradient l grad log pi
  passed straight through (verl ``kl_penalty``: no ratio);
* OpenRLHF ``algo.kl.unbiased_gradient`` (``k1_unbiased``, ``k2_unbiased``, ``k3_unbiased``):
  the value, with the gradient min(rho, 10) l grad log pi straight through (rho detached).

At rho = 1 (every update of the simulator, the first update of a rollout) the last three kinds
all give l grad log pi: on a one-token (bandit) policy the exact reverse-KL gradient, on
sequences the per-prefix reverse KL with the prefix law held fixed (``core.kl_audit``).
Placements (``PLACEMENTS``): ``loss`` (added to the loss per token, differentiated),
``reward`` (the detached value subtracted from the reward *before* the scheme's advantage: verl
``use_kl_in_reward``), ``advantage`` (the detached value subtracted *after* the advantage, with
no baseline: OpenRLHF without ``use_kl_loss``, whose KL enters ``compute_reward`` after the
group baseline). ``kl_equilibrium`` is SPEC section 9 in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core import schemes as schemes_lib
from rlxform.core.schemes import Scheme
from rlxform.core.xp import namespace
from rlxform.types import Array, ArrayLike
from rlxform.validation import InputError, check_choice, check_float, check_int


class EstimatorForm(NamedTuple):
    """How an estimator is computed: ``value`` (k1 | k2 | k3 | k3_unclamped | abs), ``gradient``
    (``value``: through the value; ``ratio``: rho * value, rho differentiable; ``k2``: l
    straight through; ``weighted``: sg(min(rho, 10)) l straight through) and its ``source``."""

    value: str
    gradient: str
    source: str


FORMS = {
    "k1": EstimatorForm("k1", "value", "verl kl/k1, OpenRLHF k1"),
    "k2": EstimatorForm("k2", "value", "verl mse/k2, OpenRLHF k2"),
    "k3": EstimatorForm(
        "k3", "value", "verl 0.9.1 low_var_kl (core_algos.py:2236-2242), OpenRLHF k3"
    ),
    "abs": EstimatorForm("abs", "value", "verl abs"),
    "k3_unclamped": EstimatorForm(
        "k3_unclamped", "value", "TRL 1.16.0 grpo_trainer.py:3100-3102 (beta > 0, no correction)"
    ),
    "k3_ratio": EstimatorForm(
        "k3_unclamped", "ratio", "TRL 1.16.0 grpo_trainer.py:3104-3105 use_bias_correction_kl"
    ),
    "k1+": EstimatorForm("k1", "k2", "verl 0.9.1 kl_penalty k1+ (core_algos.py:2188-2213)"),
    "k3+": EstimatorForm("k3", "k2", "verl 0.9.1 kl_penalty k3+ / low_var_kl+"),
    "abs+": EstimatorForm("abs", "k2", "verl 0.9.1 kl_penalty abs+"),
    "k1_unbiased": EstimatorForm(
        "k1", "weighted", "OpenRLHF 0.11.2 models/utils.py:69-128 algo.kl.unbiased_gradient"
    ),
    "k2_unbiased": EstimatorForm("k2", "weighted", "OpenRLHF 0.11.2 unbiased_gradient"),
    "k3_unbiased": EstimatorForm("k3", "weighted", "OpenRLHF 0.11.2 unbiased_gradient"),
}
ESTIMATORS = tuple(FORMS)
ALIASES = {
    "kl": "k1",
    "mse": "k2",
    "low_var_kl": "k3",
    "kl+": "k1+",
    "low_var_kl+": "k3+",
    "k2+": "k2",  # verl: k2's own gradient is already l
    "mse+": "k2",
}
PLACEMENTS = ("loss", "reward", "advantage")
K3_CLAMP = 10.0  # verl and OpenRLHF clamp k3 to [-10, 10]
IS_WEIGHT_CLIP = 10.0  # OpenRLHF KL_IS_WEIGHT_CLIP (models/utils.py:66)
_LOGIT_CAP = 40.0  # sigmoid(40) == 1.0 in float64: roots beyond are p* = 1.0


def canonical_estimator(estimator: str) -> str:
    """An ``ESTIMATORS`` name from a name or a verl alias (kl, mse, low_var_kl, ...); else
    InputError."""
    allowed = ESTIMATORS + tuple(ALIASES)
    check_choice("estimator", estimator, allowed)
    return ALIASES.get(estimator, estimator)


def check_placement(placement: str) -> str:
    """``loss``, ``reward`` or ``advantage``; InputError naming ``placement`` otherwise."""
    return check_choice("placement", placement, PLACEMENTS)


def base_estimator(estimator: str) -> str:
    """The estimator whose value this one has at rho = 1 (what a detached placement sees):
    k1 | k2 | k3 | k3_unclamped | abs."""
    return FORMS[canonical_estimator(estimator)].value


def _value(xp, kind: str, log_ratio):
    if kind == "k1":
        return log_ratio
    if kind == "k2":
        return 0.5 * log_ratio**2
    if kind == "abs":
        return xp.abs(log_ratio)
    raw = xp.exp(-log_ratio) + log_ratio - 1.0
    return raw if kind == "k3_unclamped" else xp.clip(raw, -K3_CLAMP, K3_CLAMP)


def _stop_gradient(xp):
    if xp is np:
        return lambda x: x
    import jax

    return jax.lax.stop_gradient


def kl_estimate(
    estimator: str, log_ratio: ArrayLike, old_log_ratio: ArrayLike | None = None
) -> Array:
    """Per-token KL estimate with the estimator's own gradient (module docstring).

    k1 = l; k2 = l^2 / 2; k3 = clip(exp(-l) + l - 1, -10, 10) (zero gradient where clamped);
    k3_unclamped without the clip; abs = |l|; k3_ratio = rho k3_unclamped; "+" and "_unbiased"
    types have their value's value and the gradient l (times sg(min(rho, 10)) for _unbiased).

    Args:
      estimator: an ``ESTIMATORS`` name or alias.
      log_ratio: ``float[...]`` l = log pi - log pi_ref (differentiated under JAX).
      old_log_ratio: ``float[...]`` l_old of the sampling policy; None: the sampling policy is
        the current one, l_old = sg(l) (rho = 1 in value, differentiable).
    Returns:
      ``float[...]`` in the namespace of ``log_ratio`` (NumPy float64 or JAX).
    """
    form = FORMS[canonical_estimator(estimator)]
    xp = namespace(log_ratio, old_log_ratio)
    log_ratio = xp.asarray(log_ratio)
    value = _value(xp, form.value, log_ratio)
    if form.gradient == "value":
        return value
    stop = _stop_gradient(xp)
    old = stop(log_ratio) if old_log_ratio is None else xp.asarray(old_log_ratio)
    if form.gradient == "ratio":
        return xp.exp(log_ratio - old) * value
    surrogate = 0.5 * log_ratio**2
    passed = surrogate - stop(surrogate)
    if form.gradient == "weighted":
        passed = stop(xp.minimum(xp.exp(log_ratio - old), IS_WEIGHT_CLIP)) * passed
    return stop(value) + passed


def kl_value_and_slope(
    estimator: str, log_ratio: ArrayLike, old_log_ratio: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(value, d estimate / d l) per token in NumPy float64: what ``kl_estimate`` gives and
    what JAX differentiates it to (0 where the k3 clamp binds). ``old_log_ratio`` None: rho = 1.
    """
    form = FORMS[canonical_estimator(estimator)]
    log_ratio = np.asarray(log_ratio, np.float64)
    old = log_ratio if old_log_ratio is None else np.asarray(old_log_ratio, np.float64)
    rho = np.exp(log_ratio - old)
    value = _value(np, form.value, log_ratio)
    if form.gradient == "ratio":  # d (rho k) / dl = rho (k + k'), k = k3_unclamped: rho l
        return rho * value, rho * log_ratio
    if form.gradient == "k2":
        return value, log_ratio
    if form.gradient == "weighted":
        return value, np.minimum(rho, IS_WEIGHT_CLIP) * log_ratio
    if form.value == "k1":
        return value, np.ones_like(log_ratio)
    if form.value == "k2":
        return value, log_ratio
    if form.value == "abs":
        return value, np.sign(log_ratio)
    slope = 1.0 - np.exp(-log_ratio)
    if form.value == "k3":
        slope = np.where(np.abs(np.exp(-log_ratio) + log_ratio - 1.0) <= K3_CLAMP, slope, 0.0)
    return value, slope


# ---- equilibrium of ascent on h_M(p) - beta D(pi, pi_ref) -------------------------------------


def equilibrium_rule(estimator: str, placement: str) -> str:
    """Which stationarity equation ``kl_equilibrium`` solves for (estimator, placement), or
    InputError: ``tilt`` (reward before the advantage, k1 value), ``reverse``, ``forward``
    (k3_unclamped as a loss), ``forward_clamped`` (k3 as a loss), ``none`` (k1 as a loss)."""
    name = canonical_estimator(estimator)
    placement = check_placement(placement)
    form = FORMS[name]
    if placement in ("reward", "advantage"):
        if form.value == "k1":
            return "tilt" if placement == "reward" else "reverse"
    elif form.gradient != "value":
        return "reverse"  # gradient l grad log pi at rho = 1
    elif name in ("k1", "k2", "k3", "k3_unclamped"):
        return {"k1": "none", "k2": "reverse", "k3": "forward_clamped"}.get(name, "forward")
    raise InputError(
        f"estimator={estimator!r} with placement={placement!r} is invalid for kl_equilibrium: "
        "no stopping point is derived for it; must be a k1-valued estimator (k1, k1+, "
        "k1_unbiased) in the reward or the advantage, or as a loss one of k1, k2, k3, "
        "k3_unclamped, k3_ratio, k1+, k3+, abs+, k1_unbiased, k2_unbiased, k3_unbiased"
    )


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


def _first_crossing(g: Callable[[np.ndarray], np.ndarray], grid: np.ndarray) -> float | None:
    """Smallest z of the increasing ``grid`` with g(z) <= 0 after g > 0 just before it, refined
    (None if g > 0 on the grid).

    The grid finds the first sign change; each refinement round splits the bracket into 64 and
    keeps the first sign change (a 64-way bisection) down to float64 spacing.
    """
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
    """p where exact ascent on the expected update with the KL term, started at pi_ref, stops.

    Softmax policy over answers with binary correctness, p = pi(correct set), w_M = h_M'.
    By placement (SPEC section 9; ``equilibrium_rule``):

    * ``reward`` (k1 subtracted from the reward before the advantage; verl
      ``use_kl_in_reward``): the scheme sees r'(y) = r(y) - beta l(y). Every real-reward form
      (``Scheme.has_real_reward``: reinforce, rloo, mean_baseline, grpo with any std and eps,
      verl's grpo / rloo) gives a constant group exactly 0 and, in a non-constant group, the
      sample of the highest r' an expected update above the mean and the lowest one below it.
      So D = max_y r'(y) - min_y r'(y) decreases along ascent (d/dt (r'_y - r'_y') =
      -beta (theta_y' - theta_y)'), from D = 1 at pi_ref, until D = 0: r' constant, the tilt
      pi* ∝ pi_ref exp(r / beta), whatever K, M, the std or eps. On two answers
      r'_c - r'_w = 1 - beta (logit p - logit p_ref): linear schemes scale the update by it,
      GRPO keeps the sign (eps > 0: Z = sign * GRPO with eps / |r'_c - r'_w|). Hence

          logit p* - logit p_ref = 1 / beta        (independent of M).

    * ``advantage`` (k1 subtracted after the advantage, no baseline; OpenRLHF), and k2 / the
      importance-weighted and straight-through estimators as a loss (gradient l grad log pi at
      rho = 1): the reverse-KL gradient is added to w_M grad p; stationary points tilt the
      reference by exp(w_M(p*) r / beta):  logit p* - logit p_ref = w_M(p*) / beta.
    * k3 as a loss: E[grad k3] = sum_y (pi - pi_ref)(y) [in(y)] grad log pi(y), the forward KL
      where k3(l(y)) <= 10 (in(y) = 1; verl and OpenRLHF clamp k3 at 10 with zero gradient;
      k3_unclamped, TRL's, never): on a class c (correct / wrong, l equal within a class at a
      stationary point) (p* - p_ref) (in_c / p* + in_w / (1 - p*)) = w_M(p*) / beta; without
      clamps (p* - p_ref) / (p* (1 - p*)) = w_M(p*) / beta.
    * k1 as a loss has zero expected gradient: ascent on h_M alone (first zero of w_M, else 1).

    The root is the first one in the direction ascent starts in (above p_ref when w_M(p_ref) > 0,
    below when < 0; p_ref when = 0), found on a grid of ``num_grid`` points in logit p over a
    provable bracket, then refined to float64 spacing; 1.0 if there is none below logit 40 (p
    rounds to 1). Two roots closer than the grid spacing can be missed.

    Args:
      scheme, group_size: the scheme (a ``Scheme`` or a catalog name) and M (valid for it).
      beta: KL coefficient, finite and > 0.
      p_ref: reference success probability in (0, 1).
      estimator: an ``ESTIMATORS`` name or alias; placement: loss | reward | advantage.
    Returns:
      p* as a Python float.
    Raises:
      InputError: a pair with no derived stopping point (``equilibrium_rule``), or
        ``placement="reward"`` with a scheme that has no real-reward form.
    """
    scheme = schemes_lib.as_scheme(scheme)
    group_size = scheme.check_group_size(group_size)
    beta = check_float("beta", beta, 0.0, low_open=True)
    p_ref = check_float("p_ref", p_ref, 0.0, 1.0, low_open=True, high_open=True)
    num_grid = check_int("num_grid", num_grid, 3)
    kind = equilibrium_rule(estimator, placement)
    if kind == "tilt":
        scheme.check_real_reward(
            "with placement='reward' for kl_equilibrium (the KL enters the reward before the "
            "advantage)"
        )
        if not np.any(scheme.coefficients(group_size)):  # no update at all (w_M = 0, Z = 0)
            return p_ref
        z_ref = float(np.log(p_ref) - np.log1p(-p_ref))
        return float(_sigmoid(np.float64(z_ref + 1.0 / beta)))
    coefficients = scheme.coefficients(group_size)
    weight = lambda p: bernstein_weight_numpy(coefficients, p)

    w_ref = float(weight(np.array(p_ref)))
    if w_ref == 0.0:
        return p_ref
    if w_ref < 0.0:  # relabel correct <-> wrong: p -> 1 - p, w -> -w(1 - p); ascent goes up
        flipped = lambda p: -weight(1.0 - p)
        return 1.0 - _solve(flipped, -coefficients, beta, 1.0 - p_ref, kind, num_grid)
    return _solve(weight, coefficients, beta, p_ref, kind, num_grid)


def _inside_clamp(log_ratio: np.ndarray) -> np.ndarray:
    """1.0 where k3(l) = e^-l + l - 1 <= 10 (verl's clamp leaves the gradient), else 0.0."""
    with np.errstate(over="ignore"):
        return (np.exp(-log_ratio) + log_ratio - 1.0 <= K3_CLAMP).astype(np.float64)


def _solve(weight, coefficients, beta: float, p_ref: float, kind: str, num_grid: int) -> float:
    """First root above p_ref (weight(p_ref) > 0) of the stationarity equation of ``kind``."""
    z_ref = float(np.log(p_ref) - np.log1p(-p_ref))
    c_max = float(np.max(coefficients))  # w_M <= max c_k (Bernstein)
    if kind == "reverse":
        g = lambda z: weight(_sigmoid(z)) / beta - (z - z_ref)
        z_hi = z_ref + c_max / beta  # g(z_hi) <= 0
    elif kind in ("forward", "forward_clamped"):
        clamped = kind == "forward_clamped"

        def g(z):
            p, q = _sigmoid(z), _sigmoid(-z)  # q = 1 - p without cancellation
            with np.errstate(divide="ignore", invalid="ignore"):
                if not clamped:
                    return weight(p) / beta - (p - p_ref) / (p * q)
                in_c = _inside_clamp(np.log(p) - np.log(p_ref))
                in_w = _inside_clamp(np.log(q) - np.log1p(-p_ref))
                return weight(p) / beta - (p - p_ref) * (in_c / p + in_w / q)

        # (p - p_ref)/(p(1-p)) >= (p - p_ref)/(1-p) >= c_max/beta once p >= p_hi (no clamp)
        ratio = c_max / beta
        z_hi = float(np.log(p_ref + ratio) - np.log1p(-p_ref))
    else:
        g = lambda z: weight(_sigmoid(z))
        z_hi = _LOGIT_CAP
    z_hi = min(max(z_hi + 1e-6 * (1.0 + abs(z_hi)), z_ref), _LOGIT_CAP)  # g(z_hi) < 0 strictly
    if z_hi <= z_ref:
        return 1.0
    grid = np.linspace(z_ref, z_hi, num_grid)
    if kind == "forward_clamped" and z_hi < _LOGIT_CAP:  # a clamp can lift g above 0 again
        grid = np.concatenate([grid, np.linspace(z_hi, _LOGIT_CAP, num_grid)[1:]])
    root = _first_crossing(g, grid)
    if root is None:
        return 1.0
    return float(_sigmoid(np.float64(root)))
