"""Version tables: each trainer version's config keys, their defaults and types, and key classes.

A trainer's tables ship as ``rlxform/frameworks/data/<name>.json`` (extracted from the released
packages; provenance per key in tests/data/frameworks). ``VersionTable`` is one version's view:
``has``/``default``/``kind`` of a key (dotted names as the trainer's users write them), renamed
keys, and the class of each key (``modelled``, ``no_effect``, ``unmodelled`` with a sentence on
what it does to the update), matched by glob patterns. ``typed`` turns command-line strings into
the key's type. A trainer whose data file is absent uses the built-in table of its module.
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
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def version_key(version: str) -> tuple:
    """Sortable form of "0.10.1.post2" / "1.16.0": numeric parts, then the rest."""
    parts = re.findall(r"\d+|[a-z]+", str(version).lower())
    return tuple((0, int(p)) if p.isdigit() else (-1, p) for p in parts)


@dataclasses.dataclass(frozen=True)
class KeyClass:
    """The class of a key: ``kind`` in CLASSES, ``effect`` (what it does to the update)."""

    kind: str
    effect: str | None = None
    pattern: str = ""


@dataclasses.dataclass(frozen=True)
class VersionTable:
    """One release of a trainer: its keys (default, type, provenance), renames and key classes.

    Attributes:
      framework, version: e.g. "trl", "1.16.0".
      keys: key -> {"default": value, "type": "int" | "float" | "bool" | "str" | "list" | ...,
        optional "item_type", "choices", "file", "line"}.
      renames: an older or alias name -> the name this version reads.
      classes: (glob pattern, KeyClass) in order; the first match classifies a key.
      builtin: True for a table built into the trainer's module (no data file shipped).
    """

    framework: str
    version: str
    keys: Mapping[str, Mapping[str, Any]]
    renames: Mapping[str, str] = dataclasses.field(default_factory=dict)
    classes: tuple[tuple[str, KeyClass], ...] = ()
    builtin: bool = False

    @property
    def label(self) -> str:
        return f"{self.framework} {self.version}"

    def has(self, key: str) -> bool:
        return key in self.keys

    def default(self, key: str) -> Any:
        return self.keys[key].get("default")

    def type_of(self, key: str) -> str | None:
        """The key's type; where the table names none, the type of its default."""
        entry = self.keys.get(key)
        if entry is None:
            return None
        if entry.get("type"):
            return entry["type"]
        default = entry.get("default")
        for kind in (bool, int, float, str, list):
            if isinstance(default, kind):
                return {bool: "bool", int: "int", float: "float", str: "str", list: "list"}[kind]
        return None

    def canonical(self, key: str) -> str:
        return self.renames.get(key, key)

    def kind(self, key: str) -> KeyClass | None:
        """The class of ``key`` (first matching pattern), or None when no pattern matches."""
        for pattern, klass in self.classes:
            if fnmatch.fnmatchcase(key, pattern):
                return klass
        return None

    def unclassified(self) -> list[str]:
        """Keys of this version that no class pattern matches."""
        return [key for key in self.keys if self.kind(key) is None]

    def typed(self, key: str, value: Any, strings: bool = False) -> Any:
        """``value`` as the key's type. Parsed files keep their types, except that integers
        widen to float for float keys; with ``strings`` (command-line words) text becomes int,
        float, bool or a list of the item type. InputError naming the key, the value and the
        type when the text is not of it."""
        kind = self.type_of(key)
        if kind is None or value is None:
            return value
        if not strings:
            number = isinstance(value, int) and not isinstance(value, bool)
            return float(value) if number and kind.split("|")[0] == "float" else value
        if kind == "list":
            items = value if isinstance(value, list) else [value]
            item = self.keys[key].get("item_type", "str")
            return [_convert(key, v, item, self) for v in items]
        if isinstance(value, (list, dict)):
            return value
        return _convert(key, value, kind, self)


def _convert(key: str, value: Any, kind: str, table: VersionTable) -> Any:
    if hasattr(value, "names"):  # an Unresolved shell word: left as it is
        return value
    for option in kind.split("|"):
        try:
            return _as(value, option)
        except (TypeError, ValueError):
            continue
    raise InputError(
        f"{key}={value!r} is invalid: must be {_A.get(kind, kind)} (its type in {table.label})"
    )


_A = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}


def _as(value: Any, kind: str) -> Any:
    if kind == "float":
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    if kind == "int":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise TypeError
        return int(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError
    if kind in ("null", "none"):
        if str(value).lower() in ("none", "null", "~"):
            return None
        raise ValueError
    if kind == "str":
        return value if isinstance(value, str) else str(value)
    return value  # list, dict, any, a class name: kept as written


def _classes(raw: Any) -> tuple[tuple[str, KeyClass], ...]:
    """Key classes from the data file: a list of {pattern, class, effect} or a mapping
    class -> patterns (a list, or pattern -> effect sentence)."""
    out: list[tuple[str, KeyClass]] = []
    if isinstance(raw, Mapping):
        for kind, patterns in raw.items():
            items = (
                patterns.items() if isinstance(patterns, Mapping) else ((p, None) for p in patterns)
            )
            for pattern, effect in items:
                if isinstance(effect, Mapping):
                    effect = effect.get("effect")
                out.append((pattern, KeyClass(kind, effect, pattern)))
    else:
        for item in raw or ():
            kind = item.get("class") or item.get("kind")
            pattern = item.get("pattern") or item.get("key")
            out.append((pattern, KeyClass(kind, item.get("effect"), pattern)))
    # exact names first, then globs in file order: a specific key overrides a section pattern
    return tuple(sorted(out, key=lambda pc: any(ch in pc[0] for ch in "*?[")))


def _tables_from(data: Mapping[str, Any], builtin: bool) -> dict[str, VersionTable]:
    name = data["framework"]
    shared = _classes(data.get("classes"))
    renames = dict(data.get("renames", {}))
    out = {}
    for version, entry in data["versions"].items():
        keys = entry.get("keys", entry.get("defaults", {}))
        keys = {k: (v if isinstance(v, Mapping) else {"default": v}) for k, v in keys.items()}
        out[version] = VersionTable(
            framework=name,
            version=version,
            keys=keys,
            renames={**renames, **entry.get("renames", {})},
            classes=_classes(entry["classes"]) + shared if "classes" in entry else shared,
            builtin=builtin,
        )
    return dict(sorted(out.items(), key=lambda kv: version_key(kv[0])))


@functools.cache
def _data_file(name: str) -> dict[str, Any] | None:
    try:
        text = resources.files("rlxform.frameworks").joinpath("data", f"{name}.json").read_text()
    except (FileNotFoundError, OSError):
        return None
    return json.loads(text)


def load_tables(name: str, builtin: Mapping[str, Any] | None = None) -> dict[str, VersionTable]:
    """The version tables of trainer ``name`` (oldest first): its data file, else ``builtin``."""
    data = _data_file(name)
    if data is not None:
        return _tables_from(data, builtin=False)
    if builtin is None:
        raise InputError(f"framework={name!r} has no version tables (data/{name}.json)")
    return _tables_from(builtin, builtin=True)


def pick_version(tables: Mapping[str, VersionTable], version: str | None, name: str):
    """(table, note): the table of ``version`` (exact, or the release of the same minor
    version the tables hold), or the newest; InputError listing the known versions."""
    if version is None:
        return list(tables.values())[-1], None
    version = str(version).strip().removeprefix("v")
    if version in tables:
        return tables[version], None
    minor = version_key(version)[:2]
    same = [v for v in tables if version_key(v)[:2] == minor]
    if same and len(version_key(version)) >= 2:
        chosen = same[-1]
        note = (
            f"{name} {version}: the defaults of {name} {chosen} are used (the tables hold each "
            f"minor release at its latest patch)"
        )
        return tables[chosen], note
    raise InputError(
        f"--framework-version={version!r} is invalid for {name}: must be one of "
        + ", ".join(tables)
    )
