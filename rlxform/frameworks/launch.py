"""Launch commands in shell scripts and command lines: which program runs, with which arguments.

A launch command runs a Python module or script: ``python[3] [-u] -m MODULE`` or ``SCRIPT.py``,
through ``accelerate launch``, ``deepspeed``, ``torchrun``, ``python -m torch.distributed.run``,
``ray job submit ... --``, ``trl <command>``, and wrappers (``nohup``, ``env``, ``srun``,
``mpirun``, ``uv run``, ``CUDA_VISIBLE_DEVICES=0`` prefixes, ...). ``pip install``, ``export``,
``trl vllm-serve`` and the like are not. Scripts are walked by ``frameworks.shell`` (variables
resolved from the file, the rest named in ``unresolved``); nothing is executed. The program's
own arguments are read by ``hydra_overrides`` (verl) or ``argparse_flags`` (OpenRLHF, TRL).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence

from rlxform.frameworks.overrides import argparse_flags, hydra_flags, hydra_overrides
from rlxform.frameworks.shell import SimpleCommand, simple_commands
from rlxform.frameworks.shell_words import Unresolved
from rlxform.parsing import MAX_SCRIPT_BYTES, fail
from rlxform.validation import InputError

__all__ = [
    "LaunchCommand",
    "Unresolved",
    "argparse_flags",
    "hydra_flags",
    "hydra_overrides",
    "read_command_line",
    "read_launch_text",
]

_PYTHON = re.compile(r"(?:python|pypy)(?:\d+(?:\.\d+)?)?")
_ENV_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
# Flags that take no value, per launcher (dashes read as underscores).
_BARE = {
    "accelerate launch": {
        "cpu", "debug", "downcast_bf16", "dynamo_use_dynamic", "dynamo_use_fullgraph",
        "dynamo_use_regional_compilation", "enable_cpu_affinity", "fp8_use_autocast_during_eval",
        "module", "m", "multi_gpu", "no_python", "quiet", "q", "same_network", "tpu",
        "tpu_cluster", "no_tpu_cluster", "tpu_use_sudo", "use_deepspeed", "use_fsdp",
        "use_megatron_lm", "use_parallelism_config", "help", "h",
    },  # accelerate/commands/launch.py (action="store_true")
    "deepspeed": {
        "module", "no_python", "no_local_rank", "no_ssh", "no_ssh_check", "force_multi",
        "save_pid", "elastic_training", "bind_cores_to_rank",
    },  # deepspeed/launcher/runner.py
    "torchrun": {"standalone", "module", "m", "no_python", "run_path", "use_env", "help", "h"},
    "ray job submit": {"no_wait", "verbose", "v", "help"},
    "python": set(),
}  # fmt: skip
_MODULE_FLAG = {"module", "m"}
_WRAPPERS = {"nohup", "exec", "time", "command", "builtin", "stdbuf", "sudo", "xvfb-run"}
_SCANNING = {  # wrappers with flags of their own: skip to the first Python or launcher word
    "srun", "salloc", "mpirun", "mpiexec", "numactl", "taskset", "uv", "conda", "mamba",
    "micromamba", "poetry", "pipenv", "pdm", "hatch", "rye", "singularity", "apptainer",
    "timeout", "nice", "env", "ionice", "chrt", "accelerate-launch",
}  # fmt: skip
_TOOL_MODULES = {
    "pip", "venv", "ensurepip", "virtualenv", "http.server", "json.tool", "pytest", "unittest",
    "site", "build", "twine", "uv", "wheel", "setuptools", "pipx", "timeit", "compileall",
}  # fmt: skip
_SUBMITTERS = {"mason.py"}  # job submitters (Open-Instruct's Beaker): flags, "--", the job
_TRL_NOT_TRAINING = {"env", "vllm-serve", "vllm_serve", "chat", "skills", "help"}


@dataclasses.dataclass(frozen=True)
class LaunchCommand:
    """One launch command found in a file or given on the command line.

    Attributes:
      index: 1-based position among the launch commands of the file. line: where it starts.
      argv: the whole command after expansion, prefixes kept (for display).
      program: the module ("verl.trainer.main_ppo"), the script as written ("train_grpo.py")
        or the CLI command ("trl grpo").
      args: the program's own arguments. Words holding unresolved expansions are
        ``Unresolved`` strings (``.names``; ``.whole`` when a word may stand for several).
      unresolved: names of the variables and expressions in ``program`` and ``args`` that the
        file does not determine ("$MODEL_PATH", "$(date +%s)", "$@"), in order.
      launcher: what started the program: "python", "accelerate launch", "deepspeed",
        "torchrun", "trl" or "script" (a .py file run directly). launcher_args: its own flags.
      wrappers: outer commands ("ray job submit", "nohup", "srun"). env: ``NAME=value`` prefixes.
      conditional: inside an if/case/loop/function or after ``&&``/``||``: it may not run.
      source: the file; cell: the notebook cell holding it (1-based), if any.
    """

    index: int
    line: int
    argv: tuple[str, ...]
    program: str
    args: tuple[str, ...]
    unresolved: tuple[str, ...]
    launcher: str = "python"
    launcher_args: tuple[str, ...] = ()
    wrappers: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    conditional: bool = False
    source: str = "<text>"
    cell: int | None = None


def _flag_name(word: str) -> str:
    return word.lstrip("-").split("=", 1)[0].replace("-", "_")


def _launcher_flags(words: Sequence[str], start: int, launcher: str) -> tuple[int, bool]:
    """Index of the first positional word after ``launcher``'s flags, and whether -m was given."""
    bare, i, module = _BARE[launcher], start, False
    while i < len(words) and words[i].startswith("-") and words[i] != "--":
        name = _flag_name(words[i])
        module = module or name in _MODULE_FLAG
        takes_value = "=" not in words[i] and name not in bare
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if takes_value and launcher != "ray job submit" and nxt.endswith(".py"):
            takes_value = name not in ("config_file", "deepspeed_config_file", "hostfile")
        i += 2 if takes_value else 1
    return min(i, len(words)), module


def _python_target(words: Sequence[str], i: int) -> tuple[bool, str, int, tuple] | None:
    """(is a module, module or script, index of its first argument, interpreter options)."""
    start = i
    while i < len(words):
        word = words[i]
        if word in ("-W", "-X", "--check-hash-based-pycs"):
            i += 2
        elif word.startswith("-m") and len(word) > 2:
            return True, word[2:], i + 1, tuple(words[start:i])
        elif re.fullmatch(r"-[a-zA-Z]*m", word):
            return (
                (True, words[i + 1], i + 2, tuple(words[start:i])) if i + 1 < len(words) else None
            )
        elif re.fullmatch(r"-[a-zA-Z]*c.*", word) or word == "-":
            return None  # inline code or stdin
        elif word.startswith("-"):
            i += 1
        else:
            return False, word, i + 1, tuple(words[start:i])
    return None


def _recognise(words: Sequence[str]) -> dict | None:
    """Launcher, program and arguments of a simple command's words, or None."""
    wrappers: list[str] = []
    env: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        word = words[i]
        base = os.path.basename(word)
        if _ENV_WORD.match(word) and not wrappers and not base.endswith(".py"):
            name, _, value = word.partition("=")
            env.append((name, value))
            i += 1
        elif base in _WRAPPERS:
            wrappers.append(base)
            i += 1
        elif base in _SCANNING:
            wrappers.append(base)
            i += 1
            while i < len(words) and not _starts_launch(words, i):
                if base == "uv" and words[i] in ("-m", "--module") and i + 1 < len(words):
                    return _result(words[i + 1], words, i + 2, "python", (), wrappers, env)
                if base == "uv" and words[i] == "run":  # uv run [flags] COMMAND: a project script
                    j = _uv_run_command(words, i + 1)
                    if (
                        j < len(words)
                        and not _starts_launch(words, j)
                        and words[j]
                        not in (
                            "-m",
                            "--module",
                        )
                    ):
                        return _result(words[j], words, j + 1, "uv run", (), wrappers, env)
                    i = j
                    continue
                i += 1
        elif base == "ray" and list(words[i + 1 : i + 3]) == ["job", "submit"]:
            wrappers.append("ray job submit")
            rest = list(words[i + 3 :])
            i = (
                i + 4 + rest.index("--")
                if "--" in rest
                else _launcher_flags(words, i + 3, "ray job submit")[0]
            )
        elif _PYTHON.fullmatch(base) or (
            isinstance(word, Unresolved) and word.whole and _python_next(words, i)
        ):
            target = _python_target(words, i + 1)
            if target is None:
                return None
            is_module, name, first, options = target
            if is_module:
                module = name
                if module in ("torch.distributed.run", "torch.distributed.launch"):
                    return _via(words, first, "torchrun", wrappers, env)
                if module == "accelerate.commands.launch":
                    return _via(words, first, "accelerate launch", wrappers, env)
                if module == "trl" and first < len(words):
                    return _trl(words, first, wrappers, env)
                if module.split(".")[0] in _TOOL_MODULES or module in _TOOL_MODULES:
                    return None
                return _result(module, words, first, "python", options, wrappers, env)
            if os.path.basename(name) == "setup.py":
                return None
            if os.path.basename(name) in _SUBMITTERS and _submitted(words, first - 1, []) < len(
                words
            ):
                i = _submitted(words, first - 1, wrappers)
                continue
            return _result(name, words, first, "python", options, wrappers, env)
        elif base == "accelerate" and i + 1 < len(words) and words[i + 1] == "launch":
            return _via(words, i + 2, "accelerate launch", wrappers, env)
        elif base in ("deepspeed", "torchrun"):
            return _via(words, i + 1, base, wrappers, env)
        elif base == "trl" and i + 1 < len(words):
            return _trl(words, i + 1, wrappers, env)
        elif base in _SUBMITTERS and _submitted(words, i, []) < len(words):
            i = _submitted(words, i, wrappers)
        elif base.endswith(".py"):
            return _result(word, words, i + 1, "script", (), wrappers, env)
        else:
            return None
    return None


_UV_RUN_VALUES = {  # uv run's options that take a value (uv 0.9 `uv run --help`)
    "with", "with_editable", "with_requirements", "extra", "no_extra", "group", "only_group",
    "no_group", "python", "p", "project", "directory", "env_file", "package", "index",
    "default_index", "index_url", "extra_index_url", "find_links", "f", "config_file",
    "cache_dir", "prerelease", "resolution", "index_strategy", "keyring_provider",
    "exclude_newer", "link_mode", "refresh_package", "reinstall_package", "upgrade_package", "P",
    "no_binary_package", "no_build_package", "python_preference", "color", "allow_insecure_host",
}  # fmt: skip


def _uv_run_command(words: Sequence[str], i: int) -> int:
    """Index of the command ``uv run`` runs (``-m`` included), after uv's own options."""
    while i < len(words) and words[i].startswith("-") and words[i] not in ("-m", "--module"):
        name = _flag_name(words[i])
        i += 2 if "=" not in words[i] and name in _UV_RUN_VALUES else 1
    return i


def _submitted(words: Sequence[str], i: int, wrappers: list[str]) -> int:
    """Index of the job a submitter at ``i`` runs: the first launch word after it (its own
    flags end at ``--``; ``mason.py ... -- source setup.sh && python train.py``: the setup
    words are skipped), or ``len(words)`` when it runs none."""
    wrappers.append(os.path.basename(words[i]))
    rest = list(words[i + 1 :])
    i = i + 2 + rest.index("--") if "--" in rest else i + 1
    while i < len(words) and not _starts_launch(words, i):
        i += 1
    return i


def _python_next(words: Sequence[str], i: int) -> bool:
    nxt = words[i + 1] if i + 1 < len(words) else ""
    return nxt == "-m" or nxt.endswith(".py")


def _starts_launch(words: Sequence[str], i: int) -> bool:
    """Whether a launch begins at word ``i`` (used to skip a wrapper's own flags)."""
    base, nxt = os.path.basename(words[i]), words[i + 1] if i + 1 < len(words) else ""
    if _PYTHON.fullmatch(base) or base in ("deepspeed", "torchrun") or base.endswith(".py"):
        return True
    if base == "trl":  # "uv run --with trl accelerate launch ...": trl is --with's value
        return bool(nxt) and not nxt.startswith("-") and not _starts_launch(words, i + 1)
    return (base, nxt) in (("accelerate", "launch"), ("ray", "job"))


def _via(words, start, launcher, wrappers, env) -> dict | None:
    first, module = _launcher_flags(words, start, launcher)
    if first >= len(words):
        return None
    flags = tuple(words[start:first])
    program = words[first]
    if not module and launcher == "accelerate launch" and _PYTHON.fullmatch(program):
        return None  # --no_python with an interpreter: unusual, not followed
    return _result(program, words, first + 1, launcher, flags, wrappers, env)


def _trl(words, i, wrappers, env) -> dict | None:
    command = words[i]
    if command.startswith("-") or command in _TRL_NOT_TRAINING:
        return None
    return _result(f"trl {command}", words, i + 1, "trl", (), wrappers, env)


def _result(program, words, first, launcher, flags, wrappers, env) -> dict:
    return {
        "program": str(program),
        "args": tuple(words[first:]),
        "launcher": launcher,
        "launcher_args": tuple(flags),
        "wrappers": tuple(wrappers),
        "env": tuple(env),
        "names": tuple(getattr(program, "names", ())),
    }


def _command(found: dict, index: int, line: int, argv, conditional: bool, source: str):
    names = list(found["names"])
    for arg in found["args"]:
        names.extend(getattr(arg, "names", ()))
    return LaunchCommand(
        index=index,
        line=line,
        argv=tuple(argv),
        program=found["program"],
        args=found["args"],
        unresolved=tuple(dict.fromkeys(names)),
        launcher=found["launcher"],
        launcher_args=found["launcher_args"],
        wrappers=found["wrappers"],
        env=found["env"],
        conditional=conditional,
        source=source,
    )


def launch_commands(commands: Sequence[SimpleCommand], source: str) -> tuple[LaunchCommand, ...]:
    """The launch commands among walked simple commands, numbered from 1."""
    out: list[LaunchCommand] = []
    for command in commands:
        found = _recognise(command.words)
        if found is not None:
            out.append(
                _command(
                    found, len(out) + 1, command.line, command.words, command.conditional, source
                )
            )
    return tuple(out)


def read_launch_text(text: str, source: str = "<text>") -> tuple[LaunchCommand, ...]:
    """Every launch command of a shell text, in file order (empty when it launches nothing).

    Raises InputError (one line) for text the shell could not read either: an unterminated
    quote or expansion, or text beyond ``MAX_SCRIPT_BYTES``.
    """
    if len(text) > MAX_SCRIPT_BYTES:
        raise fail(
            source,
            f"a launch script of {len(text):,} characters; the limit is {MAX_SCRIPT_BYTES:,}",
        )
    return launch_commands(simple_commands(text, source), source)


def read_command_line(argv: Sequence[str]) -> LaunchCommand:
    """The launch command given as words (``rlxform explain -- CMD ...``), already expanded.

    A single word holding spaces is read as shell text. Raises InputError naming the program
    when the words launch no Python module or script.
    """
    words = [str(w) for w in argv]
    if len(words) == 1 and len(words[0].split()) > 1:
        found = read_launch_text(words[0], "the command line")
        if len(found) == 1:
            return found[0]
        words = words[0].split()
    recognised = _recognise(words) if words else None
    if recognised is None:
        shown = " ".join(words)[:80] or "nothing"
        raise InputError(
            f"command={shown!r} is invalid: expected a launch command (python -m MODULE, python "
            "SCRIPT.py, accelerate launch, deepspeed, torchrun, trl grpo or ray job submit -- ...)"
        )
    return _command(recognised, 1, 1, words, False, "the command line")
