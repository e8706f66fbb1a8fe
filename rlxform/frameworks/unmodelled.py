"""Which keys a card lists under Not modelled: unmodelled keys that act, and keys the release
does not have.

``not_modelled_keys(settings)``: keys the version table classes as unmodelled, set by the run (or
left at a default) at a value that is not neutral while the settings they need hold;
``foreign(record, settings, key, value)``: a key the release's config lacks (another release's,
a custom entrypoint's; ``refused`` where the trainer's own loader stops on it, see
``frameworks.refusals``); ``inside(key, settings)``: whether a key lies inside a section the table
keeps whole (so it is not foreign).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlxform.frameworks import release_names as rn
from rlxform.frameworks.common import Settings
from rlxform.frameworks.record import Framework
from rlxform.frameworks.refusals import refusal


def _acts(s: Settings, value: Any, klass) -> bool:
    """Whether an unmodelled key at ``value`` changes the update, by its class's neutral
    values and the settings it needs (``only_with``)."""
    if klass.neutral is not None and any(_same(value, n) for n in klass.neutral):
        return False
    for other, condition in (klass.only_with or {}).items():
        if s.table.has(other):
            current = _written(s, s.table.own(other), s.table.canonical(other)[0])[1]
        else:
            current = s.values.get(s.table.canonical(other)[0])
        if isinstance(condition, Mapping):
            if any(_same(current, v) for v in condition.get("not", ())):
                return False
        elif not any(_same(current, v) for v in condition):
            return False
    return True


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _written(s: Settings, own: str, key: str) -> tuple[bool, Any]:
    """(whether the file sets ``own``, its value or the release's default). ``key`` is the
    newest name of this release's key ``own``: another old key renamed onto it (openrlhf
    0.11.1's is_correction_enable and is_correction_type both became is_correction_level)
    does not count, nor does its value."""
    if key in s.values and s.origin.get(key, key) in (own, key):
        return True, s.values[key]  # as the reader left it (interpolations resolved)
    if own in s.written:
        return True, s.written[own]
    return False, s.table.default(own)


def not_modelled_keys(s: Settings) -> list[dict[str, Any]]:
    """Unmodelled keys that act: set by the run at a value that is not neutral, or left at a
    default that is not neutral (``default``: True), while the settings they need hold."""
    out = []
    newest = {own: names[0] for own, names in s.table.renames.items() if own in s.table.keys}
    shared = [k for k in newest.values() if list(newest.values()).count(k) > 1]
    for own in s.table.keys:
        key = newest.get(own, own)
        if key != own and key in s.table.keys:
            continue  # a legacy alias of a key this release also has
        klass = s.table.kind(own)
        if klass is None or klass.kind != "unmodelled":
            continue
        given, value = _written(s, own, key)
        if not given and klass.neutral is None:
            continue  # a default that may act: said by the key it depends on, if any
        if _acts(s, value, klass):
            shown = own if key in shared else key  # two keys of the release, one newest name
            item = {"key": shown, "value": value, "effect": klass.effect or "changes the update"}
            out.append(item if given else {**item, "default": True})
    return out


def inside(key: str, s: Settings) -> bool:
    """Whether ``key`` lies inside a key the table keeps whole (a section whose default is
    null or a mapping, e.g. AReaL's ``actor.optimizer``) or a section itself, or Hydra's own
    ``hydra.*``."""
    parts, section = str(key).split("."), str(key) + "."
    if parts[0] == "hydra" or any(k.startswith(section) for k in s.table.keys):
        return True  # also a section written null (NeMo-RL's ``policy.optimizer: null``)
    return any(s.table.has(".".join(parts[:i])) for i in range(1, len(parts)))


def foreign(record: Framework, s: Settings, key: str, value: Any) -> dict[str, Any]:
    """A key the release's config does not have and no close name explains: another
    release's, a custom entrypoint's or config class's (e.g. a recipe's own trainer)."""
    refused = refusal(record, s, key)
    effect = rn.foreign_effect(record.tables(), s.table, key, refused)
    item = {"key": key, "value": value, "effect": effect, "unknown": True}
    return {**item, "refused": True} if refused else item
