"""Shell builtins whose effect a launch file's meaning depends on: ``read`` and ``test``.

``read_builtin`` assigns what ``read [-r] [-d ''] [-a ARRAY] NAME...`` reads from a here-document
or here-string (anything else it reads is unknown). ``test_status`` decides ``[ ... ]``,
``[[ ... ]]`` and ``test ...`` when every operand is known: string (``=``, ``==``, ``!=``,
``-z``, ``-n``) and integer (``-eq`` ... ``-ge``) comparisons, ``!``; file tests and the rest
give None (not decided).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rlxform.frameworks.shell_lex import Word
from rlxform.frameworks.shell_words import Unresolved, Value, unknown

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTEGER = {"-eq": "__eq__", "-ne": "__ne__", "-lt": "__lt__", "-le": "__le__", "-gt": "__gt__"}
_INTEGER["-ge"] = "__ge__"


def read_builtin(walker: Any, args: list[Word], stdin: Word | None, connector: str) -> None:
    """``read [-r] [-d ''] [-a ARRAY] NAME...`` from a here-document or here-string."""
    names: list[str] = []
    raw = whole = False
    array = ""
    k = 0
    while k < len(args):
        text = args[k].literal() or ""
        k += 1
        if text.startswith("-") and len(text) > 1 and not names:
            for j, flag in enumerate(text[1:]):
                raw = raw or flag == "r"
                if flag in "adpntu":
                    rest = text[j + 2 :]
                    if not rest and k < len(args):
                        rest, k = args[k].literal() or "", k + 1
                    whole = whole or (flag == "d" and rest == "")
                    array = rest if flag == "a" else array
                    break
        elif _IDENT.fullmatch(text):
            names.append(text)
    targets = names + ([array] if array else [])
    if stdin is None:  # from the terminal, a pipe or a file: not in the text
        for name in targets:
            walker.assign(name, unknown(name), connector)
        return
    value = walker.value(stdin.parts)
    text = value.text if raw else re.sub(r"\\\n", "", value.text)
    text = text if whole else text.split("\n", 1)[0]
    text = text if raw else re.sub(r"\\(.)", r"\1", text)
    if array:
        items = tuple(Value(f, value.names) for f in text.split())
        walker.assign(array, Value(" ".join(text.split()), value.names, items=items), connector)
    fields = text.split(maxsplit=max(len(names) - 1, 0)) if names else []
    for j, name in enumerate(names):
        field = fields[j].strip() if j < len(fields) else ""
        walker.assign(name, Value(field, value.names, value.unknown), connector)


def test_status(fields: Sequence[str]) -> bool | None:
    """The outcome of a test command's words (``[ a = b ]``), or None when not decidable."""
    if not fields or any(isinstance(f, Unresolved) for f in fields):
        return None
    words = list(fields)
    if words[0] == "[" and words[-1] == "]":
        words = words[1:-1]
    elif words[0] == "[[" and words[-1] == "]]":
        if any(w in ("&&", "||", "(", ")", "=~") for w in words):
            return None
        words = words[1:-1]
    elif words[0] == "test":
        words = words[1:]
    else:
        return None
    negate = False
    while words and words[0] == "!":
        negate, words = not negate, words[1:]
    result = _decide(words)
    return None if result is None else result != negate


def _decide(words: list[str]) -> bool | None:
    if len(words) == 1:
        return words[0] != ""
    if len(words) == 2 and words[0] in ("-z", "-n"):
        return (words[1] == "") == (words[0] == "-z")
    if len(words) == 3:
        left, op, right = words
        if op in ("=", "=="):
            return None if any(c in right for c in "*?[") else left == right
        if op == "!=":
            return None if any(c in right for c in "*?[") else left != right
        if op in _INTEGER and re.fullmatch(r"-?\d+", left) and re.fullmatch(r"-?\d+", right):
            return getattr(int(left), _INTEGER[op])(int(right))
    return None
