"""Tabulate per-file test seconds and XLA compiles recorded with ``RLXFORM_TEST_STATS=DIR``.

``python tests/timings.py BEFORE_DIR [AFTER_DIR] [--top N]`` prints a Markdown table, one row per
test file (sum of setup + call + teardown seconds over its tests, and its XLA backend compiles),
sorted by the first directory's seconds, then the totals. ``--order`` prints the files of one
directory longest first, one per line: ``tests/file_order.txt``, the order in which the workers
start files (``conftest.py``). See tests/TIMINGS.md.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def per_file(directory: Path) -> dict[str, list[float]]:
    """file -> [seconds, compiles, compile seconds, tests] summed over the JSON lines of DIR."""
    files: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0.0, 0])
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            row = files[record["id"].split("::")[0]]
            row[0] += record["seconds"]
            row[1] += record["compiles"]
            row[2] += record["compile_seconds"]
            row[3] += 1
    return dict(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="one or two RLXFORM_TEST_STATS dirs")
    parser.add_argument("--top", type=int, default=30, help="rows shown (totals cover all)")
    parser.add_argument("--order", action="store_true", help="file names only, longest first")
    args = parser.parse_args()
    tables = [per_file(d) for d in args.dirs]
    if args.order:
        print("\n".join(sorted(tables[0], key=lambda f: -tables[0][f][0])))
        return
    names = sorted(set().union(*tables), key=lambda f: -max(t.get(f, [0])[0] for t in tables))
    empty = [0.0, 0, 0.0, 0]
    if len(tables) == 1:
        print("| file | tests | seconds | compiles |\n|---|---:|---:|---:|")
        for name in names[: args.top]:
            s, c, _, n = tables[0][name]
            print(f"| {name} | {n} | {s:.1f} | {c} |")
    else:
        print("| file | tests | seconds before | after | compiles before | after |")
        print("|---|---:|---:|---:|---:|---:|")
        for name in names[: args.top]:
            before, after = tables[0].get(name, empty), tables[1].get(name, empty)
            print(
                f"| {name} | {after[3] or before[3]} | {before[0]:.1f} | {after[0]:.1f} "
                f"| {before[1]} | {after[1]} |"
            )
    totals = [[sum(row[i] for row in t.values()) for i in range(4)] for t in tables]
    cells = " | ".join(f"{t[0]:.0f} s, {t[1]:.0f} compiles, {t[3]:.0f} tests" for t in totals)
    print(f"\nTotals ({len(names)} files): {cells}")


if __name__ == "__main__":
    main()
