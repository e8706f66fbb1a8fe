"""Checksummed chunk store: resumable sweeps that lose nothing and never read a foreign chunk.

A sweep is cut into chunks; each chunk is an ``.npz`` (written atomically, never pickled) plus a
JSON sidecar written after it, holding the chunk's sha256, its own chunk id and the config hash
of its sweep, so a chunk is used only by the sweep and the id that wrote it: a chunk whose bytes
do not match, that was copied from another sweep or renamed/swapped on disk reads as missing and
is recomputed (and overwritten), never read. The directory's manifest pins the sweep config (by
hash) and, for a bound store, the PRNG and devices (``results.binding``: another PRNG is refused,
other devices are said); it is created exclusively (a hard link of a complete file), so of two
runs with different configs exactly one proceeds. Writers hold an exclusive ``flock`` on the
manifest while they replace a chunk and readers a shared one, so runs of the same config may
share a directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from rlxform.results.atomic import (
    _TMP_SUFFIX,
    PathLike,
    _owner_tag,
    atomic_write_bytes,
    atomic_write_text,
    check_writable,
    remove_stale_temps,
)
from rlxform.results.binding import check_resume
from rlxform.results.metadata import _rlxform_version, _warn_version, config_hash, to_jsonable

_MANIFEST = "manifest.json"
_CHUNK_FORMAT = "rlxform-chunks-2"  # 2: the manifest and sidecars hold the PRNG and devices
_MAX_SIDECAR = 2**20  # bytes of a chunk's sidecar (its own writes hold a few KB)
_MAX_MANIFEST = 2**28  # the manifest holds the config (200,000 learning rates: ~4 MB)
_CHUNK_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")


def _create_exclusive(path: Path, text: str) -> bool:
    """Create ``path`` holding ``text`` unless it exists; True if this call created it.

    The full contents are written to a temporary file first and hard-linked into place, so the
    file appears complete or not at all, and of concurrent callers exactly one succeeds.
    """
    tmp = path.with_name(f".{path.name}.{_owner_tag()}.new{_TMP_SUFFIX}")
    tmp.write_bytes(text.encode("utf-8"))
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # a filesystem without hard links: exclusive create, then write
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        return True
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


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

    Layout: ``manifest.json`` (format, config, config hash, rlxform version, and the binding:
    PRNG and devices), and per chunk ``<id>.npz`` plus ``<id>.json`` (sha256, byte count, chunk
    id, config hash, the binding that computed it, array names/dtypes/shapes). Checking or
    loading a chunk never deletes anything; a chunk that does not verify (or was drawn with
    another PRNG) is reported missing and replaced by the next ``save``. Temporary files are
    deleted only by their writer, or at open when their writer (on this host) has exited.
    """

    def __init__(
        self,
        directory: PathLike,
        config: Any,
        binding: Mapping[str, Any] | None = None,
        strict_devices: bool = False,
    ) -> None:
        """Open or create the store.

        Args:
          directory: where chunks live; created if needed.
          config: the sweep config (JSON-convertible); must match any existing manifest.
          binding: ``{"prng": name, "devices": {...}}`` of this run
            (``rlxform.runtime.run_binding()``); None for an unbound store (no PRNG involved).
          strict_devices: refuse to resume a directory started on other devices.

        Raises:
          ValueError: the directory is not writable, holds chunks for a different config or
            another PRNG (or, with ``strict_devices``, from other devices).
        """
        self.directory = check_writable(directory, name="directory")
        self.config_hash = config_hash(config)
        self.binding = None if binding is None else to_jsonable(binding, "binding")
        self._manifest = self.directory / _MANIFEST
        manifest = {
            "format": _CHUNK_FORMAT,
            "config_hash": self.config_hash,
            "config": to_jsonable(config),
            "rlxform_version": _rlxform_version(),
            **(self.binding or {}),
        }
        if not _create_exclusive(self._manifest, json.dumps(manifest, indent=2, sort_keys=True)):
            self._check_manifest(strict_devices)
        with self._locked(exclusive=True):
            remove_stale_temps(self.directory)

    def _check_manifest(self, strict_devices: bool) -> None:
        try:
            with open(self._manifest, "rb") as f:
                text = f.read(_MAX_MANIFEST + 1)
            if len(text) > _MAX_MANIFEST:
                raise ValueError(f"more than {_MAX_MANIFEST:,} bytes")
            manifest = json.loads(text.decode("utf-8"))
            found = manifest["config_hash"]
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as err:
            raise ValueError(
                f"directory={str(self.directory)!r} is invalid: its {_MANIFEST} is "
                f"unreadable ({err}); use a fresh directory"
            ) from None
        if found != self.config_hash:
            raise ValueError(
                f"directory={str(self.directory)!r} is invalid: it holds a sweep for a "
                f"different config (hash {str(found)[:12]}, this config {self.config_hash[:12]}); "
                "use a fresh directory or the same config"
            )
        if self.binding is not None:
            where = f"directory={str(self.directory)!r}"
            check_resume(where, manifest, self.binding, strict_devices)
        _warn_version(self._manifest, manifest.get("rlxform_version"), stacklevel=3)

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        """Hold ``flock`` on the manifest (exclusive for writers, shared for readers)."""
        if fcntl is None:  # no advisory locks on this platform: one writer per directory
            yield
            return
        try:
            fd = os.open(self._manifest, os.O_RDONLY)
        except FileNotFoundError:
            raise ValueError(
                f"directory={str(self.directory)!r} is invalid: its {_MANIFEST} was removed "
                "while the sweep ran; rerun the command"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _paths(self, chunk_id: str | int) -> tuple[Path, Path]:
        key = str(chunk_id)
        if not _CHUNK_ID.match(key) or key == _MANIFEST.removesuffix(".json"):
            raise ValueError(
                f"chunk_id={chunk_id!r} is invalid: must be an int or a string of letters, "
                "digits, '_', '.', '-' not starting with '.' or '-' (and not 'manifest')"
            )
        return self.directory / f"{key}.npz", self.directory / f"{key}.json"

    def _read_valid(self, chunk_id: str | int) -> dict[str, np.ndarray] | None:
        """The chunk's arrays if complete, intact and written for this sweep and id, else None."""
        data_path, side_path = self._paths(chunk_id)
        try:
            side = self._sidecar(side_path)
            if side["config_hash"] != self.config_hash or side["chunk_id"] != str(chunk_id):
                return None  # copied in from another sweep, or renamed / swapped on disk
            if self.binding is not None and side.get("prng") != self.binding["prng"]:
                return None  # drawn with another PRNG: other numbers, never mixed in
            data = data_path.read_bytes()
            if len(data) != side["nbytes"] or hashlib.sha256(data).hexdigest() != side["sha256"]:
                return None
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            expected = {k: (v["dtype"], list(v["shape"])) for k, v in side["arrays"].items()}
            found = {k: (v.dtype.str, list(v.shape)) for k, v in arrays.items()}
            return arrays if found == expected else None
        except Exception:  # missing, partial or corrupt: recompute, never read
            return None

    @staticmethod
    def _sidecar(path: Path) -> dict[str, Any]:
        with open(path, "rb") as f:
            data = f.read(_MAX_SIDECAR + 1)
        if len(data) > _MAX_SIDECAR:
            raise ValueError(f"{path} holds more than {_MAX_SIDECAR:,} bytes")
        return json.loads(data.decode("utf-8"))

    def bindings(self, chunk_ids: Iterable[str | int]) -> list[dict[str, Any]]:
        """The ``{"prng", "devices"}`` each chunk was computed with (its sidecar), in order.

        Unreadable sidecars give ``{}``; call after the chunks verified (``load_all``)."""
        out = []
        for chunk_id in chunk_ids:
            try:
                side = self._sidecar(self._paths(chunk_id)[1])
                out.append({k: side[k] for k in ("prng", "devices") if k in side})
            except Exception:
                out.append({})
        return out

    def has(self, chunk_id: str | int) -> bool:
        """True only for a complete chunk whose checksum and contents verify.

        Args:
          chunk_id: an int or a file-name-safe string.

        Returns:
          whether ``load(chunk_id)`` will succeed. Nothing is deleted.
        """
        with self._locked(exclusive=False):
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
            "config_hash": self.config_hash,
            "sha256": hashlib.sha256(data).hexdigest(),
            "nbytes": len(data),
            "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in host.items()},
            **(self.binding or {}),
        }
        with self._locked(exclusive=True):
            with contextlib.suppress(FileNotFoundError):
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
          KeyError: the chunk is missing, partial, corrupt or not this sweep's chunk ``chunk_id``.
        """
        with self._locked(exclusive=False):
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
        with self._locked(exclusive=False):
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


def run_chunks(
    store: ChunkStore,
    chunk_ids: Sequence[str | int],
    compute: Callable[[int], Mapping[str, Any]],
    process_index: int = 0,
    process_count: int = 1,
    on_chunk: Callable[[int, bool], None] | None = None,
) -> list[dict[str, np.ndarray]] | None:
    """The one chunked runner: compute this process's missing chunks, then load them all.

    Process i of n owns chunks i, i + n, i + 2n, ...; an owned chunk already in ``store`` (from
    an interrupted run) is reused, else ``compute(index)`` runs and its arrays are saved. Each
    chunk has one writer. Checking never deletes and reads under the store's shared lock, so
    looking at chunks other processes are still writing is safe.

    Args:
      store: the chunk store (its manifest pins the sweep config).
      chunk_ids: the ids of all chunks of the sweep, in order.
      compute: ``index -> dict name -> array`` for chunk ``chunk_ids[index]``.
      process_index, process_count: this process's share (0 <= index < count).
      on_chunk: called as ``on_chunk(index, reused)`` after each owned chunk.
    Returns:
      every chunk's arrays in the order of ``chunk_ids``, or None while chunks owned by other
      processes are still missing.
    """
    ids = list(chunk_ids)
    if not 0 <= process_index < process_count:
        raise ValueError(
            f"process_index={process_index!r} is invalid: must be in [0, {process_count})"
        )
    for index in range(process_index, len(ids), process_count):
        reused = store.has(ids[index])
        if not reused:
            store.save(ids[index], compute(index))
        if on_chunk is not None:
            on_chunk(index, reused)
    if store.missing(ids):
        return None
    return [store.load(c) for c in ids]
