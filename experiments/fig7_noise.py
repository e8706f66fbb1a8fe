"""Figure 7: exact signal-to-noise ratio of the scalar-logit update vs p, per scheme and M.
Usage: python experiments/fig7_noise.py [--mode tiny|quick|full] [--out DIR]
  [--format png|pdf|svg] [--dpi N]
(the configs live in rlxform.reproduce.registry; the default mode is quick).
"""

from rlxform.reproduce.registry import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("fig7_noise"))
