"""KL penalty in the simulator and exact ascent (issue 14 items 1, 2): hand values, the
equilibrium of exact ascent, stochastic seed means against exact ascent, kl_coef = 0."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlxform.core import schemes
from rlxform.core.kl import kl_equilibrium
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.exact import make_exact
from rlxform.sim.hparams import HParams
from rlxform.sim.simulate import make_simulate
from rlxform.validation import InputError

# the JAX route as one compiled program per scheme (not one eager compile per primitive)
_weights = jax.jit(lambda s, r, c, m, e: s.real_reward_weights(r, c, m, e), static_argnums=(0, 3))


def test_real_reward_weights_by_hand():
    r = jnp.asarray([[1.0, 0.0, -0.5, 0.5]])  # mean 0.25, centred (.75, -.25, -.75, .25)
    m = 4
    z = _weights(schemes.reinforce(), r, None, m, None)
    np.testing.assert_allclose(z, r)
    z = _weights(schemes.rloo(), r, None, m, None)
    # r_i - mean of the other three
    np.testing.assert_allclose(z, [[1 - (-0.0) / 3, 0 - 1 / 3, -0.5 - 1.5 / 3, 0.5 - 0.5 / 3]])
    z = _weights(schemes.grpo(), r, None, m, None)
    sd = np.sqrt((0.75**2 + 0.25**2 + 0.75**2 + 0.25**2) / 4)
    np.testing.assert_allclose(z, np.array([[0.75, -0.25, -0.75, 0.25]]) / sd, rtol=1e-6)
    # counts: response 0 twice, response 1 twice == rewards (1, 1, 0, 0)
    z_counts = _weights(
        schemes.grpo(), jnp.asarray([[1.0, 0.0]]), jnp.asarray([[2.0, 2.0]]), m, None
    )
    np.testing.assert_allclose(z_counts, [[1.0, -1.0]], rtol=1e-6)


def test_bad_kl_config_and_hparams():
    with pytest.raises(InputError, match=r"kl_estimator='k9'"):
        SimConfig("grpo", kl_estimator="k9")
    with pytest.raises(InputError, match=r"kl_placement='both'"):
        SimConfig("grpo", kl_placement="both")
    with pytest.raises(InputError, match=r"scheme='rejection_sampling'.*kl_placement='reward'"):
        SimConfig("rejection_sampling", kl_placement="reward")
    assert SimConfig("grpo", kl_estimator="low_var_kl").kl_estimator == "k3"
    fn = make_simulate(SimConfig("grpo", num_steps=2))
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(InputError, match="kl_coef"):
            fn(HParams(0.1, kl_coef=bad), jax.random.key(0))


@pytest.mark.parametrize("policy", ["tabular", "sequence_tabular"])
def test_kl_coef_zero_is_bitwise_the_run_without_kl(policy):
    problem = Problem(policy=policy, num_prompts=2, num_responses=3, init_p=(0.3, 0.6))
    cfg = SimConfig("grpo", problem, group_size=4, num_steps=10, kl_estimator="k3")
    fn = make_simulate(cfg, sparse=False)  # the generic route, which the KL term extends
    key = jax.random.key(3)
    off, zero = fn(HParams(0.3), key), fn(HParams(0.3, kl_coef=0.0), key)
    for a, b in zip(off, zero, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    on = fn(HParams(0.3, kl_coef=1.0), key)
    assert float(on.mean_p[-1]) < float(off.mean_p[-1])  # the penalty holds p near p_ref


@pytest.mark.parametrize("estimator,kind", [("k2", "loss"), ("k3", "loss")])
def test_long_exact_ascent_reaches_kl_equilibrium(estimator, kind):
    # one-token softmax: k2 as a loss is the reverse-KL gradient, k3 the forward one
    problem = Problem(policy="tabular", num_prompts=1, num_responses=2, init_p=(0.3,))
    cfg = SimConfig(
        "grpo",
        problem,
        group_size=8,
        num_steps=4000,
        record_every=4000,
        kl_estimator=estimator,
        kl_placement=kind,
    )
    p_end = float(make_exact(cfg)(HParams(1.0, kl_coef=1.0)).mean_p[-1])
    target = kl_equilibrium(schemes.grpo(), 8, 1.0, 0.3, estimator=estimator, placement=kind)
    assert abs(p_end - target) < 1e-3
    assert abs(target - 0.3) > 0.3  # a real move, not the start


@pytest.mark.parametrize(
    "policy,scheme,estimator,placement,lr,beta",
    [
        ("tabular", "rloo", "k3", "reward", 0.2, 4.0),  # exact: count-vector enumeration
        ("sequence_tabular", "grpo", "k3", "loss", 0.05, 1.0),
        ("sequence_tabular", "rloo", "k1", "reward", 0.05, 1.0),
        ("sequence_tabular", "grpo", "k3_ratio", "loss", 0.05, 1.0),
        ("sequence_tabular", "grpo", "k1", "advantage", 0.05, 1.0),
    ],
)
def test_seed_mean_follows_exact_ascent_with_kl(policy, scheme, estimator, placement, lr, beta):
    problem = Problem(policy=policy, num_prompts=2, num_responses=4, init_p=(0.3, 0.6))
    cfg = SimConfig(
        scheme,
        problem,
        group_size=8,
        num_steps=40,
        record_every=10,
        kl_estimator=estimator,
        kl_placement=placement,
        aggregation="seq-mean-token-sum",
    )
    hp = HParams(jnp.float32(lr), kl_coef=jnp.float32(beta))
    runs = jax.jit(jax.vmap(make_simulate(cfg).jitted, in_axes=(None, 0)))
    metrics = runs(hp, jax.random.split(jax.random.key(1), 400))
    exact = np.asarray(make_exact(cfg)(hp).mean_p)
    no_kl = np.asarray(make_exact(cfg)(HParams(jnp.float32(lr))).mean_p)
    values = np.asarray(metrics.mean_p)
    mean, se = values.mean(0), values.std(0, ddof=1) / np.sqrt(values.shape[0])
    z = np.abs(mean[1:] - exact[1:]) / se[1:]
    assert np.all(z < 4.0), z
    # the KL gradient is 0 at pi = pi_ref and grows with the distance: visible at the end
    assert abs(no_kl[-1] - exact[-1]) > 5 * se[-1]


def test_exact_ascent_rejects_what_it_cannot_compute():
    problem = Problem(policy="sequence_tabular", num_prompts=1, init_p=(0.3,))
    cfg = SimConfig("grpo", problem, group_size=4, num_steps=2, kl_placement="reward")
    with pytest.raises(InputError, match=r"kl_placement='reward'"):
        make_exact(cfg)(HParams(0.1, kl_coef=1.0))


def test_grpo_k1_in_reward_is_invisible_on_a_symmetric_bandit():
    # the wrong responses stay exchangeable, so r - beta l takes two values: an affine map of r,
    # to which GRPO (eps = 0) is invariant; exact ascent with and without the KL term agree
    problem = Problem(policy="tabular", num_prompts=2, num_responses=4, init_p=(0.3, 0.6))
    cfg = SimConfig(
        "grpo",
        problem,
        group_size=8,
        num_steps=40,
        record_every=10,
        kl_estimator="k1",
        kl_placement="reward",
    )
    with_kl = np.asarray(make_exact(cfg)(HParams(0.05, kl_coef=1.0)).mean_p)
    without = np.asarray(make_exact(cfg)(HParams(0.05)).mean_p)
    np.testing.assert_allclose(with_kl, without, atol=1e-6)
    rloo = dataclasses.replace(cfg, scheme=schemes.rloo())
    moved = np.asarray(make_exact(rloo)(HParams(0.05, kl_coef=1.0)).mean_p)
    assert not np.allclose(moved, np.asarray(make_exact(rloo)(HParams(0.05)).mean_p), atol=1e-4)


def test_sweep_toml_kl_keys():
    from rlxform.reproduce.sweep_config import parse_sweep_config

    doc = {"kl_coef": 0.5, "kl_estimator": "mse", "kl_placement": "reward", "group_size": [4]}
    config = parse_sweep_config(doc)
    assert config.hparams.kl_coef == 0.5
    cfg = config.sim_config(config.schemes[0], 4)
    assert (cfg.kl_estimator, cfg.kl_placement) == ("k2", "reward")
    for key, value in (("kl_coef", -1.0), ("kl_estimator", "k7"), ("kl_placement", "both")):
        with pytest.raises(InputError, match=key):
            parse_sweep_config({key: value})


def test_kl_with_ppo_inner_loop_or_batch_std_is_refused():
    fn = make_simulate(SimConfig("grpo", num_steps=2, ppo_epochs=2))
    with pytest.raises(InputError, match="kl_coef is invalid with ppo_epochs=2"):
        fn(HParams(0.1, kl_coef=1.0), jax.random.key(0))
    fn = make_simulate(SimConfig("grpo", num_steps=2, std_scope="batch"))
    with pytest.raises(InputError, match=r"kl_coef is invalid with std_scope='batch'"):
        fn(HParams(0.1, kl_coef=1.0), jax.random.key(0))
    fn(HParams(0.1), jax.random.key(0))  # PPO flags alone still run


# ---- issue 24: the real-reward advantage of a constant group is exactly 0 ------------------------


@pytest.mark.parametrize("m", [2, 3, 5, 6, 7, 8, 16])
def test_constant_group_gets_exactly_zero_at_every_m(m):
    # the float mean of M equal numbers need not round back (M = 3, 5, 6, 7); GRPO then divided
    # the residue by its own std and gave +-1. Count-vector and per-sample forms, NumPy float64
    # and JAX float32, eps = 0 and > 0, every real-reward scheme
    rng = np.random.default_rng(m)
    values = rng.standard_normal(200) * 10.0 ** rng.integers(-3, 3, 200)
    scheme_list = (
        schemes.grpo(),
        schemes.grpo(std="sample", eps=1e-6),
        schemes.rloo(),
        schemes.mean_baseline(),
    )
    for scheme in scheme_list:
        per_sample = np.repeat(values[:, None], m, axis=1)  # [200, M]
        counts = np.zeros((200, 3))
        counts[:, 1] = m  # one present item, two absent ones with other rewards
        items = np.stack([values - 1.0, values, values + 2.0], -1)
        for rewards, cnt in ((per_sample, None), (items, counts)):
            z = scheme.real_reward_weights(rewards, cnt, m)
            assert np.all(z == 0.0), (scheme.label, m)
            z32 = scheme.real_reward_weights(
                jnp.asarray(rewards, jnp.float32),
                None if cnt is None else jnp.asarray(cnt, jnp.float32),
                m,
            )
            assert np.all(np.asarray(z32) == 0.0), (scheme.label, m, "float32")
    # GRPO's public form too
    assert np.all(schemes.grpo_advantages(np.repeat(values[:, None], m, axis=1)) == 0.0)
    # a group that is not constant keeps its spread: one sample moved by 1e-9 gets the top weight
    row = np.full(m, 0.1)
    row[0] += 1e-9
    z = schemes.grpo().real_reward_weights(row[None], None, m)[0]
    assert z[0] > 0 and np.all(z[1:] < 0)


@pytest.mark.parametrize("m", [2, 3, 5, 6, 7, 8, 16])
def test_grpo_k1_in_reward_keeps_the_two_answer_update_until_one_over_beta(m):
    # two answers: r' = r - beta l takes two values with r'_c - r'_w = 1 - beta (logit p -
    # logit p_ref); GRPO (eps = 0) of r' is sign(that) times GRPO of r, group by group (constant
    # groups exactly 0), so the exact update is unchanged until logit p - logit p_ref = 1/beta
    # and reversed past it. Checked on every count vector in float64 (exact up to rounding).
    scheme, beta, p_ref = schemes.grpo(), 0.5, 0.3
    a_table, b_table = scheme.tables(m)
    s = np.arange(m + 1)
    counts = np.stack([s, m - s], -1).astype(float)  # [M+1, 2]: S correct, M - S wrong
    for p in (0.05, 0.3, 0.5, 0.8, 0.95):
        l_c, l_w = np.log(p / p_ref), np.log((1 - p) / (1 - p_ref))
        gap = 1.0 - beta * (l_c - l_w)
        real = np.broadcast_to(np.array([1.0 - beta * l_c, -beta * l_w]), counts.shape)
        z = scheme.real_reward_weights(real, counts, m)
        binary = np.stack([a_table, b_table], -1)
        present = counts > 0
        np.testing.assert_allclose(
            z[present], np.sign(gap) * binary[present], rtol=1e-13, atol=1e-15
        )
        assert np.all(z[0] == 0.0) and np.all(z[m] == 0.0)  # S = 0 and S = M: exactly 0
    # the crossing point: logit p = logit p_ref + 1/beta gives r'_c = r'_w, every group 0
    p_star = kl_equilibrium(scheme, m, beta, p_ref)
    l_c, l_w = np.log(p_star / p_ref), np.log((1 - p_star) / (1 - p_ref))
    assert abs(1.0 - beta * (l_c - l_w)) < 1e-14


def test_sampled_grpo_k1_in_reward_equals_the_run_without_it_on_two_answers():
    # M = 7, where the float mean of 7 equal rewards does not round back; beta = 0.05 puts the
    # crossing at logit p_ref + 20, never reached: the sampled runs agree to float32 rounding
    problem = Problem(policy="tabular", num_prompts=2, num_responses=2, init_p=(0.3, 0.6))
    cfg = SimConfig(
        "grpo", problem, group_size=7, num_steps=40, kl_estimator="k1", kl_placement="reward"
    )
    fn = make_simulate(cfg, sparse=False)
    key = jax.random.key(5)
    with_kl = np.asarray(fn(HParams(0.2, kl_coef=0.05), key).mean_p)
    without = np.asarray(fn(HParams(0.2), key).mean_p)
    np.testing.assert_allclose(with_kl, without, atol=2e-5)
    assert abs(without[-1] - without[0]) > 0.05  # the runs moved
