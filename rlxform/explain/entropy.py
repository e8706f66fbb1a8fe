"""The card's entropy section: the run's entropy bonus, what it adds, where it stops ascent.

``entropy_section(run, scheme)``: the coefficient c read from the config (``RunConfig.entropy_*``,
set by each trainer's reader), how the trainer aggregates its per-token entropies, the update it
adds (``rlxform.core.entropy``), and the accuracy p* where exact ascent on h_M(p) + c H stops on
a two-answer policy (``entropy_equilibrium``) from starting accuracies ``STARTS`` at the run's c,
plus a few other coefficients. TRL's adaptive controller makes c state: its two reference numbers
are given instead. ``entropy_breaks(run)`` is the lens section's line for a bonus that acts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rlxform.core.entropy import entropy_equilibrium
from rlxform.explain.parts import Section
from rlxform.explain.topics import pointer

if TYPE_CHECKING:
    from rlxform.core.schemes import Scheme
    from rlxform.frameworks import RunConfig

STARTS = (0.1, 0.3, 0.5)  # starting accuracies from which p* is reported
COEFS = (0.001, 0.01, 0.1, 1.0)  # further coefficients shown from p0 = 0.5
_SYMBOLS = (
    "H is the entropy of the next-token distribution, c the coefficient, w_M = h_M' the "
    "scheme's weight, p* the accuracy where exact ascent stops, p0 the starting accuracy, logit "
    "p = log(p / (1 - p))"
)
_ADDS = (
    "On a one-token (two-answer) policy the bonus adds exactly c grad H(pi), so the update ascends "
    "h_M(p) + c H; on sequences it adds c sum_n u_n grad H_n: the entropy of every prefix n the "
    "batch reaches, weighted by u_n = E[f 1{n is drawn}] (f the aggregation factor), with the "
    "drawn prefixes held fixed. That is not the gradient of the expected aggregated entropy: "
    "the trainers drop its score-function term."
)


def acts(run: RunConfig) -> bool:
    """Whether the run's entropy bonus can change the update (c != 0 or adaptive)."""
    return bool(run.entropy_coef) or run.entropy_adaptive is not None


def entropy_breaks(run: RunConfig) -> list[str]:
    """The lens section's line for an entropy bonus that acts, else nothing."""
    if run.entropy_coef is None or not acts(run):
        return []
    adaptive = ", adaptive" if run.entropy_adaptive else ""
    return [
        f"entropy bonus (coefficient {run.entropy_coef:g}{adaptive}): it adds c times the "
        "gradient of the drawn prefixes' entropy to w_M(p) grad p (--topic entropy)"
    ]


def target_accuracy(target: float) -> float:
    """The two-answer accuracy p >= 1/2 whose entropy -p log p - (1-p) log(1-p) is ``target``
    (bisection to float64; 0.5 when target >= log 2, 1.0 when target <= 0)."""
    if target >= np.log(2.0):
        return 0.5
    if target <= 0.0:
        return 1.0
    lo, hi = 0.5, 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        h = -(mid * np.log(mid) + (1 - mid) * np.log1p(-mid))
        lo, hi = (mid, hi) if h > target else (lo, mid)
    return 0.5 * (lo + hi)


def entropy_section(run: RunConfig, scheme: Scheme) -> Section:
    """The run's entropy bonus and the equilibrium p* it sets with h_M on a two-answer policy."""
    title = "Entropy bonus"
    m = run.group_size
    if run.entropy_coef is None:
        why = (
            f"rlxform does not model {run.version}'s entropy term (read from verl 0.9.1, TRL 1.10, "
            "OpenRLHF 0.11.2): if the config sets it, it is listed under Not modelled."
        )
        return Section("entropy", title, {"coef": None, "p_star": None}, (why, pointer("entropy")))
    base = {
        "coef": run.entropy_coef,
        "aggregation": run.entropy_aggregation,
        "normaliser": run.entropy_normaliser,
    }
    if not acts(run):
        prose = (
            "No entropy bonus (coefficient 0): only a KL term, if any, holds accuracy below 1. "
            "A coefficient would be applied to the per-token entropies aggregated as the "
            "normaliser row says.",
            pointer("entropy"),
        )
        return Section("entropy", title, {**base, "p_star": None}, prose)
    if run.entropy_adaptive is not None:
        return _adaptive(run, scheme, base)
    coef = float(run.entropy_coef)
    if coef < 0:
        prose = (
            f"Entropy coefficient {coef:g} < 0: an entropy penalty, which pushes the policy "
            "towards determinism on top of h_M; rlxform's equilibrium is for c >= 0.",
            _ADDS,
            pointer("entropy"),
        )
        return Section("entropy", title, {**base, "p_star": None}, prose)
    at_config = {str(p0): entropy_equilibrium(scheme, m, coef, init_p=p0) for p0 in STARTS}
    by_coef = {str(c): entropy_equilibrium(scheme, m, c) for c in COEFS}
    values = {**base, "p_star": at_config, "p_star_at_p0_0.5_by_coef": by_coef}
    shown = ", ".join(f"p0 {k} -> p* {v:.4g}" for k, v in at_config.items())
    more = ", ".join(f"c {k}: {v:.4g}" for k, v in by_coef.items())
    prose = (
        f"The trainer subtracts c agg(H) from the loss, c = {coef:g}, with the per-token "
        f"entropies aggregated over {run.entropy_normaliser}. {_ADDS}",
        f"On a two-answer policy (a reference, not your model), exact ascent on h_M(p) + c H "
        f"stops at the first root of logit p* = w_M(p*) / c in the direction it starts "
        f"({_SYMBOLS}). At c = {coef:g}, M = {m}: {shown}. From p0 = 0.5 with other "
        f"coefficients: {more}. p* = 1 means the bonus cannot hold a two-answer policy below 1 "
        "at that c (logit p* beyond 40).",
        pointer("entropy"),
    )
    return Section("entropy", title, values, prose)


def _adaptive(run: RunConfig, scheme: Scheme, base: dict) -> Section:
    """TRL's controller: c moves each optimizer step, so only reference numbers are given."""
    settings = dict(run.entropy_adaptive)
    target = float(settings["entropy_target"])
    c_max = float(settings["entropy_coef_max"])
    p_target = target_accuracy(target)
    p_max = entropy_equilibrium(scheme, run.group_size, c_max) if c_max > 0 else 1.0
    values = {**base, "adaptive": settings, "p_target": p_target, "p_star_at_max": p_max}
    if p_target == 1.0:
        ends = "the entropy never falls to the target, so the bonus stays off: ascent on h_M alone"
    elif p_max >= p_target:
        ends = (
            f"c climbs to entropy_coef_max and exact ascent stops at p* = {p_max:.4g} (logit p* "
            "= w_M(p*) / c at c = entropy_coef_max)"
        )
    else:
        ends = (
            f"p* = {p_max:.4g} at entropy_coef_max (logit p* = w_M(p*) / c) lies below "
            f"p_target, so the controller holds p around p_target = {p_target:.4g}, switching the "
            "bonus on and off"
        )
    prose = (
        f"use_adaptive_entropy: c starts at {run.entropy_coef:g} and is applied only while the "
        f"previous optimizer step's mean token entropy is <= entropy_target = {target:g}; after "
        f"each step c rises by {settings['entropy_coef_delta']:g} when the entropy is <= target, "
        f"else falls, within [{settings['entropy_coef_min']:g}, {c_max:g}]. So c is state, not "
        f"a constant, and no single p* is reported. {_ADDS}",
        f"On a two-answer policy (a reference, not your model) the entropy is <= the target for "
        f"p >= p_target = {p_target:.4g} (and p <= 1 - p_target): ascending from between, "
        f"{ends} ({_SYMBOLS}).",
        pointer("entropy"),
    )
    return Section("entropy", "Entropy bonus", values, prose)
