"""TRL's RLOOTrainer (TRL 0.22 to 1.16): its advantage rule, ``RLOOConfig`` reader and record.

Keys are ``RLOOConfig`` fields (and the ``TrainingArguments`` it inherits), from a JSON / YAML
file, the flags of ``trl rloo`` (trl/cli/commands/__init__.py:30 in 1.16.0) or ``accelerate launch
rloo.py``, or an ``RLOOConfig(...)`` call in a Python file (the ``RLOOTrainer`` it is given tells
the reward functions). Advantage (rloo_trainer.py:1653-1699 in 1.16.0, the same block from 0.22.2
:1240-1272): rewards = sum_k w_k r_k (``reward_weights``), clamped to ``reward_clip_range``; with
``beta`` != 0 the KL k1 = sum_t (log pi_old - log pi_ref) over the completion is subtracted from
each reward (:1663-1672); A_i = r_i - mean_{j != i} r_j (:1684-1690); ``normalize_advantages``
whitens A over the generation batch, (A - mean) / (Bessel std + 1e-4) (:1695-1696). The loss is
sequence-level: the ratio of the summed log-probabilities, clipped per sequence, mean over
sequences (:1822-1833): at ratio 1 the gradient is -A grad log pi(y), every token weight 1.
Releases up to 0.21 ship a different, PPO-style RLOOTrainer (rloo_k, kl_coef, num_ppo_epochs):
they are refused by name (``retired``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core import schemes as sch
from rlxform.core.real_rewards import rloo_weights
from rlxform.core.registry import Counts, RealReward, Scheme, register
from rlxform.frameworks import trl
from rlxform.frameworks.advantages import check_bool, reject_unused
from rlxform.frameworks.common import Clip, KLTerm, RunConfig, Settings, StdNorm
from rlxform.frameworks.losses import LossReading
from rlxform.frameworks.record import AdvantageRule, Framework, Normaliser
from rlxform.types import NDArray
from rlxform.validation import InputError, check_choice, check_float

TRL_RLOO_STD_EPSILON = 1e-4  # normalize_advantages: / (nanstd(advantages) + 1e-4)
_RETIRED = (
    "TRL's RLOOTrainer up to 0.21 is the PPO-style on-policy trainer (RLOOConfig rloo_k, "
    "kl_coef, num_ppo_epochs, total_episodes; trl/trainer/rloo_trainer.py of 0.21.0), replaced "
    "in 0.22.0 by the GRPO-style leave-one-out trainer that rlxform models"
)


@register(
    "trl_rloo",
    "a = c (M-S)/(M-1), b = -c S/(M-1): RLOO on binary rewards mapped to {r0, r0 + c}",
    lambda scale, **_: (bern.scaled(bern.identity, scale), f"{scale:g} p"),
    min_group_size=2,
    real_reward=RealReward(
        lambda rewards, counts, m, scale: scale * rloo_weights(rewards, counts, m),
        gap=lambda scale: scale,
    ),
)
def trl_rloo_rule(c: Counts, scale: float):
    a, b = sch.rloo_rule(c)
    return scale * a, scale * b


def reward_values(weights: Any, clip: Any) -> tuple[float, float]:
    """(score of a wrong answer, of a correct one): one 0/1 reward function times its weight,
    clamped to ``reward_clip_range`` (rloo_trainer.py:1657-1661)."""
    if weights is None:
        w = 1.0
    elif isinstance(weights, (list, tuple)) and len(weights) == 1:
        w = check_float("reward_weights", weights[0])
    else:
        raise InputError(
            f"reward_weights={weights!r} is invalid here: the rewards given are one reward "
            "function's scores, so it must hold one weight (or be None)"
        )
    low, high = 0.0, w
    if clip is not None:
        if not isinstance(clip, (list, tuple)) or len(clip) != 2:
            raise InputError(f"reward_clip_range={clip!r} is invalid: must be [min, max] or None")
        lo, hi = (check_float("reward_clip_range", v) for v in clip)
        low, high = min(max(low, lo), hi), min(max(high, lo), hi)
    return low, high


def from_trl_rloo(
    estimator: str = "rloo", reward_weights: Any = None, reward_clip_range: Any = None, **unused
) -> Scheme:
    """RLOO (w_M = 1, h_M = p) on 0/1 rewards scored {r0, r0 + c}: c times RLOO (the scheme
    ``trl_rloo``; ``rloo`` when c = 1). The baseline removes r0."""
    reject_unused("trl_rloo", unused, "reward_weights, reward_clip_range")
    check_choice("estimator", estimator, ("rloo",))
    low, high = reward_values(reward_weights, reward_clip_range)
    scale = high - low
    return sch.rloo() if scale == 1.0 else Scheme.make("trl_rloo", scale=scale)


def trl_rloo_advantages(estimator: str, g: NDArray, lengths: NDArray, get) -> NDArray:
    """TRL 1.16.0 RLOOTrainer advantages of one reward function's scores ``g`` (``[G, M]``).

    ``beta`` (KL in the reward) is linear in the RLOO advantage: what is returned is the
    outcome reward's part, exact for any beta without ``normalize_advantages`` (whose batch std
    would include the KL terms: refused there unless beta is 0).
    """
    check_choice("estimator", estimator, ("rloo",))
    w = get("reward_weights")
    clip = get("reward_clip_range")
    reward_values(w, clip)  # validates them
    scale = 1.0 if w is None else float(w[0])
    scores = g * scale
    if clip is not None:  # torch.clamp(min=lo, max=hi): hi wins where lo > hi
        scores = np.minimum(np.maximum(scores, float(clip[0])), float(clip[1]))
    m = g.shape[1]
    if m == 1:
        out = np.zeros_like(scores)
    else:
        flat = np.ptp(scores, axis=1, keepdims=True) == 0
        total = scores.sum(1, keepdims=True)
        out = np.where(flat, 0.0, scores - (total - scores) / (m - 1))
    if check_bool("normalize_advantages", get("normalize_advantages")):
        beta = check_float("beta", get("beta"))
        if beta != 0.0:
            raise InputError(
                f"beta={beta!r} is invalid with normalize_advantages=True here: the batch std "
                "would include each answer's KL term, which outcome rewards do not give; pass "
                "beta 0.0"
            )
        std = out.std(ddof=1) if out.size > 1 else 0.0
        out = (out - out.mean()) / (std + TRL_RLOO_STD_EPSILON)
    return out


# ---- the config reader ---------------------------------------------------------------------


def read_trl_rloo(s: Settings) -> RunConfig:
    """``RLOOConfig`` fields: M, beta (KL k1 in the reward), normalize_advantages, reward
    weights and clip range, the PPO clip and the updates per generation batch."""
    group_size = s.int("num_generations", 2)
    if group_size < 2:
        raise InputError(
            f"num_generations={group_size!r} is invalid: RLOOConfig requires at least 2 "
            "(rloo_config.py:700-704 in 1.16.0)"
        )
    beta = s.float("beta", 0.05, low=float("-inf"))
    normalize = s.bool("normalize_advantages", False)
    weights, clip = s.get("reward_weights", None), s.get("reward_clip_range", None)
    pitfalls = []
    params: tuple = ()
    if weights is None or (isinstance(weights, (list, tuple)) and len(weights) == 1):
        low, high = reward_values(weights, clip)
        params = (("reward_weights", _tuple(weights)), ("reward_clip_range", _tuple(clip)))
        if (low, high) != (0.0, 1.0):
            pitfalls.append(
                f"reward_weights / reward_clip_range map the rewards 0 and 1 to {low:g} and "
                f"{high:g} (rloo_trainer.py:1655-1661): the leave-one-out baseline removes "
                f"{low:g}, so the update is {high - low:g} times RLOO's"
                + (" (zero: nothing is learned)" if high == low else "")
            )
    gas = s.int("gradient_accumulation_steps", 1)
    spg = trl.steps_per_generation(s, pitfalls)
    updates = spg * s.int("num_iterations", 1) / gas
    if beta != 0:
        pitfalls.append(
            f"beta = {beta:g}{'' if s.is_set('beta') else ' (the default)'}: the completion's "
            "k1 = sum_t (log pi_old - log pi_ref) times beta is subtracted from its reward "
            "before the leave-one-out baseline (rloo_trainer.py:1663-1672 in 1.16.0); RLOO is "
            "linear in the rewards, so in expectation the update ascends h_M(p) - beta "
            "KL(pi || pi_ref) exactly, for every M"
        )
    if normalize:
        pitfalls.append(
            "normalize_advantages whitens the advantages over the generation batch "
            "(rloo_trainer.py:1695-1696): each group's RLOO advantages sum to 0, so this "
            "divides them by the batch std (+ 1e-4), the same direction with a step scaled by "
            "1 / sigma; for 0/1 rewards and no KL sigma^2 -> M/(M-1) mean_x p_x (1 - p_x)"
        )
    return RunConfig(
        estimator="rloo",
        group_size=group_size,
        std=StdNorm.of(normalize, TRL_RLOO_STD_EPSILON, "batch"),
        aggregation="seq-mean-token-sum",
        updates_per_rollout=int(updates) if float(updates).is_integer() else updates,
        clip=Clip.of(s.float("epsilon", 0.2), high=s.float("epsilon_high", None)),
        kl=KLTerm("reward", "k1", beta) if beta != 0 else KLTerm(coef=beta),
        dynamic_sampling=False,
        scheme_params=params,
        pitfalls=tuple(pitfalls),
        max_length=s.int("max_completion_length", 256),
        loss=LossReading("", "sequence-level PPO clip", s.table.label, None, _LOSS_WHY),
    )


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


_LOSS_WHY = (
    "rlxform's loss-mode reducer (rlxform.core.loss_modes) covers TRL's GRPOTrainer, not its "
    "RLOOTrainer; RLOO's loss is -min(rho A, clamp(rho, 1 - epsilon, 1 + epsilon_high) A) with "
    "rho the ratio of whole-sequence probabilities, averaged over sequences "
    "(trl/trainer/rloo_trainer.py:1822-1833 in 1.16.0): at rho = 1 its gradient is "
    "-A grad log pi(y), the token sum (c(L) = 1)"
)


def trl_rloo_rewards(s: Settings, extra: Any = None) -> tuple[bool | None, str]:
    """TRL's reading of the reward functions (a reward model named by the rloo script's
    ``reward_model_name_or_path`` is real-valued)."""
    model = s.values.get("reward_model_name_or_path")
    if model:
        return False, f"reward_model_name_or_path={model}: a reward model scores the answers"
    binary, why = trl.trl_rewards(s, extra)
    return binary, why.replace("GRPOTrainer(", "RLOOTrainer(")


def trl_rloo_normaliser(s: Settings, run: RunConfig) -> Normaliser:
    return Normaliser(
        "1",
        None,
        "the loss sums each answer's token log-probabilities into one sequence ratio and "
        "averages over answers (trl/trainer/rloo_trainer.py:1822-1833 in 1.16.0): every token "
        "weighs 1 (c(L) = 1)",
    )


RECORD = Framework(
    name="trl_rloo",
    title="TRL RLOO",
    data="trl_rloo",
    programs=("trl rloo", "trl.scripts.rloo", "rloo.py", "*/rloo.py"),
    markers=("normalize_advantages", "reward_clip_range", "rloo_k"),
    arguments="argparse",
    read=read_trl_rloo,
    rewards=trl_rloo_rewards,
    normaliser=trl_rloo_normaliser,
    rule=AdvantageRule(
        estimators=("rloo",),
        key=None,
        default="rloo",
        advantages=trl_rloo_advantages,
        settings={
            "beta": 0.05,
            "normalize_advantages": False,
            "reward_clip_range": None,
            "reward_weights": None,
        },
        scheme=from_trl_rloo,
    ),
    script_keys=trl.SCRIPT_KEYS | {"reward_model_name_or_path"},
    retired=(("<0.22", _RETIRED),),
)
