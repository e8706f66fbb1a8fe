"""The ``rlxform`` command line: ``rlxform <command> [options]``.

Every command validates its input; a bad value prints one line on stderr (``rlxform: error:
...``) and exits with status 2, without a traceback. This is the only place where integer seeds
become PRNG keys.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line, raised as ValueError for ``main`` to print."""

    def error(self, message: str):  # noqa: D102
        raise ValueError(f"{self.prog}: {message}")


# ---- shared argument helpers -------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """'3' -> 3, '1e-6' -> 1e-06, 'true' -> True, anything else stays a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_scheme_params(items: Sequence[str] | None) -> list[tuple[str | None, str, Any]]:
    """``["eps=1e-6", "pass_at_k.k=4"]`` -> ``[(None, "eps", 1e-6), ("pass_at_k", "k", 4)]``."""
    out = []
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"--scheme-param={item!r} is invalid: must be KEY=VALUE or "
                             "SCHEME.KEY=VALUE")
        key, value = item.split("=", 1)
        scheme, _, key = key.rpartition(".")
        out.append((scheme or None, key.strip(), parse_value(value)))
    return out


def build_schemes(names: Sequence[str], params: list[tuple[str | None, str, Any]]):
    """Schemes for ``names``; each KEY=VALUE goes to every named scheme that accepts KEY."""
    from rlxform import schemes as sch

    used = [False] * len(params)
    out = []
    for name in names:
        canonical = sch._ALIASES.get(name, name)
        if canonical not in sch._CONSTRUCTORS:
            raise ValueError(f"scheme={name!r} is invalid: must be one of "
                             f"{', '.join(sch.names())}")
        accepted = inspect.signature(sch._CONSTRUCTORS[canonical]).parameters
        kwargs = {}
        for i, (target, key, value) in enumerate(params):
            if target not in (None, name, canonical):
                continue
            if key in accepted:
                kwargs[key] = value
                used[i] = True
            elif target is not None:
                raise ValueError(f"scheme parameter {key!r} is invalid for {canonical}: must be "
                                 f"one of {', '.join(accepted) or '(none)'}")
        out.append(sch.get(canonical, **kwargs))
    for i, (target, key, _) in enumerate(params):
        if not used[i]:
            raise ValueError(f"--scheme-param {key!r} is invalid: no scheme in "
                             f"{', '.join(names)} accepts it")
    return out


def parse_int_list(name: str, text: str) -> list[int]:
    """'4,16,64' -> [4, 16, 64]; ValueError naming the option otherwise."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{name}={text!r} is invalid: must be comma-separated integers") from None
    if not values:
        raise ValueError(f"{name}={text!r} is invalid: must list at least one integer")
    return values


def parse_name_list(name: str, text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise ValueError(f"{name}={text!r} is invalid: must list at least one name")
    return values


def save_figure(fig, path: Path) -> None:
    """Save a matplotlib Figure atomically as PNG."""
    import io

    from rlxform.results import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    atomic_write_bytes(path, buf.getvalue())


# ---- rlxform schemes ---------------------------------------------------------------------------


def _add_schemes(sub) -> None:
    sub.add_parser("schemes", help="list the scheme catalog with one-line formulas")


def run_schemes(args: argparse.Namespace) -> int:
    from rlxform import schemes

    rows = schemes.catalog()
    width = max(map(len, rows))
    for name, formula in rows.items():
        print(f"{name:<{width}}  {formula}")
    return 0


# ---- rlxform transforms ------------------------------------------------------------------------


def _add_transforms(sub) -> None:
    p = sub.add_parser("transforms", help="exact h_M and w_M per scheme and group size")
    p.add_argument("--schemes", default="reinforce,grpo,rejection_sampling",
                   help="comma-separated catalog names (see `rlxform schemes`)")
    p.add_argument("--scheme-param", action="append", metavar="[SCHEME.]KEY=VALUE",
                   help="scheme parameter, repeatable (e.g. eps=1e-6, pass_at_k.k=4)")
    p.add_argument("--group-sizes", default="4,16,64", help="comma-separated M values")
    p.add_argument("--grid", type=int, default=201, help="number of p points in [0, 1]")
    p.add_argument("--out", default="results/transforms", help="output directory")


def transforms_table(schemes, group_sizes: Sequence[int], num_grid: int) -> dict[str, np.ndarray]:
    """Tidy table: one row per (scheme, M, p) with weight, objective and limit (float64)."""
    import jax

    from rlxform.transforms import transform
    from rlxform.validation import check_int

    num_grid = check_int("grid", num_grid, 2, 100_001)
    p = np.linspace(0.0, 1.0, num_grid)
    cols: dict[str, list] = {k: [] for k in
                             ("scheme", "params", "M", "p", "weight", "objective", "limit")}
    with jax.enable_x64(True):
        for scheme in schemes:
            for m in group_sizes:
                t = transform(scheme, m)
                limit = (np.full_like(p, np.nan) if t.limit is None else
                         np.asarray(t.limit(p), np.float64))
                cols["scheme"] += [scheme.name] * num_grid
                cols["params"] += [json.dumps(scheme.kwargs, sort_keys=True, default=str)] * num_grid
                cols["M"] += [m] * num_grid
                cols["p"] += list(p)
                cols["weight"] += list(np.asarray(t.weight(p), np.float64))
                cols["objective"] += list(np.asarray(t.objective(p), np.float64))
                cols["limit"] += list(limit)
    return {k: np.asarray(v) for k, v in cols.items()}


def run_transforms(args: argparse.Namespace) -> int:
    from rlxform.plotting import fig_transforms
    from rlxform.results import check_writable, write_table

    names = parse_name_list("--schemes", args.schemes)
    schemes = build_schemes(names, parse_scheme_params(args.scheme_param))
    sizes = parse_int_list("--group-sizes", args.group_sizes)
    for scheme in schemes:
        for m in sizes:
            scheme.check_group_size(m, name="--group-sizes")
    out = Path(args.out)
    check_writable(out, name="--out")
    start = time.perf_counter()
    table = transforms_table(schemes, sizes, args.grid)
    write_table(out / "transforms.csv", table)
    save_figure(fig_transforms(table), out / "transforms.png")
    print(f"wrote {out / 'transforms.csv'} ({len(table['p'])} rows) and "
          f"{out / 'transforms.png'} in {time.perf_counter() - start:.1f}s")
    return 0


# ---- entry point -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rlxform", description="What does my RL algorithm optimise?")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_schemes(sub)
    _add_transforms(sub)
    return parser


COMMANDS = {
    "schemes": run_schemes,
    "transforms": run_transforms,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input)."""
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except ValueError as err:
        message = " ".join(str(err).split())
        print(f"rlxform: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    raise SystemExit(main())
