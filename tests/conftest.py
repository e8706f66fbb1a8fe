"""Shared fixtures. Exact references run in float64 via ``jax.enable_x64(True)``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import pytest

DATA = Path(__file__).parent / "data"

# CLI runs under test never write to the user's persistent compilation cache
os.environ.setdefault("RLXFORM_JAX_CACHE", "off")


SLOW_CASES = Path(__file__).parent / "slow_cases.txt"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark the measured-slow node ids of ``slow_cases.txt`` ``slow`` (before ``-m`` selects)."""
    lines = SLOW_CASES.read_text().splitlines()
    slow = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    for item in items:
        if item.nodeid in slow:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def x64():
    """Run the test body with float64 JAX arrays."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="session")
def verl_cases() -> list[dict]:
    return json.loads((DATA / "verl_advantages.json").read_text())["cases"]
