"""W5's jax_reference: hand-computed gradient and step, its sampler's law, convergence like
rlxform's simulator, and the W5 records with the row (run under rbg keys: quick compiles)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from rlxform import runtime
from rlxform.core.sequences import enumerate_sequences, length_stats, response_log_probs
from rlxform.reproduce import bench
from rlxform.reproduce.bench import run as bench_run
from rlxform.reproduce.bench import sequence_reference as sr
from rlxform.reproduce.bench.sequences import w5_records
from rlxform.reproduce.bench.workloads import workload
from rlxform.sim.ascent import initial_params
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams
from rlxform.sim.sequence_sparse import make_sparse_simulate


def small_cfg(num_prompts, group_size, num_steps, vocab_size=3, max_length=2, init_p=(0.3,)):
    problem = Problem(
        "sequence_tabular",
        num_prompts,
        init_p=init_p,
        vocab_size=vocab_size,
        max_length=max_length,
        verifier="first_token",
    )
    return SimConfig(
        "grpo",
        problem,
        group_size=group_size,
        num_steps=num_steps,
        record_every=num_steps,
        aggregation="seq-mean-token-mean",
    )


# one compiled program per shape (not one eager compile per primitive)
_sample_responses = jax.jit(sr.sample_responses, static_argnums=(2, 3))
_group_advantages = jax.jit(sr.group_advantages, static_argnames="std")


def test_group_advantages_by_hand():
    np.testing.assert_allclose(_group_advantages(np.asarray([1.0, 0.0])), [1.0, -1.0])
    sample = _group_advantages(np.asarray([1.0, 0.0]), std="sample")
    np.testing.assert_allclose(sample, [0.5 / np.sqrt(0.5), -0.5 / np.sqrt(0.5)], rtol=1e-6)
    # q = 1/4, population sd = sqrt(3)/4: A = (3/4) / (sqrt(3)/4) = sqrt(3), -(1/4)/(sqrt 3/4)
    np.testing.assert_allclose(
        _group_advantages(np.asarray([1.0, 0.0, 0.0, 0.0])),
        [np.sqrt(3), -1 / np.sqrt(3), -1 / np.sqrt(3), -1 / np.sqrt(3)],
        rtol=1e-6,
    )
    np.testing.assert_array_equal(_group_advantages(np.ones((2, 3))), np.zeros((2, 3)))


def test_surrogate_gradient_by_hand():
    """P = 1, V = 3 (stop = 2), max_length 2, uniform rows (pi = 1/3), M = 2:
    y1 = (0, stop) correct, L = 2, nodes (0, 1); y2 = (stop,) wrong, L = 1. A = (+1, -1).
    grad = (1/2) sum_i (A_i / L_i) sum_t (onehot(t) - 1/3) at its node:
    row 0: (1/2)[(1/2)(2/3, -1/3, -1/3) - (-1/3, -1/3, 2/3)] = (1/3, 1/12, -5/12);
    row 1: (1/2)(1/2)(-1/3, -1/3, 2/3) = (-1/12, -1/12, 1/6); row 2 untouched."""
    responses = sr.Responses(
        tokens=jnp.asarray([[[0, 2], [2, 0]]], jnp.int32),
        nodes=jnp.asarray([[[0, 1], [0, 0]]], jnp.int32),
        live=jnp.asarray([[[True, True], [True, False]]]),
        index=jnp.asarray([[1, 0]], jnp.int32),
    )
    advantages = _group_advantages(np.asarray([[1.0, 0.0]]))
    grad = jax.jit(jax.grad(sr.surrogate))(jnp.zeros((1, 3, 3)), responses, advantages)
    expected = [[1 / 3, 1 / 12, -5 / 12], [-1 / 12, -1 / 12, 1 / 6], [0.0, 0.0, 0.0]]
    np.testing.assert_allclose(grad[0], expected, atol=1e-7)
    enum = enumerate_sequences(small_cfg(1, 2, 1).problem.task)  # the indices above
    assert enum.tokens[1].tolist() == [0, 2] and enum.tokens[0].tolist() == [2, -1]


def test_sampler_follows_the_enumerated_law():
    """index, tokens, live and nodes agree with the enumeration; frequencies chi-square fit."""
    cfg = small_cfg(2, 4096, 1, max_length=3, init_p=(0.3, 0.7))
    task = cfg.problem.task
    logits = jnp.asarray(initial_params(cfg)["logits"])
    drawn = _sample_responses(jax.random.key(3, impl="rbg"), logits, task, 4096)
    enum = enumerate_sequences(task)
    index = np.asarray(drawn.index)
    live = np.asarray(drawn.live)
    np.testing.assert_array_equal(live.sum(-1), enum.lengths[index])
    np.testing.assert_array_equal(np.where(live, drawn.tokens, -1), enum.tokens[index])
    b = task.vocab_size - 1
    parents = np.asarray(drawn.nodes)[..., :-1]
    children = b * parents + 1 + np.asarray(drawn.tokens)[..., :-1]
    np.testing.assert_array_equal(
        np.asarray(drawn.nodes)[..., 1:][live[..., 1:]], children[live[..., 1:]]
    )
    probs = np.exp(response_log_probs(np.asarray(logits, np.float64), task))  # NumPy [P, N]
    for prompt in range(2):
        counts = np.bincount(index[prompt], minlength=enum.lengths.size)
        assert stats.chisquare(counts, probs[prompt] / probs[prompt].sum() * 4096).pvalue > 1e-4


def test_one_reference_step_by_hand():
    """T = 1: the recorded end p is that of logits0 + lr (1/P)(1/M) sum_i (A_i/L_i) sum_t
    (onehot(t) - softmax(row)) at the responses the step drew (NumPy, float64)."""
    cfg = small_cfg(2, 2, 1, max_length=3, init_p=(0.3, 0.6))
    task = cfg.problem.task
    logits0 = jnp.asarray(initial_params(cfg)["logits"])
    key, lr = jax.random.key(7, impl="rbg"), 3.0
    records = jax.jit(sr.build_sequence_reference(cfg))(logits0, jnp.float32(lr), key)
    drawn = _sample_responses(jax.random.split(key, 1)[0], logits0, task, 2)
    correct = enumerate_sequences(task).correct[np.asarray(drawn.index)]  # [P, M]
    start = np.asarray(logits0, np.float64)
    new = start.copy()
    for x in range(2):
        r = correct[x].astype(float)
        sd = r.std()
        adv = np.zeros(2) if sd == 0 else (r - r.mean()) / sd
        for i in range(2):
            live = np.asarray(drawn.live[x, i])
            for t in np.flatnonzero(live):
                node, token = int(drawn.nodes[x, i, t]), int(drawn.tokens[x, i, t])
                row = np.exp(start[x, node] - start[x, node].max())
                step = np.eye(3)[token] - row / row.sum()
                new[x, node] += lr / 2 / 2 * adv[i] / live.sum() * step
    p_new, p_start = length_stats(new, task)[0], length_stats(start, task)[0]  # NumPy float64
    np.testing.assert_allclose(records.p[0], p_start, atol=1e-6)
    np.testing.assert_allclose(records.p[1], p_new, atol=2e-6)
    np.testing.assert_allclose(records.mean_p, [p_start.mean(), p_new.mean()], atol=2e-6)


@pytest.mark.parametrize("impl", ["rbg", pytest.param("threefry2x32", marks=pytest.mark.slow)])
def test_reference_converges_like_the_simulator(impl):
    """W5's task (V = 4, max_length 8, M = 16, GRPO, seq-mean-token-mean, SGD) on P = 128
    prompts at p0 = 0.3, T = 30: prompts are independent replicates, so the end p of the
    reference and of rlxform's sparse simulator agree within 4 standard errors."""
    num_prompts = 128
    cfg = small_cfg(num_prompts, 16, 30, vocab_size=4, max_length=8)
    lr = 0.2 * num_prompts  # the step on a prompt's rows is lr / P
    logits0 = jnp.asarray(initial_params(cfg)["logits"])
    ref = jax.jit(sr.build_sequence_reference(cfg))(
        logits0, jnp.float32(lr), jax.random.key(0, impl=impl)
    )
    sim = make_sparse_simulate(cfg)(HParams(jnp.float32(lr)), jax.random.key(1, impl=impl))
    ref_p, sim_p = np.asarray(ref.p[-1], np.float64), np.asarray(sim.p[-1], np.float64)
    se = np.hypot(ref_p.std(ddof=1), sim_p.std(ddof=1)) / np.sqrt(num_prompts)
    np.testing.assert_allclose(ref.p[0], sim.p[0], atol=1e-6)
    assert ref_p.mean() > 0.3 + 0.2 and sim_p.mean() > 0.3 + 0.2  # both moved p up
    assert abs(ref_p.mean() - sim_p.mean()) < 4 * se, (ref_p.mean(), sim_p.mean(), se)
    lengths = (ref.mean_length_wrong[-1], sim.mean_length_wrong[-1])
    assert abs(lengths[0] - lengths[1]) < 0.05, lengths  # E[L | wrong], prompt mean


def test_w5_records_rows_and_keys():
    """Real W5 records at a tiny scale (rbg: quick compiles): the four rows, each with exactly
    the keys of the other workloads' records; the table shows W5's jax_reference ratio."""
    before = runtime.current_prng()
    runtime.use_prng("rbg")
    try:
        records = w5_records(0.02, 1)
    finally:
        runtime.use_prng(before)
    rows = [r["implementation"] for r in records]
    assert rows == ["rlxform", "jax_reference", "numpy", "uniform_bound"]
    keys = set(bench_run.record(workload("W1", 0.01), "rlxform", 1.0, 0.0, 0))
    assert all(set(r) == keys and r["workload"] == "W5" for r in records)
    assert [r["prng"] for r in records] == ["rbg", "rbg", "numpy", "rbg"]
    assert ("W5", "rlxform", "jax_reference") in bench.ratios(records)
    line = next(
        line
        for line in bench_run.format_table(records).splitlines()
        if line.startswith("W5") and "rlxform" in line
    )
    cells = line.split()[-3:]  # vs jax_ref, vs numpy, vs uniform
    assert all(cell.endswith("x") for cell in cells), line
