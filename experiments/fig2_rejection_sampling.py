"""Figure 2: finite-M rejection-sampling objective h_M(p) - h_M(1) vs log p.
Usage: python experiments/fig2_rejection_sampling.py [--mode tiny|quick|full] [--out DIR]
  [--format png|pdf|svg] [--dpi N]
(the configs live in rlxform.reproduce.registry; the default mode is quick).
"""

from rlxform.reproduce.registry import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("fig2_rejection_sampling"))
