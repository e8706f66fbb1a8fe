"""NeMo-RL, Open-Instruct and SkyRL version tables against the releases' own config schemas.

tests/data/frameworks/<trainer>/<version>.json hold every config key of a release with its
default and file:line, read from the project's git tag by extract_trainers_a.py (nothing
imported). These tests check that the shipped tables (rlxform/frameworks/data/<trainer>.json)
classify every key by exactly one most specific rule (the resolution ``tables.VersionTable.kind``
uses), carry the same defaults, and that the facts the readers rely on hold in the released
files. Pure Python: JSON and fnmatch.
"""

from __future__ import annotations

import fnmatch
import re

import pytest
from version_tables import CLASSES, release, releases, table

from rlxform.frameworks.tables import load_tables

TRAINERS = ("nemo_rl", "open_instruct", "skyrl")


ALL = [(fw, v) for fw in TRAINERS for v in releases(fw)]


@pytest.mark.parametrize("framework", TRAINERS)
def test_table_lists_every_extracted_release(framework):
    assert list(table(framework)["versions"]) == releases(framework)
    assert table(framework)["latest"] == releases(framework)[-1]
    assert table(framework)["framework"] == framework


@pytest.mark.parametrize(("framework", "version"), ALL)
def test_every_key_has_one_class_and_the_extracted_default(framework, version):
    """Every key of the release is classified (``VersionTable.kind``: the most specific rule)
    and the runtime default equals the extracted one (file:line in the release)."""
    t = load_tables(framework)[version]
    extracted = release(framework, version)["keys"]
    assert list(table(framework)["versions"][version]["defaults"]) == list(extracted)
    for key, entry in extracted.items():
        kind = t.kind(key)
        assert kind is not None and kind.kind in CLASSES, (framework, version, key)
        assert t.default(key) == entry["default"], (framework, version, key)
        assert isinstance(entry["line"], int) and entry["line"] > 0, key
        assert entry["file"].endswith((".py", ".yaml")), key


@pytest.mark.parametrize("framework", TRAINERS)
def test_no_key_has_two_most_specific_rules(framework):
    """Two rules of equal rank matching one key would make the class depend on dict order
    (these tables use no @SPEC rules: one rank per pattern)."""
    rules = [(r, re.compile(fnmatch.translate(r))) for r in table(framework)["classes"]]
    assert all("@" not in r for r, _ in rules)
    every = {k for fw, v in ALL if fw == framework for k in release(fw, v)["keys"]}
    for key in every:
        ranks = [
            (not any(c in r for c in "*?["), sum(c not in "*?[]" for c in r))
            for r, rx in rules
            if r == key or rx.fullmatch(key)
        ]
        assert ranks.count(max(ranks)) == 1, (framework, key)


@pytest.mark.parametrize("framework", TRAINERS)
def test_every_rule_is_used_and_side_tables_name_rules(framework):
    t = table(framework)
    used = set()
    for fw, version in ALL:
        if fw == framework:
            tables = load_tables(framework)[version]
            used |= {tables.kind(k).rule for k in release(fw, version)["keys"]}
    assert set(t["classes"]) - used == set(), "rules that classify no key"
    unmodelled = {r for r, c in t["classes"].items() if c == "unmodelled"}
    assert unmodelled <= set(t["effects"]), "unmodelled rules without an effect sentence"
    assert set(t["neutral"]) | set(t["only_with"]) <= unmodelled
    every_key = {k for fw, v in ALL if fw == framework for k in release(fw, v)["keys"]}
    for rule, condition in t["only_with"].items():
        assert set(condition) <= every_key, (rule, condition)


@pytest.mark.parametrize(("framework", "version"), ALL)
def test_extracted_files_name_their_git_tag(framework, version):
    data = release(framework, version)
    assert data["framework"] == framework and data["version"] == version
    assert re.search(r"git tag \S+ \(commit [0-9a-f]{40}", data["source"]), data["source"]


# ---- facts the readers rely on, as the released files have them ----------------------------


def key(framework: str, version: str, name: str) -> dict:
    return release(framework, version)["keys"][name]


def test_nemo_rl_defaults_the_readers_use():
    """grpo_math_1B.yaml: M = 16, 32 prompts, leave-one-out and std on, global batch 512 (one
    update per rollout), k3 KL 0.01, clip 0.2; the adv_estimator switches follow the top keys."""
    for version in releases("nemo_rl"):
        assert key("nemo_rl", version, "grpo.num_generations_per_prompt")["default"] == 16
        assert key("nemo_rl", version, "grpo.use_leave_one_out_baseline")["default"] is True
        assert key("nemo_rl", version, "grpo.normalize_rewards")["default"] is True
        assert key("nemo_rl", version, "policy.train_global_batch_size")["default"] == 512
        assert key("nemo_rl", version, "loss_fn.reference_policy_kl_penalty")["default"] == 0.01
    entry = key("nemo_rl", "0.7.0", "grpo.adv_estimator.use_leave_one_out_baseline")
    assert entry["interpolation"] == "${grpo.use_leave_one_out_baseline}" and entry["line"] == 34
    assert key("nemo_rl", "0.7.0", "grpo.advantage_clip_low")["line"] == 14
    assert "grpo.adv_estimator.name" not in release("nemo_rl", "0.5.0")["keys"]
    assert "loss_fn.reference_policy_kl_type" not in release("nemo_rl", "0.4.0")["keys"]


def test_open_instruct_defaults_the_readers_use():
    """data_loader.py / grpo_utils.py at v0.3.0 (lines as README.md of tests/data/trainers)."""
    expected = {
        "advantage_normalization_type": ("centered", 421),
        "verification_reward": (10.0, 452),
        "filter_zero_std_samples": (True, 419),
        "num_samples_per_prompt_rollout": (4, 414),
        "num_unique_prompts_rollout": (16, 415),
        "beta": (0.05, 104),
        "clip_lower": (0.2, 106),
        "clip_higher": (0.272, 108),
        "kl_estimator": (2, 134),
        "loss_denominator": ("token", 136),
        "num_mini_batches": (1, 102),
        "async_steps": (8, 413),
    }
    for name, (default, line) in expected.items():
        entry = key("open_instruct", "0.3.0", name)
        assert (entry["default"], entry["line"]) == (default, line), name
    # grpo_fast.py's parser.set_defaults wins over the dataclass default
    assert key("open_instruct", "0.3.0", "per_device_train_batch_size")["default"] == 1


def test_skyrl_defaults_the_readers_use():
    """skyrl/train/config/config.py at skyrl-v0.3.0."""
    a = "trainer.algorithm."
    expected = {
        a + "advantage_estimator": ("grpo", 597),
        a + "grpo_norm_by_std": (True, 623),
        a + "advantage_batch_normalize": (False, 617),
        a + "zero_variance_filter": (False, 624),
        a + "loss_reduction": ("token_mean", 621),
        a + "use_kl_loss": (True, 606),
        a + "kl_loss_coef": (0.001, 608),
        a + "kl_estimator_type": ("k3", 602),
        a + "eps_clip_low": (0.2, 633),
        "generator.n_samples_per_prompt": (5, 813),
    }
    for name, (default, line) in expected.items():
        entry = key("skyrl", "0.3.0", name)
        assert (entry["default"], entry["line"]) == (default, line), name
