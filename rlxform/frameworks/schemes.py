"""verl / TRL / OpenRLHF: the schemes their advantage code amounts to, for binary rewards.

``from_verl`` / ``from_trl`` / ``from_openrlhf`` give the per-group ``Scheme`` with the
frameworks' own config names. Batch-level estimators (TRL ``scale_rewards="batch"``, OpenRLHF
``reinforce_baseline``) are not per-group rules: as the batch grows their batch std tends to a
population constant sigma and the update to the mean baseline over sigma,
h_M = ((M-1)/M) p / sigma (``batch_std_limit``; ``batch_std=`` builds that limit scheme).
Versions followed: verl 0.9.1, trl 1.16.0, openrlhf 0.11.2; their advantage code, restated,
is ``rlxform.core.framework_advantages`` (re-exported here as ``advantages``).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core import schemes as sch
from rlxform.core.framework_advantages import (
    FRAMEWORKS,
    OPENRLHF_ESTIMATORS,
    OPENRLHF_STD_EPSILON,
    OPENRLHF_VAR_FLOOR,
    TRL_SCALE_REWARDS,
    TRL_STD_EPSILON,
    VERL_ESTIMATORS,
    VERL_STD_EPSILON,
    _check_bool,
    _reject_unused,
    advantages,
    normalise_scale_rewards,
)
from rlxform.core.registry import Counts, Scheme, floored_std, p_limit, register
from rlxform.types import ArrayLike
from rlxform.validation import (
    InputError,
    check_choice,
    check_float,
    check_group_size,
    check_unit_interval,
)

__all__ = [
    "FRAMEWORKS",
    "OPENRLHF_ESTIMATORS",
    "OPENRLHF_STD_EPSILON",
    "OPENRLHF_VAR_FLOOR",
    "TRL_SCALE_REWARDS",
    "TRL_STD_EPSILON",
    "VERL_ESTIMATORS",
    "VERL_STD_EPSILON",
    "advantages",
    "batch_std_limit",
    "from_openrlhf",
    "from_trl",
    "from_verl",
    "normalise_scale_rewards",
    "resolve_scheme",
    "scheme_names",
]

# ---- the rules (registered under the names "verl" and "batch_std") ---------------------------


def _verl_limit(estimator, norm_adv_by_std_in_grpo, epsilon):
    if estimator == "grpo_passk":
        return None, None
    if estimator == "grpo_vectorized" and norm_adv_by_std_in_grpo and epsilon > 0:
        name = f"int_0^p dt / (sqrt(max(t(1-t), {epsilon:g})) + {epsilon:g})"
        return bern.floored_grpo_objective(epsilon), name
    if estimator.startswith("grpo") and norm_adv_by_std_in_grpo:
        return sch.grpo_limit(eps=epsilon)
    return p_limit()


@register(
    "verl",
    "verl 0.9.1 core_algos advantage for binary outcome rewards",
    _verl_limit,
    min_group_size=lambda estimator, **_: 2 if estimator == "grpo_passk" else 1,
    eps="epsilon",
)
def verl_rule(c: Counts, estimator: str, norm_adv_by_std_in_grpo: bool, epsilon: ArrayLike):
    """verl 0.9.1 core_algos conventions for binary outcome rewards."""
    normalised = estimator.startswith("grpo") and norm_adv_by_std_in_grpo
    zeros = np.zeros(c.m + 1)
    if c.m == 1:  # singleton group: mean 0, std 1 (grpo*), or A = r (rloo), 0 (rloo_vectorized)
        if estimator == "rloo_vectorized":
            return zeros, zeros
        if normalised:
            return jnp.zeros(2).at[1].set(1.0 / (1.0 + epsilon)), zeros
        return np.array([0.0, 1.0]), zeros
    if estimator in ("rloo", "rloo_vectorized"):
        return sch.rloo_rule(c)
    if estimator == "grpo_passk":  # the single correct sample gets r_max - r_second_max
        a_table = np.where(c.s == 1, 1.0, 0.0)
        return (a_table / (c.std("sample")[1] + epsilon) if normalised else a_table), zeros
    if not normalised:
        return sch.mean_baseline_rule(c)
    sd = c.std("sample")
    if estimator == "grpo_vectorized":  # group_mean_std floors the variance at eps
        sd = floored_std(sd, epsilon)
    return sch.normalised_rule(c, sd, epsilon)


def _batch_limit(framework, estimator, batch_std):
    den = _batch_denominator(framework, batch_std)
    return bern.scaled(bern.identity, 1.0 / den), f"p / {den:.4g}"


@register(
    "batch_std",
    "a = (1-q)/den, b = -q/den: large-batch limit of a batch-std advantage (den from sigma)",
    _batch_limit,
    min_group_size=2,
)
def batch_std_rule(c: Counts, framework: str, estimator: str, batch_std: float):
    den = _batch_denominator(framework, batch_std)
    return (1.0 - c.q) / den, -c.q / den


def _batch_denominator(framework: str, batch_std: float) -> float:
    """What the framework divides by for a batch std sigma: TRL sigma + 1e-4, OpenRLHF
    sqrt(max(sigma^2, 1e-8))."""
    if framework == "trl":
        return batch_std + TRL_STD_EPSILON
    return math.sqrt(max(batch_std**2, OPENRLHF_VAR_FLOOR))


# ---- scheme adapters ------------------------------------------------------------------------


def from_verl(
    estimator: str,
    norm_adv_by_std_in_grpo: bool = True,
    epsilon: float = VERL_STD_EPSILON,
    **unused: Any,
) -> Scheme:
    """The scheme verl 0.9.1 runs for ``algorithm.adv_estimator=estimator`` (binary rewards).

    grpo / grpo_vectorized: (r - mean) / (std_Bessel + epsilon), or r - mean when
    ``norm_adv_by_std_in_grpo=False``; a group of one gets mean 0, std 1. rloo: r - mean of the
    others (rloo keeps A = r for a group of one, rloo_vectorized gives 0). grpo_passk: only the
    best sample gets r_max - r_second_max (over std + epsilon when normalising), M >= 2.
    Reference: ``verl.trainer.ppo.core_algos.compute_*_outcome_advantage``.
    """
    estimator = check_choice("estimator", estimator, VERL_ESTIMATORS)
    _reject_unused("verl", unused, "norm_adv_by_std_in_grpo, epsilon")
    norm = _check_bool("norm_adv_by_std_in_grpo", norm_adv_by_std_in_grpo)
    return Scheme.make(
        "verl",
        estimator=estimator,
        norm_adv_by_std_in_grpo=norm if estimator.startswith("grpo") else False,
        epsilon=check_float("epsilon", epsilon, 0.0),
    )


def from_trl(
    scale_rewards: str | bool = "group", *, batch_std: float | None = None, **unused: Any
) -> Scheme:
    """TRL 1.16.0 GRPOTrainer: A = r - group mean, divided per ``scale_rewards``.

    "group" (or True): / (std_Bessel of the group + 1e-4); "none" (or False): no division;
    "batch": / (std_Bessel of all rewards in the generation batch + 1e-4), not a per-group rule:
    pass ``batch_std`` = sigma (see ``batch_std_limit``) for its large-batch limit, the mean
    baseline over (sigma + 1e-4). The 1e-4 is hard-coded in TRL (GRPOConfig.epsilon is the clip).
    """
    if "epsilon" in unused:
        raise InputError(
            f"epsilon={unused['epsilon']!r} is invalid: TRL's std epsilon is hard-coded to 1e-4 "
            "(GRPOConfig.epsilon is the PPO clip range, which does not change the scheme)"
        )
    _reject_unused("trl", unused, "scale_rewards, batch_std")
    scale = normalise_scale_rewards(scale_rewards)
    if scale == "none":
        return sch.mean_baseline()
    if scale == "group":
        return sch.grpo(std="sample", eps=TRL_STD_EPSILON)
    return _batch_scheme("trl", "batch", batch_std, "scale_rewards='batch'")


def from_openrlhf(
    estimator: str, *, no_std_norm: bool = False, batch_std: float | None = None, **unused: Any
) -> Scheme:
    """OpenRLHF 0.11.2 ``algo.advantage.estimator`` for binary rewards.

    group_norm: (r - mean) / (std_Bessel + 1e-9); dr_grpo: r - mean; rloo: r - mean of the
    others; reinforce_baseline: r - mean, then whitened over the rollout batch (token-weighted
    mean and population variance, rsqrt(max(var, 1e-8))): pass ``batch_std`` = sigma for its
    large-batch limit (``no_std_norm=True`` keeps only the batch mean shift: the mean baseline).
    """
    estimator = check_choice("estimator", estimator, OPENRLHF_ESTIMATORS)
    _reject_unused("openrlhf", unused, "no_std_norm, batch_std")
    if estimator == "group_norm":
        return sch.grpo(std="sample", eps=OPENRLHF_STD_EPSILON)
    if estimator == "dr_grpo":
        return sch.mean_baseline()
    if estimator == "rloo":
        return sch.rloo()
    if _check_bool("no_std_norm", no_std_norm):
        return sch.mean_baseline()
    return _batch_scheme("openrlhf", estimator, batch_std, "estimator='reinforce_baseline'")


def _batch_scheme(framework: str, estimator: str, batch_std: Any, what: str) -> Scheme:
    if batch_std is None:
        raise InputError(
            f"{what} divides by the std of the whole batch, not of one group: pass batch_std "
            "(the population limit, frameworks.batch_std_limit) for its large-batch scheme"
        )
    sigma = check_float("batch_std", batch_std, 0.0, low_open=True)
    return Scheme.make("batch_std", framework=framework, estimator=estimator, batch_std=sigma)


def batch_std_limit(framework: str, estimator: str, group_size: int, p_correct: ArrayLike) -> float:
    """Large-batch limit sigma of the batch std for a population of prompts with ``p_correct``.

    TRL scale_rewards="batch": std of the raw rewards, sigma^2 = pbar (1 - pbar), pbar = mean p.
    OpenRLHF reinforce_baseline: std of the group-centred A = r - mean (token-weighted; equal
    lengths or lengths independent of r), sigma^2 = ((M-1)/M) mean p (1-p).
    Then E[update of prompt x] -> ((M-1)/M) / den * grad p_x: h = ((M-1)/M) p / den.

    Args:
      p_correct: ``float[P]`` success probabilities of the prompts in the batch.
    Returns:
      sigma (float).
    """
    framework = check_choice("framework", framework, ("trl", "openrlhf"))
    allowed = ("batch",) if framework == "trl" else ("reinforce_baseline",)
    check_choice("estimator", estimator, allowed)
    m = check_group_size(group_size)
    check_unit_interval("p_correct", p_correct)
    p = np.asarray(p_correct, np.float64).reshape(-1)
    if framework == "trl":
        return float(np.sqrt(p.mean() * (1.0 - p.mean())))
    return float(np.sqrt((m - 1.0) / m * np.mean(p * (1.0 - p))))


# ---- scheme names: catalog, framework:estimator, module:function -------------------------------


_FRAMEWORK_SCHEMES: dict[str, Callable[..., Scheme]] = {
    "verl": from_verl,
    "trl": from_trl,
    "openrlhf": from_openrlhf,
}


def scheme_names() -> list[str]:
    """Framework scheme names accepted by ``resolve_scheme`` (besides the catalog)."""
    return (
        [f"verl:{e}" for e in VERL_ESTIMATORS]
        + [f"trl:{s}" for s in TRL_SCALE_REWARDS if s != "batch"]
        + [f"openrlhf:{e}" for e in OPENRLHF_ESTIMATORS if e != "reinforce_baseline"]
    )


def resolve_scheme(name: str, **params: Any) -> Scheme:
    """A scheme from a name: catalog (``grpo``), framework (``verl:grpo``, ``trl:group``,
    ``openrlhf:group_norm``) or ``module:function``, a callable fn(r, S, M) imported with
    importlib and wrapped by ``schemes.custom``."""
    if not isinstance(name, str) or not name:
        raise InputError(f"scheme={name!r} is invalid: must be a scheme name")
    if ":" not in name:
        return sch.get(name, **params)
    prefix, _, rest = name.partition(":")
    if prefix in _FRAMEWORK_SCHEMES:
        return _FRAMEWORK_SCHEMES[prefix](rest, **params)
    if params:
        raise InputError(
            f"scheme parameter {next(iter(params))!r} is invalid for {name}: a module:function "
            "scheme takes no parameters"
        )
    try:
        module = importlib.import_module(prefix)
    except ImportError as err:
        raise InputError(
            f"scheme={name!r} is invalid: cannot import module {prefix!r} ({err}); must be a "
            f"catalog name, one of {', '.join(scheme_names())} or module:function"
        ) from None
    fn = getattr(module, rest, None)
    if not callable(fn):
        raise InputError(
            f"scheme={name!r} is invalid: module {prefix!r} has no callable {rest!r} "
            "(must be fn(r, S, M) -> weight)"
        )
    return sch.custom(fn)
