"""slime (THUDM, v0.3.1): its advantage rule, argparse reader and record.

Keys are slime's argparse dests (``advantage_estimator``, ``grpo_std_normalization``), read from
``python train.py`` / ``ray job submit ... -- python3 train.py`` flags (``--n-samples-per-prompt
8``; ``--disable-grpo-std-normalization`` sets ``grpo_std_normalization`` to False), or from a
mapping in any of these spellings. Megatron-LM and SGLang flags that slime does not declare are
not in its table (named on the card). Advantage: ``RolloutManager._post_process_rewards``
(slime/ray/rollout.py:685-710: r - group mean, / (std_Bessel + 1e-6) for grpo/gspo/cispo) then
``compute_advantages_and_returns`` (slime/backends/megatron_utils/loss.py:661-828: the reward on
every token, ``--normalize-advantages`` whitening over the rollout's tokens).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.core.group_norm import group_norm
from rlxform.frameworks.advantages import check_bool
from rlxform.frameworks.batch_steps import SLIME_WHITEN_EPS, slime_whiten
from rlxform.frameworks.common import Clip, KLTerm, RunConfig, Settings, StdNorm
from rlxform.frameworks.losses import LossReading
from rlxform.frameworks.record import AdvantageRule, Framework, Normaliser
from rlxform.types import NDArray
from rlxform.validation import InputError, check_choice, check_float

SLIME_ESTIMATORS = ("grpo", "gspo", "cispo", "reinforce_plus_plus", "reinforce_plus_plus_baseline")
SLIME_STD_EPSILON = 1e-6  # rollout.py:706: rewards / (std + 1e-6)
_GROUP = ("grpo", "gspo", "cispo")
# flags whose argparse dest differs from the flag (store_false): flag -> dest (arguments.py)
NEGATED = {
    "disable_rewards_normalization": "rewards_normalization",  # :1000-1005
    "disable_grpo_std_normalization": "grpo_std_normalization",  # :994-999
    "disable_compute_advantages_and_returns": "compute_advantages_and_returns",  # :946-955
    # argparse.BooleanOptionalAction's --no- form (:83-97)
    "no_offload_train": "offload_train",
    "no_offload_rollout": "offload_rollout",
}
SOURCE = "slime v0.3.1"


def settings_key(key: str, value: Any) -> tuple[str, Any]:
    """A setting as users write it -> (argparse dest, value): ``--disable-grpo-std-normalization``
    (True) -> (``grpo_std_normalization``, False); ``--advantage-estimator`` ->
    ``advantage_estimator``."""
    name = str(key).lstrip("-").replace("-", "_")
    if name in NEGATED:
        if not isinstance(value, (bool, np.bool_)):
            raise InputError(f"{key}={value!r} is invalid: must be True or False (a switch)")
        return NEGATED[name], not bool(value)
    return name, value


def slime_advantages(estimator: str, g: NDArray, lengths: NDArray, get) -> NDArray:
    """slime v0.3.1 advantages of groups ``g`` (``float64[G, M]``), per response."""
    estimator = check_choice("advantage_estimator", estimator, SLIME_ESTIMATORS)
    normalise = check_bool("rewards_normalization", get("rewards_normalization"))
    std_on = check_bool("grpo_std_normalization", get("grpo_std_normalization"))
    whiten = check_bool("normalize_advantages", get("normalize_advantages"))
    if check_float("kl_coef", get("kl_coef")) != 0 or check_float("gamma", get("gamma")) != 1:
        raise InputError(
            f"kl_coef={get('kl_coef')!r}, gamma={get('gamma')!r}: rlxform restates slime's "
            "advantage for kl_coef 0 and gamma 1 (a KL in the returns needs the policy's "
            "log-probabilities per token)"
        )
    if estimator.startswith("reinforce_plus_plus") and not whiten:
        raise InputError(
            f"advantage_estimator={estimator!r} requires normalize_advantages (--normalize-"
            "advantages): slime asserts it (slime/utils/arguments.py:1789-1793)"
        )
    m = g.shape[1]
    values = g.copy()
    if normalise and estimator in (*_GROUP, "reinforce_plus_plus_baseline"):
        values = g - g.mean(1, keepdims=True)
        if estimator in _GROUP and std_on and m > 1:  # n_samples_per_prompt 1 forces it off
            values = values / (g.std(1, ddof=1, keepdims=True) + SLIME_STD_EPSILON)
    values = values.reshape(-1)
    if whiten:
        values = slime_whiten(values, lengths.reshape(-1))
    return values.reshape(g.shape)


def from_slime(
    estimator: str = "grpo",
    *,
    rewards_normalization: bool = True,
    grpo_std_normalization: bool = True,
) -> Any:
    """The per-group scheme of slime's advantage (binary rewards): grpo (sample std, eps
    1e-6), the mean baseline without the std, REINFORCE on raw rewards. The batch whitening of
    ``normalize_advantages`` divides every advantage by one batch std (and shifts by a batch
    mean): in the large-batch limit a constant step scale, so the scheme is the same."""
    estimator = check_choice("estimator", estimator, SLIME_ESTIMATORS)
    check_bool("rewards_normalization", rewards_normalization)
    check_bool("grpo_std_normalization", grpo_std_normalization)
    centred = rewards_normalization and estimator in (*_GROUP, "reinforce_plus_plus_baseline")
    std = centred and grpo_std_normalization and estimator in _GROUP
    return group_norm(
        "group" if centred else "none", "group" if std else "none", eps=SLIME_STD_EPSILON
    )


# ---- the config reader ---------------------------------------------------------------------


def _negated(s: Settings) -> None:
    """Read ``--disable-*`` switches as their dests (``s.values`` in dest names)."""
    for flag, dest in NEGATED.items():
        if flag in s.values:
            value = s.values.pop(flag)
            s.values[dest] = not (value is True or str(value).lower() in ("true", "1"))


def read_slime(s: Settings) -> RunConfig:
    """slime's argparse dests -> RunConfig."""
    _negated(s)
    estimator = s.modelled(
        "advantage_estimator",
        "grpo",
        SLIME_ESTIMATORS,
        "slime",
        "outcome rewards (ppo trains a critic)",
    )
    m = s.int("n_samples_per_prompt", 1)
    normalise = s.bool("rewards_normalization", True)
    std_flag = s.bool("grpo_std_normalization", True) and m > 1
    whiten = s.bool("normalize_advantages", False)
    pitfalls: list[str] = []
    if estimator.startswith("reinforce_plus_plus") and not whiten:
        raise InputError(
            f"advantage_estimator={estimator} without --normalize-advantages: slime refuses it "
            "(slime/utils/arguments.py:1789-1793)"
        )
    centred = normalise and estimator in (*_GROUP, "reinforce_plus_plus_baseline")
    group_std = centred and std_flag and estimator in _GROUP
    if m == 1:
        pitfalls.append(
            "n_samples_per_prompt is 1 (slime's default): one answer per prompt, so the group "
            "mean is the reward itself and slime turns the std off (arguments.py:1918-1920)"
        )
    if not normalise and estimator in _GROUP:
        pitfalls.append(
            "--disable-rewards-normalization: the raw reward is the advantage (no group mean, "
            "no std, whatever --disable-grpo-std-normalization says)"
        )
    steps: list[str] = []
    if whiten:
        steps.append(
            "--normalize-advantages whitens the advantages over every loss token of the rollout "
            "(token-weighted mean, Bessel variance over tokens, / sqrt(var + 1e-8); "
            "slime/utils/distributed_utils.py:111-171): in the large-batch limit a shift by a "
            "batch constant and a division by the batch's std sigma, so E[update] tends to "
            "w_M(p) grad p / sigma with the scheme below (long answers weigh more in the "
            "statistics)"
        )
    updates = _updates(s, m, pitfalls)
    clip = Clip.of(s.float("eps_clip", 0.2), high=s.float("eps_clip_high", None))
    kl = _kl(s, pitfalls)
    dynamic = _dynamic(s, pitfalls)
    foreign = [k for k in s.values if not s.table.has(k)]
    if foreign:
        pitfalls.append(
            f"{len(foreign)} flag(s) are not slime's own ({', '.join(sorted(foreign)[:6])}"
            + (", ..." if len(foreign) > 6 else "")
            + "): Megatron-LM's or SGLang's (--sglang-*) parsers read them; rlxform takes "
            "them as engine settings with no effect on the expected update"
        )
    per_token = s.bool("calculate_per_token_loss", False)
    aggregation = "token-mean" if per_token else "seq-mean-token-mean"
    scope = "group" if group_std else "batch"
    eps = SLIME_STD_EPSILON if group_std else SLIME_WHITEN_EPS
    params = (
        ("rewards_normalization", normalise),
        ("grpo_std_normalization", std_flag),
    )
    return RunConfig(
        estimator=estimator,
        group_size=m,
        std=StdNorm.of(group_std or whiten, eps, scope),
        aggregation=aggregation,
        updates_per_rollout=updates,
        clip=clip,
        kl=kl,
        dynamic_sampling=dynamic,
        scheme_params=params,
        pitfalls=tuple(pitfalls),
        max_length=s.int_or_none("rollout_max_response_len"),
        loss=_loss(s, estimator, aggregation),
        batch_steps=tuple(steps),
    )


def _updates(s: Settings, m: int, pitfalls: list[str]) -> float:
    """rollout_batch_size x M / global_batch_size optimizer steps (arguments.py:690-704,
    1910-1918; model.py:461 trains one step per global batch)."""
    gbs = s.get("global_batch_size", None)
    steps = s.get("num_steps_per_rollout", None)
    if s.get("rollout_batch_size", None) is None:
        pitfalls.append("rollout_batch_size is not set (slime requires it): one update assumed")
        return 1
    samples = s.int("rollout_batch_size") * m
    if steps is not None:
        return s.int("num_steps_per_rollout")
    if gbs is None:
        pitfalls.append(
            "neither --global-batch-size nor --num-steps-per-rollout is set: Megatron then "
            "takes micro-batch size x data-parallel ranks, which the file does not fix; one "
            "update per rollout assumed"
        )
        return 1
    gbs = s.int("global_batch_size")
    updates = samples / gbs
    return int(updates) if float(updates).is_integer() else updates


def _kl(s: Settings, pitfalls: list[str]) -> KLTerm:
    """``--use-kl-loss --kl-loss-coef C --kl-loss-type T`` puts C * T in the loss; ``--kl-coef``
    puts it in the returns of reinforce_plus_plus(_baseline) (loss.py:737-766; grpo's returns
    ignore it, ppo_utils.py:361-368)."""
    loss_coef = s.float("kl_loss_coef", 0.0)
    kind = s.str("kl_loss_type", "k1")
    reward_coef = s.float("kl_coef", 0.0)
    if s.bool("use_kl_loss", False) and loss_coef > 0:
        return KLTerm("loss", kind, loss_coef)
    if reward_coef > 0 and str(s.get("advantage_estimator", "grpo")).startswith("reinforce"):
        return KLTerm("reward", kind, reward_coef)
    if reward_coef > 0:
        pitfalls.append(
            f"--kl-coef {reward_coef:g} has no effect with {s.get('advantage_estimator')}: "
            "get_grpo_returns broadcasts the reward and ignores the KL (ppo_utils.py:361-368)"
        )
    if s.bool("use_kl_loss", False):
        pitfalls.append(
            "--use-kl-loss with --kl-loss-coef 0 (slime's default): the reference model is "
            "loaded but the KL term is zero"
        )
    return KLTerm()


def _dynamic(s: Settings, pitfalls: list[str]) -> bool:
    path = s.get("dynamic_sampling_filter_path", None)
    if not path:
        return False
    if str(path).endswith("check_reward_nonzero_std"):
        return True  # filter_hub/dynamic_sampling_filters.py: keep groups whose std > 0
    pitfalls.append(
        f"--dynamic-sampling-filter-path {path}: a filter function rlxform does not read; "
        "the card assumes it keeps every group"
    )
    return False


def _loss(s: Settings, estimator: str, aggregation: str) -> LossReading:
    """slime's policy loss is not one the reducer reads; its first-update factor is stated."""
    why = (
        f"slime's policy_loss_function (slime/backends/megatron_utils/loss.py:881-1110) is not "
        f"one of the losses rlxform's reducer reads; on the first update ({estimator}: ratio 1) "
        f"it weighs each answer's tokens by the aggregation ({aggregation}); gspo's sequence "
        "ratio gives its tokens the same 1/L on that update"
    )
    return LossReading("advantage_estimator", estimator, s.table.label, None, why)


def slime_rewards(s: Settings, extra: Any = None) -> tuple[bool | None, str]:
    """binary from ``--rm-type`` / ``--custom-rm-path`` (slime/rollout/rm_hub/__init__.py)."""
    custom = s.get("custom_rm_path", None)
    kind = str(s.get("rm_type", None) or "")
    if custom:
        return None, f"--custom-rm-path {custom}: a custom reward function of unknown range"
    base = kind.removeprefix("boxed_")
    if base in ("math", "deepscaler"):
        return True, f"--rm-type {kind}: 1 for a correct answer, else 0 (rm_hub/__init__.py:77-82)"
    if base == "dapo":
        return True, (
            "--rm-type dapo: score 1 for a correct answer and -1 otherwise "
            "(rm_hub/math_dapo_utils.py:262-290): two values, an affine map of 0/1"
        )
    if base in ("f1", "gpqa", "ifbench"):
        return False, f"--rm-type {kind}: a score in [0, 1] that is not only 0 or 1"
    if base == "remote_rm":
        return None, "--rm-type remote_rm: a remote reward model of unknown range"
    return None, "no --rm-type or --custom-rm-path in this command"


def slime_normaliser(s: Settings, run: RunConfig) -> Normaliser:
    """Per-sample token mean summed over samples (``sum_of_sample_mean``, cp_utils.py:47-81;
    rollout.py:762-777 gives each sample its own rollout id), or the tokens of the whole step
    with --calculate-per-token-loss (loss.py:1290-1298)."""
    if run.aggregation == "token-mean":
        gbs = s.get("global_batch_size", None)
        if gbs is None and s.get("num_steps_per_rollout", None) is not None:
            rollout = s.get("rollout_batch_size", None)  # arguments.py:1910-1918
            if isinstance(rollout, int):
                gbs = rollout * run.group_size // s.int("num_steps_per_rollout")
        answers = float(gbs) if isinstance(gbs, int) and not isinstance(gbs, bool) else None
        return Normaliser(
            "token-mean",
            answers,
            "--calculate-per-token-loss: Megatron divides the summed token losses by the "
            "tokens of the whole optimizer step, global_batch_size answers "
            "(slime/backends/megatron_utils/loss.py:1290-1298)",
        )
    return Normaliser(
        "1/L",
        None,
        "each answer's tokens averaged, then summed over answers / global_batch_size "
        "(sum_of_sample_mean, slime/backends/megatron_utils/cp_utils.py:47-81; loss.py:1290-1296)",
    )


RECORD = Framework(
    name="slime",
    title="slime",
    data="slime",
    # slime runs `python3 train.py` (scripts/run-qwen3-4B.sh:148): a name too common to claim,
    # so its commands are recognised by flags only slime declares
    programs=("slime.*",),
    markers=(
        "disable_rewards_normalization",
        "disable_grpo_std_normalization",
        "grpo_std_normalization",
        "rollout_function_path",
        "hf_checkpoint",
        "ref_load",
        "rm_type",
        "rollout_max_response_len",
        "rollout_num_gpus_per_engine",
        "actor_num_gpus_per_node",
        "actor_num_nodes",
        "num_rollout",
        "rollout_shuffle",
        "dynamic_sampling_filter_path",
        "sglang_*",
    ),
    foreign_flags=True,
    arguments="argparse",
    read=read_slime,
    rewards=slime_rewards,
    normaliser=slime_normaliser,
    rule=AdvantageRule(
        estimators=SLIME_ESTIMATORS,
        key="advantage_estimator",
        default="grpo",
        advantages=slime_advantages,
        settings={
            "rewards_normalization": True,
            "grpo_std_normalization": True,
            "normalize_advantages": False,
            "kl_coef": 0.0,
            "gamma": 1.0,
        },
        scheme=from_slime,
        settings_key=settings_key,
    ),
    group_size_key="n_samples_per_prompt",
)
