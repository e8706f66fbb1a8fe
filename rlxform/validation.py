"""Input checks shared by every public entry point.

Each check raises ``InputError`` (a ``ValueError``) whose message names the argument, the
value and what is allowed, e.g. ``group_size=0 is invalid: must be an integer in [1, 16384]``.
Checks run on concrete (host) values only; inside ``jit`` traced values pass through unchecked.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

MAX_GROUP_SIZE = 16384  # documented maximum M; accuracy is tested up to 4096
MAX_SEED = 2**32 - 1  # integer seeds in [0, 2**32 - 1]; jax.random.key(2**32) equals key(0)
_NOT_NUMBERS = (bool, np.bool_, str, bytes)


class InputError(ValueError):
    """Bad user input: the one error type every check raises (the CLI prints it, exit 2)."""


def is_real_dtype(dtype: Any) -> bool:
    """Integer or floating dtypes, the ML floats (bfloat16, float8_*) among them; not bool,
    complex, str or object."""
    dtype = np.dtype(dtype)
    return dtype.kind in "iuf" or (dtype.kind == "V" and dtype.name.startswith(("bfloat", "float")))


def _fail(name: str, value: Any, allowed: str) -> InputError:
    return InputError(f"{name}={value!r} is invalid: must be {allowed}")


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds host-visible values (not a tracer inside jit/vmap/grad).

    Never imports JAX: without ``jax`` in ``sys.modules`` nothing can be a tracer.
    """
    jax = sys.modules.get("jax")
    if jax is None:
        return True
    leaves = jax.tree_util.tree_leaves(x)
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """An integer (bool excluded) within ``[low, high]``; returns it as ``int``."""
    if low is None and high is None:
        allowed = "an integer"
    elif high is None:
        allowed = f"an integer >= {low}"
    elif low is None:
        allowed = f"an integer <= {high}"
    else:
        allowed = f"an integer in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
            value = int(value)  # 1e3 in a TOML file; 1e39 is no exact integer
        else:
            raise _fail(name, value, allowed)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise _fail(name, value, allowed)
    return value


def check_group_size(value: Any, minimum: int = 1, name: str = "group_size") -> int:
    """Group size M in ``[minimum, MAX_GROUP_SIZE]``."""
    return check_int(name, value, minimum, MAX_GROUP_SIZE)


def check_float(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    float32: bool = False,
) -> float:
    """A finite real number in the given (optionally open) interval; returns ``float``.

    Booleans, strings, complex numbers and lists or arrays (even of one element: ``[[0.1]]`` is
    not a number) are rejected; 0-d arrays of any real dtype, bfloat16 included, are numbers.
    With ``float32=True`` a nonzero value that rounds to 0 or inf in float32 (1e-50, 1e39) is
    rejected too, named as given.
    """
    lb = "(" if low_open or low is None else "["  # an infinite end is never included
    rb = ")" if high_open or high is None else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    allowed = f"a finite number in {lb}{lo}, {hi}{rb}"
    given = value
    if isinstance(value, _NOT_NUMBERS):
        raise _fail(name, value, allowed)
    if not isinstance(value, numbers.Real):
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError):  # ragged nested lists
            raise _fail(name, value, allowed) from None
        if not is_real_dtype(arr.dtype) or arr.ndim != 0:
            raise _fail(name, value, allowed)
        value = arr.astype(np.float64).item()
    value = float(value)
    if not math.isfinite(value):
        raise _fail(name, value, allowed)
    with np.errstate(over="ignore"):
        single = np.float32(value)
    if float32 and value != 0.0 and not (np.isfinite(single) and single != 0):
        raise _fail(name, given, f"{allowed} and representable in float32 (not 0 or inf)")
    if low is not None and (value < low or (low_open and value == low)):
        raise _fail(name, value, allowed)
    if high is not None and (value > high or (high_open and value == high)):
        raise _fail(name, value, allowed)
    return value


def real_array(name: str, value: Any, allowed: str = "real numbers") -> np.ndarray:
    """``value`` as a float64 array; bool, complex, str and object entries are an InputError
    (bfloat16 and the other ML floats are real numbers, like float16)."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise _fail(name, value, allowed) from None
    if not is_real_dtype(arr.dtype):
        raise _fail(name, value, f"{allowed} (not bool, complex or str)")
    return arr.astype(np.float64)


def check_unit_interval(name: str, value: Any) -> None:
    """Every entry of ``value`` real, in ``[0, 1]`` and not NaN (skipped for traced values)."""
    if not is_concrete(value):
        return
    arr = real_array(name, value, "real numbers in [0, 1]")
    bad = ~((arr >= 0.0) & (arr <= 1.0))  # NaN fails both comparisons
    if bad.any():
        first = arr[bad].flat[0] if arr.ndim else float(arr)
        raise _fail(name, float(first), "in [0, 1] (no NaN)")


def did_you_mean(value: Any, allowed: Iterable[str]) -> str:
    """``"; did you mean 'grpo'?"`` for a near-miss string (difflib), else ``""``."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, [str(a) for a in allowed], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """One of ``allowed``; the message lists them and suggests a near miss."""
    allowed = list(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise InputError(
            f"{name}={value!r} is invalid: must be one of {', '.join(map(str, allowed))}"
            + did_you_mean(value, allowed)
        )
    return value


def check_seed(name: str, value: Any) -> int:
    """An integer seed in ``[0, MAX_SEED]`` (larger ones wrap around in ``jax.random.key``)."""
    return check_int(name, value, 0, MAX_SEED)


def _loaded(name: str, value: Any, hint: Any) -> Any:
    """One mapping value checked against a (string) type hint: int, float, bool, str, tuple."""
    text = str(hint)
    kinds = {part.strip() for part in text.replace("Optional[", "").rstrip("]").split("|")}
    if isinstance(value, list):
        value = tuple(value)
    if kinds & {"Any", "typing.Any"} or not kinds & {"int", "float", "bool", "str"}:
        return value
    ok = (
        ("None" in kinds and value is None)
        or ("bool" in kinds and isinstance(value, bool))
        or ("int" in kinds and isinstance(value, int) and not isinstance(value, bool))
        or ("float" in kinds and isinstance(value, (int, float)) and not isinstance(value, bool))
        or ("str" in kinds and isinstance(value, str))
    )
    if not ok:
        names = {
            "bool": "true or false",
            "int": "an integer",
            "float": "a number",
            "str": "a string",
        }
        allowed = " or ".join(names[k] for k in sorted(kinds & set(names)))
        raise InputError(f"{name}={value!r} is invalid: must be {allowed}")
    return float(value) if kinds == {"float"} else value


class Key(NamedTuple):
    """Where one user key (a TOML key path, a CLI flag) goes in ``load_dataclass``.

    Attributes:
      field: dotted field path in the loaded class, e.g. ``"sim.problem.num_prompts"``.
      convert: ``(key, value) -> value`` from the user's form to the field's (it raises
        ``InputError`` naming ``key``); the converted value is not type-checked again.
    """

    field: str
    convert: Callable[[str, Any], Any] | None = None


class _Leaf(NamedTuple):
    value: Any


def load_dataclass(
    cls: type, mapping: Any, where: str = "", keys: Mapping[str, str | Key] | None = None
) -> Any:
    """A frozen dataclass ``cls`` from a mapping (a TOML document, CLI flags), every key checked.

    Keys name fields; a field whose type is a dataclass or a NamedTuple (``HParams``) takes a
    nested table. Missing keys keep the defaults: a nested table is applied with
    ``dataclasses.replace`` / ``_replace`` to the field's default (or built from its class when
    it has none). Lists become tuples, and a field annotated ``int`` / ``float`` / ``bool`` /
    ``str`` (or a union of them) must hold such a value (bool is not an int). The classes' own
    checks (``__post_init__``) run on construction; their ValueError is re-raised as
    ``InputError`` with every field the table maps written as its key (``num_steps=`` ->
    ``steps=``, ``--steps=``).

    Args:
      cls: a dataclass type.
      mapping: the table, e.g. ``tomllib.loads(text)`` or ``{"--steps": 10}``.
      where: prefix of the names in messages, e.g. ``"policy."`` (with ``keys=None``).
      keys: user key -> field path (or ``Key`` with a converter); dotted user keys are nested
        tables of ``mapping`` (``"policy.kind"`` is ``mapping["policy"]["kind"]``). Default:
        every field (nested ones dotted) under its own name.
    Returns:
      ``cls(**mapping)``, nested.
    Raises:
      InputError: not a table, an unknown key (named, with the allowed keys and a near miss),
        a value of the wrong type (key, value and what is allowed) or one a class rejects.
    """
    table = {k: v if isinstance(v, Key) else Key(v) for k, v in (keys or _own_keys(cls)).items()}
    if keys is None and where:
        table = {f"{where}{k}": v for k, v in table.items()}
        mapping = _nest(where.rstrip(".").split("."), mapping)
    rename = {}
    for name, key in table.items():  # a field name shared by two keys stays as it is
        leaf = key.field.rpartition(".")[2]
        rename[leaf] = name if rename.get(leaf, name) == name else None
    try:
        return _build(cls, _tree(cls, _flatten(mapping, table, ""), table), None)
    except (TypeError, ValueError) as err:  # InputError included: name the user's keys
        raise InputError(_renamed(str(err), rename)) from None


def _tree(cls: type, given: Mapping[str, Any], table: Mapping[str, Key]) -> dict[str, Any]:
    """The user's values, converted and type-checked, as a tree of field names."""
    tree: dict[str, Any] = {}
    for name, value in given.items():
        field, convert = table[name]
        if convert is not None:
            value = convert(name, value)
        else:
            value = _loaded(name, value, _hint_text(_hint(cls, field.split("."))))
        node = tree
        *parents, leaf = field.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _Leaf(value)
    return tree


def _nest(path: list[str], mapping: Any) -> Any:
    for part in reversed(path):
        mapping = {part: mapping}
    return mapping


def _own_keys(cls: type, prefix: str = "") -> dict[str, str]:
    """Every field of ``cls`` under its own (dotted, for nested classes) name."""
    out = {}
    for name in _field_names(cls):
        sub = _hint(cls, [name])
        if _field_names(sub):
            out.update(_own_keys(sub, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = f"{prefix}{name}"
    return out


def _field_names(cls: Any) -> tuple[str, ...]:
    """The init fields of a dataclass or NamedTuple type; () for anything else."""
    import dataclasses

    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls) if f.init)
    if isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return tuple(cls._fields)
    return ()


def _hint(cls: Any, path: list[str]) -> Any:
    """The type hint of a field path (the class of a nested table), or Any.

    Annotations that do not resolve (a class local to a function) fall back to the class of the
    field's default when that is a dataclass or NamedTuple.
    """
    import typing

    for name in path:
        try:
            hint = typing.get_type_hints(cls).get(name, Any)
        except Exception:  # unresolvable annotations: fall back to their text
            hint = getattr(cls, "__annotations__", {}).get(name, Any)
        if isinstance(hint, str) and _field_names(type(_default(cls, name))):
            hint = type(_default(cls, name))
        cls = hint
    return cls


def _flatten(mapping: Any, table: Mapping[str, Key], prefix: str) -> dict[str, Any]:
    """``{"policy": {"kind": x}}`` -> ``{"policy.kind": x}`` over the keys ``table`` knows."""
    if not isinstance(mapping, Mapping):
        raise InputError(f"{prefix.rstrip('.') or 'table'}={mapping!r} is invalid: must be a table")
    allowed = list(
        dict.fromkeys(k[len(prefix) :].split(".")[0] for k in table if k.startswith(prefix))
    )
    out = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if name in table:
            out[name] = value
        elif key in allowed:
            out.update(_flatten(value, table, f"{name}."))
        else:
            raise InputError(
                f"unknown key '{name}'; allowed: {', '.join(allowed)}" + did_you_mean(key, allowed)
            )
    return out


def _build(cls: type, tree: Mapping[str, Any], base: Any) -> Any:
    """``cls`` from a tree of leaves and nested tables, over ``base`` (None: from ``cls``)."""
    import dataclasses

    kwargs = {}
    for name, node in tree.items():
        if isinstance(node, _Leaf):
            kwargs[name] = node.value
            continue
        sub = _hint(cls, [name])
        default = getattr(base, name) if base is not None else _default(cls, name)
        kwargs[name] = _build(sub, node, default)
    if base is None:
        return cls(**kwargs)
    return (
        base._replace(**kwargs)
        if hasattr(base, "_replace")
        else dataclasses.replace(base, **kwargs)
    )


def _default(cls: type, name: str) -> Any:
    """The default of field ``name`` of a dataclass or NamedTuple, or None."""
    import dataclasses

    if dataclasses.is_dataclass(cls):
        field = {f.name: f for f in dataclasses.fields(cls)}.get(name)
        if field is None:
            return None
        if field.default is not dataclasses.MISSING:
            return field.default
        return None if field.default_factory is dataclasses.MISSING else field.default_factory()
    return getattr(cls, "_field_defaults", {}).get(name)


def _renamed(message: str, rename: Mapping[str, str | None]) -> str:
    """Every ``field=`` in ``message`` written as the user's ``key=`` (one pass)."""
    names = [k for k, v in rename.items() if v is not None and v != k]
    if not names:
        return message
    pattern = r"(?<![\w.\-])(" + "|".join(map(re.escape, names)) + r")="
    return re.sub(pattern, lambda m: f"{rename[m[1]]}=", message)


def _hint_text(hint: Any) -> str:
    """``int | None`` -> ``"int | None"``; classes by their name."""
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("NoneType", "None")
