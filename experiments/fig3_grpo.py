"""Figure 3: normalised GRPO objective h_M(p) / h_M(1) vs (2/pi) arcsin sqrt p.

Group sizes, eps and population vs sample (Bessel) std.
Usage: python experiments/fig3_grpo.py [--mode tiny|quick|full] [--out DIR]
  [--format png|pdf|svg] [--dpi N]
(the configs live in rlxform.reproduce.registry; the default mode is quick).
"""

from rlxform.reproduce.registry import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("fig3_grpo"))
