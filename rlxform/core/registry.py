"""Weight schemes as data, and the one rule registry: ``@register(name, ...)`` on a table rule.

A rule ``rule(counts, **params) -> (a, b)`` gives the SPEC tables a[S] (weight of a correct
sample when S of the M are correct) and b[S] (of a wrong one), S = 0..M, and is written once
against an array namespace (``rlxform.core.xp``): its eps-free parts are float64 host constants
(``Counts``: S, q = S/M, the group std), what involves eps goes through ``safe_div`` /
``floored_std``, which follow eps's namespace. ``Scheme.tables(M)`` evaluates the rule in NumPy
float64 with the scheme's own eps (exact references, no JAX); ``Scheme.traced_tables(M, eps)``
evaluates the same rule with a JAX (possibly traced) eps in JAX's default float dtype (the
simulator). a[0] and b[M] are impossible and set to 0; 0/0 (zero-variance groups) gives 0, as the
frameworks do. A rule also declares its capabilities with its registration: its centred form
(the numerator tables before the std division, for ``std_scope`` "batch" / "none") and its
real-reward form (its weights for real-valued rewards, for KL in the reward), so no module
outside the registry checks scheme names.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core.xp import namespace, to_jax
from rlxform.types import Array, ArrayLike, NDArray
from rlxform.validation import InputError, check_group_size, is_concrete

TableRule = Callable[..., tuple[ArrayLike, ArrayLike]]
LimitFn = Callable[[ArrayLike], Array]


class Counts(NamedTuple):
    """Host constants of a group of M: ``s`` = S = 0..M and ``q`` = S/M, ``float64[M+1]``."""

    m: int
    s: NDArray
    q: NDArray

    @classmethod
    def of(cls, m: int) -> Counts:
        s = np.arange(m + 1, dtype=np.float64)
        return cls(m, s, s / m)

    def std(self, kind: str) -> NDArray:
        """Std of S ones among M: population sqrt(q(1-q)) or sample (Bessel): ``float64[M+1]``."""
        if kind == "population":
            return np.sqrt(self.q * (1.0 - self.q))
        return np.sqrt(self.s * (self.m - self.s) / (self.m * (self.m - 1.0)))


def safe_div(num: ArrayLike, den: ArrayLike) -> Array:
    """num / den, 0 where num = 0 (0/0 groups) or den <= 0; double where, so no NaN gradient."""
    xp = namespace(num, den)
    ok = (num != 0) & (den > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return xp.where(ok, num / xp.where(ok, den, 1.0), 0.0)


def floored_std(std: ArrayLike, floor: ArrayLike) -> Array:
    """sqrt(max(std^2, floor)) (verl's variance floor), with a finite gradient at 0."""
    xp = namespace(std, floor)
    var = xp.maximum(xp.square(xp.asarray(std)), floor)
    positive = var > 0
    return xp.where(positive, xp.sqrt(xp.where(positive, var, 1.0)), 0.0)


def p_limit(**_: Any) -> tuple[LimitFn, str]:
    """The large-M objective h(p) = p (every unbiased baseline)."""
    return bern.identity, "p"


class RealReward(NamedTuple):
    """A rule's form on real-valued rewards (KL in the reward: r' = r - beta k, then the weight).

    ``weights(rewards, counts, group_size, **params) -> Z``: ``float[..., N]`` for N distinct
    items of a group of M with real ``rewards`` ``float[..., N]`` and multiplicities ``counts``
    (None: each item once), in the namespace of the rewards.
    ``linear(group_size) -> (c, d)`` when Z_i = c (r_i - d mean_{j != i} r_j), so that the
    expectation over the other samples is c (r_i - d E[r]); None for a weight not linear in r.
    ``available(**params) -> bool``: whether these params have the form (None: always).
    ``gap(**params) -> c``: the trainer's reward of a correct answer minus that of a wrong one
    (None: 1). The form takes rewards on the 0/1 scale; a trainer whose rewards are {r0, r0 + c}
    and subtracts beta k from them acts as beta / c on that scale (``Scheme.reward_gap``).
    """

    weights: Callable[..., Any]
    linear: Callable[[int], tuple[float, float]] | None = None
    available: Callable[..., bool] | None = None
    gap: Callable[..., float] | None = None


@dataclasses.dataclass(frozen=True)
class Rule:
    """A registered table rule and what is known about it (see ``register``)."""

    tables: TableRule
    formula: str
    limit: Callable[..., tuple[LimitFn | None, str | None]]
    min_group_size: Callable[..., int]
    max_group_size: Callable[..., int | None]
    eps: str | None  # name of the rule's eps parameter, None when it has none
    centred: TableRule | None = None  # numerator tables before the std division
    std_kind: Callable[..., str] | None = None  # the std it divides by: sample | population
    real_reward: RealReward | None = None


RULES: dict[str, Rule] = {}


def register(
    name: str,
    formula: str,
    limit: Callable[..., tuple[LimitFn | None, str | None]] = lambda **_: (None, None),
    *,
    min_group_size: int | Callable[..., int] = 1,
    max_group_size: int | Callable[..., int | None] | None = None,
    eps: str = "eps",
    centred: TableRule | None = None,
    std_kind: str | Callable[..., str] = "sample",
    real_reward: RealReward | None = None,
) -> Callable[[TableRule], TableRule]:
    """Decorator registering ``rule(counts, **params) -> (a, b)`` as scheme ``name``.

    ``limit(**params)`` gives the named large-M objective (callable, text) or (None, None);
    group-size bounds are ints or functions of the params. A rule with a parameter named
    ``eps`` takes a traced eps in ``Scheme.traced_tables``: it is never silently ignored.
    Capabilities: ``centred(counts, **params) -> (a, b)``, the tables of a std-normalised rule
    before its division by ``std_kind`` (a name or a function of the params) + eps;
    ``real_reward``, its weights on real-valued rewards (``RealReward``). None: not defined.
    """

    def as_fn(bound: Any) -> Callable[..., Any]:
        return bound if callable(bound) else (lambda **_: bound)

    def decorate(rule: TableRule) -> TableRule:
        has_eps = eps in inspect.signature(rule).parameters
        RULES[name] = Rule(
            rule,
            formula,
            limit,
            as_fn(min_group_size),
            as_fn(max_group_size),
            eps if has_eps else None,
            centred,
            as_fn(std_kind) if centred is not None else None,
            real_reward,
        )
        return rule

    return decorate


def real_reward_names() -> list[str]:
    """Registered rules that have a real-reward form (KL in the reward)."""
    return [name for name, rule in RULES.items() if rule.real_reward is not None]


@dataclasses.dataclass(frozen=True)
class Scheme:
    """A weight scheme: a name plus hashable parameters (usable as static jit config).

    Attributes:
      name: registered rule name (``"grpo"``, ``"verl"``, ``"designed"``, ...).
      params: sorted ``(key, value)`` pairs passed to the rule.
      report: optional extra information (``design`` stores its error report here).
    """

    name: str
    params: tuple[tuple[str, Any], ...] = ()
    report: Mapping[str, Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, **params: Any) -> Scheme:
        """``Scheme(name, sorted params)``; constructors validate the params first."""
        return cls(name, tuple(sorted(params.items())))

    @property
    def rule(self) -> Rule:
        return RULES[self.name]

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
        return self.rule.formula

    @property
    def min_group_size(self) -> int:
        return self.rule.min_group_size(**self.kwargs)

    @property
    def max_group_size(self) -> int | None:
        return self.rule.max_group_size(**self.kwargs)

    @property
    def has_eps(self) -> bool:
        """True when the rule takes an eps (``traced_tables`` substitutes a traced one)."""
        return self.rule.eps is not None

    def check_group_size(self, group_size: Any, name: str = "group_size") -> int:
        """Validate M for this scheme (InputError naming the argument otherwise)."""
        group_size = check_group_size(group_size, name=name)
        lo, hi = self.min_group_size, self.max_group_size
        if group_size < lo or (hi is not None and group_size > hi):
            allowed = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
            raise InputError(
                f"{name}={group_size!r} is invalid for scheme {self.label}: must be {allowed}"
            )
        return group_size

    def tables(self, group_size: int) -> tuple[NDArray, NDArray]:
        """(a, b): read-only ``float64[M+1]`` weights of correct / wrong samples, S = 0..M."""
        m = self.check_group_size(group_size)
        try:
            hash(self)
        except TypeError:  # unhashable params (a Scheme built by hand): evaluate uncached
            return _exact_tables.__wrapped__(self, m)
        return _exact_tables(self, m)

    def traced_tables(self, group_size: int, eps: ArrayLike | None = None) -> tuple[Array, Array]:
        """(a, b) as JAX arrays from the same rule, ``eps`` (possibly traced) replacing the own.

        eps-free parts are the float64 constants rounded once; eps enters in JAX's default
        float dtype. ``eps=None`` (or a rule without eps) gives ``tables(M)`` rounded (fresh
        copies with an explicit dtype: the cached float64 tables never enter JAX themselves).
        Returns ``float[M+1]`` each.
        """
        import jax.numpy as jnp

        if eps is None or not self.has_eps:
            return tuple(to_jax(t) for t in self.tables(group_size))
        m = self.check_group_size(group_size)
        eps = jnp.asarray(eps, jnp.result_type(float))
        params = {**self.kwargs, self.rule.eps: eps}
        a_table, b_table = self.rule.tables(Counts.of(m), **params)
        a_table = jnp.broadcast_to(to_jax(a_table, eps.dtype), (m + 1,))
        b_table = jnp.broadcast_to(to_jax(b_table, eps.dtype), (m + 1,))
        return a_table.at[0].set(0.0), b_table.at[m].set(0.0)

    def coefficients(self, group_size: int) -> NDArray:
        """c_k = a[k+1] - b[k], k = 0..M-1: ``float64[M]``."""
        return bern.coefficients_from_tables(*self.tables(group_size))

    def advantages(self, rewards: ArrayLike) -> Array:
        """Weight Z_i of each sample: ``rewards`` 0/1 of shape ``[..., M]`` -> ``float[..., M]``.

        NumPy float64 for NumPy / list rewards; JAX (default float) for JAX rewards.
        """
        rewards = namespace(rewards).asarray(rewards)
        if rewards.ndim < 1:
            raise InputError(f"rewards with shape {rewards.shape} is invalid: must be [..., M]")
        if is_concrete(rewards):
            values = np.asarray(rewards)
            if not np.all((values == 0) | (values == 1)):
                raise InputError(f"rewards={values.tolist()!r} is invalid: must be 0/1 values")
        return group_weights(*self.tables(rewards.shape[-1]), rewards)

    def limit(self) -> tuple[LimitFn | None, str | None]:
        """The named large-M objective (callable, name), or (None, None)."""
        return self.rule.limit(**self.kwargs)

    # ---- capabilities -------------------------------------------------------------------------

    @property
    def own_eps(self) -> float:
        """The scheme's own eps (0.0 for a rule without eps)."""
        return float(self.kwargs.get(self.rule.eps, 0.0)) if self.has_eps else 0.0

    @property
    def std_normalised(self) -> bool:
        """True when the rule declares a centred form (it divides by a std + eps)."""
        return self.rule.centred is not None

    def centred_tables(self, group_size: int) -> tuple[NDArray, NDArray]:
        """The centred form: (a, b) before the std division, ``float64[M+1]`` (a[0] = b[M] = 0).

        E.g. GRPO: a = 1 - q, b = -q; F-GRPO: a = (1-q)^gamma (1 - q), b = -(1-q)^gamma q.
        """
        if not self.std_normalised:
            raise InputError(
                f"scheme={self.label} is invalid here: it divides by no std (no centred form)"
            )
        m = self.check_group_size(group_size)
        a_table, b_table = self.rule.centred(Counts.of(m), **self.kwargs)
        a_table = np.array(np.broadcast_to(a_table, (m + 1,)), dtype=np.float64)
        b_table = np.array(np.broadcast_to(b_table, (m + 1,)), dtype=np.float64)
        a_table[0] = b_table[m] = 0.0
        return a_table, b_table

    @property
    def std_kind(self) -> str:
        """The std the rule divides by: ``"sample"`` (Bessel, torch's ``std()``) or
        ``"population"``; ``"sample"`` for a rule without a centred form."""
        return self.rule.std_kind(**self.kwargs) if self.std_normalised else "sample"

    @property
    def has_real_reward(self) -> bool:
        """True when the rule is defined on real-valued rewards (KL in the reward)."""
        form = self.rule.real_reward
        return form is not None and (form.available is None or form.available(**self.kwargs))

    @property
    def reward_gap(self) -> float:
        """The trainer's reward gap c (correct minus wrong) the real-reward form assumes: a KL
        coefficient beta on the trainer's rewards is beta / c on the 0/1 scale (1.0 by default)."""
        form = self.rule.real_reward
        return 1.0 if form is None or form.gap is None else float(form.gap(**self.kwargs))

    def check_real_reward(self, context: str) -> None:
        """InputError unless the rule has a real-reward form; ``context`` says what needs one
        ("with real-valued rewards", "with kl_placement='reward'")."""
        if not self.has_real_reward:
            raise InputError(
                f"scheme={self.label!r} is invalid {context}: it is defined only through binary "
                "a/b tables (0/1 rewards); must be one of " + ", ".join(real_reward_names())
            )

    def real_reward_weights(
        self,
        rewards: ArrayLike,
        counts: ArrayLike | None,
        group_size: int,
        eps: ArrayLike | None = None,
    ) -> Array:
        """Z ``float[..., N]`` from real ``rewards`` ``float[..., N]`` (``RealReward.weights``).

        counts: multiplicities of the N items (None: each once); eps (possibly traced) replaces
        the scheme's own when given. InputError when the rule has no real-reward form.
        """
        self.check_real_reward("with real-valued rewards")
        params = self.kwargs
        if eps is not None and self.has_eps:
            params = {**params, self.rule.eps: eps}
        return self.rule.real_reward.weights(rewards, counts, group_size, **params)

    def real_reward_linear(self, group_size: int) -> tuple[float, float] | None:
        """(c, d) with Z_i = c (r_i - d mean_{j != i} r_j), or None (not linear in r)."""
        form = self.rule.real_reward
        return None if form is None or form.linear is None else form.linear(group_size)


@functools.lru_cache(maxsize=1024)
def _exact_tables(scheme: Scheme, m: int) -> tuple[NDArray, NDArray]:
    """The rule in NumPy float64 with the scheme's own params (read-only, cached)."""
    a_table, b_table = scheme.rule.tables(Counts.of(m), **scheme.kwargs)
    a_table = np.array(np.broadcast_to(a_table, (m + 1,)), dtype=np.float64)
    b_table = np.array(np.broadcast_to(b_table, (m + 1,)), dtype=np.float64)
    a_table[0] = b_table[m] = 0.0
    a_table.setflags(write=False)
    b_table.setflags(write=False)
    return a_table, b_table


def group_weights(a_table: ArrayLike, b_table: ArrayLike, rewards: ArrayLike) -> Array:
    """Z_i = a[S] if r_i = 1 else b[S], S = sum_i r_i.

    Args:
      a_table, b_table: ``float[M+1]``.
      rewards: ``float[..., M]`` or ``bool[..., M]`` of 0/1.
    Returns:
      ``float[..., M]`` weights: NumPy float64, or JAX (the tables' dtype, NumPy tables in JAX's
      default float) when an argument is a JAX array.
    """
    xp = namespace(a_table, b_table, rewards)
    rewards = xp.asarray(rewards)
    if xp is np:
        a_table, b_table = np.asarray(a_table, np.float64), np.asarray(b_table, np.float64)
    else:
        a_table, b_table = to_jax(a_table), to_jax(b_table)
    num_correct = xp.sum(rewards.astype(xp.int32), axis=-1, keepdims=True)
    return xp.where(rewards > 0, a_table[num_correct], b_table[num_correct])
