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


@pytest.fixture
def x64():
    """Run the test body with float64 JAX arrays."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="session")
def verl_cases() -> list[dict]:
    return json.loads((DATA / "verl_advantages.json").read_text())["cases"]
