"""Figure 2: finite-M rejection-sampling objective h_M(p) - h_M(1) vs log p.

Usage: python experiments/fig2_rejection_sampling.py [--mode tiny|quick|full] --out DIR
"""

from rlxform.experiments import script_main
from rlxform.experiments_analytic import RejectionConfig

CONFIG = RejectionConfig(group_sizes=(1, 2, 4, 8, 16, 64), num_grid=400, p_min=1e-3)

if __name__ == "__main__":
    raise SystemExit(script_main("fig2_rejection_sampling", CONFIG))
