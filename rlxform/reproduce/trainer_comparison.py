"""The trainer comparison (README gallery): every trainer's default GRPO weight w_M(p).

``trainer_comparison`` reads each registered trainer record at its newest release's defaults
(``rlxform.explain.compare``, the page of ``rlxform explain --compare``) and writes w_M(p) on a
grid of p at M = 8 and 16 (``<name>.csv``), the figure (``plotting.fig_trainer_comparison``) and
the page's rows in ``<name>.json`` (``rows``: version, estimator, scheme, length factor, KL
default, filters). Exact NumPy float64; no simulation, no JAX.
"""

from __future__ import annotations

import dataclasses

from rlxform import plotting
from rlxform.reproduce.runner import experiment
from rlxform.results import Progress, Table
from rlxform.validation import check_int


@dataclasses.dataclass(frozen=True)
class TrainerComparisonConfig:
    """num_grid: points of p in [0, 1] per curve (the page's M = 8 and 16)."""

    num_grid: int = 201

    def __post_init__(self) -> None:
        check_int("num_grid", self.num_grid, 2)


@experiment(
    "trainer_comparison",
    plotting.fig_trainer_comparison,
    configs={
        "tiny": TrainerComparisonConfig(num_grid=11),
        "quick": TrainerComparisonConfig(),
        "full": TrainerComparisonConfig(num_grid=1001),
    },
    description="w_M(p) at M = 8 and 16 of every trainer's default GRPO (explain --compare)",
)
def run_trainer_comparison(
    config: TrainerComparisonConfig, progress: Progress = None
) -> tuple[Table, dict]:
    from rlxform.explain import compare

    rows = compare.compare_rows()
    return compare.curve_table(rows, config.num_grid), {"rows": compare.to_json(rows)["rows"]}
