"""Results on disk: atomic writes, tidy CSV tables and JSON metadata (chunks: ``rlxform.chunks``).

Every file is written atomically (temporary file in the same directory, fsync, ``os.replace``),
so a crash leaves either the old file or the new one, never a partial file under the final
name. Tables have one row per (configuration, seed or aggregate, step); floats are written with
``repr`` so they reload bitwise identical (NaN, inf and -0.0 included). Nothing is pickled:
metadata is JSON carrying the config, versions, git revision and device, so loading results
written by another rlxform version warns and names both versions.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import enum
import hashlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

PathLike = str | os.PathLike
_TMP_SUFFIX = ".tmp"
# Temporary files are named ``.<name>.pid<PID>-<host>.<random>.tmp`` so a later run can tell a
# stale one (its writer on this host is gone) from one another process is still writing.
_TMP_OWNER = re.compile(r"\.pid(\d+)-([A-Za-z0-9-]*)\.[^.]+\.tmp\Z")
_INT_TOKEN = re.compile(r"[+-]?\d+\Z")
_FLOAT_TOKEN = re.compile(
    r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|nan|inf|infinity)\Z", re.IGNORECASE
)


# --------------------------------------------------------------------------- atomic writes


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix.

    The bytes go to a temporary file ``.<name>.<random>.tmp`` in the same directory, which is
    flushed, fsynced and then renamed over ``path`` with ``os.replace`` (atomic on POSIX and
    Windows). On any failure the temporary file is removed and ``path`` is untouched.

    Args:
      path: destination file; its directory must exist.
      data: the full new contents.

    Returns:
      None.
    """
    path = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(path)
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        mode = 0o644
    try:
        prefix = f".{base}.{_owner_tag()}."
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=_TMP_SUFFIX)
    except OSError as err:  # name the file, not its temp
        raise OSError(err.errno, err.strerror, path) from err
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.errno is not None:  # name the file, not its temp
            raise OSError(err.errno, err.strerror, path) from err
        raise
    _fsync_directory(directory)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())


def _owner_tag() -> str:
    return f"pid{os.getpid()}-{_host()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: a process of another user holds the pid
        return True
    return True


def remove_stale_temps(directory: PathLike) -> list[Path]:
    """Delete the temporary files in ``directory`` whose writer, on this host, has exited.

    Files of live processes, of other hosts and of other programs are never touched.

    Args:
      directory: a results or chunk directory.

    Returns:
      the paths removed.
    """
    removed = []
    for path in Path(directory).glob(f".*{_TMP_SUFFIX}"):
        owner = _TMP_OWNER.search(path.name)
        if owner is None or owner[2] != _host() or _alive(int(owner[1])):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> None:
    """``atomic_write_bytes(path, text.encode(encoding))``.

    Args:
      path: destination file; its directory must exist.
      text: the full new contents.
      encoding: text encoding.

    Returns:
      None.
    """
    atomic_write_bytes(path, text.encode(encoding))


def _fsync_directory(directory: str) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_writable(directory: PathLike, name: str = "out") -> Path:
    """Create ``directory`` if needed and check a file can be written there.

    Args:
      directory: the output directory.
      name: the argument name used in the error message (e.g. ``"out"`` for ``--out``).

    Returns:
      ``Path(directory)``.

    Raises:
      ValueError: ``out='/x' is invalid: must be a writable directory (<reason>)``.
    """
    text = os.fspath(directory)

    def fail(reason: str) -> ValueError:
        return ValueError(f"{name}={text!r} is invalid: must be a writable directory ({reason})")

    if not text:
        raise fail("empty path")
    if os.path.exists(text) and not os.path.isdir(text):
        raise fail("it exists and is not a directory")
    try:
        os.makedirs(text, exist_ok=True)
    except OSError as err:
        raise fail(f"cannot create it: {err.strerror or err}") from None
    try:
        fd, probe = tempfile.mkstemp(
            dir=text, prefix=f".rlxform-probe.{_owner_tag()}.", suffix=_TMP_SUFFIX
        )
        with os.fdopen(fd, "wb") as f:
            f.write(b"ok")
        os.unlink(probe)
    except OSError as err:
        raise fail(f"cannot write to it: {err.strerror or err}") from None
    return Path(text)


# --------------------------------------------------------------------------- tables


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
                raise ValueError(f"rows[{i}] lacks column(s) {absent}; every row needs every key")
        cols = {k: np.asarray([row[k] for row in rows]) for k in names}
    for key, col in cols.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"column name {key!r} is invalid: must be a non-empty string")
        if col.ndim != 1:
            raise ValueError(f"column {key!r} has shape {col.shape}; columns must be 1-D")
    lengths = {k: len(v) for k, v in cols.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns have different lengths: {lengths}")
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
    raise ValueError(
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
            raise ValueError(f"columns={list(columns)!r} is invalid: {unknown} not in the table")
        cols = {c: cols[c] for c in columns}
    formatted = [_format_column(k, v) for k, v in cols.items()]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(cols))
    writer.writerows(zip(*formatted, strict=True))
    atomic_write_text(path, buf.getvalue())


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
            raise ValueError(f"{os.fspath(path)!r} is empty: expected a CSV header row") from None
        rows = list(reader)
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(
                f"{os.fspath(path)!r} row {i + 1} has {len(row)} fields, header has {len(header)}"
            )
    return {name: _parse_column([row[j] for row in rows]) for j, name in enumerate(header)}


# --------------------------------------------------------------------------- metadata


def to_jsonable(value: Any, where: str = "config") -> Any:
    """Convert a config (dicts, dataclasses, NamedTuples, arrays, paths) to plain JSON data.

    Args:
      value: the object to convert.
      where: its name, used in the error message.

    Returns:
      Nested dicts / lists / str / int / float / bool / None.

    Raises:
      TypeError: for objects with no faithful JSON form (naming where they sit).
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, where)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {k: to_jsonable(v, f"{where}.{k}") for k, v in fields.items()}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: to_jsonable(v, f"{where}.{k}") for k, v in value._asdict().items()}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted(to_jsonable(v, where) for v in value)
    if hasattr(value, "__array__"):
        arr = np.asarray(value)
        if arr.dtype.kind in "biufU":
            return arr.tolist()
    raise TypeError(f"{where} holds {type(value).__name__} {value!r}, which has no JSON form")


def config_hash(config: Any) -> str:
    """sha256 hex digest of the canonical JSON of ``config`` (sorted keys, no spaces).

    Args:
      config: anything ``to_jsonable`` accepts.

    Returns:
      64 hex characters.
    """
    text = json.dumps(to_jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _rlxform_version() -> str:
    import rlxform  # late import: rlxform/__init__ may import this module

    return str(rlxform.__version__)


def git_revision() -> str | None:
    """The code revision that runs, or None when it cannot be known; never raises.

    1. This package file is tracked by git: ``git rev-parse HEAD`` of that checkout.
    2. Installed from a VCS URL (``pip install git+...``): the commit pip recorded in the
       distribution's ``direct_url.json`` (PEP 610).
    3. Otherwise (e.g. a non-editable ``pip install .`` from a checkout, which records only the
       directory): None. ``metadata`` then writes ``"unknown"``; a checkout's HEAD read later
       could differ from the code that was installed.

    Returns:
      40 hex characters, or None.
    """
    package_dir = os.path.dirname(os.path.abspath(__file__))
    try:
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", "__init__.py"],
            cwd=package_dir,
            check=False,
            capture_output=True,
            timeout=10,
        )
        if tracked.returncode == 0:
            head = subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=package_dir,
                check=False,
                capture_output=True,
                text=True,
                timeout=10,
            )
            revision = head.stdout.strip()
            if head.returncode == 0 and revision:
                return revision
    except Exception:
        pass
    return installed_commit()


def installed_commit(direct_url: str | None = None) -> str | None:
    """The VCS commit in PEP 610 ``direct_url.json`` (of the installed rlxform by default).

    Args:
      direct_url: the JSON text to read instead of the installed distribution's file.
    Returns:
      ``vcs_info.commit_id``, or None (not installed, installed from a directory or archive,
      unreadable); never raises.
    """
    try:
        if direct_url is None:
            from importlib import metadata as importlib_metadata

            direct_url = importlib_metadata.distribution("rlxform").read_text("direct_url.json")
        info = json.loads(direct_url or "null")
        commit = info["vcs_info"]["commit_id"]
    except Exception:
        return None
    return commit if isinstance(commit, str) and commit else None


def _device() -> tuple[str | None, str | None]:
    try:
        import jax

        device = jax.devices()[0]
        return str(device.device_kind), str(device.platform)
    except Exception:
        return None, None


def metadata(config: Any, **extra: Any) -> dict[str, Any]:
    """What produced a result: config, versions, git revision, device, time.

    Args:
      config: the full run configuration (dict, dataclass or NamedTuple; JSON-convertible).
      **extra: further JSON-convertible entries, e.g. ``wall_time_s=12.3``.

    Returns:
      dict with keys ``config``, ``config_hash``, ``rlxform_version``, ``jax_version``,
      ``numpy_version``, ``python_version``, ``git_revision`` (40 hex characters or
      ``"unknown"``, see ``git_revision``), ``device_kind``, ``platform``,
      ``timestamp`` (UTC ISO 8601), then ``extra``.
    """
    try:
        import jax

        jax_version: str | None = jax.__version__
    except Exception:
        jax_version = None
    device_kind, platform = _device()
    meta = {
        "config": to_jsonable(config),
        "config_hash": config_hash(config),
        "rlxform_version": _rlxform_version(),
        "jax_version": jax_version,
        "numpy_version": np.__version__,
        "python_version": sys.version.split()[0],
        "git_revision": git_revision() or "unknown",
        "device_kind": device_kind,
        "platform": platform,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }
    meta.update({k: to_jsonable(v, k) for k, v in extra.items()})
    return meta


def write_metadata(path: PathLike, meta: Mapping[str, Any]) -> None:
    """Write metadata as indented JSON, atomically.

    Args:
      path: destination ``.json`` file.
      meta: usually ``metadata(config, ...)``.

    Returns:
      None.
    """
    atomic_write_text(path, json.dumps(to_jsonable(meta, "meta"), indent=2, sort_keys=True) + "\n")


def _warn_version(path: PathLike, written_by: Any, stacklevel: int) -> None:
    current = _rlxform_version()
    if written_by != current:
        shown = "an unknown version" if written_by is None else f"version {written_by}"
        warnings.warn(
            f"{os.fspath(path)!r} was written by rlxform {shown}; this is rlxform version "
            f"{current}; results may not match",
            stacklevel=stacklevel + 1,
        )


def read_metadata(path: PathLike) -> dict[str, Any]:
    """Read metadata JSON; warns when another rlxform version wrote it.

    Args:
      path: a file written by ``write_metadata``.

    Returns:
      the metadata dict.
    """
    with open(path, encoding="utf-8") as f:
        meta = json.load(f)
    _warn_version(path, meta.get("rlxform_version"), stacklevel=2)
    return meta


# --------------------------------------------------------------------------- experiment outputs

Table = dict[str, np.ndarray]
Progress = Callable[[int, int], None] | None  # progress(done, total) inside long experiments


class Result(NamedTuple):
    """What an experiment wrote: its table(s), file paths and wall time in seconds."""

    table: Table
    paths: dict[str, Path]
    wall_time_s: float


def report_progress(progress: Progress, done: int, total: int) -> None:
    """Call ``progress(done, total)`` unless ``progress`` is None."""
    if progress is not None:
        progress(done, total)


FIGURE_FORMATS = ("png", "pdf", "svg")


class FigureFormat(NamedTuple):
    """How figures are written: ``format`` one of png, pdf, svg; ``dpi`` for raster output."""

    format: str = "png"
    dpi: int = 120


def check_figure_format(fmt: Any, dpi: Any, names: tuple[str, str] = ("format", "dpi")):
    """Validated ``FigureFormat``; ValueError naming the option (``names``) otherwise."""
    if fmt not in FIGURE_FORMATS:
        allowed = ", ".join(FIGURE_FORMATS)
        raise ValueError(f"{names[0]}={fmt!r} is invalid: must be one of {allowed}")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 10 <= dpi <= 2400:
        raise ValueError(f"{names[1]}={dpi!r} is invalid: must be an integer in [10, 2400]")
    return FigureFormat(fmt, dpi)


def save_figure(fig: Any, path: PathLike, figure: FigureFormat | None = None) -> None:
    """Write a matplotlib Figure to ``path`` atomically in ``figure``'s format and dpi."""
    figure = FigureFormat() if figure is None else figure
    buf = io.BytesIO()
    fig.savefig(buf, format=figure.format, dpi=figure.dpi)
    atomic_write_bytes(path, buf.getvalue())


def save_png(fig: Any, path: PathLike) -> None:
    """Write a matplotlib Figure ``fig`` to ``path`` as a 120 dpi PNG, atomically."""
    save_figure(fig, path, FigureFormat("png", 120))


def save_result(
    name: str,
    config: Any,
    table: Table,
    fig: Any,
    out_dir: PathLike,
    start: float,
    figure: FigureFormat | None = None,
    **extra: Any,
) -> Result:
    """Write an experiment's ``<name>.csv``, ``<name>.<format>`` and ``<name>.json``.

    Args:
      name: experiment name, the files' stem and the metadata's ``experiment``.
      config: the experiment's config (frozen dataclass), stored in the metadata.
      table: tidy table for ``write_table``.
      fig: matplotlib Figure for ``save_figure``.
      out_dir: output directory (created; must be writable).
      start: ``time.perf_counter()`` at the experiment's start; wall time is measured from it.
      figure: figure format and dpi (default PNG at 120 dpi).
      **extra: further metadata fields.

    Returns:
      ``Result(table, paths, wall_time_s)`` with paths keyed ``csv``, ``json``, ``figure`` and
      the figure's format (``png``, ``pdf`` or ``svg``).
    """
    figure = FigureFormat() if figure is None else figure
    out_dir = check_writable(out_dir, name="out")
    paths = {
        "csv": out_dir / f"{name}.csv",
        figure.format: out_dir / f"{name}.{figure.format}",
        "json": out_dir / f"{name}.json",
    }
    paths["figure"] = paths[figure.format]
    write_table(paths["csv"], table)
    save_figure(fig, paths["figure"], figure)
    wall = time.perf_counter() - start
    write_metadata(paths["json"], metadata(config, experiment=name, wall_time_s=wall, **extra))
    remove_stale_temps(out_dir)  # leftovers of a killed earlier run never outlive this one
    return Result(table, paths, wall)
