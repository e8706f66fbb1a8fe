"""What an input holds: every run in a config file, launch script, command line, Python file or
notebook, as ``Found`` records (keys as written, or a launch command's words).

Untrusted text goes through ``rlxform.parsing`` (bounded loaders); shell text through
``launch``/``shell``; Python through ``pyfile``/``notebook`` (``ast``, never run). A file that
holds no run gives one line naming what was looked for and what was found.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlxform import parsing
from rlxform.frameworks.common import flatten
from rlxform.validation import InputError

_CONFIG_SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml"}
LOOKED_FOR = (
    "a launch command (python -m MODULE, python SCRIPT.py, accelerate launch, deepspeed, "
    "torchrun, trl grpo or ray job submit -- ...)"
)


@dataclasses.dataclass
class Found:
    """One run found in the input: its keys (or a launch command's words) and where it is."""

    values: dict[str, Any]
    source: str
    strings: bool = False  # values are command-line words, typed by the version's schema
    program: str | None = None
    framework: str | None = None
    unresolved: tuple[str, ...] = ()
    line: int | None = None
    cell: int | None = None
    args: tuple[str, ...] | None = None  # a launch command's arguments, read per trainer
    extra: Any = None  # reward functions of a Python trainer call
    imports: tuple[str, ...] = ()
    launcher: str | None = None  # what started a launch command's program ("accelerate launch")
    launcher_args: tuple[str, ...] = ()  # its own flags (``trl_procs`` reads the process count)


# ---- what the input holds --------------------------------------------------------------------


def nearby_files(path: Any, found: Found) -> list[Path]:
    """The files a launch command's file argument (``--config FILE``, ``@ FILE``) may name, in
    the order tried: here, then the launch file's folder and up to three of its parents."""
    bases = [Path.cwd()]
    if found.source not in ("the command line", "mapping"):
        base = Path(found.source).resolve().parent
        bases += [base, *base.parents][:4]
    if hasattr(path, "names"):  # an unexpanded shell word, not a file name
        return []
    return [b / str(path) for b in bases if (b / str(path)).is_file()]


def _mapping_of(config: Any) -> tuple[dict[str, Any], str] | None:
    if isinstance(config, Mapping):
        return dict(config), "mapping"
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        fields = dataclasses.fields(config)
        return {f.name: getattr(config, f.name) for f in fields}, type(config).__name__
    if hasattr(config, "to_dict") and callable(config.to_dict):
        return dict(config.to_dict()), type(config).__name__
    return None


def find_runs(config: Any) -> list[Found]:
    """Every run the input holds (several launch commands or config calls possible)."""
    mapping = _mapping_of(config)
    if mapping is not None:
        return [Found(flatten(mapping[0]), mapping[1])]
    if isinstance(config, (list, tuple)) and all(isinstance(w, str) for w in config):
        from rlxform.frameworks.launch import read_command_line

        return [_from_command(read_command_line(config), "the command line")]
    if not isinstance(config, (str, os.PathLike)):
        raise InputError(
            f"config={config!r} is invalid: must be a path (config file, launch script, Python "
            "file or notebook), a command line, a mapping or a GRPOConfig-like object"
        )
    if not os.fspath(config).strip():  # Path("") would read the current directory
        raise InputError(f"config={os.fspath(config)!r} is invalid: must be a file path")
    path = Path(config)
    source = str(config)
    suffix = path.suffix.lower()
    if suffix in _CONFIG_SUFFIXES:
        text = parsing.read_text(path, what="config")
        loader = getattr(parsing, "load_" + _CONFIG_SUFFIXES[suffix])
        data = loader(text, source)
        if not isinstance(data, Mapping):
            raise InputError(
                f"config={source!r} is invalid: must hold a mapping of config keys, "
                f"got {type(data).__name__}"
            )
        return [Found(flatten(data), source)]
    if suffix == ".py":
        from rlxform.frameworks.pyfile import read_python

        text = parsing.read_text(path, what="python")
        runs = [_from_python(c) for c in read_python(text, source)]
        if not runs:
            raise InputError(
                f"{source}: no GRPOConfig(...) call found: looked for the GRPOConfig keyword "
                "arguments of a TRL or Unsloth script"
            )
        return runs
    if suffix == ".ipynb":
        from rlxform.frameworks.notebook import read_notebook

        notebook = read_notebook(parsing.read_text(path, what="notebook"), source)
        runs = [_from_python(c) for c in notebook.configs]
        runs += [_from_command(c, source) for c in notebook.commands]
        if not runs:
            raise InputError(
                f"{source}: no GRPOConfig(...) call and no launch command found in "
                f"{notebook.cells} code cells: looked for a GRPOConfig call or {LOOKED_FOR}"
            )
        return runs
    return _from_script(parsing.read_text(path, what="launch script"), source)


def _from_script(text: str, source: str) -> list[Found]:
    from rlxform.frameworks.launch import launch_commands
    from rlxform.frameworks.shell import simple_commands

    if len(text) > parsing.MAX_SCRIPT_BYTES:
        raise parsing.fail(source, f"a launch script of {len(text):,} characters")
    commands = simple_commands(text, source)
    found = launch_commands(commands, source)
    if not found:
        seen = ", ".join(dict.fromkeys(str(c.words[0]) for c in commands if c.words))
        inner = [
            str(c.words[1])
            for c in commands
            if len(c.words) > 1
            and str(c.words[0]) in ("bash", "sh", "source", ".")
            and str(c.words[1]).endswith(".sh")
        ]
        hint = (
            f"; it runs another script, {inner[0]}, with arguments: explain that script, "
            "whose launch command these arguments extend (they are not read here)"
            if inner
            else ""
        )
        raise InputError(
            f"{source}: no launch command found: looked for {LOOKED_FOR}; found "
            + (f"{len(commands)} other commands ({seen[:120]})" if commands else "no commands")
            + hint
        )
    return [_from_command(c, source) for c in found]


def _from_command(command: Any, source: str) -> Found:
    return Found(
        {},
        source,
        strings=True,
        program=command.program,
        unresolved=tuple(command.unresolved),
        line=command.line,
        cell=getattr(command, "cell", None),
        args=tuple(command.args),
        launcher=getattr(command, "launcher", None),
        launcher_args=tuple(getattr(command, "launcher_args", ())),
    )


_ASYNC_GRPO = (
    "is TRL's experimental asynchronous GRPO (trl.experimental.async_grpo), which rlxform does "
    "not model: its own config (no loss_type, scale_rewards or beta), advantages "
    "(r - mean) / (population std + 1e-8) (async_rollout_worker.py), and rollouts up to "
    "max_staleness (default 4) weight updates old"
)


def _from_python(config: Any) -> Found:
    imports = tuple(config.imports)
    if config.call.split(".")[-1].startswith("Async") or "Async" in str(config.trainer or ""):
        raise InputError(f"{config.source}:{config.line}: {config.call} {_ASYNC_GRPO}")
    framework = "unsloth" if "unsloth" in imports or "Unsloth" in config.call else None
    if config.call.split(".")[-1].endswith("RLOOConfig") or config.trainer == "RLOOTrainer":
        framework = "trl_rloo"  # TRL's RLOOTrainer (not GRPOTrainer): its own record
    return Found(
        dict(config.settings),
        config.source,
        program=config.call,
        framework=framework,
        unresolved=tuple(config.unresolved),
        line=config.line,
        cell=config.cell,
        extra=config.reward_funcs,
        imports=imports,
    )
