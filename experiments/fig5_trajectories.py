"""Figure 5: stochastic seed-mean trajectories (SE band) vs exact ascent on J_{h_M}.

REINFORCE, RLOO, GRPO, rejection sampling and pass@4; tabular and network policies.
Usage: python experiments/fig5_trajectories.py [--mode tiny|quick|full] --out DIR
"""

from rlxform.experiments import script_main
from rlxform.experiments_sim import SimulationConfig
from rlxform.sweep_config import SchemeSpec

CONFIG = SimulationConfig(
    schemes=(
        SchemeSpec("reinforce"),
        SchemeSpec("rloo"),
        SchemeSpec("grpo"),
        SchemeSpec("rejection_sampling"),
        SchemeSpec("pass_at_k", (("k", 4),)),
    ),
    policies=("tabular", "network"),
    num_prompts=16,
    num_responses=4,
    group_size=8,
    steps=150,
    record_every=5,
    learning_rate=0.5,
    seeds=32,
    init_p="grid",
)

if __name__ == "__main__":
    raise SystemExit(script_main("fig5_trajectories", CONFIG))
