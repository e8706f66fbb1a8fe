"""Sweep configuration files: TOML parsed as data into a frozen ``SweepConfig``.

A sweep is the grid learning_rate x group_size x schemes x seeds on one ``Problem`` (nested,
never copied: bandit or sequence policy, population of initial p). Files are read with
``tomllib`` (``tomli`` on Python 3.10), never evaluated. TOML tables map onto the problem:
``[policy]`` (``kind`` = ``Problem.policy``, sizes, sequence ``vocab_size``, ``max_length``,
``verifier``) and ``[population]`` (``init_p``, ``seed`` = ``population_seed``). Every key is
checked: an unknown key raises ``InputError`` naming it and the allowed keys; a wrong type names
the key, the value and what is allowed. ``budget`` > 0 holds M x steps fixed (steps = budget // M).
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

from rlxform.core import schemes as schemes_lib
from rlxform.core.aggregation import check_aggregation
from rlxform.resources import MAX_STEPS
from rlxform.sim.config import (
    BANDIT_POLICIES,
    CLIP_BOUNDS,
    OPTIMIZERS,
    SEQUENCE_POLICIES,
    STD_SCOPES,
    Problem,
    SimConfig,
)
from rlxform.sim.population import check_population
from rlxform.sim.simulate import check_kl_combination
from rlxform.validation import (
    MAX_GROUP_SIZE,
    MAX_SEED,
    InputError,
    check_choice,
    check_float,
    check_int,
    did_you_mean,
    load_dataclass,
)

POLICIES = BANDIT_POLICIES + SEQUENCE_POLICIES


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


def sweep_problem(**fields: Any) -> Problem:
    """The sweep's default problem (tabular, P = 16, K = 4, init_p = "grid") with ``fields``."""
    return Problem(**{"num_prompts": 16, "num_responses": 4, "init_p": "grid", **fields})


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
      problem: what is learned (``sim.config.Problem``), nested as is.
      aggregation, batch_groups: loss aggregation and groups per token-mean normaliser
        (``SimConfig``; sequence policies).
      kl_coef: beta of the KL penalty to the initial policy (traced, same for every run; None =
        no KL term); kl_estimator, kl_placement: ``SimConfig``'s (``rlxform.sim.kl_term``).
      ppo_epochs, num_minibatches: PPO's inner loop E x N (``SimConfig``; ``rlxform.sim.ppo``);
        clip_low, clip_high, dual_clip: its clip range (traced, same for every run; None =
        ``HParams``' default); std_scope: ``"group"`` | ``"batch"`` | ``"none"``.
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
    problem: Problem = dataclasses.field(default_factory=sweep_problem)
    aggregation: str = "seq-mean-token-sum"
    batch_groups: int = 1
    kl_coef: float | None = None
    kl_estimator: str = "k1"
    kl_placement: str = "loss"
    ppo_epochs: int = 1
    num_minibatches: int = 1
    clip_low: float | None = None
    clip_high: float | None = None
    dual_clip: float | None = None
    std_scope: str = "group"

    @property
    def clip(self) -> dict[str, float]:
        """The clip hyperparameters set in the config (``HParams`` field -> value)."""
        names = ("clip_low", "clip_high", "dual_clip")
        return {k: getattr(self, k) for k in names if getattr(self, k) is not None}

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

    def sim_config(self, scheme: SchemeSpec, group_size: int) -> SimConfig:
        """The simulator config of the (scheme, M) chunk (validated by ``SimConfig``)."""
        return SimConfig(
            scheme.build(),
            problem=self.problem,
            group_size=group_size,
            num_steps=self.steps_for(group_size),
            record_every=self.record_every_for(group_size),
            optimizer=self.optimizer,
            dynamic_sampling=self.dynamic_sampling,
            aggregation=self.aggregation,
            batch_groups=self.batch_groups,
            kl_estimator=self.kl_estimator,
            kl_placement=self.kl_placement,
            ppo_epochs=self.ppo_epochs,
            num_minibatches=self.num_minibatches,
            std_scope=self.std_scope,
        )


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
    "aggregation": "a loss aggregation mode (rlxform.core.aggregation)",
    "batch_groups": "integer >= 1",
    "kl_coef": "number >= 0 (finite)",
    "kl_estimator": "one of k1, k2, k3, abs, kl, mse, low_var_kl",
    "kl_placement": "one of loss, reward",
    "ppo_epochs": "integer >= 1",
    "num_minibatches": "integer >= 1 dividing the batch",
    "clip_low": "number in (0, 1]",
    "clip_high": "number >= 0",
    "dual_clip": "number > 1",
    "std_scope": f"one of {', '.join(STD_SCOPES)}",
    "policy": "table [policy]",
    "population": "table [population]",
}
# TOML [policy] key -> Problem field; [population] keys below
_POLICY = {
    "kind": "policy",
    "num_prompts": "num_prompts",
    "num_responses": "num_responses",
    "num_correct": "num_correct",
    "hidden": "hidden",
    "features": "features",
    "batch_size": "batch_size",
    "vocab_size": "vocab_size",
    "max_length": "max_length",
    "verifier": "verifier",
}
_POPULATION = {"init_p": "init_p", "seed": "population_seed"}


def _bad(where: str, key: str, value: Any, allowed: str) -> InputError:
    return InputError(f"{where}{key}={value!r} is invalid: must be {allowed}")


def _table(where: str, value: Any, allowed: Mapping[str, str]) -> Mapping[str, Any]:
    """A TOML table whose keys are all in ``allowed`` (InputError naming the first unknown)."""
    if not isinstance(value, Mapping):
        raise _bad("", where.rstrip("."), value, _TOP.get(where.rstrip("."), "a table"))
    for key in value:
        if key not in allowed:
            raise InputError(
                f"unknown key '{where}{key}' in sweep config; allowed: {', '.join(allowed)}"
                + did_you_mean(key, allowed)
            )
    return value


def _list(key: str, value: Any) -> list:
    if not isinstance(value, list) or not value:
        raise _bad("", key, value, _TOP[key])
    return value


def _scheme(index: int, table: Any) -> SchemeSpec:
    where = f"schemes[{index}]."
    if not isinstance(table, Mapping):
        raise _bad("", f"schemes[{index}]", table, "a table with name = ...")
    if "name" not in table:
        raise InputError(f"{where}name is missing: every [[schemes]] entry needs a name")
    name = table["name"]
    if not (isinstance(name, str) and ":" in name):  # framework:estimator or module:function
        name = check_choice(f"{where}name", name, [n for n in schemes_lib.names() if n != "custom"])
    params = {k: v for k, v in table.items() if k != "name"}
    for key, value in params.items():
        if isinstance(value, (Mapping, list)):
            raise _bad(where, key, value, "a number, string or boolean")
    spec = SchemeSpec(name, tuple(sorted(params.items())))
    try:
        spec.build()
    except (TypeError, ValueError) as err:
        raise InputError(f"{where[:-1]} ({name}): {err}") from None
    return spec


def _init_p(value: Any) -> Any:
    """``'grid'``, a list of p in (0, 1) or ``{beta = [a, b]}`` as a population spec."""
    where = "population.init_p"
    if isinstance(value, Mapping):
        pair = _table(f"{where}.", value, {"beta": "beta"}).get("beta")
        if not isinstance(pair, list) or len(pair) != 2:
            raise _bad(f"{where}.", "beta", pair, "a list [a, b] of numbers > 0")
        return ("beta", *(check_float(f"{where}.beta", v, 0.0, low_open=True) for v in pair))
    if isinstance(value, list) and (not value or value[0] == "beta"):
        raise _bad("", where, value, "'grid', a list of numbers in (0, 1), or {beta = [a, b]}")
    return check_population(tuple(value) if isinstance(value, list) else value, name=where)


def _problem(data: Mapping[str, Any]) -> Problem:
    """The ``Problem`` from the [policy] and [population] tables (over the sweep defaults)."""
    policy = _table("policy.", data.get("policy", {}), _POLICY)
    population = _table("population.", data.get("population", {}), _POPULATION)
    if "kind" in policy:
        check_choice("policy.kind", policy["kind"], POLICIES)
    fields = {_POLICY[k]: v for k, v in policy.items()}
    if "seed" in population:
        fields["population_seed"] = check_int("population.seed", population["seed"], 0, MAX_SEED)
    if "init_p" in population:
        fields["init_p"] = _init_p(population["init_p"])
    defaults = dataclasses.asdict(sweep_problem())
    try:
        return load_dataclass(Problem, {**defaults, **fields}, "policy.")
    except InputError as err:  # name the TOML key (policy.kind), not the field (policy.policy)
        raise InputError(str(err).replace("policy.policy", "policy.kind")) from None


def parse_sweep_config(data: Mapping[str, Any]) -> SweepConfig:
    """Validate a parsed TOML document (a dict) and build a ``SweepConfig``.

    Args:
      data: the document, e.g. ``tomllib.loads(text)``.
    Returns:
      SweepConfig; every (scheme, M) chunk's ``SimConfig`` has been built (validated).
    Raises:
      InputError: naming the unknown key, or the key, value and what is allowed.
    """
    if not isinstance(data, Mapping):
        raise InputError(f"sweep config={data!r} is invalid: must be a table")
    _table("", data, _TOP)
    kw: dict[str, Any] = {"problem": _problem(data)}
    if "learning_rate" in data:
        values = _list("learning_rate", data["learning_rate"])
        kw["learning_rate"] = tuple(
            check_float("learning_rate", v, 0.0, low_open=True, float32=True) for v in values
        )
    if "group_size" in data:
        values = _list("group_size", data["group_size"])
        kw["group_size"] = tuple(check_int("group_size", v, 1, MAX_GROUP_SIZE) for v in values)
    if "schemes" in data:
        kw["schemes"] = tuple(
            _scheme(i, t) for i, t in enumerate(_list("schemes", data["schemes"]))
        )
    for key, low, high in (
        ("seeds", 1, None),
        ("seed", 0, MAX_SEED),
        ("steps", 1, MAX_STEPS),
        ("budget", 0, None),
        ("records", 1, None),
        ("batch_groups", 1, None),
        ("ppo_epochs", 1, None),
        ("num_minibatches", 1, None),
    ):
        if key in data:
            kw[key] = check_int(key, data[key], low, high)
    if "threshold" in data:
        kw["threshold"] = check_float("threshold", data["threshold"], 0.0, 1.0, low_open=True)
    if "optimizer" in data:
        kw["optimizer"] = check_choice("optimizer", data["optimizer"], OPTIMIZERS)
    if "dynamic_sampling" in data:
        if not isinstance(data["dynamic_sampling"], bool):
            raise _bad("", "dynamic_sampling", data["dynamic_sampling"], _TOP["dynamic_sampling"])
        kw["dynamic_sampling"] = data["dynamic_sampling"]
    if "aggregation" in data:
        try:
            kw["aggregation"] = check_aggregation(data["aggregation"])
        except ValueError as err:
            raise InputError(str(err)) from None
    if "kl_coef" in data:
        kw["kl_coef"] = check_float("kl_coef", data["kl_coef"], 0.0, float32=True)
    for key in ("kl_estimator", "kl_placement"):
        if key in data:
            kw[key] = check_choice(key, data[key], tuple(_TOP[key][7:].split(", ")))
    for key, (low, high, low_open) in CLIP_BOUNDS.items():
        if key in data:
            kw[key] = check_float(key, data[key], low, high, low_open=low_open, float32=True)
    if "std_scope" in data:
        kw["std_scope"] = check_choice("std_scope", data["std_scope"], STD_SCOPES)
    config = SweepConfig(**kw)
    for m in config.group_size:
        for spec in config.schemes:
            spec.build().check_group_size(m, name="group_size")
        if config.steps_for(m) < 1:
            raise InputError(
                f"budget={config.budget!r} is invalid: must be >= every group_size "
                f"(M={m} gets no steps)"
            )
        if config.steps_for(m) > MAX_STEPS:
            raise InputError(
                f"budget={config.budget!r} is invalid: budget // group_size must be <= "
                f"{MAX_STEPS} (M={m} gets {config.steps_for(m)} steps)"
            )
        for spec in config.schemes:
            cfg = config.sim_config(spec, m)
            if config.kl_coef is not None:
                check_kl_combination(cfg)
    return config


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Read and validate a TOML sweep file (parsed as data, never evaluated)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(
            f"config={str(path)!r} is invalid: cannot be read ({err.strerror or err})"
        ) from None
    except UnicodeDecodeError as err:
        raise InputError(
            f"config={str(path)!r} is invalid: not UTF-8 text (byte {err.start}: {err.reason})"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"config={str(path)!r} is invalid: not TOML ({err})") from None
    return parse_sweep_config(data)
