"""Bandit policies over P prompts with K responses each; the first C responses are correct.

Three kinds, each with ``init_params`` / ``logits`` / ``p_correct`` (pure functions of a params
pytree and a static ``PolicyConfig``): ``scalar`` (one logit per prompt, K = 2, p = sigmoid),
``tabular`` (K logits per prompt) and ``network`` (a Flax MLP from fixed random prompt features
to K logits, shared across prompts, plus per-prompt bias logits; the last layer starts at zero).
Initial parameters give p_x(theta_0) = the requested p exactly (to float32 rounding): correct
logits log(p/C), wrong logits log((1-p)/(K-C)). Fixed prompt features live under the params key
``"features"`` and are never trained (``partition`` / ``combine`` split them off).
Populations of initial p: an explicit list (cycled), ``("beta", alpha, beta)`` or ``"grid"``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rlxform.types import Array, ArrayLike, NDArray, PRNGKey, PyTree
from rlxform.validation import check_choice, check_float, check_int

POLICIES = ("scalar", "tabular", "network")
P_CLIP = 1e-6  # Beta draws are clipped into [P_CLIP, 1 - P_CLIP] so logits stay finite

PopulationSpec = Any  # tuple[float, ...] | tuple["beta", float, float] | "grid"


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
    """Static description of a policy.

    Attributes:
      kind: ``"scalar"``, ``"tabular"`` or ``"network"``.
      num_prompts: P >= 1.
      num_responses: K >= 2 (``scalar`` needs K = 2).
      num_correct: C in [1, K-1]; responses 0..C-1 are correct.
      hidden: H, hidden width of the network MLP.
      features: d, dimension of the fixed random prompt features (network).
    """

    kind: str = "tabular"
    num_prompts: int = 1
    num_responses: int = 2
    num_correct: int = 1
    hidden: int = 32
    features: int = 16

    def __post_init__(self) -> None:
        check_choice("policy", self.kind, POLICIES)
        check_int("num_prompts", self.num_prompts, 1)
        k = check_int("num_responses", self.num_responses, 2)
        check_int("num_correct", self.num_correct, 1, k - 1)
        check_int("hidden", self.hidden, 1)
        check_int("features", self.features, 1)
        if self.kind == "scalar" and k != 2:
            raise ValueError(f"num_responses={k!r} is invalid for policy 'scalar': must be 2")


class Policy(NamedTuple):
    """A policy as pure functions, like ``optax.GradientTransformation``."""

    init: Any  # (key, init_p float[P]) -> params
    logits: Any  # params -> float32[P, K]
    p_correct: Any  # params -> float32[P]


class _MLP(nn.Module):
    hidden: int
    num_responses: int

    @nn.compact
    def __call__(self, features: Array) -> Array:
        x = jnp.tanh(nn.Dense(self.hidden)(features))
        return nn.Dense(
            self.num_responses, kernel_init=nn.initializers.zeros, bias_init=nn.initializers.zeros
        )(x)


# ---- populations -----------------------------------------------------------------------------


def check_population(spec: PopulationSpec, name: str = "init_p") -> PopulationSpec:
    """Validate a population spec; returns it in canonical (hashable) form."""
    if isinstance(spec, str):
        check_choice(name, spec, ("grid",))
        return spec
    if isinstance(spec, tuple | list) and len(spec) > 0 and spec[0] == "beta":
        if len(spec) != 3:
            raise ValueError(f"{name}={spec!r} is invalid: must be ('beta', alpha, beta)")
        alpha = check_float(f"{name} alpha", spec[1], 0.0, low_open=True)
        beta = check_float(f"{name} beta", spec[2], 0.0, low_open=True)
        return ("beta", alpha, beta)
    values = np.atleast_1d(np.asarray(spec, dtype=object))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"{name}={spec!r} is invalid: must be a non-empty list of p, "
            "('beta', alpha, beta) or 'grid'"
        )
    return tuple(
        check_float(name, v, 0.0, 1.0, low_open=True, high_open=True) for v in values.tolist()
    )


def parse_init_p(text: str) -> PopulationSpec:
    """Parse the CLI forms ``"0.1,0.5"`` | ``"beta:A,B"`` | ``"grid"`` into a population spec."""
    text = str(text).strip()
    if text == "grid":
        return "grid"
    try:
        if text.startswith("beta:"):
            alpha, beta = (float(v) for v in text[5:].split(","))
            return check_population(("beta", alpha, beta))
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(
            f"init_p={text!r} is invalid: must be a comma list of p in (0, 1), 'beta:A,B' or 'grid'"
        ) from None
    return check_population(values)


def population(key: PRNGKey | None, spec: PopulationSpec, num_prompts: int) -> NDArray:
    """Initial success probabilities ``float64[P]`` for a population spec.

    Args:
      key: used only by ``("beta", alpha, beta)`` (may be None otherwise).
      spec: explicit values (cycled over the P prompts), ``("beta", a, b)`` or ``"grid"``
        (p_i = (i + 1/2) / P).
      num_prompts: P.
    """
    spec = check_population(spec)
    num_prompts = check_int("num_prompts", num_prompts, 1)
    if spec == "grid":
        return (np.arange(num_prompts) + 0.5) / num_prompts
    if spec[0] == "beta":
        if key is None:
            raise ValueError("key=None is invalid for init_p=('beta', ...): must be a PRNG key")
        draw = np.asarray(jax.random.beta(key, spec[1], spec[2], (num_prompts,)), np.float64)
        return np.clip(draw, P_CLIP, 1.0 - P_CLIP)
    values = np.asarray(spec, np.float64)
    return np.resize(values, num_prompts)


# ---- policies --------------------------------------------------------------------------------


def tabular_logits_for(init_p: ArrayLike, num_responses: int, num_correct: int) -> NDArray:
    """Logits ``float64[P, K]`` with softmax mass p spread evenly over the C correct responses."""
    p = np.asarray(init_p, np.float64)[:, None]
    correct = np.log(p / num_correct)
    wrong = np.log((1.0 - p) / (num_responses - num_correct))
    is_correct = np.arange(num_responses) < num_correct
    return np.where(is_correct, correct, wrong)


def init_params(key: PRNGKey, cfg: PolicyConfig, init_p: ArrayLike) -> PyTree:
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
        raise ValueError(
            f"init_p with {init_p.shape[0]} values is invalid: must have "
            f"num_prompts={cfg.num_prompts}"
        )
    for value in init_p:
        check_float("init_p", value, 0.0, 1.0, low_open=True, high_open=True)
    if cfg.kind == "scalar":
        return {"logit": jnp.asarray(np.log(init_p) - np.log1p(-init_p), jnp.float32)}
    table = tabular_logits_for(init_p, cfg.num_responses, cfg.num_correct)
    if cfg.kind == "tabular":
        return {"logits": jnp.asarray(table, jnp.float32)}
    feature_key, mlp_key = jax.random.split(key)
    features = jax.random.normal(feature_key, (cfg.num_prompts, cfg.features), jnp.float32)
    mlp = _MLP(cfg.hidden, cfg.num_responses).init(mlp_key, features)
    return {"mlp": mlp, "bias": jnp.asarray(table, jnp.float32), "features": features}


def logits(params: PyTree, cfg: PolicyConfig) -> Array:
    """Response logits ``float[P, K]`` (scalar: [theta, 0], so p = sigmoid(theta))."""
    if cfg.kind == "scalar":
        theta = params["logit"]
        return jnp.stack([theta, jnp.zeros_like(theta)], axis=-1)
    if cfg.kind == "tabular":
        return params["logits"]
    features = jax.lax.stop_gradient(params["features"])
    out = _MLP(cfg.hidden, cfg.num_responses).apply(params["mlp"], features)
    return out + params["bias"]


def p_correct_from_logits(logits_: ArrayLike, num_correct: int) -> Array:
    """p = sum of softmax mass on the first C responses: ``float[..., K] -> float[...]``."""
    logits_ = jnp.asarray(logits_)
    log_probs = jax.nn.log_softmax(logits_, axis=-1)
    return jnp.exp(jax.nn.logsumexp(log_probs[..., :num_correct], axis=-1))


def p_correct(params: PyTree, cfg: PolicyConfig) -> Array:
    """Success probability of each prompt, ``float[P]``."""
    if cfg.kind == "scalar":
        return jax.nn.sigmoid(params["logit"])
    return p_correct_from_logits(logits(params, cfg), cfg.num_correct)


def partition(params: PyTree) -> tuple[PyTree, PyTree]:
    """(trainable, constants): the fixed prompt features are split off (network only)."""
    trainable = {k: v for k, v in params.items() if k != "features"}
    constants = {k: v for k, v in params.items() if k == "features"}
    return trainable, constants


def combine(trainable: PyTree, constants: PyTree) -> PyTree:
    """Inverse of ``partition``."""
    return {**trainable, **constants}


def make_policy(cfg: PolicyConfig) -> Policy:
    """``Policy(init, logits, p_correct)`` closed over ``cfg``."""
    return Policy(
        init=lambda key, init_p: init_params(key, cfg, init_p),
        logits=lambda params: logits(params, cfg),
        p_correct=lambda params: p_correct(params, cfg),
    )
