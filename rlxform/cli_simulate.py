"""``rlxform simulate``: its parser, the config from its flags, and the call.

``cli_flags.FLAGS`` maps every flag to a field of ``reproduce.simulate_run.SimulateConfig`` (its
nested ``SimConfig``, ``Problem`` and ``HParams``); ``validation.load_dataclass`` builds the config
from the flags given and the classes check it once, their messages naming the flag
(``--steps=0 is invalid``). A flag that does not apply to the chosen policy kind (``--aggregation``
on a tabular run, ``--responses`` on a sequence run) is refused by name, never ignored. Then
``run_simulation`` does the work; bad input is one line, exit 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rlxform import cli_args as args_lib
from rlxform.cli_flags import FLAGS
from rlxform.sim.kinds import POLICIES, SEQUENCE_POLICIES


def add_simulate(sub) -> None:
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
    for flag in FLAGS:
        if flag.kind is bool:
            p.add_argument(flag.flag, action=_GivenSwitch, help=flag.help)
        elif flag.repeat:
            p.add_argument(flag.flag, action=_GivenAppend, metavar="KEY=VALUE", help=flag.help)
        else:
            p.add_argument(
                flag.flag, action=_Given, type=flag.kind, default=flag.default, help=flag.help
            )
    p.add_argument("--out", default="results/simulate", help="output directory")
    args_lib.add_allow_import(p)
    args_lib.add_prng(p)
    args_lib.add_figure_options(p)


class _Given(argparse.Action):
    """Store the value and remember that the flag was given (``namespace.given_flags``)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        namespace.given_flags = {*getattr(namespace, "given_flags", ()), self.dest}


class _GivenSwitch(_Given):
    def __init__(self, option_strings, dest, default=False, required=False, help=None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        super().__call__(parser, namespace, True, option_string)


class _GivenAppend(_Given):
    def __call__(self, parser, namespace, values, option_string=None) -> None:
        items = [*(getattr(namespace, self.dest, None) or []), values]
        super().__call__(parser, namespace, items, option_string)


# a setting of a term, and the flag that turns the term on (without it the setting is ignored)
NEEDS = {
    "--kl-estimator": "--kl-coef",
    "--kl-placement": "--kl-coef",
    "--entropy-aggregation": "--entropy-coef",
}


def check_settings_used(args: argparse.Namespace) -> None:
    """Refuse (InputError) a setting of a term (``NEEDS``) given without the flag that turns
    the term on; after the values are checked, so a bad value is named as such first."""
    from rlxform.validation import InputError

    given = getattr(args, "given_flags", None)
    for flag, needed in NEEDS.items():
        dest, needed_dest = flag[2:].replace("-", "_"), needed[2:].replace("-", "_")
        if given is not None and dest in given and needed_dest not in given:
            raise InputError(
                f"{flag}={getattr(args, dest)!r} is invalid without {needed}: it sets that "
                f"term, which is off, so it would be ignored; give {needed} or drop {flag}"
            )


def check_flags_apply(args: argparse.Namespace) -> None:
    """Refuse (InputError, one line) a flag given for a policy kind it does not apply to."""
    from rlxform.validation import InputError

    given = getattr(args, "given_flags", None)
    policy = args.policy
    if policy not in POLICIES:
        return  # the problem's own check names --policy and the kinds
    for flag in FLAGS:
        value = getattr(args, flag.dest)
        explicit = flag.dest in given if given is not None else value != flag.default
        if explicit and not flag.applies(policy):
            kinds = ", ".join(flag.policies or ())
            raise InputError(
                f"{flag.flag}={value!r} is invalid with --policy {policy}: {flag.flag} applies "
                f"only to {kinds}; drop it or choose one of those policies"
            )


def simulate_config(args: argparse.Namespace, scheme):
    """The ``SimulateConfig`` of the flags (``FLAGS``), checked once by its classes.

    A flag for another policy kind is refused by name (``check_flags_apply``); a flag not given
    sets its default for the kinds in its ``default_for``, and the field's own default otherwise.
    """
    from rlxform.reproduce.simulate_run import SimulateConfig
    from rlxform.sim.kinds import KINDS
    from rlxform.validation import Key, load_dataclass

    check_flags_apply(args)
    if args.responses is None:  # a kind may fix K (scalar: exactly two responses)
        kind = KINDS.get(args.policy)
        args.responses = (kind and kind.num_responses) or 4
    sequence = args.policy in SEQUENCE_POLICIES
    explicit = getattr(args, "given_flags", None)
    given: dict[str, Any] = {"--scheme": scheme}
    keys: dict[str, Any] = {"--scheme": "sim.scheme"}
    for flag in FLAGS:
        value = getattr(args, flag.dest)
        keys[flag.flag] = Key(*flag.field) if isinstance(flag.field, tuple) else flag.field
        was_given = flag.dest in explicit if explicit is not None else value != flag.default
        defaults = flag.policies if flag.default_for is None else flag.default_for
        if value is None or not flag.applies(args.policy):
            continue
        if was_given or defaults is None or args.policy in defaults:
            given[flag.flag] = value
    if sequence and args.aggregation is None and args.loss_mode is None:
        given["--aggregation"] = "seq-mean-token-mean"
    config = load_dataclass(SimulateConfig, given, keys=keys)
    _check_aggregation(config.sim, given.get("--aggregation"))
    check_settings_used(args)
    return config


def _check_aggregation(cfg, aggregation: str | None) -> None:
    """``--aggregation`` given with ``--loss-mode`` must be the mode's own (it sets it)."""
    from rlxform.core.aggregation import check_aggregation
    from rlxform.validation import InputError

    if cfg.loss_mode is None or aggregation is None:
        return
    if check_aggregation(aggregation) != cfg.aggregation:
        raise InputError(
            f"--aggregation={aggregation!r} is invalid with --loss-mode={cfg.loss_mode!r}: the "
            f"mode aggregates as {cfg.aggregation!r} (set it by --loss-setting, e.g. "
            "loss_agg_mode for verl)"
        )


def run_simulate(args: argparse.Namespace) -> int:
    from rlxform.reproduce.simulate_run import run_simulation
    from rlxform.resources import check_run
    from rlxform.results import check_writable

    (scheme,) = args_lib.build_schemes(
        [args.scheme], args_lib.parse_scheme_params(args.scheme_param), args.allow_import
    )
    args_lib.note_custom_code([scheme])
    config = simulate_config(args, scheme)
    cfg = config.sim
    figure = args_lib.figure_format(args)
    flags = {str(f.field[0] if isinstance(f.field, tuple) else f.field): f.flag for f in FLAGS}
    names = {path.rsplit(".", 1)[-1]: flag for path, flag in flags.items()}
    # every policy kind: the sampled runs, their float64 statistics (x2) and the exact reference
    check_run(cfg, config.seeds, exact=1, what="simulate", factor=2, names=names)
    init_p, num_prompts = cfg.problem.init_p, cfg.problem.num_prompts
    values = init_p if isinstance(init_p, tuple) and init_p[0] != "beta" else ()
    if 0 < len(values) < num_prompts:
        print(f"--init-p: {len(values)} values for {num_prompts} prompts, cycled over the prompts")
    out = check_writable(Path(args.out), name="--out")
    args_lib.setup_jax(args)
    skip = ("out", "func", "format", "dpi", "given_flags", "allow_import")
    result = run_simulation(
        config,
        out,
        described={k: v for k, v in vars(args).items() if k not in skip},
        save_figure=lambda fig, path: args_lib.save_figure(fig, path, figure),
        figure_suffix=figure.format,
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
