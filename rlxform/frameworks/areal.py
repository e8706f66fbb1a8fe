"""AReaL (inclusionAI, v1.0.4): its advantage rule, YAML reader and record.

Keys are ``GRPOConfig`` paths (areal/api/cli_args.py): ``actor.reward_norm.mean_level``,
``gconfig.n_samples``, from the YAML or from ``python -m areal.launcher.local SCRIPT.py --config
FILE key=value ...`` / ``python3 SCRIPT.py --config FILE key=value`` (the file under the
overrides; ``${a.b}`` references resolved from the file). Advantage: ``PPOActor.
_compute_advantages`` (areal/trainer/ppo/actor.py:145-249): r' = clip((r + reward_bias)
reward_scaling, +-reward_clip), ``reward_norm`` (a ``Normalization``, areal/utils/data.py:
1378-1595), the reward on every response token (GAE with discount 1, lambda 1, no critic), then
``adv_norm`` over the tokens. A missing ``reward_norm`` / ``adv_norm`` block is None (no
normalisation); a given block takes ``NormConfig``'s defaults (cli_args.py:41-77: mean and std
at batch level, Bessel, eps 1e-5, group_size 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlxform.core.group_norm import affine_values, group_norm
from rlxform.frameworks.advantages import check_bool
from rlxform.frameworks.batch_steps import areal_normalise, resolve_interpolations
from rlxform.frameworks.common import Clip, KLTerm, RunConfig, Settings, StdNorm, overlong_fields
from rlxform.frameworks.losses import LossReading
from rlxform.frameworks.record import AdvantageRule, Framework, Normaliser
from rlxform.types import NDArray
from rlxform.validation import InputError, check_choice, check_float, check_int

AREAL_ESTIMATORS = ("ppo_actor",)  # AReaL has one rule; its norms configure it
NORM_DEFAULTS = {  # NormConfig (cli_args.py:41-77)
    "mean_level": "batch",
    "mean_leave1out": False,
    "std_level": "batch",
    "std_unbiased": True,
    "eps": 1e-5,
    "group_size": 1,
}
BLOCKS = ("actor.reward_norm", "actor.adv_norm")
UNSET = "(not set)"  # rule.settings default of a norm field: the block's own default applies
LEVELS = ("batch", "group", None)


def norm_block(block: str, get) -> dict[str, Any] | None:
    """A ``NormConfig`` block as the run sets it (None: the block is off).

    ``get(block)`` is UNSET, None / False (off) or a mapping of the block's keys;
    ``get(block.field)`` is UNSET or the field's value (None is a value: ``std_level: null``).
    """
    whole = get(block)
    given = {}
    for field in NORM_DEFAULTS:
        value = get(f"{block}.{field}")
        if not (isinstance(value, str) and value == UNSET):
            given[field] = value
    if isinstance(whole, Mapping):
        given = {**dict(whole), **given}
    elif not (isinstance(whole, str) and whole == UNSET) and whole not in (None, False):
        raise InputError(f"{block}={whole!r} is invalid: must be a mapping of NormConfig keys")
    elif not given:
        return None  # no block (or null): no normalisation
    unknown = [k for k in given if k not in NORM_DEFAULTS]
    if unknown:
        raise InputError(
            f"{block}.{unknown[0]} is invalid: must be one of {', '.join(NORM_DEFAULTS)}"
        )
    cfg = {**NORM_DEFAULTS, **given}
    for field in ("mean_level", "std_level"):
        cfg[field] = _level(cfg[field])
        if cfg[field] is not None:
            check_choice(f"{block}.{field}", cfg[field], ("batch", "group", "none"))
    check_bool(f"{block}.mean_leave1out", cfg["mean_leave1out"])
    check_bool(f"{block}.std_unbiased", cfg["std_unbiased"])
    cfg["eps"] = check_float(f"{block}.eps", cfg["eps"], 0.0)
    cfg["group_size"] = check_int(f"{block}.group_size", cfg["group_size"], 1)
    return cfg


def _level(value: Any) -> Any:
    return None if value in (None, "none", "null", "None") else value


def areal_advantages(estimator: Any, g: NDArray, lengths: NDArray, get) -> NDArray:
    """AReaL 1.0.4 ``PPOActor._compute_advantages`` on outcome rewards (kl_ctl 0), per response."""
    check_choice("estimator", estimator, AREAL_ESTIMATORS)
    for key in ("actor.discount", "actor.gae_lambda"):
        if check_float(key, get(key)) != 1.0:
            raise InputError(
                f"{key}={get(key)!r} is invalid here: rlxform restates AReaL's advantage for "
                "discount 1 and gae_lambda 1 (every token of an answer gets its reward)"
            )
    scale = check_float("actor.reward_scaling", get("actor.reward_scaling"), -float("inf"))
    bias = check_float("actor.reward_bias", get("actor.reward_bias"), -float("inf"))
    clip = check_float("actor.reward_clip", get("actor.reward_clip"), 0.0)
    x = ((g + bias) * scale).clip(-clip, clip).reshape(-1)
    reward_norm, adv_norm = norm_block(BLOCKS[0], get), norm_block(BLOCKS[1], get)
    if reward_norm is not None:
        x = areal_normalise(x, None, **_kwargs(reward_norm))
    if adv_norm is not None:
        x = areal_normalise(x, lengths.reshape(-1), **_kwargs(adv_norm))
    return x.reshape(g.shape)


def _kwargs(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "mean_level": cfg["mean_level"],
        "std_level": cfg["std_level"],
        "leave1out": cfg["mean_leave1out"],
        "unbiased": cfg["std_unbiased"],
        "eps": cfg["eps"],
        "group_size": cfg["group_size"],
    }


# ---- the scheme ------------------------------------------------------------------------------


def stages(reward_norm, adv_norm, group_size: int) -> tuple[list[tuple], list[str]]:
    """(the per-group stages (mean, std, unbiased, eps) of the large-batch limit, the batch
    steps in words). Batch means are constant shifts, batch stds constant scales; a group std
    after a batch shift or scale depends on those constants: refused by name."""
    per_group, steps = [], []
    shifted = scaled = False
    for name, cfg in zip(BLOCKS, (reward_norm, adv_norm), strict=True):
        if cfg is None:
            continue
        mean, std = cfg["mean_level"], cfg["std_level"]
        levels = [lv for lv in (mean, std) if lv == "group"]
        if levels and cfg["group_size"] != group_size:
            raise InputError(
                f"{name}.group_size={cfg['group_size']} with a group level is not modelled: "
                f"AReaL then normalises blocks of {cfg['group_size']} answers, not the "
                f"gconfig.n_samples={group_size} answers of a prompt (with 1 every advantage of "
                f"a group mean is 0); set {name}.group_size: ${{gconfig.n_samples}}"
            )
        if mean == "group":
            shifted = False
            mean_rule = "leave_one_out" if cfg["mean_leave1out"] else "group"
        else:
            mean_rule = "none"
            if mean == "batch":
                shifted = True
                what = "leave-one-out " if cfg["mean_leave1out"] else ""
                steps.append(
                    f"{name}.mean_level batch subtracts the batch's {what}mean: a constant "
                    "baseline as the batch grows (zero expected gradient)"
                )
        if std == "group" and (shifted or scaled):
            raise InputError(
                f"{name}.std_level=group after a batch-level mean or std is not modelled: the "
                "group std is then taken around a batch constant, so the rule depends on the "
                "whole population; rlxform models group means and stds, and batch steps after them"
            )
        if std == "batch":
            scaled = True
            steps.append(
                f"{name}.std_level batch divides by the batch's std"
                + (" over tokens (loss-mask weighted)" if name.endswith("adv_norm") else "")
                + ": a constant sigma as the batch grows"
            )
        std_rule = "group" if std == "group" else "none"
        if mean_rule != "none" or std_rule != "none":
            per_group.append((mean_rule, std_rule, bool(cfg["std_unbiased"]), cfg["eps"]))
    return per_group, steps


def from_areal(
    estimator: str = "ppo_actor",
    *,
    reward_scaling: float = 1.0,
    reward_bias: float = 0.0,
    reward_clip: float = 20.0,
    stages: tuple[tuple, ...] = (),
) -> Any:
    """The per-group scheme of an AReaL run: rewards 0/1 mapped to clip((r + bias) scaling,
    +-clip), then up to two per-group stages (mean, std, unbiased, eps) from ``reward_norm`` and
    ``adv_norm`` (``stages``; batch-level parts are dropped: their large-batch limits are a
    constant shift and scale)."""
    check_choice("estimator", estimator, AREAL_ESTIMATORS)
    low, high = affine_values(reward_scaling, reward_bias, reward_clip)
    if len(stages) > 2:
        raise InputError(f"stages={stages!r} is invalid: at most two (reward_norm, adv_norm)")
    if not stages:
        return group_norm("none", "none", low=low, high=high)
    (mean, std, unbiased, eps), *rest = stages
    then = tuple(rest[0]) if rest else None
    return group_norm(mean, std, unbiased=unbiased, eps=eps, low=low, high=high, then=then)


# ---- the config reader ---------------------------------------------------------------------


def _getter(s: Settings):
    def get(key: str) -> Any:
        if key in BLOCKS:
            return s.values.get(key, UNSET)
        if key.rpartition(".")[0] in BLOCKS:
            return s.values[key] if key in s.values else UNSET
        return s.get(key)

    return get


def read_areal(s: Settings) -> RunConfig:
    """AReaL ``GRPOConfig`` keys -> RunConfig."""
    defaults = {k: s.table.default(k) for k in s.table.keys}
    s.values, unresolved = resolve_interpolations(s.values, defaults)
    for key in list(s.values):
        s.values[key] = s.table.typed(key, s.values[key]) if s.table.has(key) else s.values[key]
    for block in BLOCKS:  # `actor.adv_norm=null` (an override) removes the file's block
        if block in s.values and s.values[block] in (None, False):
            s.values = {k: v for k, v in s.values.items() if not k.startswith(block + ".")}
    m = s.int("gconfig.n_samples", 1)
    get = _getter(s)
    for block in BLOCKS:  # mark the block keys read
        for field in NORM_DEFAULTS:
            s.read.add(f"{block}.{field}")
        s.read.add(block)
    reward_norm, adv_norm = norm_block(BLOCKS[0], get), norm_block(BLOCKS[1], get)
    per_group, steps = stages(reward_norm, adv_norm, m)
    scale = s.float("actor.reward_scaling", 1.0, low=-float("inf"))
    bias = s.float("actor.reward_bias", 0.0, low=-float("inf"))
    clip = s.float("actor.reward_clip", 20.0)
    pitfalls = [f"{u} (unresolved)" for u in unresolved]
    if reward_norm is None and adv_norm is None:
        pitfalls.append(
            "neither actor.reward_norm nor actor.adv_norm is set: the advantage is the raw "
            "(scaled) reward, REINFORCE with no baseline"
        )
    if adv_norm is not None and "group" in (adv_norm["mean_level"], adv_norm["std_level"]):
        pitfalls.append(
            "actor.adv_norm at group level weighs each answer by its tokens (loss mask): the "
            "scheme assumes answers of equal length within a group"
        )
    group_std = any(st[1] == "group" for st in per_group)
    batch_std = any("std_level batch" in step for step in steps)
    eps = next((st[3] for st in per_group if st[1] == "group"), None)
    if eps is None:
        batch = [c["eps"] for c in (reward_norm, adv_norm) if c and c["std_level"] == "batch"]
        eps = batch[0] if batch else 0.0
    updates = s.int("actor.ppo_n_minibatches", 4)
    ppo_clip = Clip.of(s.float("actor.eps_clip", 0.2), high=s.float("actor.eps_clip_higher", None))
    kl = _kl(s, pitfalls)
    params = (
        ("reward_scaling", scale),
        ("reward_bias", bias),
        ("reward_clip", clip),
        ("stages", tuple(tuple(st) for st in per_group)),
    )
    return RunConfig(
        estimator="ppo_actor",
        group_size=m,
        std=StdNorm.of(group_std or batch_std, eps, "group" if group_std else "batch"),
        aggregation="token-mean",
        updates_per_rollout=updates,
        clip=ppo_clip,
        kl=kl,
        dynamic_sampling=False,
        scheme_params=params,
        pitfalls=tuple(pitfalls),
        max_length=s.int_or_none("gconfig.max_new_tokens"),
        **_overlong(s),
        loss=_loss(s),
        batch_steps=tuple(steps),
    )


def _kl(s: Settings, pitfalls: list[str]) -> KLTerm:
    """kl_ctl x kl_estimator per token in the reward (actor.py:202-214), with the reference
    model of ``ref`` (rl_trainer.py:179-181). Without ``ref`` the reference log-probs are 0."""
    coef = s.float("actor.kl_ctl", 0.1)
    estimator = s.str("actor.kl_estimator", "k1", ("k1", "k2", "k3"))
    if coef == 0:
        return KLTerm()
    if not any(k.startswith("ref.") or k == "ref" for k in s.values):
        pitfalls.append(
            f"actor.kl_ctl = {coef:g} without a ref model: AReaL loads no reference and uses "
            "log-probabilities 0 for it (actor.py:199-204), so each token's reward gets "
            f"-{coef:g} x clamp(log pi, -10, 10) (k1): an entropy bonus, not a KL"
        )
    if not s.is_set("actor.kl_ctl"):
        pitfalls.append(
            "actor.kl_ctl is not set: AReaL's default 0.1 puts a KL penalty in the token "
            "rewards (cli_args.py:1458); the example configs set 0.0"
        )
    return KLTerm("reward", estimator, coef)


def _loss(s: Settings) -> LossReading:
    level = s.get("actor.importance_sampling_level", "token")
    why = (
        "AReaL's grpo_loss_fn (areal/trainer/ppo/actor.py:408; ppo_actor_loss_fn in "
        "areal/utils/functional/functional.py:427) is not one of the losses rlxform's reducer "
        "reads; on the first update (ratio 1) each minibatch's token losses are summed and "
        "divided by its loss tokens (loss_weight_fn, actor.py:363): token-mean"
    )
    return LossReading("actor.importance_sampling_level", str(level), s.table.label, None, why)


def _overlong(s: Settings) -> dict[str, Any]:
    """The overlong_* fields while actor.overlong_reward_penalty is on (DAPO form)."""
    if s.get("actor.overlong_reward_penalty", False) is not True:
        return {}
    length, factor = s.get("actor.overlong_tokens", None), s.get("actor.overlong_penalty_factor", 1)
    return overlong_fields(length, factor, s.int_or_none("actor.max_new_tokens"))


def areal_rewards(s: Settings, extra: Any = None) -> tuple[bool | None, str]:
    """The reward function is named in the training script, not in the config; scaling,
    bias and clipping keep 0/1 rewards two-valued (an affine map)."""
    if s.get("actor.overlong_reward_penalty", False) is True:
        f = _overlong(s)
        return False, (
            f"actor.overlong_reward_penalty: the DAPO overlong penalty (buffer "
            f"{f.get('overlong_buffer')}, factor {f.get('overlong_factor')}, max_new_tokens "
            f"{f.get('overlong_max_length')}; functional.py:780-802 in v1.0.4): not 0/1"
        )
    return None, (
        "AReaL's reward function is passed by the training script (e.g. "
        "areal.reward.gsm8k.gsm8k_reward_fn, 1 for a correct answer else 0), not by the config"
    )


def areal_normaliser(s: Settings, run: RunConfig) -> Normaliser:
    """Each of the ppo_n_minibatches minibatches is one optimizer step whose token losses are
    divided by its loss tokens (actor.py:336-364)."""
    batch = s.get("train_dataset.batch_size", None)
    minibatches = s.int("actor.ppo_n_minibatches", 4)
    answers = None
    if isinstance(batch, int) and not isinstance(batch, bool):
        answers = batch * run.group_size / minibatches
        if answers < 1:  # fewer answers than minibatches: how AReaL splits them is not modelled
            answers = None
    return Normaliser(
        "token-mean",
        answers,
        "the loss tokens of one of actor.ppo_n_minibatches minibatches, train_dataset.batch_size "
        "x gconfig.n_samples / ppo_n_minibatches answers (areal/trainer/ppo/actor.py:336-364)",
    )


_CONSUMER = "rollout.consumer_batch_size"


def areal_active(s: Settings) -> list[dict[str, Any]]:
    """``rollout.consumer_batch_size`` other than ``train_dataset.batch_size`` (both known
    integers): the staleness bound counts consumer_batch_size rollouts per model version
    (areal/infra/staleness_manager.py:75-108) while a step trains train_dataset.batch_size of
    them (areal/infra/workflow_executor.py:1324-1326). AReaL's examples set it to
    ``${train_dataset.batch_size}`` (examples/math/gsm8k_grpo.yaml:27), where it has no effect."""
    batch = s.values.get("train_dataset.batch_size", s.table.default("train_dataset.batch_size"))
    consumer = s.values.get(_CONSUMER, s.table.default(_CONSUMER))
    known = all(isinstance(v, int) and not isinstance(v, bool) for v in (batch, consumer))
    if not known or consumer == batch:
        return []
    item = {
        "key": _CONSUMER,
        "value": consumer,
        "effect": (
            f"the staleness bound counts {consumer} rollouts per model version while a step "
            f"trains train_dataset.batch_size = {batch} (areal/infra/staleness_manager.py:75-108)"
            ": the rollouts of one version are not the ones its next step trains, so answers "
            "train after later updates (off-policy) or a step waits on the bound"
        ),
    }
    return [item if s.is_set(_CONSUMER) else {**item, "default": True}]


RECORD = Framework(
    name="areal",
    title="AReaL",
    data="areal",
    programs=("areal.launcher.*", "areal.*", "*gsm8k_rl.py", "*boba_grpo.py"),
    markers=("gconfig.*", "actor.reward_norm.*", "actor.adv_norm.*", "actor.kl_ctl"),
    arguments="hydra",
    read=read_areal,
    rewards=areal_rewards,
    normaliser=areal_normaliser,
    rule=AdvantageRule(
        estimators=AREAL_ESTIMATORS,
        key=None,
        default="ppo_actor",
        advantages=areal_advantages,
        settings={
            "actor.reward_scaling": 1.0,
            "actor.reward_bias": 0.0,
            "actor.reward_clip": 20.0,
            "actor.discount": 1.0,
            "actor.gae_lambda": 1.0,
            **{block: UNSET for block in BLOCKS},
            **{f"{block}.{k}": UNSET for block in BLOCKS for k in NORM_DEFAULTS},
        },
        scheme=from_areal,
    ),
    config_flag="config",
    active=areal_active,
)
