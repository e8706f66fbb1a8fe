"""The runtime version tables (rlxform/frameworks/data/*.json) against the extracted releases.

tests/data/frameworks/<framework>/<version>.json hold every config key of a verl, TRL or OpenRLHF
release with its default and file:line, read from the PyPI wheel (README.md there says how).
These tests check that the shipped tables classify every one of those keys by exactly one most
specific rule, carry the same defaults, and that the version facts the readers rely on hold in
the released code. Pure Python: JSON and fnmatch, no JAX.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from functools import cache

import pytest
from version_tables import CLASSES, release, releases, table, vkey

FRAMEWORKS = ("trl", "verl", "openrlhf")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


ALL = [(fw, v) for fw in FRAMEWORKS for v in releases(fw)]


def keys(framework: str, version: str) -> dict:
    return release(framework, version)["keys"]


def default(framework: str, version: str, key: str):
    """The extracted default, or the string 'absent' when the release has no such key."""
    entry = keys(framework, version).get(key)
    return "absent" if entry is None else entry["default"]


# ---- the rule resolution documented in each table's doc["classes"] -------------------------------


def parse_rule(rule: str) -> tuple[str, list[tuple[str, tuple[int, ...]]]]:
    pattern, _, spec = rule.partition("@")
    conditions = []
    for part in filter(None, spec.split(",")):
        op, version = re.fullmatch(r"(<=|>=|==|<|>)\s*([0-9][0-9a-z.]*)", part.strip()).groups()
        conditions.append((op, vkey(version)))
    return pattern, conditions


def rank(rule: str) -> tuple[int, int, int]:
    pattern, conditions = parse_rule(rule)
    wild = sum(pattern.count(ch) for ch in "*?[]")
    return (0 if wild else 1, len(pattern) - wild, 1 if conditions else 0)


@cache
def _candidates(framework: str, key: str) -> tuple[str, ...]:
    """The rules whose pattern matches ``key``, whatever their version condition."""
    out = []
    for rule in table(framework)["classes"]:
        pattern, _ = parse_rule(rule)
        if pattern == key or fnmatch.fnmatchcase(key, pattern):
            out.append(rule)
    return tuple(out)


def matching(framework: str, version: str, key: str) -> list[str]:
    v = vkey(version)
    return [
        rule
        for rule in _candidates(framework, key)
        if all(_OPS[op](v, bound) for op, bound in parse_rule(rule)[1])
    ]


def classify(framework: str, version: str, key: str) -> str:
    """The most specific rule for ``key`` in ``version``; AssertionError if none or a tie."""
    rules = matching(framework, version, key)
    assert rules, f"{framework} {version}: {key} is not classified"
    best = max(rank(r) for r in rules)
    top = [r for r in rules if rank(r) == best]
    assert len(top) == 1, f"{framework} {version}: {key} has several most specific rules {top}"
    return top[0]


def cls(framework: str, version: str, key: str) -> str:
    return table(framework)["classes"][classify(framework, version, key)]


# ---- the tables against the extracted releases ---------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_table_lists_every_extracted_release_and_no_other(framework):
    assert list(table(framework)["versions"]) == releases(framework)
    assert table(framework)["latest"] == releases(framework)[-1]
    assert table(framework)["framework"] == framework


@pytest.mark.parametrize(("framework", "version"), ALL)
def test_every_key_has_exactly_one_most_specific_class(framework, version):
    for key in keys(framework, version):
        assert table(framework)["classes"][classify(framework, version, key)] in CLASSES


@pytest.mark.parametrize(("framework", "version"), ALL)
def test_table_defaults_equal_the_extracted_defaults(framework, version):
    entry = table(framework)["versions"][version]
    extracted = keys(framework, version)
    assert list(entry["defaults"]) == list(extracted)
    for key, value in entry["defaults"].items():
        assert value == extracted[key]["default"], (framework, version, key)
    interpolations = {k: e["interpolation"] for k, e in extracted.items() if "interpolation" in e}
    assert entry.get("interpolations", {}) == interpolations


@pytest.mark.parametrize(("framework", "version"), ALL)
def test_extracted_entries_carry_their_provenance(framework, version):
    data = release(framework, version)
    assert data["framework"] == framework and data["version"] == version
    assert data["source"] == f"{framework}-{version} wheel from PyPI"
    assert re.fullmatch(r"[0-9a-f]{64}", data["wheel_sha256"])
    for key, entry in data["keys"].items():
        assert isinstance(entry["line"], int) and entry["line"] > 0, key
        assert entry["file"].endswith((".py", ".yaml")), key
        assert isinstance(entry["type"], str), key
    for key, rules in data.get("rules", {}).items():
        for rule in rules:
            assert isinstance(rule["line"], int) and rule["text"], key


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_rule_is_used_and_every_side_table_names_a_rule(framework):
    t = table(framework)
    used = {classify(fw, v, k) for fw, v in ALL if fw == framework for k in keys(fw, v)}
    assert set(t["classes"]) - used == set(), "rules that classify no key"
    for name in ("effects", "neutral", "only_with"):
        assert set(t[name]) <= set(t["classes"]), name
    unmodelled = {r for r, c in t["classes"].items() if c == "unmodelled"}
    assert unmodelled <= set(t["effects"]), "unmodelled rules without an effect sentence"
    assert set(t["neutral"]) | set(t["only_with"]) <= unmodelled
    every_key = {k for fw, v in ALL if fw == framework for k in keys(fw, v)}
    for rule, condition in t["only_with"].items():
        assert set(condition) <= every_key, (rule, condition)


@pytest.mark.parametrize(("framework", "version"), ALL)
def test_renamed_and_removed_follow_the_key_lists(framework, version):
    order = releases(framework)
    entry = table(framework)["versions"][version]
    now = keys(framework, version)
    before = keys(framework, order[order.index(version) - 1]) if order.index(version) else {}
    for old, new in entry["renamed"].items():
        assert old in before, (version, old)
        assert all(n in now for n in ([new] if isinstance(new, str) else new)), (version, new)
    assert entry["removed"] == [k for k in before if k not in now and k not in entry["renamed"]]


# ---- facts the readers rely on, as the released code has them ------------------------------------

TRL = releases("trl")


def _trl(key: str) -> dict[str, object]:
    return {v: default("trl", v, key) for v in TRL}


def test_trl_beta_is_004_up_to_018_and_0_from_019():
    assert _trl("beta") == {v: 0.04 if vkey(v) < (0, 19) else 0.0 for v in TRL}


def test_trl_loss_type_absent_to_016_bnpo_to_021_dapo_from_022():
    expected = {}
    for v in TRL:
        expected[v] = "absent" if vkey(v) < (0, 17) else "bnpo" if vkey(v) < (0, 22) else "dapo"
    assert _trl("loss_type") == expected


def test_trl_scale_rewards_absent_to_015_true_to_021_group_from_022():
    expected = {}
    for v in TRL:
        expected[v] = "absent" if vkey(v) < (0, 16) else True if vkey(v) < (0, 22) else "group"
    assert _trl("scale_rewards") == expected
    # the bool still works from 0.22: __post_init__ maps True/False to "group"/"none"
    for v in TRL[TRL.index("0.22.2") :]:
        assert (
            'True -> "group", False -> "none"'
            in table("trl")["versions"][v]["rules"]["scale_rewards"]
        )


def test_trl_use_bias_correction_kl_absent_to_025_false_to_19_true_from_110():
    expected = {}
    for v in TRL:
        expected[v] = "absent" if vkey(v) < (0, 26) else vkey(v) >= (1, 10)
    assert _trl("use_bias_correction_kl") == expected


def test_trl_vllm_importance_sampling_correction_on_by_default_from_023():
    expected = {v: "absent" if vkey(v) < (0, 23) else True for v in TRL}
    assert _trl("vllm_importance_sampling_correction") == expected
    assert {v: _trl("vllm_importance_sampling_mode")[v] for v in ("0.26.2", "1.16.0")} == {
        "0.26.2": "sequence_mask",
        "1.16.0": "sequence_mask",
    }


def test_trl_objective_defaults_that_never_changed():
    for v in TRL:
        assert default("trl", v, "num_generations") == 8
        assert default("trl", v, "epsilon") == ("absent" if vkey(v) < (0, 16) else 0.2)
        assert default("trl", v, "epsilon_high") in ("absent", None)
        assert default("trl", v, "num_iterations") == ("absent" if vkey(v) < (0, 16) else 1)
        assert default("trl", v, "steps_per_generation") == (
            "absent" if vkey(v) < (0, 18) else None
        )


def test_trl_steps_per_generation_defaults_to_gradient_accumulation_steps_at_the_cited_line():
    rule = table("trl")["versions"]["1.16.0"]["rules"]["steps_per_generation"]
    assert "None -> gradient_accumulation_steps" in rule
    assert "trl/trainer/grpo_config.py:1099" in rule
    assert (
        "trl/trainer/grpo_trainer.py:946"
        in table("trl")["versions"]["1.16.0"]["rules"]["epsilon_high"]
    )


def test_trl_inherited_keys_come_from_the_minimum_transformers():
    data = release("trl", "1.16.0")
    assert data["keys"]["per_device_train_batch_size"]["package"] == "transformers-4.56.2"
    assert data["keys"]["gradient_accumulation_steps"]["default"] == 1
    # GRPOConfig overrides learning_rate; _BaseConfig (from 0.29) overrides logging_steps
    assert data["keys"]["learning_rate"]["file"] == "trl/trainer/grpo_config.py"
    assert data["keys"]["logging_steps"]["file"] == "trl/trainer/base_config.py"
    assert release("trl", "0.14.0")["keys"]["gradient_accumulation_steps"]["default"] == 8


VERL = releases("verl")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("actor_rollout_ref.actor.loss_agg_mode", "token-mean"),
        ("actor_rollout_ref.actor.clip_ratio", 0.2),
        ("actor_rollout_ref.actor.clip_ratio_low", 0.2),
        ("actor_rollout_ref.actor.clip_ratio_high", 0.2),
        ("actor_rollout_ref.actor.clip_ratio_c", 3.0),
        ("actor_rollout_ref.actor.kl_loss_type", "low_var_kl"),
        ("actor_rollout_ref.actor.kl_loss_coef", 0.001),
        ("actor_rollout_ref.actor.use_kl_loss", False),
        ("actor_rollout_ref.actor.ppo_epochs", 1),
        ("actor_rollout_ref.actor.ppo_mini_batch_size", 256),
        ("actor_rollout_ref.actor.entropy_coeff", 0),
        ("actor_rollout_ref.actor.policy_loss.loss_mode", "vanilla"),
        ("actor_rollout_ref.rollout.n", 1),
        ("actor_rollout_ref.rollout.temperature", 1.0),
        ("data.train_batch_size", 1024),
        ("algorithm.adv_estimator", "gae"),
        ("algorithm.norm_adv_by_std_in_grpo", True),
        ("algorithm.use_kl_in_reward", False),
        ("algorithm.kl_penalty", "kl"),
        ("algorithm.kl_ctrl.kl_coef", 0.001),
    ],
)
def test_verl_objective_defaults_unchanged_from_04_to_091(key, value):
    assert {v: default("verl", v, key) for v in VERL} == dict.fromkeys(VERL, value)


def test_verl_rollout_correction_and_filter_groups_appear_where_the_code_has_them():
    first = {
        key: next(v for v in VERL if key in keys("verl", v))
        for key in (
            "algorithm.rollout_correction.rollout_is",
            "algorithm.filter_groups.enable",
            "trainer.v1.trainer_mode",
        )
    }
    assert first == {
        "algorithm.rollout_correction.rollout_is": "0.6.1",
        "algorithm.filter_groups.enable": "0.9.1",
        "trainer.v1.trainer_mode": "0.9.1",
    }
    assert default("verl", "0.9.1", "algorithm.rollout_correction.rollout_is") is None


def test_verl_interpolations_resolve_to_the_value_they_point_at():
    data = keys("verl", "0.9.1")
    assert data["critic.rollout_n"]["interpolation"] == "${oc.select:actor_rollout_ref.rollout.n,1}"
    assert data["critic.rollout_n"]["default"] == data["actor_rollout_ref.rollout.n"]["default"]
    assert data["actor_rollout_ref.rollout.prompt_length"]["default"] == 512


OPENRLHF = releases("openrlhf")


def test_openrlhf_flat_names_up_to_0101_dotted_from_0102():
    for v in OPENRLHF:
        dotted = vkey(v) >= (0, 10, 2)
        names = keys("openrlhf", v)
        assert ("algo.advantage.estimator" in names) is dotted, v
        assert ("advantage_estimator" in names) is not dotted, v
        flat = [k for k in names if "." not in k]
        assert (set(flat) <= {"local_rank", "use_ms"}) is dotted, (v, flat)


def test_openrlhf_flat_to_dotted_renames_keep_their_defaults():
    flat, dotted = keys("openrlhf", "0.10.1.post2"), keys("openrlhf", "0.10.2")
    renamed = table("openrlhf")["versions"]["0.10.2"]["renamed"]
    assert set(flat) - set(dotted) - set(renamed) == {"ptx_coef", "perf", "actor_init_on_gpu"}
    assert renamed["micro_train_batch_size"] == "train.micro_batch_size"
    assert renamed["init_kl_coef"] == "algo.kl.init_coef"
    changed = {}
    for old, new in renamed.items():
        for name in [new] if isinstance(new, str) else new:
            if flat[old]["default"] != dotted[name]["default"]:
                changed[old] = (flat[old]["default"], dotted[name]["default"])
    # --pretrain etc. were one flag for all; only the defaults below moved with the rename
    assert changed == {}


def test_openrlhf_is_correction_renamed_in_0112():
    renamed = table("openrlhf")["versions"]["0.11.2"]["renamed"]
    assert renamed["algo.advantage.is_correction_enable"] == "algo.advantage.is_correction_level"
    assert "algo.advantage.is_correction_enable" in keys("openrlhf", "0.11.1")
    assert default("openrlhf", "0.11.2", "algo.advantage.is_correction_level") == "off"
    assert keys("openrlhf", "0.11.2")["algo.advantage.is_correction_threshold"]["nargs"] == "+"
    assert [v for v in OPENRLHF if "actor.loss_agg_mode" in keys("openrlhf", v)] == ["0.11.2"]


@pytest.mark.parametrize(
    ("dotted", "flat", "value"),
    [
        ("algo.kl.init_coef", "init_kl_coef", 0.01),
        ("algo.kl.estimator", "kl_estimator", "k1"),
        ("algo.kl.use_loss", "use_kl_loss", False),
        ("actor.eps_clip", "eps_clip", 0.2),
        ("rollout.n_samples_per_prompt", "n_samples_per_prompt", 1),
        ("rollout.batch_size", "rollout_batch_size", 1024),
        ("train.batch_size", "train_batch_size", 128),
        ("train.max_epochs", "max_epochs", 1),
        ("algo.advantage.estimator", "advantage_estimator", "gae"),
    ],
)
def test_openrlhf_objective_defaults_in_every_release(dotted, flat, value):
    for v in OPENRLHF:
        assert default("openrlhf", v, dotted if vkey(v) >= (0, 10, 2) else flat) == value, v


def test_openrlhf_micro_batch_default_and_normaliser_class_by_version():
    assert default("openrlhf", "0.9.10", "micro_train_batch_size") == 4
    assert default("openrlhf", "0.10.1.post2", "micro_train_batch_size") == 1
    assert cls("openrlhf", "0.10.2", "train.micro_batch_size") == "unmodelled"
    assert cls("openrlhf", "0.10.4", "train.micro_batch_size") == "no_effect"
    assert cls("openrlhf", "0.9.10", "micro_train_batch_size") == "unmodelled"


# ---- the classes of the keys the issue names ----------------------------------------------------


@pytest.mark.parametrize(
    ("framework", "version", "key", "expected"),
    [
        ("trl", "1.16.0", "num_generations", "modelled"),
        ("trl", "1.16.0", "beta", "modelled"),
        ("trl", "1.16.0", "importance_sampling_level", "modelled"),  # the loss-mode reducer
        ("trl", "1.16.0", "top_entropy_quantile", "modelled"),  # filters
        ("trl", "1.16.0", "entropy_coef", "modelled"),  # entropy bonus
        ("trl", "1.10.0", "use_adaptive_entropy", "modelled"),
        ("trl", "1.9.2", "entropy_coef", "unmodelled"),
        ("trl", "1.16.0", "mask_truncated_completions", "modelled"),
        ("trl", "1.16.0", "off_policy_mask_threshold", "unmodelled"),
        ("trl", "1.16.0", "delta", "modelled"),
        ("trl", "0.18.2", "delta", "modelled"),
        ("trl", "1.16.0", "sapo_temperature_neg", "modelled"),
        ("trl", "1.16.0", "vespo_k_pos", "modelled"),
        ("trl", "1.16.0", "vllm_importance_sampling_correction", "modelled"),  # filters
        ("trl", "1.16.0", "vllm_importance_sampling_mode", "modelled"),
        ("trl", "1.16.0", "reward_weights", "unmodelled"),
        ("trl", "1.16.0", "temperature", "unmodelled"),
        ("trl", "1.16.0", "learning_rate", "no_effect"),
        ("trl", "1.16.0", "vllm_gpu_memory_utilization", "no_effect"),
        ("trl", "0.24.0", "use_liger_kernel", "no_effect"),
        ("trl", "0.25.1", "use_liger_kernel", "unmodelled"),
        ("trl", "1.13.0", "use_liger_kernel", "no_effect"),
        ("verl", "0.9.1", "actor_rollout_ref.actor.policy_loss.loss_mode", "modelled"),
        ("verl", "0.7.1", "actor_rollout_ref.actor.policy_loss.loss_mode", "modelled"),
        ("verl", "0.6.1", "actor_rollout_ref.actor.policy_loss.loss_mode", "unmodelled"),
        ("verl", "0.9.1", "actor_rollout_ref.actor.policy_loss.clip_cov_ratio", "modelled"),
        ("verl", "0.4.1", "actor_rollout_ref.actor.policy_loss.clip_cov_ratio", "unmodelled"),
        ("verl", "0.9.1", "actor_rollout_ref.actor.policy_loss.dro_beta", "modelled"),
        ("verl", "0.9.1", "actor_rollout_ref.actor.tau_pos", "modelled"),
        ("verl", "0.9.1", "actor_rollout_ref.actor.loss_scale_factor", "modelled"),
        ("verl", "0.9.1", "actor_rollout_ref.actor.entropy_coeff", "modelled"),
        ("verl", "0.8.0", "actor_rollout_ref.actor.entropy_coeff", "unmodelled"),
        ("verl", "0.9.1", "actor_rollout_ref.actor.clip_ratio_c", "modelled"),
        ("verl", "0.4.1", "actor_rollout_ref.actor.clip_ratio_c", "modelled"),
        ("verl", "0.9.1", "algorithm.rollout_correction.rollout_rs", "unmodelled"),
        ("verl", "0.9.1", "algorithm.rollout_correction.bypass_mode", "unmodelled"),
        ("verl", "0.9.1", "algorithm.rollout_correction.rollout_is", "unmodelled"),
        ("verl", "0.9.1", "algorithm.use_pf_ppo", "unmodelled"),
        ("verl", "0.9.1", "actor_rollout_ref.rollout.top_p", "unmodelled"),
        ("verl", "0.9.1", "actor_rollout_ref.actor.kl_loss_type", "modelled"),
        ("verl", "0.9.1", "actor_rollout_ref.rollout.gpu_memory_utilization", "no_effect"),
        ("verl", "0.9.1", "actor_rollout_ref.actor.fsdp_config.param_offload", "no_effect"),
        ("verl", "0.9.1", "actor_rollout_ref.actor.optim.lr", "no_effect"),
        ("verl", "0.9.1", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu", "no_effect"),
        ("verl", "0.7.1", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu", "unmodelled"),
        ("verl", "0.9.1", "trainer.project_name", "no_effect"),
        ("openrlhf", "0.11.2", "actor.policy_loss_type", "modelled"),
        ("openrlhf", "0.10.1.post2", "policy_loss_type", "modelled"),
        ("openrlhf", "0.11.2", "algo.advantage.is_correction_level", "unmodelled"),
        ("openrlhf", "0.11.2", "actor.entropy_coef", "modelled"),
        ("openrlhf", "0.11.1", "actor.entropy_coef", "unmodelled"),
        ("openrlhf", "0.9.10", "entropy_loss_coef", "unmodelled"),
        ("openrlhf", "0.11.2", "actor.aux_loss_coef", "unmodelled"),
        ("openrlhf", "0.11.2", "actor.dual_clip", "modelled"),
        ("openrlhf", "0.11.1", "algo.advantage.is_correction_enable", "unmodelled"),
        ("openrlhf", "0.11.2", "reward.normalize_enable", "unmodelled"),
        ("openrlhf", "0.11.2", "rollout.temperature", "unmodelled"),
        ("openrlhf", "0.11.2", "algo.kl.estimator", "modelled"),
        ("openrlhf", "0.10.1.post2", "kl_estimator", "modelled"),
        ("openrlhf", "0.10.1.post2", "enable_vllm_is_correction", "unmodelled"),
        ("openrlhf", "0.11.2", "actor.adam.lr", "no_effect"),
    ],
)
def test_class_of_named_keys(framework, version, key, expected):
    assert cls(framework, version, key) == expected


def test_optimizer_keys_say_they_shape_the_step_not_the_gradient():
    text = "shapes the optimizer step, not the expected gradient"
    assert table("trl")["effects"]["learning_rate"] == text
    assert table("verl")["effects"]["*.optim.*"] == text
    assert table("openrlhf")["effects"]["actor.adam.*"] == text
