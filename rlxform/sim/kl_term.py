"""The KL penalty of the simulator: one place for the estimator, the placements and real rewards.

Reference policy pi_ref = the initial params (a frozen copy). Per token t of item n of group b,
l_bnt = log pi(y_t | y_<t) - log pi_ref(y_t | y_<t) (bandits: one token per response) and
k(l) is ``rlxform.core.kl.kl_estimate`` (k1, k2, k3 clamped, k3_unclamped, abs; k3_ratio =
rho k3 with rho = pi / pi_old differentiable; verl's "+" and OpenRLHF's "_unbiased" forms with
the gradient l straight through). Every update of the simulator samples from the current
params, so rho = 1 in value (``kl_estimate``'s default old log-ratio, sg(l)).

* placement ``loss`` (verl ``use_kl_loss``, TRL ``beta``, OpenRLHF ``use_kl_loss``): the
  ascended surrogate gets ``- beta reduce_b sum_n s_bn sum_t k(l_bnt)`` with
  s_bn = count_bn f_bn / M, the same aggregation scale as the policy-gradient coefficients
  (``group_loss.group_coefficients``).
* placement ``reward`` (verl ``use_kl_in_reward``): the reward of item n becomes
  r_n - beta sg(sum_t k(l_nt)) before the advantage, and the scheme's weight is computed from
  these real rewards (``Scheme.real_reward_weights``); only schemes whose rule declares a
  real-reward form qualify (``Scheme.has_real_reward``), the others raise ``InputError``.
* placement ``advantage`` (OpenRLHF without ``use_kl_loss``): the scheme's weight of item n
  becomes Z_n - beta sg(sum_t k(l_nt)), at the same scale s_bn; every scheme.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlxform.core.kl import kl_estimate
from rlxform.types import Array, ArrayLike, PyTree


class KLState(NamedTuple):
    """What a step needs for the KL term: beta (traced ``float[]``), pi_ref's params, eps.

    ``eps`` replaces the scheme's eps for GRPO on real rewards (None: the scheme's own).
    """

    coef: ArrayLike
    ref_params: PyTree
    eps: ArrayLike | None = None


def token_kl(estimator: str, log_probs: Array, ref_log_probs: Array, mask: Array | None) -> Array:
    """k(log pi - log pi_ref) per token, 0 on padding: ``float[B, N, L]``."""
    values = kl_estimate(estimator, log_probs - ref_log_probs)
    return values if mask is None else jnp.where(mask, values, 0.0)


def stop_ref(kl: KLState) -> PyTree:
    """pi_ref's params, never differentiated."""
    return jax.lax.stop_gradient(kl.ref_params)
