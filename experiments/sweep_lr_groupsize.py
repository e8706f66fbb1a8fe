"""Sweep: learning rate x group size x scheme x seeds, one vmapped run per (scheme, M).

Steps to reach mean p >= 0.9 and the final objective, a heatmap per scheme. Set ``budget`` to
hold M x steps fixed. For TOML configs use ``rlxform sweep experiments/sweep_quick.toml``.
Usage: python experiments/sweep_lr_groupsize.py [--mode tiny|quick|full] [--out DIR]
  [--format png|pdf|svg] [--dpi N]
(the configs live in rlxform.reproduce.registry; the default mode is quick).
"""

from rlxform.reproduce.registry import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("sweep_lr_groupsize"))
