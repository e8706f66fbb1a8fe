"""Exact expected KL step of the simulator (``kl_term``): the term exact ascent adds.

E[g] of a step with the KL term = E[g without it] + E[kl part], each exact:

* ``loss`` placement: E[kl part] = -beta grad_theta mean_x sum_y sg(pi_x(y) s_x(y))
  sum_t k(l_t(y)), s_x(y) = E[count f / M | y] summed over the M draws (a constant f when every
  sample shares it, bandits: 1; else E[f | y], ``exact_weights.aggregation_scale``), over the
  policy's exact law (a bandit's responses are one token long). The estimator's own expectation
  at rho = 1 (the simulator samples from the current params), which is the true reverse-KL
  gradient on one token for k2, k3_ratio and the "+" / "_unbiased" types, the forward one for
  k3, and 0 for k1 (``core.kl_audit``).
* ``reward`` placement, one-token policies (bandits): the whole step
  E[sum_n c_n Z_n(r - beta k) grad log pi_n] / M summed exactly over the C(M+K-1, K-1) count
  vectors of each prompt's multinomial group (every real-reward scheme, GRPO included; replaces
  the binary-table step).
* ``reward`` placement, sequences with a per-sample aggregation factor f(y): reinforce, rloo and
  mean_baseline are linear in the rewards, so E[kl part] =
  -beta c sum_y pi(y) f(y) (k(y) - b E_pi[k]) grad log pi(y), (c, b) = (1, 0), (1, 1),
  ((M-1)/M, 1). GRPO on real rewards or token-mean sequences has no closed form here
  (``InputError``).
* ``advantage`` placement (A_n - beta sg(k_n), every scheme, bandits and sequences):
  E[kl part] = -beta sum_y pi(y) s(y) k(y) grad log pi(y), s as for ``loss``.

``with_kl`` adds the step to a mean step of ``rlxform.sim.exact`` (``make_exact`` uses it).
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from rlxform.core.kl import kl_estimate
from rlxform.sim import policies
from rlxform.sim.ascent import policy_of
from rlxform.sim.config import SimConfig
from rlxform.sim.exact_weights import aggregation_scale
from rlxform.types import Array, PyTree
from rlxform.validation import InputError

MAX_COUNT_VECTORS = 1 << 16


def check_exact_kl(cfg: SimConfig) -> None:
    """InputError when exact ascent has no exact KL step for ``cfg``."""
    if cfg.dynamic_sampling:
        raise InputError(
            "dynamic_sampling=True is invalid with a KL term for exact ascent: no exact reference "
            "is derived for it"
        )
    if cfg.kl_placement != "reward":  # loss and advantage: a closed form for every scheme
        return
    if policy_of(cfg).token_log_prob is not None:  # responses of several tokens
        if cfg.scheme.real_reward_linear(cfg.group_size) is None or cfg.aggregation == "token-mean":
            raise InputError(
                f"scheme={cfg.scheme.name!r} with aggregation={cfg.aggregation!r} is invalid with "
                "kl_placement='reward' for exact ascent on sequences: needs a scheme linear in the "
                "reward (reinforce, rloo, mean_baseline) and a per-sample aggregation"
            )
        return
    k, m = cfg.problem.num_responses, cfg.group_size
    if _num_vectors(k, m) > MAX_COUNT_VECTORS:
        raise InputError(
            f"group_size={m!r} is invalid for exact KL-in-reward ascent with K={k}: "
            f"C(M+K-1, K-1) must be <= {MAX_COUNT_VECTORS}"
        )


def _num_vectors(k: int, m: int) -> int:
    from math import comb

    return comb(m + k - 1, k - 1)


@functools.lru_cache(maxsize=16)
def count_vectors(k: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(all count vectors ``int[V, K]`` summing to M, log multinomial coefficients ``float[V]``)."""
    from math import lgamma

    rows = [c for c in itertools.product(range(m + 1), repeat=k) if sum(c) == m]
    counts = np.array(rows, np.int64)
    log_coef = np.array([lgamma(m + 1) - sum(lgamma(c + 1) for c in row) for row in rows])
    return counts, log_coef


def _token_log_probs_all(params: PyTree, cfg: SimConfig) -> tuple[Array, np.ndarray]:
    """log pi(y_t | y_<t) of every response ``float[P, N, L]`` and its live mask (exact law)."""
    law = policy_of(cfg).exact_law
    return law.token_log_probs(params), law.live


def _bandit_reward_step(params, ref_params, cfg, beta, eps):
    """Whole exact step (PG + KL in the reward) of a bandit, over all count vectors."""
    law = policy_of(cfg).exact_law
    counts_np, log_coef = count_vectors(law.responses.lengths.shape[0], cfg.group_size)
    trainable, frozen = policies.partition(params)
    ref_lp = law.log_probs(ref_params)  # [P, K]
    rewards = law.responses.correct.astype(np.float64)

    def surrogate(tr):
        lp = law.log_probs(policies.combine(tr, frozen))
        fixed = jax.lax.stop_gradient(lp)
        penalty = kl_estimate(cfg.kl_estimator, fixed - jax.lax.stop_gradient(ref_lp))  # [P, K]
        real = rewards.astype(lp.dtype) - beta * penalty  # [P, K]
        counts = jnp.asarray(counts_np, lp.dtype)  # [V, K]
        z = cfg.scheme.real_reward_weights(
            jnp.broadcast_to(real[:, None, :], (lp.shape[0], *counts.shape)),
            counts[None],
            cfg.group_size,
            eps,
        )  # [P, V, K]
        prob = jnp.exp(jnp.asarray(log_coef, lp.dtype)[:, None] + counts @ fixed.T).T  # [P, V]
        per_vector = jnp.sum(counts * z * lp[:, None, :], -1) / cfg.group_size  # [P, V]
        return jnp.mean(jnp.sum(prob * per_vector, -1))

    return jax.grad(surrogate)(trainable)


def _aggregation_scale(probs: Array, cfg: SimConfig) -> Array | float:
    """E[f | y] per prompt and response ``float[P, N]``, or the constant f (bandits: 1)."""
    return aggregation_scale(probs, cfg, policy_of(cfg))


def kl_step(params: PyTree, ref_params: PyTree, cfg: SimConfig, beta, eps) -> PyTree | None:
    """E[kl part] of one step (module docstring), like the trainable params; None when the
    bandit reward placement replaces the whole step (``whole_step``)."""
    trainable, frozen = policies.partition(params)
    ref_params = jax.lax.stop_gradient(ref_params)
    ref_tokens, live = _token_log_probs_all(ref_params, cfg)

    def seq_penalty(tr):
        tokens, _ = _token_log_probs_all(policies.combine(tr, frozen), cfg)
        values = jnp.where(live, kl_estimate(cfg.kl_estimator, tokens - ref_tokens), 0.0)
        per_response = jnp.sum(values, -1)  # [P, N]
        log_pi = jnp.sum(tokens, -1)
        probs = jax.lax.stop_gradient(jnp.exp(log_pi))
        scale = jax.lax.stop_gradient(_aggregation_scale(probs, cfg))
        if cfg.kl_placement == "loss":
            return jnp.mean(jnp.sum(probs * scale * per_response, -1))
        if cfg.kl_placement == "advantage":  # no baseline on the KL part
            c, b = 1.0, 0.0
        else:
            c, b = cfg.scheme.real_reward_linear(cfg.group_size)  # Z = c (r - b mean of others)
        fixed = jax.lax.stop_gradient(per_response)
        mean_k = jnp.sum(probs * fixed, -1, keepdims=True)
        return jnp.mean(jnp.sum(probs * scale * c * (fixed - b * mean_k) * log_pi, -1))

    grads = jax.grad(seq_penalty)(trainable)
    return jax.tree_util.tree_map(lambda g: -beta * g, grads)


def whole_step(cfg: SimConfig) -> bool:
    """True when the KL step replaces the PG step (one-token policy, reward placement)."""
    return cfg.kl_placement == "reward" and policy_of(cfg).token_log_prob is None


def bandit_reward_step(params, ref_params, cfg, beta, eps):
    """The whole exact step of a bandit with KL in the reward (``_bandit_reward_step``)."""
    return _bandit_reward_step(params, ref_params, cfg, beta, eps)


def with_kl(step_fn, cfg: SimConfig, ref_params: PyTree, beta, eps):
    """``step_fn(params, x) -> (E[step], aux)`` plus the exact expected KL step against
    ``ref_params`` with coefficient ``beta`` (possibly traced); checks ``cfg`` first."""
    check_exact_kl(cfg)

    def step(params, x):
        grads, aux = step_fn(params, x)
        if whole_step(cfg):
            return bandit_reward_step(params, ref_params, cfg, beta, eps), aux
        extra = kl_step(params, ref_params, cfg, beta, eps)
        return jax.tree_util.tree_map(jnp.add, grads, extra), aux

    return step
