"""Card conclusions that need the KL and sequence math: KL equilibrium and length bias.

``kl_section(run, scheme)``: where exact ascent on h_M(p) - beta D(pi || pi_ref) stops for a
softmax policy over answers (``rlxform.kl.kl_equilibrium``, SPEC section 9) at reference
accuracies ``P_REFS`` and the config's coefficient, plus a few larger coefficients.
``length_section(run, scheme)``: the length drift of the config's aggregation on a reference
sequence task (``rlxform.sequences.length_drift``, SPEC section 8).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rlxform import kl
from rlxform.schemes import Scheme

if TYPE_CHECKING:
    from rlxform.cards import Section
    from rlxform.configs import RunConfig

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
    from rlxform.cards import Section

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
