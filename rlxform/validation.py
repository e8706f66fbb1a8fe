"""Input checks shared by every public entry point.

Each check raises ``InputError`` (a ``ValueError``) whose message names the argument, the
value and what is allowed, e.g. ``group_size=0 is invalid: must be an integer in [1, 16384]``.
Checks run on concrete (host) values only; inside ``jit`` traced values pass through unchecked.
"""

from __future__ import annotations

import difflib
import math
import numbers
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

MAX_GROUP_SIZE = 16384  # documented maximum M; accuracy is tested up to 4096
MAX_SEED = 2**32 - 1  # integer seeds in [0, 2**32 - 1]; jax.random.key(2**32) equals key(0)
_NOT_NUMBERS = (bool, np.bool_, str, bytes)


class InputError(ValueError):
    """Bad user input: the one error type every check raises (the CLI prints it, exit 2)."""


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
        if isinstance(value, float) and value.is_integer():
            value = int(value)
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

    Booleans, strings and complex numbers are rejected. With ``float32=True`` a nonzero value
    that rounds to 0 or inf in float32 (1e-50, 1e39) is rejected too, named as given.
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
        arr = np.asarray(value)
        if arr.dtype.kind not in "iuf" or arr.size != 1:
            raise _fail(name, value, allowed)
        value = arr.item()
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
    """``value`` as a float64 array; bool, complex, str and object entries are an InputError."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise _fail(name, value, allowed) from None
    if arr.dtype.kind not in "iuf":
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


def _loaded(where: str, key: str, value: Any, hint: Any) -> Any:
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
        raise InputError(f"{where}{key}={value!r} is invalid: must be {allowed}")
    return float(value) if kinds == {"float"} else value


def load_dataclass(cls: type, mapping: Any, where: str) -> Any:
    """A frozen dataclass ``cls`` from a mapping (a TOML table), every key checked.

    Keys are the dataclass's fields; missing keys take the defaults, lists become tuples and a
    field annotated ``int`` / ``float`` / ``bool`` / ``str`` (or a union of them) must hold such
    a value (bool is not an int). The dataclass's own checks (``__post_init__``) run on
    construction; their ValueError is re-raised as ``InputError`` prefixed by ``where``.

    Args:
      cls: a dataclass type.
      mapping: the table, e.g. ``tomllib.loads(text)["problem"]``.
      where: where the table is, for messages, e.g. ``"policy."`` or ``"[problem] "``.
    Returns:
      ``cls(**mapping)``.
    Raises:
      InputError: not a table, an unknown key (named, with the allowed keys and a near miss),
        a value of the wrong type (key, value and what is allowed) or one ``cls`` rejects.
    """
    import dataclasses
    import typing

    if not isinstance(mapping, Mapping):
        raise InputError(f"{where.rstrip('.') or 'table'}={mapping!r} is invalid: must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations: fall back to their text
        hints = {name: f.type for name, f in fields.items()}
    kwargs = {}
    for key, value in mapping.items():
        if key not in fields:
            raise InputError(
                f"unknown key '{where}{key}'; allowed: {', '.join(fields)}"
                + did_you_mean(key, fields)
            )
        kwargs[key] = _loaded(where, key, value, _hint_text(hints.get(key, Any)))
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:  # InputError included: prefix the table
        raise InputError(f"{where}{err}") from None


def _hint_text(hint: Any) -> str:
    """``int | None`` -> ``"int | None"``; classes by their name."""
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("NoneType", "None")
