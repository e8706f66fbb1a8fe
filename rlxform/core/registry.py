"""Weight schemes as data, and the one rule registry: ``@register(name, ...)`` on a table rule.

A rule ``rule(counts, **params) -> (a, b)`` gives the SPEC tables a[S] (weight of a correct
sample when S of the M are correct) and b[S] (of a wrong one), S = 0..M, and is written once.
Its eps-free parts are float64 host constants (``Counts``: S, q = S/M, the group std); what
involves eps is jnp (``safe_div``, ``floored_std``), so eps is an ordinary, possibly traced,
argument. ``Scheme.tables(M)`` evaluates the rule with the scheme's own eps under
``jax.enable_x64(True)`` (float64 exact references); ``Scheme.traced_tables(M, eps)`` evaluates
the same rule with a traced eps in the default float dtype (the simulator). a[0] and b[M] are
impossible and set to 0; 0/0 (zero-variance groups) gives 0, as the frameworks do.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rlxform.core import bernstein as bern
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
    ok = (num != 0) & (den > 0)
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


def floored_std(std: ArrayLike, floor: ArrayLike) -> Array:
    """sqrt(max(std^2, floor)) (verl's variance floor), with a finite gradient at 0."""
    var = jnp.maximum(jnp.square(jnp.asarray(std)), floor)
    positive = var > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1.0)), 0.0)


def p_limit(**_: Any) -> tuple[LimitFn, str]:
    """The large-M objective h(p) = p (every unbiased baseline)."""
    return bern.identity, "p"


@dataclasses.dataclass(frozen=True)
class Rule:
    """A registered table rule and what is known about it (see ``register``)."""

    tables: TableRule
    formula: str
    limit: Callable[..., tuple[LimitFn | None, str | None]]
    min_group_size: Callable[..., int]
    max_group_size: Callable[..., int | None]
    eps: str | None  # name of the rule's eps parameter, None when it has none


RULES: dict[str, Rule] = {}


def register(
    name: str,
    formula: str,
    limit: Callable[..., tuple[LimitFn | None, str | None]] = lambda **_: (None, None),
    *,
    min_group_size: int | Callable[..., int] = 1,
    max_group_size: int | Callable[..., int | None] | None = None,
    eps: str = "eps",
) -> Callable[[TableRule], TableRule]:
    """Decorator registering ``rule(counts, **params) -> (a, b)`` as scheme ``name``.

    ``limit(**params)`` gives the named large-M objective (callable, text) or (None, None);
    group-size bounds are ints or functions of the params. A rule with a parameter named
    ``eps`` takes a traced eps in ``Scheme.traced_tables``: it is never silently ignored.
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
        )
        return rule

    return decorate


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
        float dtype. ``eps=None`` (or a rule without eps) gives ``tables(M)`` rounded.
        Returns ``float[M+1]`` each.
        """
        if eps is None or not self.has_eps:
            return tuple(jnp.asarray(t) for t in self.tables(group_size))
        m = self.check_group_size(group_size)
        eps = jnp.asarray(eps, jnp.result_type(float))
        params = {**self.kwargs, self.rule.eps: eps}
        a_table, b_table = self.rule.tables(Counts.of(m), **params)
        a_table = jnp.broadcast_to(jnp.asarray(a_table, eps.dtype), (m + 1,))
        b_table = jnp.broadcast_to(jnp.asarray(b_table, eps.dtype), (m + 1,))
        return a_table.at[0].set(0.0), b_table.at[m].set(0.0)

    def coefficients(self, group_size: int) -> NDArray:
        """c_k = a[k+1] - b[k], k = 0..M-1: ``float64[M]``."""
        return bern.coefficients_from_tables(*self.tables(group_size))

    def advantages(self, rewards: ArrayLike) -> Array:
        """Weight Z_i of each sample: ``rewards`` 0/1 of shape ``[..., M]`` -> ``float[..., M]``."""
        rewards = jnp.asarray(rewards)
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


@functools.lru_cache(maxsize=1024)
def _exact_tables(scheme: Scheme, m: int) -> tuple[NDArray, NDArray]:
    """The rule under float64 with the scheme's own params, evaluated eagerly (even in jit)."""
    with jax.ensure_compile_time_eval(), jax.enable_x64(True):
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
      ``float[..., M]`` weights (dtype of the tables after JAX canonicalisation).
    """
    rewards = jnp.asarray(rewards)
    a_table = jnp.asarray(a_table)
    b_table = jnp.asarray(b_table)
    num_correct = jnp.sum(rewards.astype(jnp.int32), axis=-1, keepdims=True)
    return jnp.where(rewards > 0, a_table[num_correct], b_table[num_correct])
