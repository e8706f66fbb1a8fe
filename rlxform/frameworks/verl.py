"""verl: its advantage rule (registered as the scheme "verl"), config reader and record.

Keys are Hydra paths (``actor_rollout_ref.rollout.n``), from a composed YAML, or from the
overrides of ``python3 -m verl.trainer.main_ppo`` / ``recipe.<name>.main_<name>``. Updates per
rollout: data.train_batch_size // actor.ppo_mini_batch_size * actor.ppo_epochs (both sizes count
prompts). Advantage: ``verl.trainer.ppo.core_algos.compute_*_outcome_advantage`` (0.9.1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core import schemes as sch
from rlxform.core.registry import Counts, Scheme, floored_std, p_limit, register
from rlxform.core.xp import namespace
from rlxform.frameworks.advantages import check_bool, reject_unused
from rlxform.frameworks.common import RunConfig, Settings, check_modelled, std_fields
from rlxform.frameworks.losses import LossReading, read_settings, reduce_run, reduced_factor
from rlxform.frameworks.record import Framework, Normaliser
from rlxform.frameworks.tables import version_key
from rlxform.types import ArrayLike, NDArray
from rlxform.validation import InputError, check_choice, check_float

VERL_ESTIMATORS = ("grpo", "grpo_vectorized", "rloo", "rloo_vectorized", "grpo_passk")
VERL_STD_EPSILON = 1e-6  # core_algos.compute_grpo_outcome_advantage(epsilon=1e-6)
VERL_LOSS_AGG = (
    "token-mean",
    "token-sum",
    "seq-mean-token-sum",
    "seq-mean-token-mean",
    "seq-mean-token-sum-norm",
)
A = "actor_rollout_ref.actor."
R = "actor_rollout_ref.rollout."

# ---- the rule (registered under the name "verl") -----------------------------------------------


def _verl_limit(estimator, norm_adv_by_std_in_grpo, epsilon):
    if estimator == "grpo_passk":
        return None, None
    if estimator == "grpo_vectorized" and norm_adv_by_std_in_grpo and epsilon > 0:
        name = f"int_0^p dt / (sqrt(max(t(1-t), {epsilon:g})) + {epsilon:g})"
        return bern.floored_grpo_objective(epsilon), name
    if estimator.startswith("grpo") and norm_adv_by_std_in_grpo:
        return sch.grpo_limit(eps=epsilon)
    return p_limit()


@register(
    "verl",
    "verl 0.9.1 core_algos advantage for binary outcome rewards",
    _verl_limit,
    min_group_size=lambda estimator, **_: 2 if estimator == "grpo_passk" else 1,
    eps="epsilon",
    centred=lambda c, estimator, epsilon, **_: verl_rule(c, estimator, False, epsilon),
    std_kind="sample",
)
def verl_rule(c: Counts, estimator: str, norm_adv_by_std_in_grpo: bool, epsilon: ArrayLike):
    """verl 0.9.1 core_algos conventions for binary outcome rewards."""
    normalised = estimator.startswith("grpo") and norm_adv_by_std_in_grpo
    zeros = np.zeros(c.m + 1)
    if c.m == 1:  # singleton group: mean 0, std 1 (grpo*), or A = r (rloo), 0 (rloo_vectorized)
        if estimator == "rloo_vectorized":
            return zeros, zeros
        if normalised:
            return namespace(epsilon).where(c.s == 1, 1.0 / (1.0 + epsilon), 0.0), zeros
        return np.array([0.0, 1.0]), zeros
    if estimator in ("rloo", "rloo_vectorized"):
        return sch.rloo_rule(c)
    if estimator == "grpo_passk":  # the single correct sample gets r_max - r_second_max
        a_table = np.where(c.s == 1, 1.0, 0.0)
        return (a_table / (c.std("sample")[1] + epsilon) if normalised else a_table), zeros
    if not normalised:
        return sch.mean_baseline_rule(c)
    sd = c.std("sample")
    if estimator == "grpo_vectorized":  # group_mean_std floors the variance at eps
        sd = floored_std(sd, epsilon)
    return sch.normalised_rule(c, sd, epsilon)


def from_verl(
    estimator: str,
    norm_adv_by_std_in_grpo: bool = True,
    epsilon: float = VERL_STD_EPSILON,
    **unused: Any,
) -> Scheme:
    """The scheme verl 0.9.1 runs for ``algorithm.adv_estimator=estimator`` (binary rewards).

    grpo / grpo_vectorized: (r - mean) / (std_Bessel + epsilon), or r - mean when
    ``norm_adv_by_std_in_grpo=False``; a group of one gets mean 0, std 1. rloo: r - mean of the
    others (rloo keeps A = r for a group of one, rloo_vectorized gives 0). grpo_passk: only the
    best sample gets r_max - r_second_max (over std + epsilon when normalising), M >= 2.
    Reference: ``verl.trainer.ppo.core_algos.compute_*_outcome_advantage``.
    """
    estimator = check_choice("estimator", estimator, VERL_ESTIMATORS)
    reject_unused("verl", unused, "norm_adv_by_std_in_grpo, epsilon")
    norm = check_bool("norm_adv_by_std_in_grpo", norm_adv_by_std_in_grpo)
    return Scheme.make(
        "verl",
        estimator=estimator,
        norm_adv_by_std_in_grpo=norm if estimator.startswith("grpo") else False,
        epsilon=check_float("epsilon", epsilon, 0.0),
    )


def verl_advantages(estimator: str, g: NDArray, lengths: NDArray, get) -> NDArray:
    """verl 0.9.1 ``compute_*_outcome_advantage`` for groups ``g`` (``float64[G, M]``)."""
    estimator = check_choice("estimator", estimator, VERL_ESTIMATORS)
    norm = check_bool("norm_adv_by_std_in_grpo", get("algorithm.norm_adv_by_std_in_grpo"))
    eps = check_float("epsilon", get("epsilon"), 0.0)
    m = g.shape[1]
    if estimator == "grpo_passk" and m < 2:
        raise InputError(f"group_size={m!r} is invalid for grpo_passk: must be >= 2")
    if estimator in ("rloo", "rloo_vectorized"):
        if m == 1:
            return g.copy() if estimator == "rloo" else np.zeros_like(g)
        return g * m / (m - 1) - g.mean(1, keepdims=True) * m / (m - 1)
    mean = g.mean(1, keepdims=True) if m > 1 else np.zeros((g.shape[0], 1))
    std = g.std(1, ddof=1, keepdims=True) if m > 1 else np.ones((g.shape[0], 1))
    if estimator == "grpo_passk":
        out = np.zeros_like(g)
        rows = np.arange(g.shape[0])
        top2 = np.sort(g, axis=1)[:, -2:]
        gap = top2[:, 1] - top2[:, 0]
        out[rows, np.argmax(g, axis=1)] = gap / (std[:, 0] + eps) if norm else gap
        return out
    if not norm:
        return g - mean
    if estimator == "grpo_vectorized" and m > 1:
        std = np.sqrt(np.maximum(std**2, eps))
    return (g - mean) / (std + eps)


# ---- the config reader ---------------------------------------------------------------------


def read_verl(s: Settings) -> RunConfig:
    """verl's composed trainer config (``algorithm``, ``actor_rollout_ref``, ``data``)."""
    estimator = s.str("algorithm.adv_estimator", "gae")
    check_modelled(
        "algorithm.adv_estimator",
        estimator,
        VERL_ESTIMATORS,
        "verl",
        not s.is_set("algorithm.adv_estimator"),
        "binary outcome rewards",
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
    updates = train_batch // mini_batch * s.int(A + "ppo_epochs", 1)
    clip_ratio = s.float(A + "clip_ratio", 0.2)
    clip_low = s.float(A + "clip_ratio_low", 0.2)
    clip_high = s.float(A + "clip_ratio_high", 0.2)
    clip_low = clip_ratio if clip_low is None else clip_low
    clip_high = clip_ratio if clip_high is None else clip_high
    pitfalls = []
    if s.is_set(A + "clip_ratio") and not (
        s.is_set(A + "clip_ratio_low") and s.is_set(A + "clip_ratio_high")
    ):
        pitfalls.append(
            f"{A}clip_ratio={clip_ratio:g} is written, but clip_ratio_low/clip_ratio_high "
            "(default 0.2, not null) take precedence: clip_ratio alone does not change the "
            f"clip range, which is [1 - {clip_low:g}, 1 + {clip_high:g}]"
        )
    placement, kl_est, kl_coef = _verl_kl(s, pitfalls)
    dynamic = s.bool("algorithm.filter_groups.enable", False)
    program = getattr(s, "program", None) or ""
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
    shaping = overlong_shaping(s)
    loss = verl_loss(s)
    return RunConfig(
        framework="verl",
        version=s.table.label,
        estimator=estimator,
        group_size=group_size,
        **std_fields(normalised, VERL_STD_EPSILON, "group"),
        aggregation=agg,
        updates_per_rollout=updates,
        clip_low=clip_low,
        clip_high=clip_high,
        kl_placement=placement,
        kl_estimator=kl_est,
        kl_coef=kl_coef,
        dynamic_sampling=dynamic,
        scheme_params=(("norm_adv_by_std_in_grpo", norm),),
        reward_shaping=shaping,
        pitfalls=tuple(pitfalls),
        max_length=_int_or_none(s.get("data.max_response_length", None)),
        loss=loss,
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
    settings, keys = read_settings(s, "verl", s.table.version, VERL_LOSS_KEYS)
    return reduce_run("verl", s.table.version, key, mode, settings, keys, s.table.label)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _verl_kl(s: Settings, pitfalls: list[str]) -> tuple[str, str | None, float]:
    """(placement, estimator, coefficient): ``actor.use_kl_loss`` puts ``kl_loss_coef *
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
        return "none", None, 0.0
    return (placement, estimator, coef) if coef > 0 else ("none", None, 0.0)


_OVERLONG = (  # where verl versions and recipes keep the DAPO overlong buffer
    "reward.reward_kwargs.overlong_buffer_cfg.",
    "reward_model.reward_kwargs.overlong_buffer_cfg.",
    "reward_model.overlong_buffer.",
)


def overlong_shaping(s: Settings) -> str | None:
    """The DAPO overlong penalty, from any place verl and its recipes keep it, or None."""
    for prefix in _OVERLONG:
        if not s.is_set(prefix + "enable"):
            continue
        if not s.bool(prefix + "enable", False):
            return None
        length = s.get(prefix + "len", None)
        factor = s.get(prefix + "penalty_factor", 1.0)
        kwargs = prefix.rsplit("overlong", 1)[0]
        max_len = s.get(kwargs + "max_resp_len", None)
        if max_len is None:
            max_len = s.get("data.max_response_length", None)
        return (
            f"DAPO overlong reward shaping is on (buffer {length} tokens, factor {factor}, max "
            f"length {max_len}): answers longer than max length - buffer lose up to {factor} "
            "reward, so rewards stop being binary for long answers"
        )
    return None


def verl_rewards(s: Settings, extra: Any = None) -> tuple[bool | None, str]:
    """binary True / False / None (unknown), and why, from verl's reward settings."""
    shaping = overlong_shaping(s)
    manager = s.get("reward.reward_manager.name", None) or s.get(
        "reward_model.reward_manager", None
    )
    model = s.get("reward_model.enable", False) is True
    model = s.get("reward.reward_model.enable", False) is True or model
    custom = [
        (key, s.get(key, None))
        for key in ("custom_reward_function.path", "reward.custom_reward_function.path")
    ]
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
    engine = version_key(s.table.version) >= version_key("0.8") or (
        s.get("trainer.use_legacy_worker_impl", "auto") == "disable"
    )
    if engine:
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
    estimators=VERL_ESTIMATORS,
    estimator_key="algorithm.adv_estimator",
    default_estimator="gae",
    advantage=verl_advantages,
    advantage_keys={"algorithm.norm_adv_by_std_in_grpo": True, "epsilon": VERL_STD_EPSILON},
    scheme=from_verl,
    scheme_names=tuple(f"verl:{e}" for e in VERL_ESTIMATORS),
)
