"""Figures for KL penalties and PPO: ``fig_*(table) -> matplotlib Figure``; never computes math.

Tables are dicts of equal-length columns as written by ``rlxform.reproduce.penalties``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from rlxform.plotting.style import mean_p_trajectories


def fig_kl_estimators(table: Mapping[str, np.ndarray]) -> Figure:
    """Cosine and relative error of each (estimator, placement) vs grad KL(pi || pi_ref).

    Args:
      table: columns policy, estimator, placement, cosine, relative_error (NaN cosine = zero
        expected gradient, drawn as an empty bar with a marker at 0).
    """
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_cos, ax_err = fig.subplots(1, 2)
    policies = list(dict.fromkeys(np.asarray(table["policy"]).astype(str)))
    cells = list(
        dict.fromkeys(
            zip(
                np.asarray(table["estimator"]).astype(str),
                np.asarray(table["placement"]).astype(str),
                strict=True,
            )
        )
    )
    x = np.arange(len(cells))
    width = 0.8 / max(len(policies), 1)
    for i, policy in enumerate(policies):
        rows = np.asarray(table["policy"]).astype(str) == policy
        lookup = {
            (e, p): j
            for j, (e, p) in enumerate(
                zip(np.asarray(table["estimator"]), np.asarray(table["placement"]), strict=True)
            )
            if rows[j]
        }
        cos = np.array([table["cosine"][lookup[c]] for c in cells], float)
        err = np.array([table["relative_error"][lookup[c]] for c in cells], float)
        offset = (i - (len(policies) - 1) / 2) * width
        ax_cos.bar(x + offset, np.nan_to_num(cos), width, label=policy, color=f"C{i}")
        zero = np.isnan(cos)
        ax_cos.plot(x[zero] + offset, np.zeros(zero.sum()), "x", color=f"C{i}")
        ax_err.bar(x + offset, err, width, label=policy, color=f"C{i}")
    labels = [f"{e}\n{p}" for e, p in cells]
    for ax in (ax_cos, ax_err):
        ax.set_xticks(x, labels, fontsize=8)
        ax.axhline(0.0, color="k", lw=0.6)
        ax.legend(fontsize=8)
    ax_cos.set(ylabel="cosine(E g, grad KL)", ylim=(-1.05, 1.05), title="direction (x: E g = 0)")
    ax_err.set(ylabel="|E g - grad KL| / |grad KL|", title="relative error (mean over draws)")
    return fig


def fig_kl_equilibrium(table: Mapping[str, np.ndarray]) -> Figure:
    """p* against beta per (scheme, M), reverse KL solid and k3-as-loss (forward KL) dashed.

    Args:
      table: columns scheme, M, beta, p_ref, divergence, p_star.
    """
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    scheme_col = np.asarray(table["scheme"]).astype(str)
    schemes = list(dict.fromkeys(scheme_col))
    sizes = sorted({int(m) for m in np.asarray(table["M"])})
    styles = {"reverse": "-", "forward": "--"}
    for i, scheme in enumerate(schemes):
        for j, m in enumerate(sizes):
            for div, ls in styles.items():
                rows = (
                    (scheme_col == scheme)
                    & (np.asarray(table["M"]) == m)
                    & (np.asarray(table["divergence"]).astype(str) == div)
                )
                if not rows.any():
                    continue
                beta = np.asarray(table["beta"], float)[rows]
                order = np.argsort(beta)
                alpha = 0.4 + 0.6 * (j + 1) / len(sizes)
                label = f"{scheme} M={m}" if div == "reverse" else None
                ax.plot(
                    beta[order],
                    np.asarray(table["p_star"], float)[rows][order],
                    ls=ls,
                    color=f"C{i}",
                    alpha=alpha,
                    label=label,
                )
    p_ref = float(np.asarray(table["p_ref"], float)[0])
    ax.axhline(p_ref, color="k", lw=0.6)
    ax.set(
        xscale="log",
        xlabel="beta (KL coefficient)",
        ylabel="equilibrium p*",
        title=f"p* of ascent on h_M - beta KL from p_ref = {p_ref:g} (dashed: k3 as a loss)",
    )
    ax.legend(fontsize=7, ncol=2)
    return fig


def fig_ppo_effective_weight(table: Mapping[str, np.ndarray]) -> Figure:
    """w_eff(p) per (epochs, minibatches, clip) against w_M(p); right: fraction clipped.

    Args:
      table: columns learning_rate, epochs, num_minibatches, clip_low, clip_high, p, weight,
        w_m, clip_fraction.
    """
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax_w, ax_c = fig.subplots(1, 2)
    keys = ("learning_rate", "epochs", "num_minibatches", "clip_low", "clip_high")
    combos = list(dict.fromkeys(zip(*(np.asarray(table[k]).tolist() for k in keys), strict=True)))
    clips = list(dict.fromkeys((c[3], c[4]) for c in combos))
    styles = ["-", "--", ":", "-."]
    runs = list(dict.fromkeys((c[0], c[1], c[2]) for c in combos))
    drawn = False
    for combo in combos:
        rows = np.ones(len(table["p"]), bool)
        for k, v in zip(keys, combo, strict=True):
            rows &= np.asarray(table[k]) == v
        p = np.asarray(table["p"], float)[rows]
        order = np.argsort(p)
        color = f"C{runs.index(combo[:3]) % 10}"
        ls = styles[clips.index(combo[3:]) % len(styles)]
        hi = "none" if combo[4] >= 1e6 else f"{combo[4]:g}"
        label = f"lr={combo[0]:g} E={combo[1]} N={combo[2]} clip=({combo[3]:g},{hi})"
        ax_w.plot(
            p[order], np.asarray(table["weight"], float)[rows][order], ls, color=color, label=label
        )
        ax_c.plot(p[order], np.asarray(table["clip_fraction"], float)[rows][order], ls, color=color)
        if not drawn:
            ax_w.plot(
                p[order],
                np.asarray(table["w_m"], float)[rows][order],
                color="k",
                lw=2,
                alpha=0.5,
                label="w_M(p)",
            )
            drawn = True
    ax_w.set(
        xlabel="p at the rollout",
        ylabel="w_eff(p)",
        yscale="log",
        title="effective weight of one PPO iteration",
    )
    ax_c.set(xlabel="p at the rollout", ylabel="fraction of sample-steps clipped")
    ax_w.legend(fontsize=6)
    return fig


def fig_batch_std(table: Mapping[str, np.ndarray]) -> Figure:
    """Relative deviation of w^batch from its large-batch form against G, per scenario and p.

    Args:
      table: columns scenario, G, p, relative_deviation.
    """
    scenarios = list(dict.fromkeys(np.asarray(table["scenario"]).astype(str)))
    fig = Figure(figsize=(5 * len(scenarios), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(scenarios)))
    ps = sorted({float(p) for p in np.asarray(table["p"])})
    for ax, scenario in zip(axes, scenarios, strict=True):
        for i, p in enumerate(ps):
            rows = (np.asarray(table["scenario"]).astype(str) == scenario) & (
                np.asarray(table["p"]) == p
            )
            g = np.asarray(table["G"], float)[rows]
            order = np.argsort(g)
            dev = np.abs(np.asarray(table["relative_deviation"], float)[rows][order])
            ax.plot(g[order], np.maximum(dev, 1e-16), "o-", color=f"C{i}", label=f"p = {p:g}")
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="groups per batch G",
            ylabel="|w_batch / w_large-batch - 1|",
            title=f"batch-level std, {scenario} batch",
        )
        ax.legend(fontsize=8)
    return fig


def fig_kl_trajectories(table: Mapping[str, np.ndarray]) -> Figure:
    """Mean p against step per beta: seed mean +- SE band vs exact ascent (dashed), p* dotted.

    Args:
      table: columns beta, step, mean_p, mean_p_se, exact_mean_p, p_star.
    """
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    mean_p_trajectories(ax, table, np.ones(len(table["beta"]), bool), "beta", "beta")
    ax.set(
        xlabel="step",
        ylabel="mean p",
        title="GRPO with KL (k2 as a loss): simulated ±3 SE, exact (dashed), p* (dotted)",
    )
    ax.legend(fontsize=8)
    return fig
