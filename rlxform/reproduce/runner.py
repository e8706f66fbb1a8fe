"""The one run/save pattern every experiment shares: compute a tidy table, plot it, save it.

An experiment is written as ``compute(config, progress) -> table`` (or ``(table, extra)`` with
extra JSON metadata) and decorated with ``@experiment(name, plot)``, which turns it into the
registry's ``run(config, out_dir, progress, figure) -> results.Result``: it times the run and
writes ``<name>.csv``, ``<name>.<format>`` (``plot(table)``) and ``<name>.json`` through
``results.save_result``. ``Columns`` builds the tidy table block by block.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rlxform.results import FigureFormat, Progress, Result, Table, save_result

Compute = Callable[[Any, Progress], "Table | tuple[Table, dict[str, Any]]"]
Run = Callable[..., Result]


class Columns:
    """A tidy table built from blocks of rows: ``add(scheme="grpo", p=p, weight=w)``.

    Array values give the block's rows (all of one length N); scalars are repeated N times.
    Every block names the same columns; ``table()`` concatenates them (column order: first add).
    """

    def __init__(self) -> None:
        self._blocks: dict[str, list[np.ndarray]] = {}

    def add(self, **values: Any) -> None:
        """Append one block; scalars broadcast to the length of the array values (1 if none)."""
        if self._blocks and set(values) != set(self._blocks):
            raise ValueError(f"columns {sorted(values)} differ from {sorted(self._blocks)}")
        arrays = {k: np.asarray(v) for k, v in values.items()}
        sizes = {a.shape[0] for a in arrays.values() if a.ndim > 0}
        if len(sizes) > 1:
            raise ValueError(f"block columns have different lengths {sorted(sizes)}")
        n = sizes.pop() if sizes else 1
        for k, a in arrays.items():
            self._blocks.setdefault(k, []).append(np.repeat(a, n) if a.ndim == 0 else a)

    def table(self) -> Table:
        """dict column -> 1-D array over every block, in order."""
        return {k: np.concatenate(v) for k, v in self._blocks.items()}


def experiment(name: str, plot: Callable[[Table], Any]) -> Callable[[Compute], Run]:
    """Decorator: ``compute(config, progress)`` -> ``run(config, out_dir, progress, figure)``.

    Args:
      name: the experiment's name: file stem and the metadata's ``experiment``.
      plot: ``fig_*(table) -> matplotlib Figure`` (``rlxform.plotting``).

    Returns:
      a decorator; the run function keeps ``compute`` as ``run.compute``.
    """

    def wrap(compute: Compute) -> Run:
        @functools.wraps(compute)
        def run(
            config: Any,
            out_dir: Path,
            progress: Progress = None,
            figure: FigureFormat | None = None,
        ) -> Result:
            start = time.perf_counter()
            out = compute(config, progress)
            table, extra = out if isinstance(out, tuple) else (out, {})
            return save_result(name, config, table, plot(table), out_dir, start, figure, **extra)

        run.compute = compute  # type: ignore[attr-defined]
        return run

    return wrap
