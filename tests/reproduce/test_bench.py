"""Benchmark plumbing (no timing assertions) and the NumPy reference against the simulator.

The NumPy reference must implement the same update as the simulator: its one-step mean update
and the simulator's both lie within a few standard errors of the exact E[g] (``exact``).
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from helpers import BENCH_RECORD_KEYS

from rlxform.reproduce import bench
from rlxform.reproduce.bench import programs as bench_programs
from rlxform.sim import ascent, config, estimator, exact, sweeps
from rlxform.sim import simulate as sim

ADAM_CONFIG = config.SimConfig(
    "grpo",
    problem=config.Problem(policy="tabular", num_prompts=4, num_responses=4, num_correct=1),
    group_size=8,
    num_steps=2,
    optimizer="adam",
)


def test_tiny_bench_writes_required_records(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert bench.main("W1", str(path), repeats=1, scale=0.01) == 0
    out = json.loads(path.read_text())
    records = out["records"]
    assert out["prng"] == "threefry"
    assert {(r["workload"], r["implementation"]) for r in records} == {
        ("W1", "rlxform"),
        ("W1", "jax_reference"),
        ("W1", "numpy"),
        ("W1", "uniform_bound"),
    }
    for r in records:
        assert BENCH_RECORD_KEYS <= set(r)
        assert r["samples_per_second"] > 0 and r["peak_bytes"] > 0
        assert r["first_result_seconds"] >= r["compile_seconds"]
        assert r["num_samples"] == 40 * 16 * 2  # P = 4096 * 0.01, M = 16, T = 200 * 0.01
    ratios = bench.ratios(records)
    assert set(ratios) == {
        ("W1", "rlxform", peer) for peer in ("jax_reference", "numpy", "uniform_bound")
    }
    printed = capsys.readouterr().out
    assert "prng: threefry" in printed and "vs jax_ref" in printed and "vs numpy" in printed
    assert "first x" in printed and set(out["first_result_ratios"]) == {"W1"}


def test_ratios_are_peer_wall_over_rlxform_wall():
    def row(name, implementation, wall):
        return {"workload": name, "implementation": implementation, "wall_seconds": wall}

    records = [
        row("W3", "rlxform", 2.0),
        row("W3", "rlxform_distinct_keys", 4.0),
        row("W3", "jax_reference", 3.0),
        row("W3", "uniform_bound", 1.0),
        row("W3", "uniform_bound_distinct_keys", 6.0),
    ]
    assert bench.ratios(records) == {
        ("W3", "rlxform", "jax_reference"): 1.5,
        ("W3", "rlxform", "uniform_bound"): 0.5,
        ("W3", "rlxform_distinct_keys", "uniform_bound_distinct_keys"): 1.5,
    }


def test_first_result_ratios_are_reference_first_over_rlxform_first():
    def row(name, implementation, first):
        return {"workload": name, "implementation": implementation, "first_result_seconds": first}

    records = [
        row("W1", "rlxform", 2.0),
        row("W1", "jax_reference", 3.0),
        row("W1", "uniform_bound", 0.5),
        row("W3", "rlxform_distinct_keys", 1.0),
        row("W3", "rlxform", 4.0),
        row("W3", "jax_reference", 1.0),
        row("W4", "rlxform", 1.0),  # no reference row: no ratio
    ]
    assert bench.first_result_ratios(records) == {"W1": 1.5, "W3": 0.25}


def test_cold_start_clears_the_lowering_cache():
    """A program compiled after ``cold_start`` is traced again (no cached lowering reused)."""
    traces = []

    def f(x):
        traces.append(1)
        return x * 2

    jitted = jax.jit(f)
    jitted(np.float32(1))
    jitted(np.float32(2))
    assert len(traces) == 1
    bench_programs.cold_start()
    jitted(np.float32(3))
    assert len(traces) == 2


def test_w3_programs_share_or_split_keys():
    work = bench.workload("W3", 0.01)
    _, (hparams, keys) = bench.rlxform_program(work)
    assert hparams.learning_rate.shape == (16,) and keys.shape == (8,)
    _, (_, distinct) = bench.rlxform_program(work, distinct_keys=True)
    assert distinct.shape == (16, 8)
    assert len({tuple(np.asarray(jax.random.key_data(k))) for k in distinct.reshape(-1)}) == 128
    assert bench.implementations("W3")[:3] == ("rlxform", "rlxform_distinct_keys", "jax_reference")


@pytest.mark.parametrize(
    "sampler, group_size",
    # the counts case compiles the binomial tree (~60 s on 2 cores): the slow set
    [("inverse_cdf", 8), pytest.param("counts", 64, marks=pytest.mark.slow)],
)
def test_jax_reference_converges_like_rlxform(sampler, group_size):
    cfg = config.SimConfig(
        "grpo",
        problem=config.Problem(
            policy="tabular",
            num_prompts=32,
            num_responses=4,
            num_correct=1,
            init_p=("beta", 1.0, 1.0),
        ),
        group_size=group_size,
        num_steps=20,
        sampler=sampler,
    )
    seeds, lr = 32, 0.5
    keys = jax.random.split(jax.random.key(5), seeds)
    ours = np.asarray(sweeps.make_sweep(cfg)(sweeps.grid([lr]), keys).mean_p[0], np.float64)
    reference = jax.jit(jax.vmap(bench.build_reference(cfg), in_axes=(None, 0)))(
        jax.numpy.float32(lr), jax.random.split(jax.random.key(6), seeds)
    )
    reference = np.asarray(reference, np.float64)
    assert reference.shape == (seeds, 21)  # T + 1 values of mean p
    np.testing.assert_allclose(reference[:, 0], ours[:, 0], rtol=1e-5)  # same problem
    se = np.hypot(ours[:, -1].std(ddof=1), reference[:, -1].std(ddof=1)) / np.sqrt(seeds)
    assert abs(ours[:, -1].mean() - reference[:, -1].mean()) <= 4 * se + 1e-6
    assert reference[:, -1].mean() - reference[:, 0].mean() > 10 * se  # both learn: signal


def test_jax_reference_rejects_unsupported_configs():
    cfg = ADAM_CONFIG  # neither reference implements Adam
    with pytest.raises(ValueError, match="JAX reference"):
        bench.build_reference(cfg)


def test_workload_shapes():
    w1, w2, w3, w4 = (bench.workload(n) for n in bench.WORKLOADS)
    assert (
        w1.cfg.problem.num_prompts,
        w1.cfg.problem.num_responses,
        w1.cfg.group_size,
        w1.cfg.num_steps,
    ) == (
        4096,
        8,
        16,
        200,
    )
    assert (
        w2.cfg.problem.policy,
        w2.cfg.problem.hidden,
        w2.cfg.problem.features,
        w2.cfg.num_steps,
    ) == (
        "network",
        64,
        16,
        100,
    )
    assert (w3.cfg.problem.num_prompts, w3.grid_size) == (512, 128)
    assert w4.cfg.group_size == 256 and w4.cfg.resolved_sampler == "counts"
    assert w1.num_samples == 4096 * 16 * 200
    with pytest.raises(ValueError, match="workload"):
        bench.workload("W9")


def test_bad_workload_is_one_line_error(capsys):
    from rlxform.cli import main

    assert main(["bench", "--workload", "W9"]) == 2
    assert "--workload='W9' is invalid" in capsys.readouterr().err


def test_loglog_slope():
    sizes = np.array([1.0, 2.0, 4.0])
    assert bench.loglog_slope(sizes, 3.0 * sizes) == pytest.approx(1.0)
    assert bench.loglog_slope(sizes, sizes**2) == pytest.approx(2.0)


def test_affine_fit():
    sizes = np.array([32.0, 64.0, 128.0])
    a, b = bench.affine_fit(sizes, 0.5 + 0.01 * sizes)
    assert a == pytest.approx(0.5) and b == pytest.approx(0.01)


def test_numpy_reference_and_simulator_match_exact_mean_update():
    cfg = config.SimConfig(
        "grpo",
        problem=config.Problem(
            policy="tabular", num_prompts=3, num_responses=4, num_correct=1, init_p=(0.2, 0.5, 0.8)
        ),
        group_size=8,
        num_steps=1,
    )
    params = ascent.initial_params(cfg)
    update = jax.jit(lambda x: exact.expected_update(None, x, cfg))(params)
    expected = 3.0 * np.asarray(update["logits"], np.float64)

    # NumPy: 4000 replicas of each prompt in one step; per-replica update times P_big / lr.
    reps, lr = 4000, 1.0
    logits = np.tile(np.asarray(params["logits"], np.float32), (reps, 1))
    a_table, b_table = (np.asarray(t) for t in ascent.tables(cfg))
    new, s = bench.numpy_step(np.random.default_rng(0), logits, a_table, b_table, 1, 8, lr)
    assert s.shape == (3 * reps,) and s.min() >= 0 and s.max() <= 8
    per = ((new - logits) * logits.shape[0] / lr).astype(np.float64).reshape(reps, 3, 4)
    np_mean, np_se = per.mean(0), per.std(0, ddof=1) / np.sqrt(reps)

    keys = jax.random.split(jax.random.key(1), reps)
    draws, _ = jax.jit(jax.vmap(lambda k: sim.sample_gradient(k, params, cfg)))(keys)
    jx = 3.0 * np.asarray(draws["logits"], np.float64)
    jx_mean, jx_se = jx.mean(0), jx.std(0, ddof=1) / np.sqrt(reps)

    assert np.all(np.abs(np_mean - expected) <= 4.5 * np_se + 1e-6)
    assert np.all(np.abs(jx_mean - expected) <= 4.5 * jx_se + 1e-6)
    assert np.all(np.abs(np_mean - jx_mean) <= 4.5 * np.hypot(np_se, jx_se) + 1e-6)
    assert np.abs(expected).max() > 0.05  # the test has signal to detect a wrong update


def test_numpy_simulate_rejects_unsupported_configs():
    cfg = ADAM_CONFIG  # neither reference implements Adam
    with pytest.raises(ValueError, match="NumPy reference"):
        bench.numpy_simulate(cfg, 0.1, 0)


def test_tabular_closed_form_gradient_equals_generic_route():
    cfg = config.SimConfig(
        "grpo",
        problem=config.Problem(
            policy="tabular",
            num_prompts=5,
            num_responses=4,
            num_correct=1,
            init_p=(0.1, 0.3, 0.5, 0.7, 0.9),
        ),
        group_size=8,
        num_steps=1,
    )
    params = ascent.initial_params(cfg)
    key = jax.random.key(7)
    grads, s = jax.jit(lambda k: sim.sample_gradient(k, params, cfg))(key)
    a_table, b_table = ascent.tables(cfg)
    policy = ascent.policy_of(cfg)
    generic, s_ref = jax.jit(
        lambda k: estimator.sample_gradient(
            k, params, policy, cfg, a_table, b_table, use_fast=False
        )
    )(key)
    generic = generic["logits"]
    np.testing.assert_array_equal(np.asarray(s), np.asarray(s_ref))
    np.testing.assert_allclose(np.asarray(grads["logits"]), np.asarray(generic), atol=1e-7)
    assert np.abs(np.asarray(generic)).max() > 0
