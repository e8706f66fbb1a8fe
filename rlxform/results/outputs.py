"""An experiment's outputs: ``<name>.csv``, ``<name>.<format>`` and ``<name>.json`` as one Result.

``save_result`` is the one place where a table, its figure and its metadata are written
together; ``Progress`` is the ``progress(done, total)`` callback long experiments report to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rlxform.results.atomic import PathLike, check_writable, remove_stale_temps
from rlxform.results.figures import FigureFormat, save_figure
from rlxform.results.metadata import metadata, write_metadata
from rlxform.results.tables import write_table

Table = dict[str, np.ndarray]
Progress = Callable[[int, int], None] | None  # progress(done, total) inside long experiments


class Result(NamedTuple):
    """What an experiment wrote: its table(s), file paths and wall time in seconds."""

    table: Table
    paths: dict[str, Path]
    wall_time_s: float


def report_progress(progress: Progress, done: int, total: int) -> None:
    """Call ``progress(done, total)`` unless ``progress`` is None."""
    if progress is not None:
        progress(done, total)


def save_result(
    name: str,
    config: Any,
    table: Table,
    fig: Any,
    out_dir: PathLike,
    start: float,
    figure: FigureFormat | None = None,
    **extra: Any,
) -> Result:
    """Write an experiment's ``<name>.csv``, ``<name>.<format>`` and ``<name>.json``.

    Args:
      name: experiment name, the files' stem and the metadata's ``experiment``.
      config: the experiment's config (frozen dataclass), stored in the metadata.
      table: tidy table for ``write_table``.
      fig: matplotlib Figure for ``save_figure``.
      out_dir: output directory (created; must be writable).
      start: ``time.perf_counter()`` at the experiment's start; wall time is measured from it.
      figure: figure format and dpi (default PNG at 120 dpi).
      **extra: further metadata fields.

    Returns:
      ``Result(table, paths, wall_time_s)`` with paths keyed ``csv``, ``json``, ``figure`` and
      the figure's format (``png``, ``pdf`` or ``svg``).
    """
    figure = FigureFormat() if figure is None else figure
    out_dir = check_writable(out_dir, name="out")
    paths = {
        "csv": out_dir / f"{name}.csv",
        figure.format: out_dir / f"{name}.{figure.format}",
        "json": out_dir / f"{name}.json",
    }
    paths["figure"] = paths[figure.format]
    # the metadata goes first and comes back last: a run killed in between leaves no metadata
    # describing another config next to this run's table
    paths["json"].unlink(missing_ok=True)
    write_table(paths["csv"], table)
    save_figure(fig, paths["figure"], figure)
    wall = time.perf_counter() - start
    write_metadata(paths["json"], metadata(config, experiment=name, wall_time_s=wall, **extra))
    remove_stale_temps(out_dir)  # leftovers of a killed earlier run never outlive this one
    return Result(table, paths, wall)
