"""``Section``: one part of an explain card, and the small formatters the sections share.

The section builders (``sections``, ``loss``, ``filters``, ``entropy``, ``conclusions``) return
``Section``s; ``cards`` orders them into an ``ObjectiveCard``. This module imports nothing of
theirs, so they can all import it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlxform.frameworks import RunConfig


@dataclasses.dataclass(frozen=True)
class Section:
    """One part of a card: ``key`` in the JSON, ``title`` in markdown, values and prose."""

    key: str
    title: str
    values: Mapping[str, Any]
    prose: tuple[str, ...] = ()
    text_in_json: bool = True


def bullets(items) -> tuple[str, ...]:
    return tuple(f"- {item}" for item in items)


def bound(x: float) -> str:
    """A clip bound with the digits it needs: 1 - 3e-4 prints 0.9997, not 1."""
    return f"{x:.10g}" if abs(x - round(x, 4)) > 1e-12 else f"{x:.6g}"


def clip_range(run: RunConfig) -> str:
    return f"[{bound(1 - run.clip_low)}, {bound(1 + run.clip_high)}]"


def clip_binds(run: RunConfig) -> bool:
    """Whether either clip bound can ever bind: the ratio is > 0, so a lower bound 1 - clip_low
    <= 0 never does, nor an infinite upper bound (an infinite or disabled clip)."""
    lower = math.isfinite(run.clip_low) and run.clip_low < 1
    return lower or math.isfinite(run.clip_high)
