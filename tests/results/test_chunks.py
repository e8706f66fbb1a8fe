"""Tests for rlxform.results.chunks: chunk store round trips, resume, corruption, temporaries."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from rlxform import results
from rlxform.results import chunks

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
    host = results.atomic._host()
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
from rlxform.results.chunks import ChunkStore
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
