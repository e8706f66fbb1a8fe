"""Metadata of a result: the config (as JSON), its hash, versions, git revision, device, time.

Nothing is pickled: metadata is JSON, so loading results written by another rlxform version
warns and names both versions.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import hashlib
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from rlxform.results.atomic import PathLike, atomic_write_text


def to_jsonable(value: Any, where: str = "config") -> Any:
    """Convert a config (dicts, dataclasses, NamedTuples, arrays, paths) to plain JSON data.

    A module-level function (a custom scheme's ``fn``) is written as ``"module:qualname"``;
    lambdas and local functions have no faithful form.

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
    name = f"{getattr(value, '__module__', '')}:{getattr(value, '__qualname__', '<')}"
    if callable(value) and "<" not in name and not name.startswith(":"):
        return name  # an importable function (a custom scheme's module:function)
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
    from rlxform.version import __version__

    return __version__


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


def _binding() -> dict[str, Any]:
    try:
        from rlxform.runtime import run_binding

        return run_binding()
    except Exception:
        return {"prng": None, "devices": None}


def metadata(config: Any, **extra: Any) -> dict[str, Any]:
    """What produced a result: config, versions, git revision, PRNG, devices, time.

    Args:
      config: the full run configuration (dict, dataclass or NamedTuple; JSON-convertible).
      **extra: further JSON-convertible entries, e.g. ``wall_time_s=12.3``.

    Returns:
      dict with keys ``config``, ``config_hash``, ``rlxform_version``, ``jax_version``,
      ``numpy_version``, ``python_version``, ``git_revision`` (40 hex characters or
      ``"unknown"``, see ``git_revision``), ``device_kind``, ``platform``, ``prng`` (the
      process's default PRNG: threefry, rbg or unsafe_rbg) and ``devices`` (local device count,
      kind, platform, process count; ``rlxform.runtime.run_binding``), ``timestamp`` (UTC ISO
      8601), then ``extra``.
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
        **_binding(),
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
