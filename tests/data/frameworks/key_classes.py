"""A builder of the hand-written key classes of a trainer's runtime table (no catch-all).

Used by the per-trainer class files (classes_slime.py, classes_roll.py, classes_areal.py) that
build_tables_trainers_b.py writes into rlxform/frameworks/data/<trainer>.json. Every rule names
one key, or a glob over one section of the trainer's config (its keys share their parent path,
or, for keys at the top, the argparse group or dataclass that declares them), with its class:
``modelled`` (the reader reads it), ``no_effect`` (does not change the expected update; the
effect sentence says why) or ``unmodelled`` (changes the update; the effect sentence says how,
``neutral`` the values at which it does not, ``only_with`` the settings it needs to act).
"""

from __future__ import annotations

from typing import Any

# effect sentences shared by the trainers (the same words as verl's, TRL's and OpenRLHF's tables)
OPTIMIZER = "shapes the optimizer step, not the expected gradient"
LENGTH_CAP = (
    "caps a length: it changes which completions exist (and so the success rate p), not the "
    "update rule given the rewards"
)
STOP_WORDS = (
    "stop words end answers early: like a length cap, they change which completions exist "
    "(and so the success rate p), not the update rule given the rewards"
)
EVALUATION = "evaluation only"
SEED = "random seeds: which samples are drawn, not their law"
DURATION = "how long training runs, not what one update does"
PRECISION = "numerical precision"
DROPOUT = (
    "dropout off in training forward passes; with dropout on (rare in LLM configs), the "
    "trained log-probabilities are noisier"
)
LOGGING = "logging, metrics, tracing and profiling"
PATHS = "checkpoints, model and output paths: where weights are loaded from and saved to"
PLACEMENT = (
    "where and how the computation runs (devices, nodes, parallelism, offloading, memory, "
    "kernels, timeouts): not what it computes"
)
DATA = (
    "the prompt data set and its format (files, dataset keys, chat template, shuffling): which "
    "prompts train, not the update of one prompt"
)
ENGINE = (
    "inference engine internals (memory, attention backend, CUDA graphs, caching, scheduling, "
    "logging, precision): they do not change the sampling law beyond rounding"
)
PARTIAL_TRAINING = (
    "trains a subset of the parameters (LoRA adapters or unfrozen modules): the same "
    "objective's gradient, restricted to them"
)
MOE_AUX = (
    "adds the Mixture-of-Experts router load-balancing loss (times this coefficient) to the "
    "policy loss; no effect on dense models"
)

_MISSING = object()


class Classes:
    """classes / effects / neutral / only_with of one trainer, built rule by rule."""

    def __init__(self) -> None:
        self.classes: dict[str, str] = {}
        self.effects: dict[str, str] = {}
        self.neutral: dict[str, Any] = {}
        self.only_with: dict[str, Any] = {}

    def add(
        self,
        kind: str,
        effect: str | None,
        keys: str | list[str],
        neutral: Any = _MISSING,
        only_with: dict[str, Any] | None = None,
    ) -> None:
        for key in keys.split() if isinstance(keys, str) else keys:
            assert key not in self.classes, f"{key} classified twice"
            self.classes[key] = kind
            if effect:
                self.effects[key] = effect
            if neutral is not _MISSING:
                self.neutral[key] = neutral
            if only_with:
                self.only_with[key] = only_with

    def modelled(self, keys: str | list[str]) -> None:
        self.add("modelled", None, keys)

    def no_effect(self, effect: str, keys: str | list[str]) -> None:
        self.add("no_effect", effect, keys)

    def unmodelled(
        self,
        keys: str | list[str],
        effect: str,
        neutral: Any = _MISSING,
        only_with: dict[str, Any] | None = None,
    ) -> None:
        self.add("unmodelled", effect, keys, neutral, only_with)

    def table(self) -> dict[str, Any]:
        return {
            "classes": self.classes,
            "effects": self.effects,
            "neutral": self.neutral,
            "only_with": self.only_with,
        }
