"""Figure 5: stochastic seed-mean trajectories (SE band) vs exact ascent on J_{h_M}.

REINFORCE, RLOO, GRPO, rejection sampling and pass@4; tabular and network policies.
Usage: python experiments/fig5_trajectories.py [--mode tiny|quick|full] [--out DIR]
  [--format png|pdf|svg] [--dpi N]
(the configs live in rlxform.reproduce.registry; the default mode is quick).
"""

from rlxform.reproduce.registry import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("fig5_trajectories"))
