"""Hostile files given to ``rlxform explain`` (issue 26, item 2): one line, exit 2, fast.

The 0.4.1 probes: a 1 KB alias bomb in mapping form (ran past 120 s and 1.2 GB), nesting 5,000
deep (a 3,000-line RecursionError), a dotted-key collision, ``null`` for a numeric key, a 400-digit
integer (raw tracebacks); and the same depth in JSON, TOML and Python launch files.
"""

from __future__ import annotations

import time

import pytest

from rlxform import cli


def _bomb() -> str:
    lines = ["a0: &a0 {x: 1, y: 2}"]
    for i in range(1, 25):
        refs = ", ".join(f"k{j}: *a{i - 1}" for j in range(9))
        lines.append(f"a{i}: &a{i} {{{refs}}}")
    return "\n".join([*lines, "algorithm: {adv_estimator: grpo}"]) + "\n"


GRPO = "algorithm:\n  adv_estimator: grpo\n"
CASES = {
    "alias bomb.yaml": (_bomb(), "alias bomb"),
    "deep.yaml": ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nesting depth"),
    "deep.json": ("[" * 5000 + "]" * 5000, "nested more than 100 levels"),
    "deep.toml": ("a = " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 100 levels"),
    "deep.py": ("x = " + "(" * 5000 + "1" + ")" * 5000 + "\n", "nested"),
    "bigint.yaml": ("actor_rollout_ref:\n  rollout:\n    n: " + "9" * 400 + "\n", "64 bits"),
    "null.yaml": (GRPO + "actor_rollout_ref:\n  rollout:\n    n: null\n", "rollout.n=None"),
}
COLLISION = GRPO + "actor_rollout_ref.rollout: 3\nactor_rollout_ref:\n  rollout:\n    n: 8\n"


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_explain_input_is_one_line_fast(name, tmp_path, capsys):
    text, phrase = CASES[name]
    path = tmp_path / name.replace(" ", "_")
    path.write_text(text)
    start = time.perf_counter()
    assert cli.main(["explain", str(path)]) == 2
    elapsed = time.perf_counter() - start
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlxform: error: "), lines
    assert phrase in lines[0], lines[0]
    assert captured.out == "" and elapsed < 1.0, elapsed


def test_dotted_key_collision_is_named_not_a_traceback(tmp_path, capsys):
    """``a.b: 3`` beside ``a: {b: {n: 8}}``: the card reads the section and warns, in one line,
    that the dotted key is unknown (0.4.1: a traceback)."""
    path = tmp_path / "collision.yaml"
    path.write_text(COLLISION)
    assert cli.main(["explain", str(path)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [line for line in err if line.startswith("rlxform: warning: ")] and err
    assert any("actor_rollout_ref.rollout" in line for line in err)
