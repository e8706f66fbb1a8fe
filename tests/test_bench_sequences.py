"""W5: the NumPy reference follows exact ascent; both token samplers; records and ratios."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlxform import bench, bench_sequences
from rlxform import sequences as sq
from rlxform.bench_sequences import numpy_simulate, run_w5, w5_config
from rlxform.sequence_sim import SeqSimConfig, initial_params, make_sequence_exact, sample_groups
from rlxform.sequence_tasks import enumerate_sequences
from rlxform.simulate import HParams

REQUIRED = {  # the keys of every rlxform.bench record
    "workload",
    "implementation",
    "samples_per_second",
    "compile_seconds",
    "first_result_seconds",
    "peak_bytes",
    "device",
    "prng",
}


@pytest.mark.slow
def test_numpy_reference_seed_mean_matches_exact_ascent():
    cfg = SeqSimConfig(
        "grpo",
        sq.SequenceTask(3, 3, "parity"),
        "seq-mean-token-mean",
        num_prompts=2,
        group_size=4,
        num_steps=4,
        record_every=4,
        init_p=(0.3, 0.6),
    )
    finals = np.stack([numpy_simulate(cfg, 2.0, seed) for seed in range(200)])
    p = np.asarray(sq.sequence_stats(finals, cfg.task).p)  # [S, P]
    mean, se = p.mean(0), p.std(0, ddof=1) / np.sqrt(len(p))
    exact = np.asarray(make_sequence_exact(cfg)(HParams(2.0)).p[-1])
    assert np.all(np.abs(exact - np.asarray([0.3, 0.6])) > 0.01)  # it moved
    assert np.all(np.abs(mean - exact) <= 4 * se + 2e-3), (mean, exact, se)


@pytest.mark.slow
def test_run_w5_reports_rates_and_ratios():
    out = run_w5(scale=0.02, repeats=1)
    assert w5_config(0.02).num_prompts == 20
    rows = {"rlxform", "rlxform_token_cdf", "numpy", "uniform_bound"}
    assert set(out["samples_per_second"]) == set(out["compile_seconds"]) == rows
    assert set(out["speedup_vs_numpy"]) == {"rlxform", "rlxform_token_cdf"}
    assert all(v > 0 for v in out["speedup_vs_numpy"].values())
    assert all(v > 0 for v in out["fraction_of_uniform_bound"].values())
    assert out["compile_seconds"]["rlxform"] > 0 and out["compile_seconds"]["numpy"] == 0


def test_w5_records_have_the_bench_keys(monkeypatch):
    fake = {
        "num_samples": 10,
        **{
            field: dict.fromkeys(("rlxform", "rlxform_token_cdf", "numpy", "uniform_bound"), 0.5)
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
        "rlxform_token_cdf",
        "numpy",
        "uniform_bound",
    ]
    for r in records:
        assert REQUIRED <= set(r) and r["workload"] == "W5"
    assert records[0]["prng"] == "threefry" and records[2]["prng"] == "numpy"
    assert set(bench.ratios(records)) == {
        ("W5", implementation, peer)
        for implementation in ("rlxform", "rlxform_token_cdf")
        for peer in ("numpy", "uniform_bound")
    }


def test_sample_groups_cdf_fields_match_the_enumeration():
    """The inverse-CDF group sampler fills SequenceBatch like ``sample_groups`` does."""
    cfg = SeqSimConfig(
        "grpo",
        sq.SequenceTask(3, 4, "parity"),
        "seq-mean-token-mean",
        num_prompts=3,
        group_size=64,
        num_steps=2,
        init_p=(0.3, 0.6),
    )
    table = initial_params(cfg)["logits"]
    batch = bench_sequences.sample_groups_cdf(jax.random.key(0), table, cfg)
    ref = sample_groups(jax.random.key(0), table, cfg)
    for field, ours, theirs in zip(batch._fields, batch, ref, strict=True):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, field
    np.testing.assert_array_equal(batch.prompt, ref.prompt)
    enum = enumerate_sequences(cfg.task)
    np.testing.assert_array_equal(batch.tokens, enum.tokens[batch.index])
    np.testing.assert_array_equal(batch.lengths, enum.lengths[batch.index])
    assert len(np.unique(np.asarray(batch.index))) > 10  # many different responses drawn


def test_w5_token_samplers_agree_in_the_mean_update():
    """Both token samplers give the same expected p after one step (within standard errors)."""
    cfg = SeqSimConfig(
        "grpo",
        sq.SequenceTask(3, 3, "first_token"),
        "seq-mean-token-mean",
        num_prompts=256,
        group_size=8,
        num_steps=1,
        record_every=1,
        init_p=(0.3,),
    )
    hparams = HParams(jnp.float32(80.0))  # the step on a prompt's rows is lr / P
    p = {
        sampler: np.asarray(
            jax.jit(bench_sequences.build_w5_simulate(cfg, sampler))(hparams, jax.random.key(1)).p[
                -1
            ]
        )
        for sampler in bench_sequences.TOKEN_SAMPLERS
    }
    exact = np.asarray(make_sequence_exact(cfg)(hparams).p[-1])
    assert abs(exact[0] - 0.3) > 0.01  # it moved
    for sampler, final in p.items():
        se = final.std(ddof=1) / np.sqrt(final.size)
        assert abs(final.mean() - exact.mean()) < 4 * se + 2e-3, (sampler, final.mean(), exact)
    with pytest.raises(ValueError, match="token_sampler='gumbel' is invalid"):
        bench_sequences.build_w5_simulate(cfg, "gumbel")
