"""The sparse-SGD fast path equals the generic simulator (same draws, same records)."""

import jax
import numpy as np
import pytest

from rlxform import sequences as sq
from rlxform.sequence_sim import SeqSimConfig, make_sequence_simulate
from rlxform.sequence_sparse import make_sparse_simulate
from rlxform.simulate import HParams


@pytest.mark.parametrize("mode, groups", [("token-mean", 2), ("seq-mean-token-mean", 1)])
def test_sparse_path_equals_reference(mode, groups):
    cfg = SeqSimConfig(
        "grpo",
        sq.SequenceTask(3, 3, "parity"),
        mode,
        num_prompts=3,
        group_size=4,
        num_steps=6,
        record_every=3,
        batch_size=2,  # random prompts with repeats: duplicate rows in the scatter
        batch_groups=groups,
        init_p=(0.2, 0.5, 0.7),
    )
    fast = make_sparse_simulate(cfg)(HParams(0.8), jax.random.key(5))
    ref = make_sequence_simulate(cfg)(HParams(0.8), jax.random.key(5))
    np.testing.assert_allclose(fast.p, ref.p, atol=2e-6)
    np.testing.assert_allclose(fast.mean_length_wrong, ref.mean_length_wrong, rtol=1e-5)
    assert not np.allclose(np.asarray(fast.p[0]), np.asarray(fast.p[-1]))
    assert int(fast.nonfinite_step) == -1


def test_sparse_path_refuses_adam():
    cfg = SeqSimConfig("grpo", sq.SequenceTask(3, 2), optimizer="adam")
    with pytest.raises(ValueError, match="optimizer='adam'"):
        make_sparse_simulate(cfg)
