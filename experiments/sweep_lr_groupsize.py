"""Sweep: learning rate x group size x scheme x seeds, one vmapped run per (scheme, M).

Steps to reach mean p >= 0.9 and the final objective, a heatmap per scheme. Set ``budget`` to
hold M x steps fixed. For TOML configs use ``rlxform sweep experiments/sweep_quick.toml``.
Usage: python experiments/sweep_lr_groupsize.py [--mode tiny|quick|full] --out DIR
"""

from rlxform.experiments import script_main
from rlxform.sweep_config import PolicySpec, SchemeSpec, SweepConfig

CONFIG = SweepConfig(
    learning_rate=(0.1, 0.3, 1.0, 3.0, 10.0),
    group_size=(2, 4, 8, 16, 32),
    schemes=(SchemeSpec("reinforce"), SchemeSpec("grpo"), SchemeSpec("rejection_sampling")),
    seeds=8,
    steps=200,
    records=20,
    threshold=0.9,
    policy=PolicySpec(kind="tabular", num_prompts=16, num_responses=4, num_correct=1),
    init_p="grid",
)

if __name__ == "__main__":
    raise SystemExit(script_main("sweep_lr_groupsize", CONFIG))
