"""Figures from result tables: ``fig_*(table) -> matplotlib Figure``; never simulates.

Tables are dicts of equal-length columns (as ``rlxform.results.read_table`` returns). Figures use
the Agg backend-friendly object API (no pyplot state is kept).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure


def _groups(table: Mapping[str, np.ndarray], keys: tuple[str, ...]):
    cols = [np.asarray(table[k]).astype(str) for k in keys]
    labels = list(zip(*cols, strict=False))
    seen: dict[tuple, list[int]] = {}
    for i, lab in enumerate(labels):
        seen.setdefault(lab, []).append(i)
    return [(lab, np.asarray(idx)) for lab, idx in seen.items()]


def math_formula(text: str | None) -> str:
    """A catalog formula as mathtext: ``"2 arcsin sqrt p"`` -> ``"$2 \\arcsin\\sqrt{p}$"``."""
    if not text:
        return ""
    out = text
    for plain, tex in (
        ("int_0^p", r"\int_0^p"),
        ("sqrt(max(t(1-t), ", r"\sqrt{\max(t(1-t), "),
        ("sqrt(t(1-t))", r"\sqrt{t(1-t)}"),
        ("sqrt p", r"\sqrt{p}"),
        ("arcsin", r"\arcsin"),
        ("log p", r"\log p"),
        (" dt", r"\,dt"),
    ):
        out = out.replace(plain, tex)
    if r"\max(" in out:  # close the sqrt opened for the floored variance
        head, _, tail = out.partition(r"\max(")
        inner, _, rest = tail.partition(")) ")
        out = f"{head}\\max({inner})}} {rest}" if rest else out
    out = re.sub(r"\^([0-9.]+)", r"^{\1}", out)
    return f"${out}$"


def scheme_label(scheme: str, params: str | None = None) -> str:
    """Scheme label with its parameters, e.g. ``grpo(eps=0.05, std=sample)``; ``params`` is the
    JSON of the scheme's keyword arguments (the ``params`` column of ``rlxform transforms``)."""
    if not params:
        return scheme
    import json

    kwargs = json.loads(params)
    if not kwargs:
        return scheme

    def show(value) -> str:
        if isinstance(value, float):
            return f"{value:g}"
        return "[...]" if isinstance(value, (list, tuple, dict)) else str(value)

    items = (f"{k}={show(v)}" for k, v in sorted(kwargs.items()))
    return f"{scheme}(" + ", ".join(items) + ")"


def fig_transforms(table: Mapping[str, np.ndarray]) -> Figure:
    """Exact h_M and w_M per (scheme, params, M), with the large-M limits dashed.

    Left: objectives anchored at p = 1, h_M(p) - h_M(1) + 1 (limit h(p) - h(1) + 1, dashed), so
    p, 1 + log p and the arcsine all pass through (1, 1) as in Davis & Recht's figure 1.
    Right: weights w_M(p) on a log scale.
    Args:
      table: columns scheme, params, M, p, weight, objective, limit.
    """
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_h, ax_w = fig.subplots(1, 2)
    names = (np.asarray(table[k]).astype(str) for k in ("scheme", "params"))
    schemes = list(dict.fromkeys(zip(*names, strict=True)))
    colors = {s: f"C{i % 10}" for i, s in enumerate(schemes)}
    sizes = sorted({int(m) for m in np.asarray(table["M"])})
    alphas = {m: 0.35 + 0.65 * (i + 1) / len(sizes) for i, m in enumerate(sizes)}
    drawn_limit: set[str] = set()
    for (scheme, params, m), idx in _groups(table, ("scheme", "params", "M")):
        p = np.asarray(table["p"], float)[idx]
        order = np.argsort(p)
        p, idx = p[order], idx[order]
        h = np.asarray(table["objective"], float)[idx]
        w = np.asarray(table["weight"], float)[idx]
        lim = np.asarray(table["limit"], float)[idx]
        color, alpha = colors[(scheme, params)], alphas[int(m)]
        name = scheme_label(scheme, params)
        label = f"{name} $M={m}$"
        ax_h.plot(p, h - h[-1] + 1.0, color=color, alpha=alpha, label=label)
        ax_w.plot(p, w, color=color, alpha=alpha, label=label)
        key = f"{scheme}|{params}"
        if np.isfinite(lim[-1]) and key not in drawn_limit:
            drawn_limit.add(key)
            ax_h.plot(p, lim - lim[-1] + 1.0, color=color, ls="--", lw=1.2, label=f"{name} limit")
    ax_h.set(
        xlabel="$p$ (success probability)",
        ylabel="$h(p) - h(1) + 1$",
        ylim=(-2.5, 1.1),
        title="objective, anchored at $p = 1$ (dashed: large-$M$ limit)",
    )
    ax_w.set(xlabel="$p$", ylabel="$w_M(p) = h_M'(p)$", yscale="log", title="weight $w_M$")
    ax_h.legend(fontsize=7, ncol=2)
    ax_w.legend(fontsize=7, ncol=2)
    for ax in (ax_h, ax_w):
        ax.grid(alpha=0.3)
    return fig


# ---- experiments (rlxform.experiments): one fig_* per table ------------------------------------


def _col(table: Mapping[str, np.ndarray], key: str, idx=None, kind=float) -> np.ndarray:
    values = np.asarray(table[key]).astype(kind)
    return values if idx is None else values[idx]


def _unique(table: Mapping[str, np.ndarray], key: str) -> list:
    return list(dict.fromkeys(np.asarray(table[key]).tolist()))


def _shade(i: int, n: int, cmap: str = "viridis"):
    from matplotlib import colormaps

    return colormaps[cmap](0.1 + 0.8 * i / max(n - 1, 1))


def fig_limits(table: Mapping[str, np.ndarray]) -> Figure:
    """Figure 1: the large-M objectives normalised through (1, 1) (Davis & Recht, fig. 1).

    Args:
      table: columns scheme, limit, p, normalised_objective.
    """
    fig = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for (scheme, limit), idx in _groups(table, ("scheme", "limit")):
        ax.plot(
            _col(table, "p", idx),
            _col(table, "normalised_objective", idx),
            label=f"{scheme}: {math_formula(limit)} (rescaled)",
        )
    ax.set(
        xlabel="$p$ (success probability)",
        ylabel="objective, normalised through (1, 1)",
        ylim=(-2.0, 1.1),
        xlim=(0, 1),
        title=r"Which objective? $p$, $(2/\pi) \arcsin\sqrt{p}$, $1 + \log p$",
    )
    ax.axhline(0, color="k", lw=0.5)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def fig_rejection_sampling(table: Mapping[str, np.ndarray]) -> Figure:
    """Figure 2: rejection sampling's h_M(p) - h_M(1) against log p, and the gap, per M.

    Args:
      table: columns M, p, objective, log_p, gap.
    """
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_h, ax_g = fig.subplots(1, 2)
    sizes = sorted({int(m) for m in _col(table, "M")})
    for i, m in enumerate(sizes):
        idx = np.flatnonzero(_col(table, "M", kind=int) == m)
        color = _shade(i, len(sizes))
        p = _col(table, "p", idx)
        ax_h.plot(p, _col(table, "objective", idx), color=color, label=f"$M={m}$")
        ax_g.plot(p, _col(table, "gap", idx), color=color, label=f"$M={m}$")
    p = _col(table, "p", idx)
    ax_h.plot(p, _col(table, "log_p", idx), "k--", label=r"$\log p$")
    ax_h.set(
        xscale="log",
        xlabel="$p$ (log scale)",
        ylabel="$h_M(p) - h_M(1)$",
        title=r"rejection sampling at finite $M$ vs $\log p$",
    )
    ax_g.set(
        xscale="log",
        xlabel="$p$ (log scale)",
        ylabel=r"$h_M(p) - h_M(1) - \log p$",
        title=r"gap to $\log p$ ($= \sum_{k>M} (1-p)^k / k$)",
    )
    for ax in (ax_h, ax_g):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def fig_grpo(table: Mapping[str, np.ndarray]) -> Figure:
    """Figure 3: h_M(p) / h_M(1) of GRPO against (2/pi) arcsin sqrt p, per (std, eps), by M.

    Args:
      table: columns std, eps, M, p, normalised_objective, arcsine.
    """
    stds = _unique(table, "std")
    eps_values = sorted({float(e) for e in _col(table, "eps")})
    sizes = sorted({int(m) for m in _col(table, "M")})
    fig = Figure(figsize=(3.2 * len(eps_values), 3.0 * len(stds) + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(stds), len(eps_values), sharex=True, sharey=True))
    std_col = np.asarray(table["std"]).astype(str)
    eps_col, m_col = _col(table, "eps"), _col(table, "M", kind=int)
    for r, std in enumerate(stds):
        for c, eps in enumerate(eps_values):
            ax = axes[r, c]
            for i, m in enumerate(sizes):
                idx = np.flatnonzero((std_col == std) & (eps_col == eps) & (m_col == m))
                ax.plot(
                    _col(table, "p", idx),
                    _col(table, "normalised_objective", idx),
                    color=_shade(i, len(sizes)),
                    label=f"$M={m}$",
                )
            ax.plot(
                _col(table, "p", idx),
                _col(table, "arcsine", idx),
                "k--",
                lw=1.2,
                label=r"$(2/\pi) \arcsin\sqrt{p}$",
            )
            ax.set_title(f"grpo(std={std}, eps={eps:g})", fontsize=10)
            ax.grid(alpha=0.3)
            if r == len(stds) - 1:
                ax.set_xlabel("$p$")
            if c == 0:
                ax.set_ylabel("$h_M(p) / h_M(1)$")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        r"GRPO's normalised objective approaches the arcsine as $M$ grows and $\epsilon \to 0$"
    )
    return fig


def fig_weights(table: Mapping[str, np.ndarray]) -> Figure:
    """Figure 4: w_M(p) of each catalog scheme (solid) and its large-M h'(p) (dashed).

    Args:
      table: columns scheme, limit, M, p, weight, limit_weight.
    """
    groups = _groups(table, ("scheme", "limit"))
    ncols = 4
    nrows = -(-len(groups) // ncols)
    fig = Figure(figsize=(3.1 * ncols, 2.5 * nrows + 0.5), layout="constrained")
    axes = np.asarray(fig.subplots(nrows, ncols, sharex=True)).reshape(-1)
    m = int(_col(table, "M", kind=int)[0])
    for ax, ((scheme, limit), idx) in zip(axes, groups, strict=False):
        p = _col(table, "p", idx)
        w, lim = _col(table, "weight", idx), _col(table, "limit_weight", idx)
        ax.plot(p, w, color="C0", label=f"$w_{{{m}}}(p)$")
        ax.plot(p, lim, "C3--", label=f"limit: derivative of {math_formula(limit)}")
        top = np.nanmax(np.abs(w))
        ax.set_ylim(min(0.0, np.nanmin(w) * 1.1), max(1.6 * top, 0.1))
        ax.set_title(scheme.replace("eps=0.0, ", ""), fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(groups) :]:
        ax.set_visible(False)
    for ax in axes[-ncols:]:
        ax.set_xlabel("$p$")
    fig.suptitle(
        f"Weights $w_M(p) = h_M'(p)$ at $M = {m}$ (solid) vs large-$M$ limit $h'(p)$ (dashed)"
    )
    return fig


def fig_noise(table: Mapping[str, np.ndarray]) -> Figure:
    """Figure 7: exact SNR of the scalar-logit update vs p, one panel per scheme, curves by M.

    Args:
      table: columns scheme, M, p, snr.
    """
    schemes = _unique(table, "scheme")
    sizes = sorted({int(m) for m in _col(table, "M")})
    ncols = 3
    nrows = -(-len(schemes) // ncols)
    fig = Figure(figsize=(4.0 * ncols, 3.0 * nrows + 0.5), layout="constrained")
    axes = np.asarray(fig.subplots(nrows, ncols, sharex=True, sharey=True)).reshape(-1)
    scheme_col, m_col = np.asarray(table["scheme"]).astype(str), _col(table, "M", kind=int)
    for ax, scheme in zip(axes, schemes, strict=False):
        for i, m in enumerate(sizes):
            idx = np.flatnonzero((scheme_col == scheme) & (m_col == m))
            ax.plot(
                _col(table, "p", idx),
                _col(table, "snr", idx),
                color=_shade(i, len(sizes)),
                label=f"$M={m}$",
            )
        ax.set(yscale="log", title=scheme, ylim=(1e-3, 1e6))
        ax.grid(alpha=0.3, which="both")
    for ax in axes[len(schemes) :]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel(r"SNR $= \mathrm{E}[g] / \mathrm{sd}[g]$")
    for ax in axes[-ncols:]:
        ax.set_xlabel("$p$")
    axes[0].legend(fontsize=8)
    fig.suptitle(
        "Exact signal-to-noise ratio of one update (scalar-logit policy)\n"
        r"y clipped at $10^6$: rejection sampling's update is nearly deterministic once "
        r"$(1-p)^M \approx 0$"
    )
    return fig


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


def fig_sweep(summary: Mapping[str, np.ndarray], threshold: float = 0.9, budget: int = 0) -> Figure:
    """Sweep heatmaps per scheme (aggregate rows, seed = -1): rows learning rate, columns M.

    Top: steps (samples per prompt when ``budget`` > 0) to reach mean p >= threshold (grey:
    never; x: some seed diverged). Bottom: final mean p, comparable across M and schemes (the
    objective h_M is not). Each row shares one colour scale across the scheme panels.
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
    grids = {}
    for scheme in schemes:
        grid = {
            name: np.full((len(lrs), len(sizes)), np.nan)
            for name in (key, "final_mean_p", "diverged_seeds")
        }
        for j in np.flatnonzero(sch_col == scheme):
            r = lrs.index(float(sub["learning_rate"][j]))
            k = sizes.index(int(sub["group_size"][j]))
            reach = float(sub[key][j])
            grid[key][r, k] = reach if reach >= 0 else np.nan
            grid["final_mean_p"][r, k] = float(sub["final_mean_p"][j])
            grid["diverged_seeds"][r, k] = float(sub["diverged_seeds"][j])
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
            for r in range(len(lrs)):
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
            ax.set_yticks(range(len(lrs)), [f"{v:g}" for v in lrs])
            ax.set_xlabel("group size $M$")
            if c == 0:
                ax.set_ylabel("learning rate")
            ax.set_title(f"{scheme}\n{label}", fontsize=8)
        fig.colorbar(image, ax=list(axes[row, :]), shrink=0.9, label=label)
    mode = f"$M \\times T = {budget}$ fixed" if budget > 0 else "fixed steps"
    fig.suptitle(f"Learning rate × group size ({mode}; grey: never reached; x: diverged)")
    return fig


def fig_objective(table: Mapping[str, np.ndarray], title: str = "") -> Figure:
    """One run's h_M against p, log p and 2 arcsin sqrt p (left) and its weight w_M (right).

    Curves are scaled to pass through (1, 1): h_M(p) / h_M(1), p, (2/pi) arcsin sqrt p and
    1 + log p (``rlxform explain --out``).
    Args:
      table: columns p (grid in [0, 1]), h_M, w_M.
    """
    p = np.asarray(table["p"], float)
    h = np.asarray(table["h_M"], float)
    w = np.asarray(table["w_M"], float)
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_h, ax_w = fig.subplots(1, 2)
    top = h[np.argmax(p)]
    ax_h.plot(p, h / (top if top != 0 else 1.0), "k", lw=2, label="this run: h_M / h_M(1)")
    ax_h.plot(p, p, "C0--", label="p (REINFORCE, RLOO)")
    ax_h.plot(p, 2 / np.pi * np.arcsin(np.sqrt(p)), "C1--", label="(2/pi) arcsin sqrt p (GRPO)")
    with np.errstate(divide="ignore"):
        ax_h.plot(p, 1 + np.log(p), "C2--", label="1 + log p (rejection sampling)")
    ax_h.set(xlabel="p (success probability)", ylabel="objective, scaled", ylim=(-1.5, 1.1))
    ax_w.plot(p, w, "k", lw=2)
    ax_w.set(xlabel="p", ylabel="w_M(p) = h_M'(p)", title="weight on grad p", ylim=(0, None))
    ax_h.set_title(title, fontsize=9)
    ax_h.legend(fontsize=7)
    for ax in (ax_h, ax_w):
        ax.grid(alpha=0.3)
    return fig
