"""Key names of other releases: a file written with the names of one release of a trainer
and read with the table of another (``--framework-version``, or a file mixing the names of
two releases, e.g. OpenRLHF's flat ``--advantage_estimator`` of <= 0.10.1 beside the dotted
``--rollout.n_samples_per_prompt`` of >= 0.10.2). The reader maps such names onto the
release's own through the version tables' renames; the card says that it did, and which
releases use each name, since the release's own parser would not take them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rlxform.frameworks.tables import VersionTable


def releases_with(tables: Mapping[str, VersionTable], key: str) -> str:
    """The releases whose config has ``key`` under that name: "trl 0.14.0 to 0.17.0" (a run
    of consecutive listed releases), several runs joined with commas; "" when none has it."""
    names = list(tables)
    runs: list[list[str]] = []
    for i, version in enumerate(names):
        if key not in tables[version].keys:
            continue
        if runs and names.index(runs[-1][-1]) == i - 1:
            runs[-1].append(version)
        else:
            runs.append([version])
    if not runs:
        return ""
    framework = tables[names[0]].framework
    parts = [r[0] if len(r) == 1 else f"{r[0]} to {r[-1]}" for r in runs]
    return f"{framework} {', '.join(parts)}"


def other_release_names(
    tables: Mapping[str, VersionTable], table: VersionTable, keys: Iterable[str]
) -> str | None:
    """A pitfall naming the file's keys that ``table``'s release calls otherwise (renamed
    before or after it): each with the releases that use the name and the name read; None
    when every key is the release's own or unknown to every release."""
    found = []
    for key in dict.fromkeys(str(k) for k in keys):
        if key in table.keys:
            continue
        own = [table.own(name) for name in table.canonical(key) if table.has(name)]
        if not own or own == [key]:
            continue
        where = releases_with(tables, key)
        if where:
            found.append(f"{key} ({where}; read as {', '.join(own)})")
    if not found:
        return None
    return (
        f"key names of another release, which {table.label} does not have (its own parser "
        f"would not take them): {'; '.join(found)}"
    )


def elsewhere(
    tables: Mapping[str, VersionTable], table: VersionTable, values: Mapping[str, Any]
) -> dict[str, Any]:
    """The file's keys that ``table``'s release has under no name while another listed release
    has them (TRL 0.15's GRPOConfig has no num_iterations, 0.16's no loss_type): the release's
    defaults stand, and the card names the keys instead of reading them."""
    out = {}
    for key, value in values.items():
        names = (str(key), *table.canonical(str(key)))
        if any(table.has(n) for n in names) or _within(table, str(key)):
            continue
        if any(releases_with(tables, n) for n in names):
            out[str(key)] = value
    return out


def _within(table: VersionTable, key: str) -> bool:
    """Whether ``key`` is a section of the table, or lies inside a key it keeps whole."""
    parts, section = key.split("."), key + "."
    if any(k.startswith(section) for k in table.keys):
        return True
    return any(table.has(".".join(parts[:i])) for i in range(1, len(parts)))


def foreign_effect(
    tables: Mapping[str, VersionTable], table: VersionTable, key: str, refused: str | None = None
) -> str:
    """What the card says of a key ``table``'s release lacks and no rename explains;
    ``refused``: what the trainer's loader does with it, where it refuses it
    (``frameworks.refusals``)."""
    where = releases_with(tables, key)
    if refused:
        whose = f"a key of {where}" if where else "a name no listed release has"
        return f"{whose}, not of {table.label}'s config: {refused}"
    if where:
        return (
            f"a key of {where}, not of {table.label}'s config: {table.label} would not take "
            "it, and the card keeps the release's own behaviour"
        )
    return (
        f"not a key of {table.label}'s config (a custom entrypoint's or config class's, or "
        "another release's): rlxform does not know what it does"
    )


def assumed_release(record: Any, table: VersionTable, keys: Iterable[str], run: Any) -> str | None:
    """A pitfall for a run read without --framework-version whose key names fit older releases
    too: the newest fitting release's defaults are used; the modelled defaults the run took
    (``run.defaults_used``) that an older fitting release sets otherwise, with those releases
    and values."""
    tables, used = record.tables(), run.defaults_used
    keys = [str(k) for k in keys]
    fits = [
        v
        for v, t in tables.items()
        if all(any(t.has(n) for n in (k, *t.canonical(k))) for k in keys if table.has(k))
    ]
    if len(fits) < 2:
        return None
    differ = differing_defaults(tables, table, used, fits)
    if not differ:
        return None
    return (
        f"no --framework-version: the defaults of {table.label} are used (the newest release "
        f"that reads the file's keys, which {table.framework} {fits[0]} to {fits[-1]} all read); "
        f"older releases set otherwise: {', '.join(differ)}"
    )


def differing_defaults(
    tables: Mapping[str, VersionTable], table: VersionTable, used: Iterable[str], fits: list[str]
) -> list[str]:
    """The modelled defaults in ``used`` (taken from ``table``) that releases ``fits`` (oldest
    first) set otherwise: "key ('a' in 0.4.1 to 0.6.1; ...)"."""
    differ: list[str] = []
    for key in used:
        klass = table.kind(key)
        if klass is None or klass.kind != "modelled" or not table.has(key):
            continue
        runs: list[tuple[Any, list[str]]] = []
        for version in fits:
            other = tables[version]
            if not other.has(key) or other.default(key) == table.default(key):
                continue  # a key a release lacks: its loss note and pitfalls say what it does
            value = other.default(key)
            if (
                runs
                and runs[-1][0] == value
                and fits.index(runs[-1][1][-1]) == fits.index(version) - 1
            ):
                runs[-1][1].append(version)
            else:
                runs.append((value, [version]))
        parts = [
            f"{value!r} in " + (vs[0] if len(vs) == 1 else f"{vs[0]} to {vs[-1]}")
            for value, vs in runs
        ]
        if parts:
            differ.append(f"{table.own(key)} ({'; '.join(parts)})")
    return differ
