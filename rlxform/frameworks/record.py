"""The ``Framework`` record: everything rlxform knows about one trainer, in one place.

A trainer module (``verl.py``, ``trl.py``, ...) builds one record; ``registry.FRAMEWORKS`` holds
them. Readers, ``frameworks.advantages``, the cards and the CLI iterate the records and never
name a trainer, so a new trainer (or version) is a new record and its data, not edits across the
package. ``Normaliser`` says how many answers share one token-mean normaliser in a run;
``AdvantageRule`` is a trainer's advantage: its estimators, the rule restated, its scheme.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

from rlxform.frameworks.tables import VersionTable, _spec_holds, load_tables, pick_version
from rlxform.validation import InputError


@dataclasses.dataclass(frozen=True)
class Normaliser:
    """How the run's loss aggregation weighs one answer's tokens.

    Attributes:
      factor: "1" (token sums), "1/L" (the answer's own length), "1/L_max" (a constant) or
        "token-mean" (every token of ``answers`` answers shares one count).
      answers: answers (responses) sharing one token-mean normaliser, or None.
      where: the rule in words, with the trainer's source file and line.
    """

    factor: str
    answers: float | None = None
    where: str = ""


@dataclasses.dataclass(frozen=True)
class AdvantageRule:
    """A trainer's advantage estimators, its advantage code restated and the schemes it runs.

    Attributes:
      estimators: the estimators rlxform models; key: the settings key naming one (None: always
        ``default``); default: the estimator when the key is not set.
      advantages: ``advantages(estimator, groups, lengths, get)`` -> advantages ``float64[G, M]``
        (``get(key)``: a setting or its default); settings: the settings it reads, with
        defaults (``frameworks.advantages`` accepts these keys).
      scheme: ``scheme(estimator, **params) -> Scheme`` (``from_verl``, ...);
        scheme_estimators: the estimators ``resolve_scheme`` accepts as ``framework:estimator``
        (None: all of ``estimators``; ``Framework.scheme_names``).
      settings_key: ``settings_key(key, value) -> (key, value)``: a setting of
        ``frameworks.advantages`` as users write it in the trainer's own key (slime's
        ``--disable-grpo-std-normalization`` -> ``grpo_std_normalization`` False), or None.
    """

    estimators: tuple[str, ...]
    key: str | None
    default: str
    advantages: Callable[..., Any]
    settings: Mapping[str, Any]
    scheme: Callable[..., Any]
    scheme_estimators: tuple[str, ...] | None = None
    settings_key: Callable[[str, Any], tuple[str, Any]] | None = None


@dataclasses.dataclass(frozen=True)
class Framework:
    """One RL trainer as rlxform reads it.

    Attributes:
      name: the name users pass (``--framework``); title: how cards print it.
      data: the data file of its version tables (``data/<data>.json``; Unsloth uses TRL's).
      programs: glob patterns of the programs its launch commands run ("verl.trainer.main_ppo",
        "recipe.*.main_*", "trl grpo"); imports: Python modules whose import marks its scripts.
      markers: glob patterns of config keys only its files use (framework detection).
      arguments: how a launch command's arguments become settings: "hydra" or "argparse".
      config_flag: the program's own flag naming a config file read under Hydra-style
        overrides (NeMo-RL ``run_grpo.py --config FILE a.b=c``), or None.
      read: ``read(settings) -> RunConfig`` (``common.Settings`` in its own key names).
      rewards: ``rewards(settings, extra) -> (binary, why)`` (extra: reward functions from Python).
      normaliser: ``normaliser(settings, run) -> Normaliser``.
      rule: its ``AdvantageRule`` (estimators, advantage code, schemes).
      active: ``active(settings)`` -> not-modelled entries whose default acts (e.g. TRL's
        vLLM importance-sampling correction whenever use_vllm is on).
      script_keys: keys its launch scripts take besides the config's (TRL's ModelConfig and
        ScriptArguments): no effect on the update, never warned about.
      notes: lines every card of this trainer prints.
      foreign_flags: its launch commands pass other programs' flags through (slime: Megatron-LM's
        and SGLang's), which its reader reports; other keys the release does not have are
        listed as not modelled.
      loose: its config loader keeps keys the code no longer reads (NeMo-RL's OmegaConf dict),
        so a stale key of no effect does not make the file an older release's.
      read_arguments: ``read_arguments(found, table) -> settings`` of a launch command whose
        arguments are neither Hydra overrides nor argparse flags (prime-rl's ``@ FILE``), or None.
      retired: ((version spec ("<0.22"), why), ...) releases the trainer's name covers but rlxform
        refuses by name (TRL's PPO-style RLOOTrainer before 0.22).
      group_size_key: the settings key of M where the reader's scheme depends on it (slime
        switches its std off at its default M = 1), or None.
      tools: ((program pattern, what it does), ...): its own entry points that run no RL update
        (verl's ``verl.trainer.main_generation``); a launch file's command running one is
        passed over, and named when no other command trains.
      sections: key prefixes a config file of one of the trainer's processes leaves out
        (prime-rl's ``uv run orchestrator @ FILE`` holds ``orchestrator.*`` keys bare):
        detection counts a bare key its release knows under one of them.
    """

    name: str
    title: str
    data: str
    programs: tuple[str, ...]
    markers: tuple[str, ...]
    arguments: str
    read: Callable[..., Any]
    rewards: Callable[..., tuple[bool | None, str]]
    normaliser: Callable[..., Normaliser]
    rule: AdvantageRule
    imports: tuple[str, ...] = ()
    active: Callable[..., list[dict[str, Any]]] | None = None
    script_keys: frozenset[str] = frozenset()
    foreign_flags: bool = False
    loose: bool = False
    notes: tuple[str, ...] = ()
    config_flag: str | None = None
    # trainers-c (issue 25): prime-rl's command line, TRL RLOO's retired releases
    read_arguments: Callable[..., dict[str, Any]] | None = None
    retired: tuple[tuple[str, str], ...] = ()
    group_size_key: str | None = None
    sections: tuple[str, ...] = ()
    tools: tuple[tuple[str, str], ...] = ()
    # (record, Found) -> (release or None, note) | None: a release the launch pins (verl recipes)
    pin: Callable[..., Any] | None = None

    def tables(self) -> dict[str, VersionTable]:
        """Version tables, oldest first."""
        return load_tables(self.data)

    def versions(self) -> list[str]:
        return list(self.tables())

    def table(self, version: str | None = None) -> tuple[VersionTable, str | None]:
        """(table of ``version`` or the newest, note when a nearby release stood in)."""
        for spec, why in self.retired:
            if version is not None and _spec_holds(spec, str(version).strip().removeprefix("v")):
                raise InputError(
                    f"--framework-version={version!r} is not modelled for {self.name}: {why}; "
                    f"rlxform reads {', '.join(self.tables())}"
                )
        return pick_version(self.tables(), version, self.name)

    @property
    def scheme_names(self) -> tuple[str, ...]:
        """``name:estimator`` of each estimator ``resolve_scheme`` accepts (``verl:grpo``)."""
        named = self.rule.scheme_estimators
        return tuple(f"{self.name}:{e}" for e in (self.rule.estimators if named is None else named))

    def runs(self, program: str) -> bool:
        """Whether a launch command's program is this trainer's entry point."""
        return any(fnmatch.fnmatchcase(program, pattern) for pattern in self.programs)

    def tool(self, program: str | None) -> str | None:
        """What ``program`` does when it is one of this trainer's entry points that run no RL
        update, else None."""
        for pattern, what in self.tools:
            if program is not None and fnmatch.fnmatchcase(program, pattern):
                return what
        return None

    def marked_by(self, keys) -> bool:
        """Whether config keys (dotted) include one of this trainer's marker patterns."""
        return any(fnmatch.fnmatchcase(k, m) for k in keys for m in self.markers)
