"""verl launch checks beside the reader (``frameworks.verl``): recipes refused by name, Hydra's
``+key`` refusal, what the group filter compares, the in-reward KL beside the loss's, and loss
modes a release does not define."""

from __future__ import annotations

import fnmatch
import functools
import json
from importlib import resources
from typing import Any

from rlxform.frameworks.common import Settings
from rlxform.validation import InputError

A = "actor_rollout_ref.actor."

# recipes whose own trainer replaces verl's policy loss or advantage (verl-recipe at 48ea0a7):
# their runs are refused by name, as a card of verl's loss would describe another update
RECIPES = {
    "recipe.flowrl.*": "FlowRL's actor replaces verl's policy loss with a trajectory-balance "
    "loss, mean_i w_i (log Z + mean log pi - 15 R - mean log pi_ref)^2, R the answer's "
    "token-mean reward and log Z learned (flowrl/flowrl_actor.py:373, 434-463)",
    "recipe.prime.*": "PRIME's trainer adds an implicit process reward model's dense token "
    "rewards (x algorithm.reward_dpo_coef) to the verifier's (x reward_gt_coef), each with its "
    "own leave-one-out baseline (prime/prime_core_algos.py:21-79), not verl's rloo",
    "recipe.sppo.*": "SPPO's actor trains with the squared loss (sum log pi/pi_old - eta r)^2 "
    "(sppo/dp_actor.py:34-55), not verl's policy loss",
    "recipe.spin.*": "SPIN trains with an online DPO loss (spin/core_algos.py:131)",
}


def refuse_recipe(s: Settings) -> str:
    """The launch command's program ("" for a config file); InputError for one in ``RECIPES``."""
    program = getattr(s, "program", None) or ""
    for pattern, why in RECIPES.items():
        if fnmatch.fnmatchcase(program, pattern):
            raise InputError(f"{program} is not modelled by rlxform: {why} (verl-recipe 48ea0a7)")
    return program


def appended(s: Settings) -> list[str]:
    """Hydra refuses ``+key=value`` where the composed config already holds a non-null value,
    unless the new value is a mapping or list (hydra/_internal/config_loader_impl.py,
    _apply_overrides_to_config: "Could not append to config. An item is already at ..."): such
    a launch stops before training."""
    found = getattr(s, "found", None)
    out = []
    for word in map(str, getattr(found, "args", None) or ()):
        key, eq, raw = word.partition("=")
        if not (eq and key.startswith("+") and not key.startswith("++")):
            continue
        key = key[1:]
        default = s.table.default(key) if s.table.has(key) else None
        if default is not None and not raw.lstrip().startswith(("[", "{")):
            out.append(
                f"+{key}={raw}: {s.table.label}'s config already has {key} (default {default!r}), "
                f"so Hydra stops with 'Could not append to config'; write {key}= or ++{key}="
            )
    return out


def filter_metric(s: Settings, kl_in_reward: bool, shaping: str | None) -> list[str]:
    """What ``filter_groups.metric`` compares within a group: ``seq_final_reward`` sums the
    token rewards after the in-reward KL, ``seq_reward`` the scores before it (the DAPO recipe's
    trainer, dapo/dapo_ray_trainer.py:239-264 at verl-recipe 48ea0a7); 0.9.1's built-in
    ``reward`` sums rm_scores, the reward manager's output (v1/replay_buffer.py:278-309)."""
    metric = s.get("algorithm.filter_groups.metric", None)
    out, key = [], "algorithm.filter_groups.metric"
    if metric == "seq_final_reward" and kl_in_reward:
        out.append(
            f"{key}=seq_final_reward compares the rewards after the in-reward KL penalty "
            "(dapo_ray_trainer.py:240-244 at verl-recipe 48ea0a7): a group is dropped only when "
            "its M penalised rewards are equal, which the KL almost never allows, so the filter "
            "keeps nearly every group the card counts as dropped"
        )
    if shaping and metric in ("seq_reward", "seq_final_reward", "reward", "score"):
        out.append(
            f"{key}={metric} compares the shaped rewards: a group whose answers are all right "
            "(or all wrong) is kept when their overlong penalties differ, so fewer groups are "
            "dropped than the card's all-right/all-wrong rule"
        )
    return out


def verl_active(s: Settings) -> list[dict[str, Any]]:
    """The in-reward KL when the loss also holds one: the card's KL term is the loss's, so the
    second, ``kl_ctrl.kl_coef * kl_penalty`` subtracted from the token rewards before the
    advantage (verl/trainer/ppo/ray_trainer.py:78-111, v1/trainer_base.py:1754-1758 in
    0.9.1), is named as not modelled."""
    if not (s.bool(A + "use_kl_loss", False) and s.bool("algorithm.use_kl_in_reward", False)):
        return []
    coef = s.float("algorithm.kl_ctrl.kl_coef", 0.001)
    estimator = s.str("algorithm.kl_penalty", "kl")
    kind = s.get("algorithm.kl_ctrl.type", "fixed")
    effect = (
        f"a second KL term: {coef:g} ({kind} kl_ctrl) x kl_penalty {estimator}, subtracted from "
        "the token rewards before the advantage (verl/trainer/ppo/ray_trainer.py:78-111 in "
        "0.9.1); the KL equilibrium on this card counts only actor.use_kl_loss's term"
    )
    return [{"key": "algorithm.use_kl_in_reward", "value": True, "effect": effect}] if coef else []


@functools.cache
def _loss_modes() -> dict[str, Any]:
    path = resources.files("rlxform.frameworks").joinpath("data", "verl_loss_modes.json")
    return json.loads(path.read_text())["versions"]


def check_loss_mode(key: str, mode: Any, version: str) -> None:
    """Refuse ``policy_loss.loss_mode`` a release does not define: verl's get_policy_loss_fn
    raises ValueError 'Unsupported loss mode' (the modes and file:line per release in
    data/verl_loss_modes.json). A release the data does not list is not checked."""
    entry = _loss_modes().get(version)
    if entry is None or mode in entry["modes"]:
        return
    raise InputError(
        f"{key}={mode!r} is not a loss mode of verl {version}: it has "
        f"{', '.join(entry['modes'])}; its get_policy_loss_fn raises 'Unsupported loss mode' "
        f"on any other ({entry['refusal']} in {version})"
    )
