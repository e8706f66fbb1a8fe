"""Resource guards: estimate a run's memory before allocating it and refuse above a budget.

The estimates are deliberately simple upper-bound-ish counts of the arrays a run holds at once
(float32 simulator state for every vmapped run, recorded metrics, float64 Bernstein matrices for
``transform``), in bytes. The budget is the machine's available memory (``MemAvailable`` in
/proc/meminfo, else physical memory from ``os.sysconf``), or ``RLXFORM_MEMORY_BUDGET`` (bytes,
or with a suffix K, M, G, T: ``64G``) to raise or lower it. ``MAX_STEPS`` bounds T (the scan
length is an int32 and ``record_every`` is found by divisor search).
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

MAX_STEPS = 2**31 - 1  # lax.scan length and step counters are int32
BUDGET_ENV = "RLXFORM_MEMORY_BUDGET"
_FLOAT32 = 4
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``), else physical memory, else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def parse_bytes(name: str, text: str) -> int:
    """``'64G'`` -> 68719476736; ValueError naming ``name`` for anything but a size >= 1."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    value = float(match[1]) * _UNITS[match[2].upper()] if match else 0.0
    if not match or not math.isfinite(value) or value < 1:
        raise ValueError(
            f"{name}={text!r} is invalid: must be a size in bytes, optionally with a suffix "
            "K, M, G or T (e.g. 64G)"
        )
    return int(value)


def memory_budget() -> tuple[int | None, str]:
    """(bytes, where it came from): ``RLXFORM_MEMORY_BUDGET`` if set, else available memory."""
    text = os.environ.get(BUDGET_ENV)
    if text is not None:
        return parse_bytes(BUDGET_ENV, text), BUDGET_ENV
    return available_memory(), "available memory"


def _human(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(nbytes) < 1024 or unit == "PB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    return f"{nbytes:.3g} PB"


def check_memory(what: str, nbytes: int) -> int:
    """Raise ValueError (one line) when ``nbytes`` exceeds the memory budget; return nbytes.

    Args:
      what: what needs the memory, with the sizes that drive it (shown in the message).
      nbytes: the estimate.
    """
    budget, source = memory_budget()
    if budget is not None and nbytes > budget:
        raise ValueError(
            f"{what} is invalid: it needs about {_human(nbytes)} of memory, more than the "
            f"budget of {_human(budget)} ({source}); make it smaller or set "
            f"{BUDGET_ENV} (e.g. {BUDGET_ENV}=64G) to raise the budget"
        )
    return nbytes


def simulation_bytes(cfg: Any, runs: int) -> int:
    """Estimated peak bytes of ``runs`` vmapped simulator runs of the static config ``cfg``.

    Per run (float32): parameters, gradient and optimizer state (4 copies), per-step sampling
    work (x4) and activations as the policy kind states them (``policies.footprint``: bandits
    ``P K`` logits and ``P (K + M)`` work; sequences a logit row per prefix or a GRU, work
    ``P M L (V + 1)``), and the recorded metrics ``R (P + 5)``; plus one PRNG key (8 bytes)
    per run.
    """
    from rlxform.sim import policies

    params, work, activations = policies.footprint(cfg.problem, cfg.group_size)
    records = cfg.num_records * (cfg.problem.num_prompts + 5)
    per_run = 4 * params + 4 * work + activations + records
    return int(runs) * (_FLOAT32 * per_run + 8)


def transform_bytes(num_schemes: int, group_sizes: Any, num_grid: int) -> int:
    """Estimated peak bytes of ``rlxform transforms``: float64 ``[G, M + 1]`` Bernstein
    matrices (x3 for log terms and products) for the largest M, plus the table, ~120 bytes per
    row of Python lists and arrays."""
    largest = max(int(m) for m in group_sizes)
    rows = num_schemes * len(list(group_sizes)) * num_grid
    return 3 * 8 * num_grid * (largest + 1) + 120 * rows
