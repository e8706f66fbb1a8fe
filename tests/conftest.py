"""Shared fixtures. Exact references run in float64 via ``jax.enable_x64(True)``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import xla_flags

xla_flags.apply()  # before JAX starts: compile at XLA optimisation level 0 (tests/xla_flags.py)

import jax  # noqa: E402

DATA = Path(__file__).parent / "data"

# CLI runs under test never write to the user's persistent compilation cache
os.environ.setdefault("RLXFORM_JAX_CACHE", "off")


SLOW_CASES = Path(__file__).parent / "slow_cases.txt"
# Test files longest first, as measured over a whole run (``python tests/timings.py DIR --order``).
# xdist hands whole files to its workers in collection order (``--dist loadfile
# --no-loadscope-reorder``): longest first, no long file starts while the other worker runs out
# of work. Files not listed follow in their usual order.
FILE_ORDER = Path(__file__).parent / "file_order.txt"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark the measured-slow node ids of ``slow_cases.txt`` ``slow`` (before ``-m`` selects);
    order the files as ``file_order.txt`` (a stable sort: tests keep their order in a file)."""
    lines = SLOW_CASES.read_text().splitlines()
    slow = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    for item in items:
        if item.nodeid in slow:
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(FILE_ORDER.read_text().split())}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture
def x64():
    """Run the test body with float64 JAX arrays."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="session")
def verl_cases() -> list[dict]:
    return json.loads((DATA / "verl_advantages.json").read_text())["cases"]


# --- per-test durations and XLA compile counts (tests/TIMINGS.md) ---------------------------
# RLXFORM_TEST_STATS=DIR writes one JSON line per test (node id, seconds of setup + call +
# teardown, XLA backend compiles and their seconds) to DIR/<worker>.jsonl; compiles in
# subprocesses (CLI runs) are not counted. ``python tests/timings.py`` tabulates them.
_STATS_DIR = os.environ.get("RLXFORM_TEST_STATS")
_COMPILES = {"count": 0, "secs": 0.0}


def _count_compile(event: str, duration: float, **_: object) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _COMPILES["count"] += 1
        _COMPILES["secs"] += duration


if _STATS_DIR:
    jax.monitoring.register_event_duration_secs_listener(_count_compile)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(item, nextitem):
        count, secs, start = _COMPILES["count"], _COMPILES["secs"], time.perf_counter()
        yield
        record = {
            "id": item.nodeid,
            "seconds": round(time.perf_counter() - start, 3),
            "compiles": _COMPILES["count"] - count,
            "compile_seconds": round(_COMPILES["secs"] - secs, 3),
        }
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        path = Path(_STATS_DIR) / f"{worker}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as stream:
            stream.write(json.dumps(record) + "\n")
