"""Process-wide JAX settings of a CLI run: PRNG implementation, compilation cache, compile notice.

``use_prng(name)`` sets ``jax_default_prng_impl``, so every key made in the process
(``jax.random.key(seed)`` in the CLI and the sweep runner) uses that generator; the problem's
own population draw always uses threefry (``ascent.initial_params``), so every generator sees
the same prompts. ``enable_compilation_cache()`` turns on JAX's persistent compilation cache in
``$RLXFORM_JAX_CACHE`` (default ``$XDG_CACHE_HOME/rlxform/jax`` or ``~/.cache/rlxform/jax``;
``RLXFORM_JAX_CACHE=off`` disables it), caching every program however small or quick to
compile, bounded to ``CACHE_MAX_BYTES`` (least recently used entries go first).
``compile_notice`` prints "compiling ..." on stderr when a compile takes over a second.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax

from rlxform.validation import check_choice

PRNGS = ("threefry", "rbg", "unsafe_rbg")
PRNG_IMPLS = {"threefry": "threefry2x32", "rbg": "rbg", "unsafe_rbg": "unsafe_rbg"}
CACHE_ENV = "RLXFORM_JAX_CACHE"
CACHE_OFF = ("off", "0", "false", "none", "")
NOTICE_AFTER_SECONDS = 1.0
# A bound turns on JAX's LRU eviction and, with it, the file lock (``filelock``) under which
# each process reads and writes an entry: without it, two rlxform processes sharing the cache
# (parallel sweeps) can read an entry the other is still writing (JAX then warns and compiles).
CACHE_MAX_BYTES = 4 << 30


def prng_impl(name: str) -> str:
    """JAX's name of an rlxform PRNG choice: ``"threefry" -> "threefry2x32"``."""
    return PRNG_IMPLS[check_choice("--prng", name, PRNGS)]


def use_prng(name: str) -> str:
    """Make ``name`` (threefry | rbg | unsafe_rbg) the process's default PRNG; returns it."""
    jax.config.update("jax_default_prng_impl", prng_impl(name))
    return name


def current_prng() -> str:
    """The rlxform name of the process's default PRNG implementation."""
    impl = str(jax.config.jax_default_prng_impl)
    return {v: k for k, v in PRNG_IMPLS.items()}.get(impl, impl)


def cache_dir() -> Path | None:
    """The persistent compilation cache directory, or None when ``RLXFORM_JAX_CACHE=off``."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in CACHE_OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rlxform" / "jax"


def enable_compilation_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache at ``cache_dir()``; returns it (None: off).

    Every program is cached (no minimum compile time or entry size), so a repeated
    configuration loads its executable instead of compiling it again; at most
    ``CACHE_MAX_BYTES``, every entry read and written under the cache's file lock.
    """
    path = cache_dir()
    if path is None:
        return None
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    return path


@contextlib.contextmanager
def compile_notice(label: str, after: float = NOTICE_AFTER_SECONDS) -> Iterator[None]:
    """Print ``rlxform: compiling <label> ...`` on stderr if the block runs over ``after`` s.

    A cached or small program finishes first and prints nothing.
    """
    timer = threading.Timer(
        after, lambda: print(f"rlxform: compiling {label} ...", file=sys.stderr, flush=True)
    )
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def run_binding() -> dict[str, Any]:
    """What a run's numbers depend on besides its config: the PRNG and the devices.

    Returns ``{"prng": "threefry" | "rbg" | "unsafe_rbg", "devices": {"count": local devices,
    "kind": e.g. "cpu" or "NVIDIA H100", "platform": "cpu" | "gpu" | "tpu", "processes": n}}``.
    Chunks and result metadata record it; a sweep never mixes chunks of two PRNGs, and says
    when it resumes on other devices (``results.binding``).
    """
    devices = jax.local_devices()
    return {
        "prng": current_prng(),
        "devices": {
            "count": len(devices),
            "kind": str(devices[0].device_kind),
            "platform": str(devices[0].platform),
            "processes": jax.process_count(),
        },
    }
