"""Figures of the exact analytic tables (figures 1-4, 7, ``rlxform transforms``, explain cards).

Each is ``fig_*(table) -> matplotlib Figure`` on a table of ``rlxform.reproduce.analytic`` or
``transforms_table``; the object API, no pyplot state.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from rlxform.plotting.style import _col, _groups, _shade, _unique, math_formula, scheme_label


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
