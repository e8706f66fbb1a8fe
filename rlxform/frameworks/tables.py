"""Version tables: each trainer release's config keys, defaults, renames and key classes.

A trainer's tables ship as ``rlxform/frameworks/data/<name>.json`` (extracted from the released
packages; provenance per key in tests/data/frameworks; the format is described in the file's
``doc``). ``VersionTable`` is one release's view: ``has``/``default`` of a key (dotted names as
the trainer's users write them), the renames up to that release, the rules the code applies
(with file:line), and the class of each key: ``modelled``, ``no_effect`` or ``unmodelled`` with
a sentence on what it does to the update, the values at which it is neutral and the settings
it needs to act (``KeyClass``). ``typed`` turns command-line words into the key's type.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

from rlxform.validation import InputError

CLASSES = ("modelled", "no_effect", "unmodelled")
_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|nan)", re.I)


def version_key(version: str) -> tuple[int, ...]:
    """Versions compare as tuples of their integers: 0.10.1.post2 = (0, 10, 1, 2)."""
    return tuple(int(p) for p in re.findall(r"\d+", str(version)))


def _spec_holds(spec: str, version: str) -> bool:
    """``>=0.25,<1.13``: every comparison holds for ``version``."""
    ops = {
        ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b,
        "==": lambda a, b: a == b,
        ">": lambda a, b: a > b,
        "<": lambda a, b: a < b,
    }
    mine = version_key(version)
    for part in spec.split(","):
        match = re.fullmatch(r"\s*(>=|<=|==|>|<)\s*([\w.]+)\s*", part)
        if not match or not ops[match[1]](mine, version_key(match[2])):
            return False
    return True


def _literal(pattern: str) -> int:
    return sum(ch not in "*?[]" for ch in pattern)


@dataclasses.dataclass(frozen=True)
class KeyClass:
    """The class of a key in one release.

    Attributes:
      kind: "modelled" | "no_effect" | "unmodelled"; effect: what it does to the update;
      rule: the matching rule (PATTERN or PATTERN@SPEC); neutral: values at which an unmodelled
      key leaves the update as rlxform models it (None: it can act at any value); only_with:
      {other key: [values] or {"not": [values]}} it needs to act.
    """

    kind: str
    effect: str | None = None
    rule: str = ""
    neutral: tuple[Any, ...] | None = None
    only_with: Mapping[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class VersionTable:
    """One release of a trainer: its keys and defaults, renames, code rules and key classes.

    Attributes:
      framework, version: e.g. "trl", "1.16.0".
      keys: key -> {"default": value} for every config key of the release.
      renames: any release's older name -> the newest name(s) (every listed release, chains
        followed): runs are read under the newest names. native: a newest name -> the name
        this release uses for it, where they differ.
      rules: key -> what the code does with it (computed defaults, aliases), with file:line.
      classes: the trainer's class rules (shared by all releases; ``kind`` picks).
      switches: argparse dests of the release's flags that take no value (slime's store_true
        ``--colocate``): the word after one is never its value.
    """

    framework: str
    version: str
    keys: Mapping[str, Mapping[str, Any]]
    renames: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    native: Mapping[str, str] = dataclasses.field(default_factory=dict)
    rules: Mapping[str, str] = dataclasses.field(default_factory=dict)
    classes: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    switches: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.framework} {self.version}"

    def own(self, key: str) -> str:
        """This release's name for ``key`` (a newest name, or its own)."""
        return key if key in self.keys else self.native.get(key, key)

    def has(self, key: str) -> bool:
        return self.own(key) in self.keys

    def default(self, key: str) -> Any:
        return self.keys[self.own(key)].get("default")

    def canonical(self, key: str) -> tuple[str, ...]:
        """The newest name(s) of ``key`` (a renamed key may have been split)."""
        return self.renames.get(key, (key,))

    def type_of(self, key: str) -> str | None:
        """The key's type: the table's, else that of its default (None when unknown)."""
        entry = self.keys.get(self.own(key))
        if entry is None:
            return None
        if entry.get("type"):
            return entry["type"]
        default = entry.get("default")
        for kind, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
            if isinstance(default, kind):
                return name
        return "list" if isinstance(default, list) else None

    def kind(self, key: str) -> KeyClass | None:
        """The class of ``key``: its most specific matching rule (an exact key beats a glob, a
        glob with more literal characters beats one with fewer, a rule with @SPEC wins ties)."""
        exact, globs = _rules(self.framework, self.version, self.classes)
        key = self.own(key)
        rule = exact.get(key)
        if rule is None:
            rule = next((r for r, rx in globs if rx.fullmatch(key)), None)
        if rule is None:
            return None
        neutral = self.classes.get("neutral", {})
        values = neutral.get(rule, _MISSING)
        if values is not _MISSING and not isinstance(values, list):
            values = [values]
        return KeyClass(
            kind=self.classes["classes"][rule],
            effect=self.classes.get("effects", {}).get(rule),
            rule=rule,
            neutral=None if values is _MISSING else tuple(values),
            only_with=self.classes.get("only_with", {}).get(rule),
        )

    def typed(self, key: str, value: Any, strings: bool = False) -> Any:
        """``value`` as the key's type. Parsed files keep their types, except that integers
        widen to float for float keys; with ``strings`` (command-line words) text becomes int,
        float, bool, None or a list, by the key's type (by its look where the type is unknown).
        InputError naming the key, the value and the type when the text is not of it."""
        kind = self.type_of(key)
        if value is None:
            return value
        if not strings:
            number = isinstance(value, int) and not isinstance(value, bool)
            return float(value) if number and kind == "float" else value
        if isinstance(value, list):
            default = self.default(key) if self.has(key) else None
            item = _item_type(default)
            return [_convert(key, v, item, self) for v in value]
        if kind == "list":
            return [_convert(key, value, _item_type(self.default(key)), self)]
        return _convert(key, value, kind, self)


_MISSING = object()
_RULES: dict[tuple[str, str], tuple[dict[str, str], list]] = {}


def _rules(framework: str, version: str, classes: Mapping[str, Any]):
    """(exact key -> rule, [(rule, regex)] most specific first) of one release, cached."""
    cached = _RULES.get((framework, version))
    if cached is None:
        exact: dict[str, tuple[bool, str]] = {}
        globs = []
        for rule in classes.get("classes", {}):
            pattern, _, spec = rule.partition("@")
            if spec and not _spec_holds(spec, version):
                continue
            if any(ch in pattern for ch in "*?["):
                rank = (_literal(pattern), bool(spec))
                globs.append((rank, rule, re.compile(fnmatch.translate(pattern))))
            elif pattern not in exact or spec:
                exact[pattern] = rule
        globs.sort(key=lambda item: item[0], reverse=True)
        cached = _RULES[(framework, version)] = (exact, [(r, rx) for _, r, rx in globs])
    return cached


_A = {"int": "an integer", "float": "a number", "bool": "true or false"}


def _item_type(default: Any) -> str | None:
    if isinstance(default, list) and default:
        first = default[0]
        return "float" if isinstance(first, float) else "int" if isinstance(first, int) else None
    return None


def _scalar(text: str) -> Any:
    """A command-line word of unknown type, read as a YAML 1.2 scalar would be."""
    lowered = text.strip().lower()
    if lowered in ("none", "null", "~"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INT.fullmatch(text.strip()):
        return int(text)
    if _FLOAT.fullmatch(text.strip()):
        return float(text)
    return text


def _convert(key: str, value: Any, kind: str | None, table: VersionTable) -> Any:
    if hasattr(value, "names") or not isinstance(value, str):  # unresolved words stay as they are
        return value
    if kind in (None, "str"):
        return _scalar(value) if kind is None else value
    if value.strip().lower() in ("none", "null"):
        return None
    if kind == "bool":
        lowered = value.strip().lower()
        if lowered in _TRUE or lowered in _FALSE or lowered in ("1", "0"):
            return lowered in _TRUE or lowered == "1"
    elif kind == "int" and _INT.fullmatch(value.strip()):
        return int(value)
    elif kind == "int" and _FLOAT.fullmatch(value.strip()):
        # "int" is only the type of the default: argparse keys declared type=float often
        # default to an int (OpenRLHF --algo.advantage.gamma, type=float, default=1)
        return float(value)
    elif kind == "float" and (_FLOAT.fullmatch(value.strip()) or _INT.fullmatch(value.strip())):
        return float(value)
    elif kind not in _A:
        return _scalar(value)
    raise InputError(f"{key}={value!r} is invalid: must be {_A[kind]} (its type in {table.label})")


def _renames(versions: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Old name -> newest name(s), from every release, chains followed (a -> b, b -> c)."""
    out: dict[str, tuple[str, ...]] = {}
    for entry in versions.values():
        for old, new in entry.get("renamed", {}).items():
            targets = tuple(new) if isinstance(new, list) else (new,)
            for key, value in list(out.items()):
                out[key] = tuple(t for v in value for t in (targets if v == old else (v,)))
            out[old] = targets
    return out


@functools.cache
def _data(name: str) -> dict[str, Any]:
    try:
        path = resources.files("rlxform.frameworks").joinpath("data", f"{name}.json")
        return json.loads(path.read_text())
    except (FileNotFoundError, OSError):
        raise InputError(f"framework={name!r} has no version tables (data/{name}.json)") from None


@functools.cache
def load_tables(name: str) -> dict[str, VersionTable]:
    """The version tables of trainer data ``name`` (oldest first)."""
    data = _data(name)
    versions = dict(sorted(data["versions"].items(), key=lambda kv: version_key(kv[0])))
    classes = {k: data.get(k, {}) for k in ("classes", "effects", "neutral", "only_with")}
    renames = _renames(versions)
    out = {}
    for version, entry in versions.items():
        keys = {k: {"default": v} for k, v in entry.get("defaults", {}).items()}
        native = {new: old for old, news in renames.items() if old in keys for new in news}
        out[version] = VersionTable(
            framework=data["framework"],
            version=version,
            keys=keys,
            renames=renames,
            native={k: v for k, v in native.items() if k not in keys},
            rules=dict(entry.get("rules", {})),
            classes=classes,
            switches=tuple(entry.get("switches", ())),
        )
    return out


def pick_version(tables: Mapping[str, VersionTable], version: str | None, name: str):
    """(table, note): the table of ``version`` (exact, or the nearest release of the same
    minor version the tables hold: the newest up to ``version``, else the oldest; OpenRLHF
    0.10.1 is 0.10.1.post2 and 0.10.3 is 0.10.2, not 0.10.4, whose names and loss differ), or
    the newest; InputError listing the known versions."""
    if version is None:
        return list(tables.values())[-1], None
    version = str(version).strip().removeprefix("v")
    if version in tables:
        return tables[version], None
    minor = version_key(version)[:2]
    same = [v for v in tables if version_key(v)[:2] == minor]
    if same and len(version_key(version)) >= 2:
        below = [v for v in same if version_key(v)[:3] <= version_key(version)[:3]]
        chosen = below[-1] if below else same[0]
        note = (
            f"{name} {version}: the defaults of {name} {chosen} are used (the nearest release "
            "the tables hold: the newest of that minor up to it, else its oldest)"
        )
        return tables[chosen], note
    raise InputError(
        f"--framework-version={version!r} is invalid for {name}: must be one of "
        + ", ".join(tables)
    )
