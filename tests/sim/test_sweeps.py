"""Sweeps: vmap equals the loop, one compile per config, agreement with exact ascent."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rlxform.core import schemes
from rlxform.sim import exact, simulate, sweeps
from rlxform.sim.config import Metrics, SimConfig
from rlxform.sim.hparams import HParams


def cfg_for(**kw) -> SimConfig:
    """A tiny tabular SimConfig; flat keywords override (Problem fields go into the Problem)."""
    base = dict(scheme=schemes.grpo(), policy="tabular", num_prompts=4, num_responses=4)
    base.update(init_p=(0.1, 0.3, 0.5, 0.7), group_size=8, num_steps=10)
    return SimConfig.from_flat(**{**base, **kw})


def test_vmap_equals_loop():
    cfg = cfg_for(policy="network", hidden=8, features=4)
    hp = sweeps.grid([0.1, 0.3], eps=[0.0, 0.1])
    keys = jax.random.split(jax.random.key(0), 3)
    grid = sweeps.make_sweep(cfg)(hp, keys)
    single = simulate.make_simulate(cfg)
    assert grid.p.shape == (4, 3, 11, 4)
    for h in range(4):
        for s in range(3):
            one = single(HParams(hp.learning_rate[h], hp.eps[h]), keys[s])
            np.testing.assert_allclose(grid.p[h, s], one.p, atol=2e-6)
    # eps is live: different eps, same lr and key, different trajectories
    assert not np.allclose(grid.p[0, 0], grid.p[1, 0])


def test_no_retrace_across_hyperparameters():
    cfg = cfg_for()
    traces = []
    inner = simulate.build_simulate(cfg)

    def counted(hp, key):
        traces.append(1)
        return inner(hp, key)

    counted_sweep = jax.jit(jax.vmap(jax.vmap(counted, in_axes=(None, 0)), in_axes=(0, None)))
    sweep = sweeps.make_sweep(cfg)
    keys = jax.random.split(jax.random.key(1), 2)
    for lrs in ([0.1, 0.2], [0.5, 0.05], [1.0, 2.0]):
        sweep(sweeps.grid(lrs), keys)
        counted_sweep(sweeps.grid(lrs), keys)
    assert sweep._cache_size() == 1
    assert len(traces) == 1
    sweep(sweeps.grid([0.1, 0.2, 0.3]), keys)  # a new grid shape does compile again
    assert sweep._cache_size() == 2


def test_compare_by_hand():
    mean_p = np.array([[0.5, 0.6, 0.7], [0.5, 0.8, 0.9]])  # [S=2, R=3]
    sim = Metrics(None, None, mean_p, None, None, None, None)
    ref = Metrics(None, None, np.array([0.5, 0.7, 0.7]), None, None, None, None)
    out = sweeps.compare(sim, ref)
    np.testing.assert_allclose(out.mean_p, [0.5, 0.7, 0.8])
    np.testing.assert_allclose(out.mean_p_se, [0.0, 0.1, 0.1])
    np.testing.assert_allclose(out.max_abs_dev, 0.1)
    np.testing.assert_allclose(out.agreement, 1.0)
    np.testing.assert_allclose(out.max_z, 1.0)  # record 2: gap 0.1 = 1 SE
    ref = Metrics(None, None, np.array([0.5, 0.7, 0.2]), None, None, None, None)
    np.testing.assert_allclose(sweeps.compare(sim, ref).agreement, 2 / 3)
    np.testing.assert_allclose(sweeps.compare(sim, ref).max_z, 6.0)


def test_compare_noise_free_run_uses_the_rounding_floor():
    """One seed (SE = 0): a float32-rounding gap agrees, a real gap does not."""
    exact_p = np.array([0.5, 0.6, 0.7])
    ref = Metrics(None, None, exact_p, None, None, None, None)
    rounding = Metrics(None, None, (exact_p + [0, 3e-6, -2e-6])[None], None, None, None, None)  # noqa: RUF005
    out = sweeps.compare(rounding, ref)
    np.testing.assert_allclose(out.agreement, 1.0)
    np.testing.assert_allclose(out.max_z, 3e-6 / (1e-5 / 3), rtol=1e-9)  # 0.9
    biased = Metrics(None, None, (exact_p + [0, 1e-3, 0])[None], None, None, None, None)  # noqa: RUF005
    out = sweeps.compare(biased, ref)
    np.testing.assert_allclose(out.agreement, 2 / 3)
    np.testing.assert_allclose(out.max_z, 300.0, rtol=1e-9)
    assert sweeps.compare(rounding, ref, floor=0.0).agreement == 1 / 3
    with pytest.raises(ValueError, match="floor=-1"):
        sweeps.compare(rounding, ref, floor=-1.0)


def _max_abs_dev(cfg: SimConfig, lr: float, num_seeds: int) -> tuple[float, float]:
    hp = sweeps.grid([lr])
    keys = jax.random.split(jax.random.key(0), num_seeds)
    cmp = sweeps.compare(sweeps.make_sweep(cfg)(hp, keys), sweeps.make_exact_sweep(cfg)(hp))
    return float(cmp.max_abs_dev[0]), float(cmp.agreement[0])


@pytest.mark.parametrize("policy", ["tabular", "network"])
def test_small_learning_rate_tracks_exact_ascent(policy):
    cfg = cfg_for(policy=policy, num_steps=40, record_every=4, hidden=8, features=4)
    dev, agreement = _max_abs_dev(cfg, 0.05, 1000)
    assert dev < 2e-3, dev
    assert agreement >= 0.7
    # exact ascent moved clearly more than the deviation
    e = exact.make_exact(cfg)(HParams(0.05))
    assert float(e.mean_p[-1] - e.mean_p[0]) > 10 * dev


@pytest.mark.slow
def test_max_abs_dev_halves_with_learning_rate():
    """Fixed horizon lr * T = 20 (tabular GRPO, SGD): the gap is O(lr)."""
    devs = []
    for lr in (1.0, 0.5, 0.25):
        cfg = cfg_for(num_steps=int(20 / lr), record_every=int(2 / lr))
        devs.append(_max_abs_dev(cfg, lr, 4000)[0])
    ratios = devs[0] / devs[1], devs[1] / devs[2]
    assert all(1.3 < r < 3.0 for r in ratios), (devs, ratios)


def test_adam_runs_and_sweep_metrics_are_finite():
    cfg = cfg_for(optimizer="adam")
    m = sweeps.make_sweep(cfg)(sweeps.grid([0.01, 0.1]), jax.random.split(jax.random.key(0), 2))
    assert np.all(np.isfinite(m.p)) and np.all(np.asarray(m.nonfinite_step) == -1)
    assert simulate.diverged_at(m) is None
