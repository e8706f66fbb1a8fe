"""Sweep configuration files: TOML parsed as data into a frozen ``SweepConfig``.

A sweep is the grid learning_rate x group_size x schemes x seeds on one bandit problem (policy
and population of initial p). Files are read with ``tomllib`` (``tomli`` on Python 3.10), never
evaluated. Every key is checked: an unknown key raises ValueError naming it and the allowed
keys; a wrong type names the key, the value and what is allowed. ``budget`` > 0 holds M x steps
fixed (steps = budget // M for each group size).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

import numpy as np

from rlxform import policies
from rlxform import schemes as schemes_lib
from rlxform.resources import MAX_STEPS
from rlxform.validation import MAX_GROUP_SIZE, MAX_SEED, did_you_mean

POLICIES = ("scalar", "tabular", "network")
OPTIMIZERS = ("sgd", "adam")


@dataclasses.dataclass(frozen=True)
class SchemeSpec:
    """A scheme by name with its parameters (kept as data, built on demand): a catalog name,
    ``framework:estimator`` (``verl:grpo``) or ``module:function`` (``rlxform.frameworks``)."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    def build(self) -> schemes_lib.Scheme:
        from rlxform.frameworks import resolve_scheme

        return resolve_scheme(self.name, **dict(self.params))


def scheme_specs(*items: str | tuple[str, dict]) -> tuple[SchemeSpec, ...]:
    """``SchemeSpec``s from names or ``(name, params)`` pairs, params sorted by key.

    Example: ``scheme_specs("grpo", ("pass_at_k", {"k": 4}))``.
    """
    out = []
    for item in items:
        name, params = (item, {}) if isinstance(item, str) else item
        out.append(SchemeSpec(name, tuple(sorted(params.items()))))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    """The bandit problem: policy kind, P prompts, K responses, C correct, network sizes."""

    kind: str = "tabular"
    num_prompts: int = 16
    num_responses: int = 4
    num_correct: int = 1
    hidden: int = 32
    features: int = 16
    batch_size: int | None = None


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """Grid learning_rate x group_size x schemes x seeds (all static except learning_rate).

    Attributes:
      learning_rate: traced axis, vmapped (one compile per (scheme, M)).
      group_size: static axis (M changes shapes).
      schemes: schemes with parameters.
      seeds: number of seeds S; ``seed`` is the base seed (keys are shared by all chunks).
      steps: T per run (ignored when ``budget`` > 0).
      budget: if > 0, samples per prompt M x T held fixed: T = budget // M.
      records: about how many records per run (record_every = a divisor of T).
      threshold: mean p target for ``steps_to_threshold``.
      optimizer: ``"sgd"`` or ``"adam"``.
      dynamic_sampling: drop groups with S = 0 or S = M and average over the kept ones.
      policy: the bandit problem.
      init_p: population of initial p: ``"grid"``, a tuple of values or ("beta", a, b).
      population_seed: seed of the population draw (part of the problem).
    """

    learning_rate: tuple[float, ...] = (0.1, 0.3, 1.0)
    group_size: tuple[int, ...] = (4, 8, 16)
    schemes: tuple[SchemeSpec, ...] = (SchemeSpec("reinforce"), SchemeSpec("grpo"))
    seeds: int = 4
    seed: int = 0
    steps: int = 100
    budget: int = 0
    records: int = 20
    threshold: float = 0.9
    optimizer: str = "sgd"
    dynamic_sampling: bool = False
    policy: PolicySpec = PolicySpec()
    init_p: Any = "grid"
    population_seed: int = 0

    def steps_for(self, group_size: int) -> int:
        """T for group size M: ``steps``, or ``budget // M`` in fixed-budget mode."""
        return self.budget // group_size if self.budget > 0 else self.steps

    def record_every_for(self, group_size: int) -> int:
        """The largest divisor E of T with T / E >= min(records, T); O(sqrt T) divisor search."""
        steps = self.steps_for(group_size)
        target = min(self.records, steps)
        small = [d for d in range(1, math.isqrt(steps) + 1) if steps % d == 0]
        divisors = small + [steps // d for d in small]
        return max(d for d in divisors if steps // d >= target)


_TOP = {
    "learning_rate": "list of numbers > 0",
    "group_size": "list of integers >= 1",
    "schemes": "array of tables [[schemes]] with name = ... and parameters",
    "seeds": "integer >= 1",
    "seed": f"integer in [0, {MAX_SEED}]",
    "steps": f"integer in [1, {MAX_STEPS}]",
    "budget": "integer >= 0",
    "records": "integer >= 1",
    "threshold": "number in (0, 1]",
    "optimizer": f"one of {', '.join(OPTIMIZERS)}",
    "dynamic_sampling": "true or false",
    "policy": "table [policy]",
    "population": "table [population]",
}
_POLICY = {
    "kind": f"one of {', '.join(POLICIES)}",
    "num_prompts": "integer >= 1",
    "num_responses": "integer >= 2",
    "num_correct": "integer >= 1",
    "hidden": "integer >= 1",
    "features": "integer >= 1",
    "batch_size": "integer >= 1",
}
_POPULATION = {
    "init_p": "'grid', a list of numbers in (0, 1), or {beta = [a, b]}",
    "seed": f"integer in [0, {MAX_SEED}]",
}


def _bad(where: str, key: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"{where}{key}={value!r} is invalid: must be {allowed}")


def _check_keys(where: str, table: Mapping[str, Any], allowed: Mapping[str, str]) -> None:
    for key in table:
        if key not in allowed:
            raise ValueError(
                f"unknown key '{where}{key}' in sweep config; allowed: {', '.join(allowed)}"
            )


def _int(where: str, key: str, value: Any, low: int, high: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise _bad(where, key, value, f"an integer {rng}")
    return value


def _number(where: str, key: str, value: Any, allowed: str, ok) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(where, key, value, allowed)
    value = float(value)
    if not math.isfinite(value) or not ok(value):
        raise _bad(where, key, value, allowed)
    return value


def _learning_rate(value: Any) -> float:
    """A learning rate > 0 that stays nonzero and finite in float32 (the simulator's dtype)."""
    allowed = _TOP["learning_rate"]
    rate = _number("", "learning_rate", value, allowed, lambda x: x > 0)
    with np.errstate(over="ignore"):
        single = np.float32(rate)
    if single == 0 or not np.isfinite(single):
        raise _bad("", "learning_rate", value, f"{allowed}, nonzero and finite in float32")
    return rate


def _list(where: str, key: str, value: Any, allowed: str) -> list:
    if not isinstance(value, list) or not value:
        raise _bad(where, key, value, allowed)
    return value


def _choice(where: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _bad(where, key, value, f"one of {', '.join(choices)}" + did_you_mean(value, choices))
    return value


def _scheme(index: int, table: Any) -> SchemeSpec:
    where = f"schemes[{index}]."
    if not isinstance(table, Mapping):
        raise _bad("", f"schemes[{index}]", table, "a table with name = ...")
    if "name" not in table:
        raise ValueError(f"{where}name is missing: every [[schemes]] entry needs a name")
    name = table["name"]
    known = [n for n in schemes_lib.names() if n != "custom"]
    if not (isinstance(name, str) and ":" in name):  # framework:estimator or module:function
        name = _choice(where, "name", name, tuple(known))
    params = {k: v for k, v in table.items() if k != "name"}
    for key, value in params.items():
        if isinstance(value, (Mapping, list)):
            raise _bad(where, key, value, "a number, string or boolean")
    try:
        SchemeSpec(name, tuple(sorted(params.items()))).build()
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where[:-1]} ({name}): {err}") from None
    return SchemeSpec(name, tuple(sorted(params.items())))


def _checked_policy(spec: PolicySpec) -> PolicySpec:
    """Cross-field checks (C < K, K = 2 for scalar, batch_size <= num_prompts) at load time."""
    try:
        policies.PolicyConfig(
            spec.kind,
            spec.num_prompts,
            spec.num_responses,
            spec.num_correct,
            spec.hidden,
            spec.features,
        )
    except ValueError as err:
        raise ValueError(f"policy.{err}") from None
    if spec.batch_size is not None and spec.batch_size > spec.num_prompts:
        raise _bad(
            "policy.",
            "batch_size",
            spec.batch_size,
            f"an integer in [1, {spec.num_prompts}] (at most num_prompts)",
        )
    return spec


def _population(table: Mapping[str, Any]) -> tuple[Any, int]:
    _check_keys("population.", table, _POPULATION)
    seed = _int("population.", "seed", table.get("seed", 0), 0, MAX_SEED)
    spec = table.get("init_p", "grid")
    allowed = _POPULATION["init_p"]
    if isinstance(spec, str):
        if spec != "grid":
            raise _bad("population.", "init_p", spec, allowed)
        return "grid", seed
    if isinstance(spec, Mapping):
        _check_keys("population.init_p.", spec, {"beta": "[a, b] with a, b > 0"})
        pair = spec.get("beta")
        if not isinstance(pair, list) or len(pair) != 2:
            raise _bad("population.init_p.", "beta", pair, "a list [a, b] of numbers > 0")
        a, b = (
            _number(
                "population.init_p.", "beta", v, "a list [a, b] of numbers > 0", lambda x: x > 0
            )
            for v in pair
        )
        return ("beta", a, b), seed
    values = _list("population.", "init_p", spec, allowed)
    return tuple(
        _number("population.", "init_p", v, allowed, lambda x: 0 < x < 1) for v in values
    ), seed


def parse_sweep_config(data: Mapping[str, Any]) -> SweepConfig:
    """Validate a parsed TOML document (a dict) and build a ``SweepConfig``.

    Args:
      data: the document, e.g. ``tomllib.loads(text)``.
    Returns:
      SweepConfig.
    Raises:
      ValueError: naming the unknown key, or the key, value and what is allowed.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"sweep config={data!r} is invalid: must be a table")
    _check_keys("", data, _TOP)
    defaults = SweepConfig()
    kw: dict[str, Any] = {}
    if "learning_rate" in data:
        values = _list("", "learning_rate", data["learning_rate"], _TOP["learning_rate"])
        kw["learning_rate"] = tuple(_learning_rate(v) for v in values)
    if "group_size" in data:
        values = _list("", "group_size", data["group_size"], _TOP["group_size"])
        kw["group_size"] = tuple(_int("", "group_size", v, 1, MAX_GROUP_SIZE) for v in values)
    if "schemes" in data:
        values = _list("", "schemes", data["schemes"], _TOP["schemes"])
        kw["schemes"] = tuple(_scheme(i, t) for i, t in enumerate(values))
    for key, low, high in (
        ("seeds", 1, None),
        ("seed", 0, MAX_SEED),
        ("steps", 1, MAX_STEPS),
        ("budget", 0, None),
        ("records", 1, None),
    ):
        if key in data:
            kw[key] = _int("", key, data[key], low, high)
    if "threshold" in data:
        kw["threshold"] = _number(
            "", "threshold", data["threshold"], _TOP["threshold"], lambda x: 0 < x <= 1
        )
    if "optimizer" in data:
        kw["optimizer"] = _choice("", "optimizer", data["optimizer"], OPTIMIZERS)
    if "dynamic_sampling" in data:
        if not isinstance(data["dynamic_sampling"], bool):
            raise _bad("", "dynamic_sampling", data["dynamic_sampling"], _TOP["dynamic_sampling"])
        kw["dynamic_sampling"] = data["dynamic_sampling"]
    if "policy" in data:
        table = data["policy"]
        if not isinstance(table, Mapping):
            raise _bad("", "policy", table, _TOP["policy"])
        _check_keys("policy.", table, _POLICY)
        pol: dict[str, Any] = {}
        if "kind" in table:
            pol["kind"] = _choice("policy.", "kind", table["kind"], POLICIES)
        for key, low in (
            ("num_prompts", 1),
            ("num_responses", 2),
            ("num_correct", 1),
            ("hidden", 1),
            ("features", 1),
            ("batch_size", 1),
        ):
            if key in table:
                pol[key] = _int("policy.", key, table[key], low)
        kw["policy"] = _checked_policy(PolicySpec(**pol))
    if "population" in data:
        table = data["population"]
        if not isinstance(table, Mapping):
            raise _bad("", "population", table, _TOP["population"])
        kw["init_p"], kw["population_seed"] = _population(table)
    config = dataclasses.replace(defaults, **kw)
    for m in config.group_size:
        for spec in config.schemes:
            spec.build().check_group_size(m, name="group_size")
        if config.steps_for(m) < 1:
            raise ValueError(
                f"budget={config.budget!r} is invalid: must be >= every group_size "
                f"(M={m} gets no steps)"
            )
        if config.steps_for(m) > MAX_STEPS:
            raise ValueError(
                f"budget={config.budget!r} is invalid: budget // group_size must be <= "
                f"{MAX_STEPS} (M={m} gets {config.steps_for(m)} steps)"
            )
    return config


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Read and validate a TOML sweep file (parsed as data, never evaluated)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(
            f"config={str(path)!r} is invalid: cannot be read ({err.strerror or err})"
        ) from None
    except UnicodeDecodeError as err:
        raise ValueError(
            f"config={str(path)!r} is invalid: not UTF-8 text (byte {err.start}: {err.reason})"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config={str(path)!r} is invalid: not TOML ({err})") from None
    return parse_sweep_config(data)
