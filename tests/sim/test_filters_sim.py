"""The filters in the simulator (``rlxform.sim.filters``): the mean of many sampled steps at fixed
params lies within standard errors of the exact expected update of ``core.filter_updates``
(sequences) or of the range-masked dynamic-sampling step (bandits); a filter that does nothing
reproduces the plain step on the same draws; bad combinations are refused by name.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlxform.core import filter_updates as fu
from rlxform.core import filters as core_filters
from rlxform.core.sequences import num_prefixes, prefix_mass, response_log_probs
from rlxform.sim import estimator
from rlxform.sim import filters as sim_filters
from rlxform.sim.ascent import policy_of, tables
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams
from rlxform.sim.simulate import make_simulate
from rlxform.validation import InputError

SEQ = Problem(policy="sequence_tabular", vocab_size=3, max_length=3, verifier="parity")


def _table(seed, prompts=1, scale=1.0):
    rng = np.random.default_rng(seed)
    one = scale * rng.standard_normal((num_prefixes(SEQ.task), SEQ.vocab_size))
    return np.broadcast_to(one, (prompts, *one.shape)).astype(np.float32), one


def _sampled(cfg, hparams, logits, num):
    """Mean and standard error of ``num`` sampled step directions at ``logits`` (one compile)."""
    policy = policy_of(cfg)
    a_table, b_table = tables(cfg, hparams.eps)
    state = sim_filters.filter_state(cfg, hparams)
    params = {"logits": jnp.asarray(logits)}

    def one(key):
        grads, _ = estimator.sample_gradient(
            key, params, policy, cfg, a_table, b_table, filters=state
        )
        return grads["logits"]

    draws = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(1), num)))
    draws = draws.astype(np.float64)
    return draws.mean(0), draws.std(0, ddof=1) / np.sqrt(num)


def _z(mean, se, exact):
    assert np.abs(exact).max() > 1e-2
    return np.abs(mean - exact) / np.maximum(se, 1e-9)


def test_composed_sequence_filters_match_the_exact_update():
    """vLLM sequence mask + mask_truncated + overlong shaping, token-mean, GRPO (TRL's eps)."""
    cfg = SimConfig(
        "grpo",
        problem=SEQ,
        group_size=4,
        aggregation="token-mean",
        vllm_mode="sequence_mask",
        mask_truncated=True,
        overlong=True,
    )
    hparams = HParams(
        0.1,
        vllm_cap=1.3,
        mismatch_sd=0.25,
        mismatch_mean=0.02,
        overlong_buffer=2.0,
        overlong_factor=0.5,
    )
    logits, _ = _table(0)
    mean, se = _sampled(cfg, hparams, logits, 20_000)
    filters = fu.Filters(
        vllm_mode="sequence_mask",
        vllm_cap=1.3,
        mismatch_sd=0.25,
        mismatch_mean=0.02,
        mask_truncated=True,
        overlong_buffer=2.0,
        overlong_factor=0.5,
    )
    exact = fu.FilteredRule(cfg.scheme, "token-mean", 4, filters).expected_update(
        logits[0].astype(np.float64), SEQ.task
    )
    z = _z(mean[0], se[0], exact)
    print(f"max |z| = {z.max():.2f} over {z.size} coordinates")
    assert z.max() < 4.5, z.max()


@pytest.mark.parametrize("mode", ["token_truncate", "token_mask", "sequence_truncate"])
def test_vllm_modes_match_the_exact_update(mode):
    """Each other vLLM mode with a lower bound, seq-mean-token-mean (TRL's grpo), RLOO."""
    cfg = SimConfig(
        "rloo", problem=SEQ, group_size=3, aggregation="seq-mean-token-mean", vllm_mode=mode
    )
    hparams = HParams(0.1, vllm_cap=1.25, vllm_cap_min=0.8, mismatch_sd=0.2, mismatch_mean=0.01)
    logits, _ = _table(11)
    mean, se = _sampled(cfg, hparams, logits, 20_000)
    filters = fu.Filters(
        vllm_mode=mode, vllm_cap=1.25, vllm_cap_min=0.8, mismatch_sd=0.2, mismatch_mean=0.01
    )
    exact = fu.FilteredRule(cfg.scheme, cfg.aggregation, 3, filters).expected_update(
        logits[0].astype(np.float64), SEQ.task
    )
    z = _z(mean[0], se[0], exact)
    print(f"max |z| = {z.max():.2f} over {z.size} coordinates")
    assert z.max() < 4.5, z.max()


def test_entropy_filter_matches_the_population_quantile():
    """32 prompts share one table: the batch quantile of ~500 tokens lands on the population
    atom (1 - rho is chosen mid-gap of the token-weighted entropy law), so the mean step is
    the exact update with the population threshold (each prompt's share: 1 / P)."""
    prompts = 32
    problem = Problem(
        policy="sequence_tabular",
        vocab_size=3,
        max_length=3,
        verifier="parity",
        num_prompts=prompts,
    )
    logits, table = _table(4, prompts, scale=1.5)
    probs = np.exp(response_log_probs(table, SEQ.task))
    visits = prefix_mass(SEQ.task, probs).sum(-1)
    entropies = core_filters.prefix_entropies(table)
    order = np.argsort(entropies)
    cdf = np.cumsum(visits[order]) / visits.sum()
    gaps = np.diff(np.concatenate([[0.0], cdf]))
    k = int(np.argmax(np.where((cdf > 0.25) & (cdf < 0.8), gaps, 0)))
    rho = 1.0 - (cdf[k] - gaps[k] / 2)  # 1 - rho in the middle of the jump at atom k
    cfg = SimConfig("grpo", problem=problem, group_size=4, entropy_filter=True)
    hparams = HParams(0.1, entropy_quantile=rho)
    mean, se = _sampled(cfg, hparams, logits, 3000)
    exact = fu.FilteredRule(
        cfg.scheme, cfg.aggregation, 4, fu.Filters(entropy_quantile=rho)
    ).expected_update(table, SEQ.task)
    z = _z(prompts * mean.sum(0) / prompts, se.sum(0) / np.sqrt(prompts), exact)
    print(f"max |z| = {z.max():.2f} over {z.size} coordinates")
    assert z.max() < 4.5, z.max()


def test_range_filter_on_a_bandit_matches_its_exact_mean_step():
    """dynamic_sampling with low < S/M < high, full batch of 4 prompts: the mean step is
    sum_x kappa_x w°(p_x) grad p_x with the range-masked tables (``range_mean_step``)."""
    problem = Problem(policy="tabular", num_prompts=4, num_responses=3, init_p=(0.2, 0.4, 0.6, 0.8))
    cfg = SimConfig("grpo", problem=problem, group_size=5, dynamic_sampling=True)
    hparams = HParams(0.1, range_low=0.3, range_high=0.9)
    params = simulate_initial(cfg)
    policy = policy_of(cfg)
    a_table, b_table = tables(cfg, None)
    state = sim_filters.filter_state(cfg, hparams)

    def one(key):
        return estimator.sample_gradient(key, params, policy, cfg, a_table, b_table, filters=state)[
            0
        ]["logits"]

    draws = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(2), 40_000)))
    step = sim_filters.range_mean_step(cfg, policy, a_table, b_table, hparams, None)
    exact = np.asarray(jax.jit(step)(params, None)[0]["logits"], np.float64)
    se = draws.std(0, ddof=1) / np.sqrt(draws.shape[0])
    z = _z(draws.mean(0), se, exact)
    print(f"max |z| = {z.max():.2f} over {z.size} coordinates")
    assert z.max() < 4.5, z.max()


def simulate_initial(cfg):
    from rlxform.sim.ascent import initial_params

    return initial_params(cfg)


def test_a_filter_that_does_nothing_is_the_plain_step_on_the_same_draws():
    """token_truncate with no mismatch (sd 0, mean 0) gives weight 1: same groups, same step."""
    cfg = SimConfig("grpo", problem=SEQ, group_size=4, aggregation="seq-mean-token-mean")
    filtered = SimConfig(
        "grpo",
        problem=SEQ,
        group_size=4,
        aggregation="seq-mean-token-mean",
        vllm_mode="token_truncate",
    )
    logits, _ = _table(7)
    params = {"logits": jnp.asarray(logits)}
    key = jax.random.key(3)
    a_table, b_table = tables(cfg, None)
    state = sim_filters.filter_state(filtered, HParams(0.1, mismatch_sd=0.0))

    @jax.jit
    def both(key):
        plain = estimator.sample_gradient(key, params, policy_of(cfg), cfg, a_table, b_table)
        same = estimator.sample_gradient(
            key, params, policy_of(filtered), filtered, a_table, b_table, filters=state
        )
        return plain, same

    (plain, s), (same, s2) = both(key)
    np.testing.assert_array_equal(s, s2)
    np.testing.assert_allclose(same["logits"], plain["logits"], rtol=1e-5, atol=1e-6)


def test_simulator_weights_follow_the_trainer_rules():
    """One sampled batch (one small compile): the simulator's coefficients and token
    weights equal the rules recomputed in NumPy float64 on the same draws: shaped rewards
    through GRPO's real-reward form, token-mean over stopped answers only, the vLLM weight of
    the same noise, the entropy mask of the batch quantile."""
    cfg = SimConfig(
        "grpo",
        problem=SEQ,
        group_size=4,
        aggregation="token-mean",
        vllm_mode="sequence_mask",
        mask_truncated=True,
        overlong=True,
        entropy_filter=True,
    )
    hparams = HParams(
        0.1,
        vllm_cap=1.2,
        mismatch_sd=0.3,
        overlong_buffer=2.0,
        overlong_factor=0.5,
        entropy_quantile=0.5,
    )
    state = sim_filters.filter_state(cfg, hparams)
    logits, table = _table(9)
    params = {"logits": jnp.asarray(np.concatenate([logits] * 3))}
    policy = policy_of(cfg)
    a_table, b_table = tables(cfg, None)
    key = jax.random.key(5)

    @jax.jit
    def draw(key):
        group = policy.sample(key, params, jnp.arange(3, dtype=jnp.int32), 4)
        coef, _ = sim_filters._coefficients(group, cfg, a_table, b_table, state)
        weights = sim_filters.token_filter_weights(key, params, policy, group, cfg, state)
        return group, coef, weights

    group, coef, weights = draw(key)
    tokens, lengths = np.asarray(group.tokens), np.asarray(group.lengths)
    rewards = np.asarray(group.rewards, np.float64)
    stopped = tokens[np.arange(3)[:, None], np.arange(4)[None, :], lengths - 1] == 2
    shaped = rewards + np.minimum(-(lengths - 1.0) / 2.0 * 0.5, 0.0)
    z = np.asarray(cfg.scheme.real_reward_weights(shaped, None, 4), np.float64)
    expected = np.where(
        stopped, 4 / np.maximum((lengths * stopped).sum(-1, keepdims=True), 1) * z / 4, 0.0
    )
    np.testing.assert_allclose(np.asarray(coef), expected, rtol=2e-6, atol=1e-7)
    live = tokens >= 0
    noise = np.asarray(jax.random.normal(key, tokens.shape, jnp.float32), np.float64)
    vllm = core_filters.vllm_weights("sequence_mask", 0.3 * noise, live, 1.2)
    cond = np.exp(table - table.max(-1, keepdims=True))
    cond /= cond.sum(-1, keepdims=True)
    entropy = -(cond * np.log(cond)).sum(-1)[np.where(live, np.asarray(group.nodes), 0)]
    counted = live & stopped[..., None]
    kept = live & (np.where(live, entropy, 0.0) >= np.quantile(entropy[counted], 0.5))
    np.testing.assert_allclose(np.asarray(weights), vllm * kept, rtol=2e-5, atol=1e-6)
    assert 0 < kept[counted].mean() < 1 and (vllm[live] == 0).any() | (vllm[live] > 0).all()


def test_masked_quantile_traced_equals_numpy():
    rng = np.random.default_rng(0)
    values = rng.random((6, 5)).astype(np.float32)
    mask = rng.random((6, 5)) < 0.5
    got = jax.jit(core_filters.masked_quantile)(values, mask, 0.3)
    assert float(got) == pytest.approx(np.quantile(values[mask], 0.3), rel=1e-6)


def test_filter_free_run_takes_the_plain_program():
    cfg = SimConfig("grpo", problem=SEQ, group_size=4)
    assert sim_filters.filter_state(cfg, HParams(0.1)) is None
    assert sim_filters.filter_state(cfg, HParams(0.1, vllm_cap=2.0)) is None  # switch off


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: SimConfig("grpo", group_size=4, vllm_mode="sequence_mask"),
            "vllm_mode='sequence_mask' is invalid for policy='tabular'",
        ),
        (
            lambda: SimConfig("grpo", problem=SEQ, group_size=4, vllm_mode="seq"),
            "vllm_mode='seq' is invalid: must be one of",
        ),
        (
            lambda: SimConfig("rejection_sampling", problem=SEQ, group_size=4, overlong=True),
            "scheme='rejection_sampling' is invalid with overlong=True",
        ),
        (
            lambda: sim_filters.filter_state(
                SimConfig("grpo", problem=SEQ, group_size=4, overlong=True), HParams(0.1)
            ),
            "overlong_buffer=None is invalid with overlong=True",
        ),
        (
            lambda: sim_filters.filter_state(
                SimConfig("grpo", group_size=4), HParams(0.1, range_low=0.1)
            ),
            "range_low/range_high are invalid without dynamic_sampling=True",
        ),
        (
            lambda: sim_filters.filter_state(
                SimConfig("grpo", problem=SEQ, group_size=4, mask_truncated=True),
                HParams(0.1, kl_coef=0.1),
            ),
            "kl_coef is invalid with filters",
        ),
        (
            lambda: make_simulate(
                SimConfig("grpo", problem=SEQ, group_size=4, num_steps=2, mask_truncated=True)
            )(HParams(0.1, range_low=0.5, range_high=0.2), jax.random.key(0)),
            "range_low=0.5 is invalid: must be below range_high=0.2",
        ),
        (
            lambda: make_simulate(
                SimConfig("grpo", problem=SEQ, group_size=4, num_steps=2, entropy_filter=True)
            )(HParams(0.1, entropy_quantile=0.0), jax.random.key(0)),
            "entropy_quantile=0.0 is invalid",
        ),
    ],
)
def test_bad_filter_settings_are_refused_by_name(build, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_exact_ascent_is_refused_for_sequence_filters():
    from rlxform.sim.exact import check_exact

    with pytest.raises(InputError, match="mask_truncated=True has no exact ascent reference"):
        check_exact(SimConfig("grpo", problem=SEQ, group_size=4, mask_truncated=True))
