"""``rlxform explain``: what a run optimises, from its config, launch script or command line.

    rlxform explain PATH [--framework NAME] [--framework-version X] [--command N]
                         [--format md|json] [--out DIR]
    rlxform explain [options] -- CMD ...        (a launch command given as words)
    rlxform explain --topic NAME                (the math behind a card section)
    rlxform explain --scheme NAME --group-size M
    rlxform explain --compare [--format md|json] [--out DIR]   (every trainer's default GRPO)

Flags are checked under their names (``InputError``: one line, exit 2 in ``cli.main``). Nothing
here imports JAX; ``--out`` imports matplotlib for ``card.png`` (``compare.png``).
"""

from __future__ import annotations

import argparse
import sys


def _add_explain(sub) -> None:
    from rlxform.frameworks.registry import TRAINERS

    p = sub.add_parser(
        "explain",
        help=f"what a run of one of {len(TRAINERS)} RL trainers (verl, TRL, OpenRLHF, ...) "
        "optimises, in words",
        formatter_class=argparse.HelpFormatter,
        description="Read a run as it is launched (config file, shell launcher, Python script, "
        "notebook, or a command after --) and say what it optimises.",
    )
    p.add_argument(
        "config",
        nargs="?",
        default=None,
        help="config file (YAML, JSON, TOML), shell launcher, Python file or notebook",
    )
    p.add_argument("words", nargs="*", help=argparse.SUPPRESS)
    p.add_argument(
        "--framework", default=None, help=f"{' | '.join(TRAINERS)} (detected when omitted)"
    )
    p.add_argument(
        "--framework-version",
        default=None,
        metavar="X",
        help="use release X's defaults and key names (the newest supported when omitted)",
    )
    p.add_argument(
        "--command",
        dest="command_index",
        type=int,
        default=None,
        metavar="N",
        help="read the N-th launch command or config call of the file (the first one of a "
        "trainer when omitted)",
    )
    p.add_argument("--format", default="md", help="md (a readable card, the default) | json")
    p.add_argument("--out", default=None, help="also write card.md, card.json, card.png here")
    p.add_argument("--topic", default=None, metavar="NAME", help="print the math of a card section")
    p.add_argument("--scheme", default=None, help="explain a scheme instead of a run")
    p.add_argument(
        "--scheme-param", action="append", metavar="KEY=VALUE", help="parameter of --scheme"
    )
    p.add_argument("--group-size", type=int, default=None, metavar="M", help="M, with --scheme")
    p.add_argument(
        "--compare",
        action="store_true",
        help="put the default GRPO of every supported trainer side by side (w_M(p) at M = 8 and "
        "16, length factor, KL default, filters); --out writes compare.md/.json/.png",
    )
    p.add_argument(
        "--allow-import",
        action="store_true",
        help="allow a module:function --scheme: import the module (runs its code; on the card)",
    )


def _config_of(args: argparse.Namespace):
    """The path, or the command line (a list of words) after ``--``."""
    if args.words:
        return [args.config, *args.words]
    return args.config


def run_explain(args: argparse.Namespace) -> int:
    from rlxform.validation import check_choice

    if args.topic is not None:
        from rlxform.explain.topics import topic_text

        print(topic_text(args.topic), end="")
        return 0
    from rlxform.explain.cards import card_json, explain
    from rlxform.frameworks.registry import TRAINERS

    fmt = check_choice("--format", args.format, ("md", "json"))
    if args.compare:
        return _run_compare(args, fmt)
    if args.framework is not None:
        check_choice("--framework", args.framework, TRAINERS)
    config = _config_of(args)
    if args.scheme is None and config is None:
        raise ValueError(
            "explain: a CONFIG file, -- CMD ..., --topic NAME or --scheme NAME --group-size M "
            "is required"
        )
    if args.scheme is not None and config is not None:
        raise ValueError(f"--scheme={args.scheme!r} is invalid with CONFIG: give one of them")
    if args.scheme is None and (args.group_size is not None or args.scheme_param):
        raise ValueError("--group-size and --scheme-param are invalid without --scheme")
    if args.scheme is not None:
        from rlxform.cli_args import build_schemes, parse_scheme_params

        if args.group_size is None:
            raise ValueError(
                f"--group-size=None is invalid: --scheme {args.scheme} needs a group size M "
                "(an integer >= 1; no config gives a default)"
            )
        (scheme,) = build_schemes(
            [args.scheme], parse_scheme_params(args.scheme_param), args.allow_import
        )
        card = explain(scheme=scheme, group_size=args.group_size)
    else:
        card = explain(
            config, args.framework, version=args.framework_version, command=args.command_index
        )
    _check_out(args)
    for warning in card.to_json().get("warnings", []):
        print(f"rlxform: warning: {warning}", file=sys.stderr)
    print(card_json(card) if fmt == "json" else card.to_markdown(), end="" if fmt == "md" else "\n")
    if args.out is not None:
        from rlxform.explain.cards import write_card

        paths = write_card(card, args.out)
        print(f"wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0


def _run_compare(args: argparse.Namespace, fmt: str) -> int:
    """``--compare``: the comparison page (no config, scheme or framework options)."""
    import json

    from rlxform.explain import compare

    for flag, value in (
        ("CONFIG", _config_of(args)),
        ("--scheme", args.scheme),
        ("--framework", args.framework),
        ("--framework-version", args.framework_version),
        ("--command", args.command_index),
        ("--group-size", args.group_size),
    ):
        if value is not None:
            raise ValueError(f"{flag}={value!r} is invalid with --compare: it compares defaults")
    rows = compare.compare_rows()
    _check_out(args)
    if fmt == "json":
        print(json.dumps(compare.to_json(rows), indent=2))
    else:
        print(compare.to_markdown(rows), end="")
    if args.out is not None:
        paths = compare.write_compare(rows, args.out)
        print(f"wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0


def _check_out(args: argparse.Namespace) -> None:
    """``--out`` checked under its name once the input is read, before anything is printed."""
    if args.out is not None:
        from rlxform.results import check_writable

        check_writable(args.out, name="--out")
