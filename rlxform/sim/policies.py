"""The policy protocol ``Policy(init, sample, log_prob, p_correct, ...)``, built from the kinds.

``sim.kinds.KINDS`` is the one list of policy kinds (factory and footprint, loaded on first use,
so this module loads no kind). ``make_policy(problem)`` builds the
``Policy``: ``sample`` draws one step's ``Group`` (bandits: counts per response; sequences:
tokens, lengths), ``log_prob`` gives log pi of each drawn item, differentiable in the params.
Capabilities answer what callers would otherwise ask a policy's name: ``exact_law`` (the law
over every response, for exact references), ``length_stats`` (sequence records),
``token_log_prob`` (per-token log pi: the KL term), ``fast_gradient`` (tabular closed form),
``sparse_sgd``, ``large_params`` and ``prefix_logits`` (full next-token distributions: the
entropy bonus). Params are a dict; fixed parts (the network's prompt features, key
``"features"``) are split off by ``partition`` and never trained.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from rlxform.core.sequence_tasks import Enumeration
from rlxform.sim.config import Problem
from rlxform.sim.kinds import KINDS, POLICIES, PolicyKind
from rlxform.sim.population import population
from rlxform.types import Array, NDArray, PRNGKey, PyTree
from rlxform.validation import InputError, check_choice

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


class ExactLaw(NamedTuple):
    """A policy's law over its whole (finite) set of responses: what exact references ask.

    Attributes:
      responses: the N responses (static NumPy ``Enumeration``: tokens ``int32[N, L]`` with
        PAD = -1 after the end, lengths ``int32[N]``, correct ``bool[N]``); a bandit's are its K
        one-token responses (L = 1).
      log_probs: ``params -> float[P, N]``, log pi_x(y) of every response, differentiable.
      token_log_probs: ``params -> float[P, N, L]``, log pi(y_t | y_<t), 0 after the end.
    """

    responses: Enumeration
    log_probs: Callable[[PyTree], Array]
    token_log_probs: Callable[[PyTree], Array]

    @property
    def max_length(self) -> int:
        return int(self.responses.tokens.shape[1])

    @property
    def live(self) -> NDArray:
        """``bool[N, L]``: position t is a token of response y."""
        return np.arange(self.max_length)[None, :] < self.responses.lengths[:, None]


class Policy(NamedTuple):
    """A policy as pure functions, like ``optax.GradientTransformation``.

    Attributes:
      init: ``key -> params`` with p_x(theta_0) = the problem's population (key: the problem's).
      sample: ``(key, params, prompts int32[B] | None, group_size) -> Group``.
      log_prob: ``(params, group) -> float[B, N]``, log pi of each item of the group.
      p_correct: ``params -> float[P]``.
      exact_law: the ``ExactLaw`` over every response (exact references), or None.
      fast_gradient: optional ``(key, params, a_table, b_table, group_size) -> (grads, S)``, a
        closed form of the generic route for a full batch (tabular).
      length_stats: optional ``params -> (p, E[L | correct], E[L | wrong])``, each ``float[P]``.
      token_log_prob: optional ``(params, group) -> (float[B, N, L], live bool[B, N, L])``, log pi
        per token (sequences; the KL loss). None: one token per item, ``log_prob[..., None]``.
      sparse_sgd: params are ``{"logits": prefix table}`` drawn by ``sample_token_probs``, so an
        SGD step may run as the in-place scatter of ``rlxform.sim.sequence_sparse``.
      large_params: the initial params are a large table: jitted runs keep them out of XLA's
        constant folding (``optimization_barrier``).
      token_entropy: optional ``(params, group) -> float[B, N, L]``, the entropy of the policy
        at each drawn token's prefix (sequences; TRL's top_entropy_quantile filter).
      prefix_logits: optional ``params -> float[P, D, V]``, next-token logits at each of the D
        decision points (sequences: every prefix, ``core.sequences`` order; bandits: D = 1, V =
        K): the full distributions the entropy bonus needs (``rlxform.sim.entropy_term``).
    """

    init: Callable[[PRNGKey], PyTree]
    sample: Callable[..., Group]
    log_prob: Callable[[PyTree, Group], Array]
    p_correct: Callable[[PyTree], Array]
    exact_law: ExactLaw | None = None
    fast_gradient: Callable[..., tuple[PyTree, Array]] | None = None
    length_stats: Callable[[PyTree], tuple[Array, Array, Array]] | None = None
    token_log_prob: Callable[[PyTree, Group], tuple[Array, Array]] | None = None
    sparse_sgd: bool = False
    large_params: bool = False
    token_entropy: Callable[[PyTree, Group], Array] | None = None
    prefix_logits: Callable[[PyTree], Array] | None = None


class Footprint(NamedTuple):
    """float32 elements one run holds (``rlxform.resources.simulation_bytes``): ``params`` (each
    with its gradient and optimizer state), per-step sampling ``work``, network
    ``activations``."""

    params: int
    work: int
    activations: int


def _load(reference: str) -> Callable[..., Any]:
    module, name = reference.split(":")
    return getattr(importlib.import_module(module), name)


def _kind(problem: Problem) -> PolicyKind:
    if not isinstance(problem, Problem):
        raise InputError(f"problem={problem!r} is invalid: must be an rlxform Problem")
    check_choice("policy", problem.policy, POLICIES)
    return KINDS[problem.policy]


def make_policy(problem: Problem, **options: Any) -> Policy:
    """The ``Policy`` of ``problem.policy`` (options: ``sampler``, the bandits' count sampler)."""
    return _load(_kind(problem).factory)(problem, **options)


def footprint(problem: Problem, group_size: int) -> Footprint:
    """What one run of ``problem`` with groups of ``group_size`` holds (``Footprint``)."""
    return _load(_kind(problem).footprint)(problem, group_size)


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


__all__ = [
    "ExactLaw",
    "Footprint",
    "Group",
    "Policy",
    "combine",
    "footprint",
    "initial_p",
    "make_policy",
    "partition",
]
