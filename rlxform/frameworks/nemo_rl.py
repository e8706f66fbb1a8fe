"""NeMo-RL (NVIDIA-NeMo/RL): config reader and record; its advantage rule is ``nemo_rl_rule``.

Keys are dotted paths of the YAML that ``examples/run_grpo.py`` loads (``grpo.*``, ``loss_fn.*``,
``policy.*``), from a YAML file or from ``uv run examples/run_grpo.py [--config FILE]
a.b=value ...`` (Hydra-style overrides; without ``--config`` the script loads
examples/configs/grpo_math_1B.yaml, whose values are the version tables' defaults). The
``grpo.adv_estimator.*`` switches default to ``${grpo.normalize_rewards}`` and
``${grpo.use_leave_one_out_baseline}`` (grpo_math_1B.yaml:33-34 in v0.7.0): a run that sets
only the top-level key moves both. Updates per rollout: num_prompts_per_step x
num_generations_per_prompt // policy.train_global_batch_size (dtensor_policy_worker_v2.py:410).
"""

from __future__ import annotations

import re
from typing import Any

from rlxform.frameworks.common import Clip, KLTerm, RunConfig, Settings, StdNorm, overlong_fields
from rlxform.frameworks.losses import LossReading
from rlxform.frameworks.nemo_rl_rule import (
    ADVANTAGE_KEYS,
    NEMO_RL_STD_EPSILON,
    NEMO_RL_VAR_FLOOR,
    RULE,
    check_clip,
    reward_scale,
)
from rlxform.frameworks.record import Framework, Normaliser
from rlxform.frameworks.tables import version_key
from rlxform.validation import InputError

G, L, P = "grpo.", "loss_fn.", "policy."
_ESTIMATORS = ("grpo", "reinforce_plus_plus")
_INTERP = re.compile(r"\$\{\s*([A-Za-z_][\w.]*)\s*\}")


def switch(s: Settings, key: str, top: str, fallback: bool) -> bool:
    """``grpo.adv_estimator.<key>`` as set, else (absent or ``${grpo.<key>}``) ``grpo.<key>``."""
    s.read.add(key)
    value = s.values.get(key)
    if isinstance(value, str):
        match = _INTERP.fullmatch(value.strip())
        if not match:
            raise InputError(f"{key}={value!r} is invalid: must be true, false or ${{{top}}}")
        top = match[1]
        value = None
    if value is None:
        return s.bool(top, fallback)
    return s.bool(key)


def read_nemo_rl(s: Settings) -> RunConfig:
    """NeMo-RL's GRPO config (``grpo``, ``loss_fn``, ``policy`` sections)."""
    version = version_key(s.table.version)
    base = _base_config(s)
    name = s.modelled(
        G + "adv_estimator.name", "grpo", _ESTIMATORS, "NeMo-RL", "binary outcome rewards"
    )
    adv = G + "adv_estimator."
    loo = switch(s, adv + "use_leave_one_out_baseline", G + "use_leave_one_out_baseline", False)
    normalize = switch(s, adv + "normalize_rewards", G + "normalize_rewards", True)
    group_size = s.int(G + "num_generations_per_prompt")
    prompts = s.int(G + "num_prompts_per_step")
    global_batch = s.int(P + "train_global_batch_size")
    if global_batch > prompts * group_size:
        raise InputError(
            f"{P}train_global_batch_size={global_batch!r} is invalid: must be <= "
            f"num_prompts_per_step x num_generations_per_prompt = {prompts * group_size} (NeMo-RL "
            "trains on total // train_global_batch_size global batches per step: 0 here, no update)"
        )
    updates = prompts * group_size // global_batch
    token_level = s.bool(L + "token_level_loss", True)
    clip = Clip(s.float(L + "ratio_clip_min", 0.2), s.float(L + "ratio_clip_max", 0.2))
    low, high = (s.get(G + k, None) for k in ("advantage_clip_low", "advantage_clip_high"))
    check_clip(low, high)
    r0, scale = reward_scale(lambda k: s.get(k, ADVANTAGE_KEYS[k]))
    pitfalls: list[str] = [base] if base else []
    variant = "grpo@v0.3.1" if version < (0, 4) else "grpo"
    if name == "grpo" and loo and normalize:
        pitfalls.append(
            "the default GRPO of NeMo-RL divides r_i minus the mean of the other M-1 rewards by "
            "their std, and not at all where that std is 0: the lone success of a 1-of-M group "
            "gets A = 1, undivided (rlxform scheme loo_grpo; GRPO divides it by the group std)"
        )
    if name == "grpo" and loo and not normalize:
        pitfalls.append("leave-one-out baseline without std: RLOO, A = r - mean of the others")
    if scale != 1.0 or r0 != 0.0:
        pitfalls.append(
            f"grpo.reward_scaling maps the rewards 0 and 1 to {r0:g} and {r0 + scale:g} "
            f"(grpo.py:1386-1429): rewards {scale:g} apart, so a std-normalised advantage sees "
            f"eps / {abs(scale):g} and any undivided one is {scale:g} times larger"
        )
    if low is not None or high is not None:
        pitfalls.append(
            f"advantages are clamped to [{low}, {high}] after the estimator (grpo.py:1839-1850)"
        )
    kl = _kl(s, name, version, pitfalls)
    dynamic = s.bool(G + "use_dynamic_sampling", False) and not loo
    if name == "reinforce_plus_plus":
        if not s.bool(G + "adv_estimator.minus_baseline", True):
            raise InputError(
                f"{G}adv_estimator.minus_baseline=False is not modelled by rlxform: NeMo-RL then "
                "whitens the raw rewards over the batch (no group baseline); it models "
                "reinforce_plus_plus with minus_baseline=True (r - group mean, then whitened)"
            )
        pitfalls.append(
            "reinforce_plus_plus whitens r - group mean over every token of the batch "
            "(token-weighted mean and variance, advantage_estimator.py:224-228): long answers "
            "weigh more in the statistics"
        )
        std = StdNorm.of(True, NEMO_RL_VAR_FLOOR, "batch")
        params: tuple = ()
    else:
        eps = 0.0 if variant == "grpo@v0.3.1" else NEMO_RL_STD_EPSILON
        std = StdNorm.of(normalize, eps, "group")
        params = (
            ("variant", variant),
            ("use_leave_one_out_baseline", loo),
            ("normalize_rewards", normalize),
            ("advantage_clip_low", low),
            ("advantage_clip_high", high),
            ("reward_scale", scale),
        )
    return RunConfig(
        estimator=name,
        group_size=group_size,
        std=std,
        aggregation="token-mean" if token_level else "seq-mean-token-mean",
        updates_per_rollout=updates,
        clip=clip,
        kl=kl,
        dynamic_sampling=dynamic,
        scheme_params=params,
        pitfalls=tuple(pitfalls),
        max_length=s.int_or_none(P + "generation.max_new_tokens"),
        **_overlong(s),
        # truncated answers' loss_multiplier set to 0 (grpo.py:2525-2534 in v0.7.0)
        mask_truncated=s.bool(G + "overlong_filtering", False),
        loss=_loss(s),
    )


def _overlong(s: Settings) -> dict[str, Any]:
    """RunConfig's overlong_* fields (the Filters section) while grpo.reward_shaping applies
    the DAPO penalty min(-(L - (max_response_length - buffer)) / buffer x penalty, 0)
    (nemo_rl/algorithms/reward_functions.py:130-171 in v0.7.0; not with
    stop_properly_penalty_coef, :70-118)."""
    R = G + "reward_shaping."
    if s.get(R + "enabled", False) is not True:
        return {}
    if s.get(R + "stop_properly_penalty_coef", None) is not None:
        return {}
    length = s.get(R + "overlong_buffer_length", 128)
    most = s.int_or_none(R + "max_response_length")
    most = most or s.int_or_none(P + "max_total_sequence_length")
    return overlong_fields(length, s.get(R + "overlong_buffer_penalty", 1), most)


def _loss(s: Settings) -> LossReading:
    """The PPO clip of ClippedPGLossFn, or the mode a loss_fn switch selects (not reduced)."""
    modes = (
        ("use_cispo", "cispo"),
        ("sequence_level_importance_ratios", "gspo"),
        ("disable_ppo_ratio", "reinforce"),
        ("force_on_policy_ratio", "on-policy ratio"),
    )
    for key, mode in modes:
        if s.values.get(L + key) is True:
            return LossReading(L + key, mode, s.table.label, None, _LOSS_WHY)
    return LossReading("", "ppo_clip", s.table.label, None, _LOSS_WHY)


_LOSS_WHY = (
    "rlxform's loss-mode reducer (rlxform.core.loss_modes) covers verl, TRL and OpenRLHF; "
    "NeMo-RL's ClippedPGLossFn is the PPO clip max(-A r, -A clamp(r, 1 - ratio_clip_min, 1 + "
    "ratio_clip_max)) (nemo_rl/algorithms/loss/loss_functions.py:474-488 in v0.7.0), whose "
    "gradient on the first update (r = 1) is -A grad log pi; its other modes are listed under "
    "Not modelled"
)


def _base_config(s: Settings) -> str | None:
    """A YAML's ``defaults:`` (NeMo-RL's load_config inheritance): grpo_math_1B.yaml is what the
    version tables hold; another base is named (its values are not read)."""
    s.read.add("defaults")
    base = s.values.get("defaults")
    if base is None or str(base).rsplit("/", 1)[-1] == "grpo_math_1B.yaml":
        return None
    return (
        f"defaults: {base}: this config inherits another base config, whose values are not "
        f"read here; keys this file does not set take grpo_math_1B.yaml's ({s.table.label})"
    )


def _kl(s: Settings, name: str, version: tuple, pitfalls: list[str]) -> KLTerm:
    """The KL term. k3 is the only type before v0.5; from v0.7 the
    loss multiplies it by exp(logp - logp.detach()) (loss_functions.py:414-427), TRL's
    bias-corrected form (``k3_ratio``); ``use_kl_in_reward`` drops it from the loss
    (loss_functions.py:225) and only reinforce_plus_plus puts it in the advantage."""
    coef = s.float(L + "reference_policy_kl_penalty", 0.01)
    kind = s.str(L + "reference_policy_kl_type", "k3") if version >= (0, 5) else "k3"
    in_reward = s.bool(L + "use_kl_in_reward", False) if version >= (0, 6) else False
    if coef == 0:
        return KLTerm()
    if in_reward:
        if name != "reinforce_plus_plus":
            pitfalls.append(
                f"{L}use_kl_in_reward removes the KL from the loss and the {name} estimator does "
                "not add it to the rewards: this run has no KL term"
            )
            return KLTerm()
        return KLTerm("reward", kind, coef)
    ratio = version >= (0, 7)  # the weights were detached before (v0.6.0 :343-352)
    return KLTerm("loss", f"{kind}_ratio" if ratio else kind, coef)


def nemo_rl_rewards(s: Settings, extra: Any = None) -> tuple[bool | None, str]:
    """binary True / False / None from the environment, reward shaping and reward scaling."""
    if s.get(G + "reward_shaping.enabled", False) is True:
        coef = s.get(G + "reward_shaping.stop_properly_penalty_coef", None)
        what = (
            f"truncated answers' rewards are multiplied by {coef}"
            if coef is not None
            else "answers past max_response_length - overlong_buffer_length lose up to "
            f"{s.get(G + 'reward_shaping.overlong_buffer_penalty', 1)}"
        )
        return False, f"grpo.reward_shaping is on (algorithms/reward_functions.py): {what}"
    env = s.get("data.default.env_name", None) or s.get("data.env_name", None) or "math"
    scaled = ""
    if s.get(G + "reward_scaling.enabled", False) is True:
        r0, k = reward_scale(lambda key: s.get(key, ADVANTAGE_KEYS[key]))
        scaled = f", mapped to {{{r0:g}, {r0 + k:g}}} by grpo.reward_scaling (still two values)"
    if env == "math":
        return True, (
            "the math environment scores 1.0 for a verified answer and 0.0 otherwise "
            "(nemo_rl/environments/math_environment.py:181 in v0.7.0)" + scaled
        )
    return None, f"environment {env!r}: a reward of unknown range" + scaled


def nemo_rl_normaliser(s: Settings, run: RunConfig) -> Normaliser:
    """token_level_loss: every token of a global batch (train_global_batch_size answers) shares
    one count; otherwise each answer's token mean (1/L)."""
    if run.aggregation != "token-mean":
        return Normaliser(
            "1/L",
            None,
            "loss_fn.token_level_loss=false: per-answer token mean, then the mean "
            "over answers (loss_functions.py:620-629 in v0.7.0)",
        )
    return Normaliser(
        "token-mean",
        float(s.int(P + "train_global_batch_size")),
        "the tokens of one global batch, policy.train_global_batch_size answers: "
        "masked_mean(..., global_normalization_factor=global_valid_toks) "
        "(loss/loss_functions.py:614-619; models/automodel/data.py:351-363 sums them over "
        "data-parallel ranks, in v0.7.0)",
    )


RECORD = Framework(
    name="nemo_rl",
    title="NeMo-RL",
    data="nemo_rl",
    programs=("examples/run_grpo*.py", "*/run_grpo*.py", "run_grpo*.py"),
    # data.default.env_name, policy.dtensor_cfg.*: NeMo-RL-only keys (a derived config, e.g.
    # examples/configs/grpo_rm_1B.yaml in v0.7.0, may set no grpo.* / loss_fn.* key)
    markers=("grpo.*", "loss_fn.*", "data.default.env_name", "policy.dtensor_cfg.*"),
    loose=True,
    arguments="hydra",
    config_flag="config",
    read=read_nemo_rl,
    rewards=nemo_rl_rewards,
    normaliser=nemo_rl_normaliser,
    rule=RULE,
)
