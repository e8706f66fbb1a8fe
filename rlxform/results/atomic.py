"""Atomic writes: a crash leaves the old file or the new one, never a partial file.

Every file goes to a temporary ``.<name>.pid<PID>-<host>.<random>.tmp`` in the same directory,
is flushed and fsynced, then renamed over its final name with ``os.replace``. The owner tag in
the temporary name lets a later run remove stale temporaries of dead writers on this host.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
from collections.abc import Iterable
from pathlib import Path

from rlxform.validation import InputError

PathLike = str | os.PathLike
_TMP_SUFFIX = ".tmp"
# Temporary files are named ``.<name>.pid<PID>-<host>.<random>.tmp`` so a later run can tell a
# stale one (its writer on this host is gone) from one another process is still writing.
_TMP_OWNER = re.compile(r"\.pid(\d+)-([A-Za-z0-9-]*)\.[^.]+\.tmp\Z")


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
    atomic_write_parts(path, (data,))


def atomic_write_parts(path: PathLike, parts: Iterable[bytes]) -> None:
    """``atomic_write_bytes`` of the concatenated ``parts``, streamed: a large file (a table
    of millions of rows) is written block by block, never held whole in memory."""
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
            for data in parts:
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
      InputError: ``out='/x' is invalid: must be a writable directory (<reason>)``.
    """
    text = os.fspath(directory)

    def fail(reason: str) -> InputError:
        return InputError(f"{name}={text!r} is invalid: must be a writable directory ({reason})")

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
    except OSError as err:
        raise fail(f"cannot write to it: {err.strerror or err}") from None
    try:  # a full disk lets the file be created and fails the write: remove it either way
        with os.fdopen(fd, "wb") as f:
            f.write(b"ok")
    except OSError as err:
        raise fail(f"cannot write to it: {err.strerror or err}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(probe)
    return Path(text)


def check_file_writable(path: PathLike, name: str = "path") -> Path:
    """Check, before any work, that the file ``path`` can be written (atomically) later.

    Its directory is created if needed and probed (``check_writable``); ``path`` must not be a
    directory. Raises ``InputError`` naming ``name``; returns ``Path(path)``.
    """
    text = os.fspath(path)
    if not text.strip():
        raise InputError(f"{name}={text!r} is invalid: must be a file path")
    if os.path.isdir(text):
        raise InputError(f"{name}={text!r} is invalid: it is a directory, expected a file path")
    check_writable(os.path.dirname(os.path.abspath(text)), name=f"{name} directory")
    return Path(text)
