"""What a simulator run is: ``Problem`` (what is learned) nested in ``SimConfig`` (how).

``Problem`` and ``SimConfig`` are frozen dataclasses (static: shapes and code paths, one compile
each), validated once in ``__post_init__``; bad input raises ``validation.InputError``.
One config serves bandit policies (scalar | tabular | network: P prompts, K responses, C correct)
and sequence policies (sequence_tabular | sequence_network: V tokens, max_length, verifier);
fields of the other family are ignored. The traced numbers are ``sim.hparams.HParams`` (vmap
over a grid compiles once). ``Metrics`` is the recorded trajectory; sequence runs add two exact
length records (``SequenceMetrics``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from rlxform.core import schemes as schemes_lib
from rlxform.core.aggregation import AGGREGATION_ALIASES, AGGREGATIONS, check_aggregation
from rlxform.core.filters import check_switches
from rlxform.core.kl import ALIASES as KL_ALIASES
from rlxform.core.kl import ESTIMATORS as KL_ESTIMATORS
from rlxform.core.kl import PLACEMENTS as KL_PLACEMENTS
from rlxform.sim.kinds import BANDIT_POLICIES, KINDS, SEQUENCE_POLICIES
from rlxform.sim.metrics import Metrics, SequenceMetrics, extend_metrics  # noqa: F401
from rlxform.sim.population import check_population
from rlxform.validation import (
    InputError,
    check_choice,
    check_int,
    check_seed,
)

MAX_STEPS = 2**31 - 1  # lax.scan length and step counters are int32
OPTIMIZERS = ("sgd", "adam")
SAMPLER_CHOICES = ("auto", "inverse_cdf", "counts")  # SimConfig.sampler
STD_SCOPES = ("group", "batch", "none")
DEFAULT_CLIP = 0.2  # verl's clip_ratio: clip_low / clip_high when HParams leaves them None
COUNTS_RATIO = 8  # "auto" picks the counts sampler when M >= COUNTS_RATIO * K ...
# ... and the run samples B * M * T >= 2^26 responses: below that the inverse-CDF sampler runs
# it in under ~1 s on 2 CPU cores, less than the counts sampler's longer compile (~5-10 s)
AUTO_COUNTS_MIN_SAMPLES = 2**26


@dataclasses.dataclass(frozen=True)
class Problem:
    """What is being learned (static; nested in every run config, never copied).

    Attributes:
      policy: ``scalar | tabular | network | sequence_tabular | sequence_network``.
      num_prompts: P. num_responses: K >= 2 (scalar: 2). num_correct: C in [1, K-1]; responses
        0..C-1 are correct (bandits).
      hidden: H, MLP width (network) or GRU width (sequence_network). features: d (network).
      init_p: population of initial p: tuple (cycled over prompts), ("beta", a, b) or "grid".
      population_seed: seed of the population draw and of the network's initialisation (part of
        the problem: every run seed sees the same prompts).
      batch_size: B prompts per step (None = all P in order, else uniform with replacement).
      vocab_size: V, tokens 0..V-1 with V-1 = stop; max_length; verifier (sequences).
    """

    policy: str = "tabular"
    num_prompts: int = 1
    num_responses: int = 2
    num_correct: int = 1
    hidden: int = 32
    features: int = 16
    init_p: Any = (0.5,)
    population_seed: int = 0
    batch_size: int | None = None
    vocab_size: int = 3
    max_length: int = 4
    verifier: Any = "first_token"

    def __post_init__(self) -> None:
        check_choice("policy", self.policy, BANDIT_POLICIES + SEQUENCE_POLICIES)
        prompts = check_int("num_prompts", self.num_prompts, 1)
        check_int("hidden", self.hidden, 1)
        check_int("features", self.features, 1)
        object.__setattr__(self, "init_p", check_population(self.init_p))
        check_seed("population_seed", self.population_seed)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, 1, prompts)
        if self.is_sequence:
            self.task  # noqa: B018  (validates V, max_length, verifier and the enumeration)
            return
        k = check_int("num_responses", self.num_responses, 2)
        check_int("num_correct", self.num_correct, 1, k - 1)
        fixed = KINDS[self.policy].num_responses or k  # a kind may fix K (scalar: 2)
        if k != fixed:
            msg = f"num_responses={k!r} is invalid for policy {self.policy!r}: must be {fixed}"
            raise InputError(msg)

    @property
    def is_sequence(self) -> bool:
        return KINDS[self.policy].sequence

    @property
    def batch(self) -> int:
        """B, the number of prompts (groups) per step."""
        return self.num_prompts if self.batch_size is None else self.batch_size

    @property
    def task(self):
        """The ``SequenceTask`` (V, max_length, verifier) of a sequence policy."""
        return _task(self.vocab_size, self.max_length, self.verifier)


@functools.lru_cache(maxsize=64)
def _task(vocab_size: int, max_length: int, verifier: Any):
    from rlxform.core.sequence_tasks import SequenceTask, enumerate_sequences

    try:
        task = SequenceTask(vocab_size, max_length, verifier)
        enumerate_sequences(task)  # exact records need the enumeration (size limit)
    except ValueError as err:
        raise InputError(str(err)) from None
    return task


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Static simulator configuration (hashable; changing it recompiles).

    Attributes:
      scheme: a ``Scheme`` (or a catalog name, looked up with default parameters).
      problem: the ``Problem``.
      group_size: M samples per prompt and step. num_steps: T. optimizer: ``"sgd" | "adam"``.
      record_every: E, divides T; R = T / E + 1 records (step 0 included).
      dynamic_sampling: drop groups with S = 0 or S = M and average over the kept ones within
        the batch (no refill as in DAPO); bandits only (``rlxform.core.dynamic`` is its reference).
      sampler: ``"inverse_cdf"``, ``"counts"`` or ``"auto"`` (counts when M >= 8 K and the run
        samples B M T >= 2^26 responses, enough to repay the counts sampler's compile); bandits.
      aggregation: loss aggregation (``rlxform.core.aggregation``; all modes agree for bandits).
      batch_groups: G groups sharing one token-mean normaliser; divides B.
      kl_estimator: a ``rlxform.core.kl.ESTIMATORS`` name (k1, k2, k3, abs, k3_unclamped,
        k3_ratio, k1+, k3+, abs+, k1_unbiased, k2_unbiased, k3_unbiased) or a verl alias (kl,
        mse, low_var_kl, ...), stored canonical; used only when ``HParams.kl_coef`` is given
        (``rlxform.sim.kl_term``).
      kl_placement: ``loss`` (per token, added to the loss), ``reward`` (detached, subtracted
        from the reward before the advantage; schemes with a real-reward form only) or
        ``advantage`` (detached, subtracted from the advantage after it).
      ppo_epochs, num_minibatches: E and N of PPO's inner loop (``rlxform.sim.ppo_step``): one
        rollout batch, then E x N clipped-surrogate optimizer steps on minibatches of B / N
        groups; E = N = 1 is the plain update (bandit policies only when E N > 1).
      std_scope: std normalisation of std-normalised schemes: ``"group"`` (the scheme's own),
        ``"batch"`` (group-centred reward / (std of all B M rewards + eps), TRL
        ``scale_rewards="batch"``) or ``"none"`` (group-centred reward only).
      loss_mode: None (the surrogate above) or a trainer's loss, ``"framework:mode"``
        (``verl:gspo``, ``trl:cispo``; or a ``LossMode``), with ``loss_settings`` (framework keys:
        ``{"clip_ratio_high": 0.28}``): every update is that loss (``rlxform.sim.loss_mode``),
        on bandit and sequence policies, and ``aggregation`` becomes the mode's own. ``loss`` is
        (the ``LossMode``, its first update's scale; ``first_update``), (None, 1.0) without.
      vllm_mode (None: off), mask_truncated, overlong, entropy_filter: the filters of sequence
        policies, their numbers in ``HParams`` (``rlxform.sim.filters``).
    """

    scheme: Any
    problem: Problem = Problem()
    group_size: int = 8
    num_steps: int = 100
    optimizer: str = "sgd"
    record_every: int = 1
    dynamic_sampling: bool = False
    sampler: str = "auto"
    aggregation: str = "seq-mean-token-sum"
    batch_groups: int = 1
    kl_estimator: str = "k1"
    kl_placement: str = "loss"
    ppo_epochs: int = 1
    num_minibatches: int = 1
    std_scope: str = "group"
    loss_mode: Any = None
    loss_settings: Any = ()
    vllm_mode: str | None = None
    mask_truncated: bool = False
    overlong: bool = False
    entropy_filter: bool = False
    entropy_aggregation: str | None = None  # entropy bonus's; None: the loss's (sim.entropy_term)

    def __post_init__(self) -> None:
        scheme = schemes_lib.as_scheme(self.scheme)
        object.__setattr__(self, "scheme", scheme)
        if not isinstance(self.problem, Problem):
            raise InputError(f"problem={self.problem!r} is invalid: must be an rlxform Problem")
        scheme.check_group_size(self.group_size)
        steps = check_int("num_steps", self.num_steps, 1, MAX_STEPS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        every = check_int("record_every", self.record_every, 1, steps)
        if steps % every:
            raise InputError(f"record_every={every!r} is invalid: must divide num_steps={steps}")
        if not isinstance(self.dynamic_sampling, bool):
            raise InputError(f"dynamic_sampling={self.dynamic_sampling!r} is invalid: must be bool")
        if self.dynamic_sampling and self.problem.is_sequence:
            raise InputError(
                "dynamic_sampling=True is invalid for sequence policies: no exact reference is "
                "derived for it"
            )
        check_choice("sampler", self.sampler, SAMPLER_CHOICES)
        try:
            object.__setattr__(self, "aggregation", check_aggregation(self.aggregation))
        except ValueError as err:
            raise InputError(str(err)) from None
        check_choice("kl_estimator", self.kl_estimator, KL_ESTIMATORS + tuple(KL_ALIASES))
        object.__setattr__(
            self, "kl_estimator", KL_ALIASES.get(self.kl_estimator, self.kl_estimator)
        )
        check_choice("kl_placement", self.kl_placement, KL_PLACEMENTS)
        if self.kl_placement == "reward":
            scheme.check_real_reward("with kl_placement='reward'")
        groups = check_int("batch_groups", self.batch_groups, 1)
        if self.problem.batch % groups:
            raise InputError(
                f"batch_groups={groups!r} is invalid: must divide the batch of "
                f"{self.problem.batch} groups"
            )
        epochs = check_int("ppo_epochs", self.ppo_epochs, 1)
        minibatches = check_int("num_minibatches", self.num_minibatches, 1)
        if self.problem.batch % minibatches:
            raise InputError(
                f"num_minibatches={minibatches!r} is invalid: must divide the batch of "
                f"{self.problem.batch} groups"
            )
        _set_loss_mode(self)
        if epochs * minibatches > 1 and self.problem.is_sequence and self.loss_mode is None:
            name, value = ("ppo_epochs", epochs) if epochs > 1 else ("num_minibatches", minibatches)
            raise InputError(
                f"{name}={value!r} is invalid for sequence policies with the default surrogate "
                "(its ratios are per sequence): set loss_mode=..., e.g. 'verl:vanilla' (per token)"
            )
        check_choice("std_scope", self.std_scope, STD_SCOPES)
        if self.std_scope != "group" and not scheme.has_eps:
            raise InputError(
                f"std_scope={self.std_scope!r} is invalid for scheme {scheme.label}: it divides "
                "by no std (std-normalised schemes: grpo, f_grpo, verl grpo)"
            )
        check_switches(self, scheme)
        if (mode := self.entropy_aggregation) is not None:  # stored canonical
            check_choice("entropy_aggregation", mode, AGGREGATIONS + tuple(AGGREGATION_ALIASES))
            object.__setattr__(self, "entropy_aggregation", check_aggregation(mode))

    @property
    def is_ppo(self) -> bool:
        """True when PPO takes more than one optimizer step per rollout (E N > 1)."""
        return self.ppo_epochs * self.num_minibatches > 1

    @property
    def ppo_step(self) -> bool:
        """True when steps run ``rlxform.sim.ppo_step``'s inner loop (E N > 1 or a loss mode)."""
        return self.is_ppo or self.loss_mode is not None

    @property
    def loss(self) -> Any:
        """(``LossMode`` of ``loss_mode``, first update / plain update with ``aggregation``)."""
        return self.__dict__["_loss"]

    @classmethod
    def from_flat(cls, scheme: Any, **fields: Any) -> SimConfig:
        """A config from one flat mapping (workload lists, tests): ``Problem`` fields go to the
        problem, the rest here; an unknown name raises ``InputError`` naming the allowed ones."""
        problem_names = {f.name for f in dataclasses.fields(Problem)}
        own_names = {f.name for f in dataclasses.fields(cls)} - {"scheme", "problem"}
        unknown = sorted(set(fields) - problem_names - own_names)
        if unknown:
            allowed = ", ".join(sorted(problem_names | own_names))
            raise InputError(
                f"{unknown[0]}={fields[unknown[0]]!r} is unknown: must be one of {allowed}"
            )
        problem = Problem(**{k: v for k, v in fields.items() if k in problem_names})
        own = {k: v for k, v in fields.items() if k in own_names}
        return cls(scheme, problem, **own)

    # ---- derived values (computed from the nested problem, not copies of its fields) ----

    @property
    def batch(self) -> int:
        """B, the number of prompts per step."""
        return self.problem.batch

    @property
    def num_records(self) -> int:
        """R = T / record_every + 1 (the initial state is record 0)."""
        return self.num_steps // self.record_every + 1

    @property
    def resolved_sampler(self) -> str:
        if self.sampler != "auto":
            return self.sampler
        samples = self.batch * self.group_size * self.num_steps
        large_groups = self.group_size >= COUNTS_RATIO * self.problem.num_responses
        long_run = samples >= AUTO_COUNTS_MIN_SAMPLES
        return "counts" if large_groups and long_run else "inverse_cdf"


def _set_loss_mode(cfg: SimConfig) -> None:
    """Resolve ``loss_mode`` / ``loss_settings`` (``core.loss_modes.simulated.configure``)."""
    from rlxform.core.loss_modes.simulated import configure

    width = cfg.problem.max_length if cfg.problem.is_sequence else 1
    answers = cfg.batch_groups * cfg.group_size
    if cfg.loss_mode is not None and (cfg.batch // cfg.num_minibatches) % cfg.batch_groups:
        raise InputError(
            f"batch_groups={cfg.batch_groups!r} is invalid with loss_mode: must divide the "
            f"minibatch of {cfg.batch // cfg.num_minibatches} groups"
        )
    values = configure(cfg.loss_mode, cfg.loss_settings, width, answers, cfg.dynamic_sampling)
    for field, value in zip(
        ("loss_mode", "loss_settings", "aggregation", "_loss"), values, strict=True
    ):
        if value is not None:
            object.__setattr__(cfg, field, value)
