"""Every experiment in its tiny mode: files exist, columns are right, values are sane."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rlxform.cli import main
from rlxform.reproduce import registry as experiments
from rlxform.results import read_table

ROOT = Path(__file__).resolve().parents[2]

COLUMNS = {
    "fig1_transforms": {"scheme", "limit", "p", "normalised_objective"},
    "fig2_rejection_sampling": {"M", "p", "objective", "log_p", "gap"},
    "fig3_grpo": {"std", "eps", "M", "p", "normalised_objective", "arcsine", "gap"},
    "fig4_weights": {"scheme", "M", "p", "weight", "limit_weight"},
    "fig5_trajectories": {"policy", "scheme", "step", "mean_p", "mean_p_se", "exact_mean_p"},
    "fig6_difficulty": {"scheme", "initial_p", "final_p", "final_p_se", "exact_final_p"},
    "fig7_noise": {"scheme", "M", "p", "mean", "variance", "snr"},
    "sweep_lr_groupsize": {
        "scheme",
        "group_size",
        "learning_rate",
        "seed",
        "step",
        "mean_p",
        "objective",
        "diverged_at",
    },
    "kl_equilibrium": {"scheme", "M", "beta", "p_ref", "p_star", "w_at_p_star"},
    "kl_trajectories": {"beta", "step", "mean_p", "mean_p_se", "exact_mean_p", "p_star"},
    "entropy_equilibrium": {"part", "scheme", "M", "coef", "p_star", "mean_p", "exact_mean_p"},
    "kl_estimators": {"policy", "estimator", "placement", "cosine", "relative_error"},
    "ppo_effective_weight": {"scheme", "M", "epochs", "clip_high", "p", "weight", "w_m"},
    "loss_modes": {"mode", "scale", "epochs", "p", "weight", "weight_per_scale", "clip_fraction"},
    "batch_std": {"G", "p", "weight", "limit_weight", "relative_deviation"},
    "length_drift_map": {"verifier", "aggregation", "scheme", "p", "wrong_per_p", "drift_p"},
    "length_trajectories": {"aggregation", "step", "mean_length_wrong", "exact_mean_length_wrong"},
    "aggregation_table": {"name", "mode", "factor", "gradient", "objective"},
    "vllm_mask_length": {"panel", "sigma", "cap", "length", "keep_probability", "wrong_per_p"},
    "trainer_comparison": {"framework", "title", "M", "p", "weight"},
}


class TinyRuns(dict):
    """Experiment name -> reloaded table of its tiny run, each run on first use (so a test
    selection runs only the experiments it reads); ``"out"`` is the output folder."""

    def __init__(self, out: Path):
        super().__init__(out=out)

    def __missing__(self, name: str) -> dict:
        result = experiments.run_experiment(name, "tiny", self["out"])
        for kind in ("csv", "png", "json"):
            assert result.paths[kind].is_file() and result.paths[kind].stat().st_size > 0
        self[name] = read_table(result.paths["csv"])
        return self[name]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> TinyRuns:
    """The tiny runs of every experiment, shared by this module's tests (run lazily)."""
    return TinyRuns(tmp_path_factory.mktemp("tiny"))


def test_registry_has_every_figure_and_mode():
    assert set(experiments.EXPERIMENTS) == set(COLUMNS)
    for exp in experiments.EXPERIMENTS.values():
        assert set(exp.configs) == set(experiments.MODES)


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_outputs_and_columns(tiny, name):
    assert COLUMNS[name] <= set(tiny[name])
    meta = json.loads((tiny["out"] / f"{name}.json").read_text())
    for key in (
        "config",
        "rlxform_version",
        "jax_version",
        "git_revision",
        "device_kind",
        "wall_time_s",
    ):
        assert key in meta
    assert meta["experiment"] == name and meta["wall_time_s"] > 0


def test_fig1_passes_through_one_one(tiny):
    t = tiny["fig1_transforms"]
    at_one = t["normalised_objective"][t["p"] == 1.0]
    np.testing.assert_allclose(at_one, 1.0, atol=1e-12)
    half = (t["p"] == 0.5) & (t["limit"] == "log p")
    np.testing.assert_allclose(t["normalised_objective"][half], 1 + np.log(0.5), rtol=1e-12)


def test_fig2_gap_to_log_shrinks_with_group_size(tiny):
    t = tiny["fig2_rejection_sampling"]
    sizes = sorted(set(t["M"].tolist()))
    gaps = [np.max(np.abs(t["gap"][t["M"] == m])) for m in sizes]
    assert np.all(np.diff(gaps) < 0), gaps
    # matched at p = 1, and h_1(p) - h_1(1) = p - 1 exactly
    np.testing.assert_allclose(t["objective"][t["p"] == 1.0], 0.0, atol=1e-12)
    one = t["M"] == 1
    np.testing.assert_allclose(t["objective"][one], t["p"][one] - 1, atol=1e-12)


def test_fig3_approaches_arcsine(tiny):
    t = tiny["fig3_grpo"]

    def gap(std, eps, m):
        sel = (t["std"] == std) & (t["eps"] == eps) & (t["M"] == m)
        return np.max(np.abs(t["gap"][sel]))

    sizes = sorted(set(t["M"].tolist()))
    eps_values = sorted(set(t["eps"].tolist()))
    for std in ("population", "sample"):
        assert np.all(np.diff([gap(std, 0.0, m) for m in sizes]) < 0)
        assert np.all(np.diff([gap(std, e, sizes[-1]) for e in eps_values]) > 0)
    assert gap("population", 0.0, sizes[-1]) < 0.05


def test_fig4_weights_match_limits_where_exact(tiny):
    t = tiny["fig4_weights"]
    sch = t["scheme"]
    np.testing.assert_allclose(t["weight"][sch == "reinforce"], 1.0, rtol=1e-12)
    pk = (sch == "pass_at_k(k=4)") & (t["p"] < 1)
    np.testing.assert_allclose(t["weight"][pk], t["limit_weight"][pk], rtol=1e-9)
    np.testing.assert_allclose(t["weight"][sch == "mean_baseline"], 7 / 8, rtol=1e-12)


def test_fig5_seed_mean_tracks_exact(tiny):
    t = tiny["fig5_trajectories"]
    assert set(t["policy"].tolist()) == {"tabular", "network"}
    assert np.all(np.isfinite(t["mean_p"])) and np.all((t["mean_p"] >= 0) & (t["mean_p"] <= 1))
    assert np.max(np.abs(t["mean_p"] - t["exact_mean_p"])) < 0.1
    first = t["step"] == 0
    np.testing.assert_allclose(t["mean_p"][first], t["exact_mean_p"][first], atol=1e-6)


def test_fig6_log_favours_hard_prompts(tiny):
    t = tiny["fig6_difficulty"]
    hardest = t["initial_p"] == t["initial_p"].min()
    gain = t["exact_final_p"] - t["initial_p"]
    rs = gain[hardest & (t["scheme"] == "rejection_sampling")]
    rf = gain[hardest & (t["scheme"] == "reinforce")]
    assert rs[0] > rf[0] > 0
    assert np.all((t["final_p"] >= 0) & (t["final_p"] <= 1))


def test_fig7_snr(tiny):
    t = tiny["fig7_noise"]
    assert np.all(np.isfinite(t["snr"])) and np.all(t["snr"] > 0)
    sel = (t["scheme"] == "reinforce") & (t["p"] == t["p"][0])
    snr = t["snr"][sel]
    assert snr[1] > snr[0]  # more samples per group, less noise (M = 4 then 16)


def test_sweep_tiny_rows_and_aggregates(tiny):
    t = tiny["sweep_lr_groupsize"]
    assert t["diverged_at"].dtype.kind == "i" and np.all(t["diverged_at"] == -1)
    assert np.all(np.isfinite(t["mean_p"])) and np.all((t["mean_p"] >= 0) & (t["mean_p"] <= 1))
    # one row per (scheme, M, lr, seed or aggregate, record): 1 x 2 x 2 x (2 + 1) x 6
    assert len(t["step"]) == 72
    for m in (2, 4):
        for lr in np.unique(t["learning_rate"]):
            sel = (t["group_size"] == m) & (t["learning_rate"] == lr)
            seeds = [t["mean_p"][sel & (t["seed"] == s)] for s in (0, 1)]
            np.testing.assert_allclose(
                t["mean_p"][sel & (t["seed"] == -1)], (seeds[0] + seeds[1]) / 2, rtol=1e-12
            )


def test_sweep_summary_written(tiny):
    assert tiny["sweep_lr_groupsize"]  # the run that writes the summary
    s = read_table(tiny["out"] / "sweep_lr_groupsize_summary.csv")
    for key in ("steps_to_threshold", "final_objective", "final_mean_p", "diverged_at"):
        assert key in s
    reached = s["steps_to_threshold"]
    assert np.all((reached == -1) | (reached >= 0))


def test_reproduce_cli_only_and_bad_name(tmp_path, capsys):
    assert main(["reproduce", "--tiny", "--only", "fig1_transforms", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "fig1_transforms.png").is_file()
    assert main(["reproduce", "--tiny", "--only", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err


def test_script_is_thin_and_runs(tmp_path):
    script = ROOT / "experiments" / "fig1_transforms.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--mode", "tiny", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "fig1_transforms.csv").is_file()


def test_length_drift_map_signs(tiny):
    t = tiny["length_drift_map"]
    first = t["verifier"] == "first_token"
    for mode in ("seq-mean-token-sum", "seq-mean-token-sum-norm"):  # f constant: along grad p
        rows = first & (t["aggregation"] == mode)
        np.testing.assert_allclose(t["wrong_per_p"][rows], t["wrong_per_p_grad_p"][rows], atol=1e-9)
        np.testing.assert_allclose(t["correct_per_p"][rows], 0.0, atol=1e-9)
    rows = first & (t["aggregation"] == "seq-mean-token-mean")  # 1/L: wrong longer, correct shorter
    assert np.all(t["wrong_per_p"][rows] > 0.1) and np.all(t["correct_per_p"][rows] < -0.01)


def test_length_trajectories_wrong_lengthen_only_under_one_over_l(tiny):
    t = tiny["length_trajectories"]
    change = {}
    for mode in set(t["aggregation"]):
        rows = t["aggregation"] == mode
        wrong = t["exact_mean_length_wrong"][rows]
        change[mode] = wrong[-1] - wrong[0]
        sim, se = t["mean_length_wrong"][rows], t["mean_length_wrong_se"][rows]
        assert np.all(np.abs(sim - wrong) <= 4 * se + 1e-5)
    assert change["seq-mean-token-mean"] > 5 * abs(change["seq-mean-token-sum-norm"])


def test_aggregation_table_answers(tiny):
    t = tiny["aggregation_table"]
    answer = dict(zip(t["name"], t["gradient"], strict=True))
    assert answer["seq-mean-token-sum"] == "yes" and answer["token-mean"] == "no"
    assert answer["trl:grpo"] == answer["seq-mean-token-mean"] != "yes"


def test_vllm_mask_length_issue_numbers_and_drift(tiny):
    """sigma 0.05, cap 3: 1.4% of 100-token and 31% of 2000-token answers dropped; with f = 1
    the mask alone makes correct answers shorter and wrong ones longer (no drift without it)."""
    t = tiny["vllm_mask_length"]
    keep = (t["panel"] == "keep") & (t["sigma"] == 0.05) & (t["cap"] == 3.0)
    dropped = dict(zip(t["length"][keep], 1 - t["keep_probability"][keep], strict=True))
    assert dropped[100] == pytest.approx(0.0140, abs=1e-4)
    assert dropped[2000] == pytest.approx(0.3116, abs=1e-4)
    rows = (t["panel"] == "drift") & (t["aggregation"] == "seq-mean-token-sum")
    np.testing.assert_allclose(t["correct_per_p_no_mask"][rows], 0.0, atol=1e-9)
    assert np.all(t["correct_per_p"][rows] < 0) and np.all(t["wrong_per_p"][rows] > 0)
