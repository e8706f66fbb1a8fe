"""Figure of the entropy equilibrium: ``fig_entropy_equilibrium(table) -> Figure``; no math.

The table is the one ``rlxform.reproduce.entropy`` writes: rows with ``part == "equilibrium"``
(p* against the coefficient per scheme and M) and ``part == "trajectory"`` (simulated seed mean
and exact ascent against step at one setting).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from rlxform.plotting.style import mean_p_trajectories

_STYLES = ("-", "--", "-.", ":")
_NAN = float("nan")


def fig_entropy_equilibrium(table: Mapping[str, np.ndarray]) -> Figure:
    """Left: p* of ascent on h_M(p) + c H against c (log scale), colour = scheme, style = M.
    Right: mean p against step per c, seed mean +- 3 SE vs exact ascent (dashed), p* (dotted).

    Args:
      table: columns part, scheme, M, coef, p_star, step, mean_p, mean_p_se, exact_mean_p.
    """
    fig = Figure(figsize=(12, 4.6), layout="constrained")
    ax_eq, ax_tr = fig.subplots(1, 2)
    part = np.asarray(table["part"]).astype(str)
    scheme = np.asarray(table["scheme"]).astype(str)
    m_col = np.asarray(table["M"], float)
    coef = np.asarray(table["coef"], float)
    p_star = np.asarray(table["p_star"], float)
    eq = part == "equilibrium"
    sizes = sorted({int(m) for m in m_col[eq]})
    for i, name in enumerate(dict.fromkeys(scheme[eq])):
        for j, m in enumerate(sizes):
            rows = eq & (scheme == name) & (m_col == m)
            label = f"{name.split('(')[0]}, M={m}"
            ls = _STYLES[j % len(_STYLES)]
            ax_eq.plot(coef[rows], p_star[rows], ls, color=f"C{i}", label=label)
    p0 = float(np.asarray(table["init_p"], float)[eq][0]) if eq.any() else _NAN
    ax_eq.set(
        xscale="log",
        xlabel="entropy coefficient c",
        ylabel="p*",
        title=f"p* of exact ascent on h_M(p) + c H, two answers, from p0 = {p0:g}",
    )
    ax_eq.legend(fontsize=7, ncol=2)
    tr = part == "trajectory"
    mean_p_trajectories(ax_tr, table, tr, "coef", "c")
    names = ", ".join(sorted({n.split("(")[0] for n in scheme[tr]}))
    sizes_tr = ", ".join(f"M={int(m)}" for m in sorted(set(m_col[tr].tolist())))
    ax_tr.set(
        xlabel="step",
        ylabel="mean p",
        title=f"{names} {sizes_tr}: simulated ±3 SE, exact (dashed), p* (dotted)",
    )
    if tr.any():
        ax_tr.legend(fontsize=8)
    return fig
