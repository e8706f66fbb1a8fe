"""Figures of sequence-policy runs and experiments: p and response lengths, simulated vs exact.

Each ``fig_*(table, ...)`` reads a finished table (columns as written by ``rlxform simulate``
or ``rlxform.experiments_sequences``) and returns a matplotlib ``Figure``; nothing is simulated.
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
