"""slime, ROLL and AReaL version tables against the releases' own config schemas.

tests/data/frameworks/<trainer>/<version>.json hold every config key of a release with its
default, file:line and section (slime's argparse group function, ROLL's and AReaL's declaring
dataclass), read from the project's git tag by extract_trainers_b.py. The shipped tables
(rlxform/frameworks/data/<trainer>.json, written by build_tables_trainers_b.py from the hand
classes in classes_<trainer>.py) must classify every key by exactly one most specific rule, with
no catch-all: no rule matches every key, and each no_effect glob covers the keys of one section
only, so a key that changes the update cannot hide under a broad pattern.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
from functools import cache
from pathlib import Path

import pytest

from rlxform.explain.cards import explain
from rlxform.frameworks import FRAMEWORKS
from rlxform.frameworks.tables import load_tables

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "frameworks"
TABLES = ROOT / "rlxform" / "frameworks" / "data"
RELEASES = {"slime": "0.3.1", "roll": "0.3.0", "areal": "1.0.4"}
CLASSES = {"modelled", "no_effect", "unmodelled"}
OPTIMIZER = "shapes the optimizer step, not the expected gradient"


@cache
def table(trainer: str) -> dict:
    return json.loads((TABLES / f"{trainer}.json").read_text())


@cache
def release(trainer: str) -> dict:
    return json.loads((DATA / trainer / f"{RELEASES[trainer]}.json").read_text())


def wild(rule: str) -> bool:
    return any(ch in rule for ch in "*?[")


def matches(rule: str, key: str) -> bool:
    return rule == key or (wild(rule) and fnmatch.fnmatchcase(key, rule))


def rank(rule: str) -> tuple[int, int]:
    """tables.VersionTable.kind's order: an exact key, then globs by their literal characters."""
    return (0 if wild(rule) else 1, sum(ch not in "*?[]" for ch in rule))


def section(trainer: str, key: str) -> tuple[str, str]:
    """A key's section: its parent path; keys at the top are sectioned by where the trainer
    declares them (slime's argparse group function, ROLL's and AReaL's dataclass)."""
    parent = key.rpartition(".")[0]
    return (parent, "") if parent else ("", release(trainer)["keys"][key]["section"])


def most_specific(trainer: str, key: str) -> str:
    rules = [r for r in table(trainer)["classes"] if matches(r, key)]
    assert rules, f"{trainer}: {key} is not classified"
    best = max(rank(r) for r in rules)
    top = [r for r in rules if rank(r) == best]
    assert len(top) == 1, f"{trainer}: {key} has several most specific rules {top}"
    return top[0]


@pytest.mark.parametrize("trainer", list(RELEASES))
def test_table_classifies_every_extracted_key_once_and_keeps_its_defaults(trainer):
    t, data = table(trainer), release(trainer)
    assert t["framework"] == data["framework"] == trainer
    assert list(t["versions"]) == [RELEASES[trainer]] == [t["latest"]]
    assert data["commit"] and data["source"].endswith(f"v{RELEASES[trainer]}")
    defaults = t["versions"][RELEASES[trainer]]["defaults"]
    assert defaults == {k: e["default"] for k, e in data["keys"].items()}
    versions = load_tables(trainer)
    for key, entry in data["keys"].items():
        assert entry["file"].endswith(".py") and entry["line"] > 0, key
        assert entry["section"], key
        rule = most_specific(trainer, key)
        assert t["classes"][rule] in CLASSES
        assert versions[RELEASES[trainer]].kind(key).rule == rule  # the runtime agrees


@pytest.mark.parametrize("trainer", list(RELEASES))
def test_no_rule_matches_every_key(trainer):
    """No catch-all: no rule is wildcards only, and none matches every key of the release (the
    classification test could not fail with one)."""
    keys = list(release(trainer)["keys"])
    for rule in table(trainer)["classes"]:
        assert rule.strip("*?[]!.") and "@" not in rule, rule
        assert not all(matches(rule, k) for k in keys), rule


@pytest.mark.parametrize("trainer", list(RELEASES))
def test_no_effect_globs_cover_the_keys_of_one_section(trainer):
    """A no_effect glob is a narrow pattern over one section (``wandb_*`` in slime's
    add_wandb_arguments, ``sglang.*`` in AReaL's SGLangConfig): every key it matches, including
    keys a more specific rule classifies, lies in that section."""
    keys = list(release(trainer)["keys"])
    for rule, kind in table(trainer)["classes"].items():
        if kind != "no_effect" or not wild(rule):
            continue
        covered = [k for k in keys if matches(rule, k)]
        sections = {section(trainer, k) for k in covered}
        assert len(sections) == 1, (rule, sorted(sections))


@pytest.mark.parametrize("trainer", list(RELEASES))
def test_every_rule_is_used_and_says_its_effect(trainer):
    t = table(trainer)
    keys = release(trainer)["keys"]
    used = {most_specific(trainer, k) for k in keys}
    assert set(t["classes"]) - used == set(), "rules that classify no key"
    for section_name in ("effects", "neutral", "only_with"):
        assert set(t[section_name]) <= set(t["classes"]), section_name
    unmodelled = {r for r, c in t["classes"].items() if c == "unmodelled"}
    said = {r for r, c in t["classes"].items() if c != "modelled"}
    assert said <= set(t["effects"]), "no_effect or unmodelled rules without an effect sentence"
    assert all(t["effects"][r].strip() for r in said)
    assert set(t["neutral"]) | set(t["only_with"]) <= unmodelled
    for rule, condition in t["only_with"].items():
        assert set(condition) <= set(keys), (rule, condition)


def test_the_keys_the_readers_model_exist_in_their_release():
    """Every exact modelled rule names a key of the release (no typo in the tables)."""
    for trainer, version in RELEASES.items():
        keys = table(trainer)["versions"][version]["defaults"]
        for rule, kind in table(trainer)["classes"].items():
            if kind == "modelled" and not wild(rule):
                assert rule in keys, (trainer, rule)
        assert FRAMEWORKS[trainer].versions() == [version]


def test_tables_are_what_the_build_script_writes():
    """rlxform/frameworks/data/{slime,roll,areal}.json regenerate from the build script."""
    path = DATA / "build_tables_trainers_b.py"
    spec = importlib.util.spec_from_file_location("build_tables_trainers_b", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for trainer in RELEASES:
        assert module.build(trainer) == table(trainer), trainer


# ---- keys that change the update, once under the catch-all (issue 22 item 2) -----------------
# (trainer, key, neutral values or None) with the code that makes them act at the named tag
MOVED = [
    ("slime", "update_weights_interval", (1,)),  # train_async.py:66
    ("slime", "over_sampling_batch_size", (None,)),  # rollout/sglang_rollout.py:404-445
    ("slime", "data_source_path", ("slime.rollout.data_source.RolloutDataSourceWithBuffer",)),
    ("slime", "rollout_sample_hook_path", ([],)),
    ("slime", "megatron_config_path", (None,)),  # utils/arguments.py:1593-1614
    ("slime", "load_debug_rollout_data", (None,)),
    ("slime", "use_routing_replay", (False,)),
    ("slime", "use_rollout_routing_replay", (False,)),
    ("slime", "custom_megatron_before_log_prob_hook_path", (None,)),  # model.py:451-455
    ("slime", "custom_megatron_before_train_step_hook_path", (None,)),  # model.py:554-558
    ("slime", "lambd", None),
    ("slime", "value_clip", None),
    ("slime", "mtp_num_layers", None),
    ("roll", "force_disable_old_logprobs_recompute", (False,)),  # base_config.py:657-662
    (
        "roll",
        "user_defined_rollout_loop_cls",
        ("roll.distributed.scheduler.user_defined_rollout_loop.UserDefinedRolloutLoop",),
    ),
    ("roll", "rollout_mock", (None,)),
    ("roll", "max_additional_running_prompts", None),
    ("roll", "lambd", None),
    ("roll", "value_clip", None),
    ("roll", "actor_train.worker_cls", (None, "roll.pipeline.rlvr.actor_worker.ActorWorker")),
    ("roll", "actor_train.pg_variant", None),
    ("roll", "actor_train.topr_positive_weight", None),
    ("roll", "actor_train.topr_negative_weight", None),
    ("roll", "actor_train.model_update_frequency", (1,)),  # rlvr_pipeline.py:362-366
    ("roll", "actor_train.mtp_training_mode", ("disabled", "standalone")),
    ("roll", "actor_train.router_replay.mode", ("disable",)),
    ("roll", "actor_train.model_args.moe_aux_loss_coef", (None, 0, 0.0)),
    ("roll", "actor_infer.generating_args", (None,)),
    ("roll", "actor_infer.worker_cls", (None, "roll.pipeline.base_worker.InferWorker")),
    ("roll", "reference.worker_cls", (None, "roll.pipeline.rlvr.actor_worker.ActorWorker")),
    ("roll", "teacher.opd_kl_coef", None),
    ("roll", "teacher.tag_included", None),
    ("areal", "gconfig.frequency_penalty", (0.0,)),
    ("areal", "gconfig.ignore_eos", (False,)),
    ("areal", "gconfig.use_beam_search", (False,)),
    ("areal", "rollout.agent", (None,)),
    ("areal", "rollout.api_url", (None,)),  # inference_service/controller/controller.py:95
    ("areal", "actor.max_new_tokens", None),  # trainer/ppo/actor.py:153-164
]


@pytest.mark.parametrize(("trainer", "key", "neutral"), MOVED)
def test_keys_that_change_the_update_are_unmodelled(trainer, key, neutral):
    kind = load_tables(trainer)[RELEASES[trainer]].kind(key)
    assert kind.kind == "unmodelled" and not wild(kind.rule), (key, kind.rule)
    assert kind.neutral == neutral and len(kind.effect) > 30


@pytest.mark.parametrize(
    ("trainer", "keys"),
    [
        ("slime", ["lr", "clip_grad", "use_stateless_adam", "reset_optimizer_states"]),
        ("roll", ["max_grad_norm", "actor_train.training_args.learning_rate",
                  "actor_train.training_args.adam_beta2",
                  "actor_train.training_args.warmup_steps"]),
        ("areal", ["actor.optimizer"]),
    ],
)  # fmt: skip
def test_optimizer_hyperparameters_shape_the_step(trainer, keys):
    versions = load_tables(trainer)[RELEASES[trainer]]
    for key in keys:
        kind = versions.kind(key)
        assert (kind.kind, kind.effect) == ("no_effect", OPTIMIZER), key


def not_modelled(config, framework: str) -> list[str]:
    return [item["key"] for item in explain(config, framework).to_json()["not_modelled"]]


def test_a_run_that_sets_a_moved_key_is_not_called_exact():
    """The card names the keys that left the catch-all when a run sets them."""
    slime = ["python3", "train.py", "--rollout-batch-size", "32", "--n-samples-per-prompt", "8",
             "--global-batch-size", "256", "--over-sampling-batch-size", "64",
             "--update-weights-interval", "2"]  # fmt: skip
    assert not_modelled(slime, "slime") == ["over_sampling_batch_size", "update_weights_interval"]
    roll = {"adv_estimator": "grpo", "num_return_sequences_in_group": 8,
            "actor_train.model_update_frequency": 2,
            "force_disable_old_logprobs_recompute": True}  # fmt: skip
    assert set(not_modelled(roll, "roll")) == {
        "actor_train.model_update_frequency",
        "force_disable_old_logprobs_recompute",
    }
    areal = {"gconfig.n_samples": 4, "actor.kl_ctl": 0.0, "actor.recompute_logprob": True,
             "gconfig.ignore_eos": True, "train_dataset.batch_size": 64,
             "rollout.consumer_batch_size": "${train_dataset.batch_size}"}  # fmt: skip
    assert not_modelled(areal, "areal") == ["gconfig.ignore_eos"]


def test_areal_consumer_batch_size_acts_only_when_it_differs_from_the_batch():
    """infra/staleness_manager.py:75-108 admits consumer_batch_size rollouts per version; AReaL's
    examples set it to ${train_dataset.batch_size} (examples/math/gsm8k_grpo.yaml:27)."""
    base = {"gconfig.n_samples": 4, "actor.kl_ctl": 0.0, "actor.recompute_logprob": True,
            "train_dataset.batch_size": 64}  # fmt: skip
    assert not_modelled({**base, "rollout.consumer_batch_size": 64}, "areal") == []
    assert not_modelled({**base, "rollout.consumer_batch_size": 128}, "areal") == [
        "rollout.consumer_batch_size"
    ]
    assert not_modelled(base, "areal") == ["rollout.consumer_batch_size"]  # default 1
