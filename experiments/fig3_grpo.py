"""Figure 3: normalised GRPO objective h_M(p) / h_M(1) vs (2/pi) arcsin sqrt p.

Group sizes, eps and population vs sample (Bessel) std.
Usage: python experiments/fig3_grpo.py [--mode tiny|quick|full] --out DIR
"""

from rlxform.experiments import script_main
from rlxform.experiments_analytic import GrpoConfig

CONFIG = GrpoConfig(
    group_sizes=(2, 4, 8, 16, 64, 256),
    eps=(0.0, 1e-6, 1e-2, 0.1),
    stds=("population", "sample"),
    num_grid=201,
)

if __name__ == "__main__":
    raise SystemExit(script_main("fig3_grpo", CONFIG))
