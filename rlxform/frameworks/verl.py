"""verl: its config reader and record (the advantage rule is ``frameworks.verl_rule``).

Keys are Hydra paths (``actor_rollout_ref.rollout.n``), from a composed YAML, or from the
overrides of ``python3 -m verl.trainer.main_ppo`` / ``recipe.<name>.main_<name>``. Updates per
rollout: data.train_batch_size // actor.ppo_mini_batch_size * actor.ppo_epochs (both sizes count
prompts). Advantage: ``verl.trainer.ppo.core_algos.compute_*_outcome_advantage`` (0.9.1).
"""

from __future__ import annotations

from typing import Any

from rlxform.frameworks.common import Clip, KLTerm, RunConfig, Settings, StdNorm, int_or_none
from rlxform.frameworks.losses import LossReading, read_settings, reduce_run, reduced_factor
from rlxform.frameworks.record import Framework, Normaliser
from rlxform.frameworks.tables import version_key
from rlxform.frameworks.verl_checks import (
    appended,
    check_loss_mode,
    filter_metric,
    refuse_recipe,
    verl_active,
)
from rlxform.frameworks.verl_recipes import verl_pin
from rlxform.frameworks.verl_rule import (
    RULE,
    VERL_ESTIMATORS,
    VERL_STD_EPSILON,
)
from rlxform.validation import InputError, check_float

VERL_LOSS_AGG = (
    "token-mean",
    "token-sum",
    "seq-mean-token-sum",
    "seq-mean-token-mean",
    "seq-mean-token-sum-norm",
)
A = "actor_rollout_ref.actor."
R = "actor_rollout_ref.rollout."

# ---- the config reader ---------------------------------------------------------------------


def read_verl(s: Settings) -> RunConfig:
    """verl's composed trainer config (``algorithm``, ``actor_rollout_ref``, ``data``)."""
    program = refuse_recipe(s)
    estimator = s.modelled(
        "algorithm.adv_estimator", "gae", VERL_ESTIMATORS, "verl", "binary outcome rewards"
    )
    norm = s.bool("algorithm.norm_adv_by_std_in_grpo", True)
    normalised = norm and estimator.startswith("grpo")
    group_size = s.int(R + "n", 1)
    agg = s.str(A + "loss_agg_mode", "token-mean", VERL_LOSS_AGG)
    train_batch = s.int("data.train_batch_size", 1024)
    mini_batch = s.int(A + "ppo_mini_batch_size", 256)
    if mini_batch > train_batch:
        raise InputError(
            f"{A}ppo_mini_batch_size={mini_batch!r} is invalid: must be <= "
            f"data.train_batch_size={train_batch} (both count prompts)"
        )
    updates, uneven = _updates(s, train_batch, mini_batch)
    clip_ratio = s.float(A + "clip_ratio", 0.2)
    clip = Clip.of(
        clip_ratio, s.float(A + "clip_ratio_low", 0.2), s.float(A + "clip_ratio_high", 0.2)
    )
    pitfalls = [uneven] if uneven else []
    if s.is_set(A + "clip_ratio") and not (
        s.is_set(A + "clip_ratio_low") and s.is_set(A + "clip_ratio_high")
    ):
        pitfalls.append(
            f"{A}clip_ratio={clip_ratio:g} is written, but clip_ratio_low/clip_ratio_high "
            "(default 0.2, not null) take precedence: clip_ratio alone does not change the "
            f"clip range, which is [1 - {clip.low:g}, 1 + {clip.high:g}]"
        )
    kl = _verl_kl(s, pitfalls)
    dynamic = s.bool("algorithm.filter_groups.enable", False)
    if dynamic and s.is_set("algorithm.filter_groups.max_num_gen_batches"):
        if program.startswith("verl."):
            pitfalls.append(
                "algorithm.filter_groups.max_num_gen_batches is ignored by verl's built-in "
                f"trainer ({program}), which refills one prompt at a time "
                "(verl/trainer/ppo/v1/trainer_base.py:205-211 in 0.9.1)"
            )
        elif not program:
            pitfalls.append(
                "algorithm.filter_groups.max_num_gen_batches is used by the DAPO recipe's "
                "trainer (recipe.dapo.main_dapo) and ignored by verl's built-in trainer "
                "(verl.trainer.main_ppo, verl/trainer/ppo/v1/trainer_base.py:205-211 in 0.9.1)"
            )
    if group_size == 1 and estimator.startswith(("grpo", "rloo")):
        pitfalls.append(
            f"{R}n is 1 (verl's default when unset): groups of one sample, so there is no "
            "group baseline (verl uses mean 0, std 1 for them)"
        )
    pitfalls += appended(s)
    shaping = overlong_shaping(s)
    if dynamic:
        pitfalls += filter_metric(s, kl.placement == "reward", shaping)
    loss = verl_loss(s)
    return RunConfig(
        estimator=estimator,
        group_size=group_size,
        std=StdNorm.of(normalised, VERL_STD_EPSILON, "group"),
        aggregation=agg,
        updates_per_rollout=updates,
        clip=clip,
        kl=kl,
        dynamic_sampling=dynamic,
        scheme_params=(("norm_adv_by_std_in_grpo", norm),),
        reward_shaping=shaping,
        pitfalls=tuple(pitfalls),
        max_length=s.int_or_none("data.max_response_length"),
        **(overlong_settings(s) or ("", {}))[1],
        loss=loss,
        **verl_entropy(s, agg),
    )


def _engine(s: Settings) -> bool:
    """verl's engine workers (>= 0.8, or trainer.use_legacy_worker_impl=disable)."""
    return version_key(s.table.version) >= version_key("0.8") or (
        s.get("trainer.use_legacy_worker_impl", "auto") == "disable"
    )


def _updates(s: Settings, train_batch: int, mini_batch: int) -> tuple[int, str | None]:
    """(optimizer steps per rollout batch, a pitfall when the mini-batch does not divide the
    batch): the legacy dp_actor splits the batch into ceil(train / mini) mini-batches, the last
    one short (dp_actor.py:541, DataProto.split protocol.py:925 at verl b178a3cd); the engine
    workers assert that it divides (utils/tensordict_utils.py:525 there)."""
    epochs = s.int(A + "ppo_epochs", 1)
    whole, rest = divmod(train_batch, mini_batch)
    if not rest:
        return whole * epochs, None
    where = f"data.train_batch_size {train_batch} is not a multiple of {A}ppo_mini_batch_size "
    if _engine(s):
        return whole * epochs, where + (
            f"{mini_batch}: verl's engine workers assert that it divides (verl/utils/"
            "tensordict_utils.py:525 at b178a3cd), so the run stops before its first update"
        )
    return (whole + 1) * epochs, where + (
        f"{mini_batch}: the legacy workers split it into {whole + 1} mini-batches, the last of "
        f"{rest} prompts (verl/workers/actor/dp_actor.py:541, protocol.py:925 at b178a3cd)"
    )


_RC = "algorithm.rollout_correction."
VERL_LOSS_KEYS = {  # the reducer's setting -> verl's config key (PolicyLossConfig, ActorConfig)
    "loss_agg_mode": A + "loss_agg_mode",
    "loss_scale_factor": A + "loss_scale_factor",
    "clip_ratio": A + "clip_ratio",
    "clip_ratio_low": A + "clip_ratio_low",
    "clip_ratio_high": A + "clip_ratio_high",
    "clip_ratio_c": A + "clip_ratio_c",
    "tau_pos": A + "tau_pos",
    "tau_neg": A + "tau_neg",
    **{k: A + "policy_loss." + k for k in ("clip_cov_ratio", "clip_cov_lb", "clip_cov_ub")},
    **{k: A + "policy_loss." + k for k in ("kl_cov_ratio", "ppo_kl_coef", "dro_beta")},
    **{k: _RC + k for k in ("rollout_is", "rollout_is_threshold", "rollout_is_batch_normalize")},
    **{k: _RC + k for k in ("rollout_rs", "rollout_rs_threshold", "bypass_mode", "loss_type")},
}


def verl_loss(s: Settings) -> LossReading:
    """``actor.policy_loss.loss_mode`` and its settings, reduced at the run's verl release."""
    key = A + "policy_loss.loss_mode"
    mode = s.str(key, "vanilla")
    check_loss_mode(key, mode, s.table.version)
    settings, keys = read_settings(s, "verl", s.table.version, VERL_LOSS_KEYS)
    return reduce_run("verl", s.table.version, key, mode, settings, keys, s.table.label)


def verl_entropy(s: Settings, agg: str) -> dict[str, Any]:
    """RunConfig's entropy fields: ``actor.entropy_coeff`` times the policy loss's own
    aggregation of the per-token entropies (read in 0.9.1; older releases: not modelled)."""
    if version_key(s.table.version) < version_key("0.9.1"):
        return {}
    where = (
        f"the policy loss's own: agg_loss(entropy, response_mask, {agg}, global batch info), "
        "then policy_loss -= entropy_coeff * entropy_loss (verl/workers/utils/losses.py:122-128 "
        "in 0.9.1)"
    )
    coef = check_float(A + "entropy_coeff", s.get(A + "entropy_coeff", 0.0))  # finite
    return {"entropy_coef": coef, "entropy_aggregation": agg, "entropy_normaliser": where}


def _verl_kl(s: Settings, pitfalls: list[str]) -> KLTerm:
    """The KL term: ``actor.use_kl_loss`` puts ``kl_loss_coef *
    kl_loss_type`` in the loss; ``algorithm.use_kl_in_reward`` puts ``kl_ctrl.kl_coef *
    kl_penalty`` in the token rewards (before the advantage). Appends pitfalls."""
    in_loss = s.bool(A + "use_kl_loss", False)
    in_reward = s.bool("algorithm.use_kl_in_reward", False)
    if in_reward:
        pitfalls.append(
            "algorithm.use_kl_in_reward: verl subtracts the KL from the token rewards before "
            "the advantage, so the group normalisation sees non-binary rewards"
        )
    if in_loss and in_reward:
        pitfalls.append("both actor.use_kl_loss and algorithm.use_kl_in_reward are on: two KLs")
    if in_loss:
        placement, estimator = "loss", s.str(A + "kl_loss_type", "low_var_kl")
        coef = s.float(A + "kl_loss_coef", 0.001)
    elif in_reward:
        placement, estimator = "reward", s.str("algorithm.kl_penalty", "kl")
        coef = s.float("algorithm.kl_ctrl.kl_coef", 0.001)
        if s.get("algorithm.kl_ctrl.type", "fixed") == "adaptive":
            pitfalls.append("algorithm.kl_ctrl.type is adaptive: kl_coef is only the start")
    else:
        return KLTerm()
    return KLTerm(placement, estimator, coef) if coef > 0 else KLTerm()


_OVERLONG = (  # where verl versions and recipes keep the DAPO overlong buffer
    "reward.reward_kwargs.overlong_buffer_cfg.",
    "reward_model.reward_kwargs.overlong_buffer_cfg.",
    "reward_model.overlong_buffer.",
)


def overlong_settings(s: Settings) -> tuple[str, dict[str, Any]] | None:
    """The DAPO overlong penalty, from any place verl and its recipes keep it
    (verl/workers/reward_manager/dapo.py:121-125 in 0.9.1): in words, and as RunConfig's
    overlong_* fields (numbers only); None when off."""
    for prefix in _OVERLONG:
        if not s.is_set(prefix + "enable"):
            continue
        enabled = s.bool(prefix + "enable", False)
        s.get(prefix + "log", False)  # only logs the penalty (read, so not listed as unknown)
        length = s.get(prefix + "len", None)
        factor = s.get(prefix + "penalty_factor", 1.0)
        max_len = s.get(prefix.rsplit("overlong", 1)[0] + "max_resp_len", None)
        if not enabled:  # its buffer settings are read and act on nothing (dapo.py:121)
            return None
        max_len = s.get("data.max_response_length", None) if max_len is None else max_len
        text = (
            f"DAPO overlong reward shaping is on (buffer {length} tokens, factor {factor}, max "
            f"length {max_len}): answers longer than max length - buffer lose up to {factor} "
            "reward, so rewards stop being binary for long answers"
        )
        if not all(type(x) in (int, float) for x in (length, factor)):  # e.g. ${...}, null
            return text, {}
        fields = {"overlong_buffer": float(length), "overlong_factor": float(factor)}
        return text, {**fields, "overlong_max_length": int_or_none(max_len)}
    return None


def overlong_shaping(s: Settings) -> str | None:
    """The DAPO overlong penalty in words, or None."""
    found = overlong_settings(s)
    return found and found[0]


def verl_rewards(s: Settings, extra: Any = None) -> tuple[bool | None, str]:
    """binary True / False / None (unknown), and why, from verl's reward settings."""
    shaping = overlong_shaping(s)
    manager = s.get("reward.reward_manager.name", None) or s.get(
        "reward_model.reward_manager", None
    )
    model = s.get("reward_model.enable", False) is True
    model = s.get("reward.reward_model.enable", False) is True or model
    custom = [
        (key, s.get(key, None) or s.undetermined.get(key))
        for key in ("custom_reward_function.path", "reward.custom_reward_function.path")
    ]
    if any(k in s.undetermined for k in ("reward_model.enable", "reward.reward_model.enable")):
        return None, "reward_model.enable is set to a value the file does not determine"
    if model:
        return False, "a reward model scores the answers (reward_model.enable): real-valued rewards"
    if shaping:
        return False, shaping
    for key, path in custom:
        if path:
            return None, f"{key}={path}: a custom reward function of unknown range"
    if manager == "dapo":
        return True, (
            "the DAPO reward manager scores 1 for a correct answer and -1 otherwise "
            "(verl/utils/reward_score/math_dapo.py:272 in 0.9.1): two values, an affine map of "
            "0/1 (GRPO's advantage is unchanged; linear rules take twice the step)"
        )
    return True, (
        "no reward model, custom reward function or shaping: verl's rule-based scorer for the "
        "data source (verl/utils/reward_score default_compute_score), 0/1 for GSM8K and MATH"
    )


def verl_normaliser(s: Settings, run: RunConfig) -> Normaliser:
    """Answers sharing one token-mean normaliser: the mini-batch (engine workers, verl >= 0.8
    or ``trainer.use_legacy_worker_impl=disable``) or one GPU's micro-batch (legacy workers)."""
    agg = run.aggregation
    reduced = reduced_factor(run)
    if reduced is not None and reduced[0] != "token-mean":
        return Normaliser(reduced[0], None, reduced[1])
    if reduced is None and agg != "token-mean":
        factor = {"seq-mean-token-mean": "1/L", "seq-mean-token-sum-norm": "1/L_max"}
        return Normaliser(factor.get(agg, "1"), None, f"{A}loss_agg_mode={agg}")
    if _engine(s):
        answers = s.int(A + "ppo_mini_batch_size", 256) * run.group_size
        return Normaliser(
            "token-mean",
            answers,
            "the tokens of the whole mini-batch, ppo_mini_batch_size x rollout.n answers "
            "(verl/workers/engine/fsdp/transformer_impl.py:729-733 sums the mini-batch's tokens "
            "over data-parallel ranks; verl/trainer/ppo/core_algos.py:1170-1175 in 0.9.1)",
        )
    micro = s.get(A + "ppo_micro_batch_size_per_gpu", None)
    dynamic = s.get(A + "use_dynamic_bsz", False) is True
    where = (
        "the tokens of one GPU's micro-batch (legacy workers: verl/workers/actor/dp_actor.py "
        "calls the policy loss per micro-batch, whose agg_loss divides by that micro-batch's "
        "tokens; core_algos.py:621 in 0.4.1)"
    )
    if dynamic or not isinstance(micro, int):
        return Normaliser("token-mean", None, where + "; its size is not fixed by the config")
    return Normaliser("token-mean", float(micro), where)


RECORD = Framework(
    name="verl",
    title="verl",
    data="verl",
    programs=("verl.trainer.main_*", "verl.recipe.*", "recipe.*.main_*", "recipe.*"),
    markers=("algorithm.*", "actor_rollout_ref.*"),
    arguments="hydra",
    read=read_verl,
    rewards=verl_rewards,
    normaliser=verl_normaliser,
    rule=RULE,
    active=verl_active,
    pin=verl_pin,
    tools=(
        ("verl.trainer.main_generation*", "verl's generation entry point (it samples answers)"),
        ("verl.trainer.main_eval", "verl's evaluation entry point (it scores saved answers)"),
        ("recipe.*.main_eval", "a recipe's evaluation entry point (it scores saved answers)"),
        ("recipe.*.main_generation*", "a recipe's generation entry point (it samples answers)"),
        ("recipe.*.data_process*", "a recipe's data preparation script"),
    ),
)
