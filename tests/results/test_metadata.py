"""Tests for rlxform.results.metadata: keys, git revision, versions, config hash."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

import rlxform
from rlxform import results

metadata_module = importlib.import_module("rlxform.results.metadata")


def test_metadata_has_the_keys(tmp_path):
    meta = results.metadata({"lr": 0.1, "M": np.int64(8), "grid": np.array([1.0, 2.0])}, wall=3.5)
    expected = {
        "config",
        "config_hash",
        "rlxform_version",
        "jax_version",
        "numpy_version",
        "python_version",
        "git_revision",
        "device_kind",
        "platform",
        "prng",
        "devices",
        "timestamp",
        "wall",
    }
    assert set(meta) == expected
    assert meta["prng"] == "threefry"
    assert meta["devices"]["count"] == len(jax.local_devices())
    assert meta["devices"]["kind"] == meta["device_kind"]
    assert meta["config"] == {"lr": 0.1, "M": 8, "grid": [1.0, 2.0]}
    assert meta["rlxform_version"] == rlxform.__version__
    assert meta["numpy_version"] == np.__version__
    assert meta["platform"] in {"cpu", "gpu", "tpu", "cuda", "rocm"}
    rev = meta["git_revision"]
    assert rev == "unknown" or (len(rev) == 40 and all(c in "0123456789abcdef" for c in rev))
    assert meta["wall"] == 3.5

    path = tmp_path / "meta.json"
    results.write_metadata(path, meta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert results.read_metadata(path) == meta


def test_git_revision_none_outside_git(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(metadata_module.subprocess, "run", no_git)
    assert results.git_revision() is None  # rlxform is not pip-installed in the test env
    assert results.metadata({"lr": 0.1})["git_revision"] == "unknown"


def test_git_revision_in_this_checkout_is_head():
    """Run from a checkout (editable or PYTHONPATH): HEAD. Run from a non-editable
    ``pip install .`` (as CI does): the installed copy is not tracked and pip records no commit,
    so the revision is unknown (None; metadata writes "unknown"), never the checkout's HEAD."""
    package_dir = Path(metadata_module.__file__).parent
    tracked = metadata_module.subprocess.run(
        ["git", "ls-files", "--error-unmatch", "__init__.py"],
        cwd=package_dir,
        capture_output=True,
    )
    if tracked.returncode == 0:
        head = metadata_module.subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=package_dir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert results.git_revision() == head and len(head) == 40
    else:
        assert results.git_revision() == results.installed_commit()
        if results.installed_commit() is None:
            assert results.metadata({"lr": 0.1})["git_revision"] == "unknown"


def test_installed_commit_reads_pep610_direct_url(monkeypatch):
    """pip install git+URL records the commit; pip install . (a directory) records none."""
    vcs = '{"url": "https://example.org/rlxform.git", "vcs_info": {"vcs": "git", '
    vcs += '"commit_id": "0123456789abcdef0123456789abcdef01234567"}}'
    assert results.installed_commit(vcs) == "0123456789abcdef0123456789abcdef01234567"
    assert results.installed_commit('{"url": "file:///src/rlxform", "dir_info": {}}') is None
    assert results.installed_commit("not json") is None

    # outside a checkout, an installed VCS commit is what metadata records
    def no_git(*args, **kwargs):
        raise OSError("git")

    monkeypatch.setattr(metadata_module.subprocess, "run", no_git)
    monkeypatch.setattr(metadata_module, "installed_commit", lambda direct_url=None: "ab" * 20)
    assert results.metadata({})["git_revision"] == "ab" * 20


def test_other_version_warns_naming_both(tmp_path):
    meta = results.metadata({"lr": 0.1})
    meta["rlxform_version"] = "0.0.1-old"
    path = tmp_path / "meta.json"
    results.write_metadata(path, meta)
    with pytest.warns(UserWarning) as record:
        loaded = results.read_metadata(path)
    message = str(record[0].message)
    assert "0.0.1-old" in message and rlxform.__version__ in message
    assert loaded["config"] == {"lr": 0.1}


def test_config_hash_is_canonical():
    a = results.config_hash({"b": [1, 2], "a": 0.1})
    assert a == results.config_hash({"a": 0.1, "b": (1, 2)})
    assert a != results.config_hash({"a": 0.1, "b": [1, 3]})
    assert len(a) == 64
    with pytest.raises(TypeError, match=r"config\['f'\]"):
        results.config_hash({"f": object()})
