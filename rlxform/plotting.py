"""Figures from result tables: ``fig_*(table) -> matplotlib Figure``; never simulates.

Tables are dicts of equal-length columns (as ``rlxform.results.read_table`` returns). Figures use
the Agg backend-friendly object API (no pyplot state is kept).
"""

from __future__ import annotations

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
    schemes = list(dict.fromkeys(np.asarray(table["scheme"]).astype(str)))
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
        color, alpha = colors[scheme], alphas[int(m)]
        label = f"{scheme} M={m}"
        ax_h.plot(p, h - h[-1] + 1.0, color=color, alpha=alpha, label=label)
        ax_w.plot(p, w, color=color, alpha=alpha, label=label)
        key = f"{scheme}|{params}"
        if np.isfinite(lim[-1]) and key not in drawn_limit:
            drawn_limit.add(key)
            ax_h.plot(p, lim - lim[-1] + 1.0, color=color, ls="--", lw=1.2, label=f"{scheme} limit")
    ax_h.set(
        xlabel="p (success probability)",
        ylabel="h(p) - h(1) + 1",
        ylim=(-2.5, 1.1),
        title="objective, anchored at p = 1 (dashed: large-M limit)",
    )
    ax_w.set(xlabel="p", ylabel="w_M(p) = h_M'(p)", yscale="log", title="weight w_M")
    ax_h.legend(fontsize=7, ncol=2)
    ax_w.legend(fontsize=7, ncol=2)
    for ax in (ax_h, ax_w):
        ax.grid(alpha=0.3)
    return fig
