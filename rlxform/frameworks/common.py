"""Read a verl, TRL or OpenRLHF training config into the facts its objective depends on.

``read_config(config, framework=None) -> RunConfig``: ``config`` is a path (JSON or YAML, parsed
with PyYAML as data), a mapping, or a TRL-like dataclass object (duck-typed: TRL need not be
installed). Keys a file does not set take the defaults of verl 0.9.1, trl 1.16.0 and openrlhf
0.11.2 (older flat OpenRLHF names are mapped to the dotted ones). Keys outside the objective are
ignored; an unknown key close to a known one of a section that matters becomes a warning.
Framework rules: ``rlxform.core.config_readers`` (verl, TRL), ``rlxform.core.config_openrlhf``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rlxform.validation import InputError, check_choice

FRAMEWORKS = ("verl", "trl", "openrlhf")
VERSIONS = {"verl": "verl 0.9.1", "trl": "trl 1.16.0", "openrlhf": "openrlhf 0.11.2"}
FACT_KEYS = (
    "framework",
    "estimator",
    "group_size",
    "std_normalised",
    "std_epsilon",
    "std_scope",
    "aggregation",
    "updates_per_rollout",
    "clip_low",
    "clip_high",
    "kl_placement",
    "kl_estimator",
    "kl_coef",
    "dynamic_sampling",
)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """What a training config sets that the objective depends on (framework's own names).

    Attributes:
      framework: "verl" | "trl" | "openrlhf"; version: the release whose defaults were used.
      estimator: verl ``adv_estimator``, TRL ``scale_rewards`` (group | batch | none), OpenRLHF
        ``algo.advantage.estimator``.
      group_size: M; std_normalised, std_epsilon, std_scope (group | batch | None).
      aggregation: verl ``loss_agg_mode``, TRL ``loss_type``, OpenRLHF ``actor.loss_agg_mode``.
      updates_per_rollout: optimizer steps per rollout batch; clip_low, clip_high: the ratio is
        clamped to [1 - clip_low, 1 + clip_high].
      kl_placement: loss | reward | none; kl_estimator (framework's name or None); kl_coef.
      dynamic_sampling: zero-variance groups are dropped and refilled.
      scheme_params: keyword arguments for ``from_<framework>(estimator, ...)``.
      reward_shaping: why rewards are not binary (e.g. DAPO overlong penalty), or None.
      pitfalls: known traps of the settings as read; warnings: suspicious keys.
    """

    framework: str
    version: str
    estimator: str
    group_size: int
    std_normalised: bool
    std_epsilon: float | None
    std_scope: str | None
    aggregation: str
    updates_per_rollout: float
    clip_low: float
    clip_high: float
    kl_placement: str
    kl_estimator: str | None
    kl_coef: float
    dynamic_sampling: bool
    scheme_params: tuple[tuple[str, Any], ...] = ()
    reward_shaping: str | None = None
    pitfalls: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    source: str = "mapping"

    def facts(self) -> dict[str, Any]:
        """The facts as a dict with the keys of ``FACT_KEYS`` (JSON-ready)."""
        return {k: getattr(self, k) for k in FACT_KEYS}


# ---- loading ---------------------------------------------------------------------------------


def load_mapping(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a JSON or YAML config file as data; InputError naming the file and line otherwise."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"config={str(path)!r} is invalid: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"config={str(path)!r} is invalid: cannot read it ({err})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(
                f"cannot parse {path}: line {err.lineno}, column {err.colno}: {err.msg}"
            ) from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise InputError(f"cannot parse {path}: {where}{problem}") from None
    if not isinstance(data, Mapping):
        raise InputError(
            f"config={str(path)!r} is invalid: must hold a mapping of config keys, "
            f"got {type(data).__name__}"
        )
    return dict(data)


def as_mapping(config: Any) -> tuple[dict[str, Any], str]:
    """(mapping, source) from a path, a mapping or a dataclass-like object (TRL GRPOConfig)."""
    if isinstance(config, (str, os.PathLike)):
        return load_mapping(config), str(config)
    if isinstance(config, Mapping):
        return dict(config), "mapping"
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        fields = dataclasses.fields(config)
        return {f.name: getattr(config, f.name) for f in fields}, type(config).__name__
    if hasattr(config, "to_dict") and callable(config.to_dict):
        return dict(config.to_dict()), type(config).__name__
    raise InputError(
        f"config={config!r} is invalid: must be a path to a JSON/YAML file, a mapping or a "
        "dataclass object (e.g. trl.GRPOConfig)"
    )


_TRL_MARKERS = {"num_generations", "scale_rewards", "loss_type", "beta", "epsilon_high"}
_TRL_MARKERS |= {"steps_per_generation", "num_iterations", "per_device_train_batch_size"}
_OPENRLHF_FLAT = {"advantage_estimator", "n_samples_per_prompt", "init_kl_coef"}
_OPENRLHF_FLAT |= {"rollout_batch_size", "micro_train_batch_size", "use_kl_loss"}


def detect_framework(mapping: Mapping[str, Any]) -> str:
    """verl (``algorithm`` / ``actor_rollout_ref``), OpenRLHF (``algo.*``, ``rollout.*``, ...,
    or its flat argparse names) or TRL (GRPOConfig fields); InputError when none or several."""
    keys = {str(k) for k in mapping}
    heads = {k.split(".")[0] for k in keys}
    found = []
    if heads & {"algorithm", "actor_rollout_ref"}:
        found.append("verl")
    if heads & {"algo", "rollout", "train"} or keys & _OPENRLHF_FLAT:
        found.append("openrlhf")
    if keys & _TRL_MARKERS:
        found.append("trl")
    if len(found) != 1:
        what = "none" if not found else " and ".join(found)
        raise InputError(
            f"framework=None is invalid for this config: its keys look like {what}; pass "
            "framework= (--framework) as one of verl, trl, openrlhf"
        )
    return found[0]


def read_config(config: Any, framework: str | None = None) -> RunConfig:
    """The objective-relevant facts of ``config`` (path, mapping or dataclass object)."""
    from rlxform.core import config_openrlhf, config_readers

    if framework is not None:
        check_choice("framework", framework, FRAMEWORKS)
    mapping, source = as_mapping(config)
    if framework is None:
        framework = detect_framework(mapping)
    reader = {
        "verl": config_readers.read_verl,
        "trl": config_readers.read_trl,
        "openrlhf": config_openrlhf.read_openrlhf,
    }[framework]
    return dataclasses.replace(reader(mapping), source=source)


# ---- typed getters (InputError naming the key, the value and what is allowed) -------------------


def _fail(key: str, value: Any, allowed: str) -> InputError:
    return InputError(f"{key}={value!r} is invalid: must be {allowed}")


def check_modelled(
    key: str, value: Any, allowed: Iterable[str], framework: str, defaulted: bool, rewards: str
) -> str:
    """``value`` if rlxform models it, else an InputError naming the framework's cases."""
    allowed = tuple(allowed)
    if value not in allowed:
        default = f" ({framework}'s default)" if defaulted else ""
        raise InputError(
            f"{key}={value!r}{default} is not modelled by rlxform: it models {framework}'s "
            f"{', '.join(allowed)} for {rewards}"
        )
    return value


def std_fields(normalised: bool, epsilon: float, scope: str) -> dict[str, Any]:
    """RunConfig's ``std_normalised``, ``std_epsilon``, ``std_scope`` (None when unnormalised)."""
    return {
        "std_normalised": normalised,
        "std_epsilon": epsilon if normalised else None,
        "std_scope": scope if normalised else None,
    }


def get_int(table: Mapping, key: str, default: int, where: str, low: int = 1) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _fail(where + key, value, f"an integer >= {low}")
    return value


def get_float(
    table: Mapping, key: str, default: float | None, where: str, low: float = 0.0
) -> float | None:
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
        raise _fail(where + key, value, f"a number >= {low:g}")
    return float(value)


def get_bool(table: Mapping, key: str, default: bool, where: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise _fail(where + key, value, "true or false")
    return value


def get_str(table: Mapping, key: str, default: str | None, where: str, choices=None) -> Any:
    value = table.get(key, default)
    if value is None and default is None:
        return None
    if not isinstance(value, str) or (choices is not None and value not in choices):
        raise _fail(where + key, value, "one of " + ", ".join(choices) if choices else "a string")
    return value


def get_table(table: Mapping, key: str, where: str) -> Mapping:
    value = table.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(where + key, value, "a mapping (a section of keys)")
    return value


def misspelled(keys: Iterable[str], known: Iterable[str], where: str, cutoff=0.8) -> list[str]:
    """Warnings for keys not in ``known`` but close to one of them (difflib)."""
    known = list(known)
    out = []
    for key in keys:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=cutoff)
        if close:
            out.append(f"unknown key {where}{key} (did you mean {where}{close[0]}?)")
    return out
