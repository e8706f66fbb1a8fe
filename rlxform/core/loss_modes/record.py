"""The reducer's answer: ``LossMode``, a frozen record of one trainer's loss under its settings.

Hashable (settings are stored as sorted ``(key, value)`` pairs with tuples for lists), so a later
simulator can use it as a static configuration. ``off_policy_only`` is the contract's list; the
tuple behind it is ``off_policy_knobs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LossMode:
    """One trainer's loss mode reduced to its on-policy per-answer factor (issue 24, item 2).

    Attributes:
      framework, version, mode: the trainer, its release (the newest, or an older one of
        ``releases.RELEASES``) and the loss mode actually run (verl's
        ``rollout_correction.bypass_mode`` turns any loss_mode into ``bypass_mode``).
      settings: every setting the loss reads, resolved with the framework's defaults, as sorted
        ``(key, value)`` pairs (framework key names); ``given`` names the ones passed explicitly.
      length_factor: the per-answer factor c(L) of the first update (ratio 1, sampler equal to
        trainer): "1", "1/L", "1/L_max", "token-mean", or a phrase when it is not a per-answer
        factor of the length.
      base_length_factor: the aggregation's factor under any correction the phrase describes (a
        phrase itself where no aggregation factor underlies the loss: TRL luspo at token level
        before 1.10, ``releases.py``).
      exact_on_policy: whether E[update] = w_M(p) grad p (times that factor) holds exactly for the
        first update: True for "1" and "1/L_max" only.
      off_policy_knobs: settings that change the gradient only once a ratio differs from 1.
      on_policy_knobs: settings that already change the first update.
      source: framework version and file:line of the loss (and of its aggregation).
      scale: a constant multiplier of the first update (TRL cispo: min(1, epsilon_high)).
      note: one or two sentences for the card.
    """

    framework: str
    version: str
    mode: str
    settings: tuple[tuple[str, Any], ...]
    given: tuple[str, ...]
    length_factor: str
    base_length_factor: str
    exact_on_policy: bool
    off_policy_knobs: tuple[str, ...]
    on_policy_knobs: tuple[str, ...]
    source: str
    scale: float = 1.0
    note: str = ""

    @property
    def off_policy_only(self) -> list[str]:
        """Knob names that change the gradient only from the second update on (ratio != 1)."""
        return list(self.off_policy_knobs)

    def setting(self, name: str) -> Any:
        """The resolved value of one setting (KeyError when the loss does not read it)."""
        for key, value in self.settings:
            if key == name:
                return value
        raise KeyError(name)

    @property
    def given_settings(self) -> dict[str, Any]:
        """The explicitly passed settings with their (checked) values."""
        return {key: value for key, value in self.settings if key in self.given}
