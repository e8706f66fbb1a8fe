"""``rlxform simulate --policy sequence_tabular|sequence_network``: flags and the run.

The sequence flags (``--vocab``, ``--max-length``, ``--verifier``, ``--aggregation``,
``--batch-groups``, ``--hidden``) are added to the simulate parser by ``add_sequence_arguments``;
``run_simulate`` dispatches here when ``--policy`` names a sequence policy. The CSV has the
bandit columns (``objective`` = mean_x h_M(p_x), the scheme's lens objective at the current p;
the aggregation's own update need not ascend it) plus simulated and exact mean response
lengths given correct / wrong.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SEQUENCE_POLICIES = ("sequence_tabular", "sequence_network")


def add_sequence_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of the sequence policies (ignored by the bandit policies)."""
    p.add_argument("--vocab", type=int, default=4, help="V, tokens 0..V-1 (V-1 = stop)")
    p.add_argument("--max-length", type=int, default=6, help="response length cap")
    p.add_argument("--verifier", default="first_token", help="first_token | parity | match:0,1")
    p.add_argument(
        "--aggregation",
        default="seq-mean-token-mean",
        help="seq-mean-token-sum | seq-mean-token-mean | seq-mean-token-sum-norm | token-mean "
        "| trl:grpo | trl:dr_grpo | trl:dapo | trl:bnpo",
    )
    p.add_argument(
        "--batch-groups", type=int, default=1, help="G groups sharing a token-mean normaliser"
    )
    p.add_argument("--hidden", type=int, default=16, help="GRU width (sequence_network)")


def sequence_config(args: argparse.Namespace, scheme):
    """``SeqSimConfig`` from parsed flags, each checked under its flag name."""
    import jax

    from rlxform import policies
    from rlxform.sequence_sim import SeqSimConfig
    from rlxform.sequences import SequenceTask, check_aggregation, enumerate_sequences
    from rlxform.simulate import OPTIMIZERS
    from rlxform.validation import check_choice, check_float, check_group_size, check_int

    vocab = check_int("--vocab", args.vocab, 2)
    max_length = check_int("--max-length", args.max_length, 1)
    try:
        task = SequenceTask(vocab, max_length, args.verifier)
        enumerate_sequences(task)
        aggregation = check_aggregation(args.aggregation)
    except ValueError as err:
        message = str(err)
        for flag, name in (("--verifier", "verifier="), ("--aggregation", "aggregation=")):
            message = message.replace(name, flag + "=", 1) if message.startswith(name) else message
        message = message.replace(
            f"task with vocab_size={vocab}, max_length={max_length}",
            f"--vocab={vocab} with --max-length={max_length}",
        )
        raise ValueError(message) from None
    prompts = check_int("--prompts", args.prompts, 1)
    scheme.check_group_size(
        check_group_size(args.group_size, name="--group-size"), name="--group-size"
    )
    steps = check_int("--steps", args.steps, 1)
    if args.batch_size is not None:
        check_int("--batch-size", args.batch_size, 1, prompts)
    batch = prompts if args.batch_size is None else args.batch_size
    groups = check_int("--batch-groups", args.batch_groups, 1)
    if batch % groups:
        raise ValueError(
            f"--batch-groups={groups!r} is invalid: must divide the batch of {batch} groups "
            "(--batch-size, default --prompts)"
        )
    check_choice("--optimizer", args.optimizer, OPTIMIZERS)
    if steps % check_int("--record-every", args.record_every, 1, steps):
        raise ValueError(
            f"--record-every={args.record_every!r} is invalid: must divide --steps={steps}"
        )
    check_float("--lr", args.lr, 0.0, low_open=True)
    if args.dynamic_sampling:
        raise ValueError(
            "--dynamic-sampling is invalid with --policy sequence_*: the sequence simulator has "
            "no dynamic sampling (no exact reference is derived for it)"
        )
    init_p = policies.population(jax.random.key(0), policies.parse_init_p(args.init_p), prompts)
    return SeqSimConfig(
        scheme,
        task,
        aggregation,
        policy=args.policy,
        num_prompts=prompts,
        group_size=args.group_size,
        num_steps=steps,
        record_every=args.record_every,
        batch_size=args.batch_size,
        batch_groups=groups,
        optimizer=args.optimizer,
        init_p=tuple(float(p) for p in np.asarray(init_p)),
        hidden=check_int("--hidden", args.hidden, 1),
    )


def run_simulate_sequences(args: argparse.Namespace, scheme, save_figure) -> int:
    """Simulate, compare with exact ascent, write trajectories.csv / summary.json / .png."""
    import jax

    from rlxform import sweeps
    from rlxform.plotting_sequences import fig_sequence_simulate
    from rlxform.results import atomic_write_text, check_writable, write_table
    from rlxform.sequence_sim import make_sequence_exact_sweep, make_sequence_sweep
    from rlxform.validation import check_int

    cfg = sequence_config(args, scheme)
    seeds = check_int("--seeds", args.seeds, 1)
    out = check_writable(Path(args.out), name="--out")
    grid = sweeps.grid([args.lr])
    keys = jax.random.split(jax.random.key(check_int("--seed", args.seed, 0)), seeds)
    start = time.perf_counter()
    compiled = make_sequence_sweep(cfg).lower(grid, keys).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    metrics = jax.block_until_ready(compiled(grid, keys))
    wall_s = time.perf_counter() - start
    exact = make_sequence_exact_sweep(cfg)(grid)
    cmp = sweeps.compare(metrics, exact)
    table = {
        "step": np.asarray(exact.step[0]),
        "mean_p": cmp.mean_p[0],
        "mean_p_se": cmp.mean_p_se[0],
        "exact_mean_p": cmp.exact_mean_p[0],
        "objective": sweeps.seed_stats(metrics.objective)[0][0],
        "exact_objective": np.asarray(exact.objective[0], np.float64),
    }
    for name in ("mean_length_correct", "mean_length_wrong"):
        mean, se = sweeps.seed_stats(getattr(metrics, name))
        table[name], table[f"{name}_se"] = mean[0], se[0]
        table[f"exact_{name}"] = np.asarray(getattr(exact, name)[0], np.float64)
    write_table(out / "trajectories.csv", table)
    summary = {
        "config": {
            **{k: v for k, v in vars(args).items() if k not in ("out", "func")},
            "scheme": cfg.scheme.label,
            "aggregation": cfg.aggregation,
            "batch_size": cfg.batch,
            "objective": "mean_x h_M(p_x) of the scheme's tables (the paper's lens)",
        },
        "max_abs_dev": float(cmp.max_abs_dev[0]),
        "agreement": float(cmp.agreement[0]),
        "diverged": bool(np.any(np.asarray(metrics.nonfinite_step) >= 0)),
        "wall_time_s": wall_s,
        "compile_time_s": compile_s,
        "device": str(jax.devices()[0]),
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    title = f"{cfg.scheme.label}, {cfg.aggregation}, {cfg.policy}, M={cfg.group_size}"
    save_figure(fig_sequence_simulate(table, title), out / "trajectories.png")
    print(
        f"wrote {out}/trajectories.csv, summary.json, trajectories.png: max_abs_dev="
        f"{summary['max_abs_dev']:.3g}, agreement={summary['agreement']:.2f}"
    )
    return 0
