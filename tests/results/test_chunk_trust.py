"""Chunk store trust (issue 11): chunks bound to their sweep and id, tampering never read,
exclusive manifests, two real processes on one directory, only stale temp files removed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rlxform.results import chunks

CONFIG_A = {"sweep": "a", "lr": [0.1, 0.3]}
CONFIG_B = {"sweep": "b", "lr": [0.1, 0.3]}
ROOT = Path(__file__).resolve().parents[1]


def _arrays(tag: str, i: int) -> dict[str, np.ndarray]:
    return {"x": np.full(64, 100.0 * (tag == "b") + i), "i": np.asarray([i], np.int32)}


def _store(path: Path, config=CONFIG_A, n: int = 3) -> chunks.ChunkStore:
    store = chunks.ChunkStore(path, config)
    for i in range(n):
        store.save(i, _arrays(config["sweep"], i))
    return store


# ---- tampering ---------------------------------------------------------------------------------


def test_sidecar_binds_config_hash_and_chunk_id(tmp_path):
    store = _store(tmp_path)
    side = json.loads((tmp_path / "1.json").read_text())
    assert side["chunk_id"] == "1"
    assert side["config_hash"] == store.config_hash


def test_manifest_deleted_then_other_config_recomputes_every_chunk(tmp_path):
    _store(tmp_path, CONFIG_A)
    (tmp_path / "manifest.json").unlink()
    other = chunks.ChunkStore(tmp_path, CONFIG_B)  # the directory looks fresh to config B
    assert other.missing([0, 1, 2]) == [0, 1, 2]  # A's chunks are never B's
    with pytest.raises(KeyError):
        other.load(0)
    other.save(0, _arrays("b", 0))
    np.testing.assert_array_equal(other.load(0)["x"], _arrays("b", 0)["x"])


def test_swapped_chunk_files_are_never_read(tmp_path):
    store = _store(tmp_path)
    for ext in ("npz", "json"):  # swap chunk 0 and 1 completely (data and sidecar)
        a, b = tmp_path / f"0.{ext}", tmp_path / f"1.{ext}"
        tmp = tmp_path / "swap"
        a.rename(tmp)
        b.rename(a)
        tmp.rename(b)
    assert store.missing([0, 1, 2]) == [0, 1]
    (tmp_path / "2.npz").write_bytes((tmp_path / "0.npz").read_bytes())  # data only
    assert not store.has(2)
    with pytest.raises(KeyError, match=r"\[0, 1, 2\]"):
        store.load_all([0, 1, 2])


def test_chunk_copied_from_another_sweep_is_never_read(tmp_path):
    _store(tmp_path / "b", CONFIG_B)
    store = _store(tmp_path / "a", CONFIG_A)
    for ext in ("npz", "json"):
        shutil.copy(tmp_path / "b" / f"1.{ext}", tmp_path / "a" / f"1.{ext}")
    assert store.missing([0, 1, 2]) == [1]
    store.save(1, _arrays("a", 1))  # recomputed chunk replaces the foreign one
    np.testing.assert_array_equal(store.load(1)["x"], _arrays("a", 1)["x"])


def test_has_never_deletes(tmp_path):
    store = _store(tmp_path)
    data = tmp_path / "1.npz"
    data.write_bytes(data.read_bytes()[:-5])
    before = sorted(p.name for p in tmp_path.iterdir())
    assert not store.has(1) and store.missing([1]) == [1]
    with pytest.raises(KeyError):
        store.load(1)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_manifest_is_created_exclusively_and_complete(tmp_path):
    chunks.ChunkStore(tmp_path, CONFIG_A)
    manifest = tmp_path / "manifest.json"
    first = manifest.read_bytes()
    with pytest.raises(ValueError, match="different config"):
        chunks.ChunkStore(tmp_path, CONFIG_B)
    assert manifest.read_bytes() == first
    assert json.loads(first)["config_hash"] == chunks.ChunkStore(tmp_path, CONFIG_A).config_hash
    assert not list(tmp_path.glob(".*"))  # the temporary manifest is gone


# ---- two real processes on one directory ------------------------------------------------------

_WORKER = """
import sys, time
from pathlib import Path
import numpy as np
from rlxform.results.chunks import ChunkStore

root, name, tag, reps = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
(root / f"ready.{name}").touch()
for rep in range(reps):
    while not (root / f"go{rep}").exists():
        time.sleep(0.001)
    try:
        store = ChunkStore(root / f"d{rep}", {"sweep": tag, "lr": [0.1, 0.3]})
        ids = list(range(8))
        for i in ids:
            if not store.has(i):
                store.save(i, {"x": np.full(200_000, 100.0 * (tag == "b") + i),
                               "i": np.asarray([i], np.int32)})
        arrays = store.load_all(ids)
        want = np.concatenate([np.full(200_000, 100.0 * (tag == "b") + i) for i in ids])
        result = "ok" if np.array_equal(arrays["x"], want) else "WRONG DATA"
    except ValueError as err:
        result = "refused: " + str(err)
    partial = root / f"partial{rep}.{name}"
    partial.write_text(tag + " " + result)
    partial.rename(root / f"result{rep}.{name}")  # the parent never sees a half-written file
"""


def _race(tmp_path: Path, tags: tuple[str, str], reps: int) -> list[list[str]]:
    """Per repetition, each worker's ``"<config tag> ok"`` or ``"<config tag> refused: ..."``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    names = [f"w{k}" for k in range(len(tags))]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(tmp_path), name, tag, str(reps)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, tag in zip(names, tags, strict=True)
    ]
    try:
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"ready.{n}").exists() for n in names):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
            time.sleep(0.01)
        results = []
        for rep in range(reps):
            (tmp_path / f"go{rep}").touch()  # both start this repetition at once
            files = [tmp_path / f"result{rep}.{n}" for n in names]
            while not all(f.exists() for f in files):
                assert time.monotonic() < deadline + 60 * (rep + 1), "workers hung"
                assert all(p.poll() in (None, 0) for p in procs), procs[0].stderr.read()
                time.sleep(0.01)
            results.append([f.read_text() for f in files])
    finally:
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
    return results


@pytest.mark.slow
@pytest.mark.parametrize("tags", [("a", "a"), ("a", "b")], ids=["same config", "other config"])
def test_two_processes_one_directory(tmp_path, tags):
    reps = 4
    for rep, result in enumerate(_race(tmp_path, tags, reps)):
        directory = tmp_path / f"d{rep}"
        ok = [r.split()[0] for r in result if r.endswith(" ok")]
        if tags[0] == tags[1]:  # same config: both finish with the right data
            assert result == ["a ok", "a ok"], result
        else:  # different configs: exactly one proceeds, the other is refused with one line
            refused = [r for r in result if not r.endswith(" ok")]
            assert len(ok) == 1 and len(refused) == 1, result
            assert "refused:" in refused[0] and "different config" in refused[0], result
            assert "\n" not in refused[0]
        winner = ok[0]
        store = chunks.ChunkStore(directory, {"sweep": winner, "lr": [0.1, 0.3]})
        assert store.missing(range(8)) == []
        want = np.full(200_000, 100.0 * (winner == "b") + 3)
        np.testing.assert_array_equal(store.load(3)["x"], want)
        assert not list(directory.glob(".*")), list(directory.glob(".*"))  # no temp files left


# ---- the same through `rlxform sweep` ---------------------------------------------------------

SWEEP = """
learning_rate = [{lr}]
group_size = [2, 4]
seeds = 2
steps = 4
records = 2
[policy]
num_prompts = 2
num_responses = 2
[[schemes]]
name = "reinforce"
"""


@pytest.mark.slow
@pytest.mark.parametrize("lrs", [(0.5, 0.5), (0.5, 0.25)], ids=["same config", "other config"])
def test_two_sweeps_on_one_out(tmp_path, lrs):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg"}
    configs = []
    for k, lr in enumerate(lrs):
        configs.append(tmp_path / f"c{k}.toml")
        configs[-1].write_text(SWEEP.format(lr=lr))
    for rep in range(1):  # repetitions: test_two_processes_one_directory (4 per case)
        out = tmp_path / f"out{rep}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "rlxform", "sweep", str(c), "--out", str(out)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for c in configs
        ]
        done = [(p.wait(timeout=600), *p.communicate()) for p in procs]
        codes = sorted(code for code, _, _ in done)
        if lrs[0] == lrs[1]:
            assert codes == [0, 0], done
        else:
            assert codes == [0, 2], done
            (_, _, err) = next(d for d in done if d[0] == 2)
            lines = [x for x in err.strip().splitlines() if not x.startswith("sweep chunks")]
            assert len(lines) == 1 and "different config" in lines[0], err
        winner = lrs[next(k for k, d in enumerate(done) if d[0] == 0)]
        table = (out / "sweep.csv").read_text()
        column = table.splitlines()[0].split(",").index("learning_rate")
        assert {row.split(",")[column] for row in table.splitlines()[1:]} == {repr(winner)}
        assert not list(out.glob(".*.tmp")) and not list((out / "chunks").glob(".*.tmp"))
