"""Figure 1: p, (2/pi) arcsin sqrt p and 1 + log p normalised through (1, 1).

REINFORCE, GRPO and rejection sampling in the large-M limit (Davis & Recht, fig. 1).
Usage: python experiments/fig1_transforms.py [--mode tiny|quick|full] --out DIR
"""

from rlxform.experiments import script_main
from rlxform.experiments_analytic import TransformsConfig
from rlxform.sweep_config import SchemeSpec

CONFIG = TransformsConfig(
    num_grid=401,
    schemes=(SchemeSpec("reinforce"), SchemeSpec("grpo"), SchemeSpec("rejection_sampling")),
)

if __name__ == "__main__":
    raise SystemExit(script_main("fig1_transforms", CONFIG))
