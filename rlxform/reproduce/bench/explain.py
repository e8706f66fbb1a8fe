"""``rlxform bench --workload explain``: the whole-process wall time of ``rlxform explain``.

Each example run (``experiments/configs/*`` and ``experiments/configs/launch/*``) is explained by
a fresh ``python -m rlxform explain PATH`` subprocess, timed beside ``python -c "import numpy,
yaml"`` (the floor any Python tool reading YAML pays), interleaved and best of ``repeats``, so
both see the same machine load; the load average is recorded with them. Target: under 1.5 s on
a quiet 2-core machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BASELINE = ("-c", "import numpy, yaml")
_SKIP = ("openrlhf_ppo_deepspeed_0.6.sh",)  # a PPO run with a critic: refused, not explained


_PACKAGE_PARENT = Path(__file__).resolve().parents[3]  # holds rlxform/: the code timed


def source_root() -> Path:
    """The source checkout holding ``experiments/configs``: the working directory, else the one
    this package was imported from (an editable install). Refused when neither holds it."""
    for root in (Path.cwd(), _PACKAGE_PARENT):
        if (root / "experiments" / "configs").is_dir():
            return root
    raise ValueError(
        f"--workload=explain is invalid here: neither {Path.cwd()} nor {_PACKAGE_PARENT} holds "
        "experiments/configs (run it from a source checkout)"
    )


def examples(root: Path | None = None) -> list[Path]:
    """The example runs of the repository (configs and launch files), sorted."""
    folder = (source_root() if root is None else root) / "experiments" / "configs"
    if not folder.is_dir():
        raise ValueError(f"--workload=explain is invalid here: no {folder}")
    found = [p for p in folder.iterdir() if p.is_file()]
    found += [p for p in (folder / "launch").iterdir() if p.is_file() and p.suffix != ".md"]
    return sorted(p for p in found if p.name not in _SKIP)


def _wall(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise ValueError(f"{' '.join(args[-2:])} failed: {done.stderr.strip()[-300:]}")
    return wall


def explain_records(repeats: int = 3, paths: list[Path] | None = None) -> list[dict[str, Any]]:
    """One record per example: best wall seconds of ``rlxform explain`` and of the baseline."""
    paths = examples() if paths is None else paths
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_PACKAGE_PARENT),
        os.environ.get("PYTHONPATH")]))}  # fmt: skip
    root = source_root() if paths is None else Path.cwd()
    records = []
    for path in paths:
        explain, baseline = [], []
        for _ in range(repeats):  # interleaved: both see the same load
            baseline.append(_wall([sys.executable, *BASELINE], env))
            explain.append(_wall([sys.executable, "-m", "rlxform", "explain", str(path)], env))
        records.append(
            {
                "workload": "explain",
                "example": str(path.relative_to(root)) if path.is_relative_to(root) else str(path),
                "explain_seconds": min(explain),
                "baseline_seconds": min(baseline),
                "load_average": os.getloadavg()[0],
                "cpus": os.cpu_count(),
            }
        )
    return records


def format_explain(records: list[dict[str, Any]]) -> str:
    lines = [f"{'example':58} {'explain s':>9} {'import numpy, yaml s':>20} {'load':>5}"]
    for r in records:
        lines.append(
            f"{r['example']:58} {r['explain_seconds']:9.2f} {r['baseline_seconds']:20.2f} "
            f"{r['load_average']:5.1f}"
        )
    worst = max(r["explain_seconds"] for r in records)
    lines.append(f"slowest card: {worst:.2f} s on {records[0]['cpus']} CPUs (target < 1.5 s)")
    return "\n".join(lines)
