"""Trainer comparison: w_M(p) at M = 8 and 16 of every supported trainer's default GRPO.

The figure of the README section "Which trainer optimises what" (the page of
``rlxform explain --compare``).
Usage: python experiments/trainer_comparison.py [--mode tiny|quick|full] [--out DIR]
  [--format png|pdf|svg] [--dpi N]
(the configs live in rlxform.reproduce.registry; the default mode is quick).
"""

from rlxform.reproduce.registry import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("trainer_comparison"))
