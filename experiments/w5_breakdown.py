"""Where W5's time goes: ``python experiments/w5_breakdown.py [--prng threefry] [--repeats 3]``.

Times the uniform bound, the floor token walk on a precomputed CDF table, the simulator's
sampler, the two exact records and the whole run side by side
(``rlxform.reproduce.bench.sequences.w5_breakdown``) and prints each wall with its fraction of
the uniform bound.
"""

import argparse

from rlxform import runtime
from rlxform.reproduce.bench.sequences import w5_breakdown

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prng", choices=runtime.PRNGS, default="threefry")
    args = parser.parse_args()
    runtime.use_prng(args.prng)
    out = w5_breakdown(args.scale, args.repeats)
    print("| part | wall ms | fraction of uniform bound |\n|---|---|---|")
    for name, wall in out["wall_seconds"].items():
        print(f"| {name} | {wall * 1e3:.1f} | {out['fraction_of_uniform_bound'][name]:.2f}x |")
