"""Card conclusions that need the KL and sequence math: KL equilibrium and length bias.

``kl_section(run, scheme)``: where exact ascent with the run's KL term (estimator and placement:
loss, reward before the advantage, or subtracted from the advantage) stops for a softmax policy
over answers (``rlxform.core.kl.kl_equilibrium``) at reference accuracies ``P_REFS`` and the
config's coefficient, plus a few other coefficients; none when no stopping point is derived.
``length_section(run, scheme)``: the length drift of the run's aggregation at the run's own
normaliser (G groups sharing one token count, from the config) on a reference sequence task
(``rlxform.core.sequences.UpdateRule.length_drift``), labelled as a reference task, not the
user's model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rlxform.core import kl
from rlxform.core.schemes import Scheme
from rlxform.explain.parts import Section
from rlxform.explain.topics import pointer
from rlxform.validation import InputError

if TYPE_CHECKING:
    from rlxform.frameworks import RunConfig

P_REFS = (0.1, 0.3, 0.5)  # reference accuracies at which p* is reported
BETAS = (0.01, 0.1, 1.0)  # further KL coefficients shown at p_ref = 0.3
# frameworks whose k3 has no clamp at 10 (verl and OpenRLHF clamp it): TRL 1.16.0
# grpo_trainer.py:3100-3102, Unsloth's grpo_compute_loss
_UNCLAMPED_K3 = ("trl", "unsloth")
_FOLLOWS = {
    "tilt": "the reverse KL(pi || pi_ref), but inside the reward: the scheme's advantage is "
    "computed from r - beta k1, so the baseline and the std normalisation see the KL",
    "reverse": "the reverse KL(pi || pi_ref) on a one-token policy (per-prefix on sequences)",
    "forward": "the forward KL(pi_ref || pi) on a one-token policy (per-prefix on sequences)",
    "forward_clamped": "the forward KL(pi_ref || pi) on a one-token policy (per-prefix on "
    "sequences) where k3 <= 10; the clamp at 10 drops an answer's term beyond",
    "none": "nothing: k1 as a loss has zero expected gradient",
}
_HOW = {
    "k3_ratio": "k3 times the importance ratio pi / pi_old to the sampling policy pi_old (TRL "
    "use_bias_correction_kl), whose gradient at ratio 1 is (log pi - log pi_ref) grad log pi; "
    "with importance_sampling_level='sequence' the ratio is the sequence's, which changes the "
    "gradient on answers of several tokens but not on one token",
    "k1_unbiased": "OpenRLHF's unbiased_gradient: the estimator's value with the gradient "
    "min(pi / pi_old, 10) (log pi - log pi_ref) grad log pi, pi_old the sampling policy",
    "k1+": "verl's straight-through type: the estimator's value with k2's gradient "
    "(log pi - log pi_ref) grad log pi",
}
_HOW.update({name: _HOW["k1_unbiased"] for name in ("k2_unbiased", "k3_unbiased")})
_HOW.update({name: _HOW["k1+"] for name in ("k3+", "abs+")})
_RULES = {
    "tilt": "logit p* - logit p_ref = 1 / beta",
    "reverse": "logit p* - logit p_ref = w_M(p*) / beta",
    "forward": "(p* - p_ref) / (p* (1 - p*)) = w_M(p*) / beta",
    "forward_clamped": "(p* - p_ref) / (p* (1 - p*)) = w_M(p*) / beta",
    "none": "w_M(p*) = 0 (else p* = 1)",
}
_PLACED = {
    "loss": "as a loss",
    "reward": "in the reward, before the advantage",
    "advantage": "subtracted from the advantage, after the baseline",
}
_SYMBOLS = (
    "pi is the trained policy and pi_ref the reference policy, p_ref is the reference "
    "policy's accuracy, beta the KL coefficient, k1 = log pi - log pi_ref, p* the accuracy "
    "where exact ascent stops, logit p = log(p / (1 - p))"
)


def _estimator(run: RunConfig) -> str:
    """The run's estimator as an ``rlxform.core.kl`` name (InputError when it is none)."""
    estimator = kl.canonical_estimator(run.kl_estimator or "k1")
    if estimator == "k3" and run.framework in _UNCLAMPED_K3:
        return "k3_unclamped"
    return estimator


def kl_section(run: RunConfig, scheme: Scheme) -> Section:
    """The KL equilibrium p* of this run's scheme, M, KL estimator, placement and coefficient."""
    title = "KL equilibrium"
    m = run.group_size
    if run.kl_placement == "none" or run.kl_coef == 0.0:
        prose = (
            "No KL penalty: nothing holds accuracy back; ascent on h_M moves p towards 1 on "
            "every prompt where w_M > 0.",
            pointer("kl"),
        )
        return Section("kl_equilibrium", title, {"p_star": None, "beta": 0.0}, prose)
    placement = run.kl_placement
    placed = _PLACED.get(placement, placement)
    try:
        estimator = _estimator(run)
        rule = kl.equilibrium_rule(estimator, placement)
        if rule == "tilt" and not scheme.has_real_reward:
            raise InputError(
                f"the scheme {scheme.label} is defined only for 0/1 rewards, so its advantage "
                "of penalised rewards is not derived"
            )
    except InputError as err:
        name = run.kl_estimator or "k1"
        why = (
            f"KL estimator {name} {placed}: rlxform derives no stopping point for it "
            f"({str(err).split(': ', 1)[-1]}), so no p* is reported"
        )
        values = {"p_star": None, "beta": run.kl_coef, "estimator": name, "reason": why}
        return Section("kl_equilibrium", title, values, (why + ".", pointer("kl")))
    beta = float(run.kl_coef)
    gap = scheme.reward_gap if rule == "tilt" else 1.0  # the trainer's rewards {r0, r0 + gap}

    def solve(b: float, p_ref: float) -> float:
        b = b / gap  # the coefficient on the 0/1 scale of kl_equilibrium
        return kl.kl_equilibrium(scheme, m, b, p_ref, estimator=estimator, placement=placement)

    at_config = {str(p_ref): solve(beta, p_ref) for p_ref in P_REFS}
    at_betas = {str(b): solve(b, 0.3) for b in BETAS}
    follows = _FOLLOWS[rule]
    values = {
        "beta": beta,
        "estimator": estimator,
        "placement": placement,
        "follows": follows,
        "p_star": at_config,
        "p_star_at_p_ref_0.3_by_beta": at_betas,
    }
    shown = ", ".join(f"p_ref {k} -> p* {v:.4g}" for k, v in at_config.items())
    more = ", ".join(f"beta {k}: {v:.4g}" for k, v in at_betas.items())
    how = f" ({estimator} is {_HOW[estimator]})" if estimator in _HOW else ""
    if rule == "tilt":
        size = (
            " On two answers the penalised rewards of a correct and a wrong answer differ by "
            "1 - beta (logit p - logit p_ref): the update shrinks (linear schemes) or keeps its "
            "size and flips its sign (std-normalised ones) where that reaches 0, so the group "
            "size M does not move p*."
        )
        if gap != 1.0:
            size += (
                f" The run's rewards of a correct and a wrong answer differ by {gap:g}, not 1: "
                f"logit p* - logit p_ref = {gap:g} / beta."
            )
    elif rule == "forward_clamped":
        size = (
            " An answer whose k3 exceeds 10 drops out of the left side (verl and OpenRLHF clamp "
            "k3 at 10, with zero gradient beyond), and past that point ascent can run on to p = 1. "
            "The group size M sets the equilibrium through w_M."
        )
    elif rule == "none":
        size = " The KL term does not hold p back."
    else:
        size = " The group size M sets the equilibrium through w_M."
    prose = (
        f"{estimator} {placed} follows {follows}{how}. For a softmax policy over answers, exact "
        f"ascent started at the reference stops at the first root of {_RULES[rule]} "
        f"({_SYMBOLS}). At beta = {beta:g}: {shown}. At p_ref = 0.3 with other coefficients: "
        f"{more}.{size}",
        pointer("kl"),
    )
    return Section("kl_equilibrium", title, values, prose)


REFERENCE_TASK = ("first_token", 4, 8)  # verifier, vocabulary V, max_length: the length-bias task
REFERENCE_P = 0.3
_FACTOR_AGGREGATION = {"1": "seq-mean-token-sum", "1/L": "seq-mean-token-mean"}
_FACTOR_AGGREGATION["1/L_max"] = "seq-mean-token-sum-norm"


def normaliser_groups(run: RunConfig) -> tuple[str, int, str]:
    """(rlxform aggregation, G groups sharing one token-mean normaliser, how G was found)."""
    norm = run.normaliser
    m = run.group_size
    if norm is None or norm.factor != "token-mean":
        factor = getattr(norm, "factor", "1")
        return _FACTOR_AGGREGATION.get(factor, "seq-mean-token-sum"), 1, getattr(norm, "where", "")
    answers = norm.answers
    if answers is None:
        return (
            "token-mean",
            1,
            (f"token-mean over {norm.where}: shown for G = 1 group; more groups damp the drift"),
        )
    if answers <= 1:
        return "seq-mean-token-mean", 1, f"token-mean over {norm.where}: one answer, so 1/L"
    groups = max(1, math.floor(answers / m))
    count = answers / m
    how = f"token-mean over {norm.where}: {answers:g} answers = {count:g} "
    how += f"group{'' if count == 1 else 's'} of M = {m}"
    if answers < m:
        how += "; fewer answers than a group, shown for G = 1"
    elif answers % m:
        how += f"; shown for G = {groups}"
    return "token-mean", groups, how


def length_section(run: RunConfig, scheme: Scheme) -> Section:
    """Sign and size of the length drift of this run's aggregation on the reference task.

    ``UpdateRule.length_drift`` at the tabular sequence policy with p = ``REFERENCE_P`` on
    ``first_token`` (V = 4, max_length = 8; correctness does not depend on length), G groups
    per token-mean normaliser as the run's trainer version normalises: d E[L | correct] / dp
    and d E[L | wrong] / dp along the exact expected update (tokens per unit of p gained).
    Along grad p both are 0 on this task, so any drift is the aggregation's.
    """
    from rlxform.core import sequences
    from rlxform.core.sequence_tasks import SequenceTask

    title = "Length bias"
    name, groups, how = normaliser_groups(run)
    factor = getattr(run.normaliser, "factor", None)
    if factor is not None and factor not in ("1", "1/L", "1/L_max", "token-mean"):
        values = {"aggregation": run.aggregation, "rlxform_aggregation": None, "normaliser": how}
        why = f"Not computed: the loss's per-answer factor is {factor} ({how}), no aggregation "
        why += "whose length drift rlxform computes."
        return Section("length_bias", title, values, (why, pointer("aggregation")))
    verifier, vocab, max_length = REFERENCE_TASK
    task = SequenceTask(vocab, max_length, verifier)
    rule = sequences.UpdateRule(scheme, name, run.group_size, batch_groups=groups)
    drift = rule.length_drift(task, REFERENCE_P)
    if drift.drift_p == 0 and drift.drift_correct == 0 and drift.drift_wrong == 0:
        values = {"aggregation": run.aggregation, "rlxform_aggregation": name, "normaliser": how}
        why = f"Not computed: at M = {run.group_size} every weight of {scheme.label} is 0 (the "
        why += "update is 0), so nothing drifts."  # trainers-c: prime-rl's default group of one
        return Section("length_bias", title, values, (why, pointer("aggregation")))
    per_p_correct, per_p_wrong = drift.correct_per_p, drift.wrong_per_p
    values = {
        "aggregation": run.aggregation,
        "rlxform_aggregation": name,
        "groups_per_normaliser": groups,
        "normaliser": how,
        "reference_task": (
            f"{verifier}, V = {vocab}, max_length = {max_length}, p = {REFERENCE_P} (a reference "
            "task, not your model)"
        ),
        "mean_length_correct": drift.mean_length_correct,
        "mean_length_wrong": drift.mean_length_wrong,
        "d_length_correct_per_p": per_p_correct,
        "d_length_wrong_per_p": per_p_wrong,
    }

    def word(x: float) -> str:
        if abs(x) < 1e-9:
            return "do not change"
        return f"{'lengthen' if x > 0 else 'shorten'} by {abs(x):.3g} tokens"

    prose = (
        f"Normaliser: {how}. On a reference task (not your model): a policy over V = {vocab} "
        f"tokens with answers of at most {max_length} tokens, where correctness depends only "
        f"on the first token, at accuracy p = {REFERENCE_P}, M = {run.group_size}, G = "
        f"{groups} group(s) per normaliser: per unit of p gained, wrong answers "
        f"{word(per_p_wrong)} and correct answers {word(per_p_correct)} (E[L | wrong], "
        "E[L | correct]: mean lengths of wrong and correct answers). This shows which way the "
        "aggregation alone pushes lengths; on your model the size depends on its lengths.",
        pointer("aggregation"),
    )
    return Section("length_bias", title, values, prose)
