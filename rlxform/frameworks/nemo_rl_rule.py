"""NeMo-RL's GRPO advantage, restated: per-response advantages and the scheme it amounts to.

``GRPOAdvantageEstimator.compute_advantage`` (nemo_rl/algorithms/advantage_estimator.py:53-82 in
v0.7.0) with ``calculate_baseline_and_std_per_prompt`` (nemo_rl/algorithms/utils.py:103-197):
the baseline b_i is the group mean, or with ``grpo.use_leave_one_out_baseline`` the mean of the
other M - 1 rewards; s_i is their Bessel std (sqrt((mean of squares - b^2) n / (n-1)), n the
samples averaged, 0 where that is NaN); with ``grpo.normalize_rewards`` A_i = (r_i - b_i) /
(s_i + 1e-6) where s_i > 0 and r_i - b_i where s_i = 0; a group of one gets A = 0. Rewards are
first mapped by ``grpo.reward_scaling`` (grpo.py:1386-1429: clamp to [source_min, source_max],
then linearly onto [target_min, target_max]); advantages are last clamped to
[``grpo.advantage_clip_low``, ``grpo.advantage_clip_high``] (grpo.py:1839-1850, every estimator).
``reinforce_plus_plus`` (advantage_estimator.py:158-230): r - group mean (``minus_baseline``) or
r, whitened over the batch's tokens (token-weighted mean and population variance, clamp 1e-8).

Named variants of the GRPO rule (estimator ``grpo@...``): ``grpo@v0.3.1`` (grpo.py:591-604,
utils.py:41-106 in v0.3.1: population std, divided only where > 0, no eps) and
``grpo@74b9b1789`` (git 7124e4455..74b9b1789, never released: Bessel std, / (std + 1e-6)
everywhere, grpo.py:636 ``normalize_advantages_with_epsilon``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core import schemes as sch
from rlxform.core.loo_std import loo_divide, loo_grpo, others_std
from rlxform.core.registry import Counts, Scheme, register
from rlxform.core.xp import namespace
from rlxform.frameworks.advantages import check_bool, reject_unused
from rlxform.frameworks.record import AdvantageRule
from rlxform.types import ArrayLike, NDArray
from rlxform.validation import InputError, check_choice, check_float

NEMO_RL_STD_EPSILON = 1e-6  # advantage_estimator.py:76 (v0.7.0), grpo.py:636 (74b9b1789)
NEMO_RL_VAR_FLOOR = 1e-8  # reinforce_plus_plus: adv_var.clamp(min=1e-8) (:227)
NEMO_RL_ESTIMATORS = ("grpo", "grpo@v0.3.1", "grpo@74b9b1789", "reinforce_plus_plus")
# (std, eps, zero_std, keys the variant's code does not read)
VARIANTS = {
    "grpo": ("sample", NEMO_RL_STD_EPSILON, "undivided", ()),
    "grpo@v0.3.1": ("population", 0.0, "undivided", ("clip", "scaling")),
    "grpo@74b9b1789": ("sample", NEMO_RL_STD_EPSILON, "eps", ("clip",)),
}
G = "grpo."
SCALING = G + "reward_scaling."
ADVANTAGE_KEYS = {
    G + "use_leave_one_out_baseline": True,  # examples/configs/grpo_math_1B.yaml:9
    G + "normalize_rewards": True,  # grpo_math_1B.yaml:8
    G + "adv_estimator.minus_baseline": True,  # grpo_math_1B.yaml:35
    G + "advantage_clip_low": None,  # grpo_math_1B.yaml:14
    G + "advantage_clip_high": None,  # grpo_math_1B.yaml:15
    SCALING + "enabled": False,  # grpo_math_1B.yaml:37-41
    SCALING + "source_min": 0.0,
    SCALING + "source_max": 1.0,
    SCALING + "target_min": 0.0,
    SCALING + "target_max": 1.0,
}


# ---- the rule as tables (registered "nemo_rl": reward scale and clip on top of the catalog) --


def _nemo_limit(loo, normalize, std, eps, zero_std, scale, clip_low, clip_high, **_):
    if clip_low is not None or clip_high is not None or scale == 0:
        return None, None  # the clamp acts on a and b separately: no named limit
    if not normalize:
        return bern.scaled(bern.identity, scale), f"{scale:g} p"
    # the end terms (undivided k num, or k num / eps) weigh (1-p)^(M-1), p^(M-1): GRPO's limit
    # on rewards k apart, whose eps acts as eps / |k|
    limit, name = sch.grpo_limit(eps=eps / abs(scale))
    sign = "-" if scale < 0 else ""
    return (bern.scaled(limit, -1.0), sign + name) if scale < 0 else (limit, name)


@register(
    "nemo_rl",
    "NeMo-RL GRPO on rewards {r0, r0 + k}: (leave-one-out) baseline, std division as its "
    "release does it, then the advantage clamp",
    _nemo_limit,
    min_group_size=1,
    eps="eps",
)
def nemo_rl_rule(c: Counts, loo, normalize, std, eps, zero_std, scale, clip_low, clip_high):
    """Tables of NeMo-RL's GRPO for binary rewards mapped to {r0, r0 + scale}."""
    xp = namespace(eps)
    if c.m == 1:  # a group with <= 1 valid sample: baseline = reward, A = 0 (utils.py:155-158)
        a_table, b_table = np.zeros(2), np.zeros(2)
    else:
        if loo:
            a_num, b_num = (c.m - c.s) / (c.m - 1.0), -c.s / (c.m - 1.0)
            a_sd, b_sd = others_std(c.m, c.s - 1.0, std), others_std(c.m, c.s, std)
        else:
            a_num, b_num = 1.0 - c.q, -c.q
            a_sd = b_sd = c.std(std)
        a_table, b_table = scale * a_num, scale * b_num
        if normalize:
            a_table = loo_divide(a_table, abs(scale) * a_sd, eps, zero_std)
            b_table = loo_divide(b_table, abs(scale) * b_sd, eps, zero_std)
    low = -np.inf if clip_low is None else clip_low
    high = np.inf if clip_high is None else clip_high
    return xp.clip(a_table, low, high), xp.clip(b_table, low, high)


def from_nemo_rl(
    estimator: str = "grpo",
    variant: str | None = None,
    use_leave_one_out_baseline: bool = True,
    normalize_rewards: bool = True,
    advantage_clip_low: float | None = None,
    advantage_clip_high: float | None = None,
    reward_scale: float = 1.0,
    **unused: Any,
) -> Scheme:
    """The scheme NeMo-RL's GRPO runs for binary rewards (``estimator``: a ``VARIANTS`` name;
    ``variant`` names one for ``estimator="grpo"``, as the reader passes the release's rule).

    Defaults (v0.7.0, grpo_math_1B.yaml): leave-one-out baseline and std, ``loo_grpo("sample",
    1e-6, "undivided")``. Without leave-one-out: ``grpo("sample", 1e-6)`` (v0.3.1:
    ``grpo("population", 0)``); without normalisation: ``rloo`` / ``mean_baseline``.
    ``reward_scale`` = k when ``grpo.reward_scaling`` maps the rewards 0 and 1 to r0 and r0 + k;
    a clamp or k != 1 gives the framework rule ``nemo_rl`` (clamped tables).
    """
    reject_unused(
        "nemo_rl",
        unused,
        "variant, use_leave_one_out_baseline, normalize_rewards, advantage_clip_low, "
        "advantage_clip_high, reward_scale",
    )
    estimator = check_choice("estimator", estimator, VARIANTS)
    if variant is not None:
        if estimator != "grpo":
            raise InputError(f"variant={variant!r} is invalid with estimator={estimator!r}")
        estimator = check_choice("variant", variant, VARIANTS)
    std, eps, zero_std, _ = VARIANTS[estimator]
    loo = check_bool("use_leave_one_out_baseline", use_leave_one_out_baseline)
    normalize = check_bool("normalize_rewards", normalize_rewards)
    scale = check_float("reward_scale", reward_scale)
    low, high = (
        None if bound is None else check_float(name, bound)
        for name, bound in (
            ("advantage_clip_low", advantage_clip_low),
            ("advantage_clip_high", advantage_clip_high),
        )
    )
    if low is None and high is None and scale == 1.0:
        if not normalize:
            return sch.rloo() if loo else sch.mean_baseline()
        return loo_grpo(std, eps, zero_std) if loo else sch.grpo(std, eps)
    if low is None and high is None and normalize and not loo and scale > 0:
        return sch.grpo(std, eps / scale)  # (k r - k mean) / (k sd + eps): eps / k
    return Scheme.make(
        "nemo_rl",
        loo=loo,
        normalize=normalize,
        std=std,
        eps=eps,
        zero_std=zero_std,
        scale=scale,
        clip_low=low,
        clip_high=high,
    )


# ---- per-response advantages (float64) ------------------------------------------------------


def _others(g: NDArray, loo: bool) -> tuple[NDArray, NDArray, NDArray]:
    """(baseline b_i, variance of the averaged samples around b_i, their count n) per sample.

    Exact where the averaged samples are all equal (b is that value, variance 0), so a float64
    rounding residue never reaches a division.
    """
    m = g.shape[1]
    if not loo:
        mean = g.mean(1, keepdims=True)
        var = ((g - mean) ** 2).mean(1, keepdims=True)
        flat = np.ptp(g, axis=1, keepdims=True) == 0
        mean, var = np.where(flat, g[:, :1], mean), np.where(flat, 0.0, var)
        return np.broadcast_to(mean, g.shape), np.broadcast_to(var, g.shape), m
    n = m - 1
    others = np.broadcast_to(g[:, None, :], (g.shape[0], m, m))
    mask = ~np.eye(m, dtype=bool)  # [i, j]: j is another sample of i's group
    base = np.where(mask, others, 0.0).sum(-1) / n
    dev = np.where(mask, (others - base[..., None]) ** 2, 0.0).sum(-1) / n
    high = np.where(mask, others, -np.inf).max(-1)
    low = np.where(mask, others, np.inf).min(-1)
    flat = high == low
    return np.where(flat, high, base), np.where(flat, 0.0, dev), n


def _scaled_rewards(g: NDArray, get) -> NDArray:
    if not check_bool(SCALING + "enabled", get(SCALING + "enabled")):
        return g
    lo, hi = (check_float(SCALING + k, get(SCALING + k)) for k in ("source_min", "source_max"))
    t_lo, t_hi = (check_float(SCALING + k, get(SCALING + k)) for k in ("target_min", "target_max"))
    if hi <= lo:
        raise InputError(
            f"{SCALING}source_max={hi!r} is invalid: must be > source_min={lo!r} (NeMo-RL "
            "divides by source_max - source_min)"
        )
    return t_lo + (np.clip(g, lo, hi) - lo) / (hi - lo) * (t_hi - t_lo)


def _clip_bounds(get) -> tuple[float | None, float | None]:
    out = []
    for key in (G + "advantage_clip_low", G + "advantage_clip_high"):
        value = get(key)
        out.append(None if value is None else check_float(key, value))
    return out[0], out[1]


def nemo_rl_advantages(estimator: str, g: NDArray, lengths: NDArray, get) -> NDArray:
    """NeMo-RL's advantages for groups ``g`` (``float64[G, M]``), see the module docstring."""
    estimator = "reinforce_plus_plus" if estimator == "reinforce++" else estimator
    estimator = check_choice("estimator", estimator, NEMO_RL_ESTIMATORS)
    skipped = VARIANTS.get(estimator, ("", 0.0, "", ()))[3]
    for group, keys in (("clip", (G + "advantage_clip_low", G + "advantage_clip_high")),
                        ("scaling", (SCALING + "enabled",))):  # fmt: skip
        changed = [k for k in keys if get(k) not in (None, False)]
        if group in skipped and changed:
            raise InputError(
                f"settings key {changed[0]!r} is invalid for estimator {estimator!r}: that "
                "NeMo-RL code does not read it (it has no such key)"
            )
    rewards = _scaled_rewards(g, get)
    m = g.shape[1]
    if estimator == "reinforce_plus_plus":
        adv = rewards
        if check_bool(G + "adv_estimator.minus_baseline", get(G + "adv_estimator.minus_baseline")):
            adv = rewards - _others(rewards, False)[0] if m > 1 else np.zeros_like(rewards)
        weights = lengths / lengths.sum()
        mean = np.sum(weights * adv)
        var = np.sum(weights * (adv - mean) ** 2)
        out = (adv - mean) / np.sqrt(max(var, NEMO_RL_VAR_FLOOR))
    elif m == 1:
        out = np.zeros_like(rewards)
    else:
        std, eps, zero_std, _ = VARIANTS[estimator]
        loo = check_bool(G + "use_leave_one_out_baseline", get(G + "use_leave_one_out_baseline"))
        baseline, var, n = _others(rewards, loo)
        out = rewards - baseline
        if check_bool(G + "normalize_rewards", get(G + "normalize_rewards")):
            if std == "sample":
                var = var * n / (n - 1) if n > 1 else np.zeros_like(var)
            sd = np.sqrt(var)
            with np.errstate(divide="ignore", invalid="ignore"):
                divided = out / (sd + eps)
            out = divided if zero_std == "eps" else np.where(sd > 0, divided, out)
    low, high = _clip_bounds(get)
    return np.clip(out, -np.inf if low is None else low, np.inf if high is None else high)


def reward_scale(get) -> tuple[float, float]:
    """(r0, k): where ``grpo.reward_scaling`` sends the rewards 0 and 1 (0 -> r0, 1 -> r0 + k)."""
    r0, r1 = _scaled_rewards(np.array([[0.0, 1.0]]), get)[0]
    return float(r0), float(r1 - r0)


def check_clip(low: ArrayLike, high: ArrayLike) -> None:
    if low is not None and high is not None and low > high:
        raise InputError(
            f"{G}advantage_clip_low={low!r} is invalid: must be <= advantage_clip_high={high!r}"
        )


RULE = AdvantageRule(
    estimators=NEMO_RL_ESTIMATORS,
    key=G + "adv_estimator.name",
    default="grpo",
    advantages=nemo_rl_advantages,
    settings=ADVANTAGE_KEYS,
    scheme=from_nemo_rl,
    scheme_estimators=("grpo", "grpo@v0.3.1", "grpo@74b9b1789"),  # not the batch-whitened one
)
