"""The card's entropy section (issue 24 item 5): the coefficient and aggregation each trainer's
reader takes from the config (facts in tests/data/entropy/README.md), p* from
``entropy_equilibrium`` at the config's M and c, TRL's adaptive controller, Unsloth dropping it,
releases rlxform does not model, and the lens line. NumPy only."""

from __future__ import annotations

import math

import pytest

from rlxform.core.entropy import entropy_equilibrium
from rlxform.core.objective import transform
from rlxform.explain.cards import explain
from rlxform.explain.entropy import target_accuracy
from rlxform.explain.topics import topic_text
from rlxform.frameworks import read_config

VERL = {"algorithm": {"adv_estimator": "grpo"}, "actor_rollout_ref": {"rollout": {"n": 8}}}


def _verl(coef=None, agg="token-mean", **extra):
    actor = {"loss_agg_mode": agg, **({} if coef is None else {"entropy_coeff": coef})}
    return {**VERL, "actor_rollout_ref": {"rollout": {"n": 8}, "actor": actor}, **extra}


def test_verl_reads_entropy_coeff_with_the_loss_aggregation():
    run = read_config(_verl(0.5, "seq-mean-token-mean"), "verl")
    assert (run.entropy_coef, run.entropy_aggregation) == (0.5, "seq-mean-token-mean")
    assert "verl/workers/utils/losses.py:122-128" in run.entropy_normaliser
    card = explain(_verl(0.5, "seq-mean-token-mean"), "verl")
    section = card.to_json()["entropy"]
    scheme, m = card.scheme, card.group_size
    for p0, p_star in section["p_star"].items():
        assert p_star == entropy_equilibrium(scheme, m, 0.5, init_p=float(p0))
    assert section["p_star"]["0.5"] == pytest.approx(0.99259688, abs=1e-8)  # verl grpo, M = 8
    # hand check: the printed p* solves logit p* = w_M(p*) / c
    p = section["p_star"]["0.5"]
    w = float(transform(scheme, m).weight(p))
    assert math.log(p / (1 - p)) == pytest.approx(w / 0.5, rel=1e-9)
    assert set(section["p_star_at_p0_0.5_by_coef"]) == {"0.001", "0.01", "0.1", "1.0"}
    breaks = card.to_json()["lens"]["breaks"]
    assert any(b.startswith("entropy bonus (coefficient 0.5)") for b in breaks)
    assert "rlxform explain --topic entropy" in card.to_markdown().split("## Entropy bonus")[1]


def test_no_bonus_by_default_and_not_modelled_in_older_releases():
    run = read_config(_verl(), "verl")
    assert run.entropy_coef == 0.0
    card = explain(_verl(), "verl").to_json()
    assert card["entropy"]["p_star"] is None
    assert not any("entropy" in b for b in card["lens"]["breaks"])
    old = read_config(_verl(0.01), "verl", version="0.8.0")
    assert old.entropy_coef is None
    assert [i["key"] for i in old.not_modelled if "entropy" in i["key"]] == [
        "actor_rollout_ref.actor.entropy_coeff"
    ]
    assert explain(_verl(0.01), "verl", version="0.8.0").to_json()["entropy"]["coef"] is None
    new = read_config(_verl(0.01), "verl")
    assert not any("entropy" in i["key"] for i in new.not_modelled)


def test_trl_token_mean_whatever_loss_type_and_the_adaptive_controller():
    run = read_config({"num_generations": 8, "loss_type": "grpo", "entropy_coef": 0.01}, "trl")
    assert (run.entropy_coef, run.entropy_aggregation, run.aggregation) == (
        0.01,
        "token-mean",
        "grpo",
    )
    assert run.entropy_adaptive is None
    config = {"num_generations": 8, "use_adaptive_entropy": True, "entropy_target": 0.3}
    card = explain({**config, "entropy_coef_max": 5.0}, "trl")
    section = card.to_json()["entropy"]
    assert section["adaptive"] == {
        "entropy_target": 0.3,
        "entropy_coef_delta": 0.005,
        "entropy_coef_min": 0.0,
        "entropy_coef_max": 5.0,
    }
    p_target = section["p_target"]
    entropy = -p_target * math.log(p_target) - (1 - p_target) * math.log1p(-p_target)
    assert entropy == pytest.approx(0.3, abs=1e-12) and p_target > 0.5
    assert section["p_star_at_max"] == entropy_equilibrium(card.scheme, 8, 5.0)
    assert section["p_star_at_max"] < p_target  # the controller holds p around p_target
    assert "holds p around p_target" in card.to_markdown()
    assert target_accuracy(1.0) == 0.5 and target_accuracy(0.0) == 1.0
    old = read_config({"num_generations": 8, "entropy_coef": 0.01}, "trl", version="1.9.2")
    assert old.entropy_coef is None
    assert any(i["key"] == "entropy_coef" for i in old.not_modelled)


def test_openrlhf_none_and_zero_are_no_bonus_and_the_step_token_mean():
    base = {
        "algo": {"advantage": {"estimator": "group_norm"}},
        "rollout": {"n_samples_per_prompt": 4},
    }
    for value in (None, 0):
        config = base if value is None else {**base, "actor": {"entropy_coef": value}}
        assert read_config(config, "openrlhf").entropy_coef == 0.0
    run = read_config(
        {**base, "actor": {"entropy_coef": 0.01, "loss_agg_mode": "seq-mean-token-mean"}},
        "openrlhf",
    )
    assert (run.entropy_coef, run.entropy_aggregation) == (0.01, "token-mean")
    assert "ppo_actor.py:345-353" in run.entropy_normaliser


def test_unsloth_drops_the_adaptive_bonus(tmp_path):
    script = (
        "import unsloth\nfrom trl import GRPOConfig\n"
        "config = GRPOConfig(num_generations=8, entropy_coef=0.02{})\n"
    )
    runs = {}
    for name, extra in (("fixed", ""), ("adaptive", ", use_adaptive_entropy=True")):
        path = tmp_path / f"{name}.py"
        path.write_text(script.format(extra))
        runs[name] = read_config(path)
    assert runs["fixed"].framework == "unsloth" and runs["fixed"].entropy_coef == 0.02
    assert "rl_replacements.py:1460-1500" in runs["fixed"].entropy_normaliser
    assert runs["adaptive"].entropy_coef == 0.0 and runs["adaptive"].entropy_adaptive is None
    assert "drops the whole bonus" in runs["adaptive"].entropy_normaliser


def test_bad_coefficients_name_the_key():
    with pytest.raises(ValueError, match=r"actor_rollout_ref.actor.entropy_coeff=.* is invalid"):
        read_config(_verl(float("nan")), "verl")
    with pytest.raises(ValueError, match="entropy_coef='x' is invalid"):
        read_config({"num_generations": 8, "entropy_coef": "x"}, "trl")
    negative = explain(_verl(-0.1), "verl").to_json()["entropy"]
    assert negative["p_star"] is None and "penalty" in negative["text"][0]


def test_topic_says_the_rule_and_the_trainers():
    text = topic_text("entropy")
    assert text.startswith("# Entropy bonuses")
    for fragment in ("logit p* = w_M(p*) / c", "entropy_coeff", "entropy_coef", "token mean"):
        assert fragment in text
