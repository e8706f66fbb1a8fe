"""The ``rlxform reproduce``, ``sweep`` and ``bench`` commands: flags and handlers.

Each ``add_<command>(sub)`` defines a subcommand's flags; ``run_<command>(args)`` checks them
under their flag names (``InputError``: one line, exit 2 in ``cli.main``) and calls the package
function (``reproduce.registry``, ``reproduce.sweep_runner``, ``reproduce.bench``).
``cli.py`` parses and dispatches; ``explain`` is in ``cli_explain``, ``simulate`` in
``cli_simulate``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rlxform.cli_args import (
    add_allow_import,
    add_figure_options,
    add_prng,
    figure_format,
    inner_progress,
    note_custom_code,
    parse_name_list,
    setup_jax,
)
from rlxform.validation import did_you_mean

# ---- rlxform reproduce / rlxform sweep ---------------------------------------------------------


def add_reproduce(sub) -> None:
    p = sub.add_parser("reproduce", help="run the figure experiments (rlxform.reproduce)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="quick configs (~1 min on 2 CPU cores)")
    mode.add_argument("--tiny", action="store_true", help="tiny configs (smoke test, seconds)")
    p.add_argument("--only", default=None, help="comma-separated experiment names (default all)")
    p.add_argument("--out", default="results/reproduce", help="output directory")
    add_figure_options(p)


def run_reproduce(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rlxform.reproduce import registry as experiments
    from rlxform.results import check_writable

    names = (
        list(experiments.EXPERIMENTS) if args.only is None else parse_name_list("--only", args.only)
    )
    for name in names:
        if name not in experiments.EXPERIMENTS:
            raise ValueError(
                f"--only={name!r} is invalid: must be one of {', '.join(experiments.EXPERIMENTS)}"
                + did_you_mean(name, experiments.EXPERIMENTS)
            )
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    figure = figure_format(args)
    out = check_writable(Path(args.out), name="--out")
    times = {}
    outer = tqdm(names, desc=f"reproduce ({mode})", unit="fig", position=0)
    for name in outer:
        outer.set_postfix_str(name)
        progress, close = inner_progress(
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


def add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="learning rate x group size x scheme x seeds from TOML")
    p.add_argument("config", help="TOML sweep config (see experiments/sweep_*.toml)")
    p.add_argument("--out", default="results/sweep", help="output directory (resumable)")
    add_allow_import(p)
    p.add_argument(
        "--strict-devices",
        action="store_true",
        help="refuse to resume --out on another device count or kind (else: one warning line; "
        "results may differ in the last bits)",
    )
    add_distributed(p)
    add_prng(p)
    add_figure_options(p)


def add_distributed(p) -> None:
    g = p.add_argument_group(
        "multi-host (run the same command on every host; --out on a shared filesystem)"
    )
    g.add_argument("--coordinator", default=None, help="host:port of process 0")
    g.add_argument("--num-processes", type=int, default=None, help="number of processes N")
    g.add_argument("--process-id", type=int, default=None, help="this process, in [0, N)")


def check_distributed(args: argparse.Namespace) -> None:
    """``--num-processes`` >= 1, ``--process-id`` in [0, N) and ``--coordinator`` HOST:PORT
    when given; ``--process-id`` or ``--coordinator`` only with ``--num-processes`` (InputError:
    either would be ignored, or refused deep inside JAX without the flag's name)."""
    import os

    from rlxform.validation import InputError, check_int

    if args.num_processes is not None:
        check_int("--num-processes", args.num_processes, 1)
    counted = args.num_processes is not None or "RLXFORM_NUM_PROCESSES" in os.environ
    for flag, value in (("--process-id", args.process_id), ("--coordinator", args.coordinator)):
        if value is not None and not counted:
            raise InputError(
                f"{flag}={value!r} is invalid without --num-processes: give --coordinator, "
                "--num-processes and --process-id together (or none of them)"
            )
    if args.process_id is not None:
        high = None if args.num_processes is None else args.num_processes - 1
        check_int("--process-id", args.process_id, 0, high)
    if args.coordinator is not None:
        host, _, port = args.coordinator.rpartition(":")
        if not host.strip() or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise InputError(
                f"--coordinator={args.coordinator!r} is invalid: must be HOST:PORT of process 0 "
                "(e.g. 10.0.0.1:1234, port in [1, 65535])"
            )


def run_sweep(args: argparse.Namespace) -> int:
    from rlxform.parsing import load_toml, read_text

    check_distributed(args)
    # the file is read and bounded before JAX is imported: a hostile file is answered at once
    data = load_toml(read_text(args.config, what="config"), source=args.config)
    from tqdm import tqdm

    from rlxform.reproduce import sweep_runner
    from rlxform.reproduce.sweep_config import parse_sweep_config
    from rlxform.results import check_writable

    config = parse_sweep_config(data, allow_import=args.allow_import)
    note_custom_code(config.schemes)
    sweep_runner.sweep_sim_configs(config)  # simulator checks and memory guard, before writing
    figure = figure_format(args)
    out = check_writable(Path(args.out), name="--out")
    index, count = sweep_runner.initialize_distributed(
        args.coordinator, args.num_processes, args.process_id
    )
    setup_jax(args)
    progress, close = inner_progress(
        lambda total: tqdm(total=total, desc="sweep chunks", unit="chunk")
    )
    try:
        result = sweep_runner.run_sweep(
            config,
            out,
            progress,
            figure=figure,
            process_index=index,
            process_count=count,
            strict_devices=args.strict_devices,
        )
    finally:
        close()
    if result is None:
        print(
            f"process {index}/{count}: my chunks are in {out / 'chunks'}; other processes' "
            "chunks are still missing (the last process to finish writes the tables)"
        )
        return 0
    print(
        f"wrote {result.paths['csv']} ({len(result.table['step'])} rows), "
        f"{out / 'sweep_summary.csv'}, {result.paths['figure']} in {result.wall_time_s:.1f}s"
    )
    return 0


def add_bench(sub) -> None:
    p = sub.add_parser("bench", help="throughput vs a NumPy reference and the raw PRNG bound")
    p.add_argument(
        "--workload",
        default="all",
        help="W1 | W2 | W3 | W4 | W5 | W5-breakdown | scaling | explain | all (W1-W5 and scaling)",
    )
    p.add_argument("--json", default=None, help="write the records to this JSON file")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per program (best kept)")
    p.add_argument("--scale", type=float, default=1.0, help="shrink P and T (e.g. 0.01 to test)")
    add_prng(p)


def run_bench(args: argparse.Namespace) -> int:
    from rlxform import runtime
    from rlxform.reproduce import bench
    from rlxform.results.atomic import check_file_writable

    if args.json is not None:  # before the benchmark runs, not after
        check_file_writable(args.json, name="--json")
    runtime.use_prng(args.prng)  # no compilation cache: the bench measures compile times
    return bench.main(args.workload, args.json, args.repeats, args.scale)
