"""Weight schemes as data: per-sample weights Z_i = f(r_i, S; M) of binary-reward RL updates.

A scheme is stored as its name and parameters; ``Scheme.tables(M)`` gives the SPEC's tables
``a[S]`` (weight of a correct sample when S of the M are correct, S = 1..M) and ``b[S]`` (weight
of a wrong sample, S = 0..M-1) as ``float64[M+1]``; the impossible entries a[0] and b[M] are 0.
Degenerate 0/0 cases (zero-variance groups under std normalisation) give weight 0, as the
frameworks do. Constructors return data, like ``optax.adam()``; ``get(name, **params)`` looks one
up by name (framework adapters ``from_verl`` / ``from_trl``: ``rlxform.frameworks``), and
``design`` builds a scheme whose exact objective approximates (or equals) a target h.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rlxform import bernstein as bern
from rlxform.types import Array, ArrayLike, NDArray
from rlxform.validation import (
    check_choice,
    check_float,
    check_group_size,
    check_int,
    did_you_mean,
    is_concrete,
)

TableFn = Callable[..., tuple[NDArray, NDArray]]
LimitFn = Callable[[ArrayLike], Array]


@dataclasses.dataclass(frozen=True)
class Scheme:
    """A weight scheme: a name plus hashable parameters (usable as static jit config).

    Attributes:
      name: catalog name (``"grpo"``, ``"verl:grpo"``, ``"designed"``, ...).
      params: sorted ``(key, value)`` pairs passed to the table rule.
      report: optional extra information (``design`` stores its error report here).
    """

    name: str
    params: tuple[tuple[str, Any], ...] = ()
    report: Mapping[str, Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def _entry(self) -> _Entry:
        return _RULES[self.name]

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def label(self) -> str:
        """Short human-readable id, e.g. ``grpo(eps=1e-06, std=sample)``."""
        shown = [(k, v) for k, v in self.params if k not in ("fn", "coefficients")]
        if not shown:
            return self.name
        return f"{self.name}(" + ", ".join(f"{k}={v}" for k, v in shown) + ")"

    @property
    def formula(self) -> str:
        return self._entry.formula

    @property
    def min_group_size(self) -> int:
        return self._entry.min_group_size(**self.kwargs)

    @property
    def max_group_size(self) -> int | None:
        return self._entry.max_group_size(**self.kwargs)

    def check_group_size(self, group_size: Any, name: str = "group_size") -> int:
        """Validate M for this scheme (ValueError naming the argument otherwise)."""
        group_size = check_group_size(group_size, name=name)
        lo = self.min_group_size
        hi = self.max_group_size
        if group_size < lo or (hi is not None and group_size > hi):
            allowed = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
            raise ValueError(
                f"{name}={group_size!r} is invalid for scheme {self.label}: must be {allowed}"
            )
        return group_size

    def tables(self, group_size: int) -> tuple[NDArray, NDArray]:
        """(a, b): ``float64[M+1]`` weights of correct / wrong samples indexed by S = 0..M."""
        group_size = self.check_group_size(group_size)
        a_table, b_table = self._entry.tables(group_size, **self.kwargs)
        a_table = np.array(a_table, dtype=np.float64).reshape(group_size + 1)
        b_table = np.array(b_table, dtype=np.float64).reshape(group_size + 1)
        a_table[0] = 0.0
        b_table[group_size] = 0.0
        a_table.setflags(write=False)
        b_table.setflags(write=False)
        return a_table, b_table

    @property
    def has_eps(self) -> bool:
        """True when the scheme divides by (std + eps), so eps can be a traced hyperparameter."""
        return self.name in ("grpo", "f_grpo") or (
            self.name == "verl"
            and self.kwargs["norm_adv_by_std_in_grpo"]
            and self.kwargs["estimator"] in ("grpo", "grpo_vectorized")
        )

    def traced_tables(self, group_size: int, eps: ArrayLike | None = None) -> tuple[Array, Array]:
        """(a, b) as JAX arrays with ``eps`` (possibly traced) replacing the scheme's own.

        For std-normalised schemes a = (factor * (1-q)) / (sd + eps), b = -(factor * q) / (sd + eps)
        with 0 for zero numerators (no 0/0, also under grad); other schemes ignore ``eps``.
        Returns ``float[M+1]`` each, in JAX's default float dtype.
        """
        a_table, b_table = self.tables(group_size)
        if eps is None or not self.has_eps:
            return jnp.asarray(a_table), jnp.asarray(b_table)
        m = group_size
        kw = self.kwargs
        _, q = _counts(m)
        eps = jnp.asarray(eps, jnp.result_type(float))
        if self.name == "verl":
            if m == 1:  # singleton group: mean 0, std 1, so A = r / (1 + eps)
                return jnp.zeros(2, eps.dtype).at[1].set(1.0 / (1.0 + eps)), jnp.zeros(2, eps.dtype)
            sd, factor = jnp.asarray(_std(m, "sample")), np.ones(m + 1)
            if kw["estimator"] == "grpo_vectorized":  # verl floors the variance at eps
                var = jnp.maximum(sd**2, eps)
                positive = var > 0  # double where: no NaN gradient at var = eps = 0
                sd = jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1.0)), 0.0)
        else:
            sd = jnp.asarray(_std(m, kw["std"]))
            factor = (1.0 - q) ** kw["gamma"] if self.name == "f_grpo" else np.ones(m + 1)
        den = sd + eps
        num_a = jnp.asarray(factor * (1.0 - q))
        num_b = jnp.asarray(-factor * q)
        ok = den > 0
        safe_den = jnp.where(ok, den, 1.0)
        a_out = jnp.where((num_a != 0) & ok, num_a / safe_den, 0.0).at[0].set(0.0)
        b_out = jnp.where((num_b != 0) & ok, num_b / safe_den, 0.0).at[m].set(0.0)
        return a_out, b_out

    def coefficients(self, group_size: int) -> NDArray:
        """c_k = a[k+1] - b[k], k = 0..M-1: ``float64[M]``."""
        return bern.coefficients_from_tables(*self.tables(group_size))

    def advantages(self, rewards: ArrayLike) -> Array:
        """Weight Z_i of each sample: ``rewards`` 0/1 of shape ``[..., M]`` -> ``float[..., M]``."""
        rewards = jnp.asarray(rewards)
        if rewards.ndim < 1:
            raise ValueError(f"rewards with shape {rewards.shape} is invalid: must be [..., M]")
        if is_concrete(rewards):
            values = np.asarray(rewards)
            if not np.all((values == 0) | (values == 1)):
                raise ValueError(f"rewards={values.tolist()!r} is invalid: must be 0/1 values")
        a_table, b_table = self.tables(rewards.shape[-1])
        return group_weights(a_table, b_table, rewards)

    def limit(self) -> tuple[LimitFn | None, str | None]:
        """The named large-M objective (callable, name), or (None, None)."""
        return self._entry.limit(**self.kwargs)


def group_weights(a_table: ArrayLike, b_table: ArrayLike, rewards: ArrayLike) -> Array:
    """Z_i = a[S] if r_i = 1 else b[S], S = sum_i r_i.

    Args:
      a_table, b_table: ``float[M+1]``.
      rewards: ``float[..., M]`` or ``bool[..., M]`` of 0/1.
    Returns:
      ``float[..., M]`` weights (dtype of the tables after JAX canonicalisation).
    """
    rewards = jnp.asarray(rewards)
    a_table = jnp.asarray(a_table)
    b_table = jnp.asarray(b_table)
    num_correct = jnp.sum(rewards.astype(jnp.int32), axis=-1, keepdims=True)
    return jnp.where(rewards > 0, a_table[num_correct], b_table[num_correct])


def grpo_advantages(rewards: ArrayLike, std: str = "population", eps: ArrayLike = 0.0) -> Array:
    """GRPO advantages for real-valued rewards: (r - mean) / (sd + eps) over the last axis.

    The group-normalised form that ``grpo`` tabulates for 0/1 rewards (zero-variance groups give
    0). With eps = 0 it is invariant to r -> alpha + beta r, beta > 0.
    Args:
      rewards: ``float[..., M]``; std: "population" or "sample"; eps: >= 0.
    Returns:
      ``float[..., M]``.
    """
    _check_std(std)
    rewards = jnp.asarray(rewards, jnp.result_type(float))
    m = rewards.shape[-1]
    centred = rewards - jnp.mean(rewards, axis=-1, keepdims=True)
    ddof = 1 if std == "sample" else 0
    var = jnp.sum(centred**2, axis=-1, keepdims=True) / max(m - ddof, 1)
    positive = var > 0  # double where: sqrt'(0) = inf would make the gradient 0 * inf = NaN
    sd = jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1.0)), 0.0)
    den = sd + eps
    ok = (den > 0) & (sd > 1e-12 * jnp.max(jnp.abs(rewards), axis=-1, keepdims=True))
    return jnp.where(ok, centred / jnp.where(ok, den, 1.0), 0.0)


@dataclasses.dataclass(frozen=True)
class _Entry:
    tables: TableFn
    formula: str
    limit: Callable[..., tuple[LimitFn | None, str | None]]
    min_group_size: Callable[..., int] = lambda **_: 1
    max_group_size: Callable[..., int | None] = lambda **_: None


_RULES: dict[str, _Entry] = {}
_CONSTRUCTORS: dict[str, Callable[..., Scheme]] = {}
_ALIASES = {"dr_grpo": "mean_baseline", "raft": "rejection_sampling", "star": "rejection_sampling"}


def _make(name: str, **params: Any) -> Scheme:
    return Scheme(name, tuple(sorted(params.items())))


def _counts(m: int) -> tuple[NDArray, NDArray]:
    s = np.arange(m + 1, dtype=np.float64)
    return s, s / m


def _safe_div(num: NDArray, den: NDArray) -> NDArray:
    """num / den, with 0 where num == 0 (degenerate groups) or den == 0 (impossible entries)."""
    out = np.zeros(np.broadcast(num, den).shape)
    num, den = np.broadcast_arrays(num, den)
    np.divide(num, den, out=out, where=(num != 0) & (den != 0))
    return out


def _std(m: int, std: str) -> NDArray:
    s, q = _counts(m)
    if std == "population":
        return np.sqrt(q * (1.0 - q))
    return np.sqrt(s * (m - s) / (m * (m - 1.0)))


def _p_limit() -> tuple[LimitFn, str]:
    return bern.identity, "p"


# ---- catalog -------------------------------------------------------------------------------


def _rule(name: str, formula: str, limit, min_m=lambda **_: 1, max_m=lambda **_: None):
    def register(tables: TableFn) -> TableFn:
        _RULES[name] = _Entry(tables, formula, limit, min_m, max_m)
        return tables

    return register


@_rule("reinforce", "a = 1, b = 0 (reward as weight, no baseline)", lambda: _p_limit())
def _reinforce_tables(m):
    return np.ones(m + 1), np.zeros(m + 1)


@_rule(
    "rloo",
    "a = (M-S)/(M-1), b = -S/(M-1) (r minus mean of the others)",
    lambda: _p_limit(),
    lambda: 2,
)
def _rloo_tables(m):
    s, _ = _counts(m)
    return (m - s) / (m - 1.0), -s / (m - 1.0)


@_rule("mean_baseline", "a = 1 - S/M, b = -S/M (Dr. GRPO: r - mean)", lambda: _p_limit(), lambda: 2)
def _mean_baseline_tables(m):
    _, q = _counts(m)
    return 1.0 - q, -q


def _grpo_limit(eps=0.0, **_):
    """2 arcsin sqrt p at eps = 0; for eps > 0 the eps stays in the limit weight."""
    if eps > 0:
        return bern.grpo_eps_objective(eps), f"int_0^p dt / (sqrt(t(1-t)) + {eps:g})"
    return bern.arcsin_sqrt, "2 arcsin sqrt p"


@_rule(
    "grpo",
    "a = (1-q)/(sd+eps), b = -q/(sd+eps), q = S/M, sd population or sample std",
    _grpo_limit,
    lambda **_: 2,
)
def _grpo_tables(m, std, eps):
    _, q = _counts(m)
    den = _std(m, std) + eps
    return _safe_div(1.0 - q, den), _safe_div(-q, den)


@_rule(
    "rejection_sampling",
    "a = M/S, b = 0 (mean over the correct samples; S = 0 skipped)",
    lambda: (bern.log_objective, "log p"),
)
def _rejection_sampling_tables(m):
    s, _ = _counts(m)
    return _safe_div(np.full(m + 1, float(m)), s), np.zeros(m + 1)


@_rule(
    "maxrl",
    "a = M/S - 1, b = -1 (A = (r - q)/q; S = 0 gives 0)",
    lambda: (bern.log_objective, "log p"),
    lambda: 2,
)
def _maxrl_tables(m):
    s, _ = _counts(m)
    a_table = _safe_div(np.full(m + 1, float(m)), s) - 1.0
    b_table = np.where(s > 0, -1.0, 0.0)
    return a_table, b_table


def _log_binom(n: NDArray | int, k: int) -> NDArray:
    n = np.asarray(n, dtype=np.float64)
    valid = n >= k
    safe = np.where(valid, n, k)
    out = (
        np.vectorize(math.lgamma)(safe + 1)
        - math.lgamma(k + 1)
        - np.vectorize(math.lgamma)(safe - k + 1)
    )
    return np.where(valid, out, -np.inf)


@_rule(
    "pass_at_k",
    "a = M C(M-S, k-1) / C(M, k), b = 0 (PKPO leave-one-out; w = k (1-p)^(k-1))",
    lambda k: (bern.pass_at_k_objective(k), f"1 - (1-p)^{k}"),
    lambda k: max(1, k),
)
def _pass_at_k_tables(m, k):
    s, _ = _counts(m)
    log_a = math.log(m) + _log_binom(m - s, k - 1) - _log_binom(m, k)
    a_table = np.where(s > 0, np.exp(log_a), 0.0)
    return a_table, np.zeros(m + 1)


@_rule("psr", "a = 1, b = 0 (positive samples only; S = M still pushes)", lambda: _p_limit())
def _psr_tables(m):
    return np.ones(m + 1), np.zeros(m + 1)


@_rule("nsr", "a = 0, b = -1 (negative samples only; S = 0 still pushes)", lambda: _p_limit())
def _nsr_tables(m):
    return np.zeros(m + 1), -np.ones(m + 1)


@_rule(
    "w_reinforce",
    "a = lam, b = -1 (lam * PSR + NSR; w = 1 + lam)",
    lambda lam: (bern.scaled(bern.identity, 1.0 + lam), f"{1.0 + lam:g} p"),
)
def _w_reinforce_tables(m, lam):
    return np.full(m + 1, float(lam)), -np.ones(m + 1)


def _f_grpo_limit(gamma, eps=0.0, **_):
    if eps > 0:
        name = f"int_0^p (1-t)^{gamma:g} dt / (sqrt(t(1-t)) + {eps:g})"
        return bern.grpo_eps_objective(eps, gamma), name
    return bern.incomplete_beta_objective(0.5, gamma + 0.5), f"B_p(1/2, {gamma + 0.5:g})"


@_rule("f_grpo", "GRPO weights times (1 - S/M)^gamma (focal GRPO)", _f_grpo_limit, lambda **_: 2)
def _f_grpo_tables(m, gamma, std, eps):
    _, q = _counts(m)
    a_table, b_table = _grpo_tables(m, std, eps)
    factor = (1.0 - q) ** gamma
    return factor * a_table, factor * b_table


@_rule("custom", "Z = fn(r, S, M) for r in {0, 1}", lambda fn: (None, None))
def _custom_tables(m, fn):
    a_table = np.array([_custom_weight(fn, 1, j, m) if j > 0 else 0.0 for j in range(m + 1)])
    b_table = np.array([_custom_weight(fn, 0, j, m) if j < m else 0.0 for j in range(m + 1)])
    return a_table, b_table


def _custom_weight(fn: Callable, r: int, s: int, m: int) -> float:
    """fn(r, S, M) as a finite float; anything else is a ValueError naming fn and the call."""
    call = f"fn(r={r}, S={s}, M={m})"
    try:
        value = fn(r, s, m)
    except Exception as err:
        raise ValueError(
            f"fn={fn!r} is invalid: {call} raised {type(err).__name__}: {err}"
        ) from None
    try:
        return check_float("weight", value)
    except ValueError:
        raise ValueError(
            f"fn={fn!r} is invalid: {call} returned {value!r}; must return a finite real number"
        ) from None


# ---- public constructors ---------------------------------------------------------------------


def _check_std(std: Any) -> str:
    return check_choice("std", std, ("population", "sample"))


def reinforce() -> Scheme:
    """REINFORCE without baseline: Z = r. w_M = 1, h_M = p (Williams 1992)."""
    return _make("reinforce")


def rloo() -> Scheme:
    """RLOO: Z_i = r_i - mean_{j != i} r_j. w_M = 1, h_M = p (Ahmadian et al. 2024)."""
    return _make("rloo")


def mean_baseline() -> Scheme:
    """Mean baseline (Dr. GRPO, GRPO without std): Z = r - S/M. w_M = (M-1)/M (Liu et al. 2025)."""
    return _make("mean_baseline")


def grpo(std: str = "population", eps: float = 0.0) -> Scheme:
    """GRPO: Z = (r - S/M) / (sd + eps), sd the group's population or sample (Bessel) std.

    Large-M objective 2 arcsin sqrt p at eps = 0 and int_0^p dt / (sqrt(t(1-t)) + eps) for
    eps > 0 (Shao et al. 2024; Davis & Recht 2025, arXiv 2510.13651).
    Zero-variance groups (S = 0 or M) get 0. verl uses ``std="sample", eps=1e-6``.
    """
    return _make("grpo", std=_check_std(std), eps=check_float("eps", eps, 0.0))


def rejection_sampling() -> Scheme:
    """Rejection sampling / RAFT / STaR: Z = M r / S, i.e. SFT on the prompt's correct samples.

    w_M = (1 - (1-p)^M)/p, h_M = H_M - sum_{k<=M} (1-p)^k / k -> log p (Dong et al. 2023).
    """
    return _make("rejection_sampling")


def maxrl() -> Scheme:
    """MaxRL, practical form A = (r - q)/q with q = S/M: a = M/S - 1, b = -1, S = 0 gives 0.

    h_M = -sum_{k=1}^{M-1} (1-p)^k / k + const -> log p.
    """
    return _make("maxrl")


def pass_at_k(k: int = 1) -> Scheme:
    """pass@k, PKPO leave-one-out (Walder & Karkhanis 2025): a = M C(M-S, k-1)/C(M, k), b = 0.

    Exact for every M >= k: w_M = k (1-p)^(k-1), h_M = 1 - (1-p)^k.
    """
    return _make("pass_at_k", k=check_int("k", k, 1))


def psr() -> Scheme:
    """Positive sample reinforcement: a = 1, b = 0 (Zhu et al. 2025). w_M = 1."""
    return _make("psr")


def nsr() -> Scheme:
    """Negative sample reinforcement: a = 0, b = -1 (Zhu et al. 2025). w_M = 1."""
    return _make("nsr")


def w_reinforce(lam: float = 0.1) -> Scheme:
    """Weighted REINFORCE: lam * PSR + NSR, a = lam, b = -1. w_M = 1 + lam (Zhu et al. 2025)."""
    return _make("w_reinforce", lam=check_float("lam", lam, 0.0))


def f_grpo(gamma: float = 1.0, std: str = "population", eps: float = 0.0) -> Scheme:
    """Focal GRPO: GRPO weights times (1 - S/M)^gamma.

    Large-M h = B_p(1/2, gamma + 1/2) at eps = 0, int_0^p (1-t)^gamma dt / (sqrt(t(1-t)) + eps)
    for eps > 0.
    """
    return _make(
        "f_grpo",
        gamma=check_float("gamma", gamma, 0.0),
        std=_check_std(std),
        eps=check_float("eps", eps, 0.0),
    )


def custom(fn: Callable[[int, int, int], float]) -> Scheme:
    """A user rule Z = fn(r, S, M) with r in {0, 1}; evaluated on the host per group size."""
    if not callable(fn):
        raise ValueError(f"fn={fn!r} is invalid: must be a callable fn(r, S, M) -> weight")
    return _make("custom", fn=fn)


_CONSTRUCTORS.update(
    reinforce=reinforce,
    rloo=rloo,
    mean_baseline=mean_baseline,
    grpo=grpo,
    rejection_sampling=rejection_sampling,
    maxrl=maxrl,
    pass_at_k=pass_at_k,
    psr=psr,
    nsr=nsr,
    w_reinforce=w_reinforce,
    f_grpo=f_grpo,
    custom=custom,
)


def names() -> list[str]:
    """Catalog names accepted by ``get`` (aliases included)."""
    return list(_CONSTRUCTORS) + list(_ALIASES)


def catalog() -> dict[str, str]:
    """Catalog name -> one-line formula."""
    out = {}
    for name, ctor in _CONSTRUCTORS.items():
        params = ", ".join(
            f"{p.name}={p.default!r}" if p.default is not inspect.Parameter.empty else p.name
            for p in inspect.signature(ctor).parameters.values()
        )
        out[f"{name}({params})" if params else name] = _RULES[name].formula
    for alias, target in _ALIASES.items():
        out[alias] = f"alias of {target}"
    return out


def get(name: str, **params: Any) -> Scheme:
    """Scheme by catalog name (or alias) with its parameters, e.g. ``get("grpo", eps=1e-6)``."""
    if not isinstance(name, str):
        raise ValueError(f"scheme={name!r} is invalid: must be a name, one of {', '.join(names())}")
    name = _ALIASES.get(name, name)
    if name not in _CONSTRUCTORS:
        raise ValueError(
            f"scheme={name!r} is invalid: must be one of {', '.join(names())}"
            + did_you_mean(name, names())
        )
    ctor = _CONSTRUCTORS[name]
    allowed = list(inspect.signature(ctor).parameters)
    unknown = [p for p in params if p not in allowed]
    if unknown:
        raise ValueError(
            f"scheme parameter {unknown[0]!r} is invalid for {name}: must be one of "
            f"{', '.join(allowed) if allowed else '(none)'}"
        )
    return ctor(**params)


# ---- inverse design --------------------------------------------------------------------------


@_rule(
    "designed",
    "a[k+1] = c_k, b = 0 (Bernstein-realised target h')",
    lambda target, coefficients: _DESIGN_LIMITS.get(target, (None, None)),
)
def _designed_tables(m, target, coefficients):
    c = np.asarray(coefficients, dtype=np.float64)
    if c.shape[0] != m:
        raise ValueError(
            f"group_size={m!r} is invalid for scheme designed({target}): must be {c.shape[0]}"
        )
    return np.concatenate([[0.0], c]), np.zeros(m + 1)


_DESIGN_LIMITS: dict[str, tuple[LimitFn, str]] = {
    "log": (bern.log_objective, "log p"),
    "arcsin_sqrt": (bern.arcsin_sqrt, "2 arcsin sqrt p"),
}
MAX_DESIGN_GRID = 100_001  # like ``rlxform transforms --grid``

_DESIGN_TARGETS = {
    "log": lambda p: 1.0 / p,
    "arcsin_sqrt": lambda p: 1.0 / np.sqrt(p * (1.0 - p)),
}


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
    group_size = check_group_size(group_size)
    check_choice("method", method, ("bernstein", "interpolate"))
    num_grid = check_int("num_grid", num_grid, 2, MAX_DESIGN_GRID)
    if grid is not None:
        try:
            lo, hi = (check_float("grid", v, 0.0, 1.0) for v in grid)
        except (TypeError, ValueError):
            lo = hi = None
        if lo is None or not lo < hi:
            raise ValueError(
                f"grid={grid!r} is invalid: must be a pair (lo, hi) with 0 <= lo < hi <= 1"
            )
        grid = (lo, hi)
    m = group_size
    if isinstance(target, str):
        check_choice("target", target, ("log", "arcsin_sqrt", "pass_at_k"))
        name = target
        if target == "pass_at_k":
            k = check_int("k", k, 1, m)
            fn = lambda p: k * (1.0 - p) ** (k - 1)
            j = np.arange(m)
            coefficients = k * np.exp(_log_binom(m - 1 - j, k - 1) - _log_binom(m - 1, k - 1))
        else:
            fn = _DESIGN_TARGETS[target]
            coefficients = None
    elif callable(target):
        name, fn, coefficients = getattr(target, "__name__", "custom"), target, None
    else:
        raise ValueError(
            f"target={target!r} is invalid: must be one of log, arcsin_sqrt, pass_at_k or a "
            "callable h'(p)"
        )
    if coefficients is None:
        if method == "interpolate":
            nodes = 0.5 - 0.5 * np.cos(np.pi * (2 * np.arange(m) + 1) / (2 * m))
            with jax.enable_x64(True):
                basis = np.asarray(bern.binomial_pmf(m - 1, nodes))
            coefficients = np.linalg.solve(basis, np.asarray(fn(nodes), np.float64))
        else:
            nodes = np.arange(m) / (m - 1) if m > 1 else np.array([0.5])
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.asarray(fn(nodes), np.float64)
            if not np.all(np.isfinite(values)):
                nodes = (np.arange(m) + 0.5) / m
                values = np.asarray(fn(nodes), np.float64)
            coefficients = values
    coefficients = np.asarray(coefficients, np.float64).reshape(m)
    if not np.all(np.isfinite(coefficients)):
        raise ValueError(f"target={target!r} is invalid: h' is not finite on the design nodes")
    with np.errstate(divide="ignore", invalid="ignore"):
        singular = not np.all(np.isfinite(np.asarray(fn(np.array([0.0, 1.0])), np.float64)))
    lo, hi = grid if grid is not None else ((0.05, 0.95) if singular else (0.0, 1.0))
    ps = np.linspace(lo, hi, num_grid)
    with jax.enable_x64(True):
        w = np.asarray(bern.bernstein(coefficients, ps))
    error = float(np.max(np.abs(w - np.asarray(fn(ps), np.float64))))
    scheme = Scheme(
        "designed",
        (("coefficients", tuple(coefficients.tolist())), ("target", name)),
        report={"max_abs_error": error, "grid": (lo, hi), "num_grid": num_grid, "method": method},
    )
    return scheme


_FRAMEWORK_NAMES = ("from_verl", "from_trl", "VERL_ESTIMATORS")


def __getattr__(name: str) -> Any:
    """``from_verl``, ``from_trl``, ``VERL_ESTIMATORS`` live in ``rlxform.frameworks`` (which
    registers verl's table rule when imported); re-exported here lazily."""
    if name in _FRAMEWORK_NAMES:
        from rlxform import frameworks

        return getattr(frameworks, name)
    raise AttributeError(f"module 'rlxform.schemes' has no attribute {name!r}")
