"""``rlxform simulate``: its flags, one table from flags to the fields of the run, and the call.

``FLAGS`` maps every flag to a field of ``reproduce.simulate_run.SimulateConfig`` (its nested
``SimConfig``, ``Problem`` and ``HParams``); ``validation.load_dataclass`` builds the config
from the flags given and the classes check it once, their messages naming the flag
(``--steps=0 is invalid``). A flag that does not apply to the chosen policy kind (``--aggregation``
on a tabular run, ``--responses`` on a sequence run) is refused by name, never ignored. Then
``run_simulation`` does the work; bad input is one line, exit 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NamedTuple

from rlxform import cli_args as args_lib


def _init_p(flag: str, text: str) -> Any:
    from rlxform.sim.population import parse_init_p

    return parse_init_p(text)


def _setting_value(text: str) -> Any:
    """A ``--loss-setting`` value: true/false, none, an integer, a number, numbers separated by
    commas (a list), else the text itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if "," in text:
        try:
            return [float(part) for part in text.split(",")]
        except ValueError:
            pass
    return text


def _loss_settings(flag: str, items: list[str]) -> dict[str, Any]:
    """``--loss-setting KEY=VALUE`` (repeatable) as a mapping; the mode checks keys and values."""
    from rlxform.validation import InputError

    settings: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise InputError(
                f"{flag}={item!r} is invalid: must be KEY=VALUE, e.g. clip_ratio_high=0.28"
            )
        if key.strip() in settings:
            raise InputError(f"{flag}={item!r} is invalid: {key.strip()} is given twice")
        settings[key.strip()] = _setting_value(text)
    return settings


SEQUENCE = ("sequence_tabular", "sequence_network")  # = sim.config.SEQUENCE_POLICIES (tested)
BANDIT = ("scalar", "tabular", "network")  # = sim.config.BANDIT_POLICIES
WITH_HIDDEN = ("network", "sequence_network")  # kinds with a hidden width H


class Flag(NamedTuple):
    """One ``rlxform simulate`` flag: the field it sets and its argparse type, default, help.

    ``field`` is a dotted path in ``SimulateConfig`` (or a ``validation.Key`` with a converter
    of the flag's text); ``kind`` is ``int``, ``float``, ``str`` or ``bool`` (a switch);
    ``policies``: the policy kinds the flag applies to (None: all); given for another kind it
    is refused by name. ``default_for``: the kinds that get ``default`` when the flag is not
    given (None: ``policies``); the others keep the field's own default.
    ``repeat``: the flag may be given several times (a list of texts).
    """

    flag: str
    field: Any
    kind: type
    default: Any
    help: str
    policies: tuple[str, ...] | None = None
    default_for: tuple[str, ...] | None = None
    repeat: bool = False

    @property
    def dest(self) -> str:
        return self.flag[2:].replace("-", "_")

    def applies(self, policy: str) -> bool:
        return self.policies is None or policy in self.policies


FLAGS = (
    Flag(
        "--policy",
        "sim.problem.policy",
        str,
        "tabular",
        "scalar | tabular | network | sequence_tabular | sequence_network",
    ),
    Flag("--prompts", "sim.problem.num_prompts", int, 16, "P, number of prompts"),
    Flag(
        "--responses",
        "sim.problem.num_responses",
        int,
        None,
        "K, responses per prompt (2 for scalar, else 4; bandits)",
        BANDIT,
    ),
    Flag(
        "--correct",
        "sim.problem.num_correct",
        int,
        1,
        "C, correct responses per prompt (bandits)",
        BANDIT,
    ),
    Flag("--group-size", "sim.group_size", int, 8, "M, samples per prompt and step"),
    Flag("--steps", "sim.num_steps", int, 100, "T, optimisation steps"),
    Flag("--batch-size", "sim.problem.batch_size", int, None, "B prompts per step (all)"),
    Flag("--lr", "hparams.learning_rate", float, 0.1, "learning rate"),
    Flag("--optimizer", "sim.optimizer", str, "sgd", "sgd | adam"),
    Flag("--seeds", "seeds", int, 64, "number of independent runs"),
    Flag("--seed", "seed", int, 0, "base seed"),
    Flag(
        "--init-p",
        ("sim.problem.init_p", _init_p),
        str,
        "grid",
        "'0.1,0.5' (cycled when shorter than --prompts) | 'beta:A,B' | 'grid'",
    ),
    Flag("--record-every", "sim.record_every", int, 1, "record interval (divides T)"),
    Flag("--dynamic-sampling", "sim.dynamic_sampling", bool, False, "drop S = 0 / S = M groups"),
    Flag(
        "--vocab",
        "sim.problem.vocab_size",
        int,
        4,
        "V, tokens 0..V-1 (V-1 = stop; sequences)",
        SEQUENCE,
    ),
    Flag(
        "--max-length",
        "sim.problem.max_length",
        int,
        6,
        "response length cap (sequences)",
        SEQUENCE,
    ),
    Flag(
        "--verifier",
        "sim.problem.verifier",
        str,
        "first_token",
        "first_token | parity | match:0,1",
        SEQUENCE,
    ),
    Flag(
        "--aggregation",
        "sim.aggregation",
        str,
        None,
        "seq-mean-token-sum | seq-mean-token-mean (default) | seq-mean-token-sum-norm | "
        "token-mean | trl:grpo | trl:dr_grpo | trl:dapo | trl:bnpo (sequences; a --loss-mode "
        "sets its own)",
        SEQUENCE,
    ),
    Flag(
        "--batch-groups",
        "sim.batch_groups",
        int,
        1,
        "G groups sharing a token-mean normaliser",
        SEQUENCE,
    ),
    Flag(
        "--hidden",
        "sim.problem.hidden",
        int,
        16,
        "GRU width (sequence_network; network: MLP width, default 32)",
        WITH_HIDDEN,
        ("sequence_network",),
    ),
    Flag("--kl-coef", "hparams.kl_coef", float, None, "beta of a KL penalty to the initial policy"),
    Flag(
        "--kl-estimator",
        "sim.kl_estimator",
        str,
        "k1",
        "k1 | k2 | k3 | abs | k3_unclamped | k3_ratio | k1+ | k3+ | abs+ | k1_unbiased | "
        "k2_unbiased | k3_unbiased (or kl | mse | low_var_kl | kl+ | low_var_kl+)",
    ),
    Flag(
        "--kl-placement",
        "sim.kl_placement",
        str,
        "loss",
        "loss (per token) | reward (before the advantage) | advantage (after it)",
    ),
    Flag("--ppo-epochs", "sim.ppo_epochs", int, 1, "E, PPO epochs per rollout batch"),
    Flag(
        "--num-minibatches", "sim.num_minibatches", int, 1, "N, minibatches per epoch (divides B)"
    ),
    Flag("--clip-low", "hparams.clip_low", float, None, "ratio >= 1 - X (0.2)"),
    Flag("--clip-high", "hparams.clip_high", float, None, "ratio <= 1 + Y (0.2)"),
    Flag("--dual-clip", "hparams.dual_clip", float, None, "verl dual clip C > 1 (off)"),
    Flag(
        "--std-scope",
        "sim.std_scope",
        str,
        "group",
        "group | batch | none (std-normalised schemes)",
    ),
    Flag(
        "--loss-mode",
        "sim.loss_mode",
        str,
        None,
        "a trainer's loss, framework:mode: verl:vanilla | verl:gspo | verl:cispo | verl:sapo | "
        "verl:geo_mean | ... | trl:grpo | trl:dapo | trl:cispo | trl:luspo | ... | "
        "openrlhf:ppo | openrlhf:gspo (default: the plain clipped surrogate)",
    ),
    Flag(
        "--loss-setting",
        ("sim.loss_settings", _loss_settings),
        str,
        None,
        "KEY=VALUE setting of --loss-mode under the framework's own key, repeatable "
        "(e.g. clip_ratio_high=0.28, importance_sampling_level=sequence, delta=1.5)",
        repeat=True,
    ),
    # filters (rlxform.sim.filters): switches, then their traced numbers
    Flag(
        "--vllm-mode",
        "sim.vllm_mode",
        str,
        None,
        "TRL vLLM IS correction: sequence_mask | sequence_truncate | token_mask | token_truncate",
    ),
    Flag("--vllm-cap", "hparams.vllm_cap", float, None, "its ratio cap (3)"),
    Flag("--vllm-cap-min", "hparams.vllm_cap_min", float, None, "its lower bound (none)"),
    Flag("--mismatch-mean", "hparams.mismatch_mean", float, None, "mean log-ratio per token (0)"),
    Flag("--mismatch-sd", "hparams.mismatch_sd", float, None, "its sd per token (0.05)"),
    Flag("--mask-truncated", "sim.mask_truncated", bool, False, "drop truncated answers"),
    Flag("--overlong", "sim.overlong", bool, False, "DAPO overlong reward shaping"),
    Flag("--overlong-buffer", "hparams.overlong_buffer", float, None, "its buffer (tokens)"),
    Flag("--overlong-factor", "hparams.overlong_factor", float, None, "its factor (1)"),
    Flag("--entropy-filter", "sim.entropy_filter", bool, False, "TRL top_entropy_quantile"),
    Flag("--entropy-quantile", "hparams.entropy_quantile", float, None, "its rho (0.2)"),
    Flag("--range-low", "hparams.range_low", float, None, "dynamic sampling keeps S/M > X (0)"),
    Flag("--range-high", "hparams.range_high", float, None, "and S/M < Y (1)"),
    Flag("--entropy-coef", "hparams.entropy_coef", float, None, "c of an entropy bonus (off)"),
    Flag(
        "--entropy-aggregation",
        "sim.entropy_aggregation",
        str,
        None,
        "the entropy bonus's aggregation: the loss's (default, verl) | token-mean (TRL, "
        "OpenRLHF) | any --aggregation mode (sequences)",
        SEQUENCE,
    ),
)


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


def check_flags_apply(args: argparse.Namespace) -> None:
    """Refuse (InputError, one line) a flag given for a policy kind it does not apply to."""
    from rlxform.validation import InputError

    policy = args.policy
    if policy not in (*BANDIT, *SEQUENCE):
        return  # the problem's own check names --policy and the kinds
    given = getattr(args, "given_flags", None)
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
    from rlxform.sim.config import SEQUENCE_POLICIES
    from rlxform.sim.policies import KINDS
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
