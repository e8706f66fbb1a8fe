"""``explain``: cards from runs, each number checked against an independent route.

tests/data/configs/ holds verl / TRL / OpenRLHF configs with X.expected.json facts, each checked
against the framework's released code by whoever wrote them (see its README.md); the example
launchers' facts are checked in tests/frameworks/test_readers.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from rlxform import frameworks as fw
from rlxform.core import kl
from rlxform.core.objective import transform
from rlxform.explain.cards import ObjectiveCard, explain
from rlxform.explain.parts import Section
from rlxform.explain.topics import topic_names, topic_text
from rlxform.frameworks import FACT_KEYS, read_config

ROOT = Path(__file__).parent.parent.parent
CONFIGS = ROOT / "tests" / "data" / "configs"
LAUNCH = ROOT / "experiments" / "configs" / "launch"
EXAMPLES = sorted(p.name for p in CONFIGS.glob("*.expected.json"))
CONTRACT = (  # the JSON keys of 0.4.1, then the keys issue 22 adds
    *FACT_KEYS,
    "version",
    "source",
    "scheme",
    "objective",
    "lens",
    "length_bias",
    "kl_equilibrium",
    "pitfalls",
    "rewards",
    "not_modelled",
    "defaults_used",
    "unresolved",
    "command",
    "loss",  # issue 24: the loss mode, reduced
)


def _expected(name: str) -> dict:
    return json.loads((CONFIGS / name).read_text())


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_card_keeps_the_contract(name):
    expected = _expected(name)
    card = explain(CONFIGS / expected["config"]).to_json()
    assert set(CONTRACT) <= set(card)
    assert {k: card[k] for k in FACT_KEYS} == {k: expected[k] for k in FACT_KEYS}
    assert set(card["rewards"]) == {"binary", "why"}
    assert all(set(item) >= {"key", "value", "effect"} for item in card["not_modelled"])
    exact = card["lens"]["exact"]
    assert not exact or (not card["not_modelled"] and card["rewards"]["binary"] is not False)
    assert not exact or card["loss"]["exact_on_policy"]  # the lens is about the first update
    loss = card["loss"]
    assert {k: loss[k] for k in expected["loss"] if k in loss} == {
        k: v for k, v in expected["loss"].items() if k in loss
    }
    p_star = card["kl_equilibrium"]["p_star"]
    assert p_star is None or set(p_star) == {"0.1", "0.3", "0.5"}
    assert card["version"] == expected["version"].split(" (")[0].split(" +")[0]


def test_framework_is_detected_and_can_be_forced():
    assert read_config(CONFIGS / "trl_grpo.json").framework == "trl"
    assert read_config(CONFIGS / "trl_grpo.json", "trl").framework == "trl"
    with pytest.raises(ValueError, match="framework=None is invalid for this config"):
        read_config({"learning_rate": 1e-6})
    with pytest.raises(ValueError, match="framework='ray' is invalid"):
        read_config(CONFIGS / "trl_grpo.json", "ray")


def test_openrlhf_flat_names_of_older_versions_match_the_dotted_ones():
    flat = {
        "advantage_estimator": "group_norm",
        "n_samples_per_prompt": 8,
        "rollout_batch_size": 128,
        "train_batch_size": 128,
        "max_epochs": 1,
        "use_kl_loss": True,
        "kl_estimator": "k3",
        "init_kl_coef": 0.001,
        "eps_clip": 0.2,
    }
    run = read_config(flat)
    dotted = read_config(CONFIGS / "openrlhf_grpo.json")
    assert run.facts() == dotted.facts()
    assert run.version == "openrlhf 0.10.1.post2"  # the last release with the flat names
    nested = read_config(
        {"algo": {"advantage": {"estimator": "rloo"}}, "rollout": {"n_samples_per_prompt": 4}},
        "openrlhf",
    )
    assert (nested.estimator, nested.group_size) == ("rloo", 4)


def test_openrlhf_default_kl_is_k1_after_the_group_baseline():
    # experience_maker.py: the baseline (rloo, dr_grpo, group_norm) is taken of the raw rewards,
    # then compute_reward subtracts kl_coef * k1: the KL is on the advantage, not in the reward
    run = read_config({"algo.advantage.estimator": "dr_grpo", "rollout.n_samples_per_prompt": 4})
    assert (run.kl_placement, run.kl_estimator, run.kl_coef) == ("advantage", "k1", 0.01)
    assert any("init_coef is not set" in p for p in run.pitfalls)
    # rollout.batch_size 1024 * 4 // train.batch_size 128 * 1 (defaults)
    assert run.updates_per_rollout == 32
    assert "algo.kl.init_coef" in run.defaults_used
    pair = read_config(
        {
            "algo.advantage.estimator": "rloo",
            "rollout.n_samples_per_prompt": 2,
            "actor.eps_clip": 0.1,
            "actor.eps_clip_low_high": [0.2, 0.3],
        }
    )
    assert (pair.clip_low, pair.clip_high) == (0.2, 0.3)


def test_trl_dataclass_object_is_read_duck_typed():
    @dataclasses.dataclass
    class GRPOConfig:  # the fields TRL's own dataclass has, TRL itself not needed
        num_generations: int = 8
        scale_rewards: str = "batch"
        loss_type: str = "grpo"
        beta: float = 0.04
        epsilon: float = 0.2
        epsilon_high: float | None = 0.28
        num_iterations: int = 2
        gradient_accumulation_steps: int = 4
        steps_per_generation: int | None = 4

    run = read_config(GRPOConfig())
    assert run.facts() == {
        "framework": "trl",
        "estimator": "batch",
        "group_size": 8,
        "std_normalised": True,
        "std_epsilon": 1e-4,
        "std_scope": "batch",
        "aggregation": "grpo",
        "updates_per_rollout": 2,
        "clip_low": 0.2,
        "clip_high": 0.28,
        "kl_placement": "loss",
        "kl_estimator": "k3_ratio",  # use_bias_correction_kl is True in trl 1.16.0
        "kl_coef": 0.04,
        "dynamic_sampling": False,
    }
    card = explain(GRPOConfig()).to_json()
    joined = " ".join(card["lens"]["breaks"])
    for part in ("length-normalised", "k3_ratio", "batch-level std"):
        assert part in joined
    # the clip acts from the second of the 2 updates on: a note, not a break of the first update
    later = " ".join(card["lens"]["notes"])
    assert "epsilon_high = 0.28" in later and "[0.8, 1.28]" in later and "on the second" in later
    section = card["kl_equilibrium"]  # k3_ratio follows the reverse KL: k2's equilibrium
    assert section["estimator"] == "k3_ratio" and "use_bias_correction_kl" in section["text"][0]
    scheme = explain(GRPOConfig()).scheme
    for p_ref, p_star in section["p_star"].items():
        reverse = kl.kl_equilibrium(scheme, 8, 0.04, float(p_ref), estimator="k2", placement="loss")
        assert p_star == reverse


def test_verl_pitfalls_and_quoted_n():
    run = read_config(CONFIGS / "verl_grpo.yaml")
    assert any("clip_ratio alone does not change" in p for p in run.pitfalls)
    text = (CONFIGS / "verl_grpo.yaml").read_text().replace("'n': 5", "n: 5")
    assert "n: 5" in text
    import yaml

    assert read_config(yaml.safe_load(text)).group_size == 5
    dapo = explain(CONFIGS / "verl_dapo.yaml").to_json()
    assert dapo["rewards"]["binary"] is False and "max length 20480" in dapo["rewards"]["why"]
    assert any("w°_M = w_M" in b for b in dapo["lens"]["breaks"])  # GRPO: a[M] = b[0] = 0
    reward_kl = read_config({"algorithm": {"adv_estimator": "rloo", "use_kl_in_reward": True}})
    assert (reward_kl.kl_placement, reward_kl.kl_estimator, reward_kl.kl_coef) == (
        "reward",
        "kl",
        0.001,
    )


def test_dapo_recipe_launch_is_not_told_its_gen_batches_are_ignored():
    """recipe.dapo.main_dapo uses max_num_gen_batches; verl.trainer.main_ppo ignores it."""
    card = explain(LAUNCH / "verl_dapo_recipe.sh").to_json()
    assert not any("max_num_gen_batches" in p for p in card["pitfalls"])
    assert card["command"]["program"] == "recipe.dapo.main_dapo"
    words = "python3 -m verl.trainer.main_ppo algorithm.adv_estimator=grpo "
    words += "actor_rollout_ref.rollout.n=4 algorithm.filter_groups.enable=true "
    words += "algorithm.filter_groups.max_num_gen_batches=10"
    builtin = explain(words.split()).to_json()
    assert any("ignored by verl's built-in trainer" in p for p in builtin["pitfalls"])


def test_misspelled_keys_are_warnings_naming_them():
    run = read_config(
        {
            "algorithm": {"adv_estimator": "grpo", "norm_adv_by_std_in_gpro": False},
            "actor_rollout_ref": {"actor": {"clip_ratio_hgh": 0.28}, "rollout": {"n": 4}},
            "trainer": {"anything_goes_here_at_all": 1},
        }
    )
    assert run.warnings == (
        "unknown key algorithm.norm_adv_by_std_in_gpro (did you mean "
        "algorithm.norm_adv_by_std_in_grpo?)",
        "unknown key actor_rollout_ref.actor.clip_ratio_hgh (did you mean "
        "actor_rollout_ref.actor.clip_ratio_high?)",
    )
    assert read_config({"num_generation": 4, "beta": 0.0}).warnings == (
        "unknown key num_generation (did you mean num_generations?)",
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"algorithm": {}}, "algorithm.adv_estimator='gae' (verl's default) is not modelled"),
        ({"algorithm": {"adv_estimator": "remax"}}, "it models verl's grpo, grpo_vectorized"),
        ({"algo.advantage.estimator": "reinforce"}, "'reinforce' is not modelled by rlxform"),
        (
            {"algorithm": {"adv_estimator": "grpo"}, "actor_rollout_ref": {"rollout": {"n": "5"}}},
            "actor_rollout_ref.rollout.n='5' is invalid: must be an integer >= 1",
        ),
        ({"num_generations": 8, "beta": "0.1"}, "beta='0.1' is invalid: must be a number"),
        ({"num_generations": 8, "scale_rewards": "mean"}, "scale_rewards='mean' is invalid"),
        ({"algo.advantage.estimator": "group_norm"}, "rollout.n_samples_per_prompt=1 is invalid"),
        (
            {"algorithm": {"adv_estimator": "grpo", "use_kl_in_reward": "yes"}},
            "algorithm.use_kl_in_reward='yes' is invalid: must be true or false",
        ),
        (
            {
                "algorithm": {"adv_estimator": "grpo"},
                "actor_rollout_ref": {"actor": {"loss_agg_mode": "mean"}},
            },
            "loss_agg_mode='mean' is invalid",
        ),
    ],
)
def test_bad_configs_raise_one_line_errors(config, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        read_config(config)


def test_unparseable_files_name_the_file_and_line(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("algorithm:\n  adv_estimator: grpo\n  x: [1, 2\n")
    with pytest.raises(
        ValueError, match=r"bad\.yaml: line \d+, column \d+: cannot read it as YAML"
    ):
        read_config(bad_yaml)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"num_generations": 8,\n "beta": }\n')
    with pytest.raises(ValueError, match=r"bad\.json: line 2, column \d+: cannot read it as JSON"):
        read_config(bad_json)
    with pytest.raises(ValueError, match="no such file"):
        read_config(tmp_path / "missing.yaml")


def test_card_objective_matches_an_independent_bernstein_route():
    """h_M of the card vs phi built from verl's advantage code and scipy's binomial pmf."""
    card = explain(CONFIGS / "verl_grpo.yaml")
    m = 5
    table = card.to_json()["objective"]["table"]
    a, b = np.zeros(m + 1), np.zeros(m + 1)
    for s in range(m + 1):
        adv = fw.advantages("verl", "grpo", [1] * s + [0] * (m - s), m)
        a[s] = adv[0] if s > 0 else 0.0
        b[s] = adv[-1] if s < m else 0.0
    phi = np.concatenate([[0.0], np.cumsum([a[j] - b[j - 1] for j in range(1, m + 1)]) / m])
    p = np.asarray(table["p"])
    h = stats.binom.pmf(np.arange(m + 1)[:, None], m, p[None, :]).T @ phi
    np.testing.assert_allclose(table["h_M"], h, rtol=1e-9)
    assert card.to_json()["objective"]["limit_name"] == "int_0^p dt / (sqrt(t(1-t)) + 1e-06)"


def test_lens_is_exact_for_plain_settings():
    run = {
        "algorithm": {"adv_estimator": "rloo"},
        "actor_rollout_ref": {
            "actor": {"loss_agg_mode": "seq-mean-token-sum", "ppo_mini_batch_size": 1024},
            "rollout": {"n": 8},
        },
    }
    card = explain(run).to_json()
    assert card["lens"] == {
        "exact": True,
        "breaks": [],
        "notes": [],
        "text": [
            "Yes: every setting keeps E[update] = w_M(p) grad p for the first update of each "
            "rollout batch."
        ],
    }
    assert card["objective"]["w_M_min"] == pytest.approx(1.0)
    assert card["objective"]["w_M_max"] == pytest.approx(1.0)
    unmodelled = dict(run, actor_rollout_ref={**run["actor_rollout_ref"], "actor": {
        **run["actor_rollout_ref"]["actor"], "entropy_coeff": 0.01}})  # fmt: skip
    card = explain(unmodelled).to_json()
    assert card["lens"]["exact"] is False
    assert card["not_modelled"] == []  # modelled since issue 24: the entropy section
    assert [b.split(":")[0] for b in card["lens"]["breaks"]] == ["entropy bonus (coefficient 0.01)"]


def test_card_sections_can_be_added():
    card = explain(CONFIGS / "trl_dr_grpo.json")
    extra = Section("extra", "Extra", {"value": 0.5}, ("added later",))
    longer = card.with_section(extra, after="lens")
    assert isinstance(longer, ObjectiveCard)
    keys = [s.key for s in longer.sections]
    assert keys[keys.index("lens") + 1] == "extra"
    assert len(keys) == len(card.sections) + 1
    assert longer.to_json()["extra"] == {"value": 0.5, "text": ["added later"]}
    assert "## Extra" in longer.to_markdown()


def test_explain_a_catalog_scheme_without_a_config():
    card = explain(scheme="trl:group", group_size=8)
    data = card.to_json()
    assert data["scheme"] == "grpo(eps=0.0001, std=sample)"
    assert data["group_size"] == 8
    assert "—" not in card.to_markdown()  # no settings table of dashes
    with pytest.raises(ValueError, match="group_size=None is invalid"):
        explain(scheme="grpo")


def test_cards_cite_no_spec_and_define_their_symbols():
    """Users cannot open SPEC.md: no card names it, and the symbols a card prints are said."""
    for path in [*LAUNCH.glob("*.sh"), CONFIGS / "verl_dapo.yaml", CONFIGS / "verl_grpo.yaml"]:
        if "deepspeed_0.6" in path.name:
            continue
        text = explain(path).to_markdown()
        assert "SPEC" not in text and "R-A identity" not in text and "h°_M" not in text
        for symbol, said in (
            ("w_M", "w_M(p) = h_M'(p)"),
            ("p_ref", "p_ref is the reference policy's accuracy"),
            ("w°_M", "w°_M(p) = w_M(p) - a[M] p^(M-1)"),
        ):
            assert symbol not in text or said in text, (path.name, symbol)
        for line in text.splitlines():
            if line.startswith("## ") and line not in ("## Settings read", "## Warnings"):
                section = text.split(line, 1)[1].split("\n## ", 1)[0]
                assert "rlxform explain --topic" in section or "Pitfalls" in line, line


def test_clip_bounds_print_with_the_digits_they_need():
    """GSPO-style clip 3e-4: [1 - 3e-4, 1 + 3e-4] prints as [0.9997, 1.0003], not [1, 1]."""
    run = {"num_generations": 4, "epsilon": 3e-4, "epsilon_high": 3e-4, "num_iterations": 2}
    card = explain(run, "trl").to_json()
    notes = card["lens"]["notes"]  # the clip acts from the second update on
    assert any("[0.9997, 1.0003]" in n and "epsilon = 0.0003" in n for n in notes), notes
    assert any("[0.9997, 1.0003]" in line for line in card["loss"]["text"])


def test_topics_print_and_unknown_names_list_them():
    names = topic_names()
    assert set("aggregation batch_std dynamic kl knobs lens objective ppo rewards".split()) <= set(
        names
    )
    assert names == sorted(names)
    assert topic_text("kl").startswith("# KL penalties")
    with pytest.raises(ValueError, match="--topic='kll' is invalid: must be one of aggregation"):
        topic_text("kll")
    for name in names:  # topics are the only math a user can open: none may cite SPEC
        assert "SPEC" not in topic_text(name)


def test_kl_equilibrium_section_hand_case_rloo_k1_in_reward():
    """OpenRLHF's default KL is k1 in the reward; RLOO has w_M = 1, so at beta = 1
    logit p* - logit p_ref = 1: p* = sigmoid(logit(p_ref) + 1), by hand."""
    run = {
        "algo.advantage.estimator": "rloo",
        "rollout.n_samples_per_prompt": 4,
        "algo.kl.init_coef": 1.0,
    }
    section = explain(run, framework="openrlhf").to_json()["kl_equilibrium"]
    assert section["estimator"] == "k1" and section["placement"] == "advantage"
    for p_ref, p_star in section["p_star"].items():
        z = np.log(float(p_ref) / (1 - float(p_ref))) + 1.0
        assert p_star == pytest.approx(1 / (1 + np.exp(-z)), abs=1e-12)


def test_kl_equilibrium_section_solves_the_k3_loss_equation():
    """verl_grpo.yaml: low_var_kl (k3) as a loss; p* solves (p - p_ref)/(p(1-p)) = w_M(p)/beta
    with w_M from the Bernstein form (transform), and no KL gives no equilibrium."""
    card = explain(CONFIGS / "verl_grpo.yaml")
    section = card.to_json()["kl_equilibrium"]
    assert (section["estimator"], section["placement"]) == ("k3", "loss")
    t = transform(card.scheme, card.group_size)
    clamped = 0
    k3 = lambda lr: np.exp(-lr) + lr - 1
    for b, p_star in section["p_star_at_p_ref_0.3_by_beta"].items():
        if p_star == 1.0:  # no root: the clamp lifted the wrong answers' term on the way
            plain = kl.kl_equilibrium(
                card.scheme, 5, float(b), 0.3, estimator="k3_unclamped", placement="loss"
            )
            assert k3(np.log((1 - plain) / 0.7)) > 10  # where the unclamped root would be
            clamped += 1
            continue
        # verl clamps k3 at 10: an answer whose k3 is larger drops out of the forward term
        inside = [k3(np.log(p_star / 0.3)) <= 10, k3(np.log((1 - p_star) / 0.7)) <= 10]
        w = float(t.weight(p_star))
        lhs = (p_star - 0.3) * (inside[0] / p_star + inside[1] / (1 - p_star))
        assert lhs == pytest.approx(w / float(b), rel=1e-8)
    assert clamped == 2  # beta 0.01 and 0.1: the unclamped roots sit where k3 > 10
    assert section["beta"] == 0.001
    none = explain(CONFIGS / "trl_dr_grpo.json").to_json()["kl_equilibrium"]
    assert none["p_star"] is None


def test_length_bias_at_the_runs_own_normaliser():
    """TRL loss_type grpo divides each answer by its own length: on first_token (correctness
    independent of length) wrong answers lengthen and correct ones shorten; dr_grpo's constant
    1/max_length gives no drift; verl token-mean shares one normaliser across the mini-batch
    (G = 256 groups in its GSM8K example), and the card's numbers are length_drift's at that G."""
    from rlxform.core.sequence_tasks import SequenceTask
    from rlxform.core.sequences import UpdateRule

    grpo_run = {"num_generations": 8, "loss_type": "grpo", "scale_rewards": "group"}
    card = explain(grpo_run, framework="trl")
    section = card.to_json()["length_bias"]
    assert section["rlxform_aggregation"] == "seq-mean-token-mean"
    assert section["d_length_wrong_per_p"] > 0.5 and section["d_length_correct_per_p"] < -0.1
    assert "not your model" in section["reference_task"]
    task = SequenceTask(4, 8, "first_token")
    drift = UpdateRule(card.scheme, "seq-mean-token-mean", 8).length_drift(task, 0.3)
    assert section["d_length_wrong_per_p"] == pytest.approx(drift.drift_wrong / drift.drift_p)
    flat = explain(CONFIGS / "trl_dr_grpo.json").to_json()["length_bias"]
    assert flat["rlxform_aggregation"] == "seq-mean-token-sum-norm"
    assert abs(flat["d_length_wrong_per_p"]) < 1e-9
    shared = explain(LAUNCH / "verl_grpo_gsm8k.sh")
    values = shared.to_json()["length_bias"]
    assert (values["rlxform_aggregation"], values["groups_per_normaliser"]) == ("token-mean", 256)
    wide = UpdateRule(shared.scheme, "token-mean", 5, batch_groups=256).length_drift(task, 0.3)
    one = UpdateRule(shared.scheme, "token-mean", 5, batch_groups=1).length_drift(task, 0.3)
    assert values["d_length_wrong_per_p"] == pytest.approx(wide.drift_wrong / wide.drift_p)
    # the G = 1 drift of 0.4.1 was about G times too large
    ratio = (one.drift_wrong / one.drift_p) / values["d_length_wrong_per_p"]
    assert 100 < ratio < 1000


def test_explain_imports_no_jax():
    for name in [m for m in sys.modules if m.split(".")[0] in ("jax", "flax", "optax")]:
        assert not name.startswith("rlxform"), name
    code = (
        "import sys; from rlxform.explain.cards import explain; "
        f"explain({str(LAUNCH / 'verl_dapo_recipe.sh')!r}); "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('jax', 'flax', 'optax', 'matplotlib')]; print(bad)"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_kl_equilibrium_section_kl_in_the_reward_does_not_depend_on_m():
    """verl use_kl_in_reward with GRPO (issue 24): the scheme's advantage of r - beta k1 stops
    ascent at logit p* = logit p_ref + 1/beta, for M = 5 and 8 alike (the card said w_M/beta)."""
    for n, beta in ((5, 1.0), (8, 0.3)):
        run = {
            "algorithm": {"adv_estimator": "grpo", "use_kl_in_reward": True},
            "algorithm.kl_ctrl.kl_coef": beta,
            "actor_rollout_ref.rollout.n": n,
        }
        section = explain(run, framework="verl").to_json()["kl_equilibrium"]
        assert section["placement"] == "reward"
        for p_ref, p_star in section["p_star"].items():
            z = np.log(float(p_ref) / (1 - float(p_ref))) + 1.0 / beta
            assert p_star == pytest.approx(1 / (1 + np.exp(-z)), rel=1e-12)
        assert "does not move p*" in section["text"][0]
    passk = {
        "algorithm": {"adv_estimator": "grpo_passk", "use_kl_in_reward": True},
        "actor_rollout_ref.rollout.n": 4,
    }
    section = explain(passk, framework="verl").to_json()["kl_equilibrium"]
    assert section["p_star"] is None and "defined only for 0/1 rewards" in section["reason"]


def test_kl_equilibrium_section_names_each_frameworks_estimator():
    """TRL without use_bias_correction_kl and Unsloth: k3 without the clamp at 10; OpenRLHF
    unbiased_gradient: the k3 value with the reverse-KL gradient; verl low_var_kl+ likewise."""
    trl = explain({"num_generations": 8, "beta": 0.04, "use_bias_correction_kl": False})
    assert trl.to_json()["kl_equilibrium"]["estimator"] == "k3_unclamped"
    old = explain({"num_generations": 8, "beta": 0.04}, framework="trl", version="0.18.2")
    assert old.to_json()["kl_equilibrium"]["estimator"] == "k3_unclamped"
    unsloth = explain({"num_generations": 8, "beta": 0.04}, framework="unsloth")
    assert unsloth.to_json()["kl_equilibrium"]["estimator"] == "k3_unclamped"
    base = {
        "algo.advantage.estimator": "group_norm",
        "rollout.n_samples_per_prompt": 8,
        "algo.kl.init_coef": 1.0,
        "algo.kl.use_loss": True,
        "algo.kl.estimator": "k3",
    }
    plain = explain(base, framework="openrlhf").to_json()["kl_equilibrium"]
    unbiased = explain({**base, "algo.kl.unbiased_gradient": True}, framework="openrlhf")
    unbiased = unbiased.to_json()["kl_equilibrium"]
    assert (plain["estimator"], unbiased["estimator"]) == ("k3", "k3_unbiased")
    assert plain["follows"].startswith("the forward KL")
    assert unbiased["follows"].startswith("the reverse KL")
    verl = {
        "algorithm.adv_estimator": "grpo",
        "actor_rollout_ref.rollout.n": 4,
        "actor_rollout_ref.actor.use_kl_loss": True,
        "actor_rollout_ref.actor.kl_loss_type": "low_var_kl+",
        "actor_rollout_ref.actor.kl_loss_coef": 1.0,
    }
    section = explain(verl, framework="verl").to_json()["kl_equilibrium"]
    assert section["estimator"] == "k3+" and section["follows"].startswith("the reverse KL")
