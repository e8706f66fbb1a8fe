"""The card's "Loss" section and the lens parts that read the loss-mode reduction.

``loss_section(run, scheme)`` prints what the run's loss mode does on the first update of each
rollout batch (``rlxform.core.loss_modes.reduce`` at the run's own release, read by the trainer
modules into ``RunConfig.loss``): the per-answer factor c(L), whether the lens is then exact, a
constant scale, the knobs that act only from the second update on (and whether this run takes a
second update), the sampler/trainer corrections that act already on the first, the note and the
source line. ``loss_lens(run)`` gives the lens section its aggregation and later-update parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rlxform.core.loss_modes import EXACT_FACTORS, FACTORS
from rlxform.explain.parts import Section, bound, clip_binds, clip_range
from rlxform.explain.topics import pointer

if TYPE_CHECKING:
    from rlxform.core.schemes import Scheme
    from rlxform.frameworks import RunConfig

TITLE = "Loss: what the loss mode does to the first update"
SYMBOLS = (
    "A_i is answer i's advantage, L_i its length in tokens, pi / pi_old the ratio of the trained "
    "to the sampling policy (1 on the first update of a rollout batch)"
)
MEANING = {
    "1": "a constant (each answer's token sum): E[update] = w_M(p) grad p holds exactly",
    "1/L_max": "a constant 1/L_max: E[update] = w_M(p) grad p / L_max holds exactly",
    "1/L": (
        "the answer's own length: E[update] is not w_M(p) grad p; updates also move answer "
        "lengths (see Length bias)"
    ),
    "token-mean": (
        "one normaliser shared by the tokens of the answers in a batch: a constant only as the "
        "batch grows; the answer's own length enters it (see Length bias)"
    ),
}
_CLIPS = {  # knobs whose values print as a clip range of the ratio
    "verl": ("clip_ratio_low", "clip_ratio_high"),
    "trl": ("epsilon", "epsilon_high"),
    "openrlhf": ("eps_clip_low_high",),
}


def _value(value: Any) -> str:
    if isinstance(value, float):
        return bound(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def knob_values(run: RunConfig) -> list[str]:
    """The off-policy-only knobs with their values; clips with their ratio range."""
    lm = run.loss.reduction
    out = []
    for knob in lm.off_policy_knobs:
        try:
            value = lm.setting(knob)
        except KeyError:
            value = None
        key = run.loss.keys.get(knob, knob)
        out.append(f"{key} = {_value(value)}" if value is not None else f"{key} (unset)")
    if any(k in lm.off_policy_knobs for k in _CLIPS.get(lm.framework, ())):
        never = "" if clip_binds(run) else " (infinite: never binds)"
        out.append(f"the ratio clip {clip_range(run)}{never}")
    return out


def later_updates(run: RunConfig) -> str:
    """What the updates after the first do, for this run's updates per rollout batch."""
    lm = run.loss.reduction
    updates = run.updates_per_rollout
    knobs = knob_values(run)
    if not knobs:
        text = f"No setting of {lm.mode} acts only off-policy (it has no ratio clip)"
        if updates > 1:
            which = "update 2" if updates == 2 else f"updates 2 to {updates:g}"
            return (
                f"{text}: this run's {which} of each rollout batch reuse its answers after the "
                "policy moved, with no clip."
            )
        return f"{text}; this run takes one optimizer step per rollout batch."
    text = "Acting only from the second update on, once a ratio differs from 1: " + "; ".join(knobs)
    if updates > 1:
        which = "the second" if updates == 2 else f"updates 2 to {updates:g}"
        return (
            f"{text}. This run takes {updates:g} optimizer steps per rollout batch, so they act "
            f"on {which}."
        )
    return f"{text}. This run takes one optimizer step per rollout batch, so they do nothing."


def loss_lens(run: RunConfig) -> tuple[list[str], list[str]] | None:
    """(breaks, notes) of the lens from the reduction; None when the run has none."""
    reading = getattr(run, "loss", None)
    if reading is None or reading.reduction is None:
        return None
    lm = reading.reduction
    named = f"{reading.key}={reading.mode}" if reading.key else f"{reading.release}'s loss"
    breaks, notes = [], []
    factor = lm.length_factor
    if factor == "1/L":
        breaks.append(
            f"length-normalised loss ({named}: c(L) = 1/L): each answer's weight is divided by "
            "its own length L, so updates also move answer lengths; exact only if length does "
            "not depend on the answer (--topic loss_modes)"
        )
    elif factor == "token-mean":
        breaks.append(
            f"token-mean loss ({named}): the answers of a batch share one token count, in which "
            "each answer's own length enters; E[update] tends to w_M(p) grad p / E[L] only as "
            "the batch grows (see Length bias, --topic aggregation)"
        )
    elif factor not in EXACT_FACTORS:
        breaks.append(f"on the first update {named} is {factor} (--topic loss_modes)")
    if lm.scale != 1.0:
        notes.append(
            f"{named} scales every token's weight by {lm.scale:g} on the first update (the "
            "direction is kept; --topic loss_modes)"
        )
    if run.updates_per_rollout > 1:
        notes.append(f"later updates of a rollout batch: {later_updates(run)} (--topic ppo)")
    return breaks, notes


def loss_section(run: RunConfig, scheme: Scheme) -> Section:
    """The loss mode's reduction on the first update, its later-update knobs, its source."""
    reading = getattr(run, "loss", None)
    if reading is None:
        values = {"reduced": False, "why": "this run was not read from a trainer config"}
        return Section("loss", TITLE, values, (values["why"] + ".", pointer("loss_modes")))
    named = f"{reading.key}={reading.mode}" if reading.key else f"the loss of {reading.release}"
    if reading.reduction is None:
        values = {"mode": reading.mode, "key": reading.key, "release": reading.release}
        values.update(reduced=False, why=reading.why)
        listed = any(item.get("key") == reading.key for item in run.not_modelled)
        tail = f", and lists {reading.key or 'the loss'} under Not modelled" if listed else ""
        prose = (
            f"Not reduced: {reading.why}. The card reads the aggregation ({run.aggregation}) "
            f"only{tail}.",
            pointer("loss_modes"),
        )
        return Section("loss", TITLE, values, prose)
    lm = reading.reduction
    factor = lm.length_factor
    values = {
        "mode": reading.mode,
        "key": reading.key,
        "release": reading.release,
        "reduced": True,
        "length_factor": factor,
        "base_length_factor": lm.base_length_factor,
        "exact_on_policy": lm.exact_on_policy,
        "scale": lm.scale,
        "off_policy_only": lm.off_policy_only,
        "updates_per_rollout": run.updates_per_rollout,
        "off_policy_acts": bool(run.updates_per_rollout > 1 and lm.off_policy_knobs),
        "corrections": reading.corrections,
        "source": lm.source,
        "note": lm.note,
    }
    meaning = MEANING.get(factor, "")
    head = (
        f"{named} ({reading.release}): on the first update of each rollout batch every token of "
        f"answer i gets the gradient -A_i c(L_i) s grad log pi ({SYMBOLS}), with "
        f"c(L) = {factor}" + (f": {meaning}" if meaning else "") + "."
    )
    if factor not in FACTORS and lm.base_length_factor in FACTORS:
        head += f" Without it the factor would be {lm.base_length_factor}."
    prose = [head, ""]
    if lm.scale != 1.0:
        cap = [reading.keys.get(k, k) for k in lm.on_policy_knobs if k.startswith("epsilon")]
        by = f" (the cap {cap[0]}" + (", as epsilon_high is unset)" if cap[0] == "epsilon" else ")")
        prose.append(
            f"s = {lm.scale:g}{by if cap else ''}: every per-token weight is capped at "
            f"{lm.scale:g} on the first update, so the step is that fraction of the uncapped one "
            "(direction kept)."
        )
    else:
        prose.append("s = 1 (no constant scale).")
    prose += ["", later_updates(run)]
    if reading.corrections:
        prose += [
            "",
            "Corrections for the sampler/trainer mismatch act already on the first update: "
            + ", ".join(reading.corrections)
            + " (TRL's vLLM correction: see Filters; any other under Not modelled).",
        ]
    if reading.note:
        prose += ["", reading.note]
    prose += ["", pointer("loss_modes")]
    return Section("loss", TITLE, values, tuple(prose))
