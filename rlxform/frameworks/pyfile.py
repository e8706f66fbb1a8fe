"""TRL configs written in Python (scripts, Unsloth notebooks), read with ``ast``, never run.

``read_python(text, source)`` finds every ``GRPOConfig(...)`` / ``RLOOConfig(...)`` call (also
under an import alias or as ``trl.GRPOConfig``) and reads its keyword arguments: literals, names
bound to literals before the call (module level, the enclosing function, ``if __name__ ==
"__main__":`` and ``with`` blocks; ``+=``-style updates; arithmetic, ``**{...}`` of a literal
dict, subscripts of literal dicts), and nothing else: calls, f-strings, attributes, names
assigned in an ``if``/loop branch or given as function parameters are listed in ``unresolved``.
The ``GRPOTrainer``/``RLOOTrainer`` call that uses a config tells its reward functions.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any

from rlxform.frameworks.pyeval import Open, binop, evaluate, show
from rlxform.parsing import parse_python

_CONFIGS = ("GRPOConfig", "RLOOConfig")
_TRAINERS = ("GRPOTrainer", "RLOOTrainer")


@dataclasses.dataclass(frozen=True)
class RewardFuncs:
    """What a trainer call is given as ``reward_funcs``.

    names: each reward function or model as written ("accuracy_reward", "'org/reward-model'");
    count: how many (None when the list is built at run time); weights: the config's
    ``reward_weights`` when literal; unresolved: what could not be read, if anything.
    """

    line: int
    names: tuple[str, ...]
    count: int | None
    weights: tuple[float, ...] | None = None
    unresolved: str | None = None


@dataclasses.dataclass(frozen=True)
class PythonConfig:
    """One ``GRPOConfig(...)``-style call of a Python file.

    call: the class as imported ("GRPOConfig", "RLOOConfig", "UnslothGRPOConfig");
    settings: keyword -> literal value; unresolved: "name (= expression)" for the rest;
    imports: top-level modules the file imports (``unsloth`` tells an Unsloth script);
    reward_funcs: from the trainer call that uses this config (None if none was found);
    trainer: that trainer's class; cell: the notebook cell (1-based), if any.
    """

    call: str
    line: int
    settings: dict[str, Any]
    unresolved: tuple[str, ...]
    imports: tuple[str, ...]
    reward_funcs: RewardFuncs | None = None
    trainer: str | None = None
    source: str = "<text>"
    cell: int | None = None


@dataclasses.dataclass
class _Found:
    node: ast.Call
    env: dict[str, Any]
    kind: str  # "config" | "trainer"
    name: str
    target: str | None  # the name the call is assigned to


class _Reader:
    """Walks statements in execution order, keeping literal bindings (see module docstring)."""

    def __init__(self) -> None:
        self.found: list[_Found] = []
        self.imports: dict[str, None] = {}
        self.aliases: dict[str, str] = {}  # local name -> imported class name
        self.functions: list[tuple[ast.AST, dict[str, Any]]] = []

    def walk(self, body: list[ast.stmt], env: dict[str, Any]) -> dict[str, Any]:
        for stmt in body:
            self._calls(stmt, env)
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self._import(stmt, env)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                env[stmt.name] = Open(None, stmt.name, "function")
                if not isinstance(stmt, ast.ClassDef):
                    self.functions.append((stmt, env))
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                self._assign(stmt, env)
            elif isinstance(stmt, ast.If) and _is_main_guard(stmt.test):
                self.walk(stmt.body, env)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                for item in stmt.items:
                    if item.optional_vars is not None:
                        self._bind(item.optional_vars, Open(None, "a with target", "with"), env)
                self.walk(stmt.body, env)
            elif isinstance(stmt, ast.Try):
                self.walk(stmt.body, env)
                for branch in [h.body for h in stmt.handlers] + [stmt.orelse, stmt.finalbody]:
                    self._branch(branch, env)
            elif isinstance(stmt, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Match)):
                if isinstance(stmt, (ast.For, ast.AsyncFor)):
                    self._bind(stmt.target, Open(None, "a loop variable", "loop"), env)
                branches = [getattr(stmt, "body", []), getattr(stmt, "orelse", [])]
                branches += [case.body for case in getattr(stmt, "cases", [])]
                for branch in branches:
                    self._branch(branch, env)
        return env

    def _branch(self, body: list[ast.stmt], env: dict[str, Any]) -> None:
        """A block that may not run: names it binds become open afterwards."""
        inner = self.walk(body, dict(env))
        for name, value in inner.items():
            if name not in env or env[name] is not value:
                env[name] = Open(None, "set in an if/loop/try branch", "branch")

    def _import(self, stmt: ast.Import | ast.ImportFrom, env: dict[str, Any]) -> None:
        if isinstance(stmt, ast.ImportFrom):
            if stmt.module and stmt.level == 0:
                self.imports[stmt.module.split(".")[0]] = None
            for alias in stmt.names:
                local = alias.asname or alias.name
                env[local] = Open(None, f"{stmt.module}.{alias.name}", "import")
                self.aliases[local] = alias.name
        else:
            for alias in stmt.names:
                self.imports[alias.name.split(".")[0]] = None
                local = alias.asname or alias.name.split(".")[0]
                env[local] = Open(None, alias.name, "import")

    def _assign(self, stmt: ast.stmt, env: dict[str, Any]) -> None:
        if isinstance(stmt, ast.AugAssign):
            if isinstance(stmt.target, ast.Name):
                old = evaluate(stmt.target, env)
                new = binop(stmt.op, old, evaluate(stmt.value, env))
                env[stmt.target.id] = Open(stmt, show(stmt)) if new is None else new
            return
        if stmt.value is None:
            return
        value = evaluate(stmt.value, env)
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            self._bind(target, value, env)
            if isinstance(stmt.value, ast.Call) and isinstance(target, ast.Name):
                for found in self.found:
                    if found.node is stmt.value:
                        found.target = target.id

    def _bind(self, target: ast.AST, value: Any, env: dict[str, Any]) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = value if isinstance(value, (tuple, list)) else None
            if values is not None and len(values) != len(target.elts):
                values = None
            for k, elt in enumerate(target.elts):
                self._bind(elt, values[k] if values is not None else Open(None, show(elt)), env)

    def _calls(self, stmt: ast.stmt, env: dict[str, Any]) -> None:
        """Config and trainer calls in the statement's own expressions (not nested blocks)."""
        roots: list[ast.AST]
        if isinstance(stmt, (ast.If, ast.While)):
            roots = [stmt.test]
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            roots = [stmt.iter]
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            roots = [item.context_expr for item in stmt.items]
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Try)):
            roots = []
        elif isinstance(stmt, ast.Match):
            roots = [stmt.subject]
        else:
            roots = [stmt]
        stack = list(roots)
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Lambda):
                continue
            if isinstance(node, ast.Call):
                name = self._class_name(node.func)
                if name and name.endswith(_CONFIGS + _TRAINERS):
                    kind = "config" if name.endswith(_CONFIGS) else "trainer"
                    self.found.append(_Found(node, dict(env), kind, name, None))
            stack.extend(ast.iter_child_nodes(node))

    def _class_name(self, func: ast.AST) -> str | None:
        if isinstance(func, ast.Name):
            return self.aliases.get(func.id, func.id)
        if isinstance(func, ast.Attribute):
            return func.attr
        return None


def _is_main_guard(test: ast.AST) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _settings(call: ast.Call, env: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    settings: dict[str, Any] = {}
    unresolved: list[str] = []
    for k, arg in enumerate(call.args, 1):
        unresolved.append(f"positional argument {k} (= {show(arg)})")
    for keyword in call.keywords:
        if keyword.arg is not None:
            value = evaluate(keyword.value, env)
            if isinstance(value, Open):
                unresolved.append(f"{keyword.arg} (= {_describe(keyword.value, value)})")
            else:
                settings[keyword.arg] = value
            continue
        source = keyword.value  # **mapping: a literal dict, directly or through a name
        bound = env.get(source.id) if isinstance(source, ast.Name) else None
        node = bound.node if isinstance(bound, Open) else source
        if isinstance(bound, dict):
            settings.update({str(k): v for k, v in bound.items()})
        elif isinstance(node, ast.Dict) and None not in node.keys:
            for key_node, value_node in zip(node.keys, node.values, strict=True):
                key, value = evaluate(key_node, env), evaluate(value_node, env)
                if isinstance(key, Open):
                    unresolved.append(f"**{show(source)} (key {show(key_node)})")
                elif isinstance(value, Open):
                    unresolved.append(f"{key} (= {show(value_node)})")
                else:
                    settings[str(key)] = value
        else:
            unresolved.append(f"**{show(source)}")
    return settings, unresolved


def _describe(keyword_value: ast.AST, value: Any) -> str:
    shown = show(keyword_value)
    if not isinstance(keyword_value, ast.Name) or not isinstance(value, Open):
        return shown
    if value.kind in ("branch", "parameter", "with", "loop"):
        return f"{shown}, {value.shown}"
    return shown if value.shown == shown else f"{shown} = {value.shown}"


def _reward_funcs(call: ast.Call, env: dict[str, Any], weights: Any) -> RewardFuncs:
    node = next((k.value for k in call.keywords if k.arg == "reward_funcs"), None)
    if node is None and len(call.args) >= 2:  # GRPOTrainer(model, reward_funcs, args, ...)
        node = call.args[1]
    line = call.lineno
    weights = tuple(weights) if isinstance(weights, (list, tuple)) else None
    if weights is not None and not all(isinstance(w, (int, float)) for w in weights):
        weights = None
    if node is None:
        return RewardFuncs(line, (), None, weights, "reward_funcs (not given)")
    value = evaluate(node, env)
    if isinstance(node, ast.Name) and isinstance(value, Open):
        if value.kind in ("function", "import"):
            return RewardFuncs(line, (node.id,), 1, weights)
        node = value.node if value.node is not None else node
    if isinstance(node, (ast.List, ast.Tuple)):
        names = tuple(show(elt) for elt in node.elts)
        return RewardFuncs(line, names, len(names), weights)
    if isinstance(value, str):
        return RewardFuncs(line, (repr(value),), 1, weights)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return RewardFuncs(line, tuple(repr(v) for v in value), len(value), weights)
    if isinstance(node, ast.Lambda):
        return RewardFuncs(line, ("<lambda>",), 1, weights)
    return RewardFuncs(line, (), None, weights, f"reward_funcs (= {show(node)})")


def _link(found: list[_Found]) -> dict[int, _Found]:
    """Config call (by index) -> the trainer call given it as ``args``."""
    configs = [f for f in found if f.kind == "config"]
    links: dict[int, _Found] = {}
    for trainer in (f for f in found if f.kind == "trainer"):
        node = next((k.value for k in trainer.node.keywords if k.arg == "args"), None)
        if node is None and len(trainer.node.args) >= 3:
            node = trainer.node.args[2]
        for k, config in enumerate(configs):
            by_node = node is config.node
            by_name = isinstance(node, ast.Name) and node.id == config.target
            if (by_node or by_name) and k not in links:
                links[k] = trainer
    trainers = [f for f in found if f.kind == "trainer"]
    if not links and len(configs) == 1 and len(trainers) == 1:
        links[0] = trainers[0]
    return links


def read_module(module: ast.Module, source: str = "<text>") -> tuple[PythonConfig, ...]:
    """The configs of an already parsed module (``read_python`` without the parsing)."""
    reader = _Reader()
    env: dict[str, Any] = {}
    reader.walk(module.body, env)
    done = 0
    while done < len(reader.functions):  # function bodies see the module's final bindings
        function, outer = reader.functions[done]
        done += 1
        local = dict(outer)
        arguments = function.args
        for arg in arguments.posonlyargs + arguments.args + arguments.kwonlyargs:
            local[arg.arg] = Open(None, "a function parameter", "parameter")
        for arg in (arguments.vararg, arguments.kwarg):
            if arg is not None:
                local[arg.arg] = Open(None, "a function parameter", "parameter")
        reader.walk(function.body, local)
    imports = tuple(reader.imports)
    configs = [f for f in reader.found if f.kind == "config"]
    links = _link(reader.found)
    out = []
    for k, config in enumerate(configs):
        settings, unresolved = _settings(config.node, config.env)
        for keyword in config.node.keywords:
            if keyword.arg is not None and keyword.arg not in settings:
                value = evaluate(keyword.value, config.env)
                described = f"{keyword.arg} (= {_describe(keyword.value, value)})"
                unresolved = [
                    described if u.startswith(keyword.arg + " (") else u for u in unresolved
                ]
        trainer = links.get(k)
        rewards = None
        if trainer is not None:
            rewards = _reward_funcs(trainer.node, trainer.env, settings.get("reward_weights"))
        out.append(
            PythonConfig(
                call=config.name,
                line=config.node.lineno,
                settings=settings,
                unresolved=tuple(unresolved),
                imports=imports,
                reward_funcs=rewards,
                trainer=trainer.name if trainer is not None else None,
                source=source,
            )
        )
    return tuple(out)


def read_python(text: str, source: str = "<text>") -> tuple[PythonConfig, ...]:
    """Every ``GRPOConfig``/``RLOOConfig`` call of a Python text, in order (empty if none).

    Raises InputError (one line) when the text is not Python, or too large or deeply nested
    to read (``rlxform.parsing.parse_python``).
    """
    return read_module(parse_python(text, source), source)
