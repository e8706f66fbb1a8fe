"""The entropy bonus in the simulator (issue 24 item 5): a hand case, the sampled step's mean
against the exact expected update of ``rlxform.core.entropy`` (float64) within standard errors,
exact ascent stopping at ``entropy_equilibrium``, entropy_coef = 0 / None, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlxform.core import entropy as core_entropy
from rlxform.core.entropy import entropy_equilibrium
from rlxform.core.sequences import enumerate_sequences, prefix_indices, response_log_probs
from rlxform.sim import entropy_term, estimator
from rlxform.sim.ascent import initial_params, policy_of, tables
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.exact import make_exact
from rlxform.sim.hparams import HParams
from rlxform.sim.policies import Group
from rlxform.sim.simulate import make_simulate
from rlxform.validation import InputError

DRAWS = 4000


def _entropy_part(cfg: SimConfig, coef, draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    """The entropy part of ``draws`` sampled steps at theta_0: the step with the bonus minus the
    step without it on the same key (same draws): ``float64[coefs, draws, ...]`` of the logits,
    one compiled program for every coefficient (traced)."""
    policy = policy_of(cfg)
    params = initial_params(cfg)
    a_table, b_table = tables(cfg)

    def part(key, c):
        with_bonus, _ = estimator.sample_gradient(
            key, params, policy, cfg, a_table, b_table, use_fast=False, entropy=c
        )
        without, _ = estimator.sample_gradient(
            key, params, policy, cfg, a_table, b_table, use_fast=False
        )
        return with_bonus["logits"] - without["logits"]

    keys = jax.random.split(jax.random.key(seed), draws)
    run = jax.jit(jax.vmap(part, in_axes=(0, None)))
    return np.stack(
        [np.asarray(run(keys, jnp.float32(c)), np.float64) for c in np.atleast_1d(coef)]
    )


def test_group_bonus_by_hand():
    # two groups of M = 2 on a V = 3, L = 2 tree, token-mean over both groups (G = 2)
    problem = Problem("sequence_tabular", num_prompts=2, vocab_size=3, max_length=2)
    cfg = SimConfig("grpo", problem, group_size=2, aggregation="token-mean", batch_groups=2)
    table = np.zeros((2, 3, 3), np.float32)
    table[1, 0] = [1.0, 0.0, -1.0]
    policy = policy_of(cfg)._replace(prefix_logits=lambda params: params)
    stop, pad = 2, -1
    tokens = jnp.array([[[stop, pad], [0, stop]], [[1, 1], [stop, pad]]])
    nodes = jnp.array([[[0, -1], [0, 1]], [[0, 2], [0, -1]]])
    lengths = jnp.array([[1, 2], [2, 1]])
    group = Group(jnp.arange(2), None, jnp.zeros((2, 2), bool), lengths, tokens, nodes)
    h0 = np.log(3.0)
    p = np.exp([1.0, 0.0, -1.0]) / np.exp([1.0, 0.0, -1.0]).sum()
    h_prompt1_root = -np.sum(p * np.log(p))
    # token-mean over the block: all 6 tokens' entropies / 6, then the mean over the B = 2 groups
    # of (1/M) sum_i f_i sum_t H with f = G M / 6 = 4/6: (1/2)(1/2)(4/6)(sum of H) = sum / 6
    total = 3 * h0 + 2 * h_prompt1_root + h0  # prompt 0: H(root) twice + H(node 1); prompt 1
    bonus = jax.jit(  # one program, not one eager compile per primitive
        lambda table, group: entropy_term.add_bonus(0.0, 0.5, policy, table, group, cfg, None)
    )
    got = bonus(table, group)
    np.testing.assert_allclose(float(got), 0.5 * total / 6, rtol=1e-6)


def _drawn_groups(cfg: SimConfig, draws: int, seed: int = 0) -> Group:
    """``draws`` batches of B = P groups of M responses drawn in NumPy from the exact law at
    theta_0 (independent of the simulator's sampler): a ``Group`` with a leading draw axis."""
    task = cfg.problem.task
    enum = enumerate_sequences(task)
    probs = np.exp(response_log_probs(np.asarray(initial_params(cfg)["logits"], float), task))
    rng = np.random.default_rng(seed)
    shape = (draws, cfg.batch, cfg.group_size)
    index = np.stack(
        [rng.choice(len(row), size=shape[::2], p=row / row.sum()) for row in probs], axis=1
    )  # [draws, B, M]
    prompts = np.broadcast_to(np.arange(cfg.batch, dtype=np.int32), shape[:2])
    return Group(
        jnp.asarray(prompts),
        None,
        jnp.asarray(enum.correct[index]),
        jnp.asarray(enum.lengths[index]),
        jnp.asarray(enum.tokens[index]),
        jnp.asarray(prefix_indices(task)[index]),
    )


@pytest.mark.parametrize(
    "aggregation,entropy_aggregation,groups",
    [
        ("seq-mean-token-mean", None, 1),  # verl: the loss's own aggregation
        ("seq-mean-token-mean", "token-mean", 2),  # TRL grpo: 1/L loss, token-mean bonus
    ],
)
def test_bonus_mean_over_drawn_batches_equals_the_exact_expected_update(
    aggregation, entropy_aggregation, groups
):
    # two prompts with the same start, so a token-mean block's other group has the same law
    problem = Problem("sequence_tabular", 2, vocab_size=3, max_length=3, init_p=(0.3,))
    cfg = SimConfig(
        "grpo",
        problem,
        group_size=3,
        aggregation=aggregation,
        batch_groups=groups,
        entropy_aggregation=entropy_aggregation,
    )
    coef, policy, params = 0.5, policy_of(cfg), initial_params(cfg)

    def step(group):
        bonus = lambda p: entropy_term.add_bonus(0.0, coef, policy, p, group, cfg, None)
        return jax.grad(bonus)(params)["logits"]

    parts = np.asarray(jax.jit(jax.vmap(step))(_drawn_groups(cfg, DRAWS)), np.float64)
    mean, se = parts.mean(0), parts.std(0, ddof=1) / np.sqrt(parts.shape[0])
    logits = np.asarray(params["logits"], np.float64)
    mode = entropy_aggregation or aggregation
    exact = core_entropy.expected_entropy_update(
        mode, 3, coef, logits, problem.task, batch_groups=groups
    )
    exact = exact / problem.num_prompts  # the step is the mean over the B = P groups
    assert (np.abs(mean - exact) / np.maximum(se, 1e-7)).max() < 4.5
    assert np.abs(exact).max() > 20 * se.max()  # a real signal, not noise around 0
    # the simulator's own exact step (exact ascent) is the same number in float32
    exact_sim = jax.jit(lambda p: entropy_term.exact_step(p, cfg, policy, coef))(params)
    np.testing.assert_allclose(np.asarray(exact_sim["logits"]), exact, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize(
    "aggregation,entropy_aggregation,groups",
    [("seq-mean-token-mean", None, 1), ("seq-mean-token-mean", "token-mean", 2)],
)
def test_simulator_step_mean_equals_the_exact_expected_update(
    aggregation, entropy_aggregation, groups
):
    # the same through the simulator's sampler and estimator.sample_gradient (slow_cases.txt)
    problem = Problem("sequence_tabular", 2, vocab_size=3, max_length=3, init_p=(0.3,))
    cfg = SimConfig(
        "grpo",
        problem,
        group_size=3,
        aggregation=aggregation,
        batch_groups=groups,
        entropy_aggregation=entropy_aggregation,
    )
    (parts,) = _entropy_part(cfg, 0.5)
    mean, se = parts.mean(0), parts.std(0, ddof=1) / np.sqrt(parts.shape[0])
    logits = np.asarray(initial_params(cfg)["logits"], np.float64)
    exact = core_entropy.expected_entropy_update(
        entropy_aggregation or aggregation, 3, 0.5, logits, problem.task, batch_groups=groups
    )
    exact = exact / problem.num_prompts
    assert (np.abs(mean - exact) / np.maximum(se, 1e-7)).max() < 4.5


def test_bandit_bonus_with_dynamic_sampling_and_random_batches():  # slow_cases.txt
    # B = 2 of P = 3 prompts with replacement, groups with S = 0 or M dropped: E[step] =
    # c sum_x c_x P(kept_x) grad H_x (entropy_term.exact_step); sampled mean within 4.5 SE
    problem = Problem("tabular", 3, num_responses=3, init_p=(0.2, 0.5, 0.9), batch_size=2)
    cfg = SimConfig("grpo", problem, group_size=4, dynamic_sampling=True)
    (parts,) = _entropy_part(cfg, 0.7)
    mean, se = parts.mean(0), parts.std(0, ddof=1) / np.sqrt(parts.shape[0])
    exact_step = jax.jit(lambda p: entropy_term.exact_step(p, cfg, policy_of(cfg), 0.7))
    exact = np.asarray(exact_step(initial_params(cfg))["logits"])
    assert (np.abs(mean - exact) / np.maximum(se, 1e-7)).max() < 4.5
    assert np.abs(exact).max() > 20 * se.max()


def test_full_batch_bandit_bonus_is_c_grad_entropy_exactly():
    problem = Problem("tabular", 2, num_responses=4, num_correct=2, init_p=(0.3, 0.6))
    cfg = SimConfig("rloo", problem, group_size=5)
    parts, zero = _entropy_part(cfg, [0.25, 0.0], draws=3)
    logits = np.asarray(initial_params(cfg)["logits"], np.float64)
    want = 0.25 * core_entropy.entropy_logit_gradient(logits) / 2  # mean over the 2 prompts
    np.testing.assert_allclose(parts, np.broadcast_to(want, parts.shape), atol=2e-7)
    np.testing.assert_array_equal(zero, 0.0)  # c = 0: the step without the bonus, bitwise


@pytest.mark.parametrize(
    "policy,responses,scheme,coef,lr",
    [("scalar", 2, "grpo", 2.0, 2.0), ("tabular", 4, "rejection_sampling", 0.5, 4.0)],
)
def test_long_exact_ascent_stops_at_entropy_equilibrium(policy, responses, scheme, coef, lr):
    problem = Problem(policy, num_prompts=1, num_responses=responses, init_p=(0.3,))
    cfg = SimConfig(scheme, problem, group_size=8, num_steps=1000, record_every=1000)
    p_end = float(make_exact(cfg)(HParams(lr, entropy_coef=coef)).mean_p[-1])
    target = entropy_equilibrium(scheme, 8, coef, init_p=0.3, num_responses=responses)
    assert abs(p_end - target) < 1e-6, (p_end, target)
    assert abs(target - 0.3) > 0.15  # a real move, not the start


@pytest.mark.parametrize("policy", ["tabular", "sequence_tabular"])
def test_entropy_coef_zero_is_bitwise_the_run_without_it(policy):
    # slow_cases.txt (two compiles of the simulator each)
    problem = Problem(policy=policy, num_prompts=2, num_responses=3, init_p=(0.3, 0.6))
    cfg = SimConfig("grpo", problem, group_size=4, num_steps=10)
    fn = make_simulate(cfg, sparse=False)
    key = jax.random.key(3)
    off, zero = fn(HParams(0.3), key), fn(HParams(0.3, entropy_coef=0.0), key)
    for a, b in zip(off, zero, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    on = fn(HParams(0.3, entropy_coef=2.0), key)
    assert float(on.mean_p[-1]) < float(off.mean_p[-1])  # the bonus holds p back


def test_bad_entropy_input_names_the_field():
    fn = make_simulate(SimConfig("grpo", num_steps=2))
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(InputError, match="entropy_coef"):
            fn(HParams(0.1, entropy_coef=bad), jax.random.key(0))
    with pytest.raises(InputError, match=r"entropy_aggregation='mean' is invalid"):
        SimConfig("grpo", entropy_aggregation="mean")
    assert SimConfig("grpo", entropy_aggregation="trl:dapo").entropy_aggregation == "token-mean"
    ppo = SimConfig("grpo", num_steps=2, ppo_epochs=2)
    with pytest.raises(InputError, match=r"entropy_coef is invalid with ppo_epochs=2"):
        make_simulate(ppo)(HParams(0.1, entropy_coef=0.1), jax.random.key(0))
    batch_std = SimConfig("grpo", Problem(num_prompts=2), num_steps=2, std_scope="batch")
    with pytest.raises(InputError, match=r"entropy_coef is invalid with std_scope='batch'"):
        make_simulate(batch_std)(HParams(0.1, entropy_coef=0.1), jax.random.key(0))
