"""The recorded trajectory of a run: ``Metrics`` and its extensions (sequence lengths, PPO).

``extend_metrics`` appends records only some runs have, so that ``Metrics`` itself, and the golden
digests of plain runs, stay as they are. Re-exported by ``rlxform.sim.config``.
"""

from __future__ import annotations

from typing import NamedTuple

from rlxform.types import Array


class Metrics(NamedTuple):
    """Recorded trajectory; R = T / record_every + 1 records, record 0 is the initial state.

    Attributes:
      step: int32[R] step index of each record.
      p: float32[R, P] per-prompt success probability.
      mean_p: float32[R] mean over prompts.
      objective: float32[R] J = mean_x h_M(p_x) (h_M of the tables actually used, eps included).
      degenerate_fraction: float32[R] fraction of groups with S = 0 or S = M over the steps since
        the previous record (exact ascent: its expectation mean_x p^M + (1-p)^M); 0 at record 0.
      finite: bool[R] all parameters finite at the record (False once the run diverged).
      nonfinite_step: int32[] first step whose update was not finite (-1 if none), alias
        ``diverged_at``. From that step on the run is frozen at its last finite parameters and
        every later record's p, mean_p, objective and degenerate_fraction are NaN; other runs
        of a vmapped grid are unaffected.
    """

    step: Array
    p: Array
    mean_p: Array
    objective: Array
    degenerate_fraction: Array
    finite: Array
    nonfinite_step: Array

    @property
    def diverged_at(self) -> Array:
        """int32[...] per run: the first non-finite step, or -1 (= ``nonfinite_step``)."""
        return self.nonfinite_step


def extend_metrics(name: str, extra: tuple[str, ...], doc: str) -> type:
    """A ``Metrics`` pytree with the ``extra`` float32[R] records appended (same first fields).

    Used for the records only some runs have (sequence lengths, PPO clip fractions), so that
    ``Metrics`` itself, and the golden digests of plain runs, stay as they are.
    """
    fields = NamedTuple(f"_{name}", [(field, Array) for field in (*Metrics._fields, *extra)])
    namespace = {"__doc__": doc, "__slots__": (), "diverged_at": Metrics.diverged_at}
    return type(name, (fields,), namespace)


SequenceMetrics = extend_metrics(
    "SequenceMetrics",
    ("mean_length_correct", "mean_length_wrong"),
    """``Metrics`` of a sequence policy plus exact length records (NaN after divergence).

    Attributes: as ``Metrics``, and mean_length_correct, mean_length_wrong: float32[R],
    mean_x E[L | correct] and mean_x E[L | wrong] from the enumerated response law.
    """,
)
