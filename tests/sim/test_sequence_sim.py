"""Sequence simulator and exact ascent: brute force, the exact core, Monte Carlo, vmap, keys.

Exact ascent and ``expected_update`` of sequence configs go through the policy's exact law
(``rlxform.sim.exact``); they are checked against the NumPy core (``core.sequences``), a
brute force over every batch written here, and the simulator's own estimator averaged over keys.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sequence_brute import walk_log_probs

from rlxform.core import schemes
from rlxform.core import sequences as sq
from rlxform.sim import exact, sweeps
from rlxform.sim.ascent import initial_params
from rlxform.sim.config import SimConfig
from rlxform.sim.exact import make_exact
from rlxform.sim.hparams import HParams
from rlxform.sim.sampling import sample_tokens
from rlxform.sim.sequence_groups import network_config, sample_groups
from rlxform.sim.sequence_network import network_logits
from rlxform.sim.simulate import make_simulate, sample_gradient
from rlxform.validation import InputError

make_sequence_simulate, make_sequence_exact = make_simulate, make_exact
make_sequence_sweep, make_sequence_exact_sweep = sweeps.make_sweep, sweeps.make_exact_sweep

TASK = sq.SequenceTask(3, 3, "parity")  # N = 15 responses
TINY = sq.SequenceTask(2, 2, "first_token")  # N = 3: [stop], [0 stop], [0 0]


def _expected_update(cfg, params):
    """``exact.expected_update`` under one jit (eager x64 would compile every primitive)."""
    return jax.jit(lambda p: exact.expected_update(None, p, cfg))(params)


def _cfg(task=TASK, **kw):
    base = dict(policy="sequence_tabular", num_prompts=2, group_size=4, init_p=(0.3, 0.6))
    base.update(aggregation="seq-mean-token-mean", hidden=16)
    base.update(kw)
    task_fields = dict(vocab_size=task.vocab_size, max_length=task.max_length)
    return SimConfig.from_flat("grpo", **task_fields, verifier=task.verifier, **base)


def test_sampler_index_and_draws_match_the_exact_core():
    cfg = _cfg(num_prompts=3, init_p=(0.2, 0.5, 0.8))
    logits = initial_params(cfg)["logits"]
    key = jax.random.key(3)
    prompts = np.arange(3, dtype=np.int32)
    # each sampler one compiled program (not one eager compile per primitive)
    batch = jax.jit(sample_groups, static_argnums=(2, 4))(
        key, logits, TASK, prompts, cfg.group_size
    )
    enum = sq.enumerate_sequences(TASK)
    index = {tuple(row): i for i, row in enumerate(enum.tokens.tolist())}
    found = np.array([[index[tuple(r)] for r in g] for g in np.asarray(batch.tokens).tolist()])
    assert np.array_equal(enum.correct[found], np.asarray(batch.rewards))
    assert np.array_equal(enum.lengths[found], np.asarray(batch.lengths))
    assert 0 < np.asarray(batch.rewards).mean() < 1
    # the draws are sampling.sample_tokens' (its chi-square test is in tests/sim/test_sampling.py)
    tokens, _ = jax.jit(sample_tokens, static_argnums=(3, 4))(
        key, logits, prompts, cfg.group_size, TASK.max_length
    )
    assert np.array_equal(np.asarray(tokens), np.asarray(batch.tokens))


@pytest.mark.parametrize("mode", sq.AGGREGATIONS)
def test_expected_update_equals_the_exact_core(mode):
    """The simulator's route (Bernstein for a constant factor, else omega through the exact
    law, traced) against the NumPy core on the same table (one group per normaliser)."""
    rng = np.random.default_rng(0)
    logits = sq.tilted_logits(TASK, [0.2, 0.5, 0.8]) + 0.3 * rng.standard_normal((3, 7, 3))
    core = sq.UpdateRule(schemes.grpo(), mode, 4).expected_update(logits, TASK) / 3
    with jax.enable_x64(True):
        cfg = _cfg(aggregation=mode, num_prompts=3, init_p=(0.2, 0.5, 0.8))
        ours = _expected_update(cfg, {"logits": jnp.asarray(logits)})["logits"]
        np.testing.assert_allclose(ours, core, atol=1e-13)


def _brute_force(cfg, logits, a_table, b_table):
    """E[grad loss] by enumerating every batch of prompts and responses (float64)."""
    enum = sq.enumerate_sequences(cfg.problem.task)
    pi = np.exp(walk_log_probs(logits, cfg.problem.task))
    n, m, g, bsz = len(enum.lengths), cfg.group_size, cfg.batch_groups, cfg.batch
    prompt_sets = (
        [tuple(range(cfg.problem.num_prompts))]
        if cfg.problem.batch_size is None
        else itertools.product(range(cfg.problem.num_prompts), repeat=bsz)
    )
    coef = np.zeros((cfg.problem.num_prompts, n))
    a, b = np.asarray(a_table), np.asarray(b_table)
    for prompts in prompt_sets:
        p_prompts = 1.0 if cfg.problem.batch_size is None else cfg.problem.num_prompts**-bsz
        for ys in itertools.product(range(n), repeat=bsz * m):
            ys = np.array(ys).reshape(bsz, m)
            prob = p_prompts * np.prod([pi[prompts[i], ys[i]] for i in range(bsz)])
            lengths = enum.lengths[ys].astype(float)
            reward = enum.correct[ys]
            s = reward.sum(-1)
            z = np.where(reward, a[s][:, None], b[s][:, None])
            block_tokens = lengths.reshape(-1, g * m).sum(-1).repeat(g)[:, None]
            f = {
                "seq-mean-token-sum": np.ones_like(lengths),
                "seq-mean-token-mean": 1.0 / lengths,
                "seq-mean-token-sum-norm": np.full_like(lengths, 1.0 / cfg.problem.task.max_length),
                "token-mean": g * m / block_tokens * np.ones_like(lengths),
            }[cfg.aggregation]
            for i in range(bsz):
                np.add.at(coef[prompts[i]], ys[i], prob * f[i] * z[i] / (bsz * m))
    log_pi = lambda q: sq.response_log_probs(q, cfg.problem.task)
    return jax.jit(jax.grad(lambda q: jnp.sum(coef * log_pi(q))))(jnp.asarray(logits))


@pytest.mark.parametrize(
    "mode, prompts, batch_size, groups",
    [
        ("token-mean", 2, None, 2),  # heterogeneous block: the other prompt's actual law
        ("token-mean", 3, 2, 2),  # random batch: the other group from the prompt mixture
        ("seq-mean-token-mean", 3, 2, 1),
        ("seq-mean-token-sum-norm", 2, None, 2),
    ],
)
def test_expected_update_equals_brute_force_over_batches(mode, prompts, batch_size, groups):
    with jax.enable_x64(True):
        cfg = _cfg(
            TINY,
            aggregation=mode,
            num_prompts=prompts,
            group_size=2,
            batch_size=batch_size,
            batch_groups=groups,
        )
        logits = sq.tilted_logits(TINY, [0.3, 0.7, 0.5][:prompts])
        a_table, b_table = cfg.scheme.tables(2)
        ours = _expected_update(cfg, {"logits": jnp.asarray(logits)})["logits"]
        ref = _brute_force(cfg, logits, a_table, b_table)
        assert float(jnp.max(jnp.abs(ref))) > 1e-3
        np.testing.assert_allclose(ours, ref, atol=1e-13)


def test_one_exact_step_is_lr_times_the_expected_update():
    cfg = _cfg(num_steps=1, aggregation="seq-mean-token-mean")
    metrics = make_sequence_exact(cfg)(HParams(0.7))
    logits = np.asarray(initial_params(cfg)["logits"], np.float64)
    rule = sq.UpdateRule(cfg.scheme, cfg.aggregation, 4)
    moved = logits + 0.7 * rule.expected_update(logits, TASK) / 2
    p, _, length_wrong = sq.length_stats(moved, TASK)
    np.testing.assert_allclose(metrics.p[1], p, atol=1e-6)
    np.testing.assert_allclose(metrics.mean_length_wrong[1], length_wrong.mean(), 1e-5)
    np.testing.assert_allclose(metrics.mean_p[0], 0.45, atol=1e-6)


def test_records_shapes_and_same_key_same_output():
    cfg = _cfg(num_steps=6, record_every=3, aggregation="token-mean", batch_groups=2)
    run = make_sequence_simulate(cfg)
    one = run(HParams(0.3), jax.random.key(1))
    two = run(HParams(0.3), jax.random.key(1))
    assert one.p.shape == (3, 2) and one.mean_length_correct.shape == (3,)
    assert np.asarray(one.step).tolist() == [0, 3, 6]
    for a, b in zip(one, two, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    other = run(HParams(0.3), jax.random.key(2))
    assert not np.array_equal(np.asarray(one.p), np.asarray(other.p))


def test_vmap_over_seeds_and_learning_rates_equals_the_loop():
    cfg = _cfg(num_steps=4, record_every=2, optimizer="adam")
    lrs = np.array([0.1, 0.3], np.float32)
    keys = jax.random.split(jax.random.key(0), 2)
    grid = make_sequence_sweep(cfg)(HParams(lrs), keys)
    single = make_sequence_simulate(cfg)
    exact_grid = make_sequence_exact_sweep(cfg)(HParams(lrs))
    exact_single = make_sequence_exact(cfg)
    for h, lr in enumerate(lrs):
        for s in range(2):
            loop = single(HParams(lr), keys[s])
            np.testing.assert_allclose(grid.p[h, s], loop.p, atol=2e-6)
            np.testing.assert_allclose(grid.mean_length_wrong[h, s], loop.mean_length_wrong, 1e-5)
        np.testing.assert_allclose(exact_grid.p[h], exact_single(HParams(lr)).p, 1e-5)


def test_nonfinite_run_freezes_and_masks():
    cfg = _cfg(num_steps=8, record_every=2, aggregation="seq-mean-token-sum", optimizer="adam")
    metrics = make_sequence_simulate(cfg)(HParams(3e38), jax.random.key(0))  # two steps overflow
    step = int(metrics.nonfinite_step)
    assert 0 <= step < 8
    after = np.asarray(metrics.step) > step
    assert np.all(np.isnan(np.asarray(metrics.mean_p)[after]))
    assert not np.any(np.asarray(metrics.finite)[after])
    assert np.all(np.isfinite(np.asarray(metrics.mean_p)[~after]))


@pytest.mark.slow
def test_network_expected_update_is_the_chain_rule_of_the_core():
    """Network E[g] = J^T (the core's tabular E[g] at the network's table) / P, and a network
    run's length records stay finite."""
    for mode in ("seq-mean-token-mean", "token-mean"):
        cfg = _cfg(policy="sequence_network", hidden=8, aggregation=mode, batch_groups=1)
        params = jax.tree.map(lambda v: np.asarray(v, np.float64), initial_params(cfg))
        with jax.enable_x64(True):
            net = network_config(cfg.problem)
            table, pullback = jax.vjp(lambda q, net=net: network_logits(q, net), params)
            rule = sq.UpdateRule(cfg.scheme, mode, 4)
            tabular = rule.expected_update(np.asarray(table), TASK) / 2
            (want,) = pullback(jnp.asarray(tabular))
            got = _expected_update(cfg, params)
        for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-13)
    metrics = make_sequence_simulate(cfg)(HParams(0.5), jax.random.key(0))
    assert np.all(np.isfinite(np.asarray(metrics.mean_length_wrong)))


@pytest.mark.slow
def test_simulated_mean_tracks_exact_ascent_with_a_gap_that_shrinks_with_lr():
    """Equal lr * T: seed means within 4 SE of exact ascent; the bias shrinks with lr."""
    devs = []
    keys = jax.random.split(jax.random.key(7), 256)
    for lr, steps in ((2.0, 5), (1.0, 10), (0.5, 20)):
        cfg = _cfg(aggregation="seq-mean-token-mean", num_steps=steps, record_every=steps)
        grid = sweeps.grid([lr])
        sim = make_sequence_sweep(cfg)(grid, keys)
        exact = make_sequence_exact_sweep(cfg)(grid)
        cmp = sweeps.compare(sim, exact)
        mean, se = sweeps.seed_stats(sim.mean_length_wrong)
        dev_len = np.abs(mean[0, -1] - np.asarray(exact.mean_length_wrong[0, -1]))
        assert cmp.max_abs_dev[0] <= 4 * cmp.mean_p_se[0, -1] + 0.02
        devs.append((float(cmp.max_abs_dev[0]), float(dev_len), float(se[0, -1])))
    print("lr, T -> (max|dev mean_p|, |dev E[L|wrong]| final, SE):", devs)
    assert devs[2][0] < devs[0][0]


def test_config_errors_name_the_argument():
    with pytest.raises(ValueError, match="batch_groups=3"):
        _cfg(batch_groups=3)
    with pytest.raises(ValueError, match="aggregation='sum'"):
        _cfg(aggregation="sum")
    with pytest.raises(InputError, match="dynamic_sampling=True"):
        _cfg(dynamic_sampling=True)
    with pytest.raises(ValueError, match="MAX_SEQUENCES"):
        _cfg(task=sq.SequenceTask(5, 12))
    assert isinstance(_cfg().scheme, schemes.Scheme)


@pytest.mark.parametrize(
    "policy, mode, groups",
    [
        ("sequence_tabular", "token-mean", 2),
        pytest.param("sequence_network", "seq-mean-token-mean", 1, marks=pytest.mark.slow),
    ],
)
def test_simulator_mean_matches_expected_update_within_standard_errors(policy, mode, groups):
    """The simulator's own stochastic step (``simulate.sample_gradient``: sampler, rewards,
    aggregation, surrogate), averaged over 4096 keys, is E[g] within 5 standard errors."""
    cfg = _cfg(policy=policy, hidden=4, aggregation=mode, batch_groups=groups)
    params = initial_params(cfg)
    keys = jax.random.split(jax.random.key(11), 4096)
    draws = jax.jit(jax.vmap(lambda k: sample_gradient(k, params, cfg)[0]))(keys)
    with jax.enable_x64(True):
        params64 = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), params)
        want = _expected_update(cfg, params64)
    for draw, target in zip(jax.tree.leaves(draws), jax.tree.leaves(want), strict=True):
        draw = np.asarray(draw, np.float64).reshape(len(keys), -1)
        target = np.asarray(target).reshape(-1)
        mean, se = draw.mean(0), draw.std(0, ddof=1) / np.sqrt(len(keys))
        live = se > 0
        assert np.all(np.abs(mean - target)[live] < 5 * se[live] + 1e-7)
        assert np.all(np.abs(mean - target)[~live] < 1e-6)
    flat = np.concatenate([np.asarray(t).reshape(-1) for t in jax.tree.leaves(want)])
    assert np.abs(flat).max() > 0.01  # the test has power: E[g] is far from 0
