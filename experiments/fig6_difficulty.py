"""Figure 6: at an equal sample budget, each prompt's final p against its initial p.

Usage: python experiments/fig6_difficulty.py [--mode tiny|quick|full] --out DIR
"""

from rlxform.experiments import script_main
from rlxform.experiments_sim import SimulationConfig
from rlxform.sweep_config import SchemeSpec

CONFIG = SimulationConfig(
    schemes=(
        SchemeSpec("reinforce"),
        SchemeSpec("grpo"),
        SchemeSpec("rejection_sampling"),
        SchemeSpec("pass_at_k", (("k", 4),)),
    ),
    policies=("tabular",),
    num_prompts=24,
    num_responses=4,
    group_size=8,
    steps=100,
    record_every=5,
    learning_rate=0.3,
    seeds=32,
    init_p="grid",
)

if __name__ == "__main__":
    raise SystemExit(script_main("fig6_difficulty", CONFIG))
