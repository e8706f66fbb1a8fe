"""Problem nested in SimConfig: one validator, one error type, the flat loader."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams, checked_hparams
from rlxform.validation import InputError


def test_problem_is_nested_not_copied():
    cfg = SimConfig("grpo", Problem("network", 6, 4, 2, batch_size=3), group_size=4)
    assert cfg.problem.num_prompts == 6 and cfg.batch == 3
    assert not hasattr(cfg, "num_prompts") and not hasattr(cfg, "init_p")
    assert cfg.problem.num_correct == 2 and cfg.problem.policy == "network"
    assert not any(f.name == "num_prompts" for f in dataclasses.fields(SimConfig))
    assert hash(cfg) == hash(SimConfig("grpo", Problem("network", 6, 4, 2, batch_size=3), 4))


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda: Problem("mlp"), "policy='mlp'"),
        (lambda: Problem(num_prompts=0), "num_prompts=0"),
        (lambda: Problem("scalar", num_responses=3), "num_responses=3"),
        (lambda: Problem(num_responses=3, num_correct=3), "num_correct=3"),
        (lambda: Problem(num_prompts=2, batch_size=3), "batch_size=3"),
        (lambda: Problem(init_p=(0.0,)), "init_p"),
        (lambda: Problem("sequence_tabular", vocab_size=1), "vocab_size=1"),
        (lambda: SimConfig("grpo", record_every=3, num_steps=10), "record_every=3"),
        (lambda: SimConfig("grpo", aggregation="sum"), "aggregation='sum'"),
        (lambda: SimConfig("grpo", Problem(num_prompts=3), batch_groups=2), "batch_groups=2"),
        (lambda: SimConfig("nope"), "scheme"),
        (lambda: SimConfig("grpo", problem={"policy": "tabular"}), "problem="),
        (
            lambda: SimConfig("grpo", Problem("sequence_tabular"), dynamic_sampling=True),
            "dynamic_sampling=True",
        ),
        (lambda: SimConfig.from_flat("grpo", num_promts=3), "num_promts=3"),
    ],
)
def test_bad_input_raises_the_one_error_type(make, needle):
    with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_sequence_fields_are_ignored_by_bandits_and_bandit_fields_by_sequences():
    Problem("tabular", vocab_size=1)  # not validated for a bandit
    cfg = SimConfig("grpo", Problem("sequence_tabular", num_responses=1, max_length=3))
    assert cfg.problem.task.max_length == 3 and cfg.problem.task.vocab_size == 3


def test_from_flat_splits_problem_and_run_fields():
    cfg = SimConfig.from_flat("rloo", policy="scalar", num_prompts=3, group_size=4, num_steps=2)
    assert cfg == SimConfig("rloo", Problem("scalar", 3), group_size=4, num_steps=2)


def test_checked_hparams_validates_concrete_values_only():
    calls = []

    def fn(hparams, x):
        calls.append(x)
        return x

    run = checked_hparams(fn)
    assert run(HParams(np.float32(0.1)), 3) == 3
    with pytest.raises(InputError, match="learning_rate=0"):
        run(HParams(0.0), 4)
    with pytest.raises(InputError, match="eps=-1"):
        run(HParams(0.1, -1.0), 5)
    assert calls == [3]
