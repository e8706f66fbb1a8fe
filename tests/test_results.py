"""Tests for rlxform.results: bitwise table round trips, atomic writes, chunk store, metadata."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import rlxform
from rlxform import chunks, results

SPECIAL_FLOATS = np.array(
    [
        0.0,
        -0.0,
        np.nan,
        np.inf,
        -np.inf,
        0.1,
        1.0 / 3.0,
        1e300,
        -1.7976931348623157e308,
        5e-324,
        2.2250738585072014e-308,
        1e-12,
        1.0 - 1e-12,
        123456789.0,
        1e16,
    ]
)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).view(np.uint64)


# --------------------------------------------------------------------------- tables


def test_table_round_trip_is_bitwise(tmp_path):
    n = len(SPECIAL_FLOATS)
    rng = np.random.default_rng(0)
    random_floats = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    columns = {
        "scheme": np.array(["grpo", "rloo, with comma", 'q"uote', "", "x\ny"] * 3),
        "seed": np.arange(n, dtype=np.int64) - 3,
        "step": np.full(n, 2**53 + 1, dtype=np.int64),
        "diverged": np.arange(n) % 2 == 0,
        "value": SPECIAL_FLOATS,
        "random": random_floats,
        "f32": np.linspace(0, 1, n, dtype=np.float32),
    }
    path = tmp_path / "t.csv"
    results.write_table(path, columns)
    back = results.read_table(path)

    assert list(back) == list(columns)
    np.testing.assert_array_equal(_bits(back["value"]), _bits(SPECIAL_FLOATS))
    np.testing.assert_array_equal(_bits(back["random"]), _bits(random_floats))
    assert np.signbit(back["value"][1]) and back["value"][1] == 0.0
    assert back["value"].dtype == np.float64
    assert back["seed"].dtype == np.int64 and back["seed"].tolist() == columns["seed"].tolist()
    assert back["step"][0] == 2**53 + 1
    assert back["diverged"].dtype == bool
    np.testing.assert_array_equal(back["diverged"], columns["diverged"])
    assert back["scheme"].tolist() == columns["scheme"].tolist()
    # float32 values are widened exactly, so casting back recovers them bitwise.
    np.testing.assert_array_equal(
        back["f32"].astype(np.float32).view(np.uint32), columns["f32"].view(np.uint32)
    )


def test_table_integer_valued_floats_stay_float(tmp_path):
    results.write_table(tmp_path / "t.csv", {"x": np.array([1.0, 2.0, 1e20])})
    back = results.read_table(tmp_path / "t.csv")
    assert back["x"].dtype == np.float64
    assert back["x"].tolist() == [1.0, 2.0, 1e20]


def test_table_from_rows_and_column_order(tmp_path):
    rows = [
        {"scheme": "grpo", "seed": 0, "step": 1, "p": 0.25},
        {"scheme": "rloo", "seed": 1, "step": 1, "p": -0.0},
    ]
    path = tmp_path / "rows.csv"
    results.write_table(path, rows, columns=["step", "p", "scheme"])
    assert path.read_text().splitlines()[0] == "step,p,scheme"
    back = results.read_table(path)
    assert list(back) == ["step", "p", "scheme"]
    assert back["p"].tolist() == [0.25, 0.0] and np.signbit(back["p"][1])
    assert back["scheme"].tolist() == ["grpo", "rloo"]


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"a": np.zeros(3), "b": np.zeros(4)}, "different lengths"),
        ({"a": np.zeros((2, 2))}, "1-D"),
        ({"a": np.array([1 + 2j])}, "dtype complex"),
        ([{"a": 1}, {"b": 2}], "lacks column"),
    ],
)
def test_table_rejects_bad_input(tmp_path, table, match):
    with pytest.raises(ValueError, match=match):
        results.write_table(tmp_path / "bad.csv", table)
    assert not (tmp_path / "bad.csv").exists()


def test_table_unknown_column_named(tmp_path):
    with pytest.raises(ValueError, match="nope"):
        results.write_table(tmp_path / "t.csv", {"a": [1]}, columns=["a", "nope"])


# --------------------------------------------------------------------------- atomic writes


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


# --------------------------------------------------------------------------- chunk store

CONFIG = {"schemes": ["grpo", "rloo"], "lr": [0.1, 0.01], "seeds": 4, "steps": 10}


def _chunk(i: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(i)
    return {
        "p_correct": rng.random((2, 3)),
        "step": np.arange(2, dtype=np.int32) + 2 * i,
        "diverged": np.array([False, i % 2 == 1]),
    }


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for name, value in a.items():
        assert value.dtype == b[name].dtype and value.shape == b[name].shape
        assert value.tobytes() == b[name].tobytes()


def test_chunk_store_round_trip_and_resume(tmp_path):
    store = chunks.ChunkStore(tmp_path / "sweep", CONFIG)
    ids = [0, 1, 2, 3]
    assert store.missing(ids) == ids
    store.save(0, _chunk(0))
    store.save(2, _chunk(2))
    assert store.has(0) and store.has(2) and not store.has(1)

    reopened = chunks.ChunkStore(tmp_path / "sweep", dict(CONFIG))  # same config, new dict
    assert reopened.missing(ids) == [1, 3]
    _assert_same(reopened.load(2), _chunk(2))
    for i in reopened.missing(ids):
        reopened.save(i, _chunk(i))
    assert reopened.missing(ids) == []

    everything = reopened.load_all(ids)
    assert everything["p_correct"].shape == (8, 3)
    assert everything["step"].tolist() == list(range(8))
    np.testing.assert_array_equal(
        everything["p_correct"], np.concatenate([_chunk(i)["p_correct"] for i in ids])
    )


def test_chunk_bytes_are_deterministic(tmp_path):
    a = chunks.ChunkStore(tmp_path / "a", CONFIG)
    b = chunks.ChunkStore(tmp_path / "b", CONFIG)
    a.save("c0", _chunk(0))
    b.save("c0", _chunk(0))
    assert (tmp_path / "a" / "c0.npz").read_bytes() == (tmp_path / "b" / "c0.npz").read_bytes()


def _corrupt_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, inside the float payload
    path.write_bytes(bytes(data))


def _corrupt_swap(path):
    # A well-formed npz with the right names, dtypes and shapes, but other data (zip CRCs pass):
    # only the recorded sha256 can tell.
    path.write_bytes(path.with_name("0.npz").read_bytes())


def _corrupt_empty(path):
    path.write_bytes(b"")


def _corrupt_no_sidecar(path):
    path.with_suffix(".json").unlink()


def _corrupt_bad_sidecar(path):
    path.with_suffix(".json").write_text('{"sha256": "')


@pytest.mark.parametrize(
    "corrupt",
    [
        _corrupt_truncate,
        _corrupt_flip,
        _corrupt_swap,
        _corrupt_empty,
        _corrupt_no_sidecar,
        _corrupt_bad_sidecar,
    ],
)
def test_corrupt_chunk_is_reported_missing_and_recomputed(tmp_path, corrupt):
    store = chunks.ChunkStore(tmp_path, CONFIG)
    store.save(0, _chunk(0))
    store.save(1, _chunk(1))
    corrupt(tmp_path / "1.npz")

    assert not store.has(1)
    assert store.has(0)
    assert store.missing([0, 1]) == [1]
    assert (tmp_path / "1.npz").exists()  # checking never deletes; the next save replaces it
    with pytest.raises(KeyError, match="missing or corrupt"):
        store.load(1)
    with pytest.raises(KeyError, match=r"\[1\]"):
        store.load_all([0, 1])

    store.save(1, _chunk(1))
    _assert_same(store.load(1), _chunk(1))


def test_leftover_temp_files_are_cleaned_and_ignored(tmp_path):
    """Only temporary files whose writer on this host has exited are removed at open."""
    import os
    import subprocess
    import sys

    store = chunks.ChunkStore(tmp_path, CONFIG)
    store.save(0, _chunk(0))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    host = results._host()
    stale = tmp_path / f".3.npz.pid{int(gone.stdout)}-{host}.abc123.tmp"
    live = tmp_path / f".4.npz.pid{os.getpid()}-{host}.abc123.tmp"
    remote = tmp_path / f".5.npz.pid{int(gone.stdout)}-other-host.abc123.tmp"
    foreign = tmp_path / ".6.npz.abc123.tmp"
    for path in (stale, live, remote, foreign):
        path.write_bytes(b"partial")
    reopened = chunks.ChunkStore(tmp_path, CONFIG)
    assert not stale.exists()
    assert live.exists() and remote.exists() and foreign.exists()
    assert reopened.missing([0, 3, 4]) == [3, 4]


_WRITER = """
import sys
import numpy as np
from rlxform.chunks import ChunkStore
store = ChunkStore(sys.argv[1], {"n": 1})
for i in range(100000):
    store.save(i % 50, {"x": np.full(20000, float(i % 50))})
    print(i, flush=True)
"""


def test_sigkill_mid_write_leaves_only_valid_chunks(tmp_path):
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        for _ in range(60):  # let it overwrite chunks, then kill it mid-stream
            assert proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    store = chunks.ChunkStore(tmp_path, {"n": 1})
    assert not list(tmp_path.glob(".*.tmp"))
    ids = list(range(50))
    done = [i for i in ids if i not in store.missing(ids)]
    assert len(done) >= 40  # at most the chunk being written is lost
    for i in done:
        np.testing.assert_array_equal(store.load(i)["x"], np.full(20000, float(i)))


def test_chunk_store_with_different_config_raises(tmp_path):
    chunks.ChunkStore(tmp_path / "sweep", CONFIG)
    other = dict(CONFIG, steps=11)
    with pytest.raises(ValueError, match="different config") as info:
        chunks.ChunkStore(tmp_path / "sweep", other)
    assert str(tmp_path / "sweep") in str(info.value)


def test_chunk_store_rejects_bad_ids_and_objects(tmp_path):
    store = chunks.ChunkStore(tmp_path, CONFIG)
    for bad in ["../x", ".hidden", "a/b", "", "manifest"]:
        with pytest.raises(ValueError, match="chunk_id"):
            store.save(bad, _chunk(0))
    with pytest.raises(ValueError, match="objects"):
        store.save(0, {"x": np.array([{"a": 1}], dtype=object)})


def test_npz_never_unpickles(tmp_path):
    store = chunks.ChunkStore(tmp_path, CONFIG)
    store.save(0, _chunk(0))
    # Replace the chunk by a pickled-object npz with a matching checksum: load must refuse it.
    import hashlib
    import io

    buf = io.BytesIO()
    np.savez(buf, x=np.array([{"evil": 1}], dtype=object))
    data = buf.getvalue()
    (tmp_path / "0.npz").write_bytes(data)
    side = json.loads((tmp_path / "0.json").read_text())
    side.update(sha256=hashlib.sha256(data).hexdigest(), nbytes=len(data))
    side["arrays"] = {"x": {"dtype": "|O", "shape": [1]}}
    (tmp_path / "0.json").write_text(json.dumps(side))
    assert not store.has(0)


# --------------------------------------------------------------------------- metadata


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
        "timestamp",
        "wall",
    }
    assert set(meta) == expected
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

    monkeypatch.setattr(results.subprocess, "run", no_git)
    assert results.git_revision() is None  # rlxform is not pip-installed in the test env
    assert results.metadata({"lr": 0.1})["git_revision"] == "unknown"


def test_git_revision_in_this_checkout_is_head():
    """Run from a checkout (editable or PYTHONPATH): HEAD. Run from a non-editable
    ``pip install .`` (as CI does): the installed copy is not tracked and pip records no commit,
    so the revision is unknown (None; metadata writes "unknown"), never the checkout's HEAD."""
    package_dir = Path(results.__file__).parent
    tracked = results.subprocess.run(
        ["git", "ls-files", "--error-unmatch", "__init__.py"],
        cwd=package_dir,
        capture_output=True,
    )
    if tracked.returncode == 0:
        head = results.subprocess.run(
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

    monkeypatch.setattr(results.subprocess, "run", no_git)
    monkeypatch.setattr(results, "installed_commit", lambda direct_url=None: "ab" * 20)
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


def test_save_result_writes_the_requested_figure_format(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.subplots().plot([0, 1], [0, 1])
    table = {"x": np.array([0.0, 1.0])}
    svg = results.FigureFormat("svg", 50)
    res = results.save_result("demo", {"a": 1}, table, fig, tmp_path, 0.0, svg)
    assert res.paths["figure"] == res.paths["svg"] == tmp_path / "demo.svg"
    assert res.paths["svg"].read_text().lstrip().startswith("<?xml")
    assert not (tmp_path / "demo.png").exists()
    res = results.save_result("demo", {"a": 1}, table, fig, tmp_path, 0.0)
    assert res.paths["png"].read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="format='gif' is invalid"):
        results.check_figure_format("gif", 100)
    with pytest.raises(ValueError, match="dpi=True is invalid"):
        results.check_figure_format("png", True)
