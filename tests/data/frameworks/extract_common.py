"""Helpers shared by the extractors (see extract.py): help text, JSON types, one key per line."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

# ---- shared ----------------------------------------------------------------------------------

HELP_CHARS = 110


def first_sentence(text: Any) -> str | None:
    """The first sentence of a help text, at most HELP_CHARS characters (for reading only)."""
    if not isinstance(text, str):
        return None
    text = " ".join(text.split())
    match = re.search(r"(?<=[.!?])\s+(?=[A-Z`(\[])", text)
    text = text[: match.start()] if match else text
    if len(text) > HELP_CHARS:
        text = text[: HELP_CHARS - 3].rsplit(" ", 1)[0] + "..."
    return text or None


def json_type(value: Any) -> str:
    """float | int | bool | str | list | dict | null of a default value."""
    if value is None:
        return "null"
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if isinstance(value, kind):
            return name
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return type(value).__name__


def jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    return value


def wheel_sha256(wheels: Path, package: str, version: str) -> str | None:
    for path in sorted(wheels.glob(f"{package}-{version}-*.whl")):
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return None


def write(out: Path, record: dict) -> None:
    """One key per line: small, greppable and diff-friendly."""
    out.parent.mkdir(parents=True, exist_ok=True)
    head = {k: v for k, v in record.items() if k != "keys"}
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value)},")
    lines.append('  "keys": {')
    items = list(record["keys"].items())
    for i, (key, entry) in enumerate(items):
        comma = "," if i + 1 < len(items) else ""
        lines.append(f"    {json.dumps(key)}: {json.dumps(entry, sort_keys=False)}{comma}")
    lines.append("  }")
    lines.append("}")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
