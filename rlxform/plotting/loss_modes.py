"""Figure of the ``loss_modes`` experiment: ``fig_loss_modes(table) -> matplotlib Figure``.

Three panels for one (learning rate, N) slice of the table: the logit step's effective weight
divided by the mode's first-update scale s at E = 1 (every mode on w_M), the same after the
largest E, and the share of the unclipped gradient the mode's clips, caps and gates remove after
that E; w_M(p) for reference. Never computes math.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

_STYLES = {"verl": "-", "trl": "--", "openrlhf": ":"}


def fig_loss_modes(table: Mapping[str, np.ndarray]) -> Figure:
    """Logit-step effective weight / s per loss mode at E = 1 and the largest E; clipped share.

    Args:
      table: columns mode, framework, scale, learning_rate, epochs, num_minibatches, p,
        logit_weight_per_scale, w_m, clip_fraction (``rlxform.reproduce.loss_modes``). The slice
        drawn is the median learning rate and the smallest N.
    """
    lrs = np.asarray(table["learning_rate"], float)
    lr = float(np.sort(np.unique(lrs))[len(np.unique(lrs)) // 2])
    n = int(np.min(np.asarray(table["num_minibatches"])))
    epochs = np.asarray(table["epochs"], int)
    first, last = int(epochs.min()), int(epochs.max())
    modes = list(dict.fromkeys(np.asarray(table["mode"]).astype(str)))
    fig = Figure(figsize=(14, 4.6), layout="constrained")
    ax_first, ax_last, ax_clip = fig.subplots(1, 3)
    slice_ = (lrs == lr) & (np.asarray(table["num_minibatches"]) == n)
    p_all = np.asarray(table["p"], float)
    for i, mode in enumerate(modes):
        for e, ax in ((first, ax_first), (last, ax_last)):
            rows = slice_ & (np.asarray(table["mode"]).astype(str) == mode) & (epochs == e)
            if not rows.any():
                continue
            p = p_all[rows]
            order = np.argsort(p)
            framework = str(np.asarray(table["framework"])[rows][0])
            scale = float(np.asarray(table["scale"], float)[rows][0])
            style = dict(color=f"C{i % 10}", ls=_STYLES.get(framework, "-."))
            label = mode if scale == 1.0 else f"{mode} (s = {scale:g})"
            y = np.asarray(table["logit_weight_per_scale"], float)[rows][order]
            ax.plot(p[order], y, label=label if ax is ax_first else None, **style)
            if e == last:
                clip = np.asarray(table["clip_fraction"], float)[rows][order]
                ax_clip.plot(p[order], clip, **style)
    rows = slice_ & (epochs == first)
    p, w_m = p_all[rows], np.asarray(table["w_m"], float)[rows]
    order = np.unique(p, return_index=True)[1]
    for ax in (ax_first, ax_last):
        label = "w_M(p)" if ax is ax_first else None
        ax.plot(p[order], w_m[order], color="k", lw=3, alpha=0.3, label=label)
        ax.set(xlabel="p at the rollout", yscale="log")
    ax_first.set_ylabel("E[change of logit] / (lr E N p (1-p)) / s")
    ax_first.set_title(f"first update (E = {first}): every mode is s w_M", fontsize=10)
    ax_last.set_title(f"after E = {last} epochs (lr = {lr:g}, N = {n}), / s", fontsize=10)
    ax_clip.set(
        xlabel="p at the rollout",
        ylabel="share of the unclipped gradient removed",
    )
    ax_clip.set_title(f"clip / cap / gate share over the E = {last} epochs", fontsize=10)
    fig.legend(loc="outside lower center", ncol=5, fontsize=8)
    return fig
