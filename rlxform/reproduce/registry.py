"""The experiments of ``rlxform reproduce``: every ``@experiment(..., configs=...)`` of the package.

Each experiment registers itself where it is written (``runner.experiment``: its run function,
its ``tiny`` / ``quick`` / ``full`` configs and a description); this module imports every module
of ``rlxform.reproduce`` once, so ``EXPERIMENTS`` holds them all (sorted by name), and runs one
by name and mode. ``script_main`` is the entry of the one-line ``experiments/*.py`` scripts.
A new figure touches its runner module, its plot function and its test, not this file.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from rlxform import reproduce
from rlxform.reproduce.runner import MODES, REGISTERED, Experiment
from rlxform.results import FigureFormat, Progress, Result, check_figure_format
from rlxform.validation import InputError, did_you_mean

__all__ = ["EXPERIMENTS", "MODES", "Experiment", "run_experiment", "script_main"]


def _discover() -> dict[str, Experiment]:
    """Import every module of ``rlxform.reproduce`` (not ``bench``); each registers its own."""
    for module in pkgutil.iter_modules(reproduce.__path__):
        if not module.ispkg:
            importlib.import_module(f"{reproduce.__name__}.{module.name}")
    return dict(sorted(REGISTERED.items()))


EXPERIMENTS: dict[str, Experiment] = _discover()


def run_experiment(
    name: str,
    mode: str,
    out_dir: Path,
    progress: Progress = None,
    figure: FigureFormat | None = None,
) -> Result:
    """Run ``EXPERIMENTS[name]`` with its ``mode`` config into ``out_dir`` (figure format/dpi)."""
    if name not in EXPERIMENTS:
        raise InputError(
            f"experiment={name!r} is invalid: must be one of {', '.join(EXPERIMENTS)}"
            + did_you_mean(name, EXPERIMENTS)
        )
    if mode not in MODES:
        raise InputError(f"mode={mode!r} is invalid: must be one of {', '.join(MODES)}")
    exp = EXPERIMENTS[name]
    return exp.run(exp.configs[mode], Path(out_dir), progress, figure)


def script_main(name: str, argv: list[str] | None = None) -> int:
    """Entry point of the one-line ``experiments/*.py`` scripts: run a registered config.

    ``python experiments/<name>.py [--mode tiny|quick|full] [--out DIR] [--format F] [--dpi N]``;
    the default mode is ``quick`` (the config the figure in the README was made with).
    """
    import argparse

    parser = argparse.ArgumentParser(prog=name, description=EXPERIMENTS[name].description)
    parser.add_argument("--mode", choices=MODES, default="quick", help="registry config to run")
    parser.add_argument("--out", default=f"results/{name}", help="output directory")
    parser.add_argument("--format", default="png", help="figure format: png, pdf or svg")
    parser.add_argument("--dpi", type=int, default=120, help="figure resolution (dots per inch)")
    args = parser.parse_args(argv)
    figure = check_figure_format(args.format, args.dpi, names=("--format", "--dpi"))
    result = run_experiment(name, args.mode, Path(args.out), None, figure)
    print(f"{name}: {result.wall_time_s:.1f}s -> " + ", ".join(map(str, result.paths.values())))
    return 0
