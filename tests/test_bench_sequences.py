"""W5's NumPy reference follows exact ascent in the seed mean; run_w5 reports its ratios."""

import numpy as np
import pytest

from rlxform import sequences as sq
from rlxform.bench_sequences import numpy_simulate, run_w5, w5_config
from rlxform.sim.config import HParams, Problem, SimConfig
from rlxform.sim.reference import make_exact


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
    p = np.asarray(sq.sequence_stats(finals, cfg.task).p)  # [S, P]
    mean, se = p.mean(0), p.std(0, ddof=1) / np.sqrt(len(p))
    exact = np.asarray(make_exact(cfg)(HParams(2.0)).p[-1])
    assert np.all(np.abs(exact - np.asarray([0.3, 0.6])) > 0.01)  # it moved
    assert np.all(np.abs(mean - exact) <= 4 * se + 2e-3), (mean, exact, se)


@pytest.mark.slow
def test_run_w5_reports_rates_and_ratios():
    out = run_w5(scale=0.02, repeats=1)
    assert w5_config(0.02).num_prompts == 20
    assert set(out["samples_per_second"]) == {"rlxform", "numpy", "uniform_bound"}
    assert out["speedup_vs_numpy"] > 0 and out["fraction_of_uniform_bound"] > 0
