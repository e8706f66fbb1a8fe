"""prime-rl (PrimeIntellect-ai/prime-rl v0.8.0): its advantage rules, scheme and command line.

Keys are the dotted paths of ``RLConfig`` (packages/prime-rl-configs/src/prime_rl/configs/rl.py:219,
the ``rl`` entry point): ``orchestrator.*``, ``trainer.*``, ``inference.*`` and shared top-level
keys, from a TOML file or ``uv run rl @ rl.toml --orchestrator.group-size 16`` (``prime_rl_args``
reads pydantic-config's command line). ``uv run orchestrator @ orch.toml`` and ``uv run trainer
@ train.toml`` read one part: their keys are taken under ``orchestrator.`` / ``trainer.``.
Advantage (src/prime_rl/orchestrator/algo/, float32, one ``score_group`` per group): ``grpo``
(grpo.py:24-43) A = r - mean, with ``length_penalty`` the rewards first shaped r - mean(r) x
(w_out out/max out + w_in in/max in + w_turn turns/max turns) (algorithm.py:95-107); ``max_rl``
(max_rl.py:26-31) (r - mean) / mean, 0 when mean <= 0. Loss (src/prime_rl/trainer/rl/loss.py):
every token's ``-A ratio`` (masked by the DPPO trust region), summed and divided by the global
rl-token count of the step (train.py:312-334), one optimizer step per batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rlxform import parsing
from rlxform.core import bernstein as bern
from rlxform.core import schemes as sch
from rlxform.core.registry import Counts, Scheme, p_limit, register
from rlxform.frameworks.advantages import reject_unused
from rlxform.frameworks.common import flatten
from rlxform.frameworks.inputs import nearby_files
from rlxform.frameworks.record import AdvantageRule
from rlxform.types import NDArray
from rlxform.validation import InputError, check_choice

PRIME_RL_ALGOS = ("grpo", "max_rl")
ORCH = "orchestrator."
A = ORCH + "algo."
LP = A + "length_penalty."
_WEIGHTS = {  # LinearLengthPenaltyConfig (algorithm.py:100-107 in v0.8.0)
    "num_output_tokens_weight": 0.25,
    "num_input_tokens_weight": 0.1,
    "num_turns_weight": 0.1,
}
_NOT_MODELLED = {  # the other algorithms of AlgoConfig (algorithm.py:369-379)
    "echo": "GRPO on the action tokens plus a cross-entropy term on tool-response tokens "
    "(algorithm.py:211-226)",
    "rae": "reward minus a per-agent EMA baseline kept in orchestrator memory across steps "
    "(algorithm.py:243-262): a baseline with memory, no per-group rule",
    "hierarchical_grpo": "baselines across the proposals of a proposer-solver env "
    "(algorithm.py:264-295)",
    "opd": "no scalar advantage: the reverse KL to a teacher model is the per-token signal",
    "opsd": "no scalar advantage: self-distillation against a demo-conditioned policy",
    "sft": "cross-entropy on a frozen model's samples, no advantage",
}


@register(
    "prime_rl",
    "grpo: a = 1 - S/M, b = -S/M; max_rl: a = M/S - 1, b = -1 (S = 0: 0); a group of one: 0",
    lambda estimator, **_: p_limit() if estimator == "grpo" else (bern.log_objective, "log p"),
    min_group_size=1,
)
def prime_rl_rule(c: Counts, estimator: str):
    """The mean baseline (grpo) or MaxRL (max_rl) tables; at M = 1 both are 0 (r - r)."""
    return sch.mean_baseline_rule(c) if estimator == "grpo" else sch.maxrl_rule(c)


def from_prime_rl(estimator: str = "grpo", group_size: int | None = None, **unused: Any) -> Scheme:
    """The scheme of ``orchestrator.algo.type`` for binary rewards (no length penalty).

    grpo: r - group mean (``mean_baseline``, w_M = (M-1)/M); max_rl: (r - mean)/mean, 0 for an
    all-wrong group (``maxrl``, h -> log p). ``group_size`` 1 (prime-rl's default group size)
    gives the ``prime_rl`` rule, whose advantages are all 0 there.
    """
    reject_unused("prime_rl", unused, "group_size")
    estimator = check_choice("estimator", estimator, PRIME_RL_ALGOS)
    if group_size == 1:
        return Scheme.make("prime_rl", estimator=estimator)
    return sch.mean_baseline() if estimator == "grpo" else sch.maxrl()


# ---- per-response advantages (float64) ------------------------------------------------------


def _penalty_weights(get) -> dict[str, float] | None:
    """The length penalty's weights when the run sets one (any key of the section), else None."""
    section = get(A + "length_penalty")
    given = {k: get(LP + k) for k in (*_WEIGHTS, "type")}
    if section is None and all(v is None for v in given.values()):
        return None
    if isinstance(section, Mapping):
        given = {**section, **{k: v for k, v in given.items() if v is not None}}
    kind = given.get("type") or "linear"
    if kind != "linear":
        raise InputError(f"{LP}type={kind!r} is invalid: must be linear (algorithm.py:98)")
    out = {}
    for key, default in _WEIGHTS.items():
        value = given.get(key)
        value = default if value is None else value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise InputError(f"{LP}{key}={value!r} is invalid: must be a number >= 0")
        out[key] = float(value)
    return out


def prime_rl_advantages(estimator: str, g: NDArray, lengths: NDArray, get) -> NDArray:
    """prime-rl v0.8.0 ``score_group`` of every group ``g`` (``float64[G, M]``).

    ``lengths``: output tokens per answer (the length penalty's num_output_tokens). The input-token
    and turn terms are the same for every answer of a single-turn group (one prompt, one turn)
    and cancel in the centring: they are taken as constant here.
    """
    if estimator in _NOT_MODELLED:
        raise InputError(
            f"{A}type={estimator!r} is not modelled by rlxform: prime-rl's {estimator} is "
            f"{_NOT_MODELLED[estimator]}; it models grpo, max_rl"
        )
    estimator = check_choice(A + "type", estimator, PRIME_RL_ALGOS)
    mean = g.mean(1, keepdims=True)
    flat = np.ptp(g, axis=1, keepdims=True) == 0
    centred = np.where(flat, 0.0, g - mean)
    if estimator == "max_rl":
        positive = mean > 0
        return np.where(positive, centred / np.where(positive, mean, 1.0), 0.0)
    weights = _penalty_weights(get)
    if weights is None:
        return centred
    longest = np.maximum(lengths.max(1, keepdims=True), 1.0)  # output.max().clamp(min=1)
    shaped = g - mean * weights["num_output_tokens_weight"] * lengths / longest
    return shaped - shaped.mean(1, keepdims=True)


# ---- the command line: pydantic-config's ``@ FILE`` and ``--a.b-c value`` -------------------

_ENTRIES = {"orchestrator": ORCH, "trainer": "trainer.", "inference": "inference."}


def entry_prefix(program: str | None) -> str:
    """The key prefix of an entry point's config: "" for ``rl``, "orchestrator." ..."""
    name = str(program or "rl").replace("-", "_").rpartition(".")[2].removesuffix(".py")
    return _ENTRIES.get(name.rpartition("/")[2], "")


def _load(path: Any, found: Any) -> dict[str, Any]:
    """A config file named on the command line: the launch file's folder, its parents or here."""
    for candidate in nearby_files(path, found):
        text = parsing.read_text(candidate)
        kind = {".toml": "toml", ".json": "json"}.get(candidate.suffix.lower(), "yaml")
        data = getattr(parsing, f"load_{kind}")(text, str(path))
        if isinstance(data, Mapping):
            return dict(data)
    found.unresolved += (f"@ {path} (file not found)",)
    return {}


def _merge(base: dict[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in more.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def prime_rl_args(found: Any, table: Any) -> dict[str, Any]:
    """Settings of ``rl`` / ``orchestrator`` / ``trainer`` arguments (pydantic_config 0.4.3 cli:
    ``@ FILE`` merged left to right, ``--section @ FILE``, then ``--a.b-c value`` with dashes
    read as underscores, a bare ``--flag`` true, ``--no-flag`` false or, for a section, None),
    keyed as ``RLConfig`` keys."""
    words = [w for w in (found.args or ())]
    prefix = entry_prefix(found.program)
    files: dict[str, Any] = {}
    flags: dict[str, Any] = {}
    i = 0
    while i < len(words):
        word = str(words[i])
        nxt = str(words[i + 1]) if i + 1 < len(words) else ""
        if word == "@" and nxt:
            files = _merge(files, _load(words[i + 1], found))
            i += 2
        elif word.startswith("--") and (nxt == "@" or (nxt.startswith("@") and len(nxt) > 1)):
            path = words[i + 2] if nxt == "@" and i + 2 < len(words) else nxt[1:]
            section = word[2:].replace("-", "_")
            files = _merge(files, {section: _load(path, found)})
            i += 3 if nxt == "@" else 2
        elif word.startswith("--") and len(word) > 2:
            name, eq, inline = word[2:].partition("=")
            key = name.replace("-", "_")
            if eq:
                flags[key] = _json_value(inline, key)
                i += 1
            elif nxt and not nxt.startswith("--"):
                flags[key] = _json_value(words[i + 1], key)
                i += 2
            else:
                flags.update(_bare(prefix, key, table))
                i += 1
        else:
            i += 1
    values = {prefix + k: v for k, v in flatten(files).items()}
    values.update({prefix + k: v for k, v in flags.items()})
    return values


def _json_value(word: Any, key: str) -> Any:
    """A JSON list or table given on the command line (pydantic_config decodes those)."""
    text = str(word).strip()
    if hasattr(word, "names") or not text.startswith(("[", "{")):
        return word
    try:
        return parsing.load_json(text, f"--{key}")
    except InputError:
        return word


def _bare(prefix: str, key: str, table: Any) -> dict[str, Any]:
    """A flag without a value: True; ``--no-<bool>`` False; ``--no-<section>`` None."""
    head, dot, last = key.rpartition(".")
    target = head + dot + last[3:]
    if last.startswith("no_") and not table.has(prefix + key) and table.has(prefix + target):
        return {target: False if table.type_of(prefix + target) == "bool" else None}
    if any(k.startswith(f"{prefix}{key}.") for k in table.keys):  # a section: its defaults
        return {key: {}}
    return {key: True}


RULE = AdvantageRule(
    estimators=PRIME_RL_ALGOS,
    key=A + "type",
    default="grpo",
    advantages=prime_rl_advantages,
    settings={
        A + "length_penalty": None,
        LP + "type": None,
        **{LP + k: None for k in _WEIGHTS},
    },
    scheme=from_prime_rl,
)
