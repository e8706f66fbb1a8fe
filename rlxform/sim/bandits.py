"""Bandit policies over P prompts with K responses each; the first C responses are correct.

Three kinds behind the ``Policy`` protocol: ``scalar`` (one logit per prompt, K = 2,
p = sigmoid), ``tabular`` (K logits per prompt) and ``network`` (a Flax MLP from fixed random
prompt features to K logits, shared across prompts, plus per-prompt bias logits; the last layer
starts at zero). Initial parameters give p_x(theta_0) = the requested p exactly (to float32
rounding): correct logits log(p/C), wrong logits log((1-p)/(K-C)). A ``Group`` holds counts
per response ``float32[B, K]`` (inverse-CDF or multinomial-counts sampler, ``sim.sampling``).
The exact law is the softmax over the K one-token responses; the tabular kind also has
``fast_gradient``, the closed form of the generic route.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rlxform.core.sequence_tasks import Enumeration
from rlxform.sim.config import Problem
from rlxform.sim.policies import ExactLaw, Footprint, Group, Policy, initial_p
from rlxform.sim.sampling import (
    action_counts,
    counts_from_masses,
    sample_action_counts,
    sample_counts,
    softmax_cdf,
)
from rlxform.types import Array, ArrayLike, NDArray, PRNGKey, PyTree
from rlxform.validation import InputError, check_float


class _MLP(nn.Module):
    hidden: int
    num_responses: int

    @nn.compact
    def __call__(self, features: Array) -> Array:
        x = jnp.tanh(nn.Dense(self.hidden)(features))
        return nn.Dense(
            self.num_responses, kernel_init=nn.initializers.zeros, bias_init=nn.initializers.zeros
        )(x)


# ---- policies --------------------------------------------------------------------------------


def tabular_logits_for(init_p: ArrayLike, num_responses: int, num_correct: int) -> NDArray:
    """Logits ``float64[P, K]`` with softmax mass p spread evenly over the C correct responses."""
    p = np.asarray(init_p, np.float64)[:, None]
    correct = np.log(p / num_correct)
    wrong = np.log((1.0 - p) / (num_responses - num_correct))
    is_correct = np.arange(num_responses) < num_correct
    return np.where(is_correct, correct, wrong)


def init_params(key: PRNGKey, cfg: Problem, init_p: ArrayLike) -> PyTree:
    """Parameters with p_x(theta_0) = init_p[x].

    Args:
      key: PRNG key (network: prompt features and first-layer weights; unused otherwise).
      cfg: the policy config.
      init_p: ``float[P]`` requested success probabilities, strictly inside (0, 1).
    Returns:
      scalar ``{"logit": float32[P]}``; tabular ``{"logits": float32[P, K]}``; network
      ``{"mlp": flax params, "bias": float32[P, K], "features": float32[P, d]}``.
    """
    init_p = np.asarray(init_p, np.float64).reshape(-1)
    if init_p.shape[0] != cfg.num_prompts:
        raise InputError(
            f"init_p with {init_p.shape[0]} values is invalid: must have "
            f"num_prompts={cfg.num_prompts}"
        )
    for value in init_p:
        check_float("init_p", value, 0.0, 1.0, low_open=True, high_open=True)
    if cfg.policy == "scalar":
        return {"logit": jnp.asarray(np.log(init_p) - np.log1p(-init_p), jnp.float32)}
    table = tabular_logits_for(init_p, cfg.num_responses, cfg.num_correct)
    if cfg.policy == "tabular":
        return {"logits": jnp.asarray(table, jnp.float32)}
    feature_key, mlp_key = jax.random.split(key)
    features = jax.random.normal(feature_key, (cfg.num_prompts, cfg.features), jnp.float32)
    mlp = _MLP(cfg.hidden, cfg.num_responses).init(mlp_key, features)
    return {"mlp": mlp, "bias": jnp.asarray(table, jnp.float32), "features": features}


def logits(params: PyTree, cfg: Problem) -> Array:
    """Response logits ``float[P, K]`` (scalar: [theta, 0], so p = sigmoid(theta))."""
    if cfg.policy == "scalar":
        theta = params["logit"]
        return jnp.stack([theta, jnp.zeros_like(theta)], axis=-1)
    if cfg.policy == "tabular":
        return params["logits"]
    features = jax.lax.stop_gradient(params["features"])
    out = _MLP(cfg.hidden, cfg.num_responses).apply(params["mlp"], features)
    return out + params["bias"]


def p_correct_from_logits(logits_: ArrayLike, num_correct: int) -> Array:
    """p = sum of softmax mass on the first C responses: ``float[..., K] -> float[...]``."""
    logits_ = jnp.asarray(logits_)
    log_probs = jax.nn.log_softmax(logits_, axis=-1)
    return jnp.exp(jax.nn.logsumexp(log_probs[..., :num_correct], axis=-1))


def p_correct(params: PyTree, cfg: Problem) -> Array:
    """Success probability of each prompt, ``float[P]``."""
    if cfg.policy == "scalar":
        return jax.nn.sigmoid(params["logit"])
    return p_correct_from_logits(logits(params, cfg), cfg.num_correct)


# ---- the protocol --------------------------------------------------------------------------------


def sample_group(
    key: PRNGKey, logits_: Array, prompts: Array | None, group_size: int, sampler: str
) -> Group:
    """Counts per response of M draws per batch prompt from ``logits_ float[P, K]``.

    ``prompts`` None: all P in order. The inverse-CDF sampler counts the draws of
    ``sample_actions`` without a [B, M] scatter; ``"counts"`` draws multinomial counts directly.
    """
    batch_logits = logits_ if prompts is None else logits_[prompts]
    batch_logits = jax.lax.stop_gradient(batch_logits)
    if sampler == "counts":
        counts = sample_counts(key, batch_logits, group_size)
    else:
        counts = sample_action_counts(key, batch_logits, group_size)
    return Group(prompts, counts, None)


def bandit_policy(problem: Problem, sampler: str = "inverse_cdf") -> Policy:
    """The ``Policy`` of a scalar, tabular or network bandit (``sampler``: the count sampler)."""
    is_correct = jnp.arange(problem.num_responses) < problem.num_correct

    def init(key: PRNGKey) -> PyTree:
        pop_key, init_key = jax.random.split(key)
        return init_params(init_key, problem, initial_p(pop_key, problem))

    def sample(key, params, prompts, group_size):
        group = sample_group(key, logits(params, problem), prompts, group_size, sampler)
        return group._replace(rewards=is_correct)

    def log_prob(params, group):
        all_logits = logits(params, problem)
        batch = all_logits if group.prompts is None else all_logits[group.prompts]
        return jax.nn.log_softmax(batch, -1)

    def law_log_probs(params):
        return jax.nn.log_softmax(logits(params, problem), -1)

    fast = None
    if problem.policy == "tabular":

        def fast(key, params, a_table, b_table, group_size):
            route = _tabular_counts_gradient if sampler == "counts" else _tabular_cdf_gradient
            return route(key, params["logits"], problem, group_size, a_table, b_table)

    law = ExactLaw(
        responses(problem), law_log_probs, lambda params: law_log_probs(params)[..., None]
    )
    prefixes = lambda params: logits(params, problem)[:, None, :]  # one decision: [P, 1, K]
    p_of = lambda params: p_correct(params, problem)
    return Policy(init, sample, log_prob, p_of, law, fast, prefix_logits=prefixes)


def responses(problem: Problem) -> Enumeration:
    """The K one-token responses of a bandit (the first C correct) as an ``Enumeration``."""
    k = problem.num_responses
    tokens = np.arange(k, dtype=np.int32)[:, None]
    lengths = np.ones(k, np.int32)
    correct = np.arange(k) < problem.num_correct
    for arr in (tokens, lengths, correct):
        arr.setflags(write=False)
    return Enumeration(tokens, lengths, correct)


def footprint(problem: Problem, group_size: int) -> Footprint:
    """float32 elements of one run: logits P K (+ the MLP and the fixed features), sampling work
    P (K + M), and 4 P H activations of the network."""
    num_p, num_k, hidden = problem.num_prompts, problem.num_responses, problem.hidden
    params = num_p * num_k
    activations = 0
    if problem.policy == "network":
        params += (problem.features + 1) * hidden + (hidden + 1) * num_k + num_p * problem.features
        activations = 4 * num_p * hidden
    return Footprint(params, num_p * (num_k + group_size), activations)


# ---- the tabular closed form ---------------------------------------------------------------------


def _tabular_cdf_gradient(key, logits_, problem, group_size, a_table, b_table):
    """The closed-form tabular step with the inverse-CDF sampler, softmax computed once.

    d/dlogits mean_b sum_k sg(coef_k) log_softmax_k = (coef - (sum_k coef_k) probs) / P, with
    the same draws as ``sample_group``: S = sum of the first C counts, and
    sum_k coef_k = (S a[S] + (M-S) b[S]) / M in closed form (no reductions over the short K
    axis, slow on CPU). Returns ({"logits": float32[P, K]}, S int32[P]).
    """
    num_correct = problem.num_correct
    e, cdf = softmax_cdf(jax.lax.stop_gradient(logits_))
    int_counts = action_counts(key, cdf, group_size)
    s = _num_correct(int_counts, num_correct)
    counts = int_counts.astype(cdf.dtype)
    return _closed_form(e, cdf, counts, s, problem, group_size, a_table, b_table)


def _tabular_counts_gradient(key, logits_, problem, group_size, a_table, b_table):
    """The closed-form tabular step with the counts sampler, exp(logits - max) computed once."""
    num_correct = problem.num_correct
    e, cdf = softmax_cdf(jax.lax.stop_gradient(logits_))
    counts = counts_from_masses(key, e, group_size)
    s = jnp.round(_num_correct(counts, num_correct)).astype(jnp.int32)
    return _closed_form(e, cdf, counts, s, problem, group_size, a_table, b_table)


def _num_correct(counts, num_correct):
    """S = counts[:, 0] + ... + counts[:, C - 1], added one column at a time (no reduction over
    the short K axis, slow on CPU)."""
    s = counts[:, 0]
    for k in range(1, num_correct):
        s = s + counts[:, k]
    return s


def _closed_form(e, cdf, counts, s, problem, group_size, a_table, b_table):
    a_s, b_s = a_table[s], b_table[s]
    is_correct = jnp.arange(counts.shape[-1]) < problem.num_correct
    coef = counts * jnp.where(is_correct, a_s[:, None], b_s[:, None]) / group_size
    s_float = s.astype(coef.dtype)
    total = (s_float * a_s + (group_size - s_float) * b_s) / group_size
    probs = e / cdf[:, -1:]
    return {"logits": (coef - total[:, None] * probs) / problem.num_prompts}, s
