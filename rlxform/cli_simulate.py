"""``rlxform simulate``: its flags, the config they build, and the call into ``sim.run``.

The command parses flags into a ``SimConfig`` (nested ``Problem``) and traced ``HParams``
values, then ``rlxform.sim.run.run_simulation`` does the work; bad input is one line, exit 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rlxform import cli_args as args_lib

# ---- rlxform simulate --------------------------------------------------------------------------


def _add_simulate(sub) -> None:
    p = sub.add_parser("simulate", help="simulate a scheme on a bandit policy vs exact ascent")
    p.add_argument(
        "--scheme",
        required=True,
        help="catalog name (see `rlxform schemes`), verl:grpo, trl:group, ... or module:function",
    )
    p.add_argument(
        "--scheme-param",
        action="append",
        metavar="KEY=VALUE",
        help="scheme parameter, repeatable (e.g. eps=1e-6, k=4)",
    )
    p.add_argument(
        "--policy",
        default="tabular",
        help="scalar | tabular | network | sequence_tabular | sequence_network",
    )
    p.add_argument("--prompts", type=int, default=16, help="P, number of prompts")
    p.add_argument(
        "--responses", type=int, default=None, help="K, responses per prompt (2 for scalar, else 4)"
    )
    p.add_argument("--correct", type=int, default=1, help="C, correct responses per prompt")
    p.add_argument("--group-size", type=int, default=8, help="M, samples per prompt and step")
    p.add_argument("--steps", type=int, default=100, help="T, optimisation steps")
    p.add_argument("--batch-size", type=int, default=None, help="B prompts per step (all)")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate")
    p.add_argument("--optimizer", default="sgd", help="sgd | adam")
    p.add_argument("--seeds", type=int, default=64, help="number of independent runs")
    p.add_argument("--seed", type=int, default=0, help="base seed")
    p.add_argument(
        "--init-p",
        default="grid",
        help="'0.1,0.5' (cycled when shorter than --prompts) | 'beta:A,B' | 'grid'",
    )
    p.add_argument("--record-every", type=int, default=1, help="record interval (divides T)")
    p.add_argument("--dynamic-sampling", action="store_true", help="drop S = 0 / S = M groups")
    p.add_argument("--out", default="results/simulate", help="output directory")
    p.add_argument("--vocab", type=int, default=4, help="V, tokens 0..V-1 (V-1 = stop; sequences)")
    p.add_argument("--max-length", type=int, default=6, help="response length cap (sequences)")
    p.add_argument("--verifier", default="first_token", help="first_token | parity | match:0,1")
    p.add_argument(
        "--aggregation",
        default="seq-mean-token-mean",
        help="seq-mean-token-sum | seq-mean-token-mean | seq-mean-token-sum-norm | token-mean "
        "| trl:grpo | trl:dr_grpo | trl:dapo | trl:bnpo (sequences)",
    )
    p.add_argument(
        "--batch-groups", type=int, default=1, help="G groups sharing a token-mean normaliser"
    )
    p.add_argument("--hidden", type=int, default=16, help="GRU width (sequence_network)")
    p.add_argument(
        "--kl-coef", type=float, default=None, help="beta of a KL penalty to the initial policy"
    )
    p.add_argument(
        "--kl-estimator", default="k1", help="k1 | k2 | k3 | abs (or kl | mse | low_var_kl)"
    )
    p.add_argument(
        "--kl-placement", default="loss", help="loss (per token) | reward (before the advantage)"
    )
    _add_ppo_options(p)
    args_lib._add_prng(p)
    args_lib._add_figure_options(p)


def _add_ppo_options(p) -> None:
    """PPO inner loop and batch-level std flags (``SimConfig`` / ``HParams`` fields)."""
    p.add_argument("--ppo-epochs", type=int, default=1, help="E, PPO epochs per rollout batch")
    p.add_argument(
        "--num-minibatches", type=int, default=1, help="N, minibatches per epoch (divides B)"
    )
    p.add_argument("--clip-low", type=float, default=None, help="ratio >= 1 - X (0.2)")
    p.add_argument("--clip-high", type=float, default=None, help="ratio <= 1 + Y (0.2)")
    p.add_argument("--dual-clip", type=float, default=None, help="verl dual clip C > 1 (off)")
    p.add_argument(
        "--std-scope", default="group", help="group | batch | none (std-normalised schemes)"
    )


def _ppo_clip(args: argparse.Namespace) -> dict:
    """The checked clip hyperparameters of the flags (None = default)."""
    from rlxform.sim.config import CLIP_BOUNDS
    from rlxform.validation import check_float

    clip = {"clip_low": args.clip_low, "clip_high": args.clip_high, "dual_clip": args.dual_clip}
    for name, value in clip.items():
        if value is not None:
            low, high, low_open = CLIP_BOUNDS[name]
            flag = "--" + name.replace("_", "-")
            clip[name] = check_float(flag, value, low, high, low_open=low_open, float32=True)
    return clip


def _simulate_config(args: argparse.Namespace, scheme):
    """``SimConfig`` from the simulate flags, each checked under its flag name first."""
    from rlxform.resources import MAX_STEPS
    from rlxform.sim.config import (
        BANDIT_POLICIES,
        OPTIMIZERS,
        SEQUENCE_POLICIES,
        Problem,
        SimConfig,
    )
    from rlxform.sim.population import parse_init_p
    from rlxform.validation import check_choice, check_float, check_group_size, check_int

    check_choice("--policy", args.policy, BANDIT_POLICIES + SEQUENCE_POLICIES)
    sequence = args.policy in SEQUENCE_POLICIES
    prompts = check_int("--prompts", args.prompts, 1)
    if args.responses is None:  # a scalar policy has exactly two responses
        args.responses = 2 if args.policy == "scalar" else 4
    responses = check_int("--responses", args.responses, 2)
    check_int("--correct", args.correct, 1, responses - 1)
    scheme.check_group_size(
        check_group_size(args.group_size, name="--group-size"), name="--group-size"
    )
    steps = check_int("--steps", args.steps, 1, MAX_STEPS)
    if args.batch_size is not None:
        check_int("--batch-size", args.batch_size, 1, prompts)
    check_choice("--optimizer", args.optimizer, OPTIMIZERS)
    if steps % check_int("--record-every", args.record_every, 1, steps):
        raise ValueError(
            f"--record-every={args.record_every!r} is invalid: must divide --steps={steps}"
        )
    check_float("--lr", args.lr, 0.0, low_open=True, float32=True)
    _check_kl_flags(args, scheme)
    problem = dict(policy=args.policy, num_prompts=prompts, batch_size=args.batch_size)
    problem["init_p"] = parse_init_p(args.init_p)
    run = dict(group_size=args.group_size, num_steps=steps, optimizer=args.optimizer)
    run.update(record_every=args.record_every, dynamic_sampling=args.dynamic_sampling)
    run.update(kl_estimator=args.kl_estimator, kl_placement=args.kl_placement)
    batch = prompts if args.batch_size is None else args.batch_size
    run["ppo_epochs"] = check_int("--ppo-epochs", args.ppo_epochs, 1)
    run["num_minibatches"] = check_int("--num-minibatches", args.num_minibatches, 1)
    if batch % run["num_minibatches"]:
        raise ValueError(
            f"--num-minibatches={args.num_minibatches!r} is invalid: must divide the batch of "
            f"{batch} groups (--batch-size, default --prompts)"
        )
    run["std_scope"] = check_choice("--std-scope", args.std_scope, ("group", "batch", "none"))
    _ppo_clip(args)
    if not sequence:
        problem.update(num_responses=responses, num_correct=args.correct)
        return SimConfig(scheme, Problem(**problem), **run)
    if args.dynamic_sampling:
        raise ValueError(
            "--dynamic-sampling is invalid with --policy sequence_*: the sequence simulator has "
            "no dynamic sampling (no exact reference is derived for it)"
        )
    batch = prompts if args.batch_size is None else args.batch_size
    groups = check_int("--batch-groups", args.batch_groups, 1)
    if batch % groups:
        raise ValueError(
            f"--batch-groups={groups!r} is invalid: must divide the batch of {batch} groups "
            "(--batch-size, default --prompts)"
        )
    vocab = check_int("--vocab", args.vocab, 2)
    max_length = check_int("--max-length", args.max_length, 1)
    problem.update(vocab_size=vocab, max_length=max_length, verifier=args.verifier)
    problem["hidden"] = check_int("--hidden", args.hidden, 1)
    try:
        return SimConfig(
            scheme, Problem(**problem), aggregation=args.aggregation, batch_groups=groups, **run
        )
    except ValueError as err:  # name the flag, not the field
        message = str(err)
        for flag, name in (("--verifier", "verifier="), ("--aggregation", "aggregation=")):
            message = message.replace(name, flag + "=", 1) if message.startswith(name) else message
        message = message.replace(
            f"task with vocab_size={vocab}, max_length={max_length}",
            f"--vocab={vocab} with --max-length={max_length}",
        )
        raise type(err)(message) from None


def _check_kl_flags(args: argparse.Namespace, scheme) -> None:
    """--kl-coef (finite, >= 0), --kl-estimator, --kl-placement, checked under the flag names."""
    from rlxform.core.kl import ALIASES, ESTIMATORS, PLACEMENTS
    from rlxform.core.registry import real_reward_names
    from rlxform.validation import check_choice, check_float

    if args.kl_coef is not None:
        check_float("--kl-coef", args.kl_coef, 0.0)
    check_choice("--kl-estimator", args.kl_estimator, ESTIMATORS + tuple(ALIASES))
    check_choice("--kl-placement", args.kl_placement, PLACEMENTS)
    if args.kl_placement == "reward" and not scheme.has_real_reward:
        raise ValueError(
            f"--kl-placement='reward' is invalid with scheme {scheme.name!r}: it is defined only "
            "through binary a/b tables; use one of " + ", ".join(real_reward_names())
        )


def run_simulate(args: argparse.Namespace) -> int:
    from rlxform.resources import check_memory, simulation_bytes
    from rlxform.results import check_writable
    from rlxform.sim.run import run_simulation
    from rlxform.validation import check_int, check_seed

    (scheme,) = args_lib.build_schemes(
        [args.scheme], args_lib.parse_scheme_params(args.scheme_param)
    )
    cfg = _simulate_config(args, scheme)
    seed = check_seed("--seed", args.seed)
    figure = args_lib._figure_format(args)
    seeds = check_int("--seeds", args.seeds, 1)
    if not cfg.problem.is_sequence:
        check_memory(
            f"simulate (--seeds={seeds}, --prompts={cfg.problem.num_prompts}, "
            f"--group-size={args.group_size}, {cfg.num_records} records)",
            2 * simulation_bytes(cfg, seeds),  # the sampled sweep and its float64 statistics
        )
    init_p, num_prompts = cfg.problem.init_p, cfg.problem.num_prompts
    values = init_p if isinstance(init_p, tuple) and init_p[0] != "beta" else ()
    if 0 < len(values) < num_prompts:
        print(f"--init-p: {len(values)} values for {num_prompts} prompts, cycled over the prompts")
    out = check_writable(Path(args.out), name="--out")
    args_lib._setup_jax(args)
    skip = ("out", "func", "format", "dpi")
    result = run_simulation(
        cfg,
        args.lr,
        seeds,
        seed,
        out,
        config={k: v for k, v in vars(args).items() if k not in skip},
        clip=_ppo_clip(args),
        save_figure=lambda fig, path: args_lib.save_figure(fig, path, figure),
        figure_suffix=figure.format,
        kl_coef=args.kl_coef,
    )
    summary = result.summary
    z = "" if cfg.problem.is_sequence else f", max_z={summary['max_z']:.2f}"
    compared = (
        f"max_abs_dev={summary['max_abs_dev']:.3g}{z}, agreement={summary['agreement']:.2f}"
        if not summary["reference"].startswith("none")
        else "no exact reference (summary.json says why)"
    )
    print(f"wrote {out}/trajectories.csv, summary.json, {result.figure_path.name}: {compared}")
    return 0


def _fig_simulate(table: dict[str, np.ndarray], cfg, learning_rate: float, seeds: int):
    from rlxform.sim.run import simulation_figure

    return simulation_figure(table, cfg, learning_rate, seeds)


# ---- entry point -------------------------------------------------------------------------------
