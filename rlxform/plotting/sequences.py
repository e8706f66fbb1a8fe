"""Figures of sequence-policy runs and experiments: p and response lengths, simulated vs exact.

Each ``fig_*(table, ...)`` reads a finished table (columns as written by ``rlxform simulate``
or ``rlxform.reproduce.sequences``) and returns a matplotlib ``Figure``; nothing is simulated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def _band(ax, step, mean, se, label, color=None, style="-"):
    line = ax.plot(step, mean, style, color=color, label=label)[0]
    if se is not None:
        ax.fill_between(step, mean - 3 * se, mean + 3 * se, alpha=0.25, color=line.get_color())
    return line.get_color()


def fig_sequence_simulate(table: Mapping[str, Any], title: str):
    """Two panels: mean p (seed mean +- 3 SE vs exact ascent) and E[L | correct], E[L | wrong].

    ``table`` has step, mean_p, mean_p_se, exact_mean_p and mean_length_{correct,wrong}
    (+ ``_se``) with their ``exact_`` counterparts, each ``float[R]``.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    ax_p, ax_len = fig.subplots(1, 2)
    step = np.asarray(table["step"])
    _band(ax_p, step, table["mean_p"], table["mean_p_se"], "simulated mean p (+-3 SE)")
    ax_p.plot(step, table["exact_mean_p"], "k--", label="exact ascent")
    ax_p.set(xlabel="step", ylabel="mean p", title="success probability")
    fig.suptitle(title, fontsize=10)
    ax_p.legend(fontsize=8)
    for name, label in (("correct", "E[L | correct]"), ("wrong", "E[L | wrong]")):
        key = f"mean_length_{name}"
        color = _band(ax_len, step, table[key], table.get(f"{key}_se"), f"simulated {label}")
        ax_len.plot(step, table[f"exact_{key}"], "--", color=color, label=f"exact {label}")
    ax_len.set(xlabel="step", ylabel="mean response length", title="length (stop included)")
    ax_len.legend(fontsize=8)
    fig.tight_layout()
    return fig


_COLORS = {
    "seq-mean-token-sum": "C0",
    "seq-mean-token-mean": "C1",
    "seq-mean-token-sum-norm": "C2",
    "token-mean": "C3",
}
_STYLES = ("-", "--", ":", "-.")


def fig_length_drift_map(table: Mapping[str, Any]):
    """dE[L|correct]/dp and dE[L|wrong]/dp along E[g] (color: aggregation, style: scheme) vs p,
    with the grad-p direction in black, one row per verifier."""
    from matplotlib.figure import Figure

    verifiers = list(dict.fromkeys(table["verifier"]))
    schemes = list(dict.fromkeys(table["scheme"]))
    fig = Figure(figsize=(10, 3.6 * len(verifiers)))
    axes = np.atleast_2d(fig.subplots(len(verifiers), 2, squeeze=False))
    for r, verifier in enumerate(verifiers):
        for c, which in enumerate(("correct", "wrong")):
            ax = axes[r, c]
            for mode, color in _COLORS.items():
                for s, scheme in enumerate(schemes):
                    rows = (
                        (table["verifier"] == verifier)
                        & (table["aggregation"] == mode)
                        & (table["scheme"] == scheme)
                    )
                    if not np.any(rows):
                        continue
                    label = f"{mode} / {scheme}" if r == 0 and c == 0 else None
                    y = table[f"{which}_per_p"][rows]
                    ax.plot(table["p"][rows], y, _STYLES[s % 4], color=color, label=label)
            rows = (table["verifier"] == verifier) & (table["scheme"] == schemes[0])
            rows &= table["aggregation"] == table["aggregation"][0]
            ref = table[f"{which}_per_p_grad_p"][rows]
            label = "along grad p" if r == c == 0 else None
            ax.plot(table["p"][rows], ref, "k--", lw=1.2, zorder=5, label=label)
            ax.axhline(0.0, color="grey", lw=0.5)
            ax.set(xlabel="p", ylabel=f"dE[L|{which}] / dp", title=f"{verifier}: E[L | {which}]")
    axes[0, 0].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def fig_length_trajectories(table: Mapping[str, Any]):
    """Per aggregation: E[L|correct] and E[L|wrong], seed mean +- 3 SE vs exact ascent."""
    from matplotlib.figure import Figure

    modes = list(dict.fromkeys(table["aggregation"]))
    fig = Figure(figsize=(4 * len(modes), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(modes), sharey=True))
    for ax, mode in zip(axes, modes, strict=True):
        rows = table["aggregation"] == mode
        step = table["step"][rows]
        for name in ("correct", "wrong"):
            key = f"mean_length_{name}"
            color = _band(ax, step, table[key][rows], table[f"{key}_se"][rows], f"sim {name}")
            ax.plot(step, table[f"exact_{key}"][rows], "--", color=color, label=f"exact {name}")
        ax.set(xlabel="step", title=mode)
    axes[0].set_ylabel("E[L | correct], E[L | wrong]")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_aggregation_table(table: Mapping[str, Any]):
    """The mode -> f -> gradient? table as a figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 0.45 * len(table["name"]) + 0.8))
    ax = fig.subplots()
    ax.axis("off")
    cells = [
        [str(n), str(f), str(g)]
        for n, f, g in zip(table["name"], table["factor"], table["gradient"], strict=True)
    ]
    tab = ax.table(
        cells, colLabels=["aggregation", "f_i", "gradient of an objective?"], loc="center"
    )
    tab.auto_set_font_size(False)
    tab.set_fontsize(9)
    tab.scale(1.0, 1.4)
    fig.tight_layout()
    return fig
