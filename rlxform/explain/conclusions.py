"""Card conclusions that need the KL and sequence math: KL equilibrium and length bias.

``kl_section(run, scheme)``: where exact ascent on h_M(p) - beta D(pi || pi_ref) stops for a
softmax policy over answers (``rlxform.core.kl.kl_equilibrium``, SPEC section 9) at reference
accuracies ``P_REFS`` and the config's coefficient, plus a few larger coefficients.
``length_section(run, scheme)``: the length drift of the config's aggregation on a reference
sequence task (``rlxform.sim.sequences.length_drift``, SPEC section 8).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rlxform.core import kl
from rlxform.core.schemes import Scheme

if TYPE_CHECKING:
    from rlxform.frameworks import RunConfig
    from rlxform.explain.cards import Section

P_REFS = (0.1, 0.3, 0.5)  # reference accuracies at which p* is reported
BETAS = (0.01, 0.1, 1.0)  # further KL coefficients shown at p_ref = 0.3
_PLACEMENT_OF = {("k1", "reward"), ("k2", "loss"), ("k3", "loss"), ("k1", "loss")}
_FOLLOWS = {
    ("k1", "reward"): "the reverse KL(pi || pi_ref) exactly",
    ("k2", "loss"): "the reverse KL(pi || pi_ref) on a one-token policy (per-prefix on sequences)",
    ("k3", "loss"): "the forward KL(pi_ref || pi) on a one-token policy (per-prefix on sequences)",
    ("k1", "loss"): "nothing: k1 as a loss has zero expected gradient",
}


def kl_section(run: RunConfig, scheme: Scheme) -> Section:
    """The KL equilibrium p* of this run's scheme, M, KL estimator and coefficient."""
    from rlxform.explain.cards import Section

    title = "KL equilibrium"
    m = run.group_size
    if run.kl_placement == "none" or run.kl_coef == 0.0:
        prose = (
            "No KL penalty: nothing holds accuracy back; ascent on h_M moves p towards 1 on "
            "every prompt where w_M > 0.",
        )
        return Section("kl_equilibrium", title, {"p_star": None, "beta": 0.0}, prose)
    estimator = kl.canonical_estimator(run.kl_estimator or "k1")
    placement = run.kl_placement
    if (estimator, placement) not in _PLACEMENT_OF:
        prose = (
            f"KL estimator {run.kl_estimator} in the {placement}: its expected gradient is not "
            "the gradient of a divergence rlxform solves for (see `rlxform reproduce --only "
            "kl_estimators`); no equilibrium is reported.",
        )
        return Section("kl_equilibrium", title, {"p_star": None, "beta": run.kl_coef}, prose)
    beta = float(run.kl_coef)
    at_config = {
        str(p_ref): kl.kl_equilibrium(
            scheme, m, beta, p_ref, estimator=estimator, placement=placement
        )
        for p_ref in P_REFS
    }
    at_betas = {
        str(b): kl.kl_equilibrium(scheme, m, b, 0.3, estimator=estimator, placement=placement)
        for b in BETAS
    }
    values = {
        "beta": beta,
        "estimator": estimator,
        "placement": placement,
        "follows": _FOLLOWS[(estimator, placement)],
        "p_star": at_config,
        "p_star_at_p_ref_0.3_by_beta": at_betas,
    }
    shown = ", ".join(f"p_ref {k} -> p* {v:.4g}" for k, v in at_config.items())
    more = ", ".join(f"beta {k}: {v:.4g}" for k, v in at_betas.items())
    prose = (
        f"{estimator} as {placement} follows {_FOLLOWS[(estimator, placement)]}. For a softmax "
        "policy over answers, exact ascent started at the reference stops at the first root of "
        + (
            "logit p* - logit p_ref = w_M(p*) / beta"
            if (estimator, placement) != ("k3", "loss")
            else "(p* - p_ref) / (p* (1 - p*)) = w_M(p*) / beta"
        )
        + f" (SPEC 9). At beta = {beta:g}: {shown}. At p_ref = 0.3 with other coefficients: "
        f"{more}. The group size M sets the equilibrium through w_M.",
    )
    return Section("kl_equilibrium", title, values, prose)


REFERENCE_TASK = ("first_token", 4, 8)  # verifier, vocabulary V, max_length: the length-bias task
REFERENCE_P = 0.3


def _aggregation_name(run: RunConfig) -> str | None:
    """The config's aggregation as an ``rlxform.sim.sequences`` name, or None if not modelled."""
    from rlxform.sim import sequences

    name = f"trl:{run.aggregation}" if run.framework == "trl" else run.aggregation
    try:
        return sequences.check_aggregation(name)
    except ValueError:
        return None


def length_section(run: RunConfig, scheme: Scheme) -> Section:
    """Sign and size of the length drift of this run's aggregation on the reference task.

    ``length_drift`` at the tabular sequence policy with p = ``REFERENCE_P`` on ``first_token``
    (V = 4, max_length = 8; correctness does not depend on length), one group per normaliser:
    d E[L | correct] / dp and d E[L | wrong] / dp along the exact expected update (tokens per
    unit of p gained). Along grad p both are 0 on this task, so any drift is the aggregation's.
    """
    from rlxform.explain.cards import Section
    from rlxform.sim import sequences

    title = "Length bias"
    name = _aggregation_name(run)
    if name is None:
        prose = (f"Aggregation {run.aggregation!r} is not one rlxform models; no length drift.",)
        return Section("length_bias", title, {"aggregation": run.aggregation}, prose)
    verifier, vocab, max_length = REFERENCE_TASK
    task = sequences.SequenceTask(vocab, max_length, verifier)
    drift = sequences.length_drift(scheme, name, run.group_size, task, REFERENCE_P)
    per_p_correct = drift.drift_correct / drift.drift_p
    per_p_wrong = drift.drift_wrong / drift.drift_p
    values = {
        "aggregation": run.aggregation,
        "rlxform_aggregation": name,
        "task": f"{verifier}, V = {vocab}, max_length = {max_length}, p = {REFERENCE_P}",
        "objective": sequences.aggregation_objective(name),
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
        f"On a reference task where correctness does not depend on length ({values['task']}, "
        f"M = {run.group_size}, one group per normaliser), per unit of p gained wrong answers "
        f"{word(per_p_wrong)} and correct answers {word(per_p_correct)} (SPEC 8). "
        + (
            "A shared token-count normaliser damps this as more groups share it (about 1/G)."
            if values["rlxform_aggregation"] == "token-mean"
            else ""
        ).rstrip(),
    )
    return Section("length_bias", title, values, prose)
