"""Figures show their claim: residual panels, gain over REINFORCE, shared colour scales, labels."""

from __future__ import annotations

import numpy as np

from rlxform import plotting


def _lines(ax):
    return [(line.get_xdata(), line.get_ydata()) for line in ax.get_lines()]


def test_math_formula_and_scheme_label():
    assert plotting.math_formula("2 arcsin sqrt p") == r"$2 \arcsin \sqrt{p}$"
    assert plotting.math_formula("log p") == r"$\log p$"
    got = plotting.math_formula("int_0^p (1-t)^1.5 dt / (sqrt(t(1-t)) + 0.3)")
    assert got == r"$\int_0^p (1-t)^{1.5}\,dt / (\sqrt{t(1-t)} + 0.3)$"
    label = plotting.scheme_label("grpo", '{"eps": 0.05, "std": "sample"}')
    assert label == "grpo(eps=0.05, std=sample)"
    label = plotting.scheme_label("designed", '{"coefficients": [1.0, 2.0], "target": "log"}')
    assert label == "designed(coefficients=[...], target=log)"


def test_simulate_figure_has_residual_panel_with_band():
    step = np.arange(5.0)
    table = {
        "step": step,
        "mean_p": np.array([0.5, 0.6, 0.7, 0.75, 0.8]),
        "mean_p_se": np.array([0.0, 0.01, 0.01, 0.01, 0.01]),
        "exact_mean_p": np.array([0.5, 0.58, 0.69, 0.76, 0.8]),
    }
    fig = plotting.fig_simulate(table, "t", "exact")
    top, res = fig.axes
    residual = [y for _, y in _lines(res) if len(y) == 5 and np.any(y != 0)]
    np.testing.assert_allclose(residual[0], table["mean_p"] - table["exact_mean_p"])
    band = res.collections[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(band.max(), 0.03) and np.isclose(band.min(), -0.03)
    dashed = [ln for ln in top.get_lines() if ln.get_linestyle() not in ("-", "None")]
    assert dashed and max(ln.get_zorder() for ln in dashed) > top.get_lines()[0].get_zorder()


def test_difficulty_right_panel_is_gain_over_reinforce():
    n = 4
    p0 = np.linspace(0.1, 0.7, n)
    table = {
        "scheme": np.array(["reinforce"] * n + ["rejection_sampling"] * n),
        "initial_p": np.concatenate([p0, p0]),
        "final_p": np.concatenate([p0 + 0.1, p0 + 0.2 - p0 / 4]),
        "final_p_se": np.full(2 * n, 0.01),
        "exact_final_p": np.concatenate([p0 + 0.1, p0 + 0.2 - p0 / 4]),
        "samples_per_prompt": np.full(2 * n, 100),
    }
    fig = plotting.fig_difficulty(table)
    ax_gain = fig.axes[1]
    gains = [y for _, y in _lines(ax_gain) if len(y) == n]
    np.testing.assert_allclose(gains[0], 0.1 - p0 / 4)  # rejection sampling minus REINFORCE
    assert "reinforce" in ax_gain.get_ylabel()


def test_sweep_rows_share_one_colour_scale_and_plot_final_mean_p():
    rows = []
    for scheme, offset in (("reinforce", 0.0), ("grpo(eps=0, std=sample)", 0.2)):
        for m in (2, 4):
            for lr in (0.1, 1.0):
                rows.append((scheme, m, lr, -1, 10 * m, 10 * m * m, 0.5 + offset + lr / 10, 0))
    cols = list(zip(*rows, strict=True))
    summary = {
        "scheme": np.array(cols[0]),
        "group_size": np.array(cols[1]),
        "learning_rate": np.array(cols[2]),
        "seed": np.array(cols[3]),
        "steps_to_threshold": np.array(cols[4]),
        "samples_to_threshold": np.array(cols[5]),
        "final_mean_p": np.array(cols[6]),
        "diverged_seeds": np.array(cols[7]),
    }
    fig = plotting.fig_sweep(summary)
    heat = [ax for ax in fig.axes if ax.images]
    assert len(heat) == 4
    bottom = [ax.images[0] for ax in heat[2:]]
    assert bottom[0].get_clim() == bottom[1].get_clim()
    np.testing.assert_allclose(bottom[0].get_clim(), (0.51, 0.8))
    np.testing.assert_allclose(np.ma.getdata(bottom[1].get_array())[:, 0], [0.71, 0.8])
    assert heat[3].get_title().startswith("grpo(eps=0, std=sample)")
