"""A run's loss mode, reduced: the trainer readers' bridge to ``rlxform.core.loss_modes``.

Each trainer module reads its loss-mode and correction settings under its release's key names
and calls ``reduce_run``: the reducer's ``reduce`` at the run's own release when the reducer
covers it (``core.loss_modes.releases``), else a ``LossReading`` that says why it is not reduced
(never the newest release's semantics applied to an older one). ``LossReading`` is what the
card's loss section and lens read (``RunConfig.loss``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from rlxform.core.loss_modes import LossMode, reduce
from rlxform.core.loss_modes.releases import RELEASES, release
from rlxform.frameworks.common import Settings
from rlxform.validation import InputError

CORRECTION_SETTINGS = {  # reducer settings of sampler/trainer corrections (act on update 1)
    "verl": ("rollout_is", "rollout_rs", "bypass_mode"),
    "trl": ("vllm_importance_sampling_correction", "off_policy_mask_threshold"),
    "openrlhf": ("is_correction_level",),
}


@dataclasses.dataclass(frozen=True)
class LossReading:
    """The loss a run optimises, as the reducer sees it.

    Attributes:
      key: the config key naming the mode ("" where the release hard-codes the loss).
      mode: the mode the run sets (or the one its release hard-codes).
      release: "trl 0.18.2": the release whose loss code was reduced (the run's own).
      reduction: the reducer's ``LossMode``, or None when the reducer does not cover the
        release or the mode (``why`` says which).
      why: why there is no reduction; settings: the settings passed to the reducer (its names),
      keys: reducer setting name -> the config key it was read from; note: what the trainer
      changes around the reduced loss (Unsloth's own loss).
    """

    key: str
    mode: str
    release: str
    reduction: LossMode | None
    why: str | None = None
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    keys: Mapping[str, str] = dataclasses.field(default_factory=dict)
    note: str = ""

    @property
    def corrections(self) -> list[str]:
        """Config keys of the sampler/trainer corrections that act on the run's first update
        (``CORRECTION_SETTINGS``; their effect is listed under "not modelled")."""
        if self.reduction is None:
            return []
        lm = self.reduction
        on = set(lm.on_policy_knobs)
        on |= {"vllm_importance_sampling_correction"} if "use_vllm" in on else set()
        on |= {"bypass_mode"} if lm.mode == "bypass_mode" else set()
        names = [n for n in CORRECTION_SETTINGS[lm.framework] if n in on]
        return [self.keys.get(n, n) for n in names]


def covers(framework: str, version: str) -> bool:
    """Whether the reducer reads ``framework``'s release ``version``."""
    return version in RELEASES.get(framework, ())


def read_settings(s: Settings, framework: str, version: str, keys: Mapping[str, str]):
    """(settings, keys): the reducer's settings from config keys, those the release has.

    ``keys`` maps a reducer setting name to the config key (the newest name; the version table
    maps it to the release's own). Keys the release lacks are left out (a file that sets one
    gets the unknown-key warning, not a reduction). Values are the run's, else the version
    table's defaults (passed explicitly, so the reducer never falls back on another release's;
    not listed in ``defaults_used``, which names the mode key only).
    """
    rel = release(framework, version) if covers(framework, version) else None
    out, used = {}, {}
    for name, key in keys.items():
        if (rel is not None and name in rel.lacks) or not s.table.has(key):
            continue
        out[name] = s.values[key] if s.is_set(key) else s.table.default(key)
        used[name] = key
    return out, used


def reduce_run(
    framework: str,
    version: str,
    key: str,
    mode: str,
    settings: Mapping[str, Any],
    keys: Mapping[str, str],
    label: str | None = None,
) -> LossReading:
    """The run's ``LossReading``: ``reduce`` at its own release, or why not.

    Raises InputError when the reducer covers the release and the settings are invalid there
    (the trainer itself would refuse them): the message names the config key.
    """
    label = label or f"{framework} {version}"
    if not covers(framework, version):
        why = (
            f"rlxform reduces {framework}'s loss for {', '.join(RELEASES[framework])}; "
            f"{label} is not one of them"
        )
        return LossReading(key, mode, label, None, why, dict(settings), dict(keys))
    rel = release(framework, version)
    if mode not in rel.modes:
        why = (
            f"{key}={mode} is not reduced for {label}: rlxform reduces its "
            f"{', '.join(rel.modes)} (the modes whose code it read in that release)"
        )
        return LossReading(key, mode, label, None, why, dict(settings), dict(keys))
    try:
        reduction = reduce(framework, mode, version=version, **settings)
    except InputError as err:
        text = str(err)
        for name, config_key in keys.items():
            if text.startswith(f"{name}="):
                text = config_key + text[len(name) :]
                break
        raise InputError(text) from None
    return LossReading(key, mode, label, reduction, None, dict(settings), dict(keys))


def reduced_factor(run: Any) -> tuple[str, str] | None:
    """(per-answer factor, where it comes from) of a run's reduced loss, for its normaliser.

    The factor is the reducer's ``base_length_factor``: the aggregation under any sampler
    correction (those are listed under "not modelled"); a phrase where no such factor underlies
    the loss. None when the run has no reduction (the aggregation name decides then).
    """
    reading = getattr(run, "loss", None)
    if reading is None or reading.reduction is None:
        return None
    lm = reading.reduction
    named = f"{reading.key}={reading.mode}" if reading.key else f"the loss of {reading.release}"
    return lm.base_length_factor, f"{named} reduces to c(L) = {lm.base_length_factor} ({lm.source})"
