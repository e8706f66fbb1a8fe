"""Shared argument helpers of the command line: one-line parser errors, scheme names and
parameters, integer and name lists, figure and PRNG options, progress bars.

Each helper turns text into checked values and raises ``ValueError`` (``InputError``) naming the
option; ``rlxform.cli_guard.run_guarded`` prints it as one line.
"""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlxform.validation import did_you_mean

NEGATIVE_NUMBER = re.compile(r"^-(\d|\.\d|inf(inity)?$|nan$)", re.IGNORECASE)


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line, raised as ValueError for ``main`` to print;
    ``--help`` shows every default."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)
        # "--lr -1e-3" and "--lr -inf" are values, not options (argparse before Python 3.13 takes
        # only -1 and -.5 as negative numbers), so the value is checked and named like any other
        self._negative_number_matcher = NEGATIVE_NUMBER

    def error(self, message: str):
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:  # an unknown command: suggest the nearest one
            message += did_you_mean(choice[1], re.findall(r"'([^']*)'", choice[2]))
        prefix = self.prog.partition(" ")[2]  # "rlxform transforms" -> "transforms"
        raise ValueError(f"{prefix}: {message}" if prefix else message)


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
            raise ValueError(
                f"--scheme-param={item!r} is invalid: must be KEY=VALUE or SCHEME.KEY=VALUE"
            )
        key, value = item.split("=", 1)
        scheme, dot, key = key.rpartition(".")
        if not key.strip() or (dot and not scheme.strip()):
            raise ValueError(
                f"--scheme-param={item!r} is invalid: must be KEY=VALUE or SCHEME.KEY=VALUE "
                "with a non-empty KEY (and SCHEME)"
            )
        if any((s, k) == (scheme or None, key.strip()) for s, k, _ in out):
            raise ValueError(
                f"--scheme-param={item!r} is invalid: {key.strip()!r} is already given; "
                "give each key once"
            )
        out.append((scheme or None, key.strip(), parse_value(value)))
    return out


CUSTOM_FROM_CLI = (
    "scheme='custom' is invalid on the command line: a custom scheme is a Python function; "
    "use rlxform.core.schemes.custom(fn) from Python, or give it as module:function (a callable "
    "fn(r, S, M) importable from the current directory or the Python path, with --allow-import)"
)


def note_custom_code(schemes) -> list[str]:
    """Say on stderr which user code the run imported (``module:function`` schemes)."""
    import sys

    from rlxform.frameworks.schemes import custom_code

    names = custom_code(schemes)
    if names:
        print(f"rlxform: imported {', '.join(names)} (--allow-import)", file=sys.stderr)
    return names


def add_allow_import(p) -> None:
    """``--allow-import``: let a ``module:function`` scheme import its module (runs its code)."""
    p.add_argument(
        "--allow-import",
        action="store_true",
        help="allow module:function schemes: import the module (this runs its code); named in "
        "the results' metadata and on the card",
    )


def _accepted_params(name: str) -> list[str]:
    """Parameter names a scheme name takes: catalog constructor or framework adapter."""
    from rlxform.core import schemes as sch
    from rlxform.frameworks.schemes import scheme_adapter

    prefix, colon, _ = name.partition(":")
    adapter = scheme_adapter(prefix) if colon else None
    if adapter is not None:
        params = inspect.signature(adapter).parameters.values()
        return [p.name for p in list(params)[1:] if p.kind is not p.VAR_KEYWORD]
    if colon:
        return []  # module:function
    canonical = sch._ALIASES.get(name, name)
    if canonical not in sch._CONSTRUCTORS:
        raise ValueError(
            f"scheme={name!r} is invalid: must be one of {', '.join(sch.names())}, a framework "
            "scheme (verl:grpo, trl:group, openrlhf:group_norm, ...) or module:function"
            + did_you_mean(name, sch.names())
        )
    return list(inspect.signature(sch._CONSTRUCTORS[canonical]).parameters)


def build_schemes(
    names: Sequence[str], params: list[tuple[str | None, str, Any]], allow_import: bool = False
):
    """Schemes for ``names`` (catalog, ``framework:estimator`` or ``module:function``); each
    KEY=VALUE goes to every named scheme that accepts KEY, and SCHEME.KEY=VALUE overrides it
    for that scheme, in whatever order they are given."""
    from rlxform import frameworks
    from rlxform.core import schemes as sch

    used = [False] * len(params)
    out = []
    for name in names:
        canonical = sch._ALIASES.get(name, name)
        if canonical == "custom":
            raise ValueError(CUSTOM_FROM_CLI)
        accepted = _accepted_params(name)
        kwargs = {}
        for i, (target, key, value) in enumerate(params):
            if target not in (None, name, canonical):
                continue
            if key in accepted:
                if target is not None or key not in kwargs:  # SCHEME.KEY wins over KEY
                    kwargs[key] = value
                used[i] = True
            elif target is not None:
                raise ValueError(
                    f"scheme parameter {key!r} is invalid for {canonical}: must be "
                    f"one of {', '.join(accepted) or '(none)'}"
                )
        out.append(frameworks.resolve_scheme(canonical, allow_import=allow_import, **kwargs))
    for i, (_, key, _) in enumerate(params):
        if not used[i]:
            raise ValueError(
                f"--scheme-param {key!r} is invalid: no scheme in {', '.join(names)} accepts it"
            )
    return out


def parse_int_list(name: str, text: str) -> list[int]:
    """'4,16,64' -> [4, 16, 64]; ValueError naming the option otherwise."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{name}={text!r} is invalid: must be comma-separated integers") from None
    if not values:
        raise ValueError(f"{name}={text!r} is invalid: must list at least one integer")
    return _once(name, text, values)


def parse_name_list(name: str, text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise ValueError(f"{name}={text!r} is invalid: must list at least one name")
    return _once(name, text, values)


def _once(name: str, text: str, values: list) -> list:
    """``values`` when each is listed once; ValueError naming the first repeated one."""
    seen = set()
    for value in values:
        if value in seen:
            raise ValueError(
                f"{name}={text!r} is invalid: {value!r} is listed twice; list each once"
            )
        seen.add(value)
    return values


def save_figure(fig, path: Path, figure=None) -> None:
    """Save a matplotlib Figure atomically (``figure``: a ``results.FigureFormat``, PNG default)."""
    from rlxform import results

    results.save_figure(fig, path, figure)


def add_figure_options(p) -> None:
    """``--format png|pdf|svg`` and ``--dpi`` for every command that draws."""
    p.add_argument("--format", default="png", help="figure format: png, pdf or svg")
    p.add_argument("--dpi", type=int, default=120, help="figure resolution (dots per inch)")


def figure_format(args: argparse.Namespace):
    from rlxform.results import check_figure_format

    return check_figure_format(args.format, args.dpi, names=("--format", "--dpi"))


def add_prng(p) -> None:
    p.add_argument(
        "--prng",
        default="threefry",
        help="PRNG for every key of the run: threefry (default) | rbg | unsafe_rbg",
    )


def setup_jax(args: argparse.Namespace) -> None:
    """The run's process-wide JAX settings: ``--prng`` and the persistent compilation cache."""
    from rlxform import runtime

    runtime.use_prng(args.prng)
    runtime.enable_compilation_cache()


def inner_progress(bar_factory):
    """A ``progress(done, total)`` callback that drives a nested tqdm bar with ETA."""
    state: dict = {}

    def progress(done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = bar_factory(total)
        bar.update(done - bar.n)

    def close() -> None:
        if "bar" in state:
            state["bar"].close()

    return progress, close


def check_out(args: argparse.Namespace, flag: str = "--out") -> None:
    """``--out ""`` is an error (``Path("")`` would silently mean the current directory)."""
    out = getattr(args, "out", None)
    if out is not None and not str(out).strip():
        raise ValueError(f"{flag}={out!r} is invalid: must be a non-empty directory path")
