"""SkyRL (NovaSky-AI/SkyRL, ``skyrl`` 0.3.0): advantage rules, config reader and record.

Keys are the dotted paths of ``SkyRLTrainConfig`` (skyrl/train/config/config.py:1174), from a
YAML file or the Hydra-style overrides of ``uv run -m skyrl.train.entrypoints.main_base
trainer.algorithm.advantage_estimator=grpo ...``. Advantage (skyrl/backends/skyrl_train/utils/
ppo_utils.py in 0.3.0, float32; the score is the sum of the token rewards, the outcome reward on
the last token): ``grpo`` (:1287-1336) (r - mean) / (Bessel std + 1e-6), or r - mean without
``grpo_norm_by_std``, a group of one: mean 0, std 1; ``rloo`` (:1203-1252) (r - mean) M/(M-1),
a group of one 0; ``maxrl`` (:1340-1371) (r - mean) / (mean + 1e-6), a group of one r;
``reinforce++`` (:1168-1199) the return to go (gamma) whitened over every valid token of the batch
(masked_whiten :146-152: Bessel over tokens, rsqrt(var + 1e-8)). Then
``trainer.algorithm.advantage_batch_normalize`` (skyrl/train/trainer.py:1449-1454) z-scores the
[B, T] advantages: the mean over every entry (padding included, T the longest answer), the
variance over valid tokens only, clamp 1e-8. Updates per rollout: train_batch_size //
policy_mini_batch_size x update_epochs_per_batch (trainer.py:768-770; both count prompts).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core import schemes as sch
from rlxform.core.registry import Counts, Scheme, p_limit, register, safe_div
from rlxform.core.xp import namespace
from rlxform.frameworks.advantages import check_bool, reject_unused
from rlxform.frameworks.common import Clip, KLTerm, RunConfig, Settings, StdNorm, overlong_fields
from rlxform.frameworks.losses import LossReading
from rlxform.frameworks.record import AdvantageRule, Framework, Normaliser
from rlxform.types import ArrayLike, NDArray
from rlxform.validation import InputError, check_choice, check_float

SKYRL_ESTIMATORS = ("grpo", "rloo", "maxrl", "reinforce++")
SKYRL_STD_EPSILON = 1e-6  # compute_grpo_outcome_advantage / compute_maxrl_advantage epsilon
SKYRL_VAR_FLOOR = 1e-8  # masked_whiten: rsqrt(var + 1e-8); batch normalize: clamp(min=1e-8)
A = "trainer.algorithm."
_LOSS_REDUCTION = (
    "token_mean",
    "token_mean_legacy",
    "sequence_mean",
    "seq_mean_token_sum_norm",
    "prompt_mean",
)


def _maxrl_limit(eps: float) -> bern.Limit:
    """h(p) = log(1 + p/eps), w = 1 / (p + eps): the large-M limit of (r - q) / (q + eps)."""
    return bern.Limit(
        lambda xp, p: xp.log1p(p / eps),
        lambda xp, p: 1.0 / (p + eps),
        f"log(1 + p/{eps:g})",
    )


def _skyrl_limit(estimator, grpo_norm_by_std, epsilon, **_):
    if estimator == "maxrl":
        return (
            (_maxrl_limit(epsilon), f"log(1 + p/{epsilon:g})")
            if epsilon > 0
            else (
                bern.log_objective,
                "log p",
            )
        )
    if estimator == "grpo" and grpo_norm_by_std:
        return sch.grpo_limit(eps=epsilon)
    return p_limit()


@register(
    "skyrl",
    "SkyRL 0.3.0 ppo_utils outcome advantage (grpo, rloo, maxrl) for binary rewards",
    _skyrl_limit,
    min_group_size=1,
    eps="epsilon",
)
def skyrl_rule(c: Counts, estimator: str, grpo_norm_by_std: bool, epsilon: ArrayLike):
    zeros = np.zeros(c.m + 1)
    if c.m == 1:  # a group of one: grpo mean 0, std 1; rloo 0; maxrl r - 0
        if estimator == "rloo":
            return zeros, zeros
        if estimator == "grpo" and grpo_norm_by_std:
            return namespace(epsilon).where(c.s == 1, 1.0 / (1.0 + epsilon), 0.0), zeros
        return np.array([0.0, 1.0]), zeros
    if estimator == "rloo":
        return sch.rloo_rule(c)
    if estimator == "maxrl":
        return safe_div(1.0 - c.q, c.q + epsilon), safe_div(-c.q, c.q + epsilon)
    if not grpo_norm_by_std:
        return sch.mean_baseline_rule(c)
    return sch.normalised_rule(c, c.std("sample"), epsilon)


def from_skyrl(
    estimator: str = "grpo",
    grpo_norm_by_std: bool = True,
    epsilon: float = SKYRL_STD_EPSILON,
    **unused: Any,
) -> Scheme:
    """The scheme SkyRL 0.3.0 runs for ``trainer.algorithm.advantage_estimator`` (0/1 rewards).

    grpo: GRPO, Bessel std, eps 1e-6 (verl's rule; r - mean without ``grpo_norm_by_std``); rloo:
    r - mean of the others; maxrl: (r - q)/(q + 1e-6), large-M h = log(1 + p/1e-6). reinforce++
    whitens over the batch and has no per-group scheme.
    """
    reject_unused("skyrl", unused, "grpo_norm_by_std, epsilon")
    estimator = check_choice("estimator", estimator, SKYRL_ESTIMATORS[:3])
    norm = check_bool("grpo_norm_by_std", grpo_norm_by_std)
    return Scheme.make(
        "skyrl",
        estimator=estimator,
        grpo_norm_by_std=norm if estimator == "grpo" else False,
        epsilon=check_float("epsilon", epsilon, 0.0),
    )


# ---- per-response advantages (float64) ------------------------------------------------------


def _whiten_tokens(values: NDArray, lengths: NDArray) -> NDArray:
    """masked_whiten: token-weighted mean, Bessel variance over the N valid tokens."""
    tokens = lengths.sum()
    if tokens <= 1:
        raise InputError(
            f"lengths={lengths.reshape(-1).tolist()!r} is invalid for reinforce++: SkyRL's "
            "masked_var needs at least 2 valid tokens (ppo_utils.py:128-143)"
        )
    mean = np.sum(lengths * values) / tokens
    var = np.sum(lengths * (values - mean) ** 2) / tokens * tokens / (tokens - 1)
    return (values - mean) / np.sqrt(var + SKYRL_VAR_FLOOR)


def skyrl_advantages(estimator: str, g: NDArray, lengths: NDArray, get) -> NDArray:
    """SkyRL 0.3.0 advantages for groups ``g`` (``float64[G, M]``); ``lengths`` valid tokens."""
    estimator = "reinforce++" if estimator == "reinforce_pp" else estimator
    estimator = check_choice("estimator", estimator, SKYRL_ESTIMATORS)
    m = g.shape[1]
    flat = np.ptp(g, axis=1, keepdims=True) == 0
    centred = np.where(flat, 0.0, g - g.mean(1, keepdims=True))
    if estimator == "grpo":
        norm = check_bool(A + "grpo_norm_by_std", get(A + "grpo_norm_by_std"))
        if m == 1:
            out = g / (1.0 + SKYRL_STD_EPSILON) if norm else g.copy()
        elif norm:
            out = centred / (g.std(1, ddof=1, keepdims=True) + SKYRL_STD_EPSILON)
        else:
            out = centred
    elif estimator == "rloo":
        out = np.zeros_like(g) if m == 1 else centred * m / (m - 1)
    elif estimator == "maxrl":
        out = g.copy() if m == 1 else centred / (g.mean(1, keepdims=True) + SKYRL_STD_EPSILON)
    else:
        gamma = check_float(A + "gamma", get(A + "gamma"), 0.0)
        if gamma != 1.0 and np.any(lengths > 1):
            raise InputError(
                f"{A}gamma={gamma!r} is invalid here: with gamma != 1 the return to go differs "
                "token by token (gamma^(L-1-t) r), not one advantage per response; pass gamma 1 "
                "or one-token responses"
            )
        out = _whiten_tokens(g, lengths)
    if check_bool(A + "advantage_batch_normalize", get(A + "advantage_batch_normalize")):
        out = batch_normalize(out, lengths)
    return out


def batch_normalize(advantages: NDArray, lengths: NDArray) -> NDArray:
    """trainer.py:1449-1454: (A - mean) / sqrt(max(var, 1e-8)), the mean over every [B, T]
    entry of the padded batch (T = the longest answer; padding holds 0), the variance over the
    valid tokens. ``advantages``, ``lengths``: one value per response."""
    padded = advantages.size * lengths.max()
    mean = np.sum(lengths * advantages) / padded
    var = np.sum(lengths * (advantages - mean) ** 2) / lengths.sum()
    return (advantages - mean) / np.sqrt(max(var, SKYRL_VAR_FLOOR))


# ---- the config reader ---------------------------------------------------------------------


def read_skyrl(s: Settings) -> RunConfig:
    """SkyRL's ``trainer.*`` / ``generator.*`` keys."""
    estimator = s.modelled(
        A + "advantage_estimator",
        "grpo",
        SKYRL_ESTIMATORS[:3],
        "SkyRL",
        "binary outcome rewards (reinforce++ whitens raw rewards over the batch: only "
        "frameworks.advantages restates it)",
    )
    norm = s.bool(A + "grpo_norm_by_std", True)
    group_size = s.int("generator.n_samples_per_prompt", 5)
    reduction = s.str(A + "loss_reduction", "token_mean", _LOSS_REDUCTION)
    train_batch = s.int("trainer.train_batch_size", 1024)
    mini_batch = s.int("trainer.policy_mini_batch_size", 256)
    if mini_batch > train_batch:
        raise InputError(
            f"trainer.policy_mini_batch_size={mini_batch!r} is invalid: must be <= "
            f"trainer.train_batch_size={train_batch} (both count prompts)"
        )
    updates = train_batch // mini_batch * s.int("trainer.update_epochs_per_batch", 1)
    pitfalls = []
    if group_size == 1:
        pitfalls.append(
            "generator.n_samples_per_prompt is 1: groups of one answer, no group baseline (grpo "
            "uses mean 0 and std 1, rloo gives 0, maxrl gives A = r)"
        )
    if estimator == "maxrl":
        pitfalls.append(
            "maxrl divides r - q by q + 1e-6 (q the group's success rate): rare successes get "
            "weight ~1/q, the objective tends to log(1 + p/1e-6)"
        )
    if s.bool(A + "zero_variance_filter", False):
        pitfalls.append(
            "trainer.algorithm.zero_variance_filter zeroes the loss masks of groups whose rewards "
            "are equal (trainer.py:1072-1087): they stay in the batch but leave the token count; "
            "their advantages are 0 anyway, so only the step size changes (exactly, "
            "rlxform.core.dynamic.step_factors; for large batches 1 / (1 - d))"
        )
    kl = _kl(s, pitfalls)
    dynamic = s.get(A + "dynamic_sampling.type", None) == "filter"
    normalised = estimator == "grpo" and norm
    eps = SKYRL_STD_EPSILON
    return RunConfig(
        estimator=estimator,
        group_size=group_size,
        std=StdNorm.of(normalised, eps, "group"),
        aggregation=reduction,
        updates_per_rollout=updates,
        clip=Clip(s.float(A + "eps_clip_low", 0.2), s.float(A + "eps_clip_high", 0.2)),
        kl=kl,
        dynamic_sampling=dynamic,
        scheme_params=(("grpo_norm_by_std", norm),),
        pitfalls=tuple(pitfalls),
        max_length=s.int("generator.sampling_params.max_generate_length", 1024),
        **_dapo_fields(s),
        # DAPO overlong filtering: truncated answers' loss masks are 0 (generators/utils.py:332)
        mask_truncated=s.bool("generator.apply_overlong_filtering", False),
        loss=LossReading(
            A + "policy_loss_type",
            s.str(A + "policy_loss_type", "regular"),
            s.table.label,
            None,
            "rlxform's loss-mode reducer (rlxform.core.loss_modes) covers verl, TRL and "
            "OpenRLHF; SkyRL's regular loss is the PPO clip -min(r A, clamp(r, 1 - eps_clip_low, "
            "1 + eps_clip_high) A) (skyrl/backends/skyrl_train/utils/ppo_utils.py:554-570 in "
            "0.3.0), whose gradient on the first update (r = 1) is -A grad log pi; the other "
            "policy_loss_type values are listed under Not modelled",
        ),
    )


def _kl(s: Settings, pitfalls: list[str]) -> KLTerm:
    """use_kl_loss (default on): kl_loss_coef x kl_estimator_type in the loss; use_kl_in_reward:
    kl_ctrl (starting at kl_loss_coef) x the estimator in the token rewards."""
    in_loss = s.bool(A + "use_kl_loss", True)
    in_reward = s.bool(A + "use_kl_in_reward", False)
    coef = s.float(A + "kl_loss_coef", 0.001)
    kind = s.str(A + "kl_estimator_type", "k3")
    if in_loss and in_reward:
        raise InputError(
            f"{A}use_kl_loss and {A}use_kl_in_reward are both true: SkyRL allows one of them "
            "(config.py:604-607)"
        )
    if coef == 0 or not (in_loss or in_reward):
        return KLTerm()
    if in_reward:
        if s.get(A + "kl_ctrl.type", "fixed") == "adaptive":
            pitfalls.append("trainer.algorithm.kl_ctrl.type is adaptive: kl_loss_coef is a start")
        return KLTerm("reward", kind, coef)
    return KLTerm("loss", kind, coef)


def _dapo_overlong(s: Settings) -> str | None:
    """SkyRL's DAPO entrypoints (examples/train/algorithms/dapo/main_dapo*.py) add
    trainer.algorithm.overlong_buffer_len (default 512) and overlong_buffer_penalty_factor
    (default 1.0) to the config (main_dapo.py:20-25 in skyrl-v0.3.0) and subtract
    (L - (max_generate_length - buffer)) / buffer x factor from the reward of an answer of L
    tokens in the buffer, 0 past the limit (main_dapo.py:60-74): rewards are no longer 0/1."""
    program = str(getattr(s, "program", None) or "")
    keys = (A + "overlong_buffer_len", A + "overlong_buffer_penalty_factor")
    if not (".dapo.main_dapo" in program or any(s.is_set(k) for k in keys)):
        return None
    length, factor = s.get(keys[0], 512), s.get(keys[1], 1.0)
    if factor == 0:
        return None
    return (
        f"DAPO soft overlong punishment ({keys[0]}={length}, {keys[1]}={factor}; "
        "examples/train/algorithms/dapo/main_dapo.py:20-25,60-74 in skyrl-v0.3.0): an answer "
        f"within {length} tokens of generator.sampling_params.max_generate_length loses up to "
        f"{factor} reward, so rewards are not 0/1"
    )


def _dapo_fields(s: Settings) -> dict[str, Any]:
    """RunConfig's overlong_* fields (the Filters section) while the DAPO penalty acts: the
    DAPO form min(-(L - (L_max - buffer)) / buffer x factor, 0) (main_dapo.py:60-70)."""
    if not _dapo_overlong(s):
        return {}
    length = s.get(A + "overlong_buffer_len", 512)
    factor = s.get(A + "overlong_buffer_penalty_factor", 1.0)
    most = s.int("generator.sampling_params.max_generate_length", 1024)
    return overlong_fields(length, factor, most)


def skyrl_rewards(s: Settings, extra: Any = None) -> tuple[bool | None, str]:
    """binary True / None from the environment class (rewards are the environment's)."""
    env = s.get("environment.env_class", "gsm8k")
    if s.get("generator.zero_reward_on_non_stop", False) is True:
        extra_why = "; generator.zero_reward_on_non_stop zeroes truncated answers' rewards"
    else:
        extra_why = ""
    shaping = _dapo_overlong(s)
    if shaping:
        return False, shaping + extra_why
    if env == "gsm8k":
        return True, (
            "the gsm8k environment scores 1.0 for a correct answer and 0 otherwise "
            "(skyrl-gym skyrl_gym/envs/gsm8k/utils.py:44-63)" + extra_why
        )
    return None, f"environment.env_class={env}: rewards of unknown range" + extra_why


def skyrl_normaliser(s: Settings, run: RunConfig) -> Normaliser:
    """loss_reduction scales the advantages per mini-batch (ppo_utils.py:1095-1163)."""
    where = f"{A}loss_reduction={run.aggregation} (ppo_utils.py:1095-1163 in 0.3.0)"
    if run.aggregation == "sequence_mean":
        return Normaliser("1/L", None, where + ": each answer by its own token count")
    if run.aggregation == "seq_mean_token_sum_norm":
        return Normaliser("1/L_max", None, where + ": by max_seq_len, a constant")
    if run.aggregation == "prompt_mean":
        return Normaliser(
            "token-mean", float(run.group_size), where + ": the tokens of each prompt's group"
        )
    if run.aggregation == "token_mean_legacy":
        micro = s.int("trainer.micro_train_batch_size_per_gpu", 1)
        return Normaliser(
            "token-mean",
            float(micro),
            where + ": the tokens of each micro-batch of "
            "micro_train_batch_size_per_gpu answers, averaged over micro-batches",
        )
    answers = s.int("trainer.policy_mini_batch_size", 256) * run.group_size
    return Normaliser(
        "token-mean",
        float(answers),
        "the tokens of one mini-batch, policy_mini_batch_size x n_samples_per_prompt answers "
        "(trainer.py:935-937 sets the prompt mini-batches; ppo_utils.py:1123-1124 divides by "
        "their loss-mask tokens, in 0.3.0)",
    )


RECORD = Framework(
    name="skyrl",
    title="SkyRL",
    data="skyrl",
    programs=(
        "skyrl.train.entrypoints.main_*",
        "skyrl_train.entrypoints.main_*",
        "skyrl.train.entrypoints.*",
    ),
    markers=("trainer.algorithm.*", "generator.*"),
    arguments="hydra",
    read=read_skyrl,
    rewards=skyrl_rewards,
    normaliser=skyrl_normaliser,
    rule=AdvantageRule(
        estimators=SKYRL_ESTIMATORS,
        key=A + "advantage_estimator",
        default="grpo",
        advantages=skyrl_advantages,
        settings={
            A + "grpo_norm_by_std": True,
            A + "advantage_batch_normalize": False,
            A + "gamma": 1.0,
        },
        scheme=from_skyrl,
        scheme_estimators=("grpo", "rloo", "maxrl"),  # not the batch-whitened reinforce++
    ),
)
