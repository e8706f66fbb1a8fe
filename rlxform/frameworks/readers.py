"""``read_config``: a run as users launch it -> ``RunConfig``, through the trainer's record.

Accepted: config files (YAML, JSON, TOML, through ``rlxform.parsing``), shell launchers and
``-- CMD`` command lines (``launch``: verl Hydra overrides, OpenRLHF and TRL flags), Python
files and notebooks (``pyfile``, ``notebook``: ``GRPOConfig(...)`` read with ``ast``), mappings
and ``GRPOConfig``-like objects. Nothing is imported or executed. The trainer comes from the
entry point, the imports or the key names (``framework=`` overrides); values are typed by the
schema of the version used (``version=``, else the newest release that knows the keys); the
reader of the trainer's record turns them into facts, and what the file sets that the card does
not model, the rewards, the defaults taken and what stayed unresolved are added here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from rlxform import parsing
from rlxform.frameworks import release_names as rn
from rlxform.frameworks.common import RunConfig, Settings, flatten, misspelled
from rlxform.frameworks.inputs import Found, find_runs, nearby_files
from rlxform.frameworks.record import Framework
from rlxform.frameworks.registry import FRAMEWORKS
from rlxform.frameworks.tables import VersionTable
from rlxform.frameworks.unmodelled import foreign, inside, not_modelled_keys
from rlxform.validation import InputError, check_choice, check_int

# ---- which trainer -------------------------------------------------------------------------


def _generic_keys(found: Found) -> list[str]:
    """Key names of a launch command's arguments, before the trainer is known."""
    from rlxform.frameworks.overrides import POSITIONAL, argparse_flags

    flags = argparse_flags(found.args or ())
    keys = [k for k in flags if k != POSITIONAL]
    for word in flags.get(POSITIONAL, ()):
        key = str(word).partition("=")[0].lstrip("+~")
        if "=" in str(word):
            keys.append(key)
    return keys


def detect(found: Found) -> Framework | None:
    """The trainer of a run: its entry point, its imports, else its key names."""
    if found.framework in FRAMEWORKS:
        return FRAMEWORKS[found.framework]
    if found.program is not None:
        for record in FRAMEWORKS.values():
            if record.runs(found.program):
                return record
    keys = list(found.values) if found.args is None else _generic_keys(found)
    keys += [k.split(".")[0] + ".*" for k in keys]  # a section named, even if empty
    marked = [r for r in FRAMEWORKS.values() if r.markers and r.marked_by(keys)]
    if len(marked) > 1:  # several trainers' markers: the one whose newest release knows most
        # keys (RLOOConfig beside GRPOConfig), then whose markers match the most keys (ROLL's
        # rollout_batch_size is also an old OpenRLHF name)
        known = [_known(r, keys) for r in marked]
        marked = [r for r, n in zip(marked, known, strict=True) if n == max(known)]
    if len(marked) > 1:
        counts = [sum(r.marked_by([k]) for k in keys) for r in marked]
        marked = [r for r, n in zip(marked, counts, strict=True) if n == max(counts)]
    return marked[0] if len(marked) == 1 else None


def _known(record: Framework, keys: list[str]) -> int:
    """How many of ``keys`` the trainer's newest release knows (bare or under one section)."""
    table = record.table()[0]
    prefixes = ("", *record.sections)
    return sum(any(table.has(p + k) for p in prefixes) for k in keys)


def _describe(found: Found) -> str:
    where = f"line {found.line}" if found.line else found.source
    if found.cell:
        where = f"cell {found.cell}, {where}"
    return f"{found.program} ({where})" if found.program else where


def choose(runs: list[Found], framework: str | None, command: int | None):
    """(run, record, index): ``command`` (1-based) or the first run of a known trainer."""
    if command is not None:
        index = check_int("--command", command, 1, len(runs))
        picked = [(index, runs[index - 1])]
    else:
        picked = list(enumerate(runs, 1))
    tools = []  # commands running a trainer's entry point that runs no RL update
    for index, found in picked:
        tool = next(filter(None, (r.tool(found.program) for r in FRAMEWORKS.values())), None)
        if tool:
            tools.append(f"{_describe(found)} is {tool}")
            continue
        if framework is not None:
            return found, FRAMEWORKS[framework], index
        record = detect(found)
        if record is not None:
            return found, record, index
    if tools and command is not None:
        raise InputError(f"--command={command} is invalid: {tools[0]}, not an RL training run")
    if tools and len(tools) == len(picked):
        found_tools = f"found {len(picked)} launch command(s), none is an RL training run"
        raise InputError(f"{found_tools}: {'; '.join(tools)}")
    shown = "; ".join(_describe(f) for _, f in picked[:4])
    known = ", ".join(
        f"{r.title} ({', '.join(r.programs or r.imports)})" for r in FRAMEWORKS.values()
    )
    if all(f.args is None for _, f in picked):
        raise InputError(
            "framework=None is invalid for this config: its keys match no single trainer "
            f"(found {shown}); pass framework= (--framework) as one of {', '.join(FRAMEWORKS)}"
        )
    raise InputError(
        f"found {len(picked)} launch command(s), none of a trainer rlxform reads: {shown}; "
        f"looked for {known}, or flags of their configs (--framework names one)"
    )


# ---- values, typed by the version's schema -------------------------------------------------


def _argument_values(found: Found, record: Framework, table: VersionTable) -> dict[str, Any]:
    """A launch command's settings, read the trainer's way (Hydra overrides or flags)."""
    from rlxform.frameworks.overrides import POSITIONAL, argparse_flags, hydra_overrides

    if record.read_arguments is not None:  # the trainer's own command line (prime-rl's @ FILE)
        return record.read_arguments(found, table)
    if record.arguments == "hydra":
        args, config = _config_flag(list(found.args or ()), record.config_flag)
        if config is not None and args and str(args[0]).endswith(".py"):
            args = args[1:]  # AReaL's launcher: SCRIPT.py --config FILE (cli_args.py:2893)
        values, _ = hydra_overrides(args)
        found.strings = False
        base = {} if config is None else _side_config(config, found)
        return {**base, **flatten(values)}
    lists = [k for k in table.keys if table.type_of(k) == "list"]
    bools = table.switches  # --colocate ${MODEL_ARGS[@]}: the array is not its value
    values = argparse_flags(found.args or (), multi_value=lists, store_true=bools)
    values.pop(POSITIONAL, None)
    config = values.pop("config", None)
    if config is not None:
        values = {**_side_config(config, found), **values}
    return values


def _config_flag(args: list, flag: str | None) -> tuple[list, Any]:
    """(the other arguments, the value of ``--flag FILE`` / ``--flag=FILE``, or None)."""
    if flag is None:
        return args, None
    for i, word in enumerate(args):
        if str(word) == f"--{flag}" and i + 1 < len(args):
            return args[:i] + args[i + 2 :], args[i + 1]
        if str(word).startswith(f"--{flag}="):
            return args[:i] + args[i + 1 :], str(word).partition("=")[2]
    return args, None


def _side_config(path: Any, found: Found) -> dict[str, Any]:
    """TRL's ``--config recipe.yaml``: read when found next to the script or here."""
    for candidate in nearby_files(path, found):
        data = parsing.load_yaml(parsing.read_text(candidate), str(path))
        if isinstance(data, Mapping):
            return {k: v for k, v in flatten(data).items()}
    found.unresolved += (f"--config {path} (file not found)",)
    return {}


def pick_table(record: Framework, values: Mapping[str, Any], version: str | None):
    """(table, note): ``version``'s, else the newest that knows the most keys of the run."""
    table, note = record.table(version)
    if version is not None:
        return table, note
    tables = list(record.tables().values())

    def unknown(t: VersionTable) -> int:  # keys the release does not have under that name
        return sum(1 for k in values if k not in t.keys and not (record.loose and _inert(table, k)))

    best = min(reversed(tables), key=unknown)  # ties: the newest
    if unknown(best) < unknown(table):
        after = tables[tables.index(best) + 1]
        missing = [k for k in values if k in best.keys and k not in after.keys][:3]
        note = (
            f"{', '.join(missing)}: keys of {best.label} that {after.label} no longer has, so "
            f"the defaults of {best.label} are used (the newest release that reads the file's "
            "keys; --framework-version picks another)"
        )
        return best, note
    return table, None


def _inert(table: VersionTable, key: str) -> bool:
    """A key of no effect on the update (engine, logging, parallelism). Where the trainer's
    config loader keeps keys its code does not read (``Framework.loose``), such a key does not
    pick the release: NeMo-RL v0.7.0's own recipes set policy.megatron_cfg.converter_type,
    which 0.7.0's code no longer reads."""
    klass = table.kind(key)
    return klass is not None and klass.kind == "no_effect"


def read_config(
    config: Any,
    framework: str | None = None,
    version: str | None = None,
    command: int | None = None,
) -> RunConfig:
    """The objective-relevant facts of a run (see the module docstring for what ``config`` is).

    Args:
      framework: a ``FRAMEWORKS`` name; None detects it.
      version: the trainer release whose defaults and key names apply (None: the newest that
        knows the file's keys).
      command: which launch command or config call to read (1-based), when there are several.
    """
    if framework is not None:
        check_choice("framework", framework, FRAMEWORKS)
    runs = find_runs(config)
    found, record, index = choose(runs, framework, command)
    pin = record.pin(record, found) if record.pin and version is None else None
    pinned, pin_note, caveat = pin or (None, None, "")  # a release the launch pins (verl recipes)
    if found.args is not None:
        table, _ = record.table(version or pinned)
        found.values = _argument_values(found, record, table)
    table, note = pick_table(record, found.values, version or pinned)
    note = pin_note if pinned else note
    others = rn.elsewhere(record.tables(), table, found.values)  # keys of other releases only
    kept = {k: v for k, v in found.values.items() if str(k) not in others}
    settings, unresolved = _settings(dataclasses.replace(found, values=kept), table)
    settings.elsewhere = others
    settings.program, settings.found = found.program, found
    run = dataclasses.replace(
        record.read(settings), framework=record.name, version=settings.table.label
    )
    run = _complete(run, record, settings, found, note, unresolved, index, len(runs))
    extra = None if version or note else rn.assumed_release(record, table, kept, run)
    if pin_note and not pinned:  # a recipe whose release is not determined
        extra = _unpinned(record, table, run, pin_note, caveat)
    return dataclasses.replace(run, pitfalls=(*run.pitfalls, extra)) if extra else run


def _unpinned(record: Framework, table: VersionTable, run: RunConfig, note: str, caveat: str):
    """A launch whose pinned release is not determined (``Framework.pin``): the defaults of
    ``table`` were used; those the run took that an older release sets otherwise or lacks, and
    the record's ``caveat`` (how an older release's token-mean normaliser differs)."""
    tables = record.tables()
    older = list(tables)[: list(tables).index(table.version)]
    used = [k for k in run.defaults_used if getattr(table.kind(k), "kind", None) == "modelled"]
    differ = rn.differing_defaults(tables, table, used, older)
    lack = [
        f"{k} ({rn.releases_with(tables, k)} only)"
        for k in used
        if any(not tables[v].has(k) for v in older)
    ]
    text = f"{note}: the defaults of {table.label} are used"
    text += f"; older releases set otherwise: {', '.join(differ)}" if differ else ""
    text += f"; defaults older releases do not have: {', '.join(lack)}" if lack else ""
    caveat = caveat if run.normaliser.factor == "token-mean" else ""  # it speaks of token-mean
    return f"{text}{caveat}; --framework-version picks the release"


def _settings(found: Found, table: VersionTable) -> tuple[Settings, list[str]]:
    """Settings typed by ``table``; keys whose values the file does not determine are left
    out (they keep the defaults) and named in the returned list, with what is missing."""
    values, unresolved, covered, undetermined, origin, written = {}, [], set(), {}, {}, {}
    for key, value in found.values.items():
        targets = table.canonical(str(key))
        name = targets[0]
        names = getattr(value, "names", None)
        if names is None and isinstance(value, list):
            names = [n for v in value for n in getattr(v, "names", ())] or None
        if names:
            covered.update(names)
            unresolved.append(f"{name}={value} ({', '.join(names)} not set in the file)")
            undetermined.update(dict.fromkeys(targets, value))
            continue
        for name in targets:
            values[name] = table.typed(name, value, strings=found.strings)
            origin[name] = str(key)
        written[str(key)] = values[targets[0]]
    rest = [
        f"{name} (not set in the file)" if "(" not in name else name
        for name in found.unresolved
        if name not in covered
    ]
    settings = Settings(values, table)
    settings.undetermined, settings.origin, settings.written = undetermined, origin, written
    return settings, list(dict.fromkeys(unresolved + rest))


def _complete(run, record, s: Settings, found: Found, note, unresolved, index, count):
    """Add to the reader's facts what the card needs beyond them."""
    read_before, s.read = s.read, set()
    binary, why = record.rewards(s, found.extra)
    run = dataclasses.replace(run, rewards={"binary": binary, "why": why})
    normaliser = record.normaliser(s, run)
    # the rewards and length sections account for the keys they read
    reward_keys, s.read = s.read, s.read | read_before
    cutoff = 0.85 if record.arguments == "argparse" and "." not in "".join(s.values) else 0.8
    warnings, outside = list(run.warnings), []
    for key in s.values:
        if not s.table.has(key) and key not in s.read and key not in record.script_keys:
            warning = misspelled(key, s.table.keys, cutoff)
            warnings += [warning] if warning else []
            outside += [] if warning or record.foreign_flags or inside(key, s) else [key]
    extras = {item["key"]: item for item in (record.active(s) if record.active else ())}
    not_modelled = [
        extras.pop(item["key"], item)
        for item in not_modelled_keys(s)
        if item["key"] not in reward_keys
    ]
    not_modelled += list(extras.values()) + [foreign(record, s, k, s.values[k]) for k in outside]
    not_modelled += [foreign(record, s, k, v) for k, v in s.elsewhere.items()]
    pitfalls = list(run.pitfalls) + ([note] if note else [])
    pitfalls += filter(None, [rn.other_release_names(record.tables(), s.table, found.values)])
    pitfalls += _composed_config(record, found, s)
    if found.program and found.program.startswith("recipe."):
        pitfalls.append(
            f"{found.program} composes its recipe's own config: keys it does not set take "
            f"{s.table.label}'s defaults here, which the recipe may change"
        )
    shown = {
        "index": index,
        "count": count,
        "line": found.line,
        "program": found.program,
        **({"cell": found.cell} if found.cell else {}),
    }
    return dataclasses.replace(
        run,
        source=found.source,
        normaliser=normaliser,
        not_modelled=tuple(not_modelled),
        defaults_used=tuple(
            dict.fromkeys(
                s.table.own(k) for k in s.defaults_used if k not in s.values and s.table.has(k)
            )
        ),
        unresolved=tuple(unresolved),
        command=shown if found.program else None,
        pitfalls=tuple(pitfalls),
        warnings=tuple(warnings),
    )


def _composed_config(record: Framework, found: Found, s: Settings) -> list[str]:
    """A pitfall for Hydra's ``--config-name`` / ``--config-path``: the command composes a
    config rlxform does not read, whose keys the card cannot see."""
    from rlxform.frameworks.overrides import hydra_flags

    if record.arguments != "hydra" or not found.args:
        return []
    flags = hydra_flags(found.args)
    named = {k: flags[k] for k in ("config-name", "config-path", "cn", "cp") if flags.get(k)}
    if not named or (record.name == "verl" and named.get("config-name") == "ppo_trainer"):
        return []  # verl's own trainer config (verl/trainer/config/ppo_trainer.yaml)
    given = " ".join(f"--{k}={v}" for k, v in named.items())
    return [
        f"{given}: Hydra composes that config, which rlxform does not read: the keys it sets "
        f"and the command does not override take {s.table.label}'s defaults here"
    ]
