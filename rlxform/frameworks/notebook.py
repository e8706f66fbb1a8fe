"""Jupyter notebooks (.ipynb): their Python as one program, their shell commands as launch text.

Code cells are read in order as one Python program (``!cmd`` and ``%magic`` lines become
``pass``, keeping lines and indentation), so names bound in one cell reach the next. Shell
lines (``!python train.py ...``, with ``\\`` continuations) and ``%%bash`` / ``%%sh`` / ``%%script
bash`` cells are read as launch text, each line or cell on its own as IPython runs them;
IPython's ``{expr}`` substitutions stay unresolved. ``%%writefile`` and other non-Python cells
are skipped, and so is a cell this Python cannot parse (named in ``skipped``). Line numbers are
within the cell; ``cell`` is the cell's position (from 1).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from rlxform.frameworks.launch import LaunchCommand, launch_commands
from rlxform.frameworks.pyfile import PythonConfig, read_module
from rlxform.frameworks.shell import simple_commands
from rlxform.frameworks.shell_words import Unresolved
from rlxform.parsing import fail, load_json, parse_python
from rlxform.validation import InputError

_SHELL_CELL = re.compile(r"%%(?:bash|sh|shell|script\s+(?:ba)?sh)\b")
_PYTHON_CELL_MAGICS = ("%%capture", "%%time", "%%timeit", "%%prun", "%%python")
_CAPTURE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\s*=\s*!!?")
_IPYTHON_SUBSTITUTION = re.compile(r"(?<!\{)\{[^{}\s][^{}]*\}(?!\})")


@dataclasses.dataclass(frozen=True)
class Notebook:
    """What a notebook holds: its configs and launch commands, and its code as read."""

    configs: tuple[PythonConfig, ...]
    commands: tuple[LaunchCommand, ...]
    python: str  # the code cells joined (magic and shell lines replaced by ``pass``)
    cells: int  # code cells (``cell`` numbers count every cell, markdown included)
    skipped: tuple[str, ...] = ()  # one line per code cell this Python cannot parse


def _cells(text: str, source: str) -> list[tuple[int, str]]:
    notebook = load_json(text, source)
    cells: Any = notebook.get("cells") if isinstance(notebook, dict) else None
    if cells is None and isinstance(notebook, dict):  # nbformat 3
        sheets = notebook.get("worksheets") or [{}]
        cells = sheets[0].get("cells") if isinstance(sheets[0], dict) else None
    if not isinstance(cells, list):
        raise fail(source, "expected a Jupyter notebook (a JSON object with 'cells'), found none")
    out = []
    for number, cell in enumerate(cells, 1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            code = cell.get("source", cell.get("input", ""))
            out.append((number, "".join(code) if isinstance(code, list) else str(code)))
    return out


def _split(code: str) -> tuple[list[str], list[tuple[int, str]]]:
    """(Python lines with shell and magic lines replaced by ``pass``, [(line, shell text)])."""
    lines = code.split("\n")
    python, shell = [], []
    k = 0
    while k < len(lines):
        line = lines[k]
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        assigned = _CAPTURE.match(stripped)  # files = !ls
        if stripped.startswith("!") or assigned:
            start = k
            command = stripped[assigned.end() :] if assigned else stripped.lstrip("!")
            while command.endswith("\\") and k + 1 < len(lines):
                python.append(indent + "pass")
                k += 1
                command = command[:-1] + " " + lines[k].strip()
            shell.append((start + 1, command))
            python.append(indent + "pass")
        elif stripped.startswith("%"):
            python.append(indent + "pass")
        else:
            python.append(line)
        k += 1
    return python, shell


def read_notebook(text: str, source: str = "<notebook>") -> Notebook:
    """Configs and launch commands of a notebook's JSON text (see module docstring)."""
    python_lines: list[str] = []
    where: list[tuple[int, int]] = []  # joined line -> (cell, line in cell)
    commands: list[LaunchCommand] = []
    skipped: list[str] = []
    cells = _cells(text, source)
    for number, code in cells:
        first = code.lstrip().split("\n", 1)[0].strip()
        if _SHELL_CELL.match(first):
            body = code.split("\n", 1)[1] if "\n" in code else ""
            commands += _shell(body, source, number, offset=1)
            continue
        if first.startswith("%%") and not first.startswith(_PYTHON_CELL_MAGICS):
            continue  # %%writefile, %%html, ...: not run as Python here
        lines, shell = _split(code)
        try:  # a cell another Python version reads (PEP 701 f-strings) is left out, and said
            parse_python("\n".join(lines), f"{source}, cell {number}")
        except InputError as err:
            skipped.append(str(err))
            continue
        python_lines += lines
        where += [(number, k) for k in range(1, len(lines) + 1)]
        for line, command in shell:
            commands += _shell(command, source, number, offset=line - 1)
    python = "\n".join(python_lines)
    configs = []
    for config in read_module(parse_python(python, source), source):
        rewards = config.reward_funcs
        if rewards is not None:
            rewards = dataclasses.replace(rewards, line=where[rewards.line - 1][1])
        cell, line = where[config.line - 1]
        configs.append(dataclasses.replace(config, cell=cell, line=line, reward_funcs=rewards))
    numbered = tuple(dataclasses.replace(c, index=k) for k, c in enumerate(commands, 1))
    return Notebook(tuple(configs), numbered, python, len(cells), tuple(skipped))


def _shell(text: str, source: str, cell: int, offset: int) -> list[LaunchCommand]:
    out = []
    for command in launch_commands(simple_commands(text, f"{source}, cell {cell}"), source):
        args = tuple(_substituted(a) for a in command.args)
        names = list(command.unresolved)
        for arg in args:
            names.extend(n for n in getattr(arg, "names", ()) if n not in names)
        out.append(
            dataclasses.replace(
                command, args=args, unresolved=tuple(names), cell=cell, line=command.line + offset
            )
        )
    return out


def _substituted(arg: str) -> str:
    """IPython replaces ``{expr}`` in ``!`` lines with Python values: unresolved here."""
    found = _IPYTHON_SUBSTITUTION.findall(arg)
    if not found:
        return arg
    return Unresolved(arg, tuple(getattr(arg, "names", ())) + tuple(found))
