"""OpenRLHF: its advantage rules, ``train_ppo_ray`` reader and record.

Keys are argparse dests: dotted (``algo.kl.init_coef``, openrlhf >= 0.10.2), nested YAML
sections of them, or the flat names of <= 0.10.1 (renamed by the version table). Updates per
rollout: rollout.batch_size * n_samples_per_prompt // train.batch_size * train.max_epochs
(train.batch_size counts samples). Advantage: ``experience_maker`` (0.11.2).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rlxform.core import schemes as sch
from rlxform.frameworks.advantages import check_bool, reject_unused
from rlxform.frameworks.common import Clip, KLTerm, RunConfig, Settings, StdNorm
from rlxform.frameworks.losses import LossReading, read_settings, reduce_run, reduced_factor
from rlxform.frameworks.record import AdvantageRule, Framework, Normaliser
from rlxform.frameworks.schemes import BATCH_DENOMINATORS, batch_scheme
from rlxform.frameworks.tables import version_key
from rlxform.types import NDArray
from rlxform.validation import InputError, check_choice, check_float

OPENRLHF_ESTIMATORS = ("group_norm", "dr_grpo", "rloo", "reinforce_baseline")
OPENRLHF_STD_EPSILON = 1e-9  # experience_maker group_norm: / (std + 1e-9)
OPENRLHF_VAR_FLOOR = 1e-8  # batch whitening: rsqrt(max(var, 1e-8))
BATCH_DENOMINATORS["openrlhf"] = lambda sigma: math.sqrt(max(sigma**2, OPENRLHF_VAR_FLOOR))
OPENRLHF_LOSS_AGG = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum")


def from_openrlhf(
    estimator: str, *, no_std_norm: bool = False, batch_std: float | None = None, **unused: Any
) -> sch.Scheme:
    """OpenRLHF 0.11.2 ``algo.advantage.estimator`` for binary rewards.

    group_norm: (r - mean) / (std_Bessel + 1e-9); dr_grpo: r - mean; rloo: r - mean of the
    others; reinforce_baseline: r - mean, then whitened over the rollout batch (token-weighted
    mean and population variance, rsqrt(max(var, 1e-8))): pass ``batch_std`` = sigma for its
    large-batch limit (``no_std_norm=True`` keeps only the batch mean shift: the mean baseline).
    """
    estimator = check_choice("estimator", estimator, OPENRLHF_ESTIMATORS)
    reject_unused("openrlhf", unused, "no_std_norm, batch_std")
    if estimator == "group_norm":
        return sch.grpo(std="sample", eps=OPENRLHF_STD_EPSILON)
    if estimator == "dr_grpo":
        return sch.mean_baseline()
    if estimator == "rloo":
        return sch.rloo()
    if check_bool("no_std_norm", no_std_norm):
        return sch.mean_baseline()
    return batch_scheme("openrlhf", estimator, batch_std, "estimator='reinforce_baseline'")


def openrlhf_advantages(estimator: str, g: NDArray, lengths: NDArray, get) -> NDArray:
    """OpenRLHF 0.11.2 experience_maker advantages (reinforce_baseline whitened over tokens)."""
    estimator = check_choice("estimator", estimator, OPENRLHF_ESTIMATORS)
    no_std_norm = check_bool("no_std_norm", get("algo.advantage.no_std_norm"))
    m = g.shape[1]
    if m < 2:
        raise InputError(
            f"group_size={m!r} is invalid for OpenRLHF {estimator}: must be >= 2 "
            "(OpenRLHF asserts n_samples_per_prompt > 1)"
        )
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


# ---- the config reader ---------------------------------------------------------------------


def _loss_agg(version: str) -> str:
    """The aggregation of a release without actor.loss_agg_mode (< 0.11.2): 0.6's PolicyLoss
    takes each answer's token mean, then the batch mean (openrlhf/models/loss.py:76 in 0.6.4);
    from 0.7 token_level_loss=True (models/loss.py:80, ray/ppo_actor.py:71 in 0.7.5)."""
    return "seq-mean-token-mean" if version_key(version) < version_key("0.7") else "token-mean"


def _refused_flags(s: Settings) -> list[str]:
    """train_ppo_ray reads its flags with ``parser.parse_args()`` (openrlhf/cli/
    train_ppo_ray.py:434 in 0.6.4, :527 in 0.9.10, :627 in 0.11.2), which exits on a flag the
    release does not define: such a launch stops before its first rollout."""
    refused = [k for k in s.values if not s.table.has(k)]
    if not refused:
        return []
    return [
        f"{', '.join('--' + k for k in refused)}: not a flag of {s.table.label}'s "
        "train_ppo_ray, whose parser.parse_args() exits with 'unrecognized arguments' (unless "
        "the word abbreviates exactly one of its flags), so the run stops before training"
    ]


def read_openrlhf(s: Settings) -> RunConfig:
    """OpenRLHF ``train_ppo_ray`` argparse dests (dotted; flat names renamed beforehand)."""
    estimator = s.modelled(
        "algo.advantage.estimator", "gae", OPENRLHF_ESTIMATORS, "OpenRLHF", "binary rewards"
    )
    group_size = s.int("rollout.n_samples_per_prompt", 1)
    if group_size < 2:
        raise InputError(
            f"rollout.n_samples_per_prompt={group_size!r} is invalid for {estimator}: must be "
            "> 1 (OpenRLHF asserts it; the default is 1)"
        )
    no_std = s.bool("algo.advantage.no_std_norm", False)
    agg = s.str("actor.loss_agg_mode", _loss_agg(s.table.version), OPENRLHF_LOSS_AGG)
    rollout_batch = s.int("rollout.batch_size", 1024)
    train_batch = s.int("train.batch_size", 128)
    updates = rollout_batch * group_size // train_batch * s.int("train.max_epochs", 1)
    eps = s.float("actor.eps_clip", 0.2)
    clip = Clip(eps, eps)
    pitfalls = []
    rest = rollout_batch * group_size % train_batch
    if rest:  # DeepSpeed counts micro-steps across rollouts (deepspeed.py:110-116 in 0.11.2)
        pitfalls.append(
            f"rollout.batch_size x n_samples_per_prompt = {rollout_batch * group_size} answers is "
            f"not a multiple of train.batch_size {train_batch}: "
            f"{rollout_batch * group_size // train_batch} full optimizer steps per epoch, and the "
            f"last {rest} answers' gradients join DeepSpeed's next step, completed by the next "
            "epoch or rollout batch (its micro-step count runs on)"
        )
    if s.get("actor.eps_clip_low_high", None) is not None:
        clip = Clip(*s.pair("actor.eps_clip_low_high"))
        if s.is_set("actor.eps_clip"):
            pitfalls.append("actor.eps_clip_low_high is set, so actor.eps_clip is ignored")
    coef = s.float("algo.kl.init_coef", 0.01)
    use_loss = s.bool("algo.kl.use_loss", False)
    kl_est = s.str("algo.kl.estimator", "k1", ("k1", "k2", "k3"))
    # without use_loss the KL enters compute_reward after the group baseline / normalisation
    # (experience_maker.py:268-290 in 0.11.2): subtracted from the advantage, not the reward
    placement = "none" if coef == 0 else ("loss" if use_loss else "advantage")
    if use_loss and s.bool("algo.kl.unbiased_gradient", False):  # 0.11.2 models/utils.py:115-128
        kl_est += "_unbiased"
    if placement == "advantage" and not s.is_set("algo.kl.init_coef"):
        pitfalls.append(
            "algo.kl.init_coef is not set: OpenRLHF's default 0.01 subtracts a k1 KL penalty "
            "from the rewards after the group baseline; only algo.kl.init_coef = 0 removes it"
        )
    if s.get("algo.kl.target", None) is not None and placement != "none":
        pitfalls.append("algo.kl.target is set: the KL coefficient adapts (init_coef is a start)")
    if estimator == "reinforce_baseline":
        pitfalls.append(
            "reinforce_baseline whitens r - group mean over the whole rollout batch with "
            "token-weighted mean and variance: long answers weigh more in the statistics"
        )
    pitfalls += _refused_flags(s)
    dynamic = s.bool("algo.dynamic_filtering_enable", False)
    overlong = s.get("reward.overlong_buffer_len", None)
    shaping = None
    if overlong is not None:
        shaping = f"reward.overlong_buffer_len={overlong}: overlong penalty, rewards not binary"
    loss = openrlhf_loss(s)
    normalised = estimator == "group_norm" or (estimator == "reinforce_baseline" and not no_std)
    eps_std = OPENRLHF_STD_EPSILON if estimator == "group_norm" else OPENRLHF_VAR_FLOOR
    return RunConfig(
        estimator=estimator,
        group_size=group_size,
        std=StdNorm.of(normalised, eps_std, "group" if estimator == "group_norm" else "batch"),
        aggregation=agg,
        updates_per_rollout=updates,
        clip=clip,
        kl=KLTerm() if placement == "none" else KLTerm(placement, kl_est, coef),
        dynamic_sampling=dynamic,
        scheme_params=(("no_std_norm", no_std),) if estimator == "reinforce_baseline" else (),
        reward_shaping=shaping,
        pitfalls=tuple(pitfalls),
        max_length=s.int_or_none("rollout.max_new_tokens"),
        **openrlhf_filters(s, dynamic),
        loss=loss,
        **openrlhf_entropy(s),
    )


def openrlhf_filters(s: Settings, dynamic: bool) -> dict[str, Any]:
    """RunConfig's filter fields: algo.dynamic_filtering_range while dynamic filtering is on
    (openrlhf/trainer/ppo_utils/samples_generator.py:169-190 in 0.11.2) and the overlong
    penalty (length_penalty.py:16-56)."""
    out: dict[str, Any] = {}
    if dynamic:
        out["filter_range"] = s.pair("algo.dynamic_filtering_range", [0, 1], low=-math.inf)
    buffer = s.get("reward.overlong_buffer_len", None)
    if isinstance(buffer, (int, float)) and not isinstance(buffer, bool):
        out["overlong_buffer"] = float(buffer)
        out["overlong_factor"] = s.float("reward.overlong_penalty_factor", 1.0)
        out["overlong_max_length"] = s.int_or_none("rollout.max_new_tokens")
    return out


_IS = "algo.advantage.is_correction_"
OPENRLHF_LOSS_KEYS = {  # the reducer's setting -> OpenRLHF's argparse dest (newest name)
    "loss_agg_mode": "actor.loss_agg_mode",
    "eps_clip": "actor.eps_clip",
    "eps_clip_low_high": "actor.eps_clip_low_high",
    "dual_clip": "actor.dual_clip",
    **{f"is_correction_{k}": _IS + k for k in ("level", "mode", "gating", "threshold")},
}
# is_correction_type of 0.9.10-0.11.1 (vllm_is_correction_type up to 0.10.1) -> (level, mode) of
# 0.11.2, whose train_ppo_ray.py:258 help states the mapping; 0.8.11 had only tis (a clamp)
_LEGACY_TYPES = {
    "tis": ("token", "clip"),
    "icepop": ("token", "mask"),
    "seq-mask-tis": ("seq", "mask"),
}


def openrlhf_loss(s: Settings) -> LossReading:
    """``actor.policy_loss_type`` and its settings, with the importance-sampling correction
    under the names of the run's release, reduced at that release."""
    version = s.table.version
    key = "actor.policy_loss_type" if s.table.has("actor.policy_loss_type") else ""
    mode = s.str(key, "ppo") if key else "ppo"
    settings, keys = read_settings(s, "openrlhf", version, OPENRLHF_LOSS_KEYS)
    if version_key(version) < version_key("0.11.2"):
        for name in ("level", "mode", "gating", "threshold"):  # the table maps old names here
            settings.pop(f"is_correction_{name}", None)
        if s.table.has(_IS + "threshold"):
            settings.update(_legacy_correction(s))
            keys.update(is_correction_level=_IS + "enable", is_correction_mode=_IS + "type")
    elif str(settings.get("is_correction_level")) in ("True", "False", *_LEGACY_TYPES):
        old = settings["is_correction_level"]
        raise InputError(
            f"{_IS}level={old!r} is invalid: must be one of off, token, seq ({s.table.label}; "
            "is_correction_enable / is_correction_type of <= 0.11.1 became level and mode: "
            "tis = token + clip, icepop = token + mask, seq-mask-tis = seq + mask)"
        )
    return reduce_run("openrlhf", version, key, mode, settings, keys, s.table.label)


def _legacy_correction(s: Settings) -> dict[str, Any]:
    """is_correction_enable / _type / _threshold (0.8.11-0.11.1, flat names up to 0.10.1) as
    0.11.2's level, mode and threshold; read from the file's own key names, since the version
    table maps both old keys onto the new level key."""
    found = getattr(s, "found", None)
    raw = dict(found.values) if found is not None else {}
    strings = bool(getattr(found, "strings", False))

    def legacy(names: tuple[str, ...], default: Any) -> Any:
        for name in names:
            if name in raw:
                return s.table.typed(name, raw[name], strings=strings)
        return next((s.table.default(n) for n in names if n in s.table.keys), default)

    enabled = legacy(("enable_vllm_is_correction", _IS + "enable"), False)
    kind = legacy(("vllm_is_correction_type", _IS + "type"), "tis")
    if enabled is not True:
        return {"is_correction_level": "off"}
    if kind not in _LEGACY_TYPES:
        raise InputError(
            f"{_IS}type={kind!r} is invalid: must be one of {', '.join(_LEGACY_TYPES)} "
            f"({s.table.label})"
        )
    level, mode = _LEGACY_TYPES[kind]
    threshold = s.values.get(_IS + "threshold", s.table.default(_IS + "threshold"))
    if not isinstance(threshold, (list, tuple)):
        threshold = [0.0, threshold]  # 0.8.11: vllm_is_truncated_threshold, an upper clamp
    return {"is_correction_level": level, "is_correction_mode": mode,
            "is_correction_threshold": list(threshold)}  # fmt: skip


def openrlhf_entropy(s: Settings) -> dict[str, Any]:
    """RunConfig's entropy fields (read in 0.11.2; older releases: not modelled):
    ``actor.entropy_coef`` (None: no entropy computed; 0: logged only) times the token mean of
    the per-token entropies over the optimizer step, whatever actor.loss_agg_mode."""
    if version_key(s.table.version) < version_key("0.11.2"):
        return {}
    value = s.get("actor.entropy_coef", None)
    coef = 0.0 if value is None else check_float("actor.entropy_coef", value)
    where = (
        "the action tokens of the whole optimizer step (micro-batches and ranks), whatever "
        "actor.loss_agg_mode: aggregate_loss is called without token_level_loss (default True), "
        "then loss -= entropy_loss * actor.entropy_coef (openrlhf/trainer/ray/ppo_actor.py:"
        "345-353, openrlhf/models/loss.py:29-32 in 0.11.2)"
    )
    return {"entropy_coef": coef, "entropy_aggregation": "token-mean", "entropy_normaliser": where}


def openrlhf_rewards(s: Settings, extra: Any = None) -> tuple[bool | None, str]:
    """binary True / False / None from the reward model, remote reward, normalisation, shaping."""
    model = s.get("reward.model_name_or_path", None)
    model = model or s.undetermined.get("reward.model_name_or_path")  # --reward... $RM
    normalised = s.get("reward.normalize_enable", False) is True
    overlong = s.get("reward.overlong_buffer_len", None)
    remote = s.get("reward.remote_url", None)
    reasons = []
    if model:
        reasons.append(f"a reward model ({model}) scores the answers")
    if normalised:
        reasons.append("reward.normalize_enable normalises rewards by running statistics")
    if overlong is not None:
        reasons.append(f"reward.overlong_buffer_len={overlong:g}: an overlong penalty")
    if reasons:
        return False, "; ".join(reasons) + ": real-valued rewards"
    remote = remote or s.undetermined.get("reward.remote_url")  # e.g. ${WORK_DIR}/f.py
    if remote:
        what = "a custom reward function" if str(remote).endswith(".py") else "a remote reward"
        return None, f"reward.remote_url={remote}: {what} of unknown range"
    agent = "train.agent_func_path"  # not read with get: it stays under Not modelled too
    agent = s.values.get(agent) or s.undetermined.get(agent)
    if agent:
        return None, f"train.agent_func_path={agent}: an agent script's rewards, of unknown range"
    return None, "no reward model or reward function is named in this config"


def openrlhf_normaliser(s: Settings, run: RunConfig) -> Normaliser:
    """Answers per token-mean normaliser: the optimizer step (>= 0.10.4), one GPU's
    micro-batch (0.7-0.10.3), the answer itself (0.6, and GSPO / seq-mean-token-mean)."""
    version = version_key(s.table.version)
    loss = s.values.get("actor.policy_loss_type", "ppo")
    reduced = reduced_factor(run)
    if reduced is not None and reduced[0] != "token-mean":
        return Normaliser(reduced[0], None, reduced[1])
    if run.aggregation != "token-mean" or loss == "gspo":
        factor = "1" if run.aggregation == "seq-mean-token-sum" else "1/L"
        return Normaliser(factor, None, f"actor.loss_agg_mode={run.aggregation} (or GSPO)")
    if version < version_key("0.7"):
        return Normaliser(
            "1/L", None, "per-sequence token mean (openrlhf/models/loss.py:76 in 0.6.4)"
        )
    if version < version_key("0.10.4"):
        micro = s.int("train.micro_batch_size", 1)
        return Normaliser(
            "token-mean",
            float(micro),
            "the tokens of one GPU's micro-batch, train.micro_batch_size answers "
            "(openrlhf/models/loss.py:175-178 in 0.10.2)",
        )
    return Normaliser(
        "token-mean",
        float(s.int("train.batch_size", 128)),
        "the tokens of the whole optimizer step, train.batch_size answers (from 0.10.4: "
        "openrlhf/utils/loss_utils.py:54-80 sums them over the step, models/loss.py:29-32 "
        "divides by them, in 0.11.2)",
    )


RECORD = Framework(
    name="openrlhf",
    title="OpenRLHF",
    data="openrlhf",
    programs=("openrlhf.cli.train_ppo_ray", "openrlhf.cli.train_*ppo*", "openrlhf.cli.*"),
    markers=(
        "algo.*",
        "rollout.*",
        "train.*",
        "advantage_estimator",
        "init_kl_coef",
        "n_samples_per_prompt",
        "rollout_batch_size",
        "micro_train_batch_size",
        "use_kl_loss",
    ),
    arguments="argparse",
    read=read_openrlhf,
    rewards=openrlhf_rewards,
    normaliser=openrlhf_normaliser,
    rule=AdvantageRule(
        estimators=OPENRLHF_ESTIMATORS,
        key="algo.advantage.estimator",
        default="gae",
        advantages=openrlhf_advantages,
        settings={"algo.advantage.no_std_norm": False},
        scheme=from_openrlhf,
        scheme_estimators=("group_norm", "dr_grpo", "rloo"),  # not the batch-level one
    ),
    tools=(  # openrlhf/cli/*.py of 0.6.4-0.11.2 besides train_ppo_ray: no rollouts, no RL update
        ("openrlhf.cli.train_sft", "OpenRLHF's supervised fine-tuning entry point"),
        ("openrlhf.cli.train_rm", "OpenRLHF's reward-model training entry point"),
        ("openrlhf.cli.train_prm", "OpenRLHF's process-reward-model training entry point"),
        ("openrlhf.cli.train_dpo", "OpenRLHF's DPO entry point (an offline preference loss)"),
        ("openrlhf.cli.train_kto", "OpenRLHF's KTO entry point (an offline preference loss)"),
        ("openrlhf.cli.train_kd", "OpenRLHF's distillation entry point"),
        ("openrlhf.cli.serve_rm", "OpenRLHF's reward-model server"),
        ("openrlhf.cli.batch_inference", "OpenRLHF's batch generation entry point"),
        ("openrlhf.cli.interactive_chat", "OpenRLHF's chat entry point"),
        ("openrlhf.cli.lora_combiner", "OpenRLHF's LoRA merging tool"),
    ),
)
