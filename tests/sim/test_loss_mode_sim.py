"""Loss modes in the simulator: the first update is the reducer's class, exactly; several epochs
follow the exact scalar-logit iteration; the default program is unchanged.

Routes: the simulator's first step (``sim.loss_mode``: the frameworks' per-token gradients in
JAX) averaged over many keys against the exact expected update with the mode's aggregation and
scale (s w_M grad p on bandits, ``UpdateRule.expected_update`` on sequences) within standard
errors; the same step summed over every group outcome of a tiny
sequence task (brute force) against the same exact update (NumPy float64 references, not the
simulator's own); PPO's inner loop (E = 4) on the
scalar-logit policy against ``core.ppo.ppo_effective_weight(loss_mode=...)``. One compiled
program per policy family serves every mode (the modes are unrolled inside it).
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rlxform.core import ppo as exact_ppo
from rlxform.core import schemes
from rlxform.core import sequences as core_sequences
from rlxform.core.objective import transform
from rlxform.core.sequences import enumerate_sequences, prefix_indices
from rlxform.sim import ascent, loop, ppo_step, simulate
from rlxform.sim import loss_mode as lm
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.exact import expected_update
from rlxform.sim.hparams import HParams
from rlxform.sim.policies import Group, combine, partition
from rlxform.validation import InputError

GRPO = schemes.grpo(std="sample", eps=1e-6)
MODES = [  # one of each first-update class and scale
    ("verl:vanilla", {}),  # token-mean
    ("verl:gspo", {"loss_agg_mode": "seq-mean-token-mean"}),  # 1/L through the sequence ratio
    ("verl:geo_mean", {}),  # 1/L (GMPO)
    ("verl:sapo", {}),  # 1/L, soft gate
    ("verl:vanilla", {"loss_agg_mode": "token-sum"}),  # 1, x the block's answers
    ("trl:grpo", {"importance_sampling_level": "sequence"}),  # 1/L
    ("trl:dr_grpo", {"max_completion_length": 8}),  # 1/L_max
    ("trl:cispo", {}),  # token-mean x 0.2
    ("trl:luspo", {}),  # 1
    ("openrlhf:gspo", {}),  # 1/L
]
Z_MAX = 4.5
# the default suite's subsets (one compile each); "all" runs in the slow set
SUBSETS = {
    "bandit": (1, 4, 6, 7),  # the scales: 1/L = 1, token-sum x answers, 1/L_max, cispo's cap
    "sequence": (0, 5, 6, 7),  # token-mean, 1/L (sequence ratio), 1/L_max, cispo's cap
    "all": tuple(range(len(MODES))),
}


def _configs(problem: Problem, group_size: int, subset: str) -> list[SimConfig]:
    return [
        SimConfig(GRPO, problem, group_size, 1, loss_mode=name, loss_settings=settings)
        for name, settings in (MODES[i] for i in SUBSETS[subset])
    ]


def _first_steps(cfgs: list[SimConfig]):
    """``jit(vmap(group -> float32[modes, ...]))``: each mode's first update (ascent direction)
    on one drawn ``Group``, the simulator's rollout and minibatch objective."""
    cfg = cfgs[0]
    policy = ascent.policy_of(cfg)
    trainable, frozen = partition(ascent.initial_params(cfg))
    a_table, b_table = ascent.tables(cfg)

    def one(group: Group):
        params = combine(trainable, frozen)
        rollout = lm.make_rollout(policy, params, group, a_table, b_table, cfg.group_size)
        out = []
        for c in cfgs:

            def objective(tr, c=c):
                log_probs, _ = lm.token_log_probs(
                    policy, combine(tr, frozen), group, rollout.samples
                )
                return lm.mode_objective(c.loss[0], log_probs, rollout, c.batch_groups)[0]

            grads = jax.grad(objective)(trainable)
            out.append(jnp.concatenate([g.reshape(-1) for g in jax.tree_util.tree_leaves(grads)]))
        return jnp.stack(out)

    def sample(key):
        _, sample_key = jax.random.split(key)  # as ppo_step.make_ppo_step: (batch key, sample key)
        return policy.sample(sample_key, combine(trainable, frozen), None, cfg.group_size)

    return jax.jit(jax.vmap(one)), jax.jit(jax.vmap(sample))


def _exact(cfgs: list[SimConfig]) -> np.ndarray:
    """Each mode's exact E[first update] in NumPy float64: s x the plain update with the mode's
    aggregation (sequences: ``UpdateRule.expected_update``; bandits: s w_M(p) grad p), over
    the mean of the P groups."""
    cfg = cfgs[0]
    logits = np.asarray(ascent.initial_params(cfg)["logits"], np.float64)
    num_prompts, m = cfg.problem.num_prompts, cfg.group_size
    out = []
    for c in cfgs:
        if cfg.problem.is_sequence:
            rule = core_sequences.UpdateRule(GRPO, c.aggregation, m)
            base = rule.expected_update(logits, cfg.problem.task)
        else:
            probs = np.exp(logits - logits.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            correct = np.arange(probs.shape[-1]) < cfg.problem.num_correct
            p = probs[:, correct].sum(-1)
            w_m = np.asarray(transform(GRPO, m).weight(p), np.float64)
            base = w_m[:, None] * probs * (correct - p[:, None])  # w_M(p) d p / d logits
        out.append(c.loss[1] * base.reshape(-1) / num_prompts)
    return np.stack(out)


def _z_scores(samples: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Per mode, the largest |mean - exact| / SE over the coordinates that vary."""
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / np.sqrt(samples.shape[0])
    live = se > 1e-9
    z = np.where(live, (mean - exact) / np.where(live, se, 1.0), 0.0)
    assert np.all(np.abs(mean - exact)[~live] < 1e-6)
    return np.abs(z).max(-1)


@functools.lru_cache(maxsize=2)
def _bandit(subset: str):
    problem = Problem("tabular", num_prompts=3, num_responses=3, init_p=(0.2, 0.5, 0.75))
    cfgs = _configs(problem, 6, subset)
    return cfgs, *_first_steps(cfgs)


@pytest.mark.parametrize("subset", ["bandit", "all"])
def test_bandit_first_update_is_the_reducers_class_within_standard_errors(subset):
    cfgs, steps, sample = _bandit(subset)
    keys = jax.random.split(jax.random.key(0), 3000)
    samples = np.asarray(steps(sample(keys)), np.float64)
    z = _z_scores(samples, _exact(cfgs))
    print(dict(zip([c.loss_mode for c in cfgs], np.round(z, 2), strict=True)))
    assert np.all(z < Z_MAX), z


TASK = dict(vocab_size=3, max_length=2, verifier="first_token")


@functools.lru_cache(maxsize=2)
def _sequence(subset: str):
    problem = Problem("sequence_tabular", num_prompts=1, init_p=(0.35,), **TASK)
    cfgs = _configs(problem, 3, subset)
    return cfgs, *_first_steps(cfgs)


def _all_groups(cfg: SimConfig) -> tuple[Group, np.ndarray]:
    """Every group of M responses of the one prompt (N^M outcomes) and its probability."""
    task, m = cfg.problem.task, cfg.group_size
    enum = enumerate_sequences(task)
    logits = np.asarray(ascent.initial_params(cfg)["logits"], np.float64)
    probs = np.exp(core_sequences.response_log_probs(logits, task)[0])
    rows = np.array(list(itertools.product(range(len(enum.lengths)), repeat=m)))  # [O, M]
    group = Group(
        prompts=np.zeros((len(rows), 1), np.int32),
        counts=None,
        rewards=enum.correct[rows][:, None],
        lengths=enum.lengths[rows][:, None].astype(np.int32),
        tokens=enum.tokens[rows][:, None].astype(np.int32),
        nodes=prefix_indices(task)[rows][:, None].astype(np.int32),
    )
    return group, np.prod(probs.astype(np.float64)[rows], axis=-1)


@pytest.mark.parametrize("subset", ["sequence", "all"])
def test_sequence_first_update_brute_force_over_every_group(subset):
    """sum over all 7^3 groups of P(group) x the simulator's step = the exact E[update]."""
    cfgs, steps, _ = _sequence(subset)
    group, weights = _all_groups(cfgs[0])
    assert weights.sum() == pytest.approx(1.0, abs=1e-6)
    total = np.einsum("o,omk->mk", weights, np.asarray(steps(group), np.float64))
    exact = _exact(cfgs)
    scale = np.abs(exact).max(-1, keepdims=True)
    np.testing.assert_allclose(total / scale, exact / scale, rtol=0, atol=2e-6)


@pytest.mark.parametrize("subset", ["sequence", "all"])
def test_sequence_first_update_within_standard_errors(subset):
    cfgs, steps, sample = _sequence(subset)
    keys = jax.random.split(jax.random.key(1), 12 * 343).reshape(12, 343)
    samples = np.concatenate([np.asarray(steps(sample(k)), np.float64) for k in keys])
    z = _z_scores(samples, _exact(cfgs))
    print(dict(zip([c.loss_mode for c in cfgs], np.round(z, 2), strict=True)))
    assert np.all(z < Z_MAX), z


def test_ppo_step_takes_the_first_update():
    """``ppo_step.make_ppo_step`` (E = N = 1) moves by lr x the step of ``_first_steps`` per key."""
    cfgs, steps, sample = _sequence("sequence")
    index = [c.loss_mode for c in cfgs].index("trl:grpo")  # at sequence level
    cfg, lr = cfgs[index], 0.5
    policy = ascent.policy_of(cfg)
    trainable, frozen = partition(ascent.initial_params(cfg))
    optimizer = loop.freeze_if_nonfinite(optax.sgd(lr))
    a_table, b_table = ascent.tables(cfg)
    step = ppo_step.make_ppo_step(cfg, policy, optimizer, frozen, a_table, b_table, HParams(lr))

    def moved(key):
        state = loop.TrainState(trainable, optimizer.init(trainable))
        state, (_, fraction) = step(state, (key, jax.random.split(jax.random.key(2), 1)))
        return (state.trainable["logits"] - trainable["logits"]).reshape(-1) / lr, fraction

    keys = jax.random.split(jax.random.key(3), 343)
    got, fraction = jax.jit(jax.vmap(moved))(keys)
    np.testing.assert_allclose(got, steps(sample(keys))[:, index], rtol=0, atol=1e-6)
    assert np.all(np.asarray(fraction) == 0.0)  # ratio 1: nothing clipped


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("verl:cispo", {"clip_ratio_high": 0.1}),
        ("trl:grpo", {"delta": 1.3}),
        ("verl:sapo", {}),
        ("verl:geo_mean", {}),
        ("trl:cispo", {"epsilon_high": 1.1}),
    ],
)
def test_several_epochs_follow_the_exact_scalar_iteration(name, settings):
    """Scalar logits, E = 4 epochs of one minibatch: seed-mean p after one rollout against
    ``ppo_effective_weight(loss_mode=...)`` (lr / P: each prompt's loss is a mean over P groups)."""
    init_p, lr, epochs, seeds = (0.15, 0.4, 0.7), 3.0, 4, 4000
    problem = Problem("scalar", num_prompts=3, init_p=init_p)
    cfg = SimConfig(GRPO, problem, 6, 1, ppo_epochs=epochs, loss_mode=name, loss_settings=settings)
    run = jax.jit(jax.vmap(simulate.build_simulate(cfg), in_axes=(None, 0)))
    metrics = run(HParams(np.float32(lr)), jax.random.split(jax.random.key(4), seeds))
    p_after = np.asarray(metrics.p[:, 1], np.float64)
    mode, shares = cfg.loss[0], []
    for x, p in enumerate(init_p):
        want = exact_ppo.ppo_effective_weight(
            GRPO, 6, p, learning_rate=lr / 3, epochs=epochs, loss_mode=mode
        )
        gap = p_after[:, x].mean() - p - want.delta_p
        se = p_after[:, x].std(ddof=1) / np.sqrt(seeds)
        print(f"{name} {settings} p={p}: delta_p {want.delta_p:.5f}, z = {gap / se:.2f}")
        assert abs(gap) < Z_MAX * se, (p, gap / se)
        assert abs(want.delta_p) > 10 * se  # the test can tell the modes apart
        shares.append(want.clip_fraction)
    fraction = np.asarray(metrics.clip_fraction[:, 1], np.float64)  # mean over the 3 prompts
    se = fraction.std(ddof=1) / np.sqrt(seeds)
    assert abs(fraction.mean() - np.mean(shares)) < Z_MAX * se + 1e-6, (fraction.mean(), shares)
    assert np.mean(shares) > 0.01


def test_bandit_counts_expand_into_samples():
    counts = np.array([[2.0, 0.0, 3.0], [0.0, 5.0, 0.0]], np.float32)
    samples = jax.jit(lm.expand_samples, static_argnums=1)(counts, 5)  # one program per route
    np.testing.assert_array_equal(samples, [[0, 0, 2, 2, 2], [1] * 5])
    group = Group(None, counts, np.array([True, False, False]))
    a_table, b_table = np.arange(6.0, dtype=np.float32), -np.arange(6.0, dtype=np.float32) - 10
    advantages = jax.jit(lm.sample_advantages)(group, samples, a_table, b_table)  # S = 2 and 0
    np.testing.assert_array_equal(advantages, [[2, 2, -12, -12, -12], [-10] * 5])


def test_exact_reference_scales_with_the_mode():
    problem = Problem("scalar", num_prompts=2, init_p=(0.3, 0.6))
    plain = SimConfig(GRPO, problem, 4, 1)
    params = ascent.initial_params(plain)
    # one compiled program per config (not one eager compile per primitive)
    base = np.asarray(jax.jit(lambda p: expected_update(None, p, plain))(params)["logit"])
    for name, settings, scale in [
        ("trl:dr_grpo", {}, 1 / 512),
        ("trl:cispo", {}, 0.2),
        ("verl:vanilla", {"loss_agg_mode": "token-sum"}, 4.0),
    ]:
        cfg = SimConfig(GRPO, problem, 4, 1, loss_mode=name, loss_settings=settings)
        assert cfg.loss[1] == scale
    got = np.asarray(jax.jit(lambda p: expected_update(None, p, cfg))(params)["logit"])
    np.testing.assert_allclose(got, 4.0 * base, rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"loss_mode": "verl:nope"}, "loss_mode='verl:nope' is invalid: must be one of"),
        ({"loss_settings": {"delta": 2.0}}, "settings need a loss mode"),
        (
            {"loss_mode": "trl:grpo", "dynamic_sampling": True},
            "dynamic_sampling=True is invalid with loss_mode='trl:grpo'",
        ),
        (
            {"loss_mode": "trl:grpo", "batch_groups": 2, "num_minibatches": 4},
            "batch_groups=2 is invalid with loss_mode: must divide the minibatch of 1 groups",
        ),
        ({"ppo_epochs": 2, "policy": "sequence_tabular"}, "ppo_epochs=2 is invalid for sequence"),
    ],
)
def test_config_refuses_by_name(fields, fragment):
    with pytest.raises(InputError) as err:
        SimConfig.from_flat(GRPO, num_prompts=4, **fields)
    assert fragment in str(err.value)


def test_config_resolves_the_mode():
    cfg = SimConfig.from_flat(
        GRPO,
        policy="sequence_tabular",
        loss_mode="verl:gspo",
        loss_settings={"clip_ratio_high": 0.28, "loss_agg_mode": "seq-mean-token-mean"},
        ppo_epochs=4,
    )
    assert cfg.aggregation == "seq-mean-token-mean" and cfg.ppo_step and cfg.is_ppo
    assert cfg.loss_settings == (
        ("clip_ratio_high", 0.28),
        ("loss_agg_mode", "seq-mean-token-mean"),
    )
    assert cfg.loss[0].setting("clip_ratio_high") == 0.28 and cfg.loss[1] == 1.0
    assert hash(cfg) == hash(
        SimConfig.from_flat(
            GRPO, policy="sequence_tabular", **{"loss_mode": cfg.loss[0], "ppo_epochs": 4}
        )
    )
    plain = SimConfig(GRPO)
    assert plain.loss == (None, 1.0) and not plain.ppo_step


def test_clip_hparams_refused_with_a_mode():
    cfg = SimConfig(GRPO, loss_mode="trl:grpo")
    with pytest.raises(InputError, match=r"clip_high is invalid with loss_mode='trl:grpo'"):
        simulate.make_simulate(cfg)(HParams(0.1, clip_high=0.28), jax.random.key(0))
    with pytest.raises(InputError, match="kl_coef is invalid with loss_mode='trl:grpo'"):
        simulate.make_simulate(cfg)(HParams(0.1, kl_coef=0.1), jax.random.key(0))
