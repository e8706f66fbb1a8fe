"""The filters' rules and their expectations (``rlxform.core.filters``, issue 24).

Routes: the issue's numbers (31% of 2000-token answers dropped against 1.4% of 100-token ones);
TRL 1.16.0's own importance-sampling weights (tests/data/loss_modes/trl.json, kind vllm_is);
SciPy (normal CDF, quadrature of the lognormal, binomial pmf); Monte Carlo of the rule itself;
numpy.quantile for the batch quantile; hand-computed overlong penalties (verl's formula).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from rlxform.core import dynamic, schemes
from rlxform.core import filters as F
from rlxform.core.sequences import SequenceTask, enumerate_sequences
from rlxform.validation import InputError

DATA = Path(__file__).parent.parent / "data" / "loss_modes" / "trl.json"


def test_issue_numbers_default_sequence_mask_drops_long_answers():
    """TRL 1.16.0 default (sequence_mask, cap 3, no lower bound), sd 0.05 per token, mean 0."""
    drop = 1.0 - F.vllm_law("sequence_mask", [100, 2000]).keep_probability
    assert drop[0] == pytest.approx(0.0140, abs=5e-5)
    assert drop[1] == pytest.approx(0.3116, abs=5e-5)
    expected = stats.norm.sf(math.log(3.0) / (0.05 * np.sqrt([100, 2000])))
    np.testing.assert_allclose(drop, expected, rtol=1e-12)


def _lognormal_expectation(weight, loc, scale):
    """E[weight(e^D)], D ~ N(loc, scale^2), by quadrature (split at the cap's kinks)."""
    density = lambda d: weight(math.exp(d)) * stats.norm.pdf(d, loc, scale)
    points = [math.log(3.0), math.log(1.5), math.log(0.5)]
    lo, hi = loc - 12 * scale, loc + 12 * scale
    value, _ = integrate.quad(
        density,
        lo,
        hi,
        points=[p for p in points if lo < p < hi],
        limit=100,
        epsabs=1e-12,
        epsrel=1e-10,
    )
    return value


@pytest.mark.parametrize("mode", F.VLLM_MODES)
@pytest.mark.parametrize(
    ("cap", "cap_min", "mean", "sd"),
    [(3.0, None, 0.0, 0.05), (1.5, 0.5, 0.01, 0.1), (None, 0.5, -0.02, 0.3)],
)
def test_expected_weight_and_keep_probability_match_quadrature(mode, cap, cap_min, mean, sd):
    lengths = np.array([1, 40, 300])
    got = F.vllm_law(mode, lengths, cap, cap_min, mean, sd).expected_weight
    kept = F.vllm_law(mode, lengths, cap, cap_min, mean, sd).keep_probability
    upper = math.inf if cap is None else cap
    lower = 0.0 if cap_min is None else cap_min
    if mode.endswith("truncate"):
        weight = lambda r: min(max(r, lower), upper)
        keep = lambda r: 1.0
    else:
        weight = lambda r: r if lower <= r <= upper else 0.0
        keep = lambda r: 1.0 if lower <= r <= upper else 0.0
    for k, length in enumerate(lengths):
        n = length if mode.startswith("sequence") else 1
        loc, scale = n * mean, math.sqrt(n) * sd
        assert got[k] == pytest.approx(_lognormal_expectation(weight, loc, scale), rel=1e-8)
        assert kept[k] == pytest.approx(_lognormal_expectation(keep, loc, scale), abs=1e-9)


def test_expected_weight_matches_the_rule_by_monte_carlo():
    """The rule applied to sampled log-ratios (``vllm_weights``) averages to the expectation."""
    rng = np.random.default_rng(0)
    lengths = np.array([3, 12, 30])
    live = np.arange(30)[None, :] < lengths[:, None]
    for mode in F.VLLM_MODES:
        d = 0.02 + 0.15 * rng.standard_normal((40_000, 3, 30))
        w = F.vllm_weights(mode, d, live, 1.6, 0.7)
        per = w[..., 0]  # one token (token modes) or the answer's weight (sequence modes)
        exact = F.vllm_law(mode, lengths, 1.6, 0.7, 0.02, 0.15).expected_weight
        se = per.std(0) / np.sqrt(per.shape[0])
        assert np.all(np.abs(per.mean(0) - exact) < 5 * se + 1e-12), mode


def test_point_mass_mismatch():
    """sd = 0: the ratio is exactly e^(L mu)."""
    mask = F.vllm_law("sequence_mask", [10, 200], 3.0, None, 0.01, 0.0).expected_weight
    np.testing.assert_allclose(mask, [math.exp(0.1), 0.0])
    truncate = F.vllm_law("sequence_truncate", [10, 200], 3.0, None, 0.01, 0.0).expected_weight
    np.testing.assert_allclose(truncate, [math.exp(0.1), 3.0])


def _trl_cases():
    data = json.loads(DATA.read_text())
    batch = data["batch"]
    return [
        (c["id"], c["settings"], c["importance_sampling_ratio"], batch)
        for c in data["cases"]
        if c["kind"] == "vllm_is" and c["regime"] == "ratio1"
    ]


@pytest.mark.parametrize(
    ("case", "settings", "ratio", "batch"),
    _trl_cases(),
    ids=[c[0].split("/")[1] for c in _trl_cases()],
)
def test_vllm_weights_reproduce_trl_1_16(case, settings, ratio, batch):
    """TRL's own weights (trl/trainer/grpo_trainer.py:2660-2708) from old - rollout log-probs."""
    lengths = batch["lengths"]
    width = max(lengths)
    pad = lambda rows: np.array([r + [0.0] * (width - len(r)) for r in rows])
    diff = pad(batch["old_logp"]) - pad(batch["rollout_logp"])
    live = np.arange(width)[None, :] < np.array(lengths)[:, None]
    mode = settings["vllm_importance_sampling_mode"]
    got = F.vllm_weights(
        mode,
        diff,
        live,
        settings["vllm_importance_sampling_clip_max"],
        settings["vllm_importance_sampling_clip_min"],
    )
    for i, row in enumerate(ratio):
        expected = np.broadcast_to(np.asarray(row), (lengths[i],))
        np.testing.assert_allclose(got[i, : lengths[i]], expected, rtol=1e-12, atol=0)


def test_masked_quantile_is_numpy_linear_quantile():
    rng = np.random.default_rng(3)
    for _ in range(20):
        values = rng.random((5, 7))
        mask = rng.random((5, 7)) < 0.6
        q = rng.random()
        if mask.sum() == 0:
            continue
        got = F.masked_quantile(values, mask, q)
        assert got == pytest.approx(np.quantile(values[mask], q, method="linear"), abs=1e-15)
    assert F.masked_quantile(np.ones(3), np.zeros(3, bool), 0.5) == np.inf


def test_entropy_threshold_is_the_large_batch_quantile():
    """Atoms with token masses: a batch of 400k tokens lands on the population atom."""
    rng = np.random.default_rng(5)
    entropies = np.array([0.2, 0.9, 0.5, 1.1, 0.05])
    mass = np.array([0.3, 0.1, 0.25, 0.15, 0.2])
    for rho in (0.1, 0.3, 0.62, 0.9, 1.0):
        tau, boundary = F.entropy_threshold(entropies, mass, rho)
        sample = rng.choice(entropies, size=400_000, p=mass / mass.sum())
        assert not boundary
        assert tau == np.quantile(sample, 1 - rho, method="linear")
    assert F.entropy_threshold(entropies, mass, 0.5)[1]  # 1 - rho = 0.5 is F(0.2) exactly


def test_overlong_penalty_hand_values_and_task_rewards():
    """verl dapo.py:121-125: min(-(L - (L_max - buffer)) / buffer * factor, 0)."""
    got = F.overlong_penalty(np.array([1, 4, 5, 6, 8]), 8, 4.0, 0.5)
    np.testing.assert_allclose(got, [0.0, 0.0, -0.125, -0.25, -0.5])
    task = SequenceTask(3, 3, "parity")
    enum = enumerate_sequences(task)
    shaped = F.shaped_rewards(task, 2.0, 1.0)
    np.testing.assert_allclose(shaped, enum.correct + np.minimum(-(enum.lengths - 1) / 2, 0))
    np.testing.assert_array_equal(
        F.stopped(task), [t[n - 1] == 2 for t, n in zip(enum.tokens, enum.lengths, strict=True)]
    )
    assert F.stopped(task).sum() == 7 and (~F.stopped(task)).sum() == 8


@pytest.mark.parametrize("m", [2, 5, 8])
def test_range_tables_and_kept_probability(m):
    scheme = schemes.get("grpo")
    a_table, b_table = scheme.tables(m)
    p = np.linspace(0.01, 0.99, 9)
    for low, high in [(0.0, 1.0), (0.2, 0.8), (-1.0, 0.5), (0.3, 2.0)]:
        s = np.arange(m + 1)
        keep = (s / m > low) & (s / m < high)
        expected = (stats.binom.pmf(s[None, :], m, p[:, None]) * keep).sum(-1)
        np.testing.assert_allclose(F.range_kept_probability(p, m, low, high), expected, rtol=1e-12)
        a_kept, b_kept = F.range_tables(a_table, b_table, low, high)
        np.testing.assert_array_equal(a_kept, np.where(keep, a_table, 0.0))
        np.testing.assert_array_equal(b_kept, np.where(keep, b_table, 0.0))
    a_kept, b_kept = F.range_tables(a_table, b_table, 0.0, 1.0)  # = dynamic sampling
    np.testing.assert_allclose(
        dynamic.kept_coefficients(a_table, b_table), a_kept[1:] - b_kept[:-1], atol=1e-15
    )
    np.testing.assert_allclose(
        F.range_kept_probability(p, m, 0.0, 1.0), dynamic.kept_probability(p, m), rtol=1e-12
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: F.check_vllm("seq_mask", 3.0), "vllm_mode='seq_mask' is invalid: must be one of"),
        (lambda: F.check_vllm("sequence_mask", 0.0), "vllm_cap=0.0 is invalid: must be a finite"),
        (lambda: F.check_vllm("sequence_mask", -1), "vllm_cap=-1.0 is invalid"),
        (lambda: F.check_vllm("token_mask", 2.0, 2.5), "vllm_cap_min=2.5 is invalid"),
        (lambda: F.check_vllm("token_mask", None, None), "vllm_cap=None is invalid"),
        (lambda: F.check_mismatch(0.0, -0.1), "mismatch_sd=-0.1 is invalid"),
        (lambda: F.check_overlong(0, 1.0, 8), "overlong_buffer=0.0 is invalid"),
        (
            lambda: F.check_overlong(9, 1.0, 8),
            "overlong_buffer=9.0 is invalid: must be a finite number in (0, 8]",
        ),
        (lambda: F.check_overlong(2, -1.0, 8), "overlong_factor=-1.0 is invalid"),
        (
            lambda: F.check_quantile(0.0),
            "entropy_quantile=0.0 is invalid: must be a finite number in (0, 1]",
        ),
        (lambda: F.check_quantile(1.5), "entropy_quantile=1.5 is invalid"),
        (lambda: F.check_range(0.5, 0.5), "range_low=0.5 is invalid: must be below range_high"),
        (lambda: F.check_range(0.7, 0.2), "range_low=0.7 is invalid"),
        (lambda: F.check_range(0.0, float("nan")), "range_high=nan is invalid"),
    ],
)
def test_bad_settings_name_argument_value_and_allowed(call, message):
    with pytest.raises(
        InputError,
        match=message.replace("(", r"\(")
        .replace(")", r"\)")
        .replace("[", r"\[")
        .replace("]", r"\]"),
    ):
        call()
