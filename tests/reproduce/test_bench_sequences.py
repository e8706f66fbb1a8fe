"""W5: the NumPy reference follows exact ascent; both token samplers; records and ratios."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import BENCH_RECORD_KEYS

from rlxform.core import sequences as sq
from rlxform.reproduce import bench
from rlxform.reproduce.bench import sequences as bench_sequences
from rlxform.reproduce.bench.sequences import numpy_simulate, run_w5, w5_config
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.exact import make_exact
from rlxform.sim.hparams import HParams


@pytest.mark.slow
def test_numpy_reference_seed_mean_matches_exact_ascent():
    problem = Problem(
        "sequence_tabular", 2, init_p=(0.3, 0.6), vocab_size=3, max_length=3, verifier="parity"
    )
    cfg = SimConfig(
        "grpo",
        problem,
        group_size=4,
        num_steps=4,
        record_every=4,
        aggregation="seq-mean-token-mean",
    )
    finals = np.stack([numpy_simulate(cfg, 2.0, seed) for seed in range(200)])
    p = np.asarray(sq.length_stats(finals, cfg.problem.task)[0])  # [S, P]
    mean, se = p.mean(0), p.std(0, ddof=1) / np.sqrt(len(p))
    exact = np.asarray(make_exact(cfg)(HParams(2.0)).p[-1])
    assert np.all(np.abs(exact - np.asarray([0.3, 0.6])) > 0.01)  # it moved
    assert np.all(np.abs(mean - exact) <= 4 * se + 2e-3), (mean, exact, se)


@pytest.mark.slow
def test_run_w5_reports_rates_and_ratios():
    out = run_w5(scale=0.02, repeats=1)
    assert w5_config(0.02).problem.num_prompts == 20
    rows = {"rlxform", "jax_reference", "numpy", "uniform_bound"}
    assert set(out["samples_per_second"]) == set(out["compile_seconds"]) == rows
    assert set(out["speedup_vs_numpy"]) == set(out["speedup_vs_jax_reference"]) == {"rlxform"}
    assert out["speedup_vs_jax_reference"]["rlxform"] > 0
    assert all(v > 0 for v in out["speedup_vs_numpy"].values())
    assert all(v > 0 for v in out["fraction_of_uniform_bound"].values())
    assert out["compile_seconds"]["rlxform"] > 0 and out["compile_seconds"]["numpy"] == 0


def test_w5_records_have_the_bench_keys(monkeypatch):
    fake = {
        "num_samples": 10,
        **{
            field: dict.fromkeys(("rlxform", "jax_reference", "numpy", "uniform_bound"), 0.5)
            for field in (
                "wall_seconds",
                "samples_per_second",
                "compile_seconds",
                "first_result_seconds",
            )
        },
    }
    monkeypatch.setattr(bench_sequences, "run_w5", lambda scale, repeats: fake)
    records = bench_sequences.w5_records(0.01, 1)
    assert [r["implementation"] for r in records] == [
        "rlxform",
        "jax_reference",
        "numpy",
        "uniform_bound",
    ]
    for r in records:
        assert BENCH_RECORD_KEYS <= set(r) and r["workload"] == "W5"
    assert [r["prng"] for r in records] == ["threefry", "threefry", "numpy", "threefry"]
    assert set(bench.ratios(records)) == {
        ("W5", implementation, peer)
        for implementation in ("rlxform",)
        for peer in ("jax_reference", "numpy", "uniform_bound")
    }


def test_w5_simulator_mean_update_matches_exact():
    """The W5 route (``build_simulate``: sparse SGD, inverse-CDF tokens) moves p like the exact
    step (within SEs)."""
    from rlxform.sim.simulate import build_simulate

    problem = Problem("sequence_tabular", 256, init_p=(0.3,), vocab_size=3, max_length=3)
    cfg = SimConfig(
        "grpo",
        problem,
        group_size=8,
        num_steps=1,
        record_every=1,
        aggregation="seq-mean-token-mean",
    )
    hparams = HParams(jnp.float32(80.0))  # the step on a prompt's rows is lr / P
    final = np.asarray(jax.jit(build_simulate(cfg, sparse=True))(hparams, jax.random.key(1)).p[-1])
    exact = np.asarray(make_exact(cfg)(hparams).p[-1])
    assert abs(exact[0] - 0.3) > 0.01  # it moved
    se = final.std(ddof=1) / np.sqrt(final.size)
    assert abs(final.mean() - exact.mean()) < 4 * se + 2e-3, (final.mean(), exact, se)


def test_cdf_walk_draws_the_samplers_tokens():
    """The breakdown's floor walk is a real sampler: with the same key it draws the tokens of
    ``sample_tokens`` wherever that one is live (probabilities from a float64 softmax)."""
    from rlxform.sim.sampling import PAD_TOKEN, sample_tokens

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 13, 4)).astype(np.float32)  # V = 4, max_length = 3
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    cdf = np.cumsum(probs / probs.sum(-1, keepdims=True), -1)
    cdf[..., -1] = 2.0
    prompts = jnp.asarray([2, 0, 2], jnp.int32)
    key = jax.random.key(4)
    walked = np.asarray(bench_sequences.cdf_walk(key, jnp.asarray(cdf), prompts, 64, 3))
    tokens, _ = sample_tokens(key, jnp.asarray(logits), prompts, 64, 3)
    live = np.asarray(tokens) != PAD_TOKEN
    assert live.sum() > 300
    np.testing.assert_array_equal(walked[live], np.asarray(tokens)[live])
    counts = np.bincount(walked[:, :, 0].ravel(), minlength=4)  # first token: row 0 of prompt
    assert counts.min() > 0 and walked.max() == 3


@pytest.mark.slow
def test_w5_breakdown_rows_and_cli(tmp_path, capsys):
    import json

    from rlxform.cli import main

    path = tmp_path / "bench.json"
    args = ["bench", "--workload", "W5-breakdown", "--scale", "0.02", "--repeats", "1"]
    assert main([*args, "--json", str(path)]) == 0
    out = json.loads(path.read_text())["w5_breakdown"]
    rows = {
        "rlxform",
        "uniform_bound",
        "cdf_walk",
        "cdf_walk_cached",
        "sampler",
        "records",
        "record_exp",
        "scatter",
    }
    assert set(out["wall_seconds"]) == set(out["fraction_of_uniform_bound"]) == rows
    assert out["fraction_of_uniform_bound"]["uniform_bound"] == 1.0
    assert all(v > 0 for v in out["wall_seconds"].values())
    printed = capsys.readouterr().out
    assert "| cdf_walk_cached |" in printed and "fraction of uniform bound" in printed


@pytest.mark.parametrize(
    "fn, kw, named",
    [
        (w5_config, {"scale": 0.0}, "scale=0.0"),
        (w5_config, {"scale": 2.0}, "scale=2.0"),
        (run_w5, {"scale": 0.02, "repeats": 0}, "repeats=0"),
        (bench_sequences.w5_breakdown, {"scale": float("nan")}, "scale=nan"),
        (bench_sequences.w5_breakdown, {"scale": 0.02, "repeats": 0}, "repeats=0"),
    ],
)
def test_w5_entry_points_name_bad_arguments(fn, kw, named):
    with pytest.raises(ValueError) as err:
        fn(**kw)
    assert named in str(err.value)
