"""OpenRLHF config rules: argparse dests, defaults and known pitfalls.

``read_openrlhf`` takes ``train_ppo_ray`` arguments as a mapping (dotted dests of openrlhf
>= 0.10.2, nested sections, or the flat names of <= 0.10.1, mapped to the dotted ones) and
returns a ``RunConfig`` with openrlhf 0.11.2 defaults. Updates per rollout: rollout.batch_size *
n_samples_per_prompt // train.batch_size * train.max_epochs (train.batch_size counts samples).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlxform.core import configs
from rlxform.core import frameworks as fw
from rlxform.core.configs import (
    VERSIONS,
    RunConfig,
    get_bool,
    get_float,
    get_int,
    get_str,
    misspelled,
)
from rlxform.validation import InputError

# ---- openrlhf 0.11.2 -------------------------------------------------------------------------

OPENRLHF_FLAT_NAMES = {
    "advantage_estimator": "algo.advantage.estimator",
    "n_samples_per_prompt": "rollout.n_samples_per_prompt",
    "init_kl_coef": "algo.kl.init_coef",
    "use_kl_loss": "algo.kl.use_loss",
    "kl_estimator": "algo.kl.estimator",
    "kl_target": "algo.kl.target",
    "eps_clip": "actor.eps_clip",
    "eps_clip_low_high": "actor.eps_clip_low_high",
    "max_epochs": "train.max_epochs",
    "micro_train_batch_size": "train.micro_batch_size",
    "train_batch_size": "train.batch_size",
    "rollout_batch_size": "rollout.batch_size",
    "dynamic_filtering": "algo.dynamic_filtering_enable",
    "dynamic_filtering_reward_range": "algo.dynamic_filtering_range",
    "no_advantage_std_norm": "algo.advantage.no_std_norm",
    "overlong_buffer_len": "reward.overlong_buffer_len",
}
OPENRLHF_KEYS = (
    "algo.advantage.estimator algo.advantage.gamma algo.advantage.lambd "
    "algo.advantage.no_std_norm algo.advantage.is_correction_enable "
    "algo.advantage.is_correction_threshold algo.advantage.is_correction_type algo.kl.target "
    "algo.kl.horizon algo.kl.init_coef algo.kl.estimator algo.kl.use_loss "
    "algo.dynamic_filtering_enable algo.dynamic_filtering_range rollout.batch_size "
    "rollout.n_samples_per_prompt rollout.micro_batch_size rollout.max_new_tokens "
    "rollout.temperature rollout.top_p rollout.vllm_generate_batch_size "
    "rollout.max_tokens_per_gpu train.batch_size train.micro_batch_size train.max_epochs "
    "train.num_episodes train.seed train.colocate_all train.colocate_actor_ref "
    "train.colocate_critic_reward train.async_enable train.async_queue_size "
    "train.dynamic_batch_enable train.max_tokens_per_gpu train.enable_ema train.ema_beta "
    "train.full_determinism_enable train.partial_rollout_enable train.agent_func_path "
    "actor.eps_clip actor.eps_clip_low_high actor.dual_clip actor.loss_agg_mode "
    "actor.policy_loss_type actor.entropy_coef actor.aux_loss_coef actor.num_nodes "
    "actor.num_gpus_per_node actor.model_name_or_path actor.gradient_checkpointing_enable "
    "actor.gradient_checkpointing_reentrant actor.freeze_visual_encoder actor.optim "
    "actor.max_norm actor.lr_scheduler actor.lr_warmup_ratio actor.min_lr_ratio"
).split()
OPENRLHF_LOSS_AGG = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum")


def _dotted(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested sections to dotted argparse dests; map the flat names of <= 0.10.1."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = prefix + str(key)
        if isinstance(value, Mapping):
            out.update(_dotted(value, name + "."))
        else:
            out[OPENRLHF_FLAT_NAMES.get(name, name)] = value
    return out


def read_openrlhf(mapping: Mapping[str, Any]) -> RunConfig:
    """openrlhf 0.11.2 ``train_ppo_ray`` argparse dests (dotted, or the older flat names)."""
    cfg = _dotted(mapping)
    watched = [k for k in cfg if k.split(".")[0] in ("algo", "rollout", "train", "actor")]
    warnings = misspelled(watched, OPENRLHF_KEYS, "")
    old = any(k in OPENRLHF_FLAT_NAMES for k in mapping)
    estimator = get_str(cfg, "algo.advantage.estimator", "gae", "")
    configs.check_modelled(
        "algo.advantage.estimator",
        estimator,
        fw.OPENRLHF_ESTIMATORS,
        "OpenRLHF",
        "algo.advantage.estimator" not in cfg,
        "binary rewards",
    )
    group_size = get_int(cfg, "rollout.n_samples_per_prompt", 1, "")
    if group_size < 2:
        raise InputError(
            f"rollout.n_samples_per_prompt={group_size!r} is invalid for {estimator}: must be "
            "> 1 (OpenRLHF asserts it; the default is 1)"
        )
    no_std = get_bool(cfg, "algo.advantage.no_std_norm", False, "")
    agg = get_str(cfg, "actor.loss_agg_mode", "token-mean", "", OPENRLHF_LOSS_AGG)
    rollout_batch = get_int(cfg, "rollout.batch_size", 1024, "")
    train_batch = get_int(cfg, "train.batch_size", 128, "")
    updates = rollout_batch * group_size // train_batch * get_int(cfg, "train.max_epochs", 1, "")
    eps = get_float(cfg, "actor.eps_clip", 0.2, "")
    clip_low, clip_high = eps, eps
    pair = cfg.get("actor.eps_clip_low_high")
    pitfalls = []
    if pair is not None:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise InputError(
                f"actor.eps_clip_low_high={pair!r} is invalid: must be two numbers [low, high]"
            )
        clip_low = get_float({"v": pair[0]}, "v", None, "actor.eps_clip_low_high[0].")
        clip_high = get_float({"v": pair[1]}, "v", None, "actor.eps_clip_low_high[1].")
        if "actor.eps_clip" in cfg:
            pitfalls.append("actor.eps_clip_low_high is set, so actor.eps_clip is ignored")
    coef = get_float(cfg, "algo.kl.init_coef", 0.01, "")
    use_loss = get_bool(cfg, "algo.kl.use_loss", False, "")
    kl_est = get_str(cfg, "algo.kl.estimator", "k1", "", ("k1", "k2", "k3"))
    placement = "none" if coef == 0 else ("loss" if use_loss else "reward")
    if placement == "reward" and "algo.kl.init_coef" not in cfg:
        pitfalls.append(
            "algo.kl.init_coef is not set: OpenRLHF's default 0.01 puts a k1 KL penalty in the "
            "reward; only algo.kl.init_coef = 0 removes it"
        )
    if cfg.get("algo.kl.target") is not None and placement != "none":
        pitfalls.append("algo.kl.target is set: the KL coefficient adapts (init_coef is a start)")
    if estimator == "reinforce_baseline":
        pitfalls.append(
            "reinforce_baseline whitens r - group mean over the whole rollout batch with "
            "token-weighted mean and variance: long answers weigh more in the statistics"
        )
    dynamic = get_bool(cfg, "algo.dynamic_filtering_enable", False, "")
    overlong = cfg.get("reward.overlong_buffer_len")
    shaping = None
    if overlong is not None:
        shaping = f"reward.overlong_buffer_len={overlong}: overlong penalty, rewards not binary"
        pitfalls.append(shaping)
    normalised = estimator == "group_norm" or (estimator == "reinforce_baseline" and not no_std)
    eps_std = fw.OPENRLHF_STD_EPSILON if estimator == "group_norm" else fw.OPENRLHF_VAR_FLOOR
    return RunConfig(
        framework="openrlhf",
        version="openrlhf <= 0.10.1 (flat names)" if old else VERSIONS["openrlhf"],
        estimator=estimator,
        group_size=group_size,
        **configs.std_fields(
            normalised, eps_std, "group" if estimator == "group_norm" else "batch"
        ),
        aggregation=agg,
        updates_per_rollout=updates,
        clip_low=clip_low,
        clip_high=clip_high,
        kl_placement=placement,
        kl_estimator=kl_est if placement != "none" else None,
        kl_coef=coef if placement != "none" else 0.0,
        dynamic_sampling=dynamic,
        scheme_params=(("no_std_norm", no_std),) if estimator == "reinforce_baseline" else (),
        reward_shaping=shaping,
        pitfalls=tuple(pitfalls),
        warnings=tuple(warnings),
    )
