"""The KL penalty of the simulator: one place for the estimator, both placements and real rewards.

Reference policy pi_ref = the initial params (a frozen copy). Per token t of item n of group b,
l_bnt = log pi(y_t | y_<t) - log pi_ref(y_t | y_<t) (bandits: one token per response) and
k(l) is ``rlxform.core.kl.kl_estimate`` (k1 = l, k2 = l^2/2, k3 = e^-l + l - 1 clamped, abs).

* placement ``loss`` (verl ``use_kl_loss``, TRL ``beta``): the ascended surrogate gets
  ``- beta reduce_b sum_n s_bn sum_t k(l_bnt)`` with s_bn = count_bn f_bn / M, the same
  aggregation scale as the policy-gradient coefficients (``estimator.group_coefficients``).
* placement ``reward`` (verl ``use_kl_in_reward``): the reward of item n becomes
  r_n - beta sg(sum_t k(l_nt)) before the advantage, and the scheme's weight is computed from
  these real rewards (``real_reward_weights``); only schemes defined on real rewards qualify
  (``REAL_REWARD_SCHEMES``), the others raise ``InputError``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rlxform.core.kl import kl_estimate
from rlxform.core.schemes import Scheme
from rlxform.types import Array, ArrayLike, PyTree
from rlxform.validation import InputError

# Z of each scheme on real rewards r (group of M, counts c_n, mean r̄ = sum_n c_n r_n / M):
# reinforce Z = r; rloo Z = r - mean of the others = M (r - r̄) / (M - 1); mean_baseline Z = r - r̄;
# grpo Z = (r - r̄) / (sd + eps), sd the population or sample std (0 when sd = 0).
REAL_REWARD_SCHEMES = ("reinforce", "rloo", "mean_baseline", "grpo")


class KLState(NamedTuple):
    """What a step needs for the KL term: beta (traced ``float[]``), pi_ref's params, eps.

    ``eps`` replaces the scheme's eps for GRPO on real rewards (None: the scheme's own).
    """

    coef: ArrayLike
    ref_params: PyTree
    eps: ArrayLike | None = None


def check_reward_scheme(scheme: Scheme, placement: str) -> None:
    """InputError when ``placement == "reward"`` and ``scheme`` has no real-reward form."""
    if placement == "reward" and scheme.name not in REAL_REWARD_SCHEMES:
        raise InputError(
            f"scheme={scheme.name!r} is invalid with kl_placement='reward': it is defined only "
            "through binary a/b tables; must be one of " + ", ".join(REAL_REWARD_SCHEMES)
        )


def token_kl(estimator: str, log_probs: Array, ref_log_probs: Array, mask: Array | None) -> Array:
    """k(log pi - log pi_ref) per token, 0 on padding: ``float[B, N, L]``."""
    values = kl_estimate(estimator, log_probs - ref_log_probs)
    return values if mask is None else jnp.where(mask, values, 0.0)


def real_reward_weights(
    scheme: Scheme, rewards: Array, counts: Array | None, group_size: int, eps: ArrayLike | None
) -> Array:
    """Z ``float[B, N]`` of ``scheme`` from real rewards ``float[B, N]`` (counts: multiplicities).

    Formulas in ``REAL_REWARD_SCHEMES``; with counts = None every item counts once.
    """
    m = float(group_size)
    weight = jnp.ones_like(rewards) if counts is None else counts.astype(rewards.dtype)
    mean = jnp.sum(weight * rewards, axis=-1, keepdims=True) / m
    centred = rewards - mean
    if scheme.name == "reinforce":
        return rewards
    if scheme.name == "rloo":
        return m * centred / (m - 1.0)
    if scheme.name == "mean_baseline":
        return centred
    check_reward_scheme(scheme, "reward")
    kwargs: dict[str, Any] = scheme.kwargs
    ddof = 1.0 if kwargs.get("std", "population") == "sample" else 0.0
    var = jnp.sum(weight * centred**2, axis=-1, keepdims=True) / (m - ddof)
    positive = var > 0
    sd = jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1.0)), 0.0)
    den = sd + (kwargs.get("eps", 0.0) if eps is None else eps)
    ok = den > 0
    return jnp.where(ok, centred / jnp.where(ok, den, 1.0), 0.0)


def stop_ref(kl: KLState) -> PyTree:
    """pi_ref's params, never differentiated."""
    return jax.lax.stop_gradient(kl.ref_params)
