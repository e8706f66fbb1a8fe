"""The table of ``rlxform simulate``'s flags: each flag, the run field it sets, its text converter.

``FLAGS`` maps every flag to a field of ``reproduce.simulate_run.SimulateConfig`` (its nested
``SimConfig``, ``Problem`` and ``HParams``); ``Flag.policies`` names the policy kinds a flag
applies to (from the one registry, ``sim.kinds``). Pure Python: ``rlxform --help`` imports
no JAX. ``cli_simulate`` builds the parser and the config from it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rlxform.sim.kinds import BANDIT_POLICIES, HIDDEN_POLICIES, SEQUENCE_POLICIES


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


WITH_HIDDEN = HIDDEN_POLICIES  # kinds with a hidden width H


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
        BANDIT_POLICIES,
    ),
    Flag(
        "--correct",
        "sim.problem.num_correct",
        int,
        1,
        "C, correct responses per prompt (bandits)",
        BANDIT_POLICIES,
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
        SEQUENCE_POLICIES,
    ),
    Flag(
        "--max-length",
        "sim.problem.max_length",
        int,
        6,
        "response length cap (sequences)",
        SEQUENCE_POLICIES,
    ),
    Flag(
        "--verifier",
        "sim.problem.verifier",
        str,
        "first_token",
        "first_token | parity | match:0,1",
        SEQUENCE_POLICIES,
    ),
    Flag(
        "--aggregation",
        "sim.aggregation",
        str,
        None,
        "seq-mean-token-sum | seq-mean-token-mean (default) | seq-mean-token-sum-norm | "
        "token-mean | trl:grpo | trl:dr_grpo | trl:dapo | trl:bnpo (sequences; a --loss-mode "
        "sets its own)",
        SEQUENCE_POLICIES,
    ),
    Flag(
        "--batch-groups",
        "sim.batch_groups",
        int,
        1,
        "G groups sharing a token-mean normaliser",
        SEQUENCE_POLICIES,
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
        SEQUENCE_POLICIES,
    ),
)
