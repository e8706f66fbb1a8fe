"""Results on disk: tidy CSV tables, JSON metadata, and a checksummed chunk store for sweeps.

Every file is written atomically (temporary file in the same directory, fsync, ``os.replace``),
so a crash leaves either the old file or the new one, never a partial file under the final
name. Tables have one row per (configuration, seed or aggregate, step); floats are written with
``repr`` so they reload bitwise identical (NaN, inf and -0.0 included). Nothing is pickled:
chunks are ``.npz`` files read with ``allow_pickle=False`` after their sha256 is checked, and
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
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PathLike = str | os.PathLike
_TMP_SUFFIX = ".tmp"
_MANIFEST = "manifest.json"
_CHUNK_FORMAT = "rlxform-chunks-1"
_CHUNK_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
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
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{base}.", suffix=_TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


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
        fd, probe = tempfile.mkstemp(dir=text, prefix=".rlxform-probe-", suffix=_TMP_SUFFIX)
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
    """``git rev-parse HEAD`` of the checkout holding this package, or None; never raises.

    Returns:
      40 hex characters, or None when the package is not tracked by git or git is missing.
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
        if tracked.returncode != 0:
            return None
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=package_dir,
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except Exception:
        return None
    revision = head.stdout.strip()
    return revision if head.returncode == 0 and revision else None


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
      ``numpy_version``, ``python_version``, ``git_revision``, ``device_kind``, ``platform``,
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
        "git_revision": git_revision(),
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


# --------------------------------------------------------------------------- chunk store


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """``np.savez`` to bytes, but deterministic (fixed zip timestamps) and never pickling."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, arr, allow_pickle=False)
    return buf.getvalue()


class ChunkStore:
    """A directory of checksummed ``.npz`` chunks for one sweep config, so sweeps can resume.

    Layout: ``manifest.json`` (format, config, config hash, rlxform version), and per chunk
    ``<id>.npz`` plus ``<id>.json`` (sha256, byte count, array names/dtypes/shapes). The sidecar
    is written after the ``.npz``, so it marks the chunk complete; a chunk whose bytes do not
    match its sidecar is deleted and reported missing. One writer per directory.
    """

    def __init__(self, directory: PathLike, config: Any) -> None:
        """Open or create the store.

        Args:
          directory: where chunks live; created if needed.
          config: the sweep config (JSON-convertible); must match any existing manifest.

        Raises:
          ValueError: the directory is not writable, or holds chunks for a different config.
        """
        self.directory = check_writable(directory, name="directory")
        self.config_hash = config_hash(config)
        manifest_path = self.directory / _MANIFEST
        if manifest_path.exists():
            try:
                manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
                found = manifest["config_hash"]
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise ValueError(
                    f"directory={str(self.directory)!r} is invalid: its {_MANIFEST} is "
                    f"unreadable ({err}); use a fresh directory"
                ) from None
            if found != self.config_hash:
                raise ValueError(
                    f"directory={str(self.directory)!r} is invalid: it holds a sweep for a "
                    f"different config (hash {found[:12]}, this config {self.config_hash[:12]}); "
                    "use a fresh directory or the same config"
                )
            _warn_version(manifest_path, manifest.get("rlxform_version"), stacklevel=2)
        else:
            manifest = {
                "format": _CHUNK_FORMAT,
                "config_hash": self.config_hash,
                "config": to_jsonable(config),
                "rlxform_version": _rlxform_version(),
            }
            atomic_write_text(manifest_path, json.dumps(manifest, indent=2, sort_keys=True))
        for leftover in self.directory.glob(f".*{_TMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def _paths(self, chunk_id: str | int) -> tuple[Path, Path]:
        key = str(chunk_id)
        if not _CHUNK_ID.match(key) or key == _MANIFEST.removesuffix(".json"):
            raise ValueError(
                f"chunk_id={chunk_id!r} is invalid: must be an int or a string of letters, "
                "digits, '_', '.', '-' not starting with '.' or '-' (and not 'manifest')"
            )
        return self.directory / f"{key}.npz", self.directory / f"{key}.json"

    def _read_valid(self, chunk_id: str | int) -> dict[str, np.ndarray] | None:
        """The chunk's arrays if complete and intact; otherwise delete its files, return None."""
        data_path, side_path = self._paths(chunk_id)
        try:
            side = json.loads(side_path.read_text(encoding="utf-8"))
            data = data_path.read_bytes()
            if len(data) != side["nbytes"] or hashlib.sha256(data).hexdigest() != side["sha256"]:
                raise ValueError("checksum mismatch")
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            expected = {k: (v["dtype"], list(v["shape"])) for k, v in side["arrays"].items()}
            found = {k: (v.dtype.str, list(v.shape)) for k, v in arrays.items()}
            if found != expected:
                raise ValueError("contents differ from sidecar")
            return arrays
        except FileNotFoundError:
            if side_path.exists() or data_path.exists():
                self._discard(data_path, side_path)
            return None
        except Exception:
            self._discard(data_path, side_path)
            return None

    @staticmethod
    def _discard(*paths: Path) -> None:
        for path in paths:
            with contextlib.suppress(OSError):
                path.unlink()

    def has(self, chunk_id: str | int) -> bool:
        """True only for a complete chunk whose checksum and contents verify.

        Args:
          chunk_id: an int or a file-name-safe string.

        Returns:
          whether ``load(chunk_id)`` will succeed. Corrupt or partial chunks are deleted.
        """
        return self._read_valid(chunk_id) is not None

    def save(self, chunk_id: str | int, arrays: Mapping[str, Any]) -> None:
        """Store arrays under ``chunk_id`` atomically (replacing any previous chunk).

        Args:
          chunk_id: an int or a file-name-safe string.
          arrays: dict name -> array of bool / int / float / complex / str (no objects).

        Returns:
          None.
        """
        data_path, side_path = self._paths(chunk_id)
        host = {}
        for name, value in arrays.items():
            arr = np.asarray(value)
            if not isinstance(name, str) or not name:
                raise ValueError(f"array name {name!r} is invalid: must be a non-empty string")
            if arr.dtype.kind not in "biufcU":
                raise ValueError(f"arrays[{name!r}] has dtype {arr.dtype}; objects are not stored")
            host[name] = arr
        data = _npz_bytes(host)
        side = {
            "chunk_id": str(chunk_id),
            "sha256": hashlib.sha256(data).hexdigest(),
            "nbytes": len(data),
            "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in host.items()},
        }
        with contextlib.suppress(OSError):
            side_path.unlink()  # the chunk is incomplete until the new sidecar lands
        atomic_write_bytes(data_path, data)
        atomic_write_text(side_path, json.dumps(side, indent=1, sort_keys=True))

    def load(self, chunk_id: str | int) -> dict[str, np.ndarray]:
        """The arrays saved under ``chunk_id``, after verifying the checksum.

        Args:
          chunk_id: an int or a file-name-safe string.

        Returns:
          dict name -> array.

        Raises:
          KeyError: the chunk is missing, partial or corrupt (and has been deleted).
        """
        arrays = self._read_valid(chunk_id)
        if arrays is None:
            raise KeyError(f"chunk {chunk_id!r} is missing or corrupt in {str(self.directory)!r}")
        return arrays

    def missing(self, chunk_ids: Iterable[str | int]) -> list[str | int]:
        """The ids among ``chunk_ids`` without a complete, valid chunk, in the given order.

        Args:
          chunk_ids: ids to check.

        Returns:
          list of the ids still to compute.
        """
        return [c for c in chunk_ids if not self.has(c)]

    def load_all(self, chunk_ids: Iterable[str | int]) -> dict[str, np.ndarray]:
        """Load chunks and concatenate each array along axis 0, in the order of ``chunk_ids``.

        Args:
          chunk_ids: ids of chunks that all hold the same array names, each at least 1-D.

        Returns:
          dict name -> concatenated array.

        Raises:
          KeyError: some chunks are missing or corrupt (all are named).
          ValueError: chunks hold different array names.
        """
        ids = list(chunk_ids)
        loaded = [(c, self._read_valid(c)) for c in ids]
        absent = [c for c, arrays in loaded if arrays is None]
        if absent:
            raise KeyError(f"chunks {absent} are missing or corrupt in {str(self.directory)!r}")
        if not loaded:
            return {}
        names = list(loaded[0][1])
        for c, arrays in loaded:
            if sorted(arrays) != sorted(names):
                raise ValueError(f"chunk {c!r} holds {sorted(arrays)}, expected {sorted(names)}")
        return {name: np.concatenate([arrays[name] for _, arrays in loaded]) for name in names}
