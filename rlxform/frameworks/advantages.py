"""Each trainer's advantage code for outcome rewards, restated: ``advantages(framework, ...)``.

``advantages(framework, estimator, rewards, group_size, lengths=None, settings=None)`` runs the
rule of the framework's record (float64 NumPy, rewards grouped consecutively as the trainers
``view(-1, M)``): the reference its schemes are tested against. ``settings`` maps the trainer's
own config keys (``algorithm.norm_adv_by_std_in_grpo``, ``scale_rewards``,
``algo.advantage.no_std_norm``) to values; keys not given take the trainer's defaults, and
``estimator=None`` reads the estimator from ``settings`` or takes the trainer's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rlxform.types import ArrayLike, NDArray
from rlxform.validation import InputError, check_choice, check_group_size


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name}={value!r} is invalid: must be True or False")
    return bool(value)


def reject_unused(where: str, unused: Mapping[str, Any], allowed: str) -> None:
    if unused:
        key = next(iter(unused))
        raise InputError(f"{where} parameter {key!r} is invalid: must be one of {allowed}")


def grouped(rewards: ArrayLike, group_size: int) -> NDArray:
    """``float64[G, M]`` from ``float[N]`` rewards in groups of M consecutive samples."""
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


def advantages(
    framework: str,
    estimator: str | bool | None,
    rewards: ArrayLike,
    group_size: int,
    lengths: ArrayLike | None = None,
    settings: Mapping[str, Any] | None = None,
    **params: Any,
) -> NDArray:
    """Per-sample advantages A_i as the trainer computes them (one value per response).

    Args:
      framework: a ``FRAMEWORKS`` name ("verl", "trl", "openrlhf", "unsloth", ...).
      estimator: the trainer's estimator name (verl ``adv_estimator``: grpo, grpo_vectorized,
        rloo, rloo_vectorized, grpo_passk; TRL / Unsloth ``scale_rewards``: group, batch, none,
        True, False; OpenRLHF ``algo.advantage.estimator``: group_norm, dr_grpo, rloo,
        reinforce_baseline), or None: from ``settings``, else the trainer's default.
      rewards: ``float[N]``, N = G * M, groups of M consecutive samples (one batch).
      group_size: M.
      lengths: ``int[N]`` response lengths in tokens (OpenRLHF reinforce_baseline weighs the
        batch whitening by them); default all equal.
      settings: the trainer's config keys -> values (``record.rule.settings`` lists them).
      params: the 0.4.1 keyword names: verl ``norm_adv_by_std_in_grpo``, ``epsilon``;
        OpenRLHF ``no_std_norm``.
    Returns:
      ``float64[N]``.
    """
    from rlxform.frameworks.registry import FRAMEWORKS

    record = FRAMEWORKS[check_choice("framework", framework, FRAMEWORKS)]
    rule = record.rule
    known = rule.settings
    given = dict(settings or {})
    if rule.settings_key is not None:  # the trainer's own spellings (slime's flags)
        given = dict(rule.settings_key(k, v) for k, v in given.items())
    for key, value in params.items():  # 0.4.1 keyword names: the last part of a key
        full = [k for k in known if k.rpartition(".")[2] == key]
        if not full:
            allowed = ", ".join(k.rpartition(".")[2] for k in known) or "(none)"
            reject_unused(record.name, {key: value}, allowed)
        given[full[0]] = value
    if rule.key is not None and rule.key in given:
        named = given.pop(rule.key)
        estimator = named if estimator is None else estimator
    unknown = {k: v for k, v in given.items() if k not in known}
    if unknown:
        key = next(iter(unknown))
        raise InputError(
            f"settings key {key!r} is invalid for {record.name}'s advantage: must be one of "
            + (", ".join(k for k in (rule.key, *known) if k) or "(none)")
        )
    if estimator is None:
        estimator = rule.default
    g = grouped(rewards, group_size)
    lengths_arr = np.ones(g.size) if lengths is None else np.asarray(lengths, np.float64)
    if lengths_arr.shape != (g.size,) or not np.all(lengths_arr >= 1):
        raise InputError(
            f"lengths with shape {lengths_arr.shape} is invalid: must be {g.size} "
            "response lengths >= 1"
        )

    def get(key: str) -> Any:
        return given.get(key, known[key])

    return rule.advantages(estimator, g, lengths_arr.reshape(g.shape), get).reshape(-1)
