"""Hostile sweep TOML files answered in one line, exit 2, well under a second (issue 26, item 2).

``rlxform sweep FILE`` reads through ``rlxform.parsing`` (size, depth and integers bounded before
anything is walked). Each fault is checked through the CLI: one ``rlxform: error:`` line naming
the file, status 2, nothing written, and the time it took.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from rlxform import cli
from rlxform.reproduce import sweep_runner  # noqa: F401  (imported, so only the reading is timed)

DEPTH = 5000


def _cases() -> dict[str, tuple[bytes, str]]:
    """name -> (file bytes, a phrase of the expected line)."""
    return {
        "nested arrays": (b"learning_rate = " + b"[" * DEPTH + b"]" * DEPTH + b"\n", "nested"),
        "nested inline tables": (
            b"x = " + b"{a = " * DEPTH + b"1" + b"}" * DEPTH + b"\n",
            "nested",
        ),
        "dotted key": (b".".join([b"a"] * DEPTH) + b" = 1\n", "dotted key"),
        "table header": (b"[" + b".".join([b"a"] * DEPTH) + b"]\n", "dotted key"),
        "huge file": (b"# " + b"x" * (5 * 2**20) + b"\n", "at most"),
        "400-digit integer": (b"seeds = " + b"9" * 400 + b"\n", "64 bits"),
        "5000-digit integer": (b"seeds = " + b"9" * 5000 + b"\n", "digits"),
        "binary": (b"seeds = 2\n\0\0\0", "binary"),
        "not UTF-8": (b"seeds = '\xff\xfe'\n", "UTF-8"),
        "not TOML": (b"seeds = = 2\n", "TOML"),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_toml_is_one_line_fast(name, tmp_path, capsys):
    data, phrase = CASES[name]
    path = tmp_path / "sweep.toml"
    path.write_bytes(data)
    out = tmp_path / "out"
    start = time.perf_counter()
    status = cli.main(["sweep", str(path), "--out", str(out)])
    elapsed = time.perf_counter() - start
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1, lines
    assert lines[0].startswith("rlxform: error: ") and str(path) in lines[0], lines
    assert phrase in lines[0], lines
    assert elapsed < 0.5, elapsed
    assert not out.exists()


def test_fifo_is_refused_without_reading(tmp_path, capsys):
    """A named pipe would block a reader forever: refused from its file type."""
    fifo = tmp_path / "sweep.toml"
    os.mkfifo(fifo)
    start = time.perf_counter()
    assert cli.main(["sweep", str(fifo), "--out", str(tmp_path / "out")]) == 2
    assert time.perf_counter() - start < 0.5
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "not a regular file" in line


def test_a_valid_file_still_reads(tmp_path):
    from rlxform.reproduce.sweep_config import load_sweep_config

    path = Path(tmp_path / "ok.toml")
    path.write_text('learning_rate = [0.1]\ngroup_size = [2]\n[[schemes]]\nname = "grpo"\n')
    config = load_sweep_config(path)
    assert config.learning_rate == (0.1,) and config.group_size == (2,)


def test_hostile_file_answered_before_jax_is_imported(tmp_path):
    """The file is read and bounded first: the answer does not wait for JAX to import."""
    import subprocess
    import sys

    path = tmp_path / "deep.toml"
    path.write_bytes(CASES["nested arrays"][0])
    probe = (
        "import sys; from rlxform import cli; "
        f"code = cli.main(['sweep', {str(path)!r}, '--out', {str(tmp_path / 'o')!r}]); "
        "print(code, 'jax' in sys.modules)"
    )
    root = Path(__file__).parents[2]
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=root, timeout=60
    )
    assert done.stdout.split() == ["2", "False"], (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and "nested more than 100" in done.stderr
