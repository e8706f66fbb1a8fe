"""verl / TRL / OpenRLHF advantage code for binary rewards, and the schemes it amounts to.

``advantages(framework, estimator, rewards, M)`` restates each framework's own advantage
formula (float64 numpy, rewards grouped consecutively as the frameworks ``view(-1, M)``);
``from_verl`` / ``from_trl`` / ``from_openrlhf`` give the per-group ``Scheme`` with the
frameworks' own config names. Batch-level estimators (TRL ``scale_rewards="batch"``, OpenRLHF
``reinforce_baseline``) are not per-group rules: as the batch grows their batch std tends to a
population constant sigma and the update to the mean baseline over sigma,
h_M = ((M-1)/M) p / sigma (``batch_std_limit``; ``batch_std=`` builds that limit scheme).
Versions followed: verl 0.9.1, trl 1.16.0, openrlhf 0.11.2.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from rlxform import bernstein as bern
from rlxform import schemes as sch
from rlxform.types import ArrayLike, NDArray
from rlxform.validation import check_choice, check_float, check_group_size, check_unit_interval

FRAMEWORKS = ("verl", "trl", "openrlhf")
VERL_ESTIMATORS = ("grpo", "grpo_vectorized", "rloo", "rloo_vectorized", "grpo_passk")
TRL_SCALE_REWARDS = ("group", "batch", "none")
OPENRLHF_ESTIMATORS = ("group_norm", "dr_grpo", "rloo", "reinforce_baseline")
VERL_STD_EPSILON = 1e-6  # core_algos.compute_grpo_outcome_advantage(epsilon=1e-6)
TRL_STD_EPSILON = 1e-4  # GRPOTrainer: advantages / (std + 1e-4), not configurable
OPENRLHF_STD_EPSILON = 1e-9  # experience_maker group_norm: / (std + 1e-9)
OPENRLHF_VAR_FLOOR = 1e-8  # batch whitening: rsqrt(max(var, 1e-8))


# ---- verl: the table rule (registered on Scheme under the name "verl") -------------------------


def _verl_tables(m, estimator, norm_adv_by_std_in_grpo, epsilon):
    """verl 0.9.1 core_algos conventions for binary outcome rewards."""
    _, q = sch._counts(m)
    if m == 1:  # singleton group: mean 0, std 1 (grpo*), or A = r (rloo), 0 (rloo_vectorized)
        if estimator == "rloo_vectorized":
            return np.zeros(2), np.zeros(2)
        normalised = estimator.startswith("grpo") and norm_adv_by_std_in_grpo
        return np.array([0.0, 1.0 / (1.0 + epsilon) if normalised else 1.0]), np.zeros(2)
    if estimator in ("rloo", "rloo_vectorized"):
        return sch._rloo_tables(m)
    if estimator == "grpo_passk":
        a_table = np.zeros(m + 1)
        a_table[1] = 1.0  # the single correct sample gets r_max - r_second_max; S >= 2 gives 0
        if norm_adv_by_std_in_grpo:
            a_table[1] /= sch._std(m, "sample")[1] + epsilon
        return a_table, np.zeros(m + 1)
    if not norm_adv_by_std_in_grpo:
        return sch._mean_baseline_tables(m)
    sd = sch._std(m, "sample")
    if estimator == "grpo_vectorized":  # group_mean_std floors the variance at eps
        sd = np.sqrt(np.maximum(sd**2, epsilon))
    den = sd + epsilon
    return sch._safe_div(1.0 - q, den), sch._safe_div(-q, den)


def _verl_limit(estimator, norm_adv_by_std_in_grpo, epsilon):
    if estimator == "grpo_passk":
        return None, None
    if estimator == "grpo_vectorized" and norm_adv_by_std_in_grpo and epsilon > 0:
        name = f"int_0^p dt / (sqrt(max(t(1-t), {epsilon:g})) + {epsilon:g})"
        return bern.floored_grpo_objective(epsilon), name
    if estimator.startswith("grpo") and norm_adv_by_std_in_grpo:
        return sch._grpo_limit(eps=epsilon)
    return sch._p_limit()


sch._RULES["verl"] = sch._Entry(
    _verl_tables,
    "verl 0.9.1 core_algos advantage for binary outcome rewards",
    _verl_limit,
    lambda estimator, **_: 2 if estimator == "grpo_passk" else 1,
)


def _batch_tables(m, framework, estimator, batch_std):
    _, q = sch._counts(m)
    den = _batch_denominator(framework, batch_std)
    return (1.0 - q) / den, -q / den


def _batch_limit(framework, estimator, batch_std):
    den = _batch_denominator(framework, batch_std)
    return bern.scaled(bern.identity, 1.0 / den), f"p / {den:.4g}"


sch._RULES["batch_std"] = sch._Entry(
    _batch_tables,
    "a = (1-q)/den, b = -q/den: large-batch limit of a batch-std advantage (den from sigma)",
    _batch_limit,
    lambda **_: 2,
)


def _batch_denominator(framework: str, batch_std: float) -> float:
    """What the framework divides by for a batch std sigma: TRL sigma + 1e-4, OpenRLHF
    sqrt(max(sigma^2, 1e-8))."""
    if framework == "trl":
        return batch_std + TRL_STD_EPSILON
    return math.sqrt(max(batch_std**2, OPENRLHF_VAR_FLOOR))


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r} is invalid: must be True or False")
    return bool(value)


def _reject_unused(where: str, unused: dict[str, Any], allowed: str) -> None:
    if unused:
        key = next(iter(unused))
        raise ValueError(f"{where} parameter {key!r} is invalid: must be one of {allowed}")


# ---- scheme adapters ------------------------------------------------------------------------


def from_verl(
    estimator: str,
    norm_adv_by_std_in_grpo: bool = True,
    epsilon: float = VERL_STD_EPSILON,
    **unused: Any,
) -> sch.Scheme:
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
    return sch._make(
        "verl",
        estimator=estimator,
        norm_adv_by_std_in_grpo=norm if estimator.startswith("grpo") else False,
        epsilon=check_float("epsilon", epsilon, 0.0),
    )


def normalise_scale_rewards(scale_rewards: Any) -> str:
    """TRL's ``scale_rewards``: True -> "group", False -> "none" (GRPOConfig.__post_init__)."""
    if scale_rewards is True:
        return "group"
    if scale_rewards is False:
        return "none"
    if scale_rewards not in TRL_SCALE_REWARDS:
        raise ValueError(
            f"scale_rewards={scale_rewards!r} is invalid: must be one of group, batch, none, "
            "True (= group), False (= none)"
        )
    return scale_rewards


def from_trl(
    scale_rewards: str | bool = "group", *, batch_std: float | None = None, **unused: Any
) -> sch.Scheme:
    """TRL 1.16.0 GRPOTrainer: A = r - group mean, divided per ``scale_rewards``.

    "group" (or True): / (std_Bessel of the group + 1e-4); "none" (or False): no division;
    "batch": / (std_Bessel of all rewards in the generation batch + 1e-4), not a per-group rule:
    pass ``batch_std`` = sigma (see ``batch_std_limit``) for its large-batch limit, the mean
    baseline over (sigma + 1e-4). The 1e-4 is hard-coded in TRL (GRPOConfig.epsilon is the clip).
    """
    if "epsilon" in unused:
        raise ValueError(
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
) -> sch.Scheme:
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


def _batch_scheme(framework: str, estimator: str, batch_std: Any, what: str) -> sch.Scheme:
    if batch_std is None:
        raise ValueError(
            f"{what} divides by the std of the whole batch, not of one group: pass batch_std "
            "(the population limit, rlxform.frameworks.batch_std_limit) for its large-batch scheme"
        )
    sigma = check_float("batch_std", batch_std, 0.0, low_open=True)
    return sch._make("batch_std", framework=framework, estimator=estimator, batch_std=sigma)


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


# ---- advantages, restated from each framework's code ------------------------------------------


def _grouped(rewards: ArrayLike, group_size: int) -> NDArray:
    m = check_group_size(group_size)
    r = np.asarray(rewards, np.float64)
    if r.ndim != 1 or r.size == 0 or r.size % m:
        raise ValueError(
            f"rewards with shape {r.shape} is invalid: must be 1-D with a multiple of "
            f"group_size={m} entries (groups of consecutive samples)"
        )
    if not np.all(np.isfinite(r)):
        raise ValueError(f"rewards={r.tolist()!r} is invalid: must be finite numbers")
    return r.reshape(-1, m)


def _verl_advantages(g: NDArray, estimator: str, norm: bool, eps: float) -> NDArray:
    m = g.shape[1]
    if estimator in ("rloo", "rloo_vectorized"):
        if m == 1:
            return g.copy() if estimator == "rloo" else np.zeros_like(g)
        return g * m / (m - 1) - g.mean(1, keepdims=True) * m / (m - 1)
    mean = g.mean(1, keepdims=True) if m > 1 else np.zeros((g.shape[0], 1))
    std = g.std(1, ddof=1, keepdims=True) if m > 1 else np.ones((g.shape[0], 1))
    if estimator == "grpo_passk":
        out = np.zeros_like(g)
        rows = np.arange(g.shape[0])
        best = np.argmax(g, axis=1)
        top2 = np.sort(g, axis=1)[:, -2:]
        gap = top2[:, 1] - top2[:, 0]
        out[rows, best] = gap / (std[:, 0] + eps) if norm else gap
        return out
    if not norm:
        return g - mean
    if estimator == "grpo_vectorized" and m > 1:
        std = np.sqrt(np.maximum(std**2, eps))
    return (g - mean) / (std + eps)


def _trl_advantages(g: NDArray, scale: str) -> NDArray:
    centred = g - g.mean(1, keepdims=True)
    if scale == "none":
        return centred
    if scale == "group":
        std = g.std(1, ddof=1, keepdims=True) if g.shape[1] > 1 else np.zeros((g.shape[0], 1))
    else:
        std = np.full((g.shape[0], 1), g.std(ddof=1) if g.size > 1 else 0.0)
    return centred / (std + TRL_STD_EPSILON)


def _openrlhf_advantages(
    g: NDArray, estimator: str, lengths: NDArray, no_std_norm: bool
) -> NDArray:
    m = g.shape[1]
    if estimator == "rloo":
        return g - (g.sum(1, keepdims=True) - g) / (m - 1)
    centred = g - g.mean(1, keepdims=True)
    if estimator == "dr_grpo":
        return centred
    if estimator == "group_norm":
        return centred / (g.std(1, ddof=1, keepdims=True) + OPENRLHF_STD_EPSILON)
    # reinforce_baseline: every action token of a response carries its A; whiten over tokens
    weights = lengths / lengths.sum()
    mean = np.sum(weights * centred)
    if no_std_norm:
        return centred - mean
    var = np.sum(weights * (centred - mean) ** 2)
    return (centred - mean) / np.sqrt(max(var, OPENRLHF_VAR_FLOOR))


def advantages(
    framework: str,
    estimator: str | bool,
    rewards: ArrayLike,
    group_size: int,
    lengths: ArrayLike | None = None,
    **params: Any,
) -> NDArray:
    """Per-sample advantages A_i as the framework computes them (one value per response).

    Args:
      framework: "verl", "trl" or "openrlhf".
      estimator: verl ``adv_estimator`` (grpo, grpo_vectorized, rloo, rloo_vectorized,
        grpo_passk); TRL ``scale_rewards`` (group, batch, none, True, False); OpenRLHF
        ``algo.advantage.estimator`` (group_norm, dr_grpo, rloo, reinforce_baseline).
      rewards: ``float[N]``, N = G * M, groups of M consecutive samples (one batch).
      group_size: M.
      lengths: ``int[N]`` response lengths in tokens (OpenRLHF reinforce_baseline weighs the
        batch whitening by them); default all equal.
      params: verl ``norm_adv_by_std_in_grpo`` (True), ``epsilon`` (1e-6); OpenRLHF
        ``no_std_norm`` (False).
    Returns:
      ``float64[N]``.
    """
    framework = check_choice("framework", framework, FRAMEWORKS)
    g = _grouped(rewards, group_size)
    if framework == "verl":
        estimator = check_choice("estimator", estimator, VERL_ESTIMATORS)
        _reject_unused("verl", {k: v for k, v in params.items() if k not in _VERL_PARAMS}, "")
        norm = _check_bool("norm_adv_by_std_in_grpo", params.get("norm_adv_by_std_in_grpo", True))
        eps = check_float("epsilon", params.get("epsilon", VERL_STD_EPSILON), 0.0)
        if estimator == "grpo_passk" and g.shape[1] < 2:
            raise ValueError(f"group_size={group_size!r} is invalid for grpo_passk: must be >= 2")
        out = _verl_advantages(g, estimator, norm, eps)
    elif framework == "trl":
        _reject_unused("trl", params, "(none)")
        out = _trl_advantages(g, normalise_scale_rewards(estimator))
    else:
        estimator = check_choice("estimator", estimator, OPENRLHF_ESTIMATORS)
        _reject_unused(
            "openrlhf", {k: v for k, v in params.items() if k != "no_std_norm"}, "no_std_norm"
        )
        if g.shape[1] < 2:
            raise ValueError(
                f"group_size={group_size!r} is invalid for OpenRLHF {estimator}: must be >= 2 "
                "(OpenRLHF asserts n_samples_per_prompt > 1)"
            )
        lengths_arr = np.ones(g.size) if lengths is None else np.asarray(lengths, np.float64)
        if lengths_arr.shape != (g.size,) or not np.all(lengths_arr >= 1):
            raise ValueError(
                f"lengths with shape {lengths_arr.shape} is invalid: must be {g.size} "
                "response lengths >= 1"
            )
        no_std = _check_bool("no_std_norm", params.get("no_std_norm", False))
        out = _openrlhf_advantages(g, estimator, lengths_arr.reshape(g.shape), no_std)
    return out.reshape(-1)


_VERL_PARAMS = ("norm_adv_by_std_in_grpo", "epsilon")


# ---- scheme names: catalog, framework:estimator, module:function -------------------------------


_FRAMEWORK_SCHEMES: dict[str, Callable[..., sch.Scheme]] = {
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


def resolve_scheme(name: str, **params: Any) -> sch.Scheme:
    """A scheme from a name: catalog (``grpo``), framework (``verl:grpo``, ``trl:group``,
    ``openrlhf:group_norm``) or ``module:function``, a callable fn(r, S, M) imported with
    importlib and wrapped by ``schemes.custom``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"scheme={name!r} is invalid: must be a scheme name")
    if ":" not in name:
        return sch.get(name, **params)
    prefix, _, rest = name.partition(":")
    if prefix in _FRAMEWORK_SCHEMES:
        return _FRAMEWORK_SCHEMES[prefix](rest, **params)
    if params:
        raise ValueError(
            f"scheme parameter {next(iter(params))!r} is invalid for {name}: a module:function "
            "scheme takes no parameters"
        )
    try:
        module = importlib.import_module(prefix)
    except ImportError as err:
        raise ValueError(
            f"scheme={name!r} is invalid: cannot import module {prefix!r} ({err}); must be a "
            f"catalog name, one of {', '.join(scheme_names())} or module:function"
        ) from None
    fn = getattr(module, rest, None)
    if not callable(fn):
        raise ValueError(
            f"scheme={name!r} is invalid: module {prefix!r} has no callable {rest!r} "
            "(must be fn(r, S, M) -> weight)"
        )
    return sch.custom(fn)
