"""Figure 4: w_M(p) of the whole catalog at M = 8 next to the large-M limits h'(p).
Usage: python experiments/fig4_weights.py [--mode tiny|quick|full] [--out DIR]
  [--format png|pdf|svg] [--dpi N]
(the configs live in rlxform.reproduce.registry; the default mode is quick).
"""

from rlxform.reproduce.registry import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("fig4_weights"))
