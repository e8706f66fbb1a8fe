"""Figure 4: w_M(p) of the whole catalog at M = 8 next to the large-M limits h'(p).

Usage: python experiments/fig4_weights.py [--mode tiny|quick|full] --out DIR
"""

from rlxform.experiments import script_main
from rlxform.experiments_analytic import CATALOG, WeightsConfig

CONFIG = WeightsConfig(group_size=8, num_grid=201, schemes=CATALOG)

if __name__ == "__main__":
    raise SystemExit(script_main("fig4_weights", CONFIG))
