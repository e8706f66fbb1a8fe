"""Figure 6: at an equal sample budget, each prompt's final p against its initial p.
Usage: python experiments/fig6_difficulty.py [--mode tiny|quick|full] [--out DIR]
  [--format png|pdf|svg] [--dpi N]
(the configs live in rlxform.reproduce.registry; the default mode is quick).
"""

from rlxform.reproduce.registry import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("fig6_difficulty"))
