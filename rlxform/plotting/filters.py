"""Figures of the filter experiments (``rlxform.reproduce.filters``); nothing is computed here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rlxform.plotting.style import _shade, _unique

_CAP_STYLES = ("--", "-", ":", "-.")
_ANSWERS = (("correct", "-"), ("wrong", "--"))  # line style of each answer kind


def fig_vllm_mask_length(table: Mapping[str, Any]):
    """Left: P(sequence_mask keeps an answer) against its length L (color: sigma, style: cap),
    the issue's 100 and 2000 tokens marked. Right: d E[L | correct] / dp (solid) and
    d E[L | wrong] / dp (dashed) of GRPO on the reference task with the mask at cap 3, against
    the length its maximum stands for (color: sigma; grey: the aggregation without the mask);
    one right panel per aggregation."""
    from matplotlib.figure import Figure

    panel = np.asarray(table["panel"]).astype(str)
    keep = panel == "keep"
    drift = panel == "drift"
    modes = [m for m in _unique(table, "aggregation") if m]
    fig = Figure(figsize=(5 + 4.2 * len(modes), 4))
    axes = np.atleast_1d(fig.subplots(1, 1 + len(modes)))
    sigmas = sorted(set(np.asarray(table["sigma"])[keep].tolist()))
    caps = sorted(set(np.asarray(table["cap"])[keep].tolist()))
    ax = axes[0]
    for i, sigma in enumerate(sigmas):
        for j, cap in enumerate(caps):
            rows = keep & (table["sigma"] == sigma) & (table["cap"] == cap)
            label = f"sigma {sigma:g}, cap {cap:g}"
            ax.plot(
                table["length"][rows],
                table["keep_probability"][rows],
                _CAP_STYLES[j % 4],
                color=_shade(i, len(sigmas)),
                label=label,
            )
    for length in (100, 2000):
        ax.axvline(length, color="0.7", lw=0.8)
    ax.set(
        xscale="log",
        xlabel="completion length L (tokens)",
        ylim=(0, 1.02),
        ylabel="P(answer kept)",
        title="TRL sequence_mask: kept iff sum_t d_t <= log cap",
    )
    ax.legend(fontsize=7)
    for ax, mode in zip(axes[1:], modes, strict=True):
        for i, sigma in enumerate(sigmas):
            rows = drift & (table["aggregation"] == mode) & (table["sigma"] == sigma)
            if not np.any(rows):
                continue
            color = _shade(i, len(sigmas))
            x = table["length"][rows]
            for which, style in _ANSWERS:
                ax.plot(
                    x,
                    table[f"{which}_per_p"][rows],
                    style + "o",
                    ms=3,
                    color=color,
                    label=f"sigma {sigma:g}: {which}",
                )
        rows = drift & (table["aggregation"] == mode)
        if np.any(rows):
            x = np.asarray(table["length"][rows])
            first = np.argsort(x)
            for which, style in _ANSWERS:
                ax.plot(
                    x[first],
                    table[f"{which}_per_p_no_mask"][rows][first],
                    style,
                    color="0.6",
                    label=f"no mask: {which}",
                )
        ax.axhline(0, color="k", lw=0.6)
        ax.set(
            xscale="log",
            xlabel="maximum length the reference task stands for",
            ylabel="d E[L] / dp (tokens of the reference task)",
            title=f"GRPO, {mode}, cap 3: length drift",
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
