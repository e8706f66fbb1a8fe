"""Figure 1: p, (2/pi) arcsin sqrt p and 1 + log p normalised through (1, 1).

REINFORCE, GRPO and rejection sampling in the large-M limit (Davis & Recht, fig. 1).
Usage: python experiments/fig1_transforms.py [--mode tiny|quick|full] [--out DIR]
  [--format png|pdf|svg] [--dpi N]
(the configs live in rlxform.reproduce.registry; the default mode is quick).
"""

from rlxform.reproduce.registry import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("fig1_transforms"))
