"""The sparse-SGD fast path equals the generic simulator (same draws, same records)."""

import jax
import numpy as np
import pytest

from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams
from rlxform.sim.sequence_sparse import make_sparse_simulate
from rlxform.sim.simulate import make_simulate, sparse_eligible


@pytest.mark.parametrize("mode, groups", [("token-mean", 2), ("seq-mean-token-mean", 1)])
def test_sparse_path_equals_reference(mode, groups):
    problem = Problem(
        "sequence_tabular",
        num_prompts=3,
        init_p=(0.2, 0.5, 0.7),
        batch_size=2,  # random prompts with repeats: duplicate rows in the scatter
        vocab_size=3,
        max_length=3,
        verifier="parity",
    )
    cfg = SimConfig(
        "grpo",
        problem,
        group_size=4,
        num_steps=6,
        record_every=3,
        aggregation=mode,
        batch_groups=groups,
    )
    fast = make_sparse_simulate(cfg)(HParams(0.8), jax.random.key(5))
    ref = make_simulate(cfg, sparse=False)(HParams(0.8), jax.random.key(5))
    np.testing.assert_allclose(fast.p, ref.p, atol=2e-6)
    np.testing.assert_allclose(fast.mean_length_wrong, ref.mean_length_wrong, rtol=1e-5)
    assert not np.allclose(np.asarray(fast.p[0]), np.asarray(fast.p[-1]))
    assert int(fast.nonfinite_step) == -1
    np.testing.assert_allclose(fast.degenerate_fraction, ref.degenerate_fraction)


def test_sparse_path_refuses_adam():
    problem = Problem("sequence_tabular", vocab_size=3, max_length=2)
    cfg = SimConfig("grpo", problem, optimizer="adam")
    with pytest.raises(ValueError, match="optimizer='adam'"):
        make_sparse_simulate(cfg)


def _small_cfg(**kw):
    problem = Problem("sequence_tabular", num_prompts=2, vocab_size=3, max_length=2)
    return SimConfig("grpo", problem, group_size=4, num_steps=4, record_every=2, **kw)


def test_simulate_runs_the_sparse_route_by_default():
    cfg = _small_cfg()
    assert sparse_eligible(cfg)
    default = make_simulate(cfg)(HParams(0.5), jax.random.key(1))
    fast = make_sparse_simulate(cfg)(HParams(0.5), jax.random.key(1))
    for got, want in zip(default, fast, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("kw", [{"optimizer": "adam"}, {"std_scope": "batch"}])
def test_ineligible_configs_take_the_generic_route(kw):
    cfg = _small_cfg(**kw)
    assert not sparse_eligible(cfg)
    with pytest.raises(ValueError, match="sparse=True is invalid"):
        make_simulate(cfg, sparse=True)
    out = make_simulate(cfg)(HParams(0.5), jax.random.key(1))  # the generic route runs
    assert np.all(np.isfinite(np.asarray(out.p)))


def test_only_a_table_policy_is_sparse_eligible():
    """The capability, not the name: ``Policy.sparse_sgd`` (sequence_tabular only)."""
    problem = Problem("sequence_network", num_prompts=2, vocab_size=3, max_length=2, hidden=4)
    cfg = SimConfig("grpo", problem, group_size=4, num_steps=4, record_every=2)
    assert not sparse_eligible(cfg)
    with pytest.raises(ValueError, match="sparse_sgd"):
        make_sparse_simulate(cfg)


def test_kl_term_takes_the_generic_route():
    cfg = _small_cfg()
    with_kl = make_simulate(cfg)(HParams(0.5, kl_coef=0.1), jax.random.key(1))
    generic = make_simulate(cfg, sparse=False)(HParams(0.5, kl_coef=0.1), jax.random.key(1))
    np.testing.assert_array_equal(np.asarray(with_kl.p), np.asarray(generic.p))
    with pytest.raises(ValueError, match="sparse=True is invalid with kl_coef"):
        make_simulate(cfg, sparse=True)(HParams(0.5, kl_coef=0.1), jax.random.key(1))
