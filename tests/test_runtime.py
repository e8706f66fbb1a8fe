"""Process-wide settings of CLI runs: PRNG choice, compilation cache directory, compile notice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from rlxform import runtime
from rlxform.sim import ascent, config


@pytest.fixture
def restore_jax_config():
    saved = {
        name: getattr(jax.config, name)
        for name in (
            "jax_default_prng_impl",
            "jax_compilation_cache_dir",
            "jax_persistent_cache_min_compile_time_secs",
            "jax_persistent_cache_min_entry_size_bytes",
        )
    }
    yield
    for name, value in saved.items():
        jax.config.update(name, value)


def test_prng_names_map_to_jax_impls():
    assert runtime.prng_impl("threefry") == "threefry2x32"
    assert runtime.prng_impl("rbg") == "rbg"
    assert runtime.prng_impl("unsafe_rbg") == "unsafe_rbg"
    with pytest.raises(ValueError, match="--prng='philox' is invalid"):
        runtime.prng_impl("philox")


@pytest.mark.parametrize("name", ["rbg", "unsafe_rbg"])
def test_use_prng_sets_the_default_and_keeps_the_problem(name, restore_jax_config):
    cfg = config.SimConfig(
        "grpo",
        problem=config.Problem(
            policy="tabular",
            num_prompts=6,
            num_responses=4,
            num_correct=1,
            init_p=("beta", 1.0, 1.0),
        ),
        group_size=8,
        num_steps=2,
    )
    before = np.asarray(ascent.initial_params(cfg)["logits"])
    runtime.use_prng(name)
    assert runtime.current_prng() == name
    assert str(jax.random.key_impl(jax.random.key(0))).endswith(runtime.prng_impl(name))
    np.testing.assert_array_equal(np.asarray(ascent.initial_params(cfg)["logits"]), before)


def test_cache_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("RLXFORM_JAX_CACHE", str(tmp_path / "c"))
    assert runtime.cache_dir() == tmp_path / "c"
    monkeypatch.setenv("RLXFORM_JAX_CACHE", "off")
    assert runtime.cache_dir() is None and runtime.enable_compilation_cache() is None
    monkeypatch.delenv("RLXFORM_JAX_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert runtime.cache_dir() == tmp_path / "xdg" / "rlxform" / "jax"


def test_enable_compilation_cache_caches_small_programs(monkeypatch, tmp_path, restore_jax_config):
    monkeypatch.setenv("RLXFORM_JAX_CACHE", str(tmp_path / "cache"))
    assert runtime.enable_compilation_cache() == tmp_path / "cache"
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache")
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0
    assert jax.config.jax_persistent_cache_min_entry_size_bytes == -1
    assert jax.config.jax_compilation_cache_max_size == runtime.CACHE_MAX_BYTES > 0


CACHED_PROGRAM = """
import jax
from rlxform import runtime
runtime.enable_compilation_cache()
print(float(jax.jit(lambda x: x * 2 + 1)(3.0)))
"""


def test_cache_entries_are_written_under_the_file_lock(tmp_path):
    """A CLI-configured process writes its program with JAX's locked LRU cache (the lock file
    and the entry's access time beside it): concurrent rlxform processes never read an entry
    while another writes it. The second process loads the entry (same result)."""
    cache = tmp_path / "cache"
    env = {**os.environ, "RLXFORM_JAX_CACHE": str(cache), "JAX_PLATFORMS": "cpu"}
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-c", CACHED_PROGRAM], env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0 and proc.stdout.strip() == "7.0", proc.stderr
        assert "Error reading persistent compilation cache" not in proc.stderr
    entries = [p for p in cache.iterdir() if p.name.endswith("-cache")]
    assert len(entries) == 1, sorted(p.name for p in cache.iterdir())
    assert (cache / ".lockfile").exists()
    assert (cache / (entries[0].name.removesuffix("-cache") + "-atime")).exists()


def test_compile_notice_only_for_slow_blocks(capsys):
    with runtime.compile_notice("slow thing", after=0.01):
        time.sleep(0.3)
    assert "rlxform: compiling slow thing ..." in capsys.readouterr().err
    with runtime.compile_notice("fast thing", after=5.0):
        pass
    assert capsys.readouterr().err == ""


def test_cli_simulate_prng_option(monkeypatch, tmp_path, capsys, restore_jax_config):
    from rlxform.cli import main

    monkeypatch.setenv("RLXFORM_JAX_CACHE", "off")
    args = ["simulate", "--scheme", "grpo", "--prompts", "2", "--steps", "4", "--seeds", "2"]
    assert main([*args, "--prng", "xoshiro", "--out", str(tmp_path / "a")]) == 2
    assert "--prng='xoshiro' is invalid" in capsys.readouterr().err
    assert main([*args, "--prng", "rbg", "--out", str(tmp_path / "b")]) == 0
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["config"]["prng"] == "rbg" and summary["agreement"] > 0
