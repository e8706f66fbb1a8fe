"""Tests for rlxform.results.atomic: old-or-new file on failure, writable directories."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rlxform import results


def test_atomic_write_keeps_old_content_when_replace_fails(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    results.write_table(path, {"x": [1.5, 2.5]})
    old = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk gone mid-write")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk gone"):
        results.write_table(path, {"x": [9.0, 9.0, 9.0]})
    monkeypatch.undo()

    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]  # temp file removed


def test_failing_serializer_keeps_old_table(tmp_path):
    path = tmp_path / "t.csv"
    results.write_table(path, {"x": [1.5]})
    old = path.read_bytes()
    with pytest.raises(ValueError, match="dtype"):
        results.write_table(path, {"x": [2.5], "bad": np.array([object()], dtype=object)})
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_atomic_write_keeps_old_content_when_fsync_fails(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    results.atomic_write_text(path, "old")

    def boom(fd):
        raise OSError("fsync failed")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="fsync failed"):
        results.atomic_write_bytes(path, b"new contents that never land")
    monkeypatch.undo()

    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_atomic_write_replaces_and_keeps_mode(tmp_path):
    path = tmp_path / "f.txt"
    results.atomic_write_text(path, "one")
    os.chmod(path, 0o640)
    results.atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert os.stat(path).st_mode & 0o777 == 0o640


# --------------------------------------------------------------------------- check_writable


def test_check_writable_creates_directory(tmp_path):
    target = tmp_path / "a" / "b"
    assert results.check_writable(target) == target
    assert target.is_dir()
    assert list(target.iterdir()) == []  # probe removed


@pytest.mark.parametrize("sub", ["afile", "afile/sub"])
def test_check_writable_rejects_path_under_file(tmp_path, sub):
    (tmp_path / "afile").write_text("x")
    bad = str(tmp_path / sub)
    with pytest.raises(ValueError) as info:
        results.check_writable(bad, name="out")
    message = str(info.value)
    assert message.startswith(f"out={bad!r} is invalid: must be a writable directory (")
    assert message.endswith(")")


def test_check_writable_names_the_argument(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match=r"^results_dir="):
        results.check_writable(tmp_path / "afile" / "sub", name="results_dir")
