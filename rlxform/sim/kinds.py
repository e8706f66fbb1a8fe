"""``KINDS``: the registry of policy kinds, name -> ``PolicyKind``; ``POLICIES`` their names.

``BANDIT_POLICIES`` and ``SEQUENCE_POLICIES`` split them by ``PolicyKind.sequence``.

Each kind names its factory ``Problem -> Policy`` and its footprint as ``"module:function"``
(imported on first use by ``sim.policies``, so this module loads no kind), whether it draws
token strings of the problem's task, and a fixed K if it has one. ``sim.config`` validates a
``Problem`` against it; adding a kind is one entry here and its module.
"""

from __future__ import annotations

from typing import NamedTuple


class PolicyKind(NamedTuple):
    """One registered kind of policy.

    Attributes:
      factory: ``"module:function"``, ``function(problem, sampler=...) -> Policy``.
      footprint: ``"module:function"``, ``function(problem, group_size) -> Footprint``.
      sequence: draws token strings of the problem's task (V, max_length, verifier); otherwise
        one of K responses, the first C correct.
      num_responses: a fixed K (scalar: 2), or None.
      hidden: has a hidden width H (``Problem.hidden``, the ``--hidden`` flag).
    """

    factory: str
    footprint: str
    sequence: bool
    num_responses: int | None = None
    hidden: bool = False


KINDS = {
    "scalar": PolicyKind(
        "rlxform.sim.bandits:bandit_policy", "rlxform.sim.bandits:footprint", False, 2
    ),
    "tabular": PolicyKind(
        "rlxform.sim.bandits:bandit_policy", "rlxform.sim.bandits:footprint", False
    ),
    "network": PolicyKind(
        "rlxform.sim.bandits:bandit_policy", "rlxform.sim.bandits:footprint", False, hidden=True
    ),
    "sequence_tabular": PolicyKind(
        "rlxform.sim.sequence_groups:tabular_policy",
        "rlxform.sim.sequence_groups:tabular_footprint",
        True,
    ),
    "sequence_network": PolicyKind(
        "rlxform.sim.sequence_groups:network_policy",
        "rlxform.sim.sequence_groups:network_footprint",
        True,
        hidden=True,
    ),
}
POLICIES = tuple(KINDS)
BANDIT_POLICIES = tuple(name for name, kind in KINDS.items() if not kind.sequence)
SEQUENCE_POLICIES = tuple(name for name, kind in KINDS.items() if kind.sequence)
HIDDEN_POLICIES = tuple(name for name, kind in KINDS.items() if kind.hidden)
