"""Literal values of Python expressions, evaluated on the syntax tree without running anything.

``evaluate(node, env)`` gives constants, containers of literals, names bound in ``env``,
arithmetic on numbers (``**`` with exponents up to 64), ``+`` on strings and sequences (up to
10,000 items), unary ``-``/``+``/``not`` and subscripts of literal containers. Anything else
(calls, f-strings, attributes, comprehensions) comes back as ``Open``, with its source text.
"""

from __future__ import annotations

import ast
import math
from typing import Any

_EVAL_DEPTH = 50
_MAX_ITEMS = 10_000


class Open:
    """A binding whose value is not a literal: the expression (if any) and how to show it."""

    def __init__(self, node: ast.AST | None, shown: str, kind: str = "expr") -> None:
        self.node, self.shown, self.kind = node, shown, kind


def show(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except RecursionError:
        return "..."
    return text if len(text) <= 60 else text[:57] + "..."


def evaluate(node: ast.AST, env: dict[str, Any], depth: int = 0) -> Any:
    """The literal value of an expression, or an ``Open`` describing it."""
    if depth > _EVAL_DEPTH:
        return Open(node, show(node))
    if isinstance(node, ast.Constant) and not isinstance(node.value, (bytes, complex)):
        return node.value
    if isinstance(node, ast.Name):
        bound = env.get(node.id)
        if bound is None and node.id not in env:
            return Open(node, node.id)
        return bound
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [evaluate(elt, env, depth + 1) for elt in node.elts]
        if any(isinstance(item, Open) for item in items) or len(items) > _MAX_ITEMS:
            return Open(node, show(node))
        return tuple(items) if isinstance(node, ast.Tuple) else list(items)
    if isinstance(node, ast.Dict):
        keys = [None if k is None else evaluate(k, env, depth + 1) for k in node.keys]
        values = [evaluate(v, env, depth + 1) for v in node.values]
        if None in keys or any(isinstance(x, Open) for x in keys + values):
            return Open(node, show(node))
        try:
            return dict(zip(keys, values, strict=True))
        except TypeError:
            return Open(node, show(node))
    if isinstance(node, ast.UnaryOp):
        operand = evaluate(node.operand, env, depth + 1)
        if isinstance(operand, (int, float)) and not isinstance(operand, Open):
            ops = {ast.USub: lambda x: -x, ast.UAdd: lambda x: +x, ast.Not: lambda x: not x}
            if type(node.op) in ops:
                return ops[type(node.op)](operand)
        return Open(node, show(node))
    if isinstance(node, ast.BinOp):
        left, right = evaluate(node.left, env, depth + 1), evaluate(node.right, env, depth + 1)
        result = binop(node.op, left, right)
        return Open(node, show(node)) if result is None else result
    if isinstance(node, ast.Subscript):
        container = evaluate(node.value, env, depth + 1)
        key = evaluate(node.slice, env, depth + 1)
        if isinstance(container, (dict, list, tuple)) and not isinstance(key, Open):
            try:
                return container[key]
            except (KeyError, IndexError, TypeError):
                pass
    return Open(node, show(node))


def binop(op: ast.operator, a: Any, b: Any) -> Any:
    """Arithmetic on numbers, + on strings and sequences; None if not evaluated safely."""
    if isinstance(a, Open) or isinstance(b, Open):
        return None
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
    try:
        if numbers:
            if isinstance(op, ast.Pow) and (abs(b) > 64 or abs(a) > 2**64):
                return None
            ops = {ast.Add: "__add__", ast.Sub: "__sub__", ast.Mult: "__mul__"}
            ops.update({ast.Div: "__truediv__", ast.FloorDiv: "__floordiv__"})
            ops.update({ast.Mod: "__mod__", ast.Pow: "__pow__"})
            name = ops.get(type(op))
            result = getattr(a, name)(b) if name else None
            if result is NotImplemented or isinstance(result, complex):
                return None
            return result if not isinstance(result, float) or math.isfinite(result) else None
        if isinstance(op, ast.Add) and type(a) is type(b) and isinstance(a, (str, list, tuple)):
            return a + b if len(a) + len(b) <= _MAX_ITEMS else None
    except (ArithmeticError, ValueError, TypeError):
        return None
    return None
