"""Throughput benchmark (thin script): ``python experiments/bench.py [--workload W1] [--json F]``.

Same as ``rlxform bench``; the workloads, the NumPy reference and the timing live in
``rlxform.reproduce.bench``.
"""

import sys

from rlxform.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", *sys.argv[1:]]))
