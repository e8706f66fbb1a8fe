"""The card's "Filters" section (``rlxform.explain.filters``) at each trainer's settings: which
filters act, the vLLM keep probability under the stated mismatch model, the length drift on the
reference task, and the lens break they cause."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from rlxform.core import filter_updates as fu
from rlxform.explain.cards import card_json, explain

DAPO = {
    "algorithm.adv_estimator": "grpo",
    "actor_rollout_ref.rollout.n": 16,
    "actor_rollout_ref.actor.loss_agg_mode": "token-mean",
    "reward_model.reward_manager": "dapo",
    "reward_model.overlong_buffer.enable": True,
    "reward_model.overlong_buffer.len": 4096,
    "reward_model.overlong_buffer.penalty_factor": 1.0,
    "data.max_response_length": 20480,
}


def test_no_filter_says_so():
    card = explain({"num_generations": 8}, "trl")
    section = card.section("filters")
    assert section.values == {"active": []}
    assert "--topic filters" in section.prose[-1]


def test_trl_default_vllm_correction_with_the_issue_numbers():
    """use_vllm in TRL 1.16.0: sequence_mask, cap 3; sigma 0.05 per token drops 1.4% of
    100-token answers and 24% of 1000-token ones; the mask adds a 1/L-like length drift."""
    card = explain({"num_generations": 8, "use_vllm": True, "max_completion_length": 2000}, "trl")
    values = card.section("filters").values
    assert values["active"] == ["vllm_importance_sampling"]
    assert (values["vllm_mode"], values["vllm_cap"], values["mismatch_sd"]) == (
        "sequence_mask",
        3.0,
        0.05,
    )
    table = values["table"]
    assert table["length"] == [100, 1000, 2000]
    expected = stats.norm.cdf(math.log(3.0) / (0.05 * np.sqrt(table["length"])))
    np.testing.assert_allclose(table["keep_probability"], expected, rtol=1e-12)
    assert 1 - table["keep_probability"][-1] == pytest.approx(0.3116, abs=1e-4)
    assert values["d_length_correct_per_p"] < values["d_length_correct_per_p_without_filters"]
    assert values["d_length_wrong_per_p"] > values["d_length_wrong_per_p_without_filters"]
    assert card.section("lens").values["exact"] is False
    assert any("vllm_importance_sampling" in b for b in card.section("lens").values["breaks"])
    json.loads(card_json(card))  # JSON-ready


def test_verl_dapo_overlong_through_verls_own_advantage():
    card = explain(DAPO, "verl")
    values = card.section("filters").values
    assert values["active"] == ["overlong_shaping"]
    assert (values["overlong_buffer"], values["overlong_factor"]) == (4096.0, 1.0)
    assert values["overlong_max_length"] == 20480
    assert values["d_length_wrong_per_p"] < 0 and values["d_length_correct_per_p"] < 0


def test_openrlhf_range_kept_probability_is_binomial():
    settings = {
        "algo.advantage.estimator": "group_norm",
        "rollout.n_samples_per_prompt": 8,
        "algo.dynamic_filtering_enable": True,
        "algo.dynamic_filtering_range": [0.2, 0.8],
        "algo.kl.init_coef": 0,
    }
    values = explain(settings, "openrlhf").section("filters").values
    assert values["active"] == ["dynamic_filtering_range"]
    s = np.arange(9)
    keep = (s / 8 > 0.2) & (s / 8 < 0.8)
    for p, kept in values["range_kept_probability"].items():
        assert kept == pytest.approx(float((stats.binom.pmf(s, 8, float(p)) * keep).sum()))
    default = dict(settings, **{"algo.dynamic_filtering_range": [0, 1]})
    assert explain(default, "openrlhf").section("filters").values["active"] == []


def test_entropy_quantile_on_the_reference_task_does_not_move_p():
    """The reference task's answer is decided by its first token, whose entropy is the lowest:
    rho = 0.2 keeps none of them (the section says so instead of a drift per unit of p)."""
    values = (
        explain({"num_generations": 8, "top_entropy_quantile": 0.2}, "trl")
        .section("filters")
        .values
    )
    assert values["active"] == ["top_entropy_quantile"]
    assert abs(values["d_p_per_step"]) < 1e-12
    unsloth = explain({"num_generations": 8, "top_entropy_quantile": 0.2}, "unsloth")
    assert unsloth.section("filters").values["active"] == []  # its loss ignores the key


def test_reference_filters_keep_the_configs_keep_probability():
    """The reference task's 8 tokens stand for the config's maximum length: the per-token sd is
    scaled so an 8-token answer keeps the weight as often as a max-length one."""
    from rlxform.explain.filters import _reference_filters
    from rlxform.frameworks import read_config

    run = read_config({"use_vllm": True, "max_completion_length": 1000}, "trl")
    filters = _reference_filters(run, 1000)
    assert isinstance(filters, fu.Filters)
    assert filters.mismatch_sd * math.sqrt(8) == pytest.approx(0.05 * math.sqrt(1000))
