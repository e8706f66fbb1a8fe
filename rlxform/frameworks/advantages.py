"""verl / TRL / OpenRLHF advantage code for binary rewards, restated, and their constants.

``advantages(framework, estimator, rewards, M)`` restates each framework's own advantage
formula (float64 numpy, rewards grouped consecutively as the frameworks ``view(-1, M)``): the
reference the schemes of ``rlxform.core.frameworks`` are tested against.
Versions followed: verl 0.9.1, trl 1.16.0, openrlhf 0.11.2.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.types import ArrayLike, NDArray
from rlxform.validation import InputError, check_choice, check_float, check_group_size

FRAMEWORKS = ("verl", "trl", "openrlhf")
VERL_ESTIMATORS = ("grpo", "grpo_vectorized", "rloo", "rloo_vectorized", "grpo_passk")
TRL_SCALE_REWARDS = ("group", "batch", "none")
OPENRLHF_ESTIMATORS = ("group_norm", "dr_grpo", "rloo", "reinforce_baseline")
VERL_STD_EPSILON = 1e-6  # core_algos.compute_grpo_outcome_advantage(epsilon=1e-6)
TRL_STD_EPSILON = 1e-4  # GRPOTrainer: advantages / (std + 1e-4), not configurable
OPENRLHF_STD_EPSILON = 1e-9  # experience_maker group_norm: / (std + 1e-9)
OPENRLHF_VAR_FLOOR = 1e-8  # batch whitening: rsqrt(max(var, 1e-8))


_VERL_PARAMS = ("norm_adv_by_std_in_grpo", "epsilon")


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name}={value!r} is invalid: must be True or False")
    return bool(value)


def _reject_unused(where: str, unused: dict[str, Any], allowed: str) -> None:
    if unused:
        key = next(iter(unused))
        raise InputError(f"{where} parameter {key!r} is invalid: must be one of {allowed}")


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


# ---- advantages, restated from each framework's code ------------------------------------------


def _grouped(rewards: ArrayLike, group_size: int) -> NDArray:
    m = check_group_size(group_size)
    r = np.asarray(rewards, np.float64)
    if r.ndim != 1 or r.size == 0 or r.size % m:
        raise InputError(
            f"rewards with shape {r.shape} is invalid: must be 1-D with a multiple of "
            f"group_size={m} entries (groups of consecutive samples)"
        )
    if not np.all(np.isfinite(r)):
        raise InputError(f"rewards={r.tolist()!r} is invalid: must be finite numbers")
    return r.reshape(-1, m)


def _verl_advantages(g: NDArray, estimator: str, norm: bool, eps: float) -> NDArray:
    m = g.shape[1]
    if estimator in ("rloo", "rloo_vectorized"):
        if m == 1:
            return g.copy() if estimator == "rloo" else np.zeros_like(g)
        return g * m / (m - 1) - g.mean(1, keepdims=True) * m / (m - 1)
    mean = g.mean(1, keepdims=True) if m > 1 else np.zeros((g.shape[0], 1))
    std = g.std(1, ddof=1, keepdims=True) if m > 1 else np.ones((g.shape[0], 1))
    if estimator == "grpo_passk":
        out = np.zeros_like(g)
        rows = np.arange(g.shape[0])
        best = np.argmax(g, axis=1)
        top2 = np.sort(g, axis=1)[:, -2:]
        gap = top2[:, 1] - top2[:, 0]
        out[rows, best] = gap / (std[:, 0] + eps) if norm else gap
        return out
    if not norm:
        return g - mean
    if estimator == "grpo_vectorized" and m > 1:
        std = np.sqrt(np.maximum(std**2, eps))
    return (g - mean) / (std + eps)


def _trl_advantages(g: NDArray, scale: str) -> NDArray:
    centred = g - g.mean(1, keepdims=True)
    if scale == "none":
        return centred
    if scale == "group":
        std = g.std(1, ddof=1, keepdims=True) if g.shape[1] > 1 else np.zeros((g.shape[0], 1))
    else:
        std = np.full((g.shape[0], 1), g.std(ddof=1) if g.size > 1 else 0.0)
    return centred / (std + TRL_STD_EPSILON)


def _openrlhf_advantages(
    g: NDArray, estimator: str, lengths: NDArray, no_std_norm: bool
) -> NDArray:
    m = g.shape[1]
    if estimator == "rloo":
        return g - (g.sum(1, keepdims=True) - g) / (m - 1)
    centred = g - g.mean(1, keepdims=True)
    if estimator == "dr_grpo":
        return centred
    if estimator == "group_norm":
        return centred / (g.std(1, ddof=1, keepdims=True) + OPENRLHF_STD_EPSILON)
    # reinforce_baseline: every action token of a response carries its A; whiten over tokens
    weights = lengths / lengths.sum()
    mean = np.sum(weights * centred)
    if no_std_norm:
        return centred - mean
    var = np.sum(weights * (centred - mean) ** 2)
    return (centred - mean) / np.sqrt(max(var, OPENRLHF_VAR_FLOOR))


def advantages(
    framework: str,
    estimator: str | bool,
    rewards: ArrayLike,
    group_size: int,
    lengths: ArrayLike | None = None,
    **params: Any,
) -> NDArray:
    """Per-sample advantages A_i as the framework computes them (one value per response).

    Args:
      framework: "verl", "trl" or "openrlhf".
      estimator: verl ``adv_estimator`` (grpo, grpo_vectorized, rloo, rloo_vectorized,
        grpo_passk); TRL ``scale_rewards`` (group, batch, none, True, False); OpenRLHF
        ``algo.advantage.estimator`` (group_norm, dr_grpo, rloo, reinforce_baseline).
      rewards: ``float[N]``, N = G * M, groups of M consecutive samples (one batch).
      group_size: M.
      lengths: ``int[N]`` response lengths in tokens (OpenRLHF reinforce_baseline weighs the
        batch whitening by them); default all equal.
      params: verl ``norm_adv_by_std_in_grpo`` (True), ``epsilon`` (1e-6); OpenRLHF
        ``no_std_norm`` (False).
    Returns:
      ``float64[N]``.
    """
    framework = check_choice("framework", framework, FRAMEWORKS)
    g = _grouped(rewards, group_size)
    if framework == "verl":
        estimator = check_choice("estimator", estimator, VERL_ESTIMATORS)
        _reject_unused("verl", {k: v for k, v in params.items() if k not in _VERL_PARAMS}, "")
        norm = _check_bool("norm_adv_by_std_in_grpo", params.get("norm_adv_by_std_in_grpo", True))
        eps = check_float("epsilon", params.get("epsilon", VERL_STD_EPSILON), 0.0)
        if estimator == "grpo_passk" and g.shape[1] < 2:
            raise InputError(f"group_size={group_size!r} is invalid for grpo_passk: must be >= 2")
        out = _verl_advantages(g, estimator, norm, eps)
    elif framework == "trl":
        _reject_unused("trl", params, "(none)")
        out = _trl_advantages(g, normalise_scale_rewards(estimator))
    else:
        estimator = check_choice("estimator", estimator, OPENRLHF_ESTIMATORS)
        _reject_unused(
            "openrlhf", {k: v for k, v in params.items() if k != "no_std_norm"}, "no_std_norm"
        )
        if g.shape[1] < 2:
            raise InputError(
                f"group_size={group_size!r} is invalid for OpenRLHF {estimator}: must be >= 2 "
                "(OpenRLHF asserts n_samples_per_prompt > 1)"
            )
        lengths_arr = np.ones(g.size) if lengths is None else np.asarray(lengths, np.float64)
        if lengths_arr.shape != (g.size,) or not np.all(lengths_arr >= 1):
            raise InputError(
                f"lengths with shape {lengths_arr.shape} is invalid: must be {g.size} "
                "response lengths >= 1"
            )
        no_std = _check_bool("no_std_norm", params.get("no_std_norm", False))
        out = _openrlhf_advantages(g, estimator, lengths_arr.reshape(g.shape), no_std)
    return out.reshape(-1)
