"""Card sections from a run's facts: objective, lens, rewards, not modelled, pitfalls.

Every number comes from the exact NumPy core (``transform``); every section names its topic
(``rlxform explain --topic NAME``) and defines the symbols it prints. ``lens_breaks`` lists the
settings that break E[update] = w_M(p) grad p for the first update of a rollout batch (the lens is
about that update: knobs that act only once a ratio differs from 1 are notes);
``loss_section`` (``explain.loss``) is the card's loss-mode section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rlxform.core import schemes as sch
from rlxform.core.objective import transform
from rlxform.explain.entropy import entropy_breaks
from rlxform.explain.filters import filter_breaks
from rlxform.explain.loss import loss_lens
from rlxform.explain.loss import loss_section as loss_section  # cards.card_of hooks it here
from rlxform.explain.parts import Section, bullets, clip_binds, clip_range
from rlxform.explain.topics import pointer

if TYPE_CHECKING:
    from rlxform.frameworks import RunConfig

P_VALUES = (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99)
KL_KIND = {
    "kl": "k1",
    "k1": "k1",
    "mse": "k2",
    "k2": "k2",
    "low_var_kl": "k3",
    "k3": "k3",
    "k3_ratio": "k3_ratio",
}


# ---- scheme and objective -----------------------------------------------------------------------


def run_scheme(run: RunConfig) -> tuple[sch.Scheme, str | None]:
    """The scheme a run amounts to, and a note on its step scale (batch-level std)."""
    from rlxform.frameworks import FRAMEWORKS

    steps = getattr(run, "batch_steps", ())
    if steps:  # the per-group rule is the large-batch limit; the batch steps scale the step
        record = FRAMEWORKS[run.framework]
        note = "; ".join(steps) + " (--topic batch_std)"
        return record.rule.scheme(run.estimator, **dict(run.scheme_params)), note
    if run.std_scope == "batch":
        sigma = (
            "sqrt(pbar (1 - pbar)), pbar the batch's mean success rate"
            if run.framework in ("trl", "unsloth")
            else "sqrt(((M-1)/M) mean_x p_x (1 - p_x)) (equal-length answers)"
        )
        note = (
            "batch-level std: as the batch grows the update tends to the mean baseline divided "
            f"by sigma = {sigma}: h = ((M-1)/M) p / sigma (rlxform.frameworks.batch_std_limit)"
        )
        return sch.mean_baseline(), note
    record = FRAMEWORKS[run.framework]
    return record.rule.scheme(run.estimator, **dict(run.scheme_params)), None


def objective_summary(scheme: sch.Scheme, group_size: int, p=P_VALUES) -> dict[str, Any]:
    """h_M, w_M and the large-M limit at a few p, the range of w_M and h_M(1) (float64)."""
    t = transform(scheme, group_size)
    p = np.asarray(p, np.float64)
    grid = np.linspace(0.0, 1.0, 201)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.asarray(t.objective(p), np.float64)
        w = np.asarray(t.weight(p), np.float64)
        w_grid = np.asarray(t.weight(grid), np.float64)
        limit = None if t.limit is None else np.asarray(t.limit(p), np.float64)
        top = float(np.asarray(t.objective(1.0)))
    return {
        "group_size": group_size,
        "formula": scheme.formula,
        "h_M_at_1": top,
        "w_M_min": float(w_grid.min()),
        "w_M_max": float(w_grid.max()),
        "limit_name": t.limit_name,
        "table": {
            "p": p.tolist(),
            "h_M": h.tolist(),
            "w_M": w.tolist(),
            **({} if limit is None else {"limit": limit.tolist()}),
        },
    }


def summary_line(scheme: sch.Scheme, group_size: int) -> str:
    """One line for ``rlxform transforms``: h_M(0.1), h_M(0.5), range of w_M, the limit."""
    s = objective_summary(scheme, group_size, (0.1, 0.5))
    h01, h05 = s["table"]["h_M"]
    return (
        f"{scheme.label} M={group_size}: h_M(0.1)={h01:.4g}, h_M(0.5)={h05:.4g}, "
        f"w_M in [{s['w_M_min']:.4g}, {s['w_M_max']:.4g}], "
        f"large-M h = {s['limit_name'] or '(none)'}"
    )


def objective_section(scheme: sch.Scheme, group_size: int, scale: str | None) -> Section:
    s = objective_summary(scheme, group_size)
    limit = s["limit_name"] or "(no named limit)"
    prose = [
        f"p is the probability that one sampled answer to a prompt is correct and M = "
        f"{group_size} the answers sampled per prompt. With 0/1 rewards, every update of the "
        f"scheme {scheme.label} is, in expectation, gradient ascent on E_x h_M(p_x): the "
        f"weight w_M(p) = h_M'(p) is a polynomial of degree {group_size - 1} in p (how hard a "
        f"prompt of accuracy p is pushed), h_M(p) its integral from 0 (the objective). As M "
        f"grows, h_M tends to {limit} (up to scale).",
    ]
    if scale:
        prose.append("Step scale: " + scale + ".")
    prose.append(pointer("objective"))
    return Section("objective", "Objective", {"scheme": scheme.label, **s}, tuple(prose))


# ---- the lens --------------------------------------------------------------------------------

_AGG_1_OVER_L = ("seq-mean-token-mean", "grpo", "sapo")
_AGG_BATCH = ("token-mean", "dapo", "bnpo", "cispo", "vespo")
_AGG_CONSTANT = ("seq-mean-token-sum", "seq-mean-token-sum-norm", "dr_grpo", "token-sum", "luspo")


def lens_breaks(run: RunConfig, scheme: sch.Scheme) -> tuple[list[str], list[str]]:
    """(parts of the settings that break the lens for the first update of a rollout batch,
    notes on parts that keep it or act only on later updates).

    With a loss-mode reduction (``run.loss``) the aggregation and later-update parts are the
    reducer's (``explain.loss.loss_lens``): a factor c(L) other than "1" or "1/L_max" breaks
    the lens; clips and other off-policy knobs are notes (they never act on the first update).
    """
    reduced = loss_lens(run)
    if reduced is not None:
        breaks, notes = reduced
        return _other_breaks(run, scheme, breaks, notes)
    breaks, notes = [], []
    factor = getattr(run.normaliser, "factor", None)
    agg = run.aggregation
    if factor == "1/L" or (factor is None and agg in _AGG_1_OVER_L):
        breaks.append(
            f"length-normalised aggregation ({agg}): each answer's weight is divided by its own "
            "length L, so updates also move answer lengths; exact only if length does not "
            "depend on the answer (--topic aggregation)"
        )
    elif factor == "token-mean" or (factor is None and agg in _AGG_BATCH):
        notes.append(
            f"aggregation {agg} divides by the token count of the answers sharing a normaliser: "
            "a batch constant for large batches (rescales the step); at small batches an "
            "answer's own length enters (--topic aggregation)"
        )
    elif factor is None and agg not in _AGG_CONSTANT:
        breaks.append(f"aggregation {agg!r} is not one rlxform knows how it weighs answers")
    if run.updates_per_rollout > 1 and clip_binds(run):
        notes.append(
            f"clipping can bind on later updates: {run.updates_per_rollout:g} optimizer steps "
            "per rollout batch; after the first the ratio pi/pi_old of the trained to the "
            f"sampling policy leaves 1 and the clip {clip_range(run)} can bind (--topic ppo)"
        )
    elif run.updates_per_rollout > 1:
        notes.append(
            f"{run.updates_per_rollout:g} optimizer steps per rollout batch: after the first, "
            "each step weighs the old batch's advantages by the ratio pi/pi_old; the clip "
            f"{clip_range(run)} never binds (no clipping) (--topic ppo)"
        )
    return _other_breaks(run, scheme, breaks, notes)


def _other_breaks(run: RunConfig, scheme: sch.Scheme, breaks: list, notes: list):
    """The lens parts that do not depend on the loss mode: KL, batch std, dynamic sampling,
    rewards, what is not modelled."""
    kind = KL_KIND.get(run.kl_estimator or "", "other")
    if run.kl_placement == "loss" and kind in ("k2", "k3", "k3_ratio", "other"):
        what = {
            "k2": "k2 = (log rho)^2 / 2, exact for a one-token policy but per-prefix on sequences",
            "k3": "k3 = 1/rho - 1 + log rho, locally the forward KL(pi_ref || pi)",
            "k3_ratio": "k3 times the importance ratio, locally the reverse KL(pi || pi_ref)",
            "other": "an estimator rlxform does not model",
        }[kind]
        breaks.append(
            f"KL estimator {run.kl_estimator} as a loss (rho = pi / pi_ref per token): {what}; "
            "as a per-token loss it follows a local divergence, and it adds a gradient of its "
            "own to w_M(p) grad p (--topic kl)"
        )
    elif run.kl_placement == "loss":
        notes.append(f"{run.kl_estimator} (k1) as a loss has zero expected gradient: no effect")
    elif run.kl_placement == "reward" and run.framework == "verl":
        breaks.append(
            "KL in the reward before the group normalisation: the advantage sees non-binary "
            "rewards (--topic kl)"
        )
    elif run.kl_placement == "reward" and kind != "k1":
        breaks.append(f"KL estimator {run.kl_estimator} in the reward is not the true KL gradient")
    elif run.kl_placement == "reward":
        notes.append(
            f"k1 KL in the reward (coefficient beta = {run.kl_coef:g}): in expectation the true "
            "gradient of KL(pi || pi_ref), so the update ascends h_M(p) - beta KL (--topic kl)"
        )
    for step in getattr(run, "batch_steps", ()):
        breaks.append(f"batch-level step, exact only as the batch grows: {step}")
    breaks += entropy_breaks(run)  # rlxform.explain.entropy
    if run.std_scope == "batch" and not getattr(run, "batch_steps", ()):
        breaks.append(
            "batch-level std: the step is divided by the std of the whole batch; exact only as "
            "the batch grows (h = ((M-1)/M) p / sigma, --topic batch_std)"
        )
    if run.dynamic_sampling:
        a_table, b_table = scheme.tables(run.group_size)
        same = a_table[-1] == 0 and b_table[0] == 0
        breaks.append(
            "dynamic sampling: groups whose M answers are all right or all wrong are dropped and "
            "refilled, so the update ascends the objective of the kept groups, whose weight is "
            "w°_M(p) = w_M(p) - a[M] p^(M-1) + b[0] (1-p)^(M-1) (a[M], b[0]: the weights of "
            "those groups), with the step scaled by 1/(1 - d), d the population's share of such "
            "groups (--topic dynamic)"
            + ("; here a[M] = b[0] = 0, so w°_M = w_M: only the step changes" if same else "")
        )
    if run.reward_shaping and run.rewards.get("binary") is not False:
        breaks.append("reward shaping: " + run.reward_shaping + " (--topic rewards)")
    if run.rewards.get("binary") is False:
        breaks.append("rewards are not 0/1: " + run.rewards["why"] + " (--topic rewards)")
    breaks += filter_breaks(run)
    unknown = [i for i in run.not_modelled if i.get("unknown") and not i.get("refused")]
    refused = [i for i in run.not_modelled if i.get("refused")]
    if len(run.not_modelled) > len(unknown) + len(refused):
        breaks.append(
            f"{len(run.not_modelled) - len(unknown) - len(refused)} setting(s) change the update "
            "in ways rlxform does not model (see Not modelled, --topic knobs)"
        )
    if refused:
        breaks.append(
            f"{len(refused)} key(s) {run.version} does not have ({_first_keys(refused)}): its "
            "loader refuses them, so this launch stops before any update (see Not modelled); "
            "the card describes the launch without them"
        )
    if unknown:
        breaks.append(
            f"{len(unknown)} key(s) rlxform does not know ({_first_keys(unknown)}) may change "
            "the update (see Not modelled)"
        )
    return list(dict.fromkeys(breaks)), notes


def _first_keys(items: list[dict]) -> str:
    """The first three items' keys, then ", ..." if there are more."""
    return ", ".join(i["key"] for i in items[:3]) + (", ..." if len(items) > 3 else "")


def lens_section(run: RunConfig, scheme: sch.Scheme) -> Section:
    breaks, notes = lens_breaks(run, scheme)
    if breaks:
        head = (
            f"No: E[update] = w_M(p) grad p does not hold exactly for the first update of a "
            f"rollout batch; {len(breaks)} part(s) of these settings break it:"
        )
    elif run.rewards.get("binary") is None:
        head = (
            "Yes if the rewards are 0/1: every setting keeps E[update] = w_M(p) grad p for the "
            "first update of each rollout batch; the rewards could not be read ("
            + run.rewards.get("why", "")
            + ")."
        )
    else:
        head = (
            "Yes: every setting keeps E[update] = w_M(p) grad p for the first update of each "
            "rollout batch."
        )
    lines = [head, *bullets(breaks)]
    if notes:
        lines += ["", "Parts that keep it, or act only on later updates:", *bullets(notes)]
    lines.append(pointer("lens"))
    values = {"exact": not breaks, "breaks": breaks, "notes": notes}
    return Section(
        "lens", "Is the lens E[update] = w_M(p) grad p exact here?", values, tuple(lines)
    )


# ---- rewards, not modelled, pitfalls ---------------------------------------------------------


def rewards_section(run: RunConfig) -> Section:
    binary, why = run.rewards.get("binary"), run.rewards.get("why", "")
    if binary is True:
        head = f"Binary (0/1): {why}."
    elif binary is False:
        head = (
            f"Not binary: {why}. The card's h_M is the objective for 0/1 rewards. For advantage "
            "rules linear in the rewards (REINFORCE, RLOO, the mean baseline) the update is "
            "still ascent on the mean reward E[r | x]; for std-normalised rules (GRPO) it "
            "depends on the whole reward distribution of each prompt."
        )
    else:
        head = f"Unknown: {why}. The card assumes 0/1 rewards."
    values = {"binary": binary, "why": why}
    prose = (head, pointer("rewards"))
    return Section("rewards", "Rewards", values, prose, text_in_json=False)


def not_modelled_section(run: RunConfig) -> Section:
    items = [dict(item) for item in run.not_modelled]
    lines = [f"- {i['key']} = {i['value']}: {i['effect']}" for i in items] or ["None."]
    if run.defaults_used:
        lines += [
            "",
            f"Keys not set, so {run.version}'s defaults apply: "
            + ", ".join(run.defaults_used)
            + ".",
        ]
    if run.unresolved:
        lines += ["", "Not determined by the file (their keys keep the defaults):"]
        lines += list(bullets(run.unresolved))
    lines.append(pointer("knobs"))
    return Section("not_modelled", "Not modelled", {"items": items}, tuple(lines))


def pitfalls_section(run: RunConfig, notes: tuple[str, ...] = ()) -> Section:
    items = list(run.pitfalls) + list(notes)
    return Section(
        "pitfalls",
        "Pitfalls of these settings",
        {"items": items},
        bullets(items) or ("None found.",),
    )
