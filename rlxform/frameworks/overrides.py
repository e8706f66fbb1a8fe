"""A program's arguments as settings: Hydra overrides (verl) and argparse flags (OpenRLHF, TRL).

``hydra_overrides`` types values by Hydra's override grammar (hydra/grammar/OverrideLexer.g4):
``1`` int, ``1e-3`` / ``1.0e-6`` / ``.5`` / ``0.`` / ``inf`` float, ``true``/``False`` bool,
``null`` None, ``[a,b]`` list, ``{k:v}`` dict, quoted values strings, ``${...}`` kept as text.
``argparse_flags`` keeps values as strings (the framework's reader types them with its schema)
and names them like argparse's ``dest``: dashes become underscores, dots stay. Words that hold
unresolved shell expansions (``Unresolved``) come back as they are, untyped.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Any

from rlxform.frameworks.shell_words import Unresolved
from rlxform.validation import InputError

MAX_VALUE_DEPTH = 32
POSITIONAL = "__positional__"  # argparse_flags: words that belong to no flag
_INT = re.compile(r"[+-]?(?:0|[1-9](?:_?[0-9])*)")
_UINT = r"(?:0|[1-9](?:_?[0-9])*)"
_POINT = rf"(?:{_UINT}\.|{_UINT}?\.[0-9](?:_?[0-9])*)"
_FLOAT = re.compile(rf"[+-]?(?:{_POINT}|(?:{_UINT}|{_POINT})[eE][+-]?{_UINT}|inf|nan)", re.I)
_KEY = re.compile(r"(?:[A-Za-z_][\w]*|[0-9]+)(?:[./@:][A-Za-z_0-9][\w]*)*")
_HYDRA_FLAGS = {  # hydra/_internal/utils.py get_args_parser: flag -> takes a value
    "--config-path": True, "-cp": True, "--config-name": True, "-cn": True,
    "--config-dir": True, "-cd": True, "--cfg": True, "-c": True, "--package": True, "-p": True,
    "--experimental-rerun": True, "--multirun": False, "-m": False, "--resolve": False,
    "--run": False, "-r": False, "--help": False, "-h": False, "--hydra-help": False,
    "--version": False, "--info": False, "-i": False, "--shell-completion": False, "-sc": False,
}  # fmt: skip
_NEGATIVE_NUMBER = re.compile(r"-(?:[0-9]|\.[0-9]|inf\b|nan\b)", re.I)


def _args(args: Any) -> list[str]:
    return list(getattr(args, "args", args))


def hydra_flags(args: Sequence[str] | Any) -> dict[str, str | bool]:
    """Hydra's own flags among the arguments: ``{"config-name": "x", "multirun": True, ...}``."""
    words, out, i = _args(args), {}, 0
    while i < len(words):
        flag, _, value = words[i].partition("=")
        if flag in _HYDRA_FLAGS:
            name = flag.lstrip("-")
            if _HYDRA_FLAGS[flag] and not value and i + 1 < len(words):
                value, i = words[i + 1], i + 1
            out[name] = value if _HYDRA_FLAGS[flag] else True
        i += 1
    return out


def hydra_overrides(args: Sequence[str] | Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``({"a.b": value, ...}, deleted keys)`` from Hydra overrides, in order.

    ``a.b=c``, ``+a.b=c`` and ``++a.b=c`` set ``a.b`` (a later value replaces an earlier one;
    two mappings merge); ``~a.b`` and ``~a.b=c`` delete it. Hydra's own flags are skipped, and
    so is a word that is one unresolved expansion (``$@``; the caller lists it). Accepts a
    ``LaunchCommand`` (its ``args``). Raises InputError for a word that is not an override or
    a value Hydra refuses (``a=x,y`` without ``--multirun``).
    """
    words, settings, deleted, i = _args(args), {}, [], 0
    while i < len(words):
        word = words[i]
        flag = word.partition("=")[0]
        if flag in _HYDRA_FLAGS:
            i += 2 if _HYDRA_FLAGS[flag] and "=" not in word else 1
            continue
        i += 1
        if isinstance(word, Unresolved) and word.whole and "=" not in word:
            continue
        key, eq, raw = word.partition("=")
        prefix = re.match(r"~|\+\+|\+", key)
        op = prefix.group() if prefix else ""
        key = key[len(op) :]
        if isinstance(word, Unresolved) and not _KEY.fullmatch(key):
            continue  # the key itself is unresolved: listed by the caller
        if not _KEY.fullmatch(key) or (not eq and op != "~"):
            raise InputError(
                f"override={str(word)!r} is invalid: expected a Hydra override key=value, "
                "+key=value, ++key=value or ~key"
            )
        if op == "~":
            deleted.append(key)
            settings.pop(key, None)
            continue
        if isinstance(word, Unresolved):
            value: Any = Unresolved(raw, word.names)
        else:
            value = hydra_value(raw, key)
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            value = {**settings[key], **value}
        settings[key] = value
        if key in deleted:
            deleted.remove(key)
    return settings, tuple(deleted)


def hydra_value(text: str, what: str = "value") -> Any:
    """A Hydra override value, typed by its grammar (see module docstring)."""
    parser = _ValueParser(text, what)
    value = parser.element(0, top=True)
    if parser.pos != len(text):
        raise parser.error("unexpected text")
    return value


class _ValueParser:
    def __init__(self, text: str, what: str) -> None:
        self.text, self.what, self.pos = text, what, 0

    def error(self, problem: str) -> InputError:
        return InputError(
            f"{self.what}={self.text!r} is invalid: {problem} at character {self.pos + 1}; "
            "expected a Hydra value (1, 1e-3, true, null, 'text', [a,b], {k:v})"
        )

    def _skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def element(self, depth: int, top: bool = False) -> Any:
        if depth > MAX_VALUE_DEPTH:
            raise self.error(f"nested more than {MAX_VALUE_DEPTH} levels deep")
        self._skip_ws()
        char = self.text[self.pos : self.pos + 1]
        if char == "[":
            return self._sequence(depth, "]")
        if char == "{":
            return self._sequence(depth, "}")
        return self._primitive(top)

    def _sequence(self, depth: int, close: str) -> Any:
        self.pos += 1
        items: list[Any] = []
        pairs: dict[str, Any] = {}
        self._skip_ws()
        while self.text[self.pos : self.pos + 1] != close:
            if self.pos >= len(self.text):
                raise self.error(f"no closing {close}")
            if close == "}":
                match = re.compile(r"\s*([A-Za-z_][\w]*)\s*:").match(self.text, self.pos)
                if not match:
                    raise self.error("a dictionary key must be a name followed by ':'")
                self.pos = match.end()
                pairs[match.group(1)] = self.element(depth + 1)
            else:
                items.append(self.element(depth + 1))
            self._skip_ws()
            if self.text[self.pos : self.pos + 1] == ",":
                self.pos += 1
                self._skip_ws()
            elif self.text[self.pos : self.pos + 1] != close:
                raise self.error(f"expected ',' or {close!r}")
        self.pos += 1
        return pairs if close == "}" else items

    def _primitive(self, top: bool) -> Any:
        text, start = self.text, self.pos
        char = text[start : start + 1]
        if char in ("'", '"'):
            end = start + 1
            while end < len(text) and text[end] != char:
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                raise self.error("unterminated quoted value")
            self.pos = end + 1
            return text[start + 1 : end].replace("\\" + char, char)
        chunks, depth = [], 0
        while self.pos < len(text):
            char = text[self.pos]
            if char == "\\" and self.pos + 1 < len(text) and text[self.pos + 1] in "\\, \t":
                chunks.append(text[self.pos + 1])
                self.pos += 2
                continue
            if text.startswith("${", self.pos):  # an interpolation, kept as text
                end, level = self.pos + 2, 1
                while end < len(text) and level:
                    level += {"{": 1, "}": -1}.get(text[end], 0)
                    end += 1
                chunks.append(text[self.pos : end])
                self.pos = end
                continue
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
            elif depth == 0 and char in ",]}":
                if char == "," and top:
                    raise self.error("a comma outside brackets (Hydra reads it as a sweep)")
                break
            chunks.append(char)
            self.pos += 1
        return _typed("".join(chunks).strip(" \t"))


def _typed(text: str) -> Any:
    if _INT.fullmatch(text):
        return int(text.replace("_", ""))
    if _FLOAT.fullmatch(text):
        return float(text.replace("_", ""))
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() == "null":
        return None
    cast = re.fullmatch(r"(int|float|str|bool)\((.*)\)", text)
    if cast:
        inner = _typed(cast.group(2).strip())
        kind = cast.group(1)
        try:
            return {"int": int, "float": float, "str": str, "bool": bool}[kind](inner)
        except (TypeError, ValueError):
            return text
    return text


def argparse_flags(
    args: Sequence[str] | Any,
    multi_value: Collection[str] = (),
    store_true: Collection[str] = (),
) -> dict[str, Any]:
    """``{dest: value}`` from argparse-style flags, in order; values stay strings.

    ``--a.b value`` and ``--a.b=value`` give ``"value"``; a flag with no value (or named in
    ``store_true``) gives True; several values (``--range 0 1``) or a flag in ``multi_value``
    give a list. A negative number is a value, not a flag. Words after ``--`` and words that
    belong to no flag are listed under ``POSITIONAL``. A repeated flag keeps its last value.
    An unresolved word standing for any number of words does not count as a value of a
    ``store_true`` flag. Accepts a ``LaunchCommand`` (its ``args``).
    """
    words = _args(args)
    multi = {_dest(name) for name in multi_value}
    bare = {_dest(name) for name in store_true}
    out: dict[str, Any] = {}
    positional: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            positional.extend(words[i:])
            break
        if not _is_flag(word):
            if not (isinstance(word, Unresolved) and word.whole):
                positional.append(word)
            continue
        flag, eq, inline = word.partition("=")
        dest = _dest(flag)
        if eq:
            value = Unresolved(inline, word.names) if isinstance(word, Unresolved) else inline
            out[dest] = [value] if dest in multi else value
            continue
        values: list[str] = []
        if dest not in bare:
            while i < len(words) and not _is_flag(words[i]) and words[i] != "--":
                if values and isinstance(words[i], Unresolved) and words[i].whole:
                    break  # "$EXTRA_ARGS" after a value: not a second value
                values.append(words[i])
                i += 1
        if not values:
            out[dest] = [] if dest in multi else True
        else:
            out[dest] = values if dest in multi or len(values) > 1 else values[0]
    if positional:
        out[POSITIONAL] = positional
    return out


def _is_flag(word: str) -> bool:
    return word.startswith("-") and word != "-" and not _NEGATIVE_NUMBER.match(word)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")
