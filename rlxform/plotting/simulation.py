"""Figures of simulation tables: trajectories vs exact ascent, difficulty, sweep heatmaps.

Each is ``fig_*(table) -> matplotlib Figure`` on a table written by a simulation runner
(``rlxform simulate``, figures 5-6, ``rlxform sweep``); reads results, never simulates.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from rlxform.plotting.style import _col, _unique


def _trajectory_panels(ax, ax_res, step, mean, se, exact, color, label) -> None:
    """Seed mean (+-3 SE band) with the exact curve dashed on top, and their residual below."""
    ax.fill_between(step, mean - 3 * se, mean + 3 * se, color=color, alpha=0.2, lw=0)
    ax.plot(step, mean, color=color, lw=1.6, alpha=0.75, label=label)
    ax.plot(step, exact, color="k", ls=(0, (4, 3)), lw=1.0, zorder=3)
    ax.plot(step, exact, color=color, ls=(0, (4, 3)), lw=1.0, zorder=3, alpha=0.9)
    ax_res.fill_between(step, -3 * se, 3 * se, color=color, alpha=0.15, lw=0)
    ax_res.plot(step, mean - exact, color=color, lw=1.2)
    ax_res.axhline(0.0, color="k", lw=0.6)


def fig_simulate(table: Mapping[str, np.ndarray], title: str, reference: str) -> Figure:
    """``rlxform simulate``: seed-mean mean p vs the exact reference, and the residual.

    Top: simulated mean p with its +-3 SE band and the exact curve (dashed). Bottom: simulated
    minus exact with the +-3 SE band: agreement is the residual inside the band; an O(lr) bias
    shows as a systematic residual that halves with the learning rate.
    Args:
      table: columns step, mean_p, mean_p_se, exact_mean_p.
      title: the run's description (scheme with parameters, policy, M, lr).
      reference: legend text of the exact curve.
    """
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax, ax_res = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    step = _col(table, "step")
    mean, se, exact = (_col(table, k) for k in ("mean_p", "mean_p_se", "exact_mean_p"))
    _trajectory_panels(ax, ax_res, step, mean, se, exact, "C0", "simulated (seed mean ± 3 SE)")
    ax.plot([], [], color="k", ls=(0, (4, 3)), lw=1.0, label=reference)
    ax.set(ylabel="mean $p$ over prompts", title=title)
    ax.legend(fontsize=8)
    ax_res.set(xlabel="step", ylabel="simulated − exact")
    for a in (ax, ax_res):
        a.grid(alpha=0.3)
    return fig


def fig_trajectories(table: Mapping[str, np.ndarray]) -> Figure:
    """Figure 5: seed-mean mean p (band: +-3 SE) vs exact ascent (dashed), and residuals.

    Top row per policy: trajectories; bottom row: simulated minus exact with the +-3 SE band.
    Args:
      table: columns policy, scheme, step, num_seeds, mean_p, mean_p_se, exact_mean_p.
    """
    policies = _unique(table, "policy")
    schemes = _unique(table, "scheme")
    fig = Figure(figsize=(5.8 * len(policies), 7.0), layout="constrained")
    axes = np.asarray(
        fig.subplots(2, len(policies), sharex="col", height_ratios=(3, 2), squeeze=False)
    )
    pol_col, sch_col = np.asarray(table["policy"]).astype(str), np.asarray(table["scheme"])
    seeds = int(_col(table, "num_seeds", kind=int)[0])
    for c, policy in enumerate(policies):
        ax, ax_res = axes[0, c], axes[1, c]
        for i, scheme in enumerate(schemes):
            idx = np.flatnonzero((pol_col == policy) & (sch_col.astype(str) == scheme))
            step = _col(table, "step", idx)
            mean, se = _col(table, "mean_p", idx), _col(table, "mean_p_se", idx)
            exact = _col(table, "exact_mean_p", idx)
            _trajectory_panels(ax, ax_res, step, mean, se, exact, f"C{i}", scheme)
        ax.set(title=f"{policy} policy")
        ax_res.set(xlabel="step")
        for a in (ax, ax_res):
            a.grid(alpha=0.3)
    axes[0, 0].set_ylabel("mean $p$ over prompts")
    axes[1, 0].set_ylabel("simulated − exact (band ± 3 SE)")
    axes[0, 0].legend(
        fontsize=7,
        title=f"solid: mean of {seeds} seeds ± 3 SE; dashed: exact",
        title_fontsize=7,
    )
    fig.suptitle(
        r"Stochastic training follows exact ascent on $J_{h_M}$: residuals (bottom) vs ± 3 SE"
    )
    return fig


def fig_difficulty(table: Mapping[str, np.ndarray], baseline: str = "reinforce") -> Figure:
    """Figure 6: final p per prompt (left) and its gain over ``baseline`` at an equal budget.

    Right: final p(scheme) - final p(baseline) per prompt, both on the same keys and M x T
    samples (bars: +-2 SE, sqrt(SE_1^2 + SE_2^2), conservative under common random numbers;
    dashed: exact). Without a ``baseline`` row it shows the gain over the initial p instead.
    Args:
      table: columns scheme, initial_p, final_p, final_p_se, exact_final_p, samples_per_prompt.
    """
    fig = Figure(figsize=(11.5, 4.6), layout="constrained")
    ax_f, ax_g = fig.subplots(1, 2)
    sch_col = np.asarray(table["scheme"]).astype(str)
    names = _unique(table, "scheme")
    base = next((n for n in names if n.split("(")[0] == baseline), None)

    def rows(scheme):
        idx = np.flatnonzero(sch_col == scheme)
        p0 = _col(table, "initial_p", idx)
        order = np.argsort(p0, kind="stable")
        idx = idx[order]
        return (
            p0[order],
            _col(table, "final_p", idx),
            _col(table, "final_p_se", idx),
            _col(table, "exact_final_p", idx),
        )

    if base is not None:
        _, base_final, base_se, base_exact = rows(base)
    for i, scheme in enumerate(names):
        p0, final, se, exact = rows(scheme)
        color = f"C{i}"
        ax_f.errorbar(p0, final, yerr=2 * se, fmt="o", ms=3, color=color, label=scheme)
        ax_f.plot(p0, exact, color=color, lw=1, ls="--")
        if base is None:
            ax_g.plot(p0, final - p0, "o-", ms=3, color=color, label=scheme)
        elif scheme != base:
            gain_se = np.sqrt(se**2 + base_se**2)
            ax_g.errorbar(
                p0, final - base_final, yerr=2 * gain_se, fmt="o", ms=3, color=color, label=scheme
            )
            ax_g.plot(p0, exact - base_exact, color=color, lw=1, ls="--")
    ax_f.plot([0, 1], [0, 1], "k:", lw=1, label="no change")
    budget = int(_col(table, "samples_per_prompt", kind=int)[0])
    ax_f.set(
        xlabel="initial $p$",
        ylabel="final $p$",
        title=f"final vs initial $p$\n({budget} samples per prompt; dashed: exact)",
    )
    if base is None:
        ax_g.set(xlabel="initial $p$", ylabel="final $p$ − initial $p$", title="gain per prompt")
    else:
        ax_g.axhline(0.0, color="k", lw=0.8, label=f"{base} (reference)")
        ax_g.set(
            xlabel="initial $p$",
            ylabel=f"final $p$ − final $p$ of {base.split('(')[0]}",
            title=f"gain over {base.split('(')[0]} per prompt at an equal budget\n"
            "(± 2 SE; dashed: exact)",
        )
    for ax in (ax_f, ax_g):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


MAX_ANNOTATED_CELLS = 400  # heatmap cells labelled with their value; larger grids: colour only
MAX_TICKS = 25  # learning-rate tick labels at most (evenly spaced over the axis)


def fig_sweep(summary: Mapping[str, np.ndarray], threshold: float = 0.9, budget: int = 0) -> Figure:
    """Sweep heatmaps per scheme (aggregate rows, seed = -1): rows learning rate, columns M.

    Top: steps (samples per prompt when ``budget`` > 0) to reach mean p >= threshold (grey:
    never; x: some seed diverged). Bottom: final mean p, comparable across M and schemes (the
    objective h_M is not). Each row shares one colour scale across the scheme panels. Cells are
    labelled up to ``MAX_ANNOTATED_CELLS`` per panel and at most ``MAX_TICKS`` learning rates
    are named, so drawing is linear in the grid (200,000 learning rates take seconds).
    Args:
      summary: the sweep summary table (columns scheme, group_size, learning_rate, seed,
        steps_to_threshold, samples_to_threshold, final_mean_p, diverged_seeds).
    """
    agg = np.flatnonzero(_col(summary, "seed", kind=int) == -1)
    sub = {k: np.asarray(v)[agg] for k, v in summary.items()}
    schemes = _unique(sub, "scheme")
    sizes = sorted({int(m) for m in _col(sub, "group_size")})
    lrs = sorted({float(v) for v in _col(sub, "learning_rate")})
    key = "samples_to_threshold" if budget > 0 else "steps_to_threshold"
    fig = Figure(figsize=(3.4 * len(schemes) + 1.4, 6.6), layout="constrained")
    axes = np.asarray(fig.subplots(2, len(schemes), squeeze=False))
    sch_col = np.asarray(sub["scheme"]).astype(str)
    lrs_array, sizes_array = np.asarray(lrs, float), np.asarray(sizes, int)
    annotate = len(lrs) * len(sizes) <= MAX_ANNOTATED_CELLS  # else the colours alone
    lr_ticks = np.unique(np.linspace(0, len(lrs) - 1, min(len(lrs), MAX_TICKS)).round().astype(int))
    grids = {}
    for scheme in schemes:
        grid = {
            name: np.full((len(lrs), len(sizes)), np.nan)
            for name in (key, "final_mean_p", "diverged_seeds")
        }
        rows = np.flatnonzero(sch_col == scheme)
        r = np.searchsorted(lrs_array, _col(sub, "learning_rate")[rows].astype(float))
        k = np.searchsorted(sizes_array, _col(sub, "group_size")[rows].astype(int))
        reach = np.asarray(sub[key], float)[rows]
        grid[key][r, k] = np.where(reach >= 0, reach, np.nan)
        grid["final_mean_p"][r, k] = np.asarray(sub["final_mean_p"], float)[rows]
        grid["diverged_seeds"][r, k] = np.asarray(sub["diverged_seeds"], float)[rows]
        grids[scheme] = grid
    what = ("samples/prompt" if budget > 0 else "steps") + f" to mean $p \\geq {threshold:g}$"
    for row, name, cmap, label in (
        (0, key, "viridis_r", what),
        (1, "final_mean_p", "magma", "final mean $p$"),
    ):
        values = np.concatenate([grids[sc][name].ravel() for sc in schemes])
        finite = values[np.isfinite(values)]
        vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        if vmin == vmax:
            vmin, vmax = vmin - 0.5, vmax + 0.5
        for c, scheme in enumerate(schemes):
            ax = axes[row, c]
            grid = grids[scheme]
            ax.set_facecolor("0.8")
            image = ax.imshow(
                np.ma.masked_invalid(grid[name]),
                origin="lower",
                aspect="auto",
                cmap=cmap,
                vmin=vmin,
                vmax=vmax,
            )
            for r in range(len(lrs)) if annotate else ():
                for k in range(len(sizes)):
                    value = grid[name][r, k]
                    text = (
                        "x"
                        if grid["diverged_seeds"][r, k] > 0
                        else ("never" if np.isnan(value) else f"{value:.3g}")
                    )
                    ax.text(
                        k,
                        r,
                        text,
                        ha="center",
                        va="center",
                        fontsize=6,
                        bbox={"boxstyle": "round,pad=0.15", "fc": "w", "alpha": 0.6, "lw": 0},
                    )
            ax.set_xticks(range(len(sizes)), [str(m) for m in sizes])
            ax.set_yticks(lr_ticks, [f"{lrs[t]:g}" for t in lr_ticks])
            ax.set_xlabel("group size $M$")
            if c == 0:
                ax.set_ylabel("learning rate")
            ax.set_title(f"{scheme}\n{label}", fontsize=8)
        fig.colorbar(image, ax=list(axes[row, :]), shrink=0.9, label=label)
    mode = f"$M \\times T = {budget}$ fixed" if budget > 0 else "fixed steps"
    fig.suptitle(f"Learning rate × group size ({mode}; grey: never reached; x: diverged)")
    return fig
