"""``rlxform bench``: the jitted simulator against its peers, timed interleaved in one process.

``workloads`` (W1-W4 configs and the NumPy reference), ``programs`` (the timed jitted programs),
``run`` (timing, records, ratios, tables, ``main``), ``sequences`` (W5, the sequence simulator).
"""

from __future__ import annotations

from rlxform.reproduce.bench.programs import (
    PROGRAMS,
    build_reference,
    reference_program,
    rlxform_program,
    uniform_program,
)
from rlxform.reproduce.bench.run import (
    PEERS,
    affine_fit,
    bench_jax,
    bench_numpy,
    first_result_ratios,
    format_scaling,
    format_table,
    implementations,
    loglog_slope,
    main,
    ratios,
    record,
    run_workload,
    scaling,
    simulate_compile_seconds,
)
from rlxform.reproduce.bench.workloads import (
    IMPLEMENTATIONS,
    WORKLOADS,
    Workload,
    device_name,
    numpy_simulate,
    numpy_step,
    workload,
)

__all__ = [
    "IMPLEMENTATIONS",
    "PEERS",
    "PROGRAMS",
    "WORKLOADS",
    "Workload",
    "affine_fit",
    "bench_jax",
    "bench_numpy",
    "build_reference",
    "device_name",
    "first_result_ratios",
    "format_scaling",
    "format_table",
    "implementations",
    "loglog_slope",
    "main",
    "numpy_simulate",
    "numpy_step",
    "ratios",
    "record",
    "reference_program",
    "rlxform_program",
    "run_workload",
    "scaling",
    "simulate_compile_seconds",
    "uniform_program",
    "workload",
]
