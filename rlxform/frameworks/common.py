"""What a run config sets that its objective depends on (``RunConfig``), and ``Settings``.

``Settings`` holds a run's keys in the trainer's own names (dotted paths: verl
``actor_rollout_ref.rollout.n``, OpenRLHF ``algo.kl.init_coef``, TRL ``num_generations``) and
answers a reader's questions with the value the run sets or the default of the version in use,
recording which keys took defaults (``defaults_used``) and which were read (the rest of the keys
a file sets are classified, or warned about). Typed getters raise InputError naming the key.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from rlxform.frameworks.tables import VersionTable
from rlxform.validation import InputError

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
_MISSING = object()


@dataclasses.dataclass(frozen=True)
class StdNorm:
    """The advantage's std normalisation: on or off, its epsilon and scope (group | batch);
    epsilon and scope are None when it is off (``StdNorm.of``)."""

    normalised: bool
    epsilon: float | None = None
    scope: str | None = None

    @classmethod
    def of(cls, normalised: bool, epsilon: float, scope: str) -> StdNorm:
        """``epsilon`` and ``scope`` kept only when ``normalised``."""
        return cls(normalised, epsilon, scope) if normalised else cls(False)


@dataclasses.dataclass(frozen=True)
class Clip:
    """PPO's ratio clamp [1 - low, 1 + high] (inf: that side is not clipped)."""

    low: float
    high: float

    @classmethod
    def of(cls, default: float, low: float | None = None, high: float | None = None) -> Clip:
        """[1 - low, 1 + high], each side ``default`` where it is None (not set)."""
        return cls(default if low is None else low, default if high is None else high)


@dataclasses.dataclass(frozen=True)
class KLTerm:
    """A KL penalty to the reference policy: placement loss | reward (before the advantage) |
    advantage (subtracted after it) | none; estimator (the framework's name or an
    ``rlxform.core.kl`` name, None when off); coef (0.0 when off). ``KLTerm()``: no KL."""

    placement: str = "none"
    estimator: str | None = None
    coef: float = 0.0


class _Field:
    """A read-only attribute reading ``obj.<part>.<field>`` (RunConfig's flat fact names)."""

    def __init__(self, part: str, field: str) -> None:
        self.part, self.field = part, field

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else getattr(getattr(obj, self.part), self.field)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunConfig:
    """What a training config sets that the objective depends on (framework's own names).

    Attributes:
      framework: a ``FRAMEWORKS`` name; version: the release whose defaults were used
        ("trl 0.18.2"); ``read_config`` fills both in from the record and its settings.
      estimator: verl ``adv_estimator``, TRL ``scale_rewards`` (group | batch | none), OpenRLHF
        ``algo.advantage.estimator``.
      group_size: M; std: ``StdNorm`` (read as std_normalised, std_epsilon, std_scope).
      aggregation: verl ``loss_agg_mode``, TRL ``loss_type``, OpenRLHF ``actor.loss_agg_mode``.
      updates_per_rollout: optimizer steps per rollout batch; clip: ``Clip`` (read as
        clip_low, clip_high); kl: ``KLTerm`` (read as kl_placement, kl_estimator, kl_coef).
      dynamic_sampling: zero-variance groups are dropped and refilled.
      scheme_params: keyword arguments for the record's ``scheme(estimator, ...)``.
      reward_shaping: why rewards are not binary (e.g. DAPO overlong penalty), or None.
      pitfalls: known traps of the settings as read; warnings: suspicious keys.
      rewards: {"binary": True | False | None, "why": text}.
      not_modelled: ({"key", "value", "effect"}, ...) settings that change the update and that
        rlxform does not model; defaults_used: keys that took the version's defaults;
      unresolved: what the file does not determine (shell variables, Python expressions);
      command: which launch command or config call was read ({"index", "count", "line",
        "program"}), None for a config file; normaliser: answers per token-mean normaliser.
      vllm_is_mode, vllm_is_cap, vllm_is_cap_min; mask_truncated; overlong_buffer,
        overlong_factor, overlong_max_length; top_entropy_quantile; filter_range: the filters
        that act (``rlxform.explain.filters``), None / False when off.
      loss: the loss mode and its settings as the reducer reads them
        (``frameworks.losses.LossReading``), None for a run built by hand.
      batch_steps: batch-level steps of the advantage (slime / ROLL whitening, AReaL batch
        normalisation): as the batch grows they shift by a constant and divide by a constant
        sigma, so the card's scheme is the run's per-group rule and the step is scaled.
      entropy_coef: the entropy bonus's coefficient c (loss = policy loss - c agg(H); 0.0: no
        bonus), None where rlxform does not model this release's entropy term; entropy_
        aggregation: how its per-token entropies are aggregated (the trainer's mode name);
        entropy_normaliser: which tokens share its normaliser, with the source line;
        entropy_adaptive: TRL's controller settings (``use_adaptive_entropy``) or None.
      filters: the filters acting in the run (what they drop; refilled or not), one sentence
        each, where the trainer's reader lists them.
    """

    framework: str = ""
    version: str = ""
    estimator: str
    group_size: int
    std: StdNorm
    aggregation: str
    updates_per_rollout: float
    clip: Clip
    kl: KLTerm
    dynamic_sampling: bool
    scheme_params: tuple[tuple[str, Any], ...] = ()
    reward_shaping: str | None = None
    pitfalls: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    source: str = "mapping"
    rewards: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: {"binary": None, "why": "not read"}
    )
    not_modelled: tuple[Mapping[str, Any], ...] = ()
    defaults_used: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()
    command: Mapping[str, Any] | None = None
    normaliser: Any = None
    max_length: int | None = None
    loss: Any = None  # frameworks.losses.LossReading: the loss mode, reduced (lossexplain)
    # trainers-b (issue 25): batch-level steps of the advantage (whitening, batch std), one
    # sentence each; the card's scheme is then the per-group rule (their large-batch limit)
    batch_steps: tuple[str, ...] = ()
    # filters (issue 24; rlxform.core.filters), each off by default
    vllm_is_mode: str | None = None  # TRL's vLLM importance-sampling correction when it acts
    vllm_is_cap: float | None = None
    vllm_is_cap_min: float | None = None
    mask_truncated: bool = False  # TRL mask_truncated_completions
    overlong_buffer: float | None = None  # DAPO overlong shaping (verl, OpenRLHF)
    overlong_factor: float | None = None
    overlong_max_length: int | None = None
    top_entropy_quantile: float | None = None  # TRL, when < 1
    filter_range: tuple[float, float] | None = None  # OpenRLHF dynamic_filtering_range
    entropy_coef: float | None = None
    entropy_aggregation: str | None = None
    entropy_normaliser: str | None = None
    entropy_adaptive: Mapping[str, Any] | None = None
    # trainers-c (issue 25): the filters acting in this run, one sentence each (what they drop,
    # refilled or not, with the trainer's source line); the comparison page lists them
    filters: tuple[str, ...] = ()

    # the sub-records' fields under their flat fact names (``FACT_KEYS``), read-only
    std_normalised = _Field("std", "normalised")
    std_epsilon = _Field("std", "epsilon")
    std_scope = _Field("std", "scope")
    clip_low = _Field("clip", "low")
    clip_high = _Field("clip", "high")
    kl_placement = _Field("kl", "placement")
    kl_estimator = _Field("kl", "estimator")
    kl_coef = _Field("kl", "coef")

    def facts(self) -> dict[str, Any]:
        """The facts as a dict with the keys of ``FACT_KEYS`` (JSON-ready)."""
        return {k: getattr(self, k) for k in FACT_KEYS}


def _fail(key: str, value: Any, allowed: str) -> InputError:
    return InputError(f"{key}={value!r} is invalid: must be {allowed}")


class Settings:
    """A run's settings (trainer's own dotted key names) over a version's defaults.

    ``get(key, fallback)`` is the value the run sets, else the version's default, else
    ``fallback`` (a rule the trainer's code applies when its version lacks the key); keys that
    took a default are listed in ``defaults_used``, every key asked for in ``read``;
    ``undetermined`` holds the keys the file sets to values it does not determine (``$HOME/x``):
    they keep their defaults in ``get``, but the file does set them; ``origin`` maps a key of
    ``values`` to the name the file wrote it under (an older name, renamed).
    """

    def __init__(self, values: Mapping[str, Any], table: VersionTable) -> None:
        self.values = dict(values)
        self.table = table
        self.undetermined: dict[str, Any] = {}
        self.origin: dict[str, str] = {}  # a key of ``values`` -> the name the file wrote
        self.written: dict[str, Any] = {}  # the file's own names -> their values
        self.defaults_used: list[str] = []
        self.elsewhere: dict[str, Any] = {}  # keys of other releases only, not read
        self.read: set[str] = set()

    def is_set(self, key: str) -> bool:
        return key in self.values

    def under(self, prefix: str) -> dict[str, Any]:
        """The keys the run sets under ``prefix`` (``"reward."``), with their values."""
        return {k: v for k, v in self.values.items() if k.startswith(prefix)}

    def get(self, key: str, fallback: Any = _MISSING) -> Any:
        self.read.add(key)
        if key in self.values:
            return self.values[key]
        if self.table.has(key):
            value = self.table.default(key)
        elif fallback is _MISSING:
            return None
        else:
            value = fallback
        if key not in self.defaults_used:
            self.defaults_used.append(key)
        return value

    def int_or_none(self, key: str) -> int | None:
        """``get(key, None)`` where it is an integer, else None (null, ``${...}``, text)."""
        return int_or_none(self.get(key, None))

    def int(self, key: str, fallback: Any = _MISSING, low: int = 1) -> int:
        value = self.get(key, fallback)
        if isinstance(value, float) and value.is_integer() and not self.is_set(key):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise _fail(key, value, f"an integer >= {low}")
        return value

    def float(self, key: str, fallback: Any = _MISSING, low: float = 0.0) -> float | None:
        value = self.get(key, fallback)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
            raise _fail(key, value, f"a number >= {low:g}")
        return float(value)

    def pair(self, key: str, fallback: Any = _MISSING, low: float = 0.0) -> tuple[float, float]:
        """Two numbers ``[low, high]`` (a list or tuple), each ``>= low``."""
        value = self.get(key, fallback)
        if not (isinstance(value, (list, tuple)) and len(value) == 2):
            raise _fail(key, value, "two numbers [low, high]")
        bounds = Settings({"low": value[0], "high": value[1]}, self.table)
        return bounds.float("low", low=low), bounds.float("high", low=low)

    def modelled(
        self, key: str, fallback: Any, allowed: Iterable[str], framework: str, rewards: str
    ) -> str:
        """``str(key, fallback)`` where rlxform models the value (``check_modelled``)."""
        value = self.str(key, fallback)
        return check_modelled(key, value, allowed, framework, not self.is_set(key), rewards)

    def bool(self, key: str, fallback: Any = _MISSING) -> bool:
        value = self.get(key, fallback)
        if not isinstance(value, bool):
            raise _fail(key, value, "true or false")
        return value

    def str(self, key: str, fallback: Any = _MISSING, choices: Iterable[str] | None = None):
        value = self.get(key, fallback)
        if value is None and fallback is None:
            return None
        choices = None if choices is None else tuple(choices)
        if not isinstance(value, str) or (choices is not None and value not in choices):
            allowed = "one of " + ", ".join(choices) if choices else "a string"
            raise _fail(key, value, allowed)
        return value


def int_or_none(value: Any) -> int | None:
    """``value`` if it is an integer (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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


def misspelled(key: str, known: Iterable[str], cutoff: float = 0.8) -> str | None:
    """A warning when ``key`` is unknown but close to a known key of the same section."""
    section = key.rpartition(".")[0]
    same = [k for k in known if k.rpartition(".")[0] == section]
    close = difflib.get_close_matches(key, same, n=1, cutoff=cutoff)
    return f"unknown key {key} (did you mean {close[0]}?)" if close else None


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested sections to dotted keys (leaves: lists, scalars and empty sections).

    A leaf written twice with different values (``a.b: 1`` beside ``a: {b: 2}``) raises
    InputError: which one the trainer reads depends on its config loader, not on rlxform.
    """
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = prefix + str(key)
        leaves = (
            flatten(value, name + ".") if isinstance(value, Mapping) and value else {name: value}
        )
        for leaf, v in leaves.items():
            if leaf in out and out[leaf] != v:
                raise InputError(
                    f"{leaf}={v!r} is invalid: the file also sets {leaf}={out[leaf]!r} (one "
                    "key written both dotted and nested); set it once"
                )
            out[leaf] = v
    return out


def overlong_fields(buffer: Any, factor: Any, most: int | None) -> dict[str, Any]:
    """RunConfig's overlong_* fields for a DAPO overlong penalty min(-(L - (most - buffer)) /
    buffer x factor, 0) (the Filters section), or {} when the file does not fix the numbers."""
    if not all(type(x) in (int, float) for x in (buffer, factor)):
        return {}
    return {
        "overlong_buffer": float(buffer),
        "overlong_factor": float(factor),
        "overlong_max_length": most,
    }
