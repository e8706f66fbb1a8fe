"""Shared plotting helpers: grouping table rows, scheme labels, formulas in math text, colours,
and the mean-p-to-equilibrium trajectory panel."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np


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


def mean_p_trajectories(ax, table: Mapping[str, np.ndarray], rows, key: str, symbol: str) -> None:
    """Mean p against step per value of column ``key`` (``rows``: the table's trajectory rows):
    seed mean +- 3 SE band, exact ascent dashed, the equilibrium p* dotted (where finite).

    Columns: ``key``, step, mean_p, mean_p_se, exact_mean_p, p_star; labels ``symbol=value``."""
    values = _col(table, key)
    step, mean, se = (_col(table, k) for k in ("step", "mean_p", "mean_p_se"))
    exact, p_star = _col(table, "exact_mean_p"), _col(table, "p_star")
    for i, value in enumerate(sorted(set(values[rows].tolist()))):
        at = rows & (values == value)
        color = f"C{i}"
        ax.fill_between(
            step[at], mean[at] - 3 * se[at], mean[at] + 3 * se[at], color=color, alpha=0.25, lw=0
        )
        ax.plot(step[at], mean[at], color=color, label=f"{symbol}={value:g}: simulated (seed mean)")
        ax.plot(step[at], exact[at], "--", color=color)
        target = float(p_star[at][0])
        if np.isfinite(target):
            ax.axhline(target, color=color, ls=":", lw=1)


def _col(table: Mapping[str, np.ndarray], key: str, idx=None, kind=float) -> np.ndarray:
    values = np.asarray(table[key]).astype(kind)
    return values if idx is None else values[idx]


def _unique(table: Mapping[str, np.ndarray], key: str) -> list:
    return list(dict.fromkeys(np.asarray(table[key]).tolist()))


def _shade(i: int, n: int, cmap: str = "viridis"):
    from matplotlib import colormaps

    return colormaps[cmap](0.1 + 0.8 * i / max(n - 1, 1))
