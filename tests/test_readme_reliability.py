"""The README's reliability table names tests that exist (a rename would leave a promise
unchecked while the table still claims it)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_every_promise_names_existing_tests():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Reliability", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) >= 10
    missing = []
    for row in rows:
        current = None
        for ref in re.findall(r"`([^`]+)`", row.split(" | ")[-1]):
            path, _, name = ref.partition("::")
            if path:
                current = path
            if not (ROOT / current).is_file():
                missing.append(ref)
                continue
            tree = ast.parse((ROOT / current).read_text())
            names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
            if name and name not in names:
                missing.append(f"{current}::{name}")
    assert not missing, missing
