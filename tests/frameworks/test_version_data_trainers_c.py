"""prime-rl and TRL RLOO version tables against the releases' own config schemas.

tests/data/frameworks/<trainer>/<version>.json hold every config key of a release with its
default and file:line, read from source by extract_trainers_c.py (prime-rl v0.8.0's pydantic
classes from the git tag; RLOOConfig of every TRL minor from 0.22 to 1.16 from the PyPI wheels;
nothing imported). These tests check that the shipped tables (rlxform/frameworks/data/) classify
every key by exactly one most specific rule, carry the same defaults, and that the facts the
readers rely on hold in the released files. Pure Python: JSON and fnmatch.
"""

from __future__ import annotations

import fnmatch
import re

import pytest
from version_tables import CLASSES, release, releases, table, vkey

from rlxform.frameworks.tables import load_tables

TRAINERS = ("prime_rl", "trl_rloo")


ALL = [(fw, v) for fw in TRAINERS for v in releases(fw)]


@pytest.mark.parametrize("framework", TRAINERS)
def test_table_lists_every_extracted_release(framework):
    assert list(table(framework)["versions"]) == releases(framework)
    assert table(framework)["latest"] == releases(framework)[-1]
    assert table(framework)["framework"] == framework


@pytest.mark.parametrize(("framework", "version"), ALL)
def test_every_key_has_one_class_and_the_extracted_default(framework, version):
    t = load_tables(framework)[version]
    extracted = release(framework, version)["keys"]
    assert list(table(framework)["versions"][version]["defaults"]) == list(extracted)
    for key, entry in extracted.items():
        kind = t.kind(key)
        assert kind is not None and kind.kind in CLASSES, (framework, version, key)
        assert t.default(key) == entry["default"], (framework, version, key)
        assert isinstance(entry["line"], int) and entry["line"] > 0, key
        assert entry["file"].endswith(".py"), key


@pytest.mark.parametrize("framework", TRAINERS)
def test_no_key_has_two_most_specific_rules_and_every_rule_is_used(framework):
    t = table(framework)
    rules = [(r, re.compile(fnmatch.translate(r))) for r in t["classes"]]
    assert all("@" not in r for r, _ in rules)
    every = {k for fw, v in ALL if fw == framework for k in release(fw, v)["keys"]}
    used = set()
    for key in every:
        hits = [r for r, rx in rules if r == key or rx.fullmatch(key)]
        ranks = [(not any(c in r for c in "*?["), sum(c not in "*?[]" for c in r)) for r in hits]
        assert ranks.count(max(ranks)) == 1, (framework, key)
        used.add(hits[ranks.index(max(ranks))])
    assert set(t["classes"]) - used == set(), "rules that classify no key"
    unmodelled = {r for r, c in t["classes"].items() if c == "unmodelled"}
    assert unmodelled <= set(t["effects"]), "unmodelled rules without an effect sentence"
    assert set(t["neutral"]) | set(t["only_with"]) <= unmodelled
    for rule, condition in t["only_with"].items():
        assert set(condition) <= every, (rule, condition)


def key(framework: str, version: str, name: str) -> dict:
    return release(framework, version)["keys"][name]


def test_prime_rl_facts_the_reader_uses():
    """packages/prime-rl-configs/src/prime_rl/configs/ at v0.8.0 (lines as the reader cites)."""
    data = release("prime_rl", "0.8.0")
    assert re.search(r"git tag v0\.8\.0 \(commit 60bc29547", data["source"])
    orch = "packages/prime-rl-configs/src/prime_rl/configs/orchestrator.py"
    expected = {
        "orchestrator.group_size": (1, 552, orch),
        "orchestrator.batch_size": (None, 540, orch),
        "orchestrator.token_batch_size": (None, 543, orch),
        "orchestrator.max_off_policy_steps": (8, 565, orch),
        "orchestrator.train.sampling.temperature": (1.0, 54, orch),
        "orchestrator.algo.type": ("grpo", 201, orch.replace("orchestrator.py", "algorithm.py")),
        "orchestrator.algo.length_penalty": (None, 207, orch.replace("orchestrator", "algorithm")),
        "trainer.loss.type": ("default", 457, orch.replace("orchestrator", "trainer")),
        "trainer.loss.kl_tau": (0.001, 468, orch.replace("orchestrator", "trainer")),
    }
    for name, (default, line, file) in expected.items():
        entry = key("prime_rl", "0.8.0", name)
        assert (entry["default"], entry["line"], entry["file"]) == (default, line, file), name
    weights = {
        k: key("prime_rl", "0.8.0", f"orchestrator.algo.length_penalty.{k}")["default"]
        for k in ("num_output_tokens_weight", "num_input_tokens_weight", "num_turns_weight")
    }
    assert weights == {"num_output_tokens_weight": 0.25, "num_input_tokens_weight": 0.1,
                       "num_turns_weight": 0.1}  # fmt: skip
    post = key("prime_rl", "0.8.0", "orchestrator.post_batch_filters")["default"]
    pre = key("prime_rl", "0.8.0", "orchestrator.pre_batch_filters")["default"]
    assert {f["type"]: f["enforce"] for f in post} == {
        "gibberish": False, "repetition": False, "zero_advantage": True
    }  # fmt: skip
    assert not any(f["enforce"] for f in pre)
    assert not any(k.startswith("orchestrator.buffer.") for k in data["keys"])  # pools removed
    assert key("prime_rl", "0.8.0", "orchestrator.algo.decay")["variant"] == "rae"


def test_trl_rloo_facts_the_reader_uses():
    """RLOOConfig: M 2, beta 0.05, normalize_advantages False in every release from 0.22;
    the deprecated aliases live in 0.22-0.24 only."""
    for version in releases("trl_rloo"):
        assert key("trl_rloo", version, "num_generations")["default"] == 2
        assert key("trl_rloo", version, "beta")["default"] == 0.05
        assert key("trl_rloo", version, "normalize_advantages")["default"] is False
        assert key("trl_rloo", version, "reward_clip_range")["default"] is None
        assert key("trl_rloo", version, "epsilon")["default"] == 0.2
        has_alias = "rloo_k" in release("trl_rloo", version)["keys"]
        assert has_alias == (vkey(version) < (0, 25)), version
    assert key("trl_rloo", "1.16.0", "beta")["line"] == 502
    assert key("trl_rloo", "1.16.0", "normalize_advantages")["line"] == 531
    t = load_tables("trl_rloo")["1.16.0"]
    assert t.canonical("kl_coef") == ("beta",) and t.canonical("rloo_k") == ("num_generations",)
