"""Process-wide settings of CLI runs: PRNG choice, compilation cache directory, compile notice."""

from __future__ import annotations

import json
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
