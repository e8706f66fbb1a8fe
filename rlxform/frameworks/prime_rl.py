"""prime-rl (PrimeIntellect-ai/prime-rl v0.8.0): config reader and record; its advantage rule,
scheme and command line are ``prime_rl_rule``.

The reader takes ``RLConfig`` keys (``orchestrator.*``, ``trainer.*``); a bare orchestrator or
trainer config file is read under its section (``as_rl_keys``). What it reads: the algorithm and
group size of the first train source (``[[orchestrator.train.source]]`` may set its own), the
length penalty, the batch (``batch_size``, default 128, or ``token_batch_size``), the pre- and
post-batch filters (a zero-advantage filter before the batch refills it, after the batch shrinks
it), the loss type. prime-rl has no KL to a reference policy in its GRPO and MaxRL: its
``kl_tau`` term pulls towards the inference policy that sampled the tokens (loss.py:145).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rlxform.frameworks.common import Clip, KLTerm, RunConfig, Settings, StdNorm, int_or_none
from rlxform.frameworks.losses import LossReading
from rlxform.frameworks.prime_rl_rule import (
    _NOT_MODELLED,
    LP,
    ORCH,
    PRIME_RL_ALGOS,
    RULE,
    A,
    _penalty_weights,
    entry_prefix,
    prime_rl_args,
)
from rlxform.frameworks.record import Framework, Normaliser
from rlxform.validation import InputError

# ---- the config reader ---------------------------------------------------------------------

_SECTIONS = ("orchestrator", "trainer", "inference", "deployment")
_FILTER_ENFORCE = {"gibberish": False, "repetition": False, "zero_advantage": True}  # :373-403
_FILTER_WHAT = {
    "gibberish": "rollouts holding a rare token (id above token_id_threshold) sampled at high "
    "entropy (filters.py:34-61)",
    "repetition": "rollouts with window consecutive tokens sampled above prob_threshold "
    "(filters.py:64-96)",
}


def as_rl_keys(s: Settings) -> str | None:
    """A bare orchestrator or trainer config file (its keys without their section) is read
    under ``orchestrator.`` or ``trainer.``; returns a note saying so, or None."""
    if not s.values or any(k.split(".")[0] in _SECTIONS for k in s.values):
        return None
    counts = {p: sum(s.table.has(p + k) for k in s.values) for p in (ORCH, "trainer.")}
    prefix = max(counts, key=counts.get)
    if counts[prefix] == 0:
        return None
    s.values = {prefix + k: v for k, v in s.values.items()}
    return (
        f"the file holds {prefix[:-1]} keys without their section (a config for uv run "
        f"{prefix[:-1]} @ FILE): read as {prefix}*; the other part takes its defaults"
    )


def _algorithm(s: Settings) -> tuple[str, Any, int, list[str]]:
    """(algorithm type, length-penalty section or None, M, notes) of the run's first train
    source: a ``[[orchestrator.train.source]]`` with its own ``algo`` or ``group_size`` wins
    over the top-level ones (orchestrator.py:229-236, 609-615, 691-694)."""
    algo = s.str(A + "type", "grpo")
    penalty = {k[len(LP) :]: v for k, v in s.under(LP).items()}
    if s.get(A + "length_penalty", None) is not None or penalty:
        section = s.values.get(A + "length_penalty")
        penalty = {**(section if isinstance(section, Mapping) else {}), **penalty}
    else:
        penalty = None
    group_size = s.int(ORCH + "group_size", 1)
    sources = s.get(ORCH + "train.source", []) or []
    notes = []
    if not isinstance(sources, list) or not all(isinstance(x, Mapping) for x in sources):
        raise InputError(f"{ORCH}train.source={sources!r} is invalid: must be a list of tables")
    own = [(x.get("algo"), x.get("group_size")) for x in sources]
    if sources and (own[0][0] is not None or own[0][1] is not None):
        first_algo, first_m = own[0]
        if isinstance(first_algo, Mapping):
            algo = str(first_algo.get("type", "grpo"))
            lp = first_algo.get("length_penalty")
            penalty = dict(lp) if isinstance(lp, Mapping) else None
        group_size = int(first_m) if first_m is not None else group_size
    if len({repr(o) for o in own}) > 1:
        notes.append(
            f"the {len(sources)} train sources set their own algo / group_size: the card reads "
            "the first one's (each source is scored by its own algorithm, orchestrator.py:609-615)"
        )
    if group_size < 1:
        raise InputError(f"{ORCH}group_size={group_size!r} is invalid: must be an integer >= 1")
    return algo, penalty, group_size, notes


def _filters(s: Settings, key: str) -> dict[str, bool]:
    """{filter type: enforced} of a filter list (a list replaces the default one)."""
    value = s.get(key)
    if not isinstance(value, list):
        raise InputError(f"{key}={value!r} is invalid: must be a list of filter tables")
    out = {}
    for item in value:
        kind = item.get("type") if isinstance(item, Mapping) else None
        if kind not in _FILTER_ENFORCE:
            raise InputError(
                f"{key} entry {item!r} is invalid: type must be one of "
                + ", ".join(_FILTER_ENFORCE)
            )
        enforce = item.get("enforce", _FILTER_ENFORCE[kind])
        if not isinstance(enforce, bool):
            raise InputError(f"{key} {kind} enforce={enforce!r} is invalid: must be true or false")
        out[kind] = enforce
    return out


def _refuse_removed(s: Settings) -> None:
    old = [k for k in s.values if k.startswith(ORCH + "buffer.")]
    if old:
        raise InputError(
            f"{old[0]} is not a key of {s.table.label}: prime-rl's difficulty pools "
            "(buffer.easy_threshold, hard_threshold, easy_fraction, hard_fraction, "
            "online_difficulty_filtering; v0.5.0 src/prime_rl/configs/orchestrator.py:485-522) "
            "were removed in f6563ff0e (2026-06-01), before v0.8.0, the release rlxform reads"
        )


def read_prime_rl(s: Settings) -> RunConfig:
    """prime-rl's ``RLConfig`` keys (``orchestrator.*`` and ``trainer.*``)."""
    note = as_rl_keys(s)
    program = getattr(s, "program", None)
    if entry_prefix(program) == "trainer." or (note and "read as trainer." in note):
        raise InputError(
            f"{program or 'this file'}: a prime-rl trainer config holds no orchestrator keys: "
            "the algorithm, group size and batch are the orchestrator's (uv run orchestrator "
            "@ FILE, or the rl entry point's [orchestrator] section); explain that config"
        )
    _refuse_removed(s)
    algo, penalty, group_size, pitfalls = _algorithm(s)
    pitfalls = ([note] if note else []) + pitfalls
    if algo not in PRIME_RL_ALGOS:
        why = _NOT_MODELLED.get(algo)
        if why is None:
            raise InputError(
                f"{A}type={algo!r} is invalid: must be one of grpo, echo, max_rl, rae, "
                "hierarchical_grpo, opd, opsd, sft"
            )
        raise InputError(
            f"{A}type={algo!r} is not modelled by rlxform: prime-rl's {algo} is {why}; it "
            "models grpo, max_rl for outcome rewards"
        )
    if penalty is not None:
        _penalty_weights(lambda k: penalty.get(k.removeprefix(LP)) if k.startswith(LP) else None)
        if algo == "grpo":
            pitfalls.append(
                "orchestrator.algo.length_penalty shapes each reward before the baseline: "
                "r - mean(r) (w_out out/max out + w_in in/max in + w_turn turns/max turns) "
                "(grpo.py:29-41): an all-correct group gets negative advantages for its longer "
                "answers (frameworks.advantages restates it with the lengths)"
            )
        else:
            pitfalls.append("length_penalty is a grpo setting: max_rl does not read it")
            penalty = None
    batch, tokens = s.get(ORCH + "batch_size", None), s.get(ORCH + "token_batch_size", None)
    if batch is not None and tokens is not None:
        raise InputError(
            f"{ORCH}batch_size and {ORCH}token_batch_size are both set: prime-rl needs exactly one "
            "(orchestrator.py:665-670)"
        )
    if batch is None and tokens is None:
        batch = 128  # resolve_batching (orchestrator.py:672-673)
    top_m = s.int(ORCH + "group_size", 1)
    if batch is not None and (not isinstance(batch, int) or batch < 1 or batch % top_m):
        raise InputError(
            f"{ORCH}batch_size={batch!r} is invalid: must be a multiple of "
            f"{ORCH}group_size={top_m} (orchestrator.py:682-683)"
        )
    if group_size == 1:
        pitfalls.append(
            "orchestrator.group_size is 1 (prime-rl's default): every group is one answer, its "
            "advantage r - r = 0, and the zero-advantage filter drops it: nothing is trained "
            "(the shipped configs set group_size, e.g. 16)"
        )
    if algo == "max_rl":
        pitfalls.append(
            "max_rl divides r - q by the group's success rate q (no eps, max_rl.py:26-31): a lone "
            "success among M answers gets M - 1; the objective tends to log p"
        )
    pre, post = _filters(s, ORCH + "pre_batch_filters"), _filters(s, ORCH + "post_batch_filters")
    dynamic = pre.get("zero_advantage", False)
    filters = []
    if dynamic:
        filters.append(
            "pre_batch_filters zero_advantage (enforce): groups whose advantages are all 0 are "
            "dropped before they take a batch slot and the batch fills up with others "
            "(train_sink.py:221-240): dynamic sampling"
        )
    elif post.get("zero_advantage", False):
        default = "" if s.is_set(ORCH + "post_batch_filters") else ", on by default"
        filters.append(
            f"post_batch_filters zero_advantage (enforce{default}): rollouts whose advantages "
            "are all 0 are not sent to the trainer once the batch is assembled (train_sink.py:"
            "275-280, filters.py:99-110): the batch shrinks, it is not refilled; their "
            "advantages are 0 anyway, so only the step size changes (the token count drops)"
        )
    for where, table in (("pre", pre), ("post", post)):
        for kind, on in table.items():
            if on and kind in _FILTER_WHAT:
                filters.append(
                    f"{where}_batch_filters {kind} (enforce): drops {_FILTER_WHAT[kind]}"
                )
    pitfalls += filters
    if tokens is not None:
        pitfalls.append(
            "orchestrator.token_batch_size: each step trains on about that many tokens, so the "
            "number of answers per step (and per token-mean normaliser) varies with their length"
        )
    loss_type = s.str("trainer.loss.type", "default", ("default", "ipo", "custom"))
    return RunConfig(
        estimator=algo,
        group_size=group_size,
        std=StdNorm(False),
        aggregation="token-mean",
        updates_per_rollout=1,
        clip=Clip(math.inf, math.inf),
        kl=KLTerm(),
        dynamic_sampling=dynamic,
        scheme_params=(("group_size", group_size),) if group_size == 1 else (),
        reward_shaping=None if penalty is None else "length penalty (orchestrator.algo)",
        pitfalls=tuple(pitfalls),
        max_length=_max_length(s),
        loss=LossReading("trainer.loss.type", loss_type, s.table.label, None, _LOSS_WHY),
        filters=tuple(filters),
    )


_LOSS_WHY = (
    "rlxform's loss-mode reducer (rlxform.core.loss_modes) covers verl, TRL and OpenRLHF; "
    "prime-rl's default loss is -A pi/mu on the tokens inside the DPPO trust region (a token "
    "whose probability moved by more than dppo_mask_high up (A > 0) or dppo_mask_low down "
    "(A < 0) from the inference policy mu is masked) plus kl_tau (log pi/mu)^2, summed "
    "(src/prime_rl/trainer/rl/loss.py:109-161 in v0.8.0): no ratio clip (clip_low/high are "
    "inf here), and at pi = mu its gradient is -A grad log pi; ipo and custom losses are "
    "listed under Not modelled"
)


def _max_length(s: Settings) -> int | None:
    value = s.get(ORCH + "train.sampling.max_completion_tokens", None)
    return int_or_none(value if value is not None else s.get(ORCH + "seq_len", None))


def _env_ids(s: Settings) -> list[str]:
    out = []
    for source in s.get(ORCH + "train.source", []) or []:
        env = source.get("env", {}) if isinstance(source, Mapping) else {}
        taskset = env.get("taskset", {}) if isinstance(env, Mapping) else {}
        legacy = source.get("legacy", {}) if isinstance(source, Mapping) else {}
        name = (
            (taskset.get("id") if isinstance(taskset, Mapping) else None)
            or (env.get("id") if isinstance(env, Mapping) else None)
            or (legacy.get("id") if isinstance(legacy, Mapping) else None)
            or source.get("name")
        )
        out.append(str(name))
    return out


def prime_rl_rewards(s: Settings, extra: Any = None) -> tuple[bool | None, str]:
    """binary False with a length penalty (grpo), else None: the environments score."""
    algo, penalty, _, _ = _algorithm(s)
    if penalty is not None and algo == "grpo":
        return False, (
            "orchestrator.algo.length_penalty subtracts mean(r) x (w_out out/max out + ...) "
            "from every reward (grpo.py:29-41): shaped rewards depend on the lengths"
        )
    ids = _env_ids(s)
    if not ids:
        return None, (
            "no [[orchestrator.train.source]] in the config: the environment, and so the range "
            "of its rewards, is not known"
        )
    return None, (
        f"the verifiers environment(s) {', '.join(ids)} score the rollouts: their reward range "
        "is the environment's (a 0/1 verifier gives binary rewards)"
    )


def prime_rl_normaliser(s: Settings, run: RunConfig) -> Normaliser:
    """The rl loss is divided by the rl-token count of the whole step (train.py:312-334), one
    optimizer step per batch: every token of batch_size answers shares one normaliser."""
    batch = s.get(ORCH + "batch_size", None)
    if batch is None and s.get(ORCH + "token_batch_size", None) is not None:
        return Normaliser(
            "token-mean",
            None,
            "the tokens of one step, token_batch_size tokens (a varying number of answers; "
            "src/prime_rl/trainer/rl/train.py:312-334 in v0.8.0)",
        )
    answers = 128 if batch is None else batch
    return Normaliser(
        "token-mean",
        float(answers),
        "the tokens of one step, orchestrator.batch_size answers (less those a filter drops): "
        "compute_loss divides the rl loss by the global rl-token count "
        "(src/prime_rl/trainer/rl/train.py:312-334, loss.py:394 in v0.8.0), one optimizer "
        "step per batch",
    )


def active_defaults(s: Settings) -> list[dict[str, Any]]:
    """Enforced gibberish / repetition filters (memoryless, but on token ids and
    probabilities, which rlxform does not model)."""
    out = []
    for key in (ORCH + "pre_batch_filters", ORCH + "post_batch_filters"):
        for kind, on in _filters(s, key).items():
            if on and kind in _FILTER_WHAT:
                out.append(
                    {
                        "key": key,
                        "value": f"{kind} (enforce)",
                        "effect": f"drops {_FILTER_WHAT[kind]}: which answers train depends on "
                        "their tokens' probabilities",
                    }
                )
    return out


RECORD = Framework(
    name="prime_rl",
    title="prime-rl",
    data="prime_rl",
    programs=(
        "rl",
        "orchestrator",
        "trainer",
        "prime_rl.entrypoints.rl",
        "prime_rl.entrypoints.orchestrator",
        "prime_rl.entrypoints.trainer",
    ),
    markers=(
        "orchestrator.*",
        "trainer.loss.*",
        "algo.type",
        "algo.length_penalty.*",
        "max_off_policy_steps",
        "pre_batch_filters",
        "post_batch_filters",
        "train.source",
    ),
    arguments="argparse",
    read=read_prime_rl,
    rewards=prime_rl_rewards,
    normaliser=prime_rl_normaliser,
    rule=RULE,
    active=active_defaults,
    read_arguments=prime_rl_args,
    sections=(ORCH, "trainer."),
    notes=(
        "prime-rl 0.8.0 has no difficulty pools: buffer.easy_threshold / hard_threshold / "
        "online_difficulty_filtering (v0.5.0 src/prime_rl/configs/orchestrator.py:485-522) were "
        "removed in f6563ff0e, before v0.8.0; its filters are the rollout filters (gibberish, "
        "repetition, zero_advantage). The rae algorithm's per-agent EMA baselines (memory across "
        "steps) are not modelled: it is refused by name.",
    ),
)
