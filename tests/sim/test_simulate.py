"""Simulator: shapes, determinism, one-step mean vs theory, sampler agreement, bad input."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SchemeTables, tree_counts
from scipy import stats

from rlxform.core import schemes
from rlxform.sim import ascent, config, estimator, exact, hparams, sampling, simulate
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams

SCHEMES = {
    "reinforce": schemes.reinforce(),
    "rloo": schemes.rloo(),
    "grpo": schemes.grpo(eps=1e-6),
    "rejection_sampling": schemes.rejection_sampling(),
    "pass_at_k": schemes.pass_at_k(k=3),
}


def small_cfg(**kw) -> SimConfig:
    base = dict(
        scheme=schemes.grpo(),
        policy="tabular",
        num_prompts=4,
        num_responses=3,
        group_size=6,
        num_steps=12,
        record_every=4,
        init_p=(0.2, 0.5, 0.8),
    )
    return SimConfig.from_flat(**{**base, **kw})


def test_metrics_shapes_and_determinism():
    cfg = small_cfg()
    run = simulate.make_simulate(cfg)
    a = run(HParams(0.3), jax.random.key(1))
    b = run(HParams(0.3), jax.random.key(1))
    c = run(HParams(0.3), jax.random.key(2))
    assert a.p.shape == (4, 4) and a.mean_p.shape == (4,) and a.p.dtype == jnp.float32
    np.testing.assert_array_equal(a.step, [0, 4, 8, 12])
    np.testing.assert_allclose(a.p[0], [0.2, 0.5, 0.8, 0.2], atol=1e-6)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.p, c.p)
    assert int(a.nonfinite_step) == -1 and bool(np.all(a.finite))


def _one_step_cfg(scheme, policy: str) -> SimConfig:
    problem = Problem(
        policy=policy,
        num_prompts=3,
        num_responses=4,
        num_correct=1,
        hidden=8,
        features=4,
        init_p=(0.15, 0.5, 0.85),
    )
    return SimConfig(scheme, problem=problem, group_size=5, num_steps=1)


@functools.cache
def _sampled_gradients(policy: str):
    """jit(vmap over keys) of ``simulate.sample_gradient``'s estimator and jit of
    ``exact.expected_update``, each with the scheme's a/b tables as arguments: one compile per
    policy serves every scheme (a scheme enters both only through its tables; no batch-std
    scope here)."""
    cfg = _one_step_cfg(SCHEMES["reinforce"], policy)
    policy_ = ascent.policy_of(cfg)

    def one(key, params, a_table, b_table):
        return estimator.sample_gradient(key, params, policy_, cfg, a_table, b_table)[0]

    def expected(params, a_table, b_table):  # the theorem, the same tables
        return exact.expected_update(SchemeTables(a_table, b_table), params, cfg)

    return jax.jit(jax.vmap(one, in_axes=(0, None, None, None))), jax.jit(expected)


@pytest.mark.parametrize("policy", ["tabular", "network"])
@pytest.mark.parametrize("name", list(SCHEMES))
def test_one_step_mean_matches_expected_update(policy, name):
    """Mean of 20k stochastic steps within 4 SE of w_M(p) grad p, every coordinate."""
    cfg = _one_step_cfg(SCHEMES[name], policy)
    assert cfg.std_scope != "batch"  # simulate.sample_gradient is the estimator's g itself
    params = ascent.initial_params(cfg)
    if policy == "network":  # a non-zero last layer, so the network path is exercised
        noise = np.random.default_rng(7)  # NumPy: no eager compile per leaf shape
        params = jax.tree_util.tree_map(
            lambda x: np.asarray(x) + 0.3 * noise.standard_normal(x.shape).astype(np.float32),
            params,
        )
    keys = jax.random.split(jax.random.key(0), 20000)
    sampled, expected_update = _sampled_gradients(policy)
    draws = sampled(keys, params, *ascent.tables(cfg))
    expected = expected_update(params, *ascent.tables(cfg))
    for draw, mean in zip(
        jax.tree_util.tree_leaves(draws), jax.tree_util.tree_leaves(expected), strict=True
    ):
        draw = np.asarray(draw, np.float64)
        se = draw.std(0) / np.sqrt(draw.shape[0])
        dev = np.abs(draw.mean(0) - np.asarray(mean, np.float64))
        # rare events (S = 0 at p = 0.85, M = 5) can be absent from the sample: small atol
        assert np.all(dev <= 4 * se + 2e-5), (name, policy, dev.max(), se.max())
    assert np.abs(np.asarray(jax.tree_util.tree_leaves(expected)[0])).max() > 1e-3


def test_counts_path_mean_matches_expected_update():
    cfg = small_cfg(sampler="counts", group_size=32, num_prompts=3)
    params = ascent.initial_params(cfg)
    keys = jax.random.split(jax.random.key(5), 20000)
    draws, _ = jax.jit(jax.vmap(lambda k: simulate.sample_gradient(k, params, cfg)))(keys)
    draw = np.asarray(draws["logits"], np.float64)
    se = draw.std(0) / np.sqrt(draw.shape[0])
    mean = np.asarray(exact.expected_update(None, params, cfg)["logits"])
    assert np.all(np.abs(draw.mean(0) - mean) <= 4 * se + 1e-6)


def _count_index(counts: np.ndarray, group_size: int) -> np.ndarray:
    return counts[:, 0] * (group_size + 1) + counts[:, 1]


def test_samplers_agree_in_distribution():
    """Chi-square: inverse-CDF groups and multinomial counts both follow Multinomial(M, pi)."""
    group_size, n = 4, 40000
    logits = jnp.log(jnp.array([[0.2, 0.3, 0.5]]))
    k1, k2 = jax.random.split(jax.random.key(11))
    actions = jax.jit(jax.vmap(lambda k: sampling.sample_actions(k, logits, group_size)[0]))(
        jax.random.split(k1, n)
    )
    from_actions = np.stack([(np.asarray(actions) == j).sum(-1) for j in range(3)], -1)
    # the binomial tree (sampling.sample_counts) through the suite's one compile of it
    from_counts = tree_counts(k2, [0.2, 0.3, 0.5], group_size, n).round().astype(int)
    assert np.all(from_counts.sum(-1) == group_size)
    cells = (group_size + 1) ** 2
    observed = [
        np.bincount(_count_index(c, group_size), minlength=cells)
        for c in (from_actions, from_counts)
    ]
    pmf = np.zeros(cells)
    for c0 in range(group_size + 1):
        for c1 in range(group_size + 1 - c0):
            pmf[c0 * (group_size + 1) + c1] = stats.multinomial.pmf(
                [c0, c1, group_size - c0 - c1], group_size, [0.2, 0.3, 0.5]
            )
    keep = pmf > 0
    for obs in observed:
        assert obs[~keep].sum() == 0
        assert stats.chisquare(obs[keep], pmf[keep] * n).pvalue > 1e-3
    table = np.stack([observed[0][keep], observed[1][keep]])
    assert stats.chi2_contingency(table).pvalue > 1e-3
    # and a wrong distribution is rejected (the test can fail)
    shifted = np.roll(pmf[keep], 1)
    assert stats.chisquare(observed[1][keep], shifted / shifted.sum() * n).pvalue < 1e-6


def test_auto_sampler_choice():
    assert small_cfg(group_size=8, num_responses=4).resolved_sampler == "inverse_cdf"
    # large groups, but a short run: the inverse-CDF sampler compiles much faster
    assert small_cfg(group_size=64, num_responses=4).resolved_sampler == "inverse_cdf"
    long_run = dict(num_prompts=1024, num_steps=1024)  # B M T = 2^26
    assert small_cfg(group_size=64, num_responses=4, **long_run).resolved_sampler == "counts"
    assert small_cfg(group_size=64, num_responses=9, **long_run).resolved_sampler == "inverse_cdf"
    half_batch = small_cfg(group_size=64, num_responses=4, batch_size=512, **long_run)
    assert half_batch.resolved_sampler == "inverse_cdf"


@pytest.mark.parametrize(
    "dynamic, sampler",
    [
        (False, "inverse_cdf"),
        (False, "counts"),
        (True, "inverse_cdf"),
        # counts + dynamic sampling on degenerate groups is also run by default in
        # tests/test_reliability.py::test_grad_through_degenerate_simulator_is_finite[counts]
        pytest.param(True, "counts", marks=pytest.mark.slow),
    ],
)
def test_degenerate_groups_never_nan(dynamic, sampler):
    """GRPO with eps = 0 on prompts that are (almost) always right or wrong."""
    cfg = small_cfg(
        scheme=schemes.grpo(eps=0.0),
        sampler=sampler,
        dynamic_sampling=dynamic,
        init_p=(1e-6, 1 - 1e-6),
        num_steps=8,
        record_every=1,
    )
    metrics = simulate.make_simulate(cfg)(HParams(0.5, 0.0), jax.random.key(0))
    assert np.all(np.isfinite(metrics.p)) and int(metrics.nonfinite_step) == -1
    assert float(metrics.degenerate_fraction[1:].min()) == 1.0
    params = ascent.initial_params(cfg)
    gradient = jax.jit(lambda key: simulate.sample_gradient(key, params, cfg, eps=0.0)[0])
    np.testing.assert_array_equal(gradient(jax.random.key(1))["logits"], 0.0)
    # gradient with respect to the traced eps is finite too
    d_eps = jax.jit(jax.grad(lambda e: exact.objective(params, cfg, e)))(0.0)
    assert np.isfinite(float(d_eps))


def test_dynamic_sampling_renormalises():
    """With half the groups degenerate, dynamic sampling doubles the step of the others."""
    cfg = dict(
        scheme=schemes.rloo(), num_prompts=2, num_responses=2, group_size=4, init_p=(1 - 1e-7, 0.5)
    )
    plain = SimConfig.from_flat(**cfg)
    dyn = SimConfig.from_flat(**cfg, dynamic_sampling=True)
    params = ascent.initial_params(plain)
    step_plain, step_dyn = (
        jax.jit(functools.partial(simulate.sample_gradient, cfg=c)) for c in (plain, dyn)
    )
    for seed in range(20):  # first key whose second group is not degenerate
        key = jax.random.key(seed)
        g_plain, s = step_plain(key, params)
        if 0 < int(s[1]) < 4:
            break
    g_dyn, _ = step_dyn(key, params)
    assert int(s[0]) == 4 and 0 < int(s[1]) < 4
    np.testing.assert_allclose(g_dyn["logits"], 2 * g_plain["logits"], rtol=1e-6)


def test_batch_and_adam_and_scalar_run():
    cfg = small_cfg(batch_size=2, optimizer="adam", num_prompts=5)
    m = simulate.make_simulate(cfg)(HParams(0.05), jax.random.key(0))
    assert np.all(np.isfinite(m.p)) and m.p.shape == (4, 5)
    cfg = small_cfg(policy="scalar", num_responses=2)
    m = simulate.make_simulate(cfg)(HParams(0.5), jax.random.key(0))
    assert float(m.mean_p[-1]) > float(m.mean_p[0])


def test_objective_metric_is_mean_h_m():
    from rlxform import transform

    cfg = small_cfg(scheme=schemes.rejection_sampling())
    m = simulate.make_simulate(cfg)(HParams(0.1), jax.random.key(0))
    with jax.enable_x64(True):
        ref = np.mean(
            np.asarray(transform(cfg.scheme, 6).objective(np.asarray(m.p[-1], np.float64))), -1
        )
    np.testing.assert_allclose(m.objective[-1], ref, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_prompts": 0}, "num_prompts"),
        ({"num_responses": 1}, "num_responses"),
        ({"num_correct": 0}, "num_correct"),
        ({"num_correct": 3}, "num_correct"),
        ({"group_size": 0}, "group_size"),
        ({"num_steps": 0}, "num_steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"policy": "mlp"}, "policy"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"scheme": "nope"}, "scheme"),
        ({"sampler": "fast"}, "sampler"),
        ({"record_every": 5}, "record_every"),
        ({"init_p": (0.5, 1.0)}, "init_p"),
        ({"init_p": (0.0,)}, "init_p"),
        ({"init_p": (float("nan"),)}, "init_p"),
    ],
)
def test_bad_config_names_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        small_cfg(**kwargs)


@pytest.mark.parametrize("lr", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_learning_rate(lr):
    with pytest.raises(ValueError, match="learning_rate"):
        hparams.check_hparams(HParams(lr))


def test_cli_simulate(tmp_path, capsys):
    import json

    from rlxform.cli import main

    out = tmp_path / "sim"
    rc = main(
        [
            "simulate",
            "--scheme",
            "grpo",
            "--prompts",
            "4",
            "--responses",
            "3",
            "--group-size",
            "4",
            "--steps",
            "6",
            "--lr",
            "0.2",
            "--seeds",
            "8",
            "--init-p",
            "0.2,0.6",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    header = (out / "trajectories.csv").read_text().splitlines()[0]
    assert header == "step,mean_p,mean_p_se,exact_mean_p,objective,exact_objective"
    summary = json.loads((out / "summary.json").read_text())
    assert {"config", "max_abs_dev", "agreement", "wall_time_s", "compile_time_s"} <= set(summary)
    assert (out / "trajectories.png").stat().st_size > 1000
    capsys.readouterr()
    for bad in (
        ["--prompts", "0"],
        ["--correct", "3"],
        ["--lr", "nan"],
        ["--seeds", "0"],
        ["--init-p", "0,1"],
        ["--policy", "mlp"],
        ["--optimizer", "sgdx"],
    ):
        rc = main(["simulate", "--scheme", "grpo", "--responses", "3", "--out", str(out), *bad])
        err = capsys.readouterr().err
        assert rc != 0 and len(err.strip().splitlines()) == 1, (bad, err)
    assert main(["simulate", "--scheme", "nope", "--out", str(out)]) != 0


@pytest.mark.parametrize(
    "num_correct, num_responses, group_size, sampler",
    [
        (1, 5, 6, "inverse_cdf"),
        (3, 5, 6, "inverse_cdf"),
        # one counts case by default (each compiles the binomial tree, ~40-120 s on 2 cores);
        # the slow ones add C = 1 and K > 32 (the tree's non-unrolled branch)
        pytest.param(1, 5, 200, "counts", marks=pytest.mark.slow),
        (3, 8, 200, "counts"),
        pytest.param(2, 40, 200, "counts", marks=pytest.mark.slow),
    ],
)
def test_tabular_fast_gradient_equals_generic_route(
    num_correct, num_responses, group_size, sampler
):
    """The tabular closed form (policy.fast_gradient) == jax.grad of the one surrogate."""
    cfg = config.SimConfig(
        "grpo",
        problem=config.Problem(
            num_prompts=64, num_responses=num_responses, num_correct=num_correct
        ),
        group_size=group_size,
        sampler=sampler,
    )
    params = {"logits": jax.random.normal(jax.random.key(2), (64, num_responses)) * 2.0}
    a_table, b_table = ascent.tables(cfg)
    policy = ascent.policy_of(cfg)
    assert policy.fast_gradient is not None
    key = jax.random.key(7)
    fast, s = jax.jit(
        lambda k: estimator.sample_gradient(k, params, policy, cfg, a_table, b_table)
    )(key)
    generic, s_ref = jax.jit(
        lambda k: estimator.sample_gradient(
            k, params, policy, cfg, a_table, b_table, use_fast=False
        )
    )(key)
    np.testing.assert_array_equal(s, s_ref)
    assert np.abs(np.asarray(generic["logits"])).max() > 0
    np.testing.assert_allclose(fast["logits"], generic["logits"], rtol=1e-4, atol=1e-6)
