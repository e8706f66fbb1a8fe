"""Figure 7: exact signal-to-noise ratio of the scalar-logit update vs p, per scheme and M.

Usage: python experiments/fig7_noise.py [--mode tiny|quick|full] --out DIR
"""

from rlxform.experiments import script_main
from rlxform.experiments_analytic import NoiseConfig
from rlxform.sweep_config import SchemeSpec

CONFIG = NoiseConfig(
    group_sizes=(4, 16, 64, 256),
    num_grid=199,
    schemes=(
        SchemeSpec("reinforce"),
        SchemeSpec("rloo"),
        SchemeSpec("grpo"),
        SchemeSpec("rejection_sampling"),
        SchemeSpec("maxrl"),
        SchemeSpec("pass_at_k", (("k", 4),)),
    ),
)

if __name__ == "__main__":
    raise SystemExit(script_main("fig7_noise", CONFIG))
