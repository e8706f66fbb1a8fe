"""The ``rlxform`` command line: ``rlxform <command> [options]``.

Every command validates its input; a bad value, and any file-system failure (disk full,
permission denied, read-only, a path that is a directory), prints one line on stderr
(``rlxform: error: ...``) and exits with status 2, without a traceback. Ctrl-C and SIGTERM print
one line and exit 130 / 143 (``cli_guard.run_guarded``); argument helpers live in ``cli_args``,
the reproduce / sweep / bench commands in ``cli_commands``, explain in ``cli_explain``,
simulate in ``cli_simulate``; ``schemes`` and ``transforms`` are here.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from rlxform.cli_args import (
    Parser,
    add_allow_import,
    add_figure_options,
    build_schemes,
    check_out,
    figure_format,
    note_custom_code,
    parse_int_list,
    parse_name_list,
    parse_scheme_params,
)
from rlxform.cli_commands import (
    add_bench,
    add_reproduce,
    add_sweep,
    run_bench,
    run_reproduce,
    run_sweep,
)
from rlxform.cli_explain import _add_explain, run_explain
from rlxform.cli_guard import run_guarded
from rlxform.cli_simulate import add_simulate, run_simulate

# ---- rlxform schemes ---------------------------------------------------------------------------


def add_schemes(sub) -> None:
    sub.add_parser("schemes", help="the scheme catalog: weights and the large-M objective")


def run_schemes(args: argparse.Namespace) -> int:
    from rlxform.reproduce.commands import catalog_rows, format_catalog

    print(format_catalog(catalog_rows()))
    return 0


# ---- rlxform transforms ------------------------------------------------------------------------


def add_transforms(sub) -> None:
    p = sub.add_parser("transforms", help="exact h_M and w_M per scheme and group size")
    p.add_argument(
        "--schemes",
        default="reinforce,grpo,rejection_sampling",
        help="comma-separated scheme names: catalog (see `rlxform schemes`), verl:grpo, "
        "trl:group, openrlhf:group_norm, ... or module:function",
    )
    p.add_argument(
        "--scheme-param",
        action="append",
        metavar="[SCHEME.]KEY=VALUE",
        help="scheme parameter, repeatable (e.g. eps=1e-6, pass_at_k.k=4)",
    )
    p.add_argument("--group-sizes", default="4,16,64", help="comma-separated M values")
    p.add_argument("--grid", type=int, default=201, help="number of p points in [0, 1]")
    p.add_argument("--out", default="results/transforms", help="output directory")
    add_allow_import(p)
    add_figure_options(p)


def run_transforms(args: argparse.Namespace) -> int:
    from rlxform.explain.cards import summary_line
    from rlxform.reproduce.commands import write_transforms
    from rlxform.results import check_writable

    names = parse_name_list("--schemes", args.schemes)
    schemes = build_schemes(names, parse_scheme_params(args.scheme_param), args.allow_import)
    note_custom_code(schemes)
    sizes = parse_int_list("--group-sizes", args.group_sizes)
    for scheme in schemes:
        for m in sizes:
            scheme.check_group_size(m, name="--group-sizes")
    from rlxform.resources import check_memory, transform_bytes
    from rlxform.validation import check_int

    grid = check_int("--grid", args.grid, 2, 100_001)
    check_memory(
        f"transforms ({len(schemes)} schemes, --group-sizes up to {max(sizes)}, --grid={grid})",
        transform_bytes(len(schemes), sizes, grid),
    )
    figure = figure_format(args)
    out = Path(args.out)
    check_writable(out, name="--out")
    start = time.perf_counter()
    table, paths = write_transforms(schemes, sizes, grid, out, figure)
    for scheme in schemes:
        for m in sizes:
            print(summary_line(scheme, m))
    print(
        f"wrote {paths['csv']} ({len(table['p'])} rows) and "
        f"{paths['figure']} in {time.perf_counter() - start:.1f}s"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from rlxform import __version__

    parser = Parser(prog="rlxform", description="What does my RL algorithm optimise?")
    parser.add_argument("--version", action="version", version=f"rlxform {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_schemes(sub)
    _add_explain(sub)
    add_transforms(sub)
    add_simulate(sub)
    add_reproduce(sub)
    add_sweep(sub)
    add_bench(sub)
    return parser


COMMANDS = {
    "schemes": run_schemes,
    "explain": run_explain,
    "transforms": run_transforms,
    "simulate": run_simulate,
    "reproduce": run_reproduce,
    "sweep": run_sweep,
    "bench": run_bench,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input or failure; 130/143 signals)."""

    def body() -> int:
        args = build_parser().parse_args(argv)
        check_out(args)
        return COMMANDS[args.command](args)

    return run_guarded(body)


if __name__ == "__main__":
    raise SystemExit(main())
