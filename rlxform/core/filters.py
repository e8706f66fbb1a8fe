"""Filters and weights that depend on an answer's length, correctness or group (issue 24).

Each rule as trainers apply it, written once against an array namespace (``core.xp``: NumPy
float64, or jax.numpy inside the simulator), plus its exact expectation where the rule is random:

* TRL's vLLM importance-sampling correction (``vllm_weights``; TRL 1.16.0
  trl/trainer/grpo_trainer.py:2660-2708, applied to the per-token loss at :3146-3147): per token
  d_t = log pi_trainer(y_t) - log pi_vllm(y_t); the ratio is exp(d_t) per token (``token_*``) or
  exp(sum_t d_t) for the whole answer (``sequence_*``); ``*_truncate`` clamps it to
  [clip_min, cap], ``*_mask`` sets it to 0 outside [clip_min, cap] and keeps the ratio inside.
  TRL 1.16.0's default: sequence_mask, cap 3, no clip_min (grpo_config.py:934-960).
  Mismatch model (``vllm_law``): d_t i.i.d. N(mu, sigma^2), independent of the answer, so an
  answer of L tokens has sum_t d_t ~ N(L mu, L sigma^2); defaults mu = 0, sigma = 0.05
  (``MISMATCH_MEAN``, ``MISMATCH_SD``).
* ``mask_truncated_completions`` (TRL grpo_trainer.py:2487-2498): an answer that did not stop
  within the maximum length gets no loss and no place in a token-mean normaliser (``stopped``).
* DAPO overlong shaping (verl 0.9.1 verl/workers/reward_manager/dapo.py:121-125, OpenRLHF 0.11.2
  openrlhf/trainer/ppo_utils/length_penalty.py:16-56): reward += min(-(L - (L_max - buffer)) /
  buffer * factor, 0) (``overlong_penalty``): rewards stop being 0/1.
* TRL ``top_entropy_quantile`` rho (grpo_trainer.py:1380-1416, :3049-3052, :3143-3144): a token
  is kept when the entropy of the policy at its prefix is >= the (1 - rho) quantile (torch's
  linear interpolation, ``masked_quantile``) of the entropies of every loss token of the batch.
  Modelled by the population quantile of the token-weighted entropy law (``entropy_threshold``).
* OpenRLHF ``algo.dynamic_filtering_range`` (low, high) (0.11.2
  openrlhf/trainer/ppo_utils/samples_generator.py:169-190): a group is kept when
  low < (mean score of its M answers) < high, and dropped groups are replaced by new prompts
  (``range_keep``, ``range_tables``, ``range_kept_probability``).
Bad settings raise ``InputError`` naming the argument, the value and what is allowed.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core.sequence_tasks import SequenceTask, enumerate_sequences
from rlxform.core.xp import float_array, namespace, xlogy
from rlxform.types import Array, ArrayLike, NDArray
from rlxform.validation import InputError, check_choice, check_float

VLLM_MODES = ("sequence_mask", "sequence_truncate", "token_mask", "token_truncate")
SEQUENCE_MODES = ("sequence_mask", "sequence_truncate")
TRL_VLLM_MODE = "sequence_mask"  # TRL 1.16.0 grpo_config.py:934 (0.26-1.16; token_truncate before)
TRL_VLLM_CAP = 3.0  # vllm_importance_sampling_clip_max, grpo_config.py:947 (2.0 in 0.23-0.25)
MISMATCH_MEAN = 0.0  # the model's default mean of log pi_trainer - log pi_vllm per token
MISMATCH_SD = 0.05  # and its standard deviation per token


# ---- checks --------------------------------------------------------------------------------------


def check_vllm(mode: Any, cap: Any, cap_min: Any = None) -> tuple[str, float | None, float | None]:
    """(mode, cap, cap_min) checked: a mode of ``VLLM_MODES``, cap > 0 (or None: no upper bound),
    cap_min >= 0 (or None) below cap; a truncate mode needs one of them (TRL's own rule)."""
    mode = check_choice("vllm_mode", mode, VLLM_MODES)
    if cap is not None:
        cap = check_float("vllm_cap", cap, 0.0, low_open=True)
    if cap_min is not None:
        cap_min = check_float(
            "vllm_cap_min", cap_min, 0.0, None if cap is None else cap, high_open=True
        )
    if cap is None and cap_min is None:
        raise InputError(
            f"vllm_cap=None is invalid with vllm_mode={mode!r}: must be a number > 0 unless "
            "vllm_cap_min is set"
        )
    return mode, cap, cap_min


def check_mismatch(mean: Any, sd: Any) -> tuple[float, float]:
    """(mu, sigma): a finite mean and a standard deviation >= 0 of the per-token log-ratio."""
    return check_float("mismatch_mean", mean), check_float("mismatch_sd", sd, 0.0)


def check_overlong(buffer: Any, factor: Any, max_length: int) -> tuple[float, float]:
    """(buffer, factor): 0 < buffer <= max_length (verl asserts both), factor >= 0."""
    buffer = check_float("overlong_buffer", buffer, 0.0, float(max_length), low_open=True)
    return buffer, check_float("overlong_factor", factor, 0.0)


def check_quantile(quantile: Any) -> float:
    """TRL's top_entropy_quantile rho in (0, 1] (1 keeps every token)."""
    return check_float("entropy_quantile", quantile, 0.0, 1.0, low_open=True)


def check_range(low: Any, high: Any) -> tuple[float, float]:
    """OpenRLHF's dynamic_filtering_range (low, high): finite with low < high."""
    low, high = check_float("range_low", low), check_float("range_high", high)
    if not low < high:
        raise InputError(
            f"range_low={low!r} is invalid: must be below range_high={high!r} (a group is kept "
            "when low < mean score < high)"
        )
    return low, high


# ---- the vLLM importance-sampling correction ----------------------------------------------


def vllm_weights(mode: str, log_ratios: Any, live: Any, cap: Any, cap_min: Any = None) -> Any:
    """Per-token weights of TRL's correction, ``float[..., L]`` (0 on padding).

    Args:
      mode: a mode of ``VLLM_MODES`` (static).
      log_ratios: ``float[..., L]`` per-token log pi_trainer - log pi_vllm.
      live: ``bool[..., L]`` tokens of the answer.
      cap, cap_min: the bounds (possibly traced); None: no bound on that side.
    """
    xp = namespace(log_ratios, cap, cap_min)
    diff = xp.where(live, log_ratios, 0.0)
    shape = diff.shape
    if mode in SEQUENCE_MODES:
        diff = xp.sum(diff, axis=-1, keepdims=True)
    ratio = xp.exp(diff)
    upper = xp.inf if cap is None else cap
    lower = 0.0 if cap_min is None else cap_min
    if mode.endswith("truncate"):
        weight = xp.clip(ratio, lower, upper)
    else:
        outside = (ratio > upper) | ((ratio < lower) if cap_min is not None else False)
        weight = xp.where(outside, 0.0, ratio)
    return xp.where(live, xp.broadcast_to(weight, shape), 0.0)


def ndtr(x: ArrayLike) -> NDArray:
    """Standard normal CDF in float64 (``math.erfc``, accurate in both tails; no SciPy)."""
    x = np.asarray(x, np.float64)
    return np.vectorize(lambda v: 0.5 * math.erfc(-v / math.sqrt(2.0)), otypes=[float])(x)


def _lognormal_parts(mean, sd, low, high):
    """(P(low < D <= high), E[e^D 1{low < D <= high}]) for D ~ N(mean, sd^2), float64 arrays;
    ``low``/``high`` are log-bounds (+-inf allowed); sd = 0 is the point mass at ``mean``."""
    mean, sd = np.broadcast_arrays(np.asarray(mean, np.float64), np.asarray(sd, np.float64))
    safe = np.where(sd > 0, sd, 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        prob = ndtr((high - mean) / safe) - ndtr((low - mean) / safe)
        shifted = mean + safe**2
        mass = np.exp(mean + safe**2 / 2) * (
            ndtr((high - shifted) / safe) - ndtr((low - shifted) / safe)
        )
    inside = (mean > low) & (mean <= high)
    prob = np.where(sd > 0, prob, inside.astype(np.float64))
    mass = np.where(sd > 0, mass, np.where(inside, np.exp(mean), 0.0))
    return prob, mass


def _log_bounds(cap, cap_min) -> tuple[float, float]:
    high = math.inf if cap is None else math.log(cap)
    low = -math.inf if not cap_min else math.log(cap_min)
    return low, high


def _ratio_law(mode: str, lengths: ArrayLike, mean: float, sd: float):
    """(mean, sd) of the log-ratio the mode thresholds: the answer's sum (sequence modes,
    N(L mu, L sigma^2)) or one token's (token modes, N(mu, sigma^2), broadcast to ``lengths``)."""
    lengths = np.asarray(lengths, np.float64)
    if mode in SEQUENCE_MODES:
        return lengths * mean, np.sqrt(lengths) * sd
    return np.full(lengths.shape, mean), np.full(lengths.shape, sd)


class VllmLaw(NamedTuple):
    """The vLLM correction under the mismatch model (``vllm_law``), ``float64`` like lengths."""

    keep_probability: NDArray  # P(weight > 0)
    expected_weight: NDArray  # E[weight]


def vllm_law(
    mode: str,
    lengths: ArrayLike,
    cap: float | None = TRL_VLLM_CAP,
    cap_min: float | None = None,
    mean: float = MISMATCH_MEAN,
    sd: float = MISMATCH_SD,
) -> VllmLaw:
    """P(weight > 0) and E[weight] under the mismatch model.

    Sequence modes: the weight of an answer of L tokens; token modes: the weight of one token
    (the same for every L). With D the thresholded log-ratio (``_ratio_law``) and a = log
    clip_min, b = log cap: mask keeps P(a <= D <= b) (Phi((log cap - L mu) / (sqrt(L) sigma))
    without clip_min) with E[e^D 1{a <= D <= b}] = e^(m + s^2/2) [Phi((b - m - s^2)/s) -
    Phi((a - m - s^2)/s)]; truncate keeps every answer (1) and adds clip_min P(D < a) +
    cap P(D > b) (the expected weight of a clamped lognormal).
    """
    mode, cap, cap_min = check_vllm(mode, cap, cap_min)
    mean, sd = check_mismatch(mean, sd)
    loc, scale = _ratio_law(mode, lengths, mean, sd)
    low, high = _log_bounds(cap, cap_min)
    kept, mass = _lognormal_parts(loc, scale, low, high)
    if mode.endswith("mask"):
        return VllmLaw(kept, mass)
    below = _lognormal_parts(loc, scale, -math.inf, low)[0] if cap_min else 0.0
    above = _lognormal_parts(loc, scale, high, math.inf)[0] if cap is not None else 0.0
    weight = mass + (cap_min or 0.0) * below + (0.0 if cap is None else cap * above)
    return VllmLaw(np.ones(loc.shape), weight)


# ---- truncation and overlong shaping -----------------------------------------------------------


def stopped(task: SequenceTask) -> NDArray:
    """``bool[N]``: the response ended with the stop token (not truncated at max_length)."""
    enum = enumerate_sequences(task)
    rows = np.arange(enum.lengths.shape[0])
    return enum.tokens[rows, enum.lengths - 1] == task.stop


def overlong_penalty(lengths: Any, max_length: int, buffer: Any, factor: Any) -> Any:
    """min(-(L - (max_length - buffer)) / buffer * factor, 0) per answer (buffer, factor may be
    traced); like ``lengths`` in its namespace (float)."""
    xp = namespace(lengths, buffer, factor)
    lengths = float_array(xp, lengths)
    exceed = lengths - (max_length - buffer)
    return xp.minimum(-exceed / buffer * factor, 0.0)


def shaped_rewards(task: SequenceTask, buffer: float, factor: float) -> NDArray:
    """r(y) + overlong_penalty(L(y)) of every response, ``float64[N]`` (r in {0, 1})."""
    buffer, factor = check_overlong(buffer, factor, task.max_length)
    enum = enumerate_sequences(task)
    penalty = overlong_penalty(enum.lengths, task.max_length, buffer, factor)
    return enum.correct.astype(np.float64) + penalty


# ---- the entropy filter ---------------------------------------------------------------------


def prefix_entropies(logits: Any) -> Any:
    """Entropy of the next-token distribution of every row: ``float[..., V] -> float[...]``."""
    xp = namespace(logits)
    shifted = logits - xp.max(logits, axis=-1, keepdims=True)
    log_probs = shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))
    return -xp.sum(xlogy(xp, xp.exp(log_probs), xp.exp(log_probs)), axis=-1)


def masked_quantile(values: Any, mask: Any, quantile: Any) -> Any:
    """torch.quantile of ``values[mask]`` (linear interpolation) over all axes; +inf when the
    mask is empty (then no token passes ``>=``). Works with traced values (a sort, no boolean
    indexing): masked-out entries sort last as +inf."""
    xp = namespace(values, quantile)
    flat = xp.where(mask, values, xp.inf).reshape(-1)
    ordered = xp.sort(flat)
    count = xp.sum(mask)
    position = quantile * (xp.maximum(count, 1) - 1)
    lower = xp.floor(position)
    index = lower.astype(np.int32)
    upper = xp.minimum(index + 1, xp.maximum(count, 1) - 1)
    low_value = xp.where(count > 0, ordered[index], 0.0)  # no inf - inf when nothing is kept
    high_value = xp.where(upper > index, ordered[upper], low_value)
    value = low_value + (position - lower) * (high_value - low_value)
    return xp.where(count > 0, value, xp.inf)


def entropy_threshold(entropies: ArrayLike, mass: ArrayLike, quantile: float) -> tuple[float, bool]:
    """(tau, boundary): the population (1 - rho) quantile of the token-weighted entropy law.

    A token drawn at prefix n has entropy H_n; ``mass[n]`` is how many loss tokens per answer
    are drawn there in expectation (the visit probability of n). The batch quantile of
    ``masked_quantile`` tends to tau = min{h : F(h) >= 1 - rho}, F(h) = sum_{H_n <= h} mass_n /
    sum_n mass_n, as the batch grows, except when F(h) = 1 - rho exactly at some h (then the
    batch threshold lands anywhere between h and the next entropy): ``boundary`` says so.
    """
    rho = check_quantile(quantile)
    entropies = np.asarray(entropies, np.float64).reshape(-1)
    mass = np.asarray(mass, np.float64).reshape(-1)
    visited = mass > 0
    order = np.argsort(entropies[visited], kind="stable")
    values, weights = entropies[visited][order], mass[visited][order]
    cdf = np.cumsum(weights) / weights.sum()
    target = 1.0 - rho
    first = int(np.searchsorted(cdf, target - 1e-12))
    first = min(first, values.size - 1)
    boundary = bool(abs(cdf[first] - target) < 1e-9 and 0 < target < 1)
    return float(values[first]), boundary


# ---- the group-range filter (OpenRLHF dynamic filtering) -----------------------------------------


def range_keep(num_correct: Any, group_size: int, low: Any, high: Any) -> Any:
    """``bool``: low < S / M < high (the group's mean 0/1 score), like ``num_correct``."""
    mean = num_correct / float(group_size)
    return (mean > low) & (mean < high)


def range_tables(a_table: Any, b_table: Any, low: Any, high: Any) -> tuple[Any, Any]:
    """(a°, b°) ``float[M+1]``: a[S], b[S] where the group is kept, else 0.

    Inside one group the filter is the tables' mask, so every exact formula of the tables
    (w_M, omega of each aggregation) gives the kept-group terms E[1{kept} g].
    """
    xp = namespace(a_table, b_table, low, high)
    m = a_table.shape[-1] - 1
    keep = range_keep(xp.arange(m + 1), m, low, high)
    return xp.where(keep, a_table, 0.0), xp.where(keep, b_table, 0.0)


def range_kept_probability(p: ArrayLike, group_size: int, low: Any, high: Any) -> Array:
    """q = P(low < S / M < high), S ~ Binomial(M, p): ``float[...]`` like p."""
    xp = namespace(p, low, high)
    p = float_array(xp, p)
    pmf = bern.binomial_pmf(group_size, p)  # [..., M+1]
    keep = range_keep(xp.arange(group_size + 1), group_size, low, high)
    return xp.sum(xp.where(keep, pmf, 0.0), axis=-1)


# ---- the simulator's switches and traced numbers (checked here: no JAX) ---------------------

# (low, high, low end open) of the simulator's traced filter numbers (``sim.config.HParams``)
FILTER_BOUNDS = {
    "vllm_cap": (0.0, None, True),
    "vllm_cap_min": (0.0, None, False),
    "mismatch_mean": (None, None, False),
    "mismatch_sd": (0.0, None, False),
    "overlong_buffer": (0.0, None, True),
    "overlong_factor": (0.0, None, False),
    "entropy_quantile": (0.0, 1.0, True),
    "range_low": (None, None, False),
    "range_high": (None, None, False),
}
SWITCHES = ("vllm_mode", "mask_truncated", "overlong", "entropy_filter")


def check_below(low_name: str, low: Any, high_name: str, high: Any) -> None:
    """InputError unless low < high entry by entry (either None: nothing to check)."""
    if low is None or high is None:
        return
    lows, highs = np.broadcast_arrays(np.asarray(low, np.float64), np.asarray(high, np.float64))
    for a, b in zip(lows.reshape(-1), highs.reshape(-1), strict=True):
        if not a < b:
            raise InputError(
                f"{low_name}={a.item()!r} is invalid: must be below {high_name}={b.item()!r}"
            )


def check_ordered(hparams: Any) -> None:
    """The simulator's traced bounds in order: range_low < range_high, vllm_cap_min < vllm_cap."""
    for low, high in (("range_low", "range_high"), ("vllm_cap_min", "vllm_cap")):
        check_below(low, getattr(hparams, low), high, getattr(hparams, high))


def filters_act(cfg: Any, hparams: Any = None) -> bool:
    """A filter acts: a switch of ``SWITCHES`` is on, or ``hparams`` sets a range bound."""
    ranged = hparams is not None and (hparams.range_low, hparams.range_high) != (None, None)
    return ranged or any(bool(getattr(cfg, name)) for name in SWITCHES)


def check_switches(cfg: Any, scheme: Any) -> None:
    """A simulator config's filter switches (``SWITCHES``): vllm_mode one of ``VLLM_MODES`` or
    None, the others bool; sequence policies only; overlong needs a real-reward form."""
    if cfg.vllm_mode is not None:
        check_choice("vllm_mode", cfg.vllm_mode, VLLM_MODES)
    for name in SWITCHES[1:]:
        if not isinstance(getattr(cfg, name), bool):
            raise InputError(f"{name}={getattr(cfg, name)!r} is invalid: must be bool")
    on = [name for name in SWITCHES if getattr(cfg, name)]
    if on and not cfg.problem.is_sequence:
        raise InputError(
            f"{on[0]}={getattr(cfg, on[0])!r} is invalid for policy={cfg.problem.policy!r}: the "
            "filter acts on token strings (sequence_tabular, sequence_network)"
        )
    if cfg.overlong:
        scheme.check_real_reward("with overlong=True (the shaped rewards are real-valued)")
