"""PPO inner loop: clipped terms by hand, E = N = 1 equals the plain step, small-lr and exact
(scalar-logit, ``rlxform.core.ppo``) agreement, bad input."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rlxform.core import ppo as exact_ppo
from rlxform.core import schemes
from rlxform.sim import ascent, estimator, exact, loop, ppo_step, simulate
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams
from rlxform.sim.policies import partition
from rlxform.validation import InputError


def test_clipped_terms_by_hand():
    ratio = np.array([[0.5, 0.9, 1.1, 1.5, 4.0, 0.5]])
    coef = np.array([[1.0, -2.0, 1.0, 1.0, -1.0, -1.0]])
    clip = ppo_step.Clip(low=0.2, high=0.28, dual=3.0)
    # each route one compiled program (not one eager compile per primitive)
    clipped_terms = jax.jit(ppo_step.clipped_terms)
    terms, clipped = clipped_terms(np.log(ratio), np.zeros_like(ratio), coef, clip)
    # min(rho c, clip(rho) c); dual: max(., 3 c) for c < 0
    expected = [0.5, -2 * 0.9, 1.1, 1.28, max(-4.0, -3.0), -0.8]
    np.testing.assert_allclose(terms[0], expected, rtol=1e-6)
    np.testing.assert_array_equal(clipped[0], [False, False, False, True, True, True])
    loss, fraction = jax.jit(ppo_step.clipped_surrogate)(
        np.log(ratio), np.zeros_like(ratio), coef, clip, counts=np.array([[1.0] * 5 + [3.0]])
    )
    np.testing.assert_allclose(loss, sum(expected), rtol=1e-6)
    np.testing.assert_allclose(fraction, 5.0 / 8.0)


def test_clipped_gradient_zero_where_clipped():
    coef = np.array([[1.0, -1.0]], np.float32)
    clip = ppo_step.Clip(0.2, 0.2)
    zeros = np.zeros((1, 2), np.float32)
    grad = jax.jit(jax.grad(lambda lp: ppo_step.clipped_surrogate(lp, zeros, coef, clip)[0]))
    np.testing.assert_allclose(grad(np.log(np.float32([[1.5, 0.5]]))), [[0.0, 0.0]])
    np.testing.assert_allclose(grad(np.log(np.float32([[1.1, 0.9]]))), [[1.1, -0.9]], rtol=1e-6)


def _cfg(policy="tabular", **kw):
    problem = Problem(policy, num_prompts=4, num_responses=3, init_p=(0.2, 0.5, 0.7, 0.4))
    return SimConfig(schemes.grpo(eps=1e-6), problem, group_size=6, num_steps=4, **kw)


@functools.partial(jax.jit, static_argnums=0)  # one program, not one per primitive
def _ppo_update(cfg, hparams, params, key, epoch_keys):
    policy = ascent.policy_of(cfg)
    trainable, frozen = partition(params)
    optimizer = loop.freeze_if_nonfinite(optax.sgd(hparams.learning_rate))
    a_table, b_table = ascent.tables(cfg, hparams.eps)
    step = ppo_step.make_ppo_step(cfg, policy, optimizer, frozen, a_table, b_table, hparams)
    state = loop.TrainState(trainable, optimizer.init(trainable))
    state, (_, fraction) = step(state, (key, epoch_keys))
    return state.trainable, fraction


@functools.partial(jax.jit, static_argnums=0)  # one compile per policy, both dual settings
def _plain_gradient(cfg, key, params):
    a_table, b_table = ascent.tables(cfg)
    policy = ascent.policy_of(cfg)
    return estimator.sample_gradient(key, params, policy, cfg, a_table, b_table, False)


@pytest.mark.parametrize("policy", ["tabular", "network"])
@pytest.mark.parametrize("dual", [None, 3.0])
def test_one_epoch_one_minibatch_is_the_plain_step(policy, dual):
    cfg = _cfg(policy)
    hparams = HParams(0.5, clip_low=0.01, clip_high=0.01, dual_clip=dual)  # tight: must not bind
    params = ascent.initial_params(cfg)
    key = jax.random.key(3)
    new, fraction = _ppo_update(cfg, hparams, params, key, jax.random.split(jax.random.key(4), 1))
    grads, _ = _plain_gradient(cfg, key, params)
    plain = jax.tree_util.tree_map(lambda p, g: p + 0.5 * g, partition(params)[0], grads)
    for a, b in zip(jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(plain), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
    assert float(fraction) == 0.0  # ratio 1 at the rollout: the clip never binds at step 1


def test_ppo_run_with_one_epoch_is_the_plain_run():
    cfg = _cfg()  # E = N = 1: the simulator takes the plain route, same keys
    assert not cfg.is_ppo
    hp = HParams(0.3, clip_low=0.1)
    a = simulate.make_simulate(cfg)(hp, jax.random.key(0))
    b = simulate.make_simulate(_cfg(ppo_epochs=1))(HParams(0.3), jax.random.key(0))
    np.testing.assert_array_equal(a.p, b.p)


def test_small_lr_several_epochs_approach_epochs_times_plain():
    lr, epochs = 1e-3, 3
    cfg = _cfg(ppo_epochs=epochs, num_minibatches=2)
    params = ascent.initial_params(cfg)
    key, keys = jax.random.key(7), jax.random.split(jax.random.key(8), epochs)
    new, fraction = _ppo_update(cfg, HParams(lr), params, key, keys)
    one, _ = _ppo_update(_cfg(), HParams(lr), params, key, keys[:1])
    start = partition(params)[0]["logits"]
    step_ppo, step_plain = new["logits"] - start, one["logits"] - start
    # each of the N minibatch steps averages over its B / N groups, so an epoch moves N times
    # the plain step: E N x (plain step), up to O(lr^2)
    updates = epochs * cfg.num_minibatches
    np.testing.assert_allclose(step_ppo, updates * step_plain, rtol=0, atol=2e-3 * lr * updates)
    assert np.abs(step_plain).max() > 1e-2 * lr
    assert float(fraction) == 0.0


def test_simulator_ppo_runs_and_records_clip_fraction():
    cfg = _cfg(ppo_epochs=4, num_minibatches=2)
    run = simulate.make_simulate(cfg)
    metrics = run(HParams(2.0, clip_low=0.1, clip_high=0.1), jax.random.key(1))
    assert isinstance(metrics, ppo_step.PPOMetrics)
    assert metrics.clip_fraction.shape == (cfg.num_records,)
    assert metrics.clip_fraction[0] == 0.0
    assert np.all(np.asarray(metrics.clip_fraction[1:]) > 0.0)
    assert bool(metrics.finite.all()) and int(metrics.nonfinite_step) == -1
    wide = run(HParams(2.0, clip_low=1.0, clip_high=100.0), jax.random.key(1))
    assert np.all(np.asarray(wide.clip_fraction) < np.asarray(metrics.clip_fraction) + 1e-9)
    # traced clip ranges: a vmapped grid compiles once
    grid = HParams(jnp.array([1.0, 1.0]), clip_low=jnp.array([0.1, 0.3]))
    out = jax.vmap(run.jitted, in_axes=(HParams(0, None, 0), None))(grid, jax.random.key(1))
    assert out.p.shape == (2, *metrics.p.shape)


@pytest.mark.slow
def test_scalar_logit_epochs_match_exact_ppo_iteration():
    """One rollout, E = 4 epochs on the whole group (N = 1): E[delta theta] against the exact
    enumeration of ``rlxform.core.ppo`` (its minibatch split is trivial at N = 1)."""
    m, p0, lr, epochs = 8, 0.3, 1.0, 4
    scheme = schemes.grpo(eps=1e-6)
    problem = Problem("scalar", num_prompts=1, init_p=(p0,))
    cfg = SimConfig(scheme, problem, group_size=m, num_steps=1, ppo_epochs=epochs)
    hparams = HParams(lr, clip_low=0.2, clip_high=0.28)
    run = jax.jit(jax.vmap(simulate.build_simulate(cfg), in_axes=(None, 0)))
    metrics = run(hparams, jax.random.split(jax.random.key(0), 20_000))
    p1 = np.asarray(metrics.p[:, 1, 0], np.float64)
    theta = np.log(p1) - np.log1p(-p1) - (np.log(p0) - np.log1p(-p0))
    want = exact_ppo.ppo_effective_weight(
        scheme, m, p0, learning_rate=lr, epochs=epochs, clip_low=0.2, clip_high=0.28
    )
    se = theta.std(ddof=1) / np.sqrt(theta.size)
    assert abs(theta.mean() - want.delta_theta) < 5 * se + 1e-4
    fraction = np.asarray(metrics.clip_fraction[:, 1])
    se_f = fraction.std(ddof=1) / np.sqrt(fraction.size)
    assert abs(fraction.mean() - want.clip_fraction) < 5 * se_f + 1e-4
    assert want.clip_fraction > 0.05  # the clip binds: the test can see it


def test_bad_input_names_the_argument():
    with pytest.raises(InputError, match=r"^ppo_epochs=0"):
        _cfg(ppo_epochs=0)
    with pytest.raises(InputError, match=r"^num_minibatches=3 is invalid: must divide"):
        _cfg(num_minibatches=3)
    with pytest.raises(InputError, match=r"^ppo_epochs=2 is invalid for sequence"):
        SimConfig("grpo", Problem("sequence_tabular"), ppo_epochs=2)
    run = simulate.make_simulate(_cfg(ppo_epochs=2))
    for hp, name in [
        (HParams(0.1, clip_low=0.0), "clip_low"),
        (HParams(0.1, clip_low=1.5), "clip_low"),
        (HParams(0.1, clip_high=-0.1), "clip_high"),
        (HParams(0.1, dual_clip=1.0), "dual_clip"),
        (HParams(0.1, clip_high=float("nan")), "clip_high"),
    ]:
        with pytest.raises(InputError, match=rf"^{name}="):
            run(hp, jax.random.key(0))
    with pytest.raises(InputError, match=r"^ppo_epochs=2 has no exact ascent reference"):
        exact.make_exact(_cfg(ppo_epochs=2))


def test_cli_simulate_ppo_and_bad_flags(tmp_path, capsys):
    import csv

    from rlxform import cli

    base = ["simulate", "--scheme", "grpo", "--prompts", "4", "--steps", "4", "--seeds", "4"]
    argv = [*base, "--ppo-epochs", "2", "--num-minibatches", "2", "--clip-high", "0.28"]
    assert cli.main([*argv, "--dual-clip", "3", "--out", str(tmp_path / "ppo")]) == 0
    assert "no exact reference" in capsys.readouterr().out
    with open(tmp_path / "ppo" / "trajectories.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and "clip_fraction" in rows[0]
    for flags, name in [
        (["--ppo-epochs", "0"], "--ppo-epochs=0"),
        (["--num-minibatches", "3"], "--num-minibatches=3"),
        (["--clip-low", "0"], "--clip-low=0"),
        (["--clip-high", "-0.1"], "--clip-high=-0.1"),
        (["--dual-clip", "0.5"], "--dual-clip=0.5"),
        (["--std-scope", "prompt"], "--std-scope='prompt'"),
    ]:
        assert cli.main([*base, *flags, "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and name in err[0], err
