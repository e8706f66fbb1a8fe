"""ROLL (Alibaba, v0.3.0) RLVR advantage rule, restated in NumPy, and its per-group scheme.

Per domain, in the pipeline's order (roll/pipeline/rlvr/rlvr_pipeline.py:680-723):
``difficulty_mask`` (roll/utils/functionals.py:603-611), ``reward_norm`` (:564-600; ``grpo``
forces group mean and std, :655-656), ``reward_clip`` (:667-673), return-to-go with gamma
(:488), ``whiten_advantages`` over the kept tokens (:1177-1180, 364-370), ``advantage_clip``
(:1182-1185). The reader and record are in ``frameworks.roll``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.core.group_norm import group_norm
from rlxform.frameworks.advantages import check_bool
from rlxform.frameworks.batch_steps import roll_whiten
from rlxform.frameworks.record import AdvantageRule
from rlxform.types import NDArray
from rlxform.validation import InputError, check_choice, check_float

ROLL_ESTIMATORS = ("reinforce", "grpo")
ROLL_STD_EPSILON = 1e-6  # reward_norm: (r - mean) / (std + 1e-6)
NORM_TYPES = ("batch", "group", None)
ROLL_LOSS_AGG = (
    "token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-mean",
    "seq-mean-token-sum-norm",
)


def _norm_types(estimator: str, mean: Any, std: Any) -> tuple[Any, Any]:
    """(mean type, std type) as the pipeline runs them; refuses what ROLL cannot run."""
    if estimator == "grpo":
        return "group", "group"  # reward_postprocess overwrites both (functionals.py:655-656)
    for key, value in (("norm_mean_type", mean), ("norm_std_type", std)):
        if value == "running":
            raise InputError(
                f"{key}='running' is not modelled by rlxform: ROLL's running statistics carry "
                "memory across steps (functionals.py:568-580); rlxform models batch, group, None"
            )
        if value is not None:
            check_choice(key, value, ("batch", "group"))
    if std == "group" and mean != "group":
        raise InputError(
            f"norm_std_type='group' with norm_mean_type={mean!r} is invalid: ROLL v0.3.0 "
            "divides the [B] rewards by a [B/M, 1] group std, which broadcasts to [B/M, B] and "
            "fails in expand_to_token_level (functionals.py:583-600); must use "
            "norm_mean_type='group' with a group std"
        )
    return mean, std


def roll_advantages(estimator: str, g: NDArray, lengths: NDArray, get) -> NDArray:
    """ROLL v0.3.0 RLVR advantages of groups ``g`` (``float64[G, M]``), per response."""
    estimator = check_choice("adv_estimator", estimator, ROLL_ESTIMATORS)
    mean_type, std_type = _norm_types(estimator, get("norm_mean_type"), get("norm_std_type"))
    for key in ("whiten_rewards", "add_token_level_kl", "max_len_mask", "error_max_len_clip"):
        if check_bool(key, get(key)):
            raise InputError(
                f"{key}=True is not modelled by rlxform's ROLL advantage: it needs token-level "
                "rewards, log-probabilities or the length limit; must be False"
            )
    if check_float("gamma", get("gamma")) != 1.0:
        raise InputError(
            f"gamma={get('gamma')!r} is invalid here: rlxform restates ROLL's return for "
            "gamma = 1 (every token of an answer gets its reward)"
        )
    m = g.shape[1]
    kept = np.ones_like(g)
    if check_bool("difficulty_mask", get("difficulty_mask")) and m > 1:
        low = check_float("difficulty_low_threshold", get("difficulty_low_threshold"))
        high = check_float("difficulty_high_threshold", get("difficulty_high_threshold"))
        score = g.mean(1, keepdims=True)
        kept = np.broadcast_to((score > low) & (score < high), g.shape).astype(np.float64)
    if mean_type == "batch":
        mean = g.mean()
    elif mean_type == "group":
        mean = g.mean(1, keepdims=True)
    else:
        mean = 0.0
    values = g - mean
    if std_type == "batch":
        values = values / (g.std(ddof=1) + ROLL_STD_EPSILON)
    elif std_type == "group":
        values = values / (g.std(1, ddof=1, keepdims=True) + ROLL_STD_EPSILON)
    reward_clip = get("reward_clip")
    if reward_clip:  # `if pipeline_config.reward_clip:` (0 and None are off)
        clip = check_float("reward_clip", reward_clip, 0.0)
        values = np.clip(values, -clip, clip)
    values, kept, flat_lengths = values.reshape(-1), kept.reshape(-1), lengths.reshape(-1)
    if check_bool("whiten_advantages", get("whiten_advantages")):
        values = roll_whiten(values, flat_lengths, kept)
    values = values * kept
    advantage_clip = get("advantage_clip")
    if advantage_clip is not None:
        clip = check_float("advantage_clip", advantage_clip, 0.0)
        values = np.clip(values, -clip, clip)
    return values.reshape(g.shape)


def from_roll(
    estimator: str = "reinforce",
    *,
    norm_mean_type: Any = None,
    norm_std_type: Any = None,
    clip: float | None = None,
    keep: tuple[float, float] | None = None,
) -> Any:
    """The per-group scheme of a ROLL run (binary rewards): its group mean / std (a batch mean
    or std is a constant in the large-batch limit: no mean, no std here), the clip of the
    normalised reward and the difficulty mask (lo, hi) on the group's mean score."""
    estimator = check_choice("estimator", estimator, ROLL_ESTIMATORS)
    mean_type, std_type = _norm_types(estimator, norm_mean_type, norm_std_type)
    return group_norm(
        "group" if mean_type == "group" else "none",
        "group" if std_type == "group" else "none",
        eps=ROLL_STD_EPSILON,
        clip=clip,
        keep=keep,
    )


def clips(reward_clip, advantage_clip, whiten, batch_level, mean_type, std_type):
    """(the per-group clip the scheme takes, not-modelled entries for clips on batch values)."""
    kept, extra = [], []
    per_group = not batch_level
    bounded = std_type is None  # raw or mean-centred 0/1 rewards stay in [-1, 1]
    if reward_clip:
        value = float(reward_clip)
        if bounded and value >= 1.0:
            pass  # 0/1 rewards, raw or minus a mean, stay in [-1, 1]: the clip never binds
        elif per_group:
            kept.append(value)
        else:
            extra.append(_clip_entry("reward_clip", value, "the batch-normalised reward"))
    if advantage_clip is not None:
        value = float(advantage_clip)
        if whiten:
            extra.append(_clip_entry("advantage_clip", value, "the whitened advantage"))
        elif bounded and value >= 1.0:
            pass
        elif per_group:
            kept.append(value)
        else:
            extra.append(_clip_entry("advantage_clip", value, "the batch-normalised advantage"))
    return (min(kept) if kept else None), extra


def _clip_entry(key: str, value: float, what: str) -> dict[str, Any]:
    return {
        "key": key,
        "value": value,
        "effect": (
            f"clamps {what} to [-{value:g}, {value:g}]: where the batch statistics make it "
            "larger, the rarest answers lose weight; the bound depends on the batch, not on "
            "the group alone"
        ),
    }


RULE = AdvantageRule(
    estimators=ROLL_ESTIMATORS,
    key="adv_estimator",
    default="gae",
    advantages=roll_advantages,
    settings={
        "norm_mean_type": None,
        "norm_std_type": None,
        "reward_clip": None,
        "advantage_clip": None,
        "whiten_advantages": False,
        "whiten_rewards": False,
        "difficulty_mask": False,
        "difficulty_low_threshold": 0.0,
        "difficulty_high_threshold": 1.0,
        "gamma": 1.0,
        "add_token_level_kl": False,
        "max_len_mask": False,
        "error_max_len_clip": False,
    },
    scheme=from_roll,
)
