"""kl_equilibrium against the long exact ascent of rlxform's own reference (issue 24).

For every scheme, estimator and placement ``kl_equilibrium`` accepts: the mean step of
``sim.exact.mean_step`` plus the exact KL step of ``sim.kl_exact.with_kl`` (what
``make_exact`` iterates), on a tabular two-answer policy in float64, iterated from pi_ref: 60000
steps at learning rate 2, then 20000 with the rate decaying geometrically to 1e-11 (GRPO with
eps = 0 on penalised rewards keeps the size of its update and only flips its sign, so a
constant rate would circle the stopping point). One program per (M, estimator, placement), the
schemes' tables, beta and eps traced (``reward``: one program per scheme, whose real-reward form
is static); three reference accuracies are the three prompts of one run. The full grid is in
tests/slow_cases.txt; the default set keeps the issue's cases (GRPO, KL in the reward, eps 0 and
verl's 1e-6; TRL's k3_ratio) and the k3 clamp.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xla_flags

from rlxform.core import kl, schemes
from rlxform.core.registry import Scheme
from rlxform.frameworks.verl_rule import from_verl
from rlxform.sim import exact, kl_exact
from rlxform.sim.ascent import policy_of
from rlxform.sim.config import Problem, SimConfig

M = 5
P_REFS = np.array([0.1, 0.3, 0.5])
BETAS = (1.0, 0.3)
STEPS, DECAY_STEPS, LR0, LR_END = 80000, 20000, 2.0, 1e-11

TABLE_SCHEMES = {  # every registered rule, once (loss and advantage: tables traced)
    "reinforce": schemes.reinforce(),
    "rloo": schemes.rloo(),
    "mean_baseline": schemes.mean_baseline(),
    "grpo": schemes.grpo(),
    "grpo_verl": schemes.grpo(std="sample", eps=1e-6),
    "rejection_sampling": schemes.rejection_sampling(),
    "maxrl": schemes.maxrl(),
    "pass_at_2": schemes.pass_at_k(2),
    "psr": schemes.psr(),
    "nsr": schemes.nsr(),
    "w_reinforce": schemes.w_reinforce(0.5),
    "f_grpo": schemes.f_grpo(1.0),
    "minus_r": schemes.custom(lambda r, s, m: -float(r)),  # w < 0: ascent lowers p
    "zero_at_half": schemes.custom(lambda r, s, m: r * (m - 2 * s + 1) / m),  # w(1/2) = 0
    "designed_log": schemes.design("log", M),
    "batch_std": Scheme.make("batch_std", framework="trl", estimator="batch", batch_std=0.45),
    "verl_grpo": from_verl("grpo"),
    "verl_grpo_passk": from_verl("grpo_passk"),
}
# reward placement: the schemes with a real-reward form, eps traced where the rule has one
REWARD_SCHEMES = {
    "reinforce": (schemes.reinforce(), (0.0,)),
    "rloo": (schemes.rloo(), (0.0,)),
    "mean_baseline": (schemes.mean_baseline(), (0.0,)),
    "grpo_population": (schemes.grpo(), (0.0, 1e-3)),
    "grpo_sample": (schemes.grpo(std="sample", eps=1e-6), (0.0, 1e-6)),
    "verl_grpo": (from_verl("grpo"), (1e-6,)),
    "verl_grpo_vectorized": (from_verl("grpo_vectorized"), (1e-6,)),
    "verl_rloo": (from_verl("rloo"), (1e-6,)),
    "verl_no_std": (from_verl("grpo", norm_adv_by_std_in_grpo=False), (1e-6,)),
    # TRL RLOO with reward_weights [1.5]: 1.5 rloo on the 0/1 scale (its reward gap is the card's)
    "trl_rloo_scaled": (Scheme.make("trl_rloo", scale=1.5), (0.0,)),
}
LOSS_ESTIMATORS = tuple(e for e in kl.ESTIMATORS if e != "abs")
K1_VALUED = ("k1", "k1+", "k1_unbiased")

PROBLEM = Problem(policy="tabular", num_prompts=len(P_REFS), num_responses=2, init_p=(0.3,) * 3)


@functools.cache
def _ascent(scheme: Scheme, estimator: str, placement: str):
    """Jitted ``(a, b, beta, eps) -> (p_end float[P], d logit p / dt at the end float[P])``,
    vmapped over the leading axis of its arguments."""
    cfg = SimConfig(scheme, PROBLEM, group_size=M, kl_estimator=estimator, kl_placement=placement)
    policy = policy_of(cfg)
    decay = (LR_END / LR0) ** (1.0 / DECAY_STEPS)
    logits0 = jnp.asarray(np.stack([np.log(P_REFS), np.log1p(-P_REFS)], -1), jnp.float64)

    def run(a_table, b_table, beta, eps):
        params0 = {"logits": logits0}
        step = exact.mean_step(cfg, policy, a_table, b_table)
        step = kl_exact.with_kl(step, cfg, params0, beta, eps)

        def body(t, carry):
            params, lr = carry
            grads, _ = step(params, None)
            params = jax.tree_util.tree_map(lambda p, g: p + lr * g, params, grads)
            return params, jnp.where(t >= STEPS - DECAY_STEPS, lr * decay, lr)

        params, _ = jax.lax.fori_loop(0, STEPS, body, (params0, jnp.float64(LR0)))
        grads = step(params, None)[0]["logits"]
        return policy.p_correct(params), grads[:, 0] - grads[:, 1]

    return jax.jit(jax.vmap(run), compiler_options=xla_flags.LOOP_OPTIONS)


def _check(p_end, slope, scheme, beta, estimator, placement):
    for p_ref, got, up in zip(P_REFS, p_end, slope, strict=True):
        want = kl.kl_equilibrium(scheme, M, beta, p_ref, estimator=estimator, placement=placement)
        where = f"{scheme.label} {estimator}/{placement} beta={beta} p_ref={p_ref}"
        if want > 0.999:  # p* = 1 (or rounds to it): ascent still climbing (w_M may vanish at 1)
            assert got > 0.9 and up > 0.0, (where, got, want)
        elif want < 0.001:  # p* = 0 (w_M < 0 throughout, no KL force): still falling
            assert got < 0.1 and up < 0.0, (where, got, want)
        else:
            assert got == pytest.approx(want, abs=1e-8), where
        assert abs(got - p_ref) > 1e-3 or abs(want - p_ref) < 1e-9, where  # a real move


def _run_tables(estimator: str, placement: str):
    names = list(TABLE_SCHEMES)
    pairs = [(name, beta) for name in names for beta in BETAS]
    tables = [TABLE_SCHEMES[name].tables(M) for name, _ in pairs]
    a = jnp.asarray(np.stack([t[0] for t in tables]))
    b = jnp.asarray(np.stack([t[1] for t in tables]))
    betas = jnp.asarray([beta for _, beta in pairs], jnp.float64)
    p_end, slope = _ascent(schemes.reinforce(), estimator, placement)(a, b, betas, betas * 0.0)
    for i, (name, beta) in enumerate(pairs):
        _check(
            np.asarray(p_end[i]),
            np.asarray(slope[i]),
            TABLE_SCHEMES[name],
            beta,
            estimator,
            placement,
        )


@pytest.mark.parametrize("estimator", LOSS_ESTIMATORS)
def test_loss_placement_equals_long_exact_ascent(x64, estimator):
    _run_tables(estimator, "loss")


@pytest.mark.parametrize("estimator", K1_VALUED)
def test_advantage_placement_equals_long_exact_ascent(x64, estimator):
    _run_tables(estimator, "advantage")


@pytest.mark.parametrize("estimator", K1_VALUED)
@pytest.mark.parametrize("name", list(REWARD_SCHEMES))
def test_reward_placement_equals_long_exact_ascent(x64, name, estimator):
    scheme, eps_values = REWARD_SCHEMES[name]
    pairs = [(beta, eps) for beta in BETAS for eps in eps_values]
    a, b = (jnp.asarray(np.stack([t] * len(pairs))) for t in scheme.tables(M))
    betas = jnp.asarray([beta for beta, _ in pairs], jnp.float64)
    eps = jnp.asarray([e for _, e in pairs], jnp.float64)
    p_end, slope = _ascent(scheme, estimator, "reward")(a, b, betas, eps)
    for i, (beta, _) in enumerate(pairs):
        _check(np.asarray(p_end[i]), np.asarray(slope[i]), scheme, beta, estimator, "reward")
        # independent of M: logit p* - logit p_ref = 1 / beta
        logit = np.log(p_end[i]) - np.log1p(-p_end[i])
        np.testing.assert_allclose(logit - np.log(P_REFS / (1 - P_REFS)), 1.0 / beta, atol=1e-7)


@pytest.mark.parametrize("estimator", ["k3", "k3_unclamped"])
def test_k3_clamp_lifts_the_forward_kl_off_the_wrong_answers(x64, estimator):
    # beta = 0.05: the forward root (~0.97) has k3 of the wrong answer above 10; verl's clamp
    # zeroes its gradient there and ascent runs to 1, TRL's unclamped k3 stops at the root
    scheme = TABLE_SCHEMES["grpo_verl"]
    a, b = (jnp.asarray(t[None]) for t in scheme.tables(M))
    beta = jnp.asarray([0.05])
    p_end, slope = _ascent(schemes.reinforce(), estimator, "loss")(a, b, beta, beta * 0.0)
    _check(np.asarray(p_end[0]), np.asarray(slope[0]), scheme, 0.05, estimator, "loss")
    want = [
        kl.kl_equilibrium(scheme, M, 0.05, p, estimator=estimator, placement="loss") for p in P_REFS
    ]
    assert (min(want) == 1.0) == (estimator == "k3")


def test_kl_in_the_reward_tilts_a_k_answer_reference(x64):
    # K = 4 answers, C = 2 correct, a reference that is not uniform within a class: GRPO with
    # eps = 0 on penalised rewards stops where every r'(y) = r(y) - beta l(y) is equal, the tilt
    # pi* ∝ pi_ref exp(r / beta) (kl_equilibrium's proof: the spread max r' - min r' falls)
    problem = Problem(policy="tabular", num_prompts=1, num_responses=4, num_correct=2)
    cfg = SimConfig(schemes.grpo(), problem, group_size=M, kl_estimator="k1", kl_placement="reward")
    policy = policy_of(cfg)
    logits0 = jnp.asarray([[0.3, -1.1, 0.4, -0.2]], jnp.float64)
    decay = (LR_END / LR0) ** (1.0 / DECAY_STEPS)
    beta = 0.7

    @jax.jit
    def run(logits):
        params0 = {"logits": logits}
        a, b = (jnp.asarray(t) for t in cfg.scheme.tables(M))
        step = kl_exact.with_kl(exact.mean_step(cfg, policy, a, b), cfg, params0, beta, None)

        def body(t, carry):
            params, lr = carry
            grads, _ = step(params, None)
            params = jax.tree_util.tree_map(lambda p, g: p + lr * g, params, grads)
            return params, jnp.where(t >= STEPS - DECAY_STEPS, lr * decay, lr)

        return jax.lax.fori_loop(0, STEPS, body, (params0, jnp.float64(LR0)))[0]["logits"]

    probs = np.asarray(jax.nn.softmax(run(logits0)[0]))
    ref = np.asarray(jax.nn.softmax(logits0[0]))
    correct = np.array([1.0, 1.0, 0.0, 0.0])
    tilt = ref * np.exp(correct / beta)
    np.testing.assert_allclose(probs, tilt / tilt.sum(), atol=1e-8)
    p_ref = float(ref @ correct)
    assert probs @ correct == pytest.approx(kl.kl_equilibrium(cfg.scheme, M, beta, p_ref), abs=1e-8)
