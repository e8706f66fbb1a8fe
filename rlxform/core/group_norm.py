"""One exact per-group rule for the reward normalisations of slime, ROLL and AReaL: "group_norm".

Binary outcome rewards are first mapped to two values, ``low`` for a wrong and ``high`` for a
correct answer (AReaL's ``(r + reward_bias) * reward_scaling`` clipped to +-reward_clip; 0 and 1
elsewhere), alpha = high - low. Within a group of M answers, S correct:

* mean: ``group`` (mu = low + alpha S/M), ``leave_one_out`` (mu_i = the mean of the other M - 1
  answers, AReaL ``mean_leave1out``) or ``none`` (mu = 0); dev_i = x_i - mu_i.
* std: ``group``, taken around the mean used, sd = sqrt(sum_j dev_j^2 / (M - 1)) (``unbiased``)
  or / M (AReaL ``Normalization._compute_std``, areal/utils/data.py:1551-1595 in 1.0.4; with
  the group mean it is the group's std), then A_i = dev_i / (sd + eps); ``none``: A_i = dev_i.
* ``clip``: A clamped to [-clip, clip] (ROLL ``reward_clip``, roll/utils/functionals.py:667-673
  in v0.3.0); ``keep`` = (lo, hi): only groups with lo < S/M < hi keep their weights (ROLL's
  ``difficulty_mask``, functionals.py:603-611: a filter on the group's mean score without memory,
  so inside a group it is the tables' mask, as ``core.dynamic`` does for dynamic sampling).

``a[S]`` is A of a correct answer, ``b[S]`` of a wrong one. Equivalent catalog schemes are
returned by ``group_norm`` where they exist (grpo, mean_baseline, rloo, reinforce), so a card
names the familiar rule. Large-M limits (``group_norm_limit``): alpha p without a std; GRPO's
int_0^p dt / (sqrt(t(1-t)) + eps/alpha) with a group std (leave-one-out too: its std is
M/(M-1) the group's, so A is GRPO's with eps (M-1)/M); with mean ``none`` and low = 0,
w = 1/(sqrt p + e), h = 2 sqrt p - 2 e log(1 + sqrt p / e), e = eps/high; ``keep`` restricts
the weight to (lo, hi); a clip has no named limit. Pure NumPy (JAX only through a traced eps).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core import schemes as sch
from rlxform.core.registry import Counts, Scheme, register, safe_div
from rlxform.core.xp import namespace
from rlxform.validation import InputError, check_choice, check_float

MEANS = ("group", "leave_one_out", "none")
STDS = ("group", "none")


def deviations(c: Counts, mean: str, low: Any, high: Any) -> tuple[Any, Any]:
    """(dev of a correct answer, dev of a wrong one) for S = 0..M: ``float64[M+1]`` each.

    ``low`` and ``high`` are the two values (scalars, or per-S tables for a second stage).
    """
    low = np.broadcast_to(np.asarray(low, np.float64), (c.m + 1,))
    high = np.broadcast_to(np.asarray(high, np.float64), (c.m + 1,))
    alpha = high - low
    if mean == "none" or (c.m == 1 and mean == "leave_one_out"):  # AReaL: a group of one: 0
        return high.copy(), low.copy()
    if mean == "group" or c.m == 1:
        mu = low + alpha * c.q
        return high - mu, low - mu
    return alpha * (c.m - c.s) / (c.m - 1.0), -alpha * c.s / (c.m - 1.0)


def group_std(c: Counts, dev_c: Any, dev_w: Any, unbiased: bool) -> Any:
    """sqrt(sum_j dev_j^2 / (M-1 or M)); a group of one with ``unbiased`` has std 1 (AReaL)."""
    squares = c.s * dev_c**2 + (c.m - c.s) * dev_w**2
    if unbiased:
        return np.sqrt(squares / (c.m - 1.0)) if c.m > 1 else np.ones(c.m + 1)
    return np.sqrt(squares / c.m)


def normalise(c: Counts, mean, std, unbiased, eps, low, high) -> tuple[Any, Any]:
    """One normalisation stage of values ``low`` / ``high``: (A of a correct, of a wrong)."""
    dev_c, dev_w = deviations(c, mean, low, high)
    if std == "none":
        return dev_c, dev_w
    xp = namespace(eps)
    sd = group_std(c, dev_c, dev_w, unbiased)
    return safe_div(xp.asarray(dev_c), sd + eps), safe_div(xp.asarray(dev_w), sd + eps)


def _kept(c: Counts, keep: tuple[float, float] | None) -> Any:
    if keep is None:
        return np.ones(c.m + 1)
    return ((c.q > keep[0]) & (c.q < keep[1])).astype(np.float64)


def group_norm_centred(c: Counts, mean, std, unbiased, eps, low, high, clip, keep, then):
    """The numerator tables (dev_i, before the std division), masked by ``keep``."""
    if clip is not None or then is not None:
        raise InputError("a clipped or two-stage group_norm has no centred form")
    dev_c, dev_w = deviations(c, mean, low, high)
    kept = _kept(c, keep)
    return dev_c * kept, dev_w * kept


def group_norm_limit(mean, std, unbiased, eps, low, high, clip, keep, then):
    """(h, name) of the large-M limit (see the module docstring), or (None, None)."""
    alpha = high - low
    centred_then = then is not None and then[1] == "none" and then[0] == "group"
    if clip is not None or (then is not None and not (centred_then and mean != "none")):
        return None, None
    if std == "none":
        base = bern.identity if alpha == 1 else bern.scaled(bern.identity, alpha)
    elif mean != "none" and alpha > 0:
        base = bern.arcsin_sqrt if eps == 0 else bern.grpo_eps_objective(eps / alpha)
    elif mean == "none" and low == 0 and high > 0:
        base = sqrt_objective(eps / high)
    else:
        return None, None
    if keep is None:
        return base, base.__name__
    window = kept_objective(base, *keep)
    return window, window.__name__


def sqrt_objective(e: float) -> bern.Limit:
    """h(p) = int_0^p dt / (sqrt t + e) = 2 sqrt p - 2 e log(1 + sqrt p / e); 2 sqrt p at e = 0."""
    if e == 0:
        return bern.Limit(
            lambda xp, p: 2.0 * xp.sqrt(p), lambda xp, p: 1.0 / xp.sqrt(p), "2 sqrt p"
        )
    return bern.Limit(
        lambda xp, p: 2.0 * xp.sqrt(p) - 2.0 * e * xp.log1p(xp.sqrt(p) / e),
        lambda xp, p: 1.0 / (xp.sqrt(p) + e),
        f"2 sqrt p - {2 * e:g} log(1 + sqrt p / {e:g})",
    )


def kept_objective(base: bern.Limit, lo: float, hi: float) -> bern.Limit:
    """h(p) = base(clamp(p, lo, hi)) - base(lo): the weight of ``base`` kept on (lo, hi) only."""
    lo_c, hi_c = min(max(lo, 0.0), 1.0), min(max(hi, 0.0), 1.0)

    def value(xp, p):
        inside = xp.clip(p, lo_c, hi_c)
        return base._value(xp, inside) - base._value(xp, xp.asarray(lo_c, p.dtype))

    def weight(xp, p):
        return xp.where((p > lo) & (p < hi), base._weight(xp, p), 0.0)

    return bern.Limit(value, weight, f"{base.__name__}, its weight kept on ({lo:g}, {hi:g})")


@register(
    "group_norm",
    "A = (x - mean) / (std around that mean + eps) of rewards x in {low, high}, optionally "
    "normalised again per group (then), clipped, kept where lo < S/M < hi (slime, ROLL, AReaL)",
    group_norm_limit,
    min_group_size=lambda mean, std, then, **_: (
        1 if (mean == "none" and std == "none" and then is None) else 2
    ),
    centred=group_norm_centred,
    std_kind=lambda unbiased, **_: "sample" if unbiased else "population",
)
def group_norm_rule(c: Counts, mean, std, unbiased, eps, low, high, clip, keep, then):
    a_table, b_table = normalise(c, mean, std, unbiased, eps, low, high)
    if then is not None:  # a second per-group stage on the two values of each group
        mean2, std2, unbiased2, eps2 = then
        a_table, b_table = normalise(c, mean2, std2, unbiased2, eps2, b_table, a_table)
    if clip is not None:
        xp = namespace(a_table, b_table)
        a_table, b_table = xp.clip(a_table, -clip, clip), xp.clip(b_table, -clip, clip)
    kept = _kept(c, keep)
    return a_table * kept, b_table * kept


def _check_stage(mean: Any, std: Any, unbiased: Any, eps: Any, what: str):
    mean = check_choice(f"{what}mean", mean, MEANS)
    std = check_choice(f"{what}std", std, STDS)
    if not isinstance(unbiased, (bool, np.bool_)):
        raise InputError(f"{what}unbiased={unbiased!r} is invalid: must be True or False")
    eps = check_float(f"{what}eps", eps, 0.0)
    if std == "none":
        unbiased, eps = True, 0.0  # no std: its settings do not enter
    return mean, std, bool(unbiased), eps


def group_norm(
    mean: str = "group",
    std: str = "group",
    *,
    unbiased: bool = True,
    eps: float = 0.0,
    low: float = 0.0,
    high: float = 1.0,
    clip: float | None = None,
    keep: tuple[float, float] | None = None,
    then: tuple[str, str, bool, float] | None = None,
    catalog: bool = True,
) -> Scheme:
    """The scheme of a group normalisation (see the module docstring).

    ``then`` = (mean, std, unbiased, eps): a second per-group normalisation of the result
    (AReaL ``adv_norm`` at group level). With ``catalog`` (default) a combination that a
    catalog scheme computes exactly is returned as that scheme: group mean and std with
    alpha > 0 -> ``grpo(std, eps / alpha)``; on 0/1 rewards group mean -> ``mean_baseline``,
    leave-one-out -> ``rloo``, none -> ``reinforce``.
    """
    mean, std, unbiased, eps = _check_stage(mean, std, unbiased, eps, "")
    if then is not None:
        then = _check_stage(*then, "then ")
    low, high = check_float("low", low), check_float("high", high)
    if clip is not None:
        clip = check_float("clip", clip, 0.0, low_open=True)
    if keep is not None:
        lo, hi = (check_float("keep low", keep[0]), check_float("keep high", keep[1]))
        if not lo < hi:
            raise InputError(f"keep={keep!r} is invalid: must be (low, high) with low < high")
        keep = (lo, hi)
    plain = clip is None and keep is None and then is None
    if catalog and plain and mean == "group" and std == "group" and high > low:
        std_name = "sample" if unbiased else "population"
        # eps / alpha to 15 digits (1e-5 / 10 prints 1e-06): a change below float64 rounding
        return sch.grpo(std=std_name, eps=float(f"{eps / (high - low):.15g}"))
    if catalog and plain and std == "none" and (low, high) == (0.0, 1.0):
        ctor = {"group": sch.mean_baseline, "leave_one_out": sch.rloo, "none": sch.reinforce}
        return ctor[mean]()
    return Scheme.make(
        "group_norm",
        mean=mean,
        std=std,
        unbiased=unbiased,
        eps=eps,
        low=low,
        high=high,
        clip=clip,
        keep=keep,
        then=then,
    )


def affine_values(scaling: float, bias: float, clip: float | None) -> tuple[float, float]:
    """(low, high): the rewards 0 and 1 after AReaL's clip((r + bias) scaling, +-clip)."""
    values = []
    for r in (0.0, 1.0):
        x = (r + bias) * scaling
        values.append(x if clip is None else min(max(x, -clip), clip))
    if not all(math.isfinite(v) for v in values):
        raise InputError(f"reward scaling={scaling!r}, bias={bias!r} give non-finite rewards")
    return values[0], values[1]
