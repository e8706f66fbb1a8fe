"""Sweep configs: a base ``SimConfig`` varied over schemes x group sizes, traced ``HParams``.

A sweep is the grid learning_rate x group_size x schemes x seeds. ``SweepConfig`` nests the run
every chunk starts from (``sim``, a ``SimConfig`` with its ``Problem``) and the traced values
(``hparams``: the learning-rate axis, and kl_coef / clip values shared by every run); the
(scheme, M) chunk's config is ``dataclasses.replace(sim, scheme=..., group_size=M, ...)``.
TOML files are parsed by ``rlxform.parsing.load_toml`` (size, depth and integers bounded),
never evaluated, and read by ``validation.load_dataclass`` through ``toml_keys()``: top-level
keys are the grid, the seeds and every ``SimConfig`` / ``HParams`` field by its own name
(``steps`` = ``num_steps``), ``[policy]`` the ``Problem`` (``kind`` = ``policy``) and
``[population]`` its ``init_p`` and ``seed`` (= ``population_seed``). Errors name the TOML key.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlxform.core import schemes as schemes_lib
from rlxform.core.schemes import Scheme
from rlxform.sim.combinations import check_combination
from rlxform.sim.config import MAX_STEPS, Problem, SimConfig
from rlxform.sim.hparams import HParams, check_hparams
from rlxform.sim.population import check_population
from rlxform.validation import (
    MAX_GROUP_SIZE,
    InputError,
    Key,
    check_choice,
    check_float,
    check_int,
    check_seed,
    load_dataclass,
)


def sweep_problem(**fields: Any) -> Problem:
    """The sweep's default problem (tabular, P = 16, K = 4, init_p = "grid") with ``fields``."""
    return Problem(**{"num_prompts": 16, "num_responses": 4, "init_p": "grid", **fields})


# SweepConfig's defaults: the base run (its scheme is replaced per chunk) and the lr axis
SWEEP_SIM = SimConfig(schemes_lib.grpo(), sweep_problem(), num_steps=100)
SWEEP_HPARAMS = HParams(learning_rate=(0.1, 0.3, 1.0))


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """Grid learning_rate x group_size x schemes x seeds over one base run.

    Attributes:
      sim: the run every (scheme, M) chunk starts from; the chunk replaces its ``scheme``,
        ``group_size``, ``num_steps`` (in budget mode) and ``record_every``. Its problem,
        optimizer, sampler, dynamic sampling, aggregation, KL and PPO settings are the sweep's.
      hparams: traced values: ``learning_rate`` the axis (a tuple of H values, vmapped: one
        compile per chunk); kl_coef, clip_low, clip_high, dual_clip, eps (None or one number)
        are repeated over it.
      group_size: the static M axis. schemes: the scheme axis (``Scheme``s or catalog names).
      seeds: S runs per learning rate from ``jax.random.key(seed)`` (the same keys in every
        chunk and for every learning rate).
      budget: if > 0, samples per prompt M x T held fixed: T = budget // M (else ``sim``'s).
      records: about how many records per run (record_every = a divisor of T).
      threshold: mean p target for ``steps_to_threshold``.
      chunk_size: runs per chunk file; 0 keeps each (scheme, M)'s H x S runs in one chunk, a
        smaller value cuts them into parts (for grids larger than memory).
    """

    sim: SimConfig = SWEEP_SIM
    hparams: HParams = SWEEP_HPARAMS
    group_size: tuple[int, ...] = (4, 8, 16)
    schemes: tuple[Scheme, ...] = (schemes_lib.reinforce(), schemes_lib.grpo())
    seeds: int = 4
    seed: int = 0
    budget: int = 0
    records: int = 20
    threshold: float = 0.9
    chunk_size: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.sim, SimConfig):
            raise InputError(f"sim={self.sim!r} is invalid: must be an rlxform SimConfig")
        object.__setattr__(self, "hparams", _sweep_hparams(self.hparams))
        sizes = _items("group_size", self.group_size, "a non-empty list of integers")
        sizes = tuple(check_int("group_size", m, 1, MAX_GROUP_SIZE) for m in sizes)
        object.__setattr__(self, "group_size", sizes)
        items = _items("schemes", self.schemes, "a non-empty list of schemes")
        object.__setattr__(self, "schemes", tuple(_scheme(s) for s in items))
        check_int("seeds", self.seeds, 1)
        check_seed("seed", self.seed)
        check_int("budget", self.budget, 0)
        check_int("records", self.records, 1)
        check_float("threshold", self.threshold, 0.0, 1.0, low_open=True)
        check_int("chunk_size", self.chunk_size, 0)
        for m in self.group_size:
            steps = self.steps_for(m)
            if not 1 <= steps <= MAX_STEPS:
                raise InputError(
                    f"budget={self.budget!r} is invalid: budget // group_size must be in "
                    f"[1, {MAX_STEPS}] (M={m} gets {steps} steps)"
                )
            for scheme in self.schemes:
                scheme.check_group_size(m, name="group_size")
                cfg = self.sim_config(scheme, m)  # validated by SimConfig
                check_combination(cfg, self.hparams)

    @property
    def problem(self) -> Problem:
        """The problem every run learns (``sim.problem``)."""
        return self.sim.problem

    @property
    def learning_rate(self) -> tuple[float, ...]:
        """The learning-rate axis (``hparams.learning_rate``)."""
        return self.hparams.learning_rate

    def steps_for(self, group_size: int) -> int:
        """T for group size M: ``sim.num_steps``, or ``budget // M`` in fixed-budget mode."""
        return self.budget // group_size if self.budget > 0 else self.sim.num_steps

    def record_every_for(self, group_size: int) -> int:
        """The largest divisor E of T with T / E >= min(records, T); O(sqrt T) divisor search."""
        steps = self.steps_for(group_size)
        target = min(self.records, steps)
        small = [d for d in range(1, math.isqrt(steps) + 1) if steps % d == 0]
        divisors = small + [steps // d for d in small]
        return max(d for d in divisors if steps // d >= target)

    def sim_config(self, scheme: Scheme, group_size: int) -> SimConfig:
        """The simulator config of the (scheme, M) chunk (validated by ``SimConfig``)."""
        return dataclasses.replace(
            self.sim,
            scheme=scheme,
            group_size=group_size,
            num_steps=self.steps_for(group_size),
            record_every=self.record_every_for(group_size),
        )


def _items(name: str, value: Any, allowed: str) -> tuple:
    if not isinstance(value, (tuple, list)) or not value:
        raise InputError(f"{name}={value!r} is invalid: must be {allowed}")
    return tuple(value)


def _number(name: str, value: Any) -> Any:
    """A real number (bool and nested lists are not), left for ``check_hparams`` to bound."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name}={value!r} is invalid: must be a number")
    return float(value)


def _sweep_hparams(hparams: Any) -> HParams:
    """The learning-rate axis as a tuple of floats, every other value None or one float."""
    if not isinstance(hparams, HParams):
        raise InputError(f"hparams={hparams!r} is invalid: must be an rlxform HParams")
    rates = _items("learning_rate", hparams.learning_rate, "a non-empty list of numbers > 0")
    values = {"learning_rate": tuple(_number("learning_rate", v) for v in rates)}
    for name, value in hparams._asdict().items():
        if name != "learning_rate" and value is not None:
            values[name] = _number(name, value)
    return check_hparams(hparams._replace(**values))


def _scheme(scheme: Any) -> Scheme:
    if isinstance(scheme, str):
        return schemes_lib.get(scheme)
    if not isinstance(scheme, Scheme):
        raise InputError(f"schemes={scheme!r} is invalid: must hold rlxform Schemes")
    return scheme


# ---- the TOML format ---------------------------------------------------------------------------

_RUN_AXES = ("scheme", "problem", "group_size", "num_steps", "record_every")  # set per chunk


def toml_keys(allow_import: bool = False) -> dict[str, str | Key]:
    """TOML key -> ``SweepConfig`` field path: the format of ``rlxform sweep`` files.

    Every ``SimConfig`` and ``HParams`` field is a top-level key under its own name, except
    those the grid sets (scheme, group_size, num_steps = ``steps``, record_every from
    ``records``) and ``eps`` (a scheme parameter); ``Problem`` fields are ``[policy]`` keys.
    """
    keys: dict[str, str | Key] = {
        "learning_rate": "hparams.learning_rate",
        "group_size": "group_size",
        "schemes": Key("schemes", functools.partial(_toml_schemes, allow_import=allow_import)),
        "steps": "sim.num_steps",
    }
    own = ("seeds", "seed", "budget", "records", "threshold", "chunk_size")
    keys.update({name: name for name in own})
    sim = (f.name for f in dataclasses.fields(SimConfig) if f.name not in _RUN_AXES)
    keys.update({name: f"sim.{name}" for name in sim})
    traced = (n for n in HParams._fields if n not in ("learning_rate", "eps"))
    keys.update({name: f"hparams.{name}" for name in traced})
    for field in dataclasses.fields(Problem):
        if field.name not in ("policy", "init_p", "population_seed"):
            keys[f"policy.{field.name}"] = f"sim.problem.{field.name}"
    keys["policy.kind"] = "sim.problem.policy"
    keys["population.init_p"] = Key("sim.problem.init_p", _toml_init_p)
    keys["population.seed"] = "sim.problem.population_seed"
    return keys


def _toml_schemes(name: str, tables: Any, allow_import: bool = False) -> tuple[Scheme, ...]:
    """``[[schemes]]`` tables (``name`` plus parameters) as ``Scheme``s, checked one by one; a
    ``module:function`` name is imported only with ``allow_import`` (``--allow-import``)."""
    from rlxform.frameworks import resolve_scheme

    entries = _items(name, tables, "an array of tables [[schemes]] with name = ...")
    out = []
    for index, table in enumerate(entries):
        where = f"{name}[{index}]"
        if not isinstance(table, Mapping):
            raise InputError(f"{where}={table!r} is invalid: must be a table with name = ...")
        if "name" not in table:
            raise InputError(f"{where}.name is missing: every [[schemes]] entry needs a name")
        scheme = table["name"]
        if not (isinstance(scheme, str) and ":" in scheme):  # framework:estimator, module:function
            allowed = [n for n in schemes_lib.names() if n != "custom"]
            scheme = check_choice(f"{where}.name", scheme, allowed)
        params = {k: v for k, v in table.items() if k != "name"}
        for key, value in params.items():
            if isinstance(value, (Mapping, list)):
                raise InputError(
                    f"{where}.{key}={value!r} is invalid: must be a number, string or boolean"
                )
        try:
            out.append(resolve_scheme(scheme, allow_import=allow_import, **params))
        except (TypeError, ValueError) as err:
            raise InputError(f"{where} ({scheme}): {err}") from None
    return tuple(out)


def _toml_init_p(name: str, value: Any) -> Any:
    """``'grid'``, a list of p in (0, 1) or ``{beta = [a, b]}`` as a population spec."""
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"beta"})
        if unknown:
            raise InputError(f"unknown key '{name}.{unknown[0]}'; allowed: beta")
        pair = value.get("beta")
        if not isinstance(pair, list) or len(pair) != 2:
            raise InputError(
                f"{name}.beta={pair!r} is invalid: must be a list [a, b] of numbers > 0"
            )
        return ("beta", *(check_float(f"{name}.beta", v, 0.0, low_open=True) for v in pair))
    if isinstance(value, list) and (not value or value[0] == "beta"):
        raise InputError(
            f"{name}={value!r} is invalid: must be 'grid', a list of numbers in (0, 1), "
            "or {beta = [a, b]}"
        )
    return check_population(tuple(value) if isinstance(value, list) else value, name=name)


def parse_sweep_config(data: Mapping[str, Any], allow_import: bool = False) -> SweepConfig:
    """Validate a parsed TOML document (a dict) and build a ``SweepConfig``.

    Args:
      data: the document, e.g. ``tomllib.loads(text)``.
      allow_import: import the modules of ``module:function`` schemes (runs their code); without
        it such a name is an ``InputError`` saying how to allow it.
    Returns:
      SweepConfig; every (scheme, M) chunk's ``SimConfig`` has been built (validated).
    Raises:
      InputError: naming the unknown key, or the key, value and what is allowed.
    """
    if not isinstance(data, Mapping):
        raise InputError(f"sweep config={data!r} is invalid: must be a table")
    config = load_dataclass(SweepConfig, data, keys=toml_keys(allow_import))
    given, loss_mode = data.get("aggregation"), config.sim.loss_mode
    if loss_mode is not None and given is not None and given != config.sim.aggregation:
        raise InputError(  # a loss mode sets its own aggregation (its loss_agg_mode, or fixed)
            f"aggregation={given!r} is invalid with loss_mode={loss_mode!r}: the mode "
            f"aggregates as {config.sim.aggregation!r}"
        )
    for key, needed in (
        ("kl_estimator", "kl_coef"),
        ("kl_placement", "kl_coef"),
        ("entropy_aggregation", "entropy_coef"),
    ):
        if key in data and needed not in data:  # the term is off: the setting would be ignored
            raise InputError(
                f"{key}={data[key]!r} is invalid without {needed}: it sets that term, which is "
                f"off, so it would be ignored; give {needed} or drop {key}"
            )
    return config


def load_sweep_config(path: str | Path, allow_import: bool = False) -> SweepConfig:
    """Read and validate a TOML sweep file (parsed as data, never evaluated).

    Through ``rlxform.parsing``: the file's size (4 MiB), nesting depth and integers are bounded
    before anything is walked; a violation is one ``InputError`` line naming the file.
    """
    from rlxform.parsing import load_toml, read_text

    name = str(path)
    text = read_text(name, what="config")
    return parse_sweep_config(load_toml(text, source=name), allow_import)
