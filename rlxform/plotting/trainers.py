"""The trainer comparison figure: each trainer's default GRPO weight w_M(p) at M = 8 and 16.

``fig_trainer_comparison(table)`` on the tidy table of ``explain.compare.curve_table`` (columns
framework, title, M, p, weight); the object API, no pyplot state.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

_STYLES = ("-", "--", "-.", ":")


def fig_trainer_comparison(table: Mapping[str, np.ndarray]) -> Figure:
    """w_M(p) against p (log scale), one panel per M, one line per trainer; trainers whose
    curves agree to 0.1% share one line and one label ("verl, TRL, ...").

    Args:
      table: columns framework, title, M, p, weight.
    """
    frameworks = list(dict.fromkeys(np.asarray(table["framework"]).astype(str)))
    sizes = sorted({int(m) for m in np.asarray(table["M"])})
    fig = Figure(figsize=(5.2 * len(sizes) + 2.6, 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(sizes), sharey=True))
    names = np.asarray(table["framework"]).astype(str)
    titles = np.asarray(table["title"]).astype(str)
    ms = np.asarray(table["M"]).astype(int)
    p_all = np.asarray(table["p"], float)
    w_all = np.asarray(table["weight"], float)
    for ax, m in zip(axes, sizes, strict=True):
        lines: list[tuple[np.ndarray, np.ndarray, list[str]]] = []
        for name in frameworks:
            rows = (names == name) & (ms == m)
            order = np.argsort(p_all[rows])
            p, w = p_all[rows][order], w_all[rows][order]
            for _, other, labels in lines:
                if other.shape == w.shape and np.allclose(other, w, rtol=1e-3, atol=0.0):
                    labels.append(titles[rows][0])
                    break
            else:
                lines.append((p, w, [titles[rows][0]]))
        for i, (p, w, labels) in enumerate(lines):
            ax.plot(
                p, w, color=f"C{i % 10}", ls=_STYLES[i // 10 % 4], lw=2, label=", ".join(labels)
            )
        ax.set(
            xlabel="$p$ (probability that one answer is correct)",
            title=f"default GRPO of each trainer, $M = {m}$",
            yscale="log",
            ylim=(0.5, 60.0),
        )
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper center", ncol=2)
    axes[0].set_ylabel("weight $w_M(p)$  (E[update] $= w_M(p)\\,\\nabla p$)")
    return fig
