"""The one run/save pattern every experiment shares: compute a tidy table, plot it, save it.

An experiment is written as ``compute(config, progress) -> table`` (or ``(table, extra)`` with
extra JSON metadata) and decorated with ``@experiment(name, plot, configs=...)``, which turns it
into ``run(config, out_dir, progress, figure) -> results.Result``: it times the run and writes
``<name>.csv``, ``<name>.<format>`` (``plot(table)``) and ``<name>.json`` through
``results.save_result``; given ``configs`` (one per mode: tiny, quick, full) it registers the
experiment in ``REGISTERED`` (``rlxform reproduce``, ``registry.run_experiment``).
``Columns`` builds the tidy table block by block; ``local_sweep`` / ``local_exact`` compile
a simulator grid once per config and process.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
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


MODES = ("tiny", "quick", "full")


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A named experiment: its run function, configs per mode and a one-line description."""

    name: str
    run: Run
    configs: Mapping[str, Any]
    description: str


REGISTERED: dict[str, Experiment] = {}  # filled by @experiment(..., configs=...) on import


def experiment(
    name: str,
    plot: Callable[[Table], Any] | None = None,
    *,
    configs: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> Callable[[Callable], Run]:
    """Decorator: ``compute(config, progress)`` -> ``run(config, out_dir, progress, figure)``.

    Args:
      name: the experiment's name: file stem and the metadata's ``experiment``.
      plot: ``fig_*(table) -> matplotlib Figure`` (``rlxform.plotting``); None when the
        decorated function is already a run function that writes its own files.
      configs: the ``tiny`` / ``quick`` / ``full`` configs; given, the experiment registers
        itself in ``REGISTERED`` under ``name``.
      description: one line for ``--help`` (default: the docstring's first line).

    Returns:
      a decorator; the run function keeps ``compute`` as ``run.compute`` and the configs as
      ``run.configs``.
    """

    def wrap(compute: Callable) -> Run:
        if plot is None:
            run = compute
        else:

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
                return save_result(
                    name, config, table, plot(table), out_dir, start, figure, **extra
                )

        run.compute = compute  # type: ignore[attr-defined]
        if configs is not None:
            if set(configs) != set(MODES) or name in REGISTERED:
                raise ValueError(f"experiment {name!r}: configs for {MODES} once, not {configs}")
            doc = description or (compute.__doc__ or name).strip().splitlines()[0]
            REGISTERED[name] = Experiment(name, run, dict(configs), doc)
            run.configs = dict(configs)  # type: ignore[attr-defined]
        return run

    return wrap


@functools.lru_cache(maxsize=128)
def local_sweep(cfg: Any):
    """``sweeps.make_sweep(cfg)`` over every local device (sharded when there are several; the
    same results up to float32 rounding), compiled once per config in this process."""
    import jax

    from rlxform.sim import sweeps

    devices = jax.local_devices()
    return sweeps.make_sweep(cfg, devices if len(devices) > 1 else None)


@functools.lru_cache(maxsize=128)
def local_exact(cfg: Any):
    """``sweeps.make_exact_sweep(cfg)``, compiled once per config in this process."""
    from rlxform.sim import sweeps

    return sweeps.make_exact_sweep(cfg)
