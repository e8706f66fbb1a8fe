"""Open-Instruct (allenai/open-instruct, ``grpo_fast.py``): advantage rule, reader and record.

Keys are the dataclass fields ``grpo_fast.py`` parses into flags (``--beta 0.0``,
``--num_samples_per_prompt_rollout 16``, bools as ``--flag True`` / ``--flag``; a field that
defaults to True also has ``--no_<field>``), from ``python open_instruct/grpo_fast.py ...``,
usually under ``python mason.py [Beaker flags] -- ...``. Advantage (data_loader.py:1414-1426 in
v0.3.0): the scores are verification_reward x r for a binary verifier (ground_truth_utils.py:1303,
reward_mult = verification_reward at :1372); "centered" A = s - group mean, "standard" A = (s -
mean) / (population std + 1e-8). Updates per rollout: num_mini_batches x num_epochs
(grpo_fast.py:601-608, 650).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core import schemes as sch
from rlxform.core.registry import Counts, Scheme, register
from rlxform.frameworks.advantages import reject_unused
from rlxform.frameworks.common import Clip, KLTerm, RunConfig, Settings, StdNorm
from rlxform.frameworks.losses import LossReading
from rlxform.frameworks.record import AdvantageRule, Framework, Normaliser
from rlxform.types import NDArray
from rlxform.validation import InputError, check_choice, check_float

OPEN_INSTRUCT_NORMALIZATION = ("centered", "standard")
OPEN_INSTRUCT_STD_EPSILON = 1e-8  # data_loader.py:1424: / (std_grouped_rewards + 1e-8)
KL_ESTIMATORS = {0: "k1", 1: "k2", 2: "k3", 3: "k1_ratio"}  # model_utils.py:811-818


@register(
    "open_instruct",
    "a = v (1 - S/M), b = -v S/M: the mean baseline on scores v r (verification_reward v)",
    lambda scale, **_: (bern.scaled(bern.identity, scale), f"{scale:g} p"),
    min_group_size=1,
)
def open_instruct_rule(c: Counts, scale: float):
    return scale * (1.0 - c.q), -scale * c.q


def from_open_instruct(
    estimator: str = "centered", verification_reward: float = 10.0, **unused: Any
) -> Scheme:
    """The scheme of ``advantage_normalization_type`` for a binary verifier scored v r, v > 0.

    "centered": v (r - mean) (the mean baseline times v: the same objective, a step v times
    larger); "standard": (r - mean) / (population std + 1e-8 / v) = GRPO, population std, eps
    1e-8 / v (the scale moves into the eps).
    """
    reject_unused("open_instruct", unused, "verification_reward")
    estimator = check_choice("estimator", estimator, OPEN_INSTRUCT_NORMALIZATION)
    v = check_float("verification_reward", verification_reward, 0.0, low_open=True)
    if estimator == "standard":
        return sch.grpo("population", OPEN_INSTRUCT_STD_EPSILON / v)
    return sch.mean_baseline() if v == 1.0 else Scheme.make("open_instruct", scale=v)


def open_instruct_advantages(estimator: str, g: NDArray, lengths: NDArray, get) -> NDArray:
    """Open-Instruct v0.3.0 advantages of rewards ``g`` (``float64[G, M]``, verifier scores)."""
    estimator = check_choice("advantage_normalization_type", estimator, OPEN_INSTRUCT_NORMALIZATION)
    scores = check_float("verification_reward", get("verification_reward")) * g
    flat = np.ptp(scores, axis=1, keepdims=True) == 0  # all equal: exactly 0 (the trainer's too)
    centred = np.where(flat, 0.0, scores - scores.mean(1, keepdims=True))
    if estimator == "centered":
        return centred
    return centred / (scores.std(1, keepdims=True) + OPEN_INSTRUCT_STD_EPSILON)


# ---- the config reader ---------------------------------------------------------------------


def _no_flags(s: Settings) -> None:
    """``--no_<field>`` (HfArgumentParser's store_false twin of a True bool) sets the field."""
    for key in [k for k in s.values if k.startswith("no_") and s.table.has(k[3:])]:
        value = s.values.pop(key)
        if s.table.type_of(key[3:]) == "bool" and value in (True, "True", "true"):
            s.values[key[3:]] = False


def read_open_instruct(s: Settings) -> RunConfig:
    """grpo_fast.py's flags (GRPOExperimentConfig, StreamingDataLoaderConfig, ...)."""
    _no_flags(s)
    estimator = s.modelled(
        "advantage_normalization_type",
        "centered",
        OPEN_INSTRUCT_NORMALIZATION,
        "Open-Instruct",
        "verifiable rewards",
    )
    group_size = s.int("num_samples_per_prompt_rollout", 4)
    v = s.float("verification_reward", 10.0)
    filtered = s.bool("filter_zero_std_samples", True)
    active = s.bool("active_sampling", False)
    if group_size == 1 and filtered:
        raise InputError(
            "num_samples_per_prompt_rollout=1 is invalid with filter_zero_std_samples=True: "
            "Open-Instruct refuses it (data_loader.py __post_init__: every group has std 0)"
        )
    if active and not filtered:
        raise InputError(
            "active_sampling=True is invalid with filter_zero_std_samples=False: Open-Instruct "
            "asserts the filter is on (data_loader.py __post_init__)"
        )
    pitfalls = []
    if v <= 0:
        raise InputError(
            f"verification_reward={v!r} is not modelled by rlxform: it models v > 0 (a correct "
            "answer scores v, a wrong one 0)"
        )
    if estimator == "centered" and v != 1.0:
        pitfalls.append(
            f"verification_reward = {v:g}: a correct answer scores {v:g}, so the centered "
            f"advantage is {v:g} x (r - group mean): the mean baseline's objective with a step "
            f"{v:g} times larger (as a learning rate {v:g} times larger)"
        )
    if filtered and not active:
        pitfalls.append(
            "filter_zero_std_samples (on by default) drops groups whose M scores are equal "
            "(data_loader.py:815) and does not replace them: the step trains on fewer groups "
            "and the token-mean counts only the kept ones. Their advantages are 0 anyway, so "
            "only the step size changes: exactly (rlxform.core.dynamic.step_factors) each "
            "prompt's update is scaled by c_x = E[1 / kept groups]; for large batches ascent "
            "on h_M with the step scaled by 1 / (1 - d), d the share of all-equal groups"
        )
    loss_denominator = s.get("loss_denominator", "token")
    aggregation = _aggregation(loss_denominator)
    updates = s.int("num_mini_batches", 1) * s.int("num_epochs", 1)
    beta = s.float("beta", 0.05)
    kl_index = s.int("kl_estimator", 2, low=0)
    if kl_index not in KL_ESTIMATORS:
        raise InputError(f"kl_estimator={kl_index!r} is invalid: must be one of 0, 1, 2, 3")
    kl_on = beta > 0 and s.bool("load_ref_policy", True)
    if beta > 0 and not kl_on:
        pitfalls.append("beta > 0 but load_ref_policy is False: no reference model, no KL term")
    return RunConfig(
        estimator=estimator,
        group_size=group_size,
        std=StdNorm.of(estimator == "standard", OPEN_INSTRUCT_STD_EPSILON, "group"),
        aggregation=aggregation,
        updates_per_rollout=updates,
        clip=Clip(s.float("clip_lower", 0.2), s.float("clip_higher", 0.272)),
        kl=KLTerm("loss", KL_ESTIMATORS[kl_index], beta) if kl_on else KLTerm(),
        dynamic_sampling=filtered and active,
        scheme_params=(("verification_reward", v),),
        pitfalls=tuple(pitfalls),
        max_length=s.int("response_length", 256),
        loss=LossReading(
            "loss_fn",
            str(s.get("loss_fn", "dapo")),
            s.table.label,
            None,
            "rlxform's loss-mode reducer (rlxform.core.loss_modes) covers verl, TRL and "
            "OpenRLHF; Open-Instruct's dapo loss is the PPO clip with clip_lower / clip_higher "
            "(open_instruct/grpo_utils.py:512-516 in v0.3.0), whose gradient on the first update "
            "(ratio 1) is -A grad log pi; cispo (:517-521) is listed under Not modelled",
        ),
    )


def _aggregation(denominator: Any) -> str:
    if denominator == "token":
        return "token-mean"
    try:
        float(denominator)
    except (TypeError, ValueError):
        raise InputError(
            f"loss_denominator={denominator!r} is invalid: must be 'token' or a number"
        ) from None
    return "token-sum-constant"


def open_instruct_rewards(s: Settings, extra: Any = None) -> tuple[bool | None, str]:
    """binary True / False / None from the reward switches (StreamingDataLoaderConfig)."""
    reasons = []
    if s.get("apply_r1_style_format_reward", False) is True:
        how = "added to" if s.get("additive_format_reward", False) is True else "combined with"
        reasons.append(f"an R1-style format reward ({s.get('r1_style_format_reward', 1.0)}) {how}")
    if s.get("non_stop_penalty", False) is True:
        reasons.append(f"truncated answers get {s.get('non_stop_penalty_value', 0.0)}")
    if s.get("apply_evolving_rubric_reward", False) is True:
        reasons.append("evolving rubric rewards")
    if s.get("apply_verifiable_reward", True) is not True:
        reasons.append("apply_verifiable_reward is off (no verifier score)")
    if reasons:
        return False, "; ".join(reasons) + ": rewards are not two-valued"
    if s.get("remap_verifier", None):
        return None, f"remap_verifier={s.get('remap_verifier')}: a verifier of unknown range"
    v = s.get("verification_reward", 10.0)
    return True, (
        f"a verifier scores verification_reward = {v:g} for a correct answer and 0 otherwise "
        "(ground_truth_utils.py:1303, 1372 in v0.3.0; math and GSM8K verifiers; code and "
        "LLM-judge verifiers score fractions): two values, v times 0/1, so the step is v times "
        "that of 0/1 rewards for the centered advantage and unchanged for the standard one"
    )


def open_instruct_normaliser(s: Settings, run: RunConfig) -> Normaliser:
    """loss_denominator "token": the tokens of one accumulation group (one optimizer step,
    summed over ranks: grpo_utils.py:651-671, grpo_fast.py:654-666, 719) = the kept rollout
    batch / num_mini_batches; a number: a constant."""
    if run.aggregation != "token-mean":
        return Normaliser(
            "1/L_max",
            None,
            f"loss_denominator={s.get('loss_denominator')}: token sums over a constant "
            "(grpo_fast.py:656-659, 719: Dr. GRPO style)",
        )
    answers = s.int("num_unique_prompts_rollout", 16) * run.group_size
    answers /= s.int("num_mini_batches", 1)
    filtered = s.get("filter_zero_std_samples", True) is True
    kept = " of the groups kept by filter_zero_std_samples" if filtered else ""
    return Normaliser(
        "token-mean",
        float(answers),
        "the tokens of one optimizer step, num_unique_prompts_rollout x M / num_mini_batches "
        f"answers{kept} (grpo_utils.py:651-671 sums them over ranks; grpo_fast.py:719 divides "
        "by them, in v0.3.0)",
    )


RECORD = Framework(
    name="open_instruct",
    title="Open-Instruct",
    data="open_instruct",
    programs=("open_instruct/grpo_fast.py", "*/open_instruct/grpo_fast.py", "grpo_fast.py"),
    markers=(
        "num_samples_per_prompt_rollout",
        "num_unique_prompts_rollout",
        "advantage_normalization_type",
        "verification_reward",
        "filter_zero_std_samples",
        "apply_verifiable_reward",
    ),
    arguments="argparse",
    read=read_open_instruct,
    rewards=open_instruct_rewards,
    normaliser=open_instruct_normaliser,
    rule=AdvantageRule(
        estimators=OPEN_INSTRUCT_NORMALIZATION,
        key="advantage_normalization_type",
        default="centered",
        advantages=open_instruct_advantages,
        settings={"verification_reward": 10.0},
        scheme=from_open_instruct,
    ),
)
