"""Readers of the shipped version tables and the extracted releases, shared by the
tests/frameworks/test_version_data*.py files (pure Python: JSON, no JAX)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "frameworks"
TABLES = ROOT / "rlxform" / "frameworks" / "data"
CLASSES = {"modelled", "no_effect", "unmodelled"}


def vkey(version: str) -> tuple[int, ...]:
    """A version as a tuple of its integers (0.10.1.post2 -> (0, 10, 1, 2))."""
    return tuple(int(p) for p in re.findall(r"\d+", version))


@cache
def table(framework: str) -> dict:
    """The shipped runtime table rlxform/frameworks/data/<framework>.json."""
    return json.loads((TABLES / f"{framework}.json").read_text(encoding="utf-8"))


@cache
def release(framework: str, version: str) -> dict:
    """The extracted record tests/data/frameworks/<framework>/<version>.json."""
    return json.loads((DATA / framework / f"{version}.json").read_text(encoding="utf-8"))


def releases(framework: str) -> list[str]:
    """The extracted releases of a framework, oldest first."""
    return sorted((p.stem for p in (DATA / framework).glob("*.json")), key=vkey)
