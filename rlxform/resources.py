"""Resource guards: estimate a run's memory before allocating it and refuse above a budget.

One guard path: ``check_run(cfg, runs, exact=...)`` is called by every entry point that runs the
simulator or its exact reference (``make_simulate``, ``make_sweep``'s calls, ``make_exact``,
``make_exact_sweep``, ``rlxform simulate``, ``run_sweep`` and so TOML sweeps and experiments),
for every policy kind alike. The estimates are upper-bound-ish counts of the arrays a run holds at
once, in bytes, from the config's sizes only (small integer products, never the task's response
set): float32 parameters with gradient and optimizer state, the sampler's per-step work (the
inverse-CDF sampler compares B M K), activations, the pre-split PRNG keys of every step (and of
every PPO epoch), the per-step values of a record block and the records; exact references add
the policy's law over its N responses. The budget is the machine's available memory
(``MemAvailable`` in /proc/meminfo, else physical memory from ``os.sysconf``), the devices'
memory when JAX runs on an accelerator, or ``RLXFORM_MEMORY_BUDGET`` (bytes, or with a suffix
K, M, G, T: ``64G``) to lower it or to raise it up to the machine's memory (beyond it the budget
is clamped, with a warning).
"""

from __future__ import annotations

import math
import os
import re
import sys
import warnings
from collections.abc import Mapping
from typing import Any

from rlxform.validation import InputError

BUDGET_ENV = "RLXFORM_MEMORY_BUDGET"
_FLOAT32 = 4
_KEY_BYTES = 16  # a PRNG key's data: threefry 2 x uint32, rbg / unsafe_rbg 4 x uint32
_AUX_VALUES = 8  # per-step values kept for a record block (degenerate share, clip fraction, ...)
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class BudgetWarning(UserWarning):
    """``RLXFORM_MEMORY_BUDGET`` asks for more than the machine has; the budget is clamped."""


def _meminfo(field: str) -> int | None:
    """Bytes of ``field`` of /proc/meminfo (Linux), else physical memory (``os.sysconf``), else
    None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``), else physical memory, else None."""
    return _meminfo("MemAvailable")


def parse_bytes(name: str, text: str) -> int:
    """``'64G'`` -> 68719476736; ValueError naming ``name`` for anything but a size >= 1."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    value = float(match[1]) * _UNITS[match[2].upper()] if match else 0.0
    if not match or not math.isfinite(value) or value < 1:
        raise InputError(
            f"{name}={text!r} is invalid: must be a size in bytes, optionally with a suffix "
            "K, M, G or T (e.g. 64G)"
        )
    return int(value)


def physical_memory() -> int | None:
    """Bytes of memory of the machine (``MemTotal``; ``os.sysconf``), or None if unknown."""
    return _meminfo("MemTotal")


def device_memory(devices: int = 1) -> int | None:
    """Bytes of accelerator memory of ``devices`` devices when JAX (already imported) runs on a
    GPU or TPU: ``memory_stats()["bytes_limit"]`` of the first device times ``devices``; None
    on CPU, when JAX is not loaded, when the device does not say, or before JAX has started its
    backends (asking would start them, and ``jax.distributed.initialize`` must come first)."""
    jax = sys.modules.get("jax")
    if jax is None:
        return None
    try:
        from jax._src import xla_bridge

        if not xla_bridge.backends_are_initialized():
            return None
        device = jax.local_devices()[0]
        if device.platform == "cpu":
            return None
        limit = (device.memory_stats() or {}).get("bytes_limit")
    except Exception:
        return None
    return int(limit) * max(1, int(devices)) if limit else None


def memory_budget(devices: int = 1) -> tuple[int | None, str]:
    """(bytes, where it came from): ``RLXFORM_MEMORY_BUDGET`` if set (clamped, with a warning,
    to the machine's memory), else available memory; on an accelerator, at most the memory of
    the ``devices`` it runs on."""
    text = os.environ.get(BUDGET_ENV)
    if text is not None:
        budget, source = parse_bytes(BUDGET_ENV, text), BUDGET_ENV
        total = physical_memory()
        if total is not None and budget > total:
            warnings.warn(
                f"{BUDGET_ENV}={text.strip()} is more than this machine's memory "
                f"({_human(total)}); the budget is {_human(total)}",
                BudgetWarning,
                stacklevel=3,
            )
            budget, source = total, f"{BUDGET_ENV} clamped to the machine's memory"
    else:
        budget, source = available_memory(), "available memory"
    accelerator = device_memory(devices)
    if accelerator is not None and (budget is None or accelerator < budget):
        plural = "s" if devices > 1 else ""
        budget, source = accelerator, f"memory of {devices} accelerator device{plural}"
    return budget, source


def _human(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(nbytes) < 1024 or unit == "PB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    return f"{nbytes:.3g} PB"


def check_memory(what: str, nbytes: int, devices: int = 1) -> int:
    """Raise ValueError (one line) when ``nbytes`` exceeds the memory budget; return nbytes.

    Args:
      what: what needs the memory, with the sizes that drive it (shown in the message).
      nbytes: the estimate.
      devices: the accelerator devices the work is spread over (budget on GPU / TPU).
    """
    budget, source = memory_budget(devices)
    if budget is not None and nbytes > budget:
        raise InputError(
            f"{what} is invalid: it needs about {_human(nbytes)} of memory, more than the "
            f"budget of {_human(budget)} ({source}); make it smaller or set "
            f"{BUDGET_ENV} (e.g. {BUDGET_ENV}=64G) to raise the budget"
        )
    return nbytes


def run_terms(cfg: Any, runs: int = 1, exact: int = 0) -> dict[str, int]:
    """Bytes of ``runs`` vmapped simulator runs of ``cfg`` and ``exact`` exact-ascent points,
    by what holds them (the largest names the sizes to change).

    Per run (float32): parameters, gradient and optimizer state (4 copies), the sampler's
    per-step work (x4) and activations as the policy kind states them (``policies.footprint``:
    bandits ``P K`` logits and ``P (K + M)`` work; sequences a logit row per prefix or a GRU,
    work ``P M L (V + 1)``), and ``B M K`` int32 comparisons of the inverse-CDF sampler; the
    recorded metrics ``R (P + 5)``; the pre-split keys of the T steps (x (1 + E) under PPO's E
    epochs) and the per-step values of a block of ``record_every`` steps. An exact point holds
    the policy's law over its N responses (``[P, N, L + 1]``, x8 for its gradient) and its
    parameters (x8). Only products of the config's integers: nothing is enumerated.
    """
    from rlxform.sim import policies
    from rlxform.sim.kinds import KINDS

    problem = cfg.problem
    num_p, batch, m = problem.num_prompts, cfg.batch, cfg.group_size
    params, work, activations = policies.footprint(problem, m)
    sizes = f"num_prompts={num_p}, group_size={m}"
    if problem.is_sequence:
        sizes += f", vocab_size={problem.vocab_size}, max_length={problem.max_length}"
    else:
        sizes += f", num_responses={problem.num_responses}"
    if KINDS[problem.policy].hidden:
        sizes += f", hidden={problem.hidden}"
    if not problem.is_sequence and cfg.resolved_sampler == "inverse_cdf":
        work = max(work, batch * m * problem.num_responses)  # [B, M, K] compares
    keys = cfg.num_steps * (1 + (cfg.ppo_epochs if cfg.is_ppo else 0))
    runs, exact = int(runs), int(exact)
    terms = {
        f"parameters and optimizer state ({sizes})": runs * _FLOAT32 * 4 * params,
        f"sampling work per step ({sizes}, batch {batch})": runs * _FLOAT32 * 4 * work,
        f"activations ({sizes})": runs * _FLOAT32 * activations,
        f"PRNG keys of num_steps={cfg.num_steps}"
        + (f" x ppo_epochs={cfg.ppo_epochs}" if cfg.is_ppo else ""): runs * _KEY_BYTES * keys,
        f"per-step values of record_every={cfg.record_every} steps": runs
        * _FLOAT32
        * _AUX_VALUES
        * cfg.record_every,
        f"records ({cfg.num_records} of num_prompts={num_p})": runs
        * _FLOAT32
        * cfg.num_records
        * (num_p + 5),
    }
    if exact:
        if problem.is_sequence:
            from rlxform.core.sequence_tasks import num_sequences

            law = num_sequences(problem.vocab_size, problem.max_length)  # <= 2**20 (checked)
            length = problem.max_length
        else:
            law, length = problem.num_responses, 1
        terms[f"exact reference ({sizes}, N={law} responses)"] = exact * 8 * _FLOAT32 * (
            num_p * law * (length + 1) + params
        ) + exact * 16 * (m + 1)
    return terms


def simulation_bytes(cfg: Any, runs: int, exact: int = 0) -> int:
    """Estimated peak bytes of ``runs`` vmapped simulator runs (and ``exact`` exact-ascent
    points) of the static config ``cfg``: the sum of ``run_terms``."""
    return sum(run_terms(cfg, runs, exact).values())


def check_run(
    cfg: Any,
    runs: int = 1,
    *,
    exact: int = 0,
    what: str = "the run",
    devices: int = 1,
    factor: int = 1,
    names: Mapping[str, str] | None = None,
) -> int:
    """The one guard of simulator runs: refuse (ValueError, one line) when ``runs`` vmapped runs
    of ``cfg`` (and ``exact`` exact-ascent points) do not fit the memory budget.

    Args:
      cfg: a ``SimConfig`` (validated: its sizes are bounded integers).
      runs: vmapped runs held at once (seeds x learning rates of a chunk).
      exact: exact-ascent points computed alongside (0: none).
      what: the entry point, named in the message (``"rlxform simulate"``, ``"make_sweep"``).
      devices: accelerator devices the runs are spread over.
      factor: a multiple for copies the caller holds (float64 statistics of the runs: 2).
      names: the user's name of each field (``{"num_prompts": "--prompts"}``) for the message.
    Returns:
      the estimate in bytes. The message names the largest term with the sizes behind it.
    """
    count = f"{runs} run{'s' if int(runs) != 1 else ''}" if runs else ""
    terms = {k: factor * v for k, v in run_terms(cfg, runs, exact).items()}
    return check_terms(what, terms, count, devices, names)


def check_terms(
    what: str,
    terms: Mapping[str, int],
    detail: str = "",
    devices: int = 1,
    names: Mapping[str, str] | None = None,
) -> int:
    """``check_memory`` of the sum of ``terms`` (bytes by what holds them); the message names
    the largest term, its sizes spelled with ``names`` (a field's flag or key)."""
    largest = max(terms, key=terms.get)
    size = _human(terms[largest])
    for field, name in (names or {}).items():
        largest = re.sub(rf"\b{field}=", f"{name}=", largest)
    lead = f"{detail}; " if detail else ""
    return check_memory(
        f"{what} ({lead}largest: {largest}, about {size})", sum(terms.values()), devices
    )


def transform_bytes(num_schemes: int, group_sizes: Any, num_grid: int) -> int:
    """Estimated peak bytes of ``rlxform transforms``: float64 ``[G, M + 1]`` Bernstein
    matrices (x3 for log terms and products) for the largest M, plus the table, ~120 bytes per
    row of Python lists and arrays."""
    largest = max(int(m) for m in group_sizes)
    rows = num_schemes * len(list(group_sizes)) * num_grid
    return 3 * 8 * num_grid * (largest + 1) + 120 * rows
