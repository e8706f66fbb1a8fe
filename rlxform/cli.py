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

    def error(self, message: str):
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
            raise ValueError(f"scheme={name!r} is invalid: must be one of {', '.join(sch.names())}")
        accepted = inspect.signature(sch._CONSTRUCTORS[canonical]).parameters
        kwargs = {}
        for i, (target, key, value) in enumerate(params):
            if target not in (None, name, canonical):
                continue
            if key in accepted:
                kwargs[key] = value
                used[i] = True
            elif target is not None:
                raise ValueError(
                    f"scheme parameter {key!r} is invalid for {canonical}: must be "
                    f"one of {', '.join(accepted) or '(none)'}"
                )
        out.append(sch.get(canonical, **kwargs))
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
    return values


def parse_name_list(name: str, text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise ValueError(f"{name}={text!r} is invalid: must list at least one name")
    return values


def save_figure(fig, path: Path, figure=None) -> None:
    """Save a matplotlib Figure atomically (``figure``: a ``results.FigureFormat``, PNG default)."""
    from rlxform import results

    results.save_figure(fig, path, figure)


def _add_figure_options(p) -> None:
    """``--format png|pdf|svg`` and ``--dpi`` for every command that draws."""
    p.add_argument("--format", default="png", help="figure format: png, pdf or svg")
    p.add_argument("--dpi", type=int, default=120, help="figure resolution (dots per inch)")


def _figure_format(args: argparse.Namespace):
    from rlxform.results import check_figure_format

    return check_figure_format(args.format, args.dpi, names=("--format", "--dpi"))


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
    p.add_argument(
        "--schemes",
        default="reinforce,grpo,rejection_sampling",
        help="comma-separated catalog names (see `rlxform schemes`)",
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
    _add_figure_options(p)


def transforms_table(schemes, group_sizes: Sequence[int], num_grid: int) -> dict[str, np.ndarray]:
    """Tidy table: one row per (scheme, M, p) with weight, objective and limit (float64)."""
    import jax

    from rlxform.transforms import transform
    from rlxform.validation import check_int

    num_grid = check_int("grid", num_grid, 2, 100_001)
    p = np.linspace(0.0, 1.0, num_grid)
    cols: dict[str, list] = {
        k: [] for k in ("scheme", "params", "M", "p", "weight", "objective", "limit")
    }
    with jax.enable_x64(True):
        for scheme in schemes:
            for m in group_sizes:
                t = transform(scheme, m)
                limit = (
                    np.full_like(p, np.nan)
                    if t.limit is None
                    else np.asarray(t.limit(p), np.float64)
                )
                cols["scheme"] += [scheme.name] * num_grid
                cols["params"] += [
                    json.dumps(scheme.kwargs, sort_keys=True, default=str)
                ] * num_grid
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
    figure = _figure_format(args)
    out = Path(args.out)
    check_writable(out, name="--out")
    start = time.perf_counter()
    table = transforms_table(schemes, sizes, args.grid)
    write_table(out / "transforms.csv", table)
    fig_path = out / f"transforms.{figure.format}"
    save_figure(fig_transforms(table), fig_path, figure)
    print(
        f"wrote {out / 'transforms.csv'} ({len(table['p'])} rows) and "
        f"{fig_path} in {time.perf_counter() - start:.1f}s"
    )
    return 0


# ---- rlxform simulate --------------------------------------------------------------------------


def _add_simulate(sub) -> None:
    p = sub.add_parser("simulate", help="simulate a scheme on a bandit policy vs exact ascent")
    p.add_argument("--scheme", required=True, help="catalog name (see `rlxform schemes`)")
    p.add_argument(
        "--scheme-param",
        action="append",
        metavar="KEY=VALUE",
        help="scheme parameter, repeatable (e.g. eps=1e-6, k=4)",
    )
    p.add_argument("--policy", default="tabular", help="scalar | tabular | network")
    p.add_argument("--prompts", type=int, default=16, help="P, number of prompts")
    p.add_argument("--responses", type=int, default=4, help="K, responses per prompt")
    p.add_argument("--correct", type=int, default=1, help="C, correct responses per prompt")
    p.add_argument("--group-size", type=int, default=8, help="M, samples per prompt and step")
    p.add_argument("--steps", type=int, default=100, help="T, optimisation steps")
    p.add_argument("--batch-size", type=int, default=None, help="B prompts per step (all)")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate")
    p.add_argument("--optimizer", default="sgd", help="sgd | adam")
    p.add_argument("--seeds", type=int, default=64, help="number of independent runs")
    p.add_argument("--seed", type=int, default=0, help="base seed")
    p.add_argument("--init-p", default="grid", help="'0.1,0.5' | 'beta:A,B' | 'grid'")
    p.add_argument("--record-every", type=int, default=1, help="record interval (divides T)")
    p.add_argument("--dynamic-sampling", action="store_true", help="drop S = 0 / S = M groups")
    p.add_argument("--out", default="results/simulate", help="output directory")
    _add_figure_options(p)


def run_simulate(args: argparse.Namespace) -> int:
    import jax

    from rlxform import policies, sweeps
    from rlxform.results import atomic_write_text, check_writable, write_table
    from rlxform.simulate import OPTIMIZERS, SimConfig
    from rlxform.validation import check_choice, check_float, check_group_size, check_int

    (scheme,) = build_schemes([args.scheme], parse_scheme_params(args.scheme_param))
    # Check each option under its flag name first; SimConfig re-checks the combination.
    check_choice("--policy", args.policy, policies.POLICIES)
    prompts = check_int("--prompts", args.prompts, 1)
    responses = check_int("--responses", args.responses, 2)
    check_int("--correct", args.correct, 1, responses - 1)
    scheme.check_group_size(
        check_group_size(args.group_size, name="--group-size"), name="--group-size"
    )
    steps = check_int("--steps", args.steps, 1)
    if args.batch_size is not None:
        check_int("--batch-size", args.batch_size, 1, prompts)
    check_choice("--optimizer", args.optimizer, OPTIMIZERS)
    if steps % check_int("--record-every", args.record_every, 1, steps):
        raise ValueError(
            f"--record-every={args.record_every!r} is invalid: must divide --steps={steps}"
        )
    check_float("--lr", args.lr, 0.0, low_open=True)
    figure = _figure_format(args)
    cfg = SimConfig(
        scheme,
        policy=args.policy,
        num_prompts=prompts,
        num_responses=responses,
        num_correct=args.correct,
        group_size=args.group_size,
        num_steps=steps,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        record_every=args.record_every,
        dynamic_sampling=args.dynamic_sampling,
        init_p=policies.parse_init_p(args.init_p),
    )
    seeds = check_int("--seeds", args.seeds, 1)
    out = check_writable(Path(args.out), name="--out")
    grid = sweeps.grid([args.lr])
    keys = jax.random.split(jax.random.key(check_int("--seed", args.seed, 0)), seeds)
    start = time.perf_counter()
    compiled = sweeps.make_sweep(cfg).lower(grid, keys).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    metrics = jax.block_until_ready(compiled(grid, keys))
    wall_s = time.perf_counter() - start
    exact_metrics = sweeps.make_exact_sweep(cfg)(grid)
    cmp = sweeps.compare(metrics, exact_metrics)
    table = {
        "step": np.asarray(exact_metrics.step[0]),
        "mean_p": cmp.mean_p[0],
        "mean_p_se": cmp.mean_p_se[0],
        "exact_mean_p": cmp.exact_mean_p[0],
        "objective": sweeps.seed_stats(metrics.objective)[0][0],
        "exact_objective": np.asarray(exact_metrics.objective[0], np.float64),
    }
    write_table(out / "trajectories.csv", table)
    summary = {
        "config": {
            **{k: v for k, v in vars(args).items() if k not in ("out", "func", "format", "dpi")},
            "scheme": cfg.scheme.label,
            "sampler": cfg.resolved_sampler,
            "batch_size": cfg.batch,
        },
        "max_abs_dev": float(cmp.max_abs_dev[0]),
        "max_z": float(cmp.max_z[0]),
        "agreement": float(cmp.agreement[0]),
        "reference": "dynamic-sampling mean step" if cfg.dynamic_sampling else "exact ascent",
        "diverged": bool(np.any(np.asarray(metrics.nonfinite_step) >= 0)),
        "wall_time_s": wall_s,
        "compile_time_s": compile_s,
        "device": str(jax.devices()[0]),
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    fig_name = f"trajectories.{figure.format}"
    save_figure(_fig_simulate(table, cfg, args.lr, seeds), out / fig_name, figure)
    print(
        f"wrote {out}/trajectories.csv, summary.json, {fig_name}: max_abs_dev="
        f"{summary['max_abs_dev']:.3g}, max_z={summary['max_z']:.2f}, "
        f"agreement={summary['agreement']:.2f}"
    )
    return 0


def _fig_simulate(table: dict[str, np.ndarray], cfg, learning_rate: float, seeds: int):
    from rlxform.plotting import fig_simulate

    batch = "" if cfg.batch == cfg.num_prompts else f", $B={cfg.batch}$"
    title = (
        f"{cfg.scheme.label}\n{cfg.policy}, $P={cfg.num_prompts}$, $M={cfg.group_size}${batch}, "
        f"{cfg.optimizer} lr={learning_rate:g}, {seeds} seeds"
        + (", dynamic sampling" if cfg.dynamic_sampling else "")
    )
    reference = (
        "exact: iterated dynamic-sampling mean step"
        if cfg.dynamic_sampling
        else "exact ascent on $J_{h_M}$"
    )
    return fig_simulate(table, title, reference)


# ---- rlxform reproduce / rlxform sweep ---------------------------------------------------------


def _add_reproduce(sub) -> None:
    p = sub.add_parser("reproduce", help="run the figure experiments (rlxform.experiments)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="quick configs (~1 min on 2 CPU cores)")
    mode.add_argument("--tiny", action="store_true", help="tiny configs (smoke test, seconds)")
    p.add_argument("--only", default=None, help="comma-separated experiment names (default all)")
    p.add_argument("--out", default="results/reproduce", help="output directory")
    _add_figure_options(p)


def _inner_progress(bar_factory):
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


def run_reproduce(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rlxform import experiments
    from rlxform.results import check_writable

    names = (
        list(experiments.EXPERIMENTS) if args.only is None else parse_name_list("--only", args.only)
    )
    for name in names:
        if name not in experiments.EXPERIMENTS:
            raise ValueError(
                f"--only={name!r} is invalid: must be one of {', '.join(experiments.EXPERIMENTS)}"
            )
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    figure = _figure_format(args)
    out = check_writable(Path(args.out), name="--out")
    times = {}
    outer = tqdm(names, desc=f"reproduce ({mode})", unit="fig", position=0)
    for name in outer:
        outer.set_postfix_str(name)
        progress, close = _inner_progress(
            lambda total, name=name: tqdm(total=total, desc=f"  {name}", position=1, leave=False)
        )
        try:
            result = experiments.run_experiment(name, mode, out, progress, figure)
        finally:
            close()
        times[name] = result.wall_time_s
        tqdm.write(f"{name}: {result.wall_time_s:.1f}s -> {result.paths['figure']}")
    outer.close()
    print(f"total {sum(times.values()):.1f}s for {len(times)} experiment(s) in {out}")
    return 0


def _add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="learning rate x group size x scheme x seeds from TOML")
    p.add_argument("config", help="TOML sweep config (see experiments/sweep_*.toml)")
    p.add_argument("--out", default="results/sweep", help="output directory (resumable)")
    _add_figure_options(p)


def run_sweep(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rlxform import sweep_runner
    from rlxform.results import check_writable
    from rlxform.sweep_config import load_sweep_config

    config = load_sweep_config(args.config)
    figure = _figure_format(args)
    out = check_writable(Path(args.out), name="--out")
    progress, close = _inner_progress(
        lambda total: tqdm(total=total, desc="sweep chunks", unit="chunk")
    )
    try:
        result = sweep_runner.run_sweep(config, out, progress, figure=figure)
    finally:
        close()
    print(
        f"wrote {result.paths['csv']} ({len(result.table['step'])} rows), "
        f"{out / 'sweep_summary.csv'}, {result.paths['figure']} in {result.wall_time_s:.1f}s"
    )
    return 0


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="throughput vs a NumPy reference and the raw PRNG bound")
    p.add_argument(
        "--workload", default="all", help="W1 | W2 | W3 | W4 | scaling | all (W1-W4 and scaling)"
    )
    p.add_argument("--json", default=None, help="write the records to this JSON file")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per program (best kept)")
    p.add_argument("--scale", type=float, default=1.0, help="shrink P and T (e.g. 0.01 to test)")


def run_bench(args: argparse.Namespace) -> int:
    from rlxform import bench

    return bench.main(args.workload, args.json, args.repeats, args.scale)


# ---- entry point -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rlxform", description="What does my RL algorithm optimise?")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_schemes(sub)
    _add_transforms(sub)
    _add_simulate(sub)
    _add_reproduce(sub)
    _add_sweep(sub)
    _add_bench(sub)
    return parser


COMMANDS = {
    "schemes": run_schemes,
    "transforms": run_transforms,
    "simulate": run_simulate,
    "reproduce": run_reproduce,
    "sweep": run_sweep,
    "bench": run_bench,
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
