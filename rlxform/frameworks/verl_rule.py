"""verl 0.9.1's advantage rule, restated: the scheme "verl" and ``verl_advantages``.

``verl_rule`` gives the a/b tables of ``algorithm.adv_estimator`` (grpo, grpo_vectorized, rloo,
rloo_vectorized, grpo_passk) for binary rewards, with its large-M limit, centred form and
real-reward form (KL in the reward) registered beside it; ``from_verl`` builds the scheme;
``verl_advantages`` restates ``verl.trainer.ppo.core_algos.compute_*_outcome_advantage`` on
groups of rewards. The reader and record are in ``frameworks.verl``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core import real_rewards
from rlxform.core import schemes as sch
from rlxform.core.registry import Counts, RealReward, Scheme, floored_std, p_limit, register
from rlxform.core.xp import namespace
from rlxform.frameworks.advantages import check_bool, reject_unused
from rlxform.frameworks.record import AdvantageRule
from rlxform.types import ArrayLike, NDArray
from rlxform.validation import InputError, check_choice, check_float

VERL_ESTIMATORS = ("grpo", "grpo_vectorized", "rloo", "rloo_vectorized", "grpo_passk")
VERL_STD_EPSILON = 1e-6  # core_algos.compute_grpo_outcome_advantage(epsilon=1e-6)


def _verl_limit(estimator, norm_adv_by_std_in_grpo, epsilon):
    if estimator == "grpo_passk":
        return None, None
    if estimator == "grpo_vectorized" and norm_adv_by_std_in_grpo and epsilon > 0:
        name = f"int_0^p dt / (sqrt(max(t(1-t), {epsilon:g})) + {epsilon:g})"
        return bern.floored_grpo_objective(epsilon), name
    if estimator.startswith("grpo") and norm_adv_by_std_in_grpo:
        return sch.grpo_limit(eps=epsilon)
    return p_limit()


def verl_real_reward_weights(
    rewards, counts, group_size, estimator, norm_adv_by_std_in_grpo, epsilon, **_
):
    """The same advantages on real rewards (KL in the reward); grpo_passk has none here."""
    xp = namespace(rewards, epsilon)
    normalised = estimator.startswith("grpo") and norm_adv_by_std_in_grpo
    if group_size == 1:  # mean 0, std 1 (grpo*); rloo keeps r, rloo_vectorized gives 0
        if estimator == "rloo_vectorized":
            return xp.zeros_like(rewards)
        return rewards / (1.0 + epsilon) if normalised else rewards
    if estimator in ("rloo", "rloo_vectorized"):
        return real_rewards.rloo_weights(rewards, counts, group_size)
    if not normalised:
        return real_rewards.mean_baseline_weights(rewards, counts, group_size)
    floor = epsilon if estimator == "grpo_vectorized" else 0.0
    return real_rewards.normalised_weights(rewards, counts, group_size, "sample", epsilon, floor)


@register(
    "verl",
    "verl 0.9.1 core_algos advantage for binary outcome rewards",
    _verl_limit,
    min_group_size=lambda estimator, **_: 2 if estimator == "grpo_passk" else 1,
    eps="epsilon",
    centred=lambda c, estimator, epsilon, **_: verl_rule(c, estimator, False, epsilon),
    std_kind="sample",
    real_reward=RealReward(
        verl_real_reward_weights, available=lambda estimator=None, **_: estimator != "grpo_passk"
    ),
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


RULE = AdvantageRule(
    estimators=VERL_ESTIMATORS,
    key="algorithm.adv_estimator",
    default="gae",
    advantages=verl_advantages,
    settings={"algorithm.norm_adv_by_std_in_grpo": True, "epsilon": VERL_STD_EPSILON},
    scheme=from_verl,
)
