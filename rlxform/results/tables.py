"""Tidy CSV tables: one row per (configuration, seed or aggregate, step), written atomically.

Floats are written with ``repr`` so they reload bitwise identical (NaN, inf and -0.0 included);
column types are inferred on reading (int64, bool, float64 or str).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rlxform.results.atomic import PathLike, atomic_write_parts
from rlxform.validation import InputError

_INT_TOKEN = re.compile(r"[+-]?\d+\Z")
_FLOAT_TOKEN = re.compile(
    r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|nan|inf|infinity)\Z", re.IGNORECASE
)


def _as_columns(
    rows_or_columns: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> dict[str, np.ndarray]:
    if isinstance(rows_or_columns, Mapping):
        cols = {k: np.asarray(v) for k, v in rows_or_columns.items()}
    else:
        rows = list(rows_or_columns)
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        for i, row in enumerate(rows):
            absent = [k for k in names if k not in row]
            if absent:
                raise InputError(f"rows[{i}] lacks column(s) {absent}; every row needs every key")
        cols = {k: np.asarray([row[k] for row in rows]) for k in names}
    for key, col in cols.items():
        if not isinstance(key, str) or not key:
            raise InputError(f"column name {key!r} is invalid: must be a non-empty string")
        if col.ndim != 1:
            raise InputError(f"column {key!r} has shape {col.shape}; columns must be 1-D")
    lengths = {k: len(v) for k, v in cols.items()}
    if len(set(lengths.values())) > 1:
        raise InputError(f"columns have different lengths: {lengths}")
    return cols


def _format_column(key: str, col: np.ndarray) -> list[str]:
    kind = col.dtype.kind
    if kind == "f":
        return [repr(v) for v in col.tolist()]  # Python float repr: shortest exact round trip
    if kind in "iu":
        return [str(v) for v in col.tolist()]
    if kind == "b":
        return ["True" if v else "False" for v in col.tolist()]
    if kind == "U":
        return col.tolist()
    if kind == "O" and all(isinstance(v, str) for v in col.tolist()):
        return col.tolist()
    raise InputError(
        f"column {key!r} has dtype {col.dtype}; allowed: float, int, bool or str columns"
    )


def write_table(
    path: PathLike,
    rows_or_columns: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
) -> None:
    """Write a tidy CSV table atomically.

    Floats are written as ``repr(float(x))`` (float32 values are widened exactly), so
    ``read_table`` returns float64 columns bitwise equal to float64 input.

    Args:
      path: destination ``.csv`` file.
      rows_or_columns: a dict of equal-length 1-D arrays (column name -> values), or a list of
        dict rows that all have the same keys.
      columns: optional column names to write, in this order (default: all, in input order).

    Returns:
      None.
    """
    cols = _as_columns(rows_or_columns)
    if columns is not None:
        unknown = [c for c in columns if c not in cols]
        if unknown:
            raise InputError(f"columns={list(columns)!r} is invalid: {unknown} not in the table")
        cols = {c: cols[c] for c in columns}
    for key, col in cols.items():
        _format_column(key, col[:1])  # every column's type checked before anything is written
    atomic_write_parts(path, _csv_blocks(cols))


_BLOCK_ROWS = 65536  # rows formatted at a time: memory stays bounded for any table length


def _csv_blocks(cols: Mapping[str, np.ndarray]):
    """The CSV text of ``cols`` (header first) as UTF-8 blocks of ``_BLOCK_ROWS`` rows."""
    rows = len(next(iter(cols.values()))) if cols else 0
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(cols))
    for start in range(0, rows, _BLOCK_ROWS):
        block = [_format_column(k, v[start : start + _BLOCK_ROWS]) for k, v in cols.items()]
        writer.writerows(zip(*block, strict=True))
        yield buf.getvalue().encode("utf-8")
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue().encode("utf-8")


def _parse_column(tokens: list[str]) -> np.ndarray:
    if not tokens:
        return np.zeros(0, dtype=np.float64)
    if all(_INT_TOKEN.match(t) for t in tokens):
        return np.array([int(t) for t in tokens], dtype=np.int64)
    if all(t in ("True", "False") for t in tokens):
        return np.array([t == "True" for t in tokens], dtype=bool)
    if all(_FLOAT_TOKEN.match(t) for t in tokens):
        return np.array([float(t) for t in tokens], dtype=np.float64)
    return np.array(tokens, dtype=str)


def read_table(path: PathLike) -> dict[str, np.ndarray]:
    """Read a CSV table written by ``write_table``.

    Column types are inferred from the text: all integers -> int64, all ``True``/``False`` ->
    bool, all floats (incl. ``nan``, ``inf``) -> float64, otherwise str. An empty table gives
    empty float64 columns.

    Args:
      path: a ``.csv`` file with a header row.

    Returns:
      dict column name -> 1-D array, in file order.
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{os.fspath(path)!r} is empty: expected a CSV header row") from None
        rows = list(reader)
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise InputError(
                f"{os.fspath(path)!r} row {i + 1} has {len(row)} fields, header has {len(header)}"
            )
    return {name: _parse_column([row[j] for row in rows]) for j, name in enumerate(header)}
