"""The tables behind ``rlxform schemes`` and ``rlxform transforms`` (the CLI parses and prints).

``catalog_rows`` lists every scheme with its large-M objective; ``transforms_table`` is the tidy
float64 table of exact h_M, w_M and the limit per (scheme, M, p); ``write_transforms`` writes it
with its figure as ``transforms.csv`` and ``transforms.<format>``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlxform.results import FigureFormat, Table, save_figure, write_table


def catalog_rows() -> list[tuple[str, str, str]]:
    """(name, large-M objective, weights formula) for the catalog and the framework schemes."""
    from rlxform import frameworks
    from rlxform.core import schemes

    rows = []
    for name, formula in schemes.catalog().items():
        base = name.split("(")[0]
        if base == "custom" or formula.startswith("alias of"):
            limit = "depends on fn" if base == "custom" else "as " + formula.split()[-1]
        else:
            limit = schemes.get(base).limit()[1] or "(no named limit)"
        rows.append((name, limit, formula))
    for name in frameworks.scheme_names():
        scheme = frameworks.resolve_scheme(name)
        rows.append((name, scheme.limit()[1] or "(no named limit)", scheme.label))
    return rows


def format_catalog(rows: Sequence[tuple[str, str, str]]) -> str:
    """The ``rlxform schemes`` text: aligned columns, then what the objective means."""
    width = max(len(r[0]) for r in rows)
    lim_width = max(len(r[1]) for r in rows)
    lines = [f"{'scheme':<{width}}  {'large-M objective h':<{lim_width}}  weights"]
    lines += [f"{name:<{width}}  {limit:<{lim_width}}  {formula}" for name, limit, formula in rows]
    lines += [
        "",
        "Every scheme ascends E_x h_M(p_x) exactly at group size M; h_M tends to the objective "
        "above as M grows. `rlxform transforms` gives h_M per M; `rlxform explain CONFIG` reads "
        "a trainer's config or launch file (verl, TRL, OpenRLHF, ...: see rlxform explain --help).",
    ]
    return "\n".join(lines)


def transforms_table(schemes: Sequence[Any], group_sizes: Sequence[int], num_grid: int) -> Table:
    """Tidy table: one row per (scheme, M, p) with weight, objective and limit (float64).

    Args:
      schemes: ``Scheme`` objects; group_sizes: the M values; num_grid: G points on [0, 1].

    Returns:
      columns scheme, params (JSON of the scheme's kwargs), M, p, weight w_M(p), objective
      h_M(p) and limit (the large-M objective, NaN where none), each of length S x len(M) x G.
    """
    import jax

    from rlxform.core.objective import transform
    from rlxform.reproduce.runner import Columns
    from rlxform.validation import check_int

    num_grid = check_int("grid", num_grid, 2, 100_001)
    p = np.linspace(0.0, 1.0, num_grid)
    cols = Columns()
    with jax.enable_x64(True):
        for scheme in schemes:
            for m in group_sizes:
                t = transform(scheme, m)
                limit = (
                    np.full_like(p, np.nan)
                    if t.limit is None
                    else np.asarray(t.limit(p), np.float64)
                )
                cols.add(
                    scheme=scheme.name,
                    params=json.dumps(scheme.kwargs, sort_keys=True, default=str),
                    M=m,
                    p=p,
                    weight=np.asarray(t.weight(p), np.float64),
                    objective=np.asarray(t.objective(p), np.float64),
                    limit=limit,
                )
    return cols.table()


def write_transforms(
    schemes: Sequence[Any],
    group_sizes: Sequence[int],
    num_grid: int,
    out: Path,
    figure: FigureFormat,
) -> tuple[Table, dict[str, Path]]:
    """Write ``transforms.csv`` and ``transforms.<format>`` (``plotting.fig_transforms``) in out.

    Returns:
      (table, paths keyed ``csv`` and ``figure``).
    """
    from rlxform.plotting import fig_transforms

    table = transforms_table(schemes, group_sizes, num_grid)
    paths = {"csv": out / "transforms.csv", "figure": out / f"transforms.{figure.format}"}
    write_table(paths["csv"], table)
    save_figure(fig_transforms(table), paths["figure"], figure)
    return table, paths
