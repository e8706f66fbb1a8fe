"""The card's "Filters" section: length- and difficulty-dependent filters at the run's settings.

Which filters act (TRL's vLLM importance-sampling correction, on by default with use_vllm from
0.23; mask_truncated_completions; top_entropy_quantile; DAPO overlong shaping; OpenRLHF's
dynamic_filtering_range), the vLLM weight's keep probability at a few lengths under the stated
mismatch model, and the direction of the length drift they cause on the reference task of the
"Length bias" section (``rlxform.core.filter_updates.FilteredRule``). NumPy only.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from rlxform.core import filters as core_filters
from rlxform.core.filter_updates import FilteredRule, Filters
from rlxform.core.sequence_tasks import SequenceTask
from rlxform.explain.conclusions import REFERENCE_P, REFERENCE_TASK, normaliser_groups
from rlxform.explain.parts import Section
from rlxform.explain.topics import pointer
from rlxform.validation import InputError

if TYPE_CHECKING:
    from rlxform.core.schemes import Scheme
    from rlxform.frameworks import RunConfig

LENGTHS = (100, 1000)  # answer lengths (tokens) at which the vLLM keep probability is shown
DEFAULT_LENGTH = 1024  # the length the reference task stands for when the config names none
_MODEL = (
    "mismatch model: per token, d = log pi_trainer - log pi_vLLM is drawn independently with "
    f"mean mu = {core_filters.MISMATCH_MEAN:g} and standard deviation sigma = "
    f"{core_filters.MISMATCH_SD:g} (a stated assumption, not measured on your run), so an answer "
    "of L tokens has sum_t d_t ~ Normal(L mu, L sigma^2)"
)


def active_filters(run: RunConfig) -> list[str]:
    """Names of the filters a run's settings switch on."""
    names = []
    if run.vllm_is_mode:
        names.append("vllm_importance_sampling")
    if run.mask_truncated:
        names.append("mask_truncated_completions")
    if run.overlong_buffer is not None:
        names.append("overlong_shaping")
    if run.top_entropy_quantile is not None:
        names.append("top_entropy_quantile")
    if run.filter_range is not None and tuple(run.filter_range) != (0.0, 1.0):
        names.append("dynamic_filtering_range")
    return names


def filter_breaks(run: RunConfig) -> list[str]:
    """Lens breaks of the active filters (``explain.sections.lens_breaks``)."""
    return [
        f"filter {name}: the update weights tokens or answers by their length, correctness or "
        "group (see Filters, --topic filters)"
        for name in active_filters(run)
    ]


def _reference_filters(run: RunConfig, length: int) -> Filters:
    """The run's filters on the reference task, its max_length standing for ``length`` tokens:
    the mismatch per reference token has the law of length / max_length real tokens' sum, the
    overlong buffer keeps its share of the maximum length."""
    max_length = REFERENCE_TASK[2]
    scale = length / max_length
    options: dict[str, Any] = {"mask_truncated": bool(run.mask_truncated)}
    if run.vllm_is_mode:
        options.update(
            vllm_mode=run.vllm_is_mode,
            vllm_cap=run.vllm_is_cap,
            vllm_cap_min=run.vllm_is_cap_min,
            mismatch_mean=core_filters.MISMATCH_MEAN * scale,
            mismatch_sd=core_filters.MISMATCH_SD * math.sqrt(scale),
        )
    if run.overlong_buffer is not None:
        overlong_length = run.overlong_max_length or length
        share = min(run.overlong_buffer / overlong_length, 1.0)
        options.update(
            overlong_buffer=max(share * max_length, 1e-9),
            overlong_factor=run.overlong_factor if run.overlong_factor is not None else 1.0,
        )
    if run.top_entropy_quantile is not None and run.top_entropy_quantile > 0:
        options["entropy_quantile"] = run.top_entropy_quantile
    if run.filter_range is not None:
        options["reward_range"] = tuple(run.filter_range)
    return Filters(**options)


def _vllm_values(run: RunConfig, length: int) -> dict[str, Any]:
    lengths = sorted({*LENGTHS, length})
    args = (run.vllm_is_mode, lengths, run.vllm_is_cap, run.vllm_is_cap_min)
    law = core_filters.vllm_law(*args)
    return {
        "length": lengths,
        "keep_probability": [float(x) for x in law.keep_probability],
        "expected_weight": [float(x) for x in law.expected_weight],
    }


def _word(x: float) -> str:
    if abs(x) < 1e-9:
        return "do not change"
    return f"{'lengthen' if x > 0 else 'shorten'} by {abs(x):.3g} tokens"


def _others(run: RunConfig) -> str:
    """The run's other group or length filters, which this section does not model."""
    out = ""
    if run.dynamic_sampling:
        out += " Dynamic sampling is on: groups are dropped by their rewards (Settings read)."
    if run.filters:
        out += " Other filters of this run: " + "; ".join(run.filters) + "."
    if any("filter" in str(i.get("effect", "")) for i in run.not_modelled):
        out += " Filters rlxform does not model are listed under Not modelled."
    return out


def filters_section(run: RunConfig, scheme: Scheme) -> Section:
    """The "Filters" section of the card at the run's settings (module docstring)."""
    title = "Filters that depend on length or difficulty"
    names = active_filters(run)
    if not names:
        prose = (
            "None of the filters this section models acts (vLLM importance sampling, "
            "truncated-answer masking, overlong shaping, entropy quantile, reward range)."
            + _others(run),
            pointer("filters"),
        )
        return Section("filters", title, {"active": []}, prose)
    length = run.max_length or DEFAULT_LENGTH
    values: dict[str, Any] = {"active": names}
    lines = [f"Active: {', '.join(names)}."]
    if run.vllm_is_mode:
        table = _vllm_values(run, length)
        values.update(
            vllm_mode=run.vllm_is_mode,
            vllm_cap=run.vllm_is_cap,
            vllm_cap_min=run.vllm_is_cap_min,
            mismatch_mean=core_filters.MISMATCH_MEAN,
            mismatch_sd=core_filters.MISMATCH_SD,
            table=table,
        )
        shown = ", ".join(
            f"{n} tokens {k:.3g}"
            for n, k in zip(table["length"], table["keep_probability"], strict=True)
        )
        unit = "answer" if run.vllm_is_mode in core_filters.SEQUENCE_MODES else "token"
        bounds = f"[{run.vllm_is_cap_min or 0:g}, {_cap(run.vllm_is_cap)}]"
        lines.append(
            f"vLLM importance sampling ({run.vllm_is_mode}, ratio bounds {bounds}): every "
            f"{unit} is weighted by the ratio of trainer to vLLM probabilities, "
            f"{'clamped to' if run.vllm_is_mode.endswith('truncate') else 'or 0 outside'} the "
            f"bounds. Under the {_MODEL}: probability that an {unit} keeps a nonzero weight: "
            f"{shown} (the table also gives the expected weight)."
        )
    if run.mask_truncated:
        lines.append(
            "mask_truncated_completions: answers that hit the maximum length get no loss and "
            "leave token-mean's normaliser, correct or wrong."
        )
    if run.overlong_buffer is not None:
        values.update(
            overlong_buffer=run.overlong_buffer,
            overlong_factor=run.overlong_factor,
            overlong_max_length=run.overlong_max_length,
        )
        lines.append(
            f"Overlong shaping: reward += min(-(L - (L_max - B)) / B * F, 0) with buffer B = "
            f"{run.overlong_buffer:g} tokens, factor F = {run.overlong_factor:g}, L_max = "
            f"{run.overlong_max_length or 'the maximum length'}: rewards are no longer 0/1."
        )
    if run.top_entropy_quantile is not None:
        values["top_entropy_quantile"] = run.top_entropy_quantile
        lines.append(
            f"top_entropy_quantile rho = {run.top_entropy_quantile:g}: only tokens whose "
            "next-token entropy is at least the (1 - rho) quantile of the batch's token "
            "entropies get a gradient (modelled by the population quantile, exact as the batch "
            "grows)."
        )
    if run.filter_range is not None:
        low, high = run.filter_range
        p = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
        kept = core_filters.range_kept_probability(p, run.group_size, low, high)
        values.update(range_low=low, range_high=high)
        values["range_kept_probability"] = {
            f"{x:g}": float(k) for x, k in zip(p, kept, strict=True)
        }
        lines.append(
            f"Reward range ({low:g}, {high:g}): a group of M = {run.group_size} is kept when "
            f"{low:g} < S/M < {high:g} (S correct answers) and refilled otherwise; P(kept) at "
            "p = 0.1, 0.3, 0.5, 0.7, 0.9: " + ", ".join(f"{k:.3g}" for k in kept) + "."
        )
    values.update(_drift(run, scheme, length, lines))
    lines.append(pointer("filters"))
    return Section("filters", title, values, tuple(lines))


def _drift(run: RunConfig, scheme: Scheme, length: int, lines: list[str]) -> dict[str, Any]:
    """The length drift with and without the filters on the reference task (appends prose)."""
    name, groups, _ = normaliser_groups(run)
    verifier, vocab, max_length = REFERENCE_TASK
    task = SequenceTask(vocab, max_length, verifier)
    where = (
        f"On the reference task of the Length bias section (answers of at most {max_length} "
        f"tokens standing for {length}; accuracy p = {REFERENCE_P}, M = {run.group_size}, "
        f"aggregation {name}, G = {groups})"
    )
    try:
        filters, advantage = _reference_filters(run, length), _advantage(run, scheme)
        rule = FilteredRule(
            scheme, name, run.group_size, filters, batch_groups=groups, advantage=advantage
        )
        filtered = rule.length_drift(task, REFERENCE_P)
    except InputError as err:
        lines.append(f"{where}: no exact length drift: {err}.")
        return {"length_drift": f"not derived: {err}"}
    unfiltered = dataclasses.replace(rule, filters=Filters(), advantage=None)
    plain = unfiltered.length_drift(task, REFERENCE_P)
    if abs(filtered.drift_p) < 1e-9 * max(abs(plain.drift_p), 1e-300):
        lines.append(
            f"{where}: the filtered update does not move p at all (the answer there is decided "
            "by the first token, and the filters remove its gradient), so no drift per unit of "
            "p is shown."
        )
        return {"d_p_per_step": filtered.drift_p}
    per_c, per_w = filtered.correct_per_p, filtered.wrong_per_p
    base_c, base_w = plain.correct_per_p, plain.wrong_per_p
    lines.append(
        f"{where}: per unit of p gained, with the filters wrong answers {_word(per_w)} and "
        f"correct answers {_word(per_c)}; without them wrong answers {_word(base_w)} and "
        f"correct answers {_word(base_c)} (E[L | correct], E[L | wrong]: mean lengths of "
        "correct and wrong answers). The difference is the filters' own push on lengths."
    )
    return {
        "reference_max_length_stands_for": length,
        "d_length_correct_per_p": per_c,
        "d_length_wrong_per_p": per_w,
        "d_length_correct_per_p_without_filters": base_c,
        "d_length_wrong_per_p_without_filters": base_w,
    }


def _cap(cap: float | None) -> str:
    return "inf" if cap is None else f"{cap:g}"


def _advantage(run: RunConfig, scheme: Scheme):
    """The trainer's own advantage rule on real rewards, for a scheme without a real-reward
    form (``frameworks.advantages``: e.g. verl's grpo with overlong shaping); else None."""
    if scheme.has_real_reward or run.overlong_buffer is None:
        return None
    from rlxform.frameworks.advantages import advantages

    params = dict(run.scheme_params)

    def rule(rows: np.ndarray) -> np.ndarray:
        flat = advantages(run.framework, run.estimator, rows.reshape(-1), rows.shape[1], **params)
        return flat.reshape(rows.shape)

    return rule
