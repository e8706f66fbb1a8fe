"""The policy protocol: ``Policy(init, sample, log_prob, p_correct)`` around a ``Group``.

A policy kind is a factory ``Problem -> Policy`` registered with ``@register("name")``;
``make_policy(problem)`` looks it up (bandits in ``rlxform.sim.bandits``: scalar, tabular,
network; sequences in ``rlxform.sim.sequence_groups``: sequence_tabular, sequence_network).
``sample`` draws one step's ``Group`` (bandits: counts per response; sequences: tokens, lengths),
``log_prob`` gives log pi of each drawn item, differentiable in the params. Params are a dict;
fixed parts (the network's prompt features, key ``"features"``) are split off by ``partition``
and never trained. Optional capabilities: ``fast_gradient`` (tabular closed form, tested equal
to the generic route) and ``length_stats`` (sequence records).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from rlxform.sim.config import BANDIT_POLICIES, SEQUENCE_POLICIES, Problem
from rlxform.sim.population import (  # noqa: F401  (re-exported)
    P_CLIP,
    PopulationSpec,
    check_population,
    parse_init_p,
    population,
)
from rlxform.types import Array, NDArray, PRNGKey, PyTree
from rlxform.validation import InputError, check_choice

POLICIES = BANDIT_POLICIES
FROZEN_KEYS = ("features",)  # params entries that are never trained


class Group(NamedTuple):
    """What one step drew: B groups (one per batch prompt) of N items each.

    Attributes:
      prompts: ``int32[B]`` prompt of each group, or None (all P prompts in order).
      counts: ``float32[B, N]`` multiplicity of each item (bandits: N = K responses, summing to
        M), or None (sequences: each of the N = M samples once).
      rewards: ``bool[B, N]`` (or ``bool[N]``, broadcast) item is correct.
      lengths: ``int32[B, N]`` tokens per item, or None (bandits: 1).
      tokens, nodes: ``int32[B, M, max_length]`` sequences only (PAD after the end; node = prefix
        index at which the token was chosen).
    """

    prompts: Array | None
    counts: Array | None
    rewards: Array
    lengths: Array | None = None
    tokens: Array | None = None
    nodes: Array | None = None


class Policy(NamedTuple):
    """A policy as pure functions, like ``optax.GradientTransformation``.

    Attributes:
      init: ``key -> params`` with p_x(theta_0) = the problem's population (key: the problem's).
      sample: ``(key, params, prompts int32[B] | None, group_size) -> Group``.
      log_prob: ``(params, group) -> float[B, N]``, log pi of each item of the group.
      p_correct: ``params -> float[P]``.
      fast_gradient: optional ``(key, params, a_table, b_table, group_size) -> (grads, S)``, a
        closed form of the generic route for a full batch (tabular).
      length_stats: optional ``params -> (p, E[L | correct], E[L | wrong])``, each ``float[P]``.
      token_log_prob: optional ``(params, group) -> (float[B, N, L], live bool[B, N, L])``, log pi
        per token (sequences; the KL loss). None: one token per item, ``log_prob[..., None]``.
    """

    init: Callable[[PRNGKey], PyTree]
    sample: Callable[..., Group]
    log_prob: Callable[[PyTree, Group], Array]
    p_correct: Callable[[PyTree], Array]
    fast_gradient: Callable[..., tuple[PyTree, Array]] | None = None
    length_stats: Callable[[PyTree], tuple[Array, Array, Array]] | None = None
    token_log_prob: Callable[[PyTree, Group], tuple[Array, Array]] | None = None


_REGISTRY: dict[str, Callable[..., Policy]] = {}


def register(name: str):
    """Decorator registering a ``factory(problem, **options) -> Policy`` under ``name``."""

    def wrap(factory):
        _REGISTRY[name] = factory
        return factory

    return wrap


def make_policy(problem: Problem, **options: Any) -> Policy:
    """The ``Policy`` of ``problem.policy`` (options: ``sampler`` for bandits)."""
    if not isinstance(problem, Problem):
        raise InputError(f"problem={problem!r} is invalid: must be an rlxform Problem")
    check_choice("policy", problem.policy, tuple(_REGISTRY))
    return _REGISTRY[problem.policy](problem, **options)


def partition(params: PyTree) -> tuple[PyTree, PyTree]:
    """(trainable, frozen): the fixed prompt features are split off (network only)."""
    trainable = {k: v for k, v in params.items() if k not in FROZEN_KEYS}
    frozen = {k: v for k, v in params.items() if k in FROZEN_KEYS}
    return trainable, frozen


def combine(trainable: PyTree, frozen: PyTree) -> PyTree:
    """Inverse of ``partition``."""
    return {**trainable, **frozen}


def initial_p(key: PRNGKey, problem: Problem) -> NDArray:
    """Population of initial p, ``float64[P]``, drawn with ``key`` (beta only)."""
    return population(key, problem.init_p, problem.num_prompts)


# the kinds register themselves; re-export the bandit functions (rlxform.sim.policies callers)
from rlxform.sim import bandits as _bandits  # noqa: E402
from rlxform.sim import sequence_groups as _sequence_groups  # noqa: E402,F401
from rlxform.sim.bandits import (  # noqa: E402
    init_params,
    logits,
    p_correct,
    p_correct_from_logits,
    tabular_logits_for,
)

assert set(_REGISTRY) == set(BANDIT_POLICIES + SEQUENCE_POLICIES), _bandits
__all__ = [
    "Group",
    "Policy",
    "check_population",
    "combine",
    "init_params",
    "logits",
    "make_policy",
    "p_correct",
    "p_correct_from_logits",
    "parse_init_p",
    "partition",
    "population",
    "register",
    "tabular_logits_for",
]
