"""TRL 1.16.0 GRPOTrainer's advantage rule: ``from_trl`` and ``trl_advantages``.

TRL has one rule, named by ``scale_rewards``: A = r - group mean, divided by the group's std
+ 1e-4 ("group"), the generation batch's ("batch": not a per-group rule; its large-batch limit
is the ``batch_std`` scheme) or nothing ("none"). The reader and record are in
``frameworks.trl`` (Unsloth runs the same trainer).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.core import schemes as sch
from rlxform.frameworks.advantages import reject_unused
from rlxform.frameworks.record import AdvantageRule
from rlxform.frameworks.schemes import BATCH_DENOMINATORS, batch_scheme
from rlxform.types import NDArray
from rlxform.validation import InputError

TRL_SCALE_REWARDS = ("group", "batch", "none")
TRL_STD_EPSILON = 1e-4  # GRPOTrainer: advantages / (std + 1e-4), not configurable
# scale_rewards="batch" divides by sigma + 1e-4 (Unsloth runs TRL's GRPOTrainer)
BATCH_DENOMINATORS["trl"] = BATCH_DENOMINATORS["unsloth"] = lambda sigma: sigma + TRL_STD_EPSILON


def normalise_scale_rewards(scale_rewards: Any) -> str:
    """TRL's ``scale_rewards``: True -> "group", False -> "none" (GRPOConfig.__post_init__)."""
    if scale_rewards is True:
        return "group"
    if scale_rewards is False:
        return "none"
    if scale_rewards not in TRL_SCALE_REWARDS:
        raise InputError(
            f"scale_rewards={scale_rewards!r} is invalid: must be one of group, batch, none, "
            "True (= group), False (= none)"
        )
    return scale_rewards


def from_trl(
    scale_rewards: str | bool = "group", *, batch_std: float | None = None, **unused: Any
) -> sch.Scheme:
    """TRL 1.16.0 GRPOTrainer: A = r - group mean, divided per ``scale_rewards``.

    "group" (or True): / (std_Bessel of the group + 1e-4); "none" (or False): no division;
    "batch": / (std_Bessel of all rewards in the generation batch + 1e-4), not a per-group rule:
    pass ``batch_std`` = sigma (see ``batch_std_limit``) for its large-batch limit, the mean
    baseline over (sigma + 1e-4). The 1e-4 is hard-coded in TRL (GRPOConfig.epsilon is the clip).
    """
    if "epsilon" in unused:
        raise InputError(
            f"epsilon={unused['epsilon']!r} is invalid: TRL's std epsilon is hard-coded to 1e-4 "
            "(GRPOConfig.epsilon is the PPO clip range, which does not change the scheme)"
        )
    reject_unused("trl", unused, "scale_rewards, batch_std")
    scale = normalise_scale_rewards(scale_rewards)
    if scale == "none":
        return sch.mean_baseline()
    if scale == "group":
        return sch.grpo(std="sample", eps=TRL_STD_EPSILON)
    return batch_scheme("trl", "batch", batch_std, "scale_rewards='batch'")


def trl_advantages(estimator: Any, g: NDArray, lengths: NDArray, get) -> NDArray:
    """TRL 1.16.0 GRPOTrainer: (r - group mean) / (std + 1e-4) per ``scale_rewards``."""
    scale = normalise_scale_rewards(estimator)
    centred = g - g.mean(1, keepdims=True)
    if scale == "none":
        return centred
    if scale == "group":
        std = g.std(1, ddof=1, keepdims=True) if g.shape[1] > 1 else np.zeros((g.shape[0], 1))
    else:
        std = np.full((g.shape[0], 1), g.std(ddof=1) if g.size > 1 else 0.0)
    return centred / (std + TRL_STD_EPSILON)


RULE = AdvantageRule(
    estimators=TRL_SCALE_REWARDS,
    key="scale_rewards",
    default="group",
    advantages=trl_advantages,
    settings={},
    scheme=from_trl,
    scheme_estimators=("group", "none"),  # "batch" is no per-group rule
)


def check_loss_type(s: Any) -> None:
    """InputError for a ``loss_type`` the run's release has no branch for: from 0.17 every
    release's loss raises ValueError("Unknown loss type") on any other (grpo_trainer.py:1226 in
    0.17.0, :1411 in 0.19.1, :3138 in 1.16.0), and its branches are the reducer's modes."""
    from rlxform.core.loss_modes.releases import release

    if not s.table.has("loss_type") or not s.is_set("loss_type"):
        return
    modes = release("trl", s.table.version).modes
    if s.values["loss_type"] not in modes:
        raise InputError(
            f"loss_type={s.values['loss_type']!r} is invalid for {s.table.label}: must be one "
            f"of {', '.join(modes)} (its GRPOTrainer raises ValueError on any other)"
        )


def read_scale_rewards(s: Any) -> tuple[Any, str]:
    """(the value given, its newest meaning). Up to 0.21 scale_rewards is a bool and the trainer
    divides by the group std whenever it is truthy (grpo_config.py:493, grpo_trainer.py:1691
    in 0.21.0): the strings group, batch and none of 0.22 are refused there."""
    raw = s.get("scale_rewards", "group")
    if s.table.type_of("scale_rewards") == "bool" and not isinstance(raw, bool):
        found = getattr(s, "found", None)
        given = found.values.get("scale_rewards", raw) if found is not None else raw
        raise InputError(
            f"scale_rewards={given!r} is invalid for {s.table.label}: must be true or false "
            "(a bool up to trl 0.21; group, batch and none came in 0.22)"
        )
    try:
        return raw, normalise_scale_rewards(raw)
    except ValueError:
        raise InputError(
            f"scale_rewards={raw!r} is invalid: must be one of group, batch, none, true, false"
        ) from None
