"""Bash integer arithmetic ``$((...))`` on the variables a shell text assigned, never guessed.

64-bit wrap-around, ``/`` and ``%`` truncating toward zero, ``**`` right-associative, C
precedence for ``|| && | ^ & == != < <= > >= << >> + - * / %``, unary ``- + ! ~``, ``?:``.
A name whose value is itself an expression is evaluated (as bash does), up to a few levels.
Anything else (assignment operators, ``$(...)``, unknown names) leaves the expression open:
``arith`` returns ``(None, names)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 64
_TOKEN = re.compile(
    r"\s*(?:(?P<num>0[xX][0-9a-fA-F]+|[0-9]+)"
    r"|(?P<name>\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$?[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%()<>!~&|^?:]))"
)
_BINARY = {  # operator -> precedence (higher binds tighter)
    "||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6,
    "<": 7, "<=": 7, ">": 7, ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9,
    "*": 10, "/": 10, "%": 10, "**": 11,
}  # fmt: skip


class _Open(Exception):
    """The expression cannot be evaluated from the file alone."""

    def __init__(self, *names: str) -> None:
        super().__init__(*names)
        self.names = names


def _wrap(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            if text[pos:].strip() == "":
                break
            raise _Open()
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str, variables: Mapping[str, Any], level: int) -> None:
        self.toks, self.pos = _tokens(text), 0
        self.vars, self.level = variables, level

    def parse(self) -> int:
        value = self.ternary(0)
        if self.pos != len(self.toks):
            raise _Open()
        return value

    def _peek(self) -> str:
        return self.toks[self.pos][1] if self.pos < len(self.toks) else ""

    def _take(self, expected: str) -> None:
        if self._peek() != expected:
            raise _Open()
        self.pos += 1

    def ternary(self, depth: int) -> int:
        cond = self.binary(1, depth + 1)
        if self._peek() != "?":
            return cond
        self.pos += 1
        yes = self.ternary(depth + 1)
        self._take(":")
        no = self.ternary(depth + 1)
        return yes if cond else no

    def binary(self, min_prec: int, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _Open()
        left = self.unary(depth + 1)
        while True:
            op = self._peek()
            prec = _BINARY.get(op, 0) if self.pos < len(self.toks) else 0
            if self.pos < len(self.toks) and self.toks[self.pos][0] != "op":
                prec = 0
            if prec < min_prec:
                return left
            self.pos += 1
            right = self.binary(prec if op == "**" else prec + 1, depth + 1)
            left = _apply(op, left, right)

    def unary(self, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _Open()
        op = self._peek()
        if op in ("-", "+", "!", "~") and self.toks[self.pos][0] == "op":
            self.pos += 1
            value = self.unary(depth + 1)
            return _wrap({"-": -value, "+": value, "!": int(not value), "~": ~value}[op])
        if op == "(":
            self.pos += 1
            value = self.ternary(depth + 1)
            self._take(")")
            return value
        if self.pos >= len(self.toks):
            raise _Open()
        kind, text = self.toks[self.pos]
        self.pos += 1
        if kind == "num":
            if text.lower().startswith("0x"):
                return _wrap(int(text, 16))
            return _wrap(int(text, 8) if len(text) > 1 and text[0] == "0" else int(text))
        if kind == "name":
            return self._variable(text.strip("${}"))
        raise _Open()

    def _variable(self, name: str) -> int:
        value = self.vars.get(name)
        if value is None or value.unknown or value.names:
            raise _Open(*(value.names if value is not None and value.names else ("$" + name,)))
        text = (value.items[0].text if value.items else value.text).strip()
        if text == "":
            return 0
        if re.fullmatch(r"-?[0-9]+", text):
            return _wrap(int(text))
        if self.level >= 8:
            raise _Open("$" + name)
        return _Parser(text, self.vars, self.level + 1).parse()


def _apply(op: str, a: int, b: int) -> int:
    if op in ("/", "%"):
        if b == 0:
            raise _Open()
        quotient = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
        return _wrap(quotient if op == "/" else a - b * quotient)
    if op == "**":
        if b < 0:
            raise _Open()
        return _wrap(pow(a, b, 1 << 64))
    if op in ("<<", ">>"):
        return _wrap(a << (b & 63) if op == "<<" else a >> (b & 63))
    table = {
        "+": a + b, "-": a - b, "*": a * b, "&": a & b, "|": a | b, "^": a ^ b,
        "==": int(a == b), "!=": int(a != b), "<": int(a < b), "<=": int(a <= b),
        ">": int(a > b), ">=": int(a >= b), "&&": int(bool(a and b)), "||": int(bool(a or b)),
    }  # fmt: skip
    return _wrap(table[op])


def arith(text: str, variables: Mapping[str, Any]) -> tuple[int | None, tuple[str, ...]]:
    """``(value, ())`` of a ``$((text))`` expression, or ``(None, names)`` when it stays open.

    ``variables`` maps names to ``shell.Value``s. ``names`` are the unresolved variables, or the
    expression itself (``$((text))``) when it cannot be evaluated for another reason.
    """
    try:
        return _Parser(text, variables, 0).parse(), ()
    except _Open as err:
        return None, err.names or ("$((" + " ".join(text.split()) + "))",)
    except RecursionError:
        return None, ("$((" + " ".join(text.split())[:60] + "))",)
