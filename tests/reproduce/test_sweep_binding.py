"""Results bound to their PRNG and devices (issue 26, item 1).

Faults injected: a finished threefry sweep rerun with ``--prng rbg``; a half-finished one resumed
with rbg; a chunk of an rbg sweep copied into a threefry sweep of the same config; a manifest of an
older rlxform that recorded no PRNG; a resume on another device count (warned in one line, refused
with ``--strict-devices``); rbg resumed on another platform. Each refusal is one line, exit 2, and
leaves every file as it was. One tiny sweep (one compile) is shared by the module.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import jax
import pytest

from rlxform import cli, cli_guard, runtime
from rlxform.results import binding, chunks

SWEEP = """
learning_rate = [0.3, 1.0]
group_size = [2]
seeds = 2
steps = 4
records = 2
chunk_size = 2

[policy]
kind = "tabular"
num_prompts = 2
num_responses = 2

[[schemes]]
name = "grpo"
"""
DEVICES = {"count": 1, "kind": "cpu", "platform": "cpu", "processes": 1}


def _files(out: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def _one_error(err: str, *needles: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlxform: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def restore_prng():
    before = jax.config.jax_default_prng_impl
    yield
    jax.config.update("jax_default_prng_impl", before)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """(config, out) of a finished threefry sweep (2 chunks, one compile)."""
    root = tmp_path_factory.mktemp("bound")
    config = root / "sweep.toml"
    config.write_text(SWEEP)
    out = root / "out"
    assert cli.main(["sweep", str(config), "--out", str(out), "--prng", "threefry"]) == 0
    return config, out


def test_sweep_json_and_chunks_record_prng_and_devices(finished):
    _, out = finished
    meta = json.loads((out / "sweep.json").read_text())
    devices = runtime.run_binding()["devices"]
    assert meta["prng"] == "threefry" and meta["devices"] == devices
    assert meta["chunk_bindings"] == [{"prng": "threefry", "devices": devices, "chunks": 2}]
    manifest = json.loads((out / "chunks" / "manifest.json").read_text())
    assert (manifest["prng"], manifest["devices"]) == ("threefry", devices)
    sidecars = [json.loads(p.read_text()) for p in (out / "chunks").glob("0*.json")]
    assert len(sidecars) == 2 and {s["prng"] for s in sidecars} == {"threefry"}


def test_rerun_under_another_prng_refused_naming_both(finished, capsys, restore_prng):
    config, out = finished
    before = _files(out)
    assert cli.main(["sweep", str(config), "--out", str(out), "--prng", "rbg"]) == 2
    _one_error(capsys.readouterr().err, "threefry PRNG", "uses rbg", "--prng threefry", "fresh")
    assert _files(out) == before  # nothing rewritten, nothing mixed


def test_half_finished_resumed_under_another_prng_refused(finished, tmp_path, capsys, restore_prng):
    config, done = finished
    out = tmp_path / "half"
    shutil.copytree(done / "chunks", out / "chunks")
    for sidecar in sorted((out / "chunks").glob("0*.json"))[1:]:
        sidecar.unlink()  # one chunk left to compute
    before = _files(out)
    assert cli.main(["sweep", str(config), "--out", str(out), "--prng", "unsafe_rbg"]) == 2
    _one_error(capsys.readouterr().err, "threefry", "unsafe_rbg")
    assert _files(out) == before and not (out / "sweep.csv").exists()
    # the same PRNG resumes it: the tables equal the uninterrupted run's, byte for byte
    assert cli.main(["sweep", str(config), "--out", str(out), "--prng", "threefry"]) == 0
    assert (out / "sweep.csv").read_bytes() == (done / "sweep.csv").read_bytes()


def _bound(prng: str, **devices) -> dict:
    return {"prng": prng, "devices": {**DEVICES, **devices}}


def test_chunk_of_another_prng_is_never_read(tmp_path):
    config = {"grid": [1, 2]}
    ours = chunks.ChunkStore(tmp_path / "a", config, _bound("threefry"))
    theirs = chunks.ChunkStore(tmp_path / "b", config, _bound("rbg"))
    theirs.save("c0", {"x": [1.0, 2.0]})
    for suffix in (".npz", ".json"):  # the same config and id: only the PRNG differs
        shutil.copy(tmp_path / "b" / f"c0{suffix}", tmp_path / "a" / f"c0{suffix}")
    assert not ours.has("c0") and ours.missing(["c0"]) == ["c0"]
    ours.save("c0", {"x": [3.0, 4.0]})  # recomputed, overwriting the foreign chunk
    assert ours.load("c0")["x"].tolist() == [3.0, 4.0]
    assert ours.bindings(["c0"]) == [_bound("threefry")]


def test_manifest_without_a_prng_is_refused(tmp_path):
    config = {"grid": [1]}
    chunks.ChunkStore(tmp_path, config)  # an unbound store: what rlxform 0.4 wrote
    with pytest.raises(ValueError, match=r"did not record the PRNG.*uses threefry.*fresh"):
        chunks.ChunkStore(tmp_path, config, _bound("threefry"))


def test_other_device_count_warns_once_and_strict_refuses(tmp_path):
    config = {"grid": [1]}
    chunks.ChunkStore(tmp_path, config, _bound("threefry"))
    with pytest.warns(binding.DeviceChangeWarning) as caught:
        chunks.ChunkStore(tmp_path, config, _bound("threefry", count=4))
    (message,) = [str(w.message) for w in caught]
    assert "1 cpu device (cpu)" in message and "4 cpu devices (cpu)" in message
    assert "last bits" in message and "\n" not in message
    with pytest.raises(ValueError, match="--strict-devices"):
        chunks.ChunkStore(tmp_path, config, _bound("threefry", count=4), strict_devices=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same devices: silent
        chunks.ChunkStore(tmp_path, config, _bound("threefry"), strict_devices=True)


def test_rbg_on_another_platform_is_refused(tmp_path):
    config = {"grid": [1]}
    chunks.ChunkStore(tmp_path, config, _bound("rbg"))
    other = {"count": 1, "kind": "NVIDIA H100 80GB HBM3", "platform": "gpu"}
    with pytest.raises(ValueError, match="rbg PRNG draws other numbers on another platform"):
        chunks.ChunkStore(tmp_path, config, _bound("rbg", **other))


def test_cli_resume_on_other_devices_one_warning_line_or_refused(
    finished, tmp_path, capsys, monkeypatch
):
    config, done = finished
    out = tmp_path / "copy"
    shutil.copytree(done, out)
    four = runtime.run_binding()
    four["devices"] = {**four["devices"], "count": 4}
    monkeypatch.setattr(runtime, "run_binding", lambda: four)
    before = _files(out)
    assert cli.main(["sweep", str(config), "--out", str(out), "--strict-devices"]) == 2
    _one_error(capsys.readouterr().err, "--strict-devices", "4 cpu devices")
    assert _files(out) == before
    with pytest.warns(binding.DeviceChangeWarning, match="last bits"):
        assert cli.main(["sweep", str(config), "--out", str(out)]) == 0
    assert (out / "sweep.csv").read_bytes() == (done / "sweep.csv").read_bytes()


def test_cli_shows_a_warning_as_one_line():
    """``warnings.showwarning`` prints ``formatwarning``'s text: one line under the CLI."""
    with cli_guard.one_line_warnings():
        text = warnings.formatwarning("resumed on\n 4 devices", UserWarning, "x.py", 3)
    assert text == "rlxform: warning: resumed on 4 devices\n"
    assert warnings.formatwarning is not None and "x.py" in warnings.formatwarning(
        "m", UserWarning, "x.py", 3
    )


def test_cli_refuses_another_prng_before_computing(tmp_path, capsys, restore_prng):
    """The default-set version of the rerun test: a threefry chunk directory (made without
    computing) resumed with ``--prng rbg`` is refused at once, nothing compiled or written."""
    from rlxform.parsing import load_toml
    from rlxform.reproduce.sweep_config import parse_sweep_config

    config_path = tmp_path / "sweep.toml"
    config_path.write_text(SWEEP)
    config = parse_sweep_config(load_toml(SWEEP))
    out = tmp_path / "out"
    chunks.ChunkStore(out / "chunks", config, {**runtime.run_binding(), "prng": "threefry"})
    before = _files(out)
    assert cli.main(["sweep", str(config_path), "--out", str(out), "--prng", "rbg"]) == 2
    _one_error(capsys.readouterr().err, "threefry PRNG", "uses rbg")
    assert _files(out) == before
