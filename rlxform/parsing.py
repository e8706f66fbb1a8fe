"""Bounded parsers for untrusted text: every config, launch script and notebook goes through here.

A file is read only after its size is checked (``read_text``), and each loader bounds what it
walks before walking it: input length, nesting depth (100 levels; 200 for Python syntax trees),
YAML node count and alias expansion (100,000 nodes once every alias and merge key is expanded),
integers (at most 64 bits). Any violation raises ``InputError`` with one line naming the file,
the place (line, column) where known, what was found and what is allowed, within milliseconds.
YAML numbers follow YAML 1.2 (``1e-3``, ``1.0e6`` are floats, as verl, TRL and OpenRLHF read them);
YAML 1.1 timestamps stay strings; tags other than the standard scalar and collection tags are
refused. Nothing is imported or executed.
"""

from __future__ import annotations

import ast
import json
import os
import re
import stat
from collections.abc import Mapping
from typing import Any

import yaml

from rlxform.validation import InputError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MAX_CONFIG_BYTES = 4 * 2**20  # YAML, JSON, TOML configs
MAX_SCRIPT_BYTES = 256 * 2**10  # shell launchers (real ones hold a few KB)
MAX_PYTHON_BYTES = 512 * 2**10  # Python sources (ast.parse of a hostile 1 MiB file takes seconds)
MAX_DEPTH = 100  # nesting levels of a YAML, JSON or TOML document
MAX_PYTHON_DEPTH = 200  # depth of a Python syntax tree
MAX_YAML_NODES = 100_000  # nodes after expanding every alias and merge key
MAX_INT_BITS = 64
MAX_NOTEBOOK_BYTES = 32 * 2**20  # .ipynb JSON, outputs included
_LIMITS = {"launch script": MAX_SCRIPT_BYTES, "python": MAX_PYTHON_BYTES}
_LIMITS["notebook"] = MAX_NOTEBOOK_BYTES


def fail(source: str, problem: str, line: int | None = None, col: int | None = None) -> InputError:
    """The one-line error: ``source: line L, column C: problem``."""
    if line is not None:
        problem = f"line {line}{'' if col is None else f', column {col}'}: {problem}"
    return InputError(f"{source}: {problem}")


def _line_col(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def _check_length(text: str, source: str, limit: int, kind: str) -> None:
    if not isinstance(text, str) or len(text) > limit:
        found = f"{len(text):,} characters" if isinstance(text, str) else type(text).__name__
        raise fail(source, f"expected {kind} text of at most {limit:,} characters, got {found}")


# ---- files -----------------------------------------------------------------------------------


def read_text(path: str | os.PathLike, *, what: str = "config", max_bytes: int | None = None):
    """The UTF-8 text of a file, refusing large or binary files before reading them whole.

    ``what`` ("config", "launch script", "python", "notebook") is named in errors and picks the
    default limit (``MAX_CONFIG_BYTES``, ``MAX_SCRIPT_BYTES``, ``MAX_PYTHON_BYTES``,
    ``MAX_NOTEBOOK_BYTES``); a UTF-8 byte-order mark is dropped.
    """
    limit = _LIMITS.get(what, MAX_CONFIG_BYTES) if max_bytes is None else int(max_bytes)
    name = os.fspath(path)
    try:
        info = os.stat(name)
    except OSError as err:
        reason = "no such file" if isinstance(err, FileNotFoundError) else err.strerror
        raise InputError(f"{what}={name!r} is invalid: {reason}") from None
    if not stat.S_ISREG(info.st_mode):  # a directory, or a pipe or device that may never end
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise InputError(f"{what}={name!r} is invalid: {kind}, expected a file")
    if info.st_size > limit:
        raise InputError(
            f"{what}={name!r} is invalid: {info.st_size:,} bytes; a {what} may hold at most "
            f"{limit:,} bytes"
        )
    try:
        with open(name, "rb") as f:
            data = f.read(limit + 1)  # the file may have grown since stat
    except OSError as err:
        raise InputError(f"{what}={name!r} is invalid: cannot read it ({err.strerror})") from None
    if len(data) > limit:
        raise InputError(f"{what}={name!r} is invalid: more than {limit:,} bytes")
    nul = data.find(b"\0")
    if nul >= 0:
        raise InputError(
            f"{what}={name!r} is invalid: binary data (a NUL byte at offset {nul}), expected text"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{what}={name!r} is invalid: not UTF-8 text (byte 0x{data[err.start]:02x} at "
            f"offset {err.start})"
        ) from None


# ---- YAML ------------------------------------------------------------------------------------

_YAML_BASE = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge")}
# YAML 1.2 floats that YAML 1.1 reads as strings: an exponent without a sign or without a dot.
_FLOAT_12 = re.compile(
    r"^[-+]?(?:(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+|\.[0-9][0-9_]*[eE][-+]?[0-9]+)$"
)


class _YamlLoader(_YAML_BASE):  # type: ignore[misc, valid-type]
    """SafeLoader with YAML 1.2 floats, no timestamps, and a 64-bit integer range."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = str(node.value).replace("_", "")
        if len(digits) > 24:  # also keeps int() off 4300-digit strings
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer of {len(digits)} digits exceeds 64 bits", node.start_mark
            )
        value = super().construct_yaml_int(node)
        if abs(value) >= 2**MAX_INT_BITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"the integer {value} exceeds 64 bits", node.start_mark
            )
        return value


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TAG + "timestamp"]
    for first, resolvers in _YAML_BASE.yaml_implicit_resolvers.items()
}
for _first in "0123456789-+.":
    _YamlLoader.yaml_implicit_resolvers[_first].insert(0, (_TAG + "float", _FLOAT_12))
_YamlLoader.add_constructor(_TAG + "int", _YamlLoader.construct_yaml_int)


def _mark(node_or_event: Any) -> tuple[int, int]:
    mark = node_or_event.start_mark
    return mark.line + 1, mark.column + 1


def _yaml_error(err: yaml.YAMLError, source: str) -> InputError:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    if context and "constructor" not in type(err).__module__:
        problem = f"{problem} ({context})"
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    return fail(source, f"cannot read it as YAML: {problem}", line, col)


def _check_yaml_events(text: str, source: str) -> None:
    """Depth and node count from the event stream (libyaml's parser is not recursive)."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_YamlLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                problem = f"YAML nested more than {MAX_DEPTH} levels deep; a config nests a few"
                raise fail(source, problem, *_mark(event))
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1
        nodes += isinstance(event, yaml.NodeEvent)
        if nodes > MAX_YAML_NODES:
            raise fail(source, f"more than {MAX_YAML_NODES:,} YAML nodes", *_mark(event))


def _check_yaml_graph(root: yaml.Node, source: str) -> None:
    """Tags, and the node count once every alias and merge key is expanded (no recursion)."""
    sizes: dict[int, int] = {}  # id(node) -> expanded node count
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _yaml_children(node))
            if sizes[key] > MAX_YAML_NODES:
                problem = (
                    f"YAML aliases expand to more than {MAX_YAML_NODES:,} nodes (an alias "
                    "bomb); expected aliases that expand to a config-sized document"
                )
                raise fail(source, problem, *_mark(node))
        elif key not in sizes:
            if key in on_path:
                raise fail(source, "a YAML alias that contains itself", *_mark(node))
            if node.tag not in _ALLOWED_TAGS:
                problem = f"YAML tag {node.tag!r}; only plain scalars, lists and mappings are read"
                raise fail(source, problem, *_mark(node))
            on_path.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _yaml_children(node))


def _yaml_children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def load_yaml(text: str, source: str = "<yaml>") -> Any:
    """One YAML document as plain data (dict, list, str, int, float, bool, None); bounded.

    Floats follow YAML 1.2 (``1e-3``, ``5E+2``, ``1.0e6``); ``2024-01-01`` stays a string.
    """
    _check_length(text, source, MAX_CONFIG_BYTES, "YAML")
    try:
        _check_yaml_events(text, source)
        loader = _YamlLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_yaml_graph(node, source)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        raise _yaml_error(err, source) from None
    except RecursionError:
        raise fail(source, f"YAML nested more than {MAX_DEPTH} levels deep") from None


# ---- JSON and TOML ---------------------------------------------------------------------------

_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_TOML_SKIP = re.compile(  # strings and comments
    r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*', re.S
)
_TOML_KEY_DOT = re.compile(r"(?<![0-9])\.|\.(?![0-9])")


class _BigInt(ValueError):
    """An integer beyond 64 bits (raised inside json.loads)."""


def _check_brackets(text: str, source: str, kind: str, pattern: re.Pattern[str]) -> None:
    depth = 0
    for match in pattern.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line, col = _line_col(text, match.start())
                raise fail(source, f"{kind} nested more than {MAX_DEPTH} levels deep", line, col)
        elif char in "]}":
            depth -= 1


def _json_int(digits: str) -> int:
    if len(digits.lstrip("-")) > 20 or abs(int(digits)) >= 2**MAX_INT_BITS:
        raise _BigInt(digits)
    return int(digits)


def load_json(text: str, source: str = "<json>") -> Any:
    """One JSON document; nesting up to ``MAX_DEPTH`` levels, integers up to 64 bits."""
    _check_length(text, source, MAX_NOTEBOOK_BYTES, "JSON")
    _check_brackets(text, source, "JSON", _JSON_TOKENS)
    try:
        return json.loads(text, parse_int=_json_int)
    except _BigInt as err:
        digits = str(err)
        problem = f"an integer of {len(digits.lstrip('-'))} digits; numbers must fit in 64 bits"
        raise fail(source, problem, *_line_col(text, max(text.find(digits), 0))) from None
    except json.JSONDecodeError as err:
        raise fail(source, f"cannot read it as JSON: {err.msg}", err.lineno, err.colno) from None
    except RecursionError:
        raise fail(source, f"JSON nested more than {MAX_DEPTH} levels deep") from None


def load_toml(text: str, source: str = "<toml>") -> dict[str, Any]:
    """One TOML document; nesting (arrays, inline tables, dotted keys) and integers bounded."""
    _check_length(text, source, MAX_CONFIG_BYTES, "TOML")
    bare = _TOML_SKIP.sub(lambda match: re.sub(r"[^\n]", " ", match.group()), text)
    _check_brackets(bare, source, "TOML", re.compile(r"[\[\]{}]"))
    for number, line in enumerate(bare.splitlines(), 1):
        if len(_TOML_KEY_DOT.findall(line)) > MAX_DEPTH:
            raise fail(source, f"a dotted key of more than {MAX_DEPTH} parts", number)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        where = re.search(r" \(at line (\d+), column (\d+)\)$", str(err))
        problem = str(err)[: where.start()] if where else str(err)
        line, col = (int(where[1]), int(where[2])) if where else (None, None)
        raise fail(source, f"cannot read it as TOML: {problem}", line, col) from None
    except ValueError:  # int() of more than 4300 digits
        raise fail(source, "an integer of over 4300 digits; numbers must fit in 64 bits") from None
    except RecursionError:
        raise fail(source, f"TOML nested more than {MAX_DEPTH} levels deep") from None
    _check_tree(data, source, "TOML", text)
    return data


def _check_tree(data: Any, source: str, kind: str, text: str) -> None:
    """Depth and integer range of parsed data, walked without recursion."""
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise fail(source, f"{kind} nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 2**MAX_INT_BITS:
            digits = str(abs(item))
            problem = f"an integer of {len(digits)} digits; numbers must fit in 64 bits"
            raise fail(source, problem, *_line_col(text, max(text.find(digits), 0)))
        if isinstance(item, Mapping):
            stack.extend((value, depth + 1) for value in item.values())
        elif isinstance(item, list):
            stack.extend((value, depth + 1) for value in item)


# ---- Python ----------------------------------------------------------------------------------


def parse_python(text: str, source: str = "<python>") -> ast.Module:
    """The syntax tree of a Python source (never compiled or run); size and depth bounded."""
    _check_length(text, source, MAX_PYTHON_BYTES, "Python")
    try:
        module = ast.parse(text, filename=source)
    except SyntaxError as err:
        raise fail(source, f"cannot read it as Python: {err.msg}", err.lineno, err.offset) from None
    except (RecursionError, MemoryError):
        raise fail(source, "Python expressions nested too deeply to read") from None
    except ValueError as err:  # NUL bytes
        raise fail(source, f"cannot read it as Python: {err}") from None
    stack: list[tuple[ast.AST, int]] = [(module, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_PYTHON_DEPTH:
            raise fail(
                source,
                f"Python syntax nested more than {MAX_PYTHON_DEPTH} levels deep",
                getattr(node, "lineno", None),
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return module


# ---- dotted keys -----------------------------------------------------------------------------


def _leaves(mapping: Mapping[str, Any], source: str):
    """(key parts, value) of every leaf in order, dotted keys split; empty mappings are leaves."""
    stack = [((), iter(mapping.items()))]
    while stack:
        prefix, items = stack[-1]
        for key, value in items:
            parts = prefix + tuple(str(key).split("."))
            if len(parts) > MAX_DEPTH:
                raise fail(source, f"a key nested more than {MAX_DEPTH} levels deep")
            if isinstance(value, Mapping) and value:
                stack.append((parts, iter(value.items())))
                break
            yield parts, value
        else:
            stack.pop()


def nest_dotted(flat: Mapping[str, Any], source: str = "<config>") -> dict[str, Any]:
    """``{"a.b": 1, "a.c": 2}`` -> ``{"a": {"b": 1, "c": 2}}``; sections given twice merge.

    A later value for the same key replaces an earlier one. A key that is both a value and a
    section (``a.b = 1`` and ``a.b.c = 2``) raises InputError naming both.
    """
    out: dict[str, Any] = {}
    for parts, value in _leaves(flat, source):
        node, key = out, ".".join(parts)
        for depth, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                section = ".".join(parts[: depth + 1])
                problem = f"needs {section!r} to be a section of keys, but {section!r} is {node!r}"
                raise fail(source, f"key {key!r} {problem}")
        if isinstance(value, Mapping):  # an empty section
            if not isinstance(node.setdefault(parts[-1], {}), dict):
                raise fail(source, f"key {key!r} is both a value and a section")
        elif isinstance(node.get(parts[-1]), dict):
            raise fail(source, f"key {key!r} is set to {value!r} but is also a section of keys")
        else:
            node[parts[-1]] = value
    return out


def flatten_dotted(nested: Mapping[str, Any], source: str = "<config>") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` in order (empty mappings kept as values)."""
    return {".".join(parts): value for parts, value in _leaves(nested, source)}
