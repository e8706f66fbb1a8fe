"""Each supported release of TRL, verl and OpenRLHF gives a file that sets none of the knobs
its own defaults, by --framework-version and by the key names of the file.

Expected values are read from the released code (the wheels of tests/data/frameworks/README.md),
cited as release file:line. Paths: TRL trl/trainer/, verl verl/trainer/config/, OpenRLHF
openrlhf/.
"""

from __future__ import annotations

import pytest

from rlxform.frameworks import FRAMEWORKS, read_config
from rlxform.frameworks.tables import version_key


def _v(version: str) -> tuple[int, ...]:
    return version_key(version)


def _trl_expected(version: str) -> tuple[float, str]:
    """(beta, aggregation). beta 0.04 to 0.18.2 (grpo_config.py:390 in 0.18.2), 0.0 from
    0.19 (grpo_config.py:412 in 0.19.1). Loss: per-answer token mean before 0.16 (grpo_trainer.py
    :512 in 0.14.0, :713 in 0.15.2); 0.16.1 sums tokens over the batch (grpo_trainer.py:932, as
    bnpo); loss_type "bnpo" 0.17 to 0.21 (grpo_config.py:345 in 0.17.0, :502 in 0.21.0); "dapo"
    from 0.22 (grpo_config.py:519 in 0.22.2, :801 in 1.16.0)."""
    beta = 0.04 if _v(version) < _v("0.19") else 0.0
    if _v(version) < _v("0.16"):
        return beta, "grpo"
    return beta, "bnpo" if _v(version) < _v("0.22") else "dapo"


@pytest.mark.parametrize("version", FRAMEWORKS["trl"].versions())
def test_trl_release_defaults(version):
    run = read_config({"num_generations": 8}, "trl", version=version)
    assert run.version == f"trl {version}"
    beta, aggregation = _trl_expected(version)
    assert (run.kl_coef, run.aggregation) == (beta, aggregation)
    assert run.kl_placement == ("loss" if beta else "none")
    # (r - mean) / (std + 1e-4), torch's sample std: grpo_trainer.py:502-507 in 0.14.0; scale
    # by default (scale_rewards True, grpo_config.py:289 in 0.16.1; "group" from 0.22)
    assert (run.std_normalised, run.std_epsilon, run.std_scope) == (True, 1e-4, "group")
    # epsilon 0.2 (grpo_config.py:271 in 0.16.1), num_iterations 1 (:267); 0.14/0.15 have no
    # clip at all (one step per generation)
    assert (run.clip_low, run.clip_high, run.updates_per_rollout) == (0.2, 0.2, 1)
    assert "epsilon" not in run.defaults_used or _v(version) >= _v("0.16")


@pytest.mark.parametrize("version", ["0.22.2", "0.23.1", "0.25.1", "0.26.2", "1.5.1", "1.16.0"])
def test_trl_vllm_correction_defaults(version):
    """vllm_importance_sampling_correction True from 0.23 (grpo_config.py:601 in 0.23.1):
    token-level clamp at cap 2.0 (grpo_config.py:611, grpo_trainer.py:1390) until 0.25;
    mode sequence_mask and cap 3.0 from 0.26 (grpo_config.py:741, :755 in 0.26.2; cap renamed
    vllm_importance_sampling_clip_max, 3.0, grpo_config.py:947 in 1.16.0)."""
    run = read_config({"num_generations": 8, "use_vllm": True}, "trl", version=version)
    if _v(version) < _v("0.23"):
        expected = (None, None)
    elif _v(version) < _v("0.26"):
        expected = ("token_truncate", 2.0)
    else:
        expected = ("sequence_mask", 3.0)
    assert (run.vllm_is_mode, run.vllm_is_cap) == expected


VERL = [
    "python3 -m verl.trainer.main_ppo algorithm.adv_estimator=grpo actor_rollout_ref.rollout.n=8"
]


@pytest.mark.parametrize("version", FRAMEWORKS["verl"].versions())
def test_verl_release_defaults(version):
    """Every listed release: loss_agg_mode token-mean, clip_ratio 0.2, use_kl_loss false,
    kl_loss_coef 0.001, kl_loss_type low_var_kl (ppo_trainer.yaml:208, :214, :223 in 0.4.1;
    actor/actor.yaml:86, :103, :113, :116 in 0.9.1), use_kl_in_reward False with kl_penalty kl
    and kl_ctrl.kl_coef 0.001 (ppo_trainer.yaml:861-873 in 0.4.1, :102-117 in 0.9.1);
    train_batch_size 1024 / ppo_mini_batch_size 256 = 4 updates; grpo epsilon 1e-6
    (trainer/ppo/core_algos.py:205 in 0.4.1, :272 in 0.9.1)."""
    run = read_config(VERL, "verl", version=version)
    assert run.version == f"verl {version}"
    assert (run.aggregation, run.clip_low, run.clip_high) == ("token-mean", 0.2, 0.2)
    assert (run.kl_placement, run.updates_per_rollout, run.std_epsilon) == ("none", 4, 1e-6)
    loss = read_config([VERL[0] + " actor_rollout_ref.actor.use_kl_loss=True"], version=version)
    assert (loss.kl_placement, loss.kl_estimator, loss.kl_coef) == ("loss", "low_var_kl", 0.001)
    reward = read_config([VERL[0] + " algorithm.use_kl_in_reward=True"], version=version)
    assert (reward.kl_placement, reward.kl_estimator, reward.kl_coef) == ("reward", "kl", 0.001)


FLAT = "python3 -m openrlhf.cli.train_ppo_ray --advantage_estimator group_norm "
FLAT += "--n_samples_per_prompt 8"
DOTTED = "python3 -m openrlhf.cli.train_ppo_ray --algo.advantage.estimator group_norm "
DOTTED += "--rollout.n_samples_per_prompt 8"


@pytest.mark.parametrize("version", FRAMEWORKS["openrlhf"].versions())
def test_openrlhf_release_defaults(version):
    """init_kl_coef 0.01, kl_estimator k1, use_kl_loss off, eps_clip 0.2, rollout_batch_size
    1024, train_batch_size 128, max_epochs 1 in every release (cli/train_ppo_ray.py:340-362 in
    0.6.4; :438-524 in 0.11.2 under the dotted names): 1024 * 8 / 128 = 64 updates; group_norm
    divides by std + 1e-9 (trainer/ppo_utils/experience_maker.py:525 in 0.6.4). The loss:
    each answer's token mean in 0.6 (models/loss.py:76 in 0.6.4), a token mean from 0.7
    (models/loss.py:80 token_level_loss=True, trainer/ray/ppo_actor.py:71 in 0.7.5)."""
    names = FLAT if _v(version) < _v("0.10.2") else DOTTED
    run = read_config([names], version=version)
    assert run.version == f"openrlhf {version}"
    assert (run.kl_placement, run.kl_estimator, run.kl_coef) == ("advantage", "k1", 0.01)
    assert (run.clip_low, run.clip_high, run.updates_per_rollout) == (0.2, 0.2, 64)
    assert run.std_epsilon == 1e-9
    old = _v(version) < _v("0.7")
    assert run.aggregation == ("seq-mean-token-mean" if old else "token-mean")
    assert not any("another release" in p for p in run.pitfalls)


def test_openrlhf_names_of_another_release_are_named():
    """OpenRLHF 0.10.2 renamed every flag without aliases (cli/train_ppo_ray.py:433
    --rollout.n_samples_per_prompt in 0.10.2; --n_samples_per_prompt in 0.10.1.post2): a file
    with the other release's names, or with both, is read but says so."""
    flat_at_new = read_config([FLAT], version="0.11.2")
    assert flat_at_new.group_size == 8
    (line,) = [p for p in flat_at_new.pitfalls if "another release" in p]
    assert "advantage_estimator (openrlhf 0.6.4 to 0.10.1.post2; read as " in line
    dotted_at_old = read_config([DOTTED], version="0.6.4")
    (line,) = [p for p in dotted_at_old.pitfalls if "another release" in p]
    assert "rollout.n_samples_per_prompt (openrlhf 0.10.2 to 0.11.2; read as " in line
    assert "n_samples_per_prompt)" in line  # 0.6.4's own name
    assert "init_kl_coef" in dotted_at_old.defaults_used  # 0.6.4's names, not the newest
    mixed = read_config(
        ["python3 -m openrlhf.cli.train_ppo_ray --advantage_estimator group_norm "
         "--rollout.n_samples_per_prompt 8"]
    )  # fmt: skip
    assert mixed.version == "openrlhf 0.11.2"
    assert any("advantage_estimator (openrlhf 0.6.4 to 0.10.1.post2" in p for p in mixed.pitfalls)


def test_trl_keys_of_two_releases_are_named_and_absent_keys_are_no_defaults():
    """vllm_device is a GRPOConfig field up to 0.17.0, removed in 0.18 (grpo_config.py of
    0.17.0 and 0.18.2); importance_sampling_level exists from 0.20 (grpo_config.py:467 in
    0.20.0). TRL 0.14.0's GRPOConfig has no epsilon, num_iterations, loss_type, scale_rewards
    (its fields: grpo_config.py:85-174), so their defaults are not the release's."""
    run = read_config(
        {"num_generations": 8, "vllm_device": "cuda:1", "importance_sampling_level": "sequence"},
        "trl",
    )
    (item,) = [i for i in run.not_modelled if i["key"] == "vllm_device"]
    assert "a key of trl 0.14.0 to 0.17.0, not of trl 1.16.0" in item["effect"]
    oldest = read_config({"num_generations": 8}, "trl", version="0.14.0")
    assert not {"epsilon", "num_iterations", "loss_type", "scale_rewards"} & set(
        oldest.defaults_used
    )
    assert {"beta", "gradient_accumulation_steps"} <= set(oldest.defaults_used)


def test_unsupported_release_is_one_line_naming_the_supported_ones():
    for name in ("trl", "verl", "openrlhf"):
        with pytest.raises(ValueError, match="is invalid for " + name) as err:
            read_config({"num_generations": 8}, name, version="0.1.0")
        assert ", ".join(FRAMEWORKS[name].versions()) in str(err.value)
        assert "\n" not in str(err.value)


def test_a_patch_release_not_listed_takes_the_nearest_not_a_newer_one():
    """OpenRLHF 0.10.1 has the flat names of its post-release 0.10.1.post2 (cli/train_ppo_ray.py
    --n_samples_per_prompt), which 0.10.2 replaced (:433 --rollout.n_samples_per_prompt) and
    0.10.4 kept; 0.10.1 was read as 0.10.4. A missing patch takes the newest listed release of
    its minor up to it, else the oldest of the minor (TRL 0.19.0 -> 0.19.1)."""
    run = read_config([FLAT], version="0.10.1")
    assert run.version == "openrlhf 0.10.1.post2"
    assert not any("another release" in p for p in run.pitfalls)
    assert read_config([DOTTED], version="0.10.3").version == "openrlhf 0.10.2"
    assert read_config({"num_generations": 8}, "trl", version="0.19.0").version == "trl 0.19.1"


@pytest.mark.parametrize(
    ("version", "config", "expected"),
    [
        # 0.15.2's GRPOConfig has no num_iterations (added in 0.16.1, grpo_config.py:267): one
        # step per generation (grpo_trainer.py:713, no ratio); it was read as 2 updates
        ("0.15.2", {"num_iterations": 2}, ("grpo", 1)),
        # 0.16.1 has no loss_type (added in 0.17.0, grpo_config.py:345): token sum over token
        # count (grpo_trainer.py:932), as bnpo; it was read as loss_type grpo
        ("0.16.1", {"loss_type": "grpo"}, ("bnpo", 1)),
    ],
)
def test_trl_keys_the_release_lacks_keep_its_own_behaviour_and_are_named(version, config, expected):
    run = read_config({"num_generations": 8, **config}, "trl", version=version)
    assert (run.aggregation, run.updates_per_rollout) == expected
    ((key, _),) = config.items()
    (item,) = [i for i in run.not_modelled if i["key"] == key]
    assert f"not of trl {version}'s config" in item["effect"]
    assert "a key of trl 0.1" in item["effect"]


@pytest.mark.parametrize("version", ["0.17.0", "0.19.1", "0.21.0"])
def test_trl_loss_type_the_release_lacks_is_refused(version):
    """0.17.0 to 0.21.0 branch on grpo, bnpo, dr_grpo and raise ValueError("Unknown loss
    type") on any other (grpo_trainer.py:1219-1226 in 0.17.0, :1404-1411 in 0.19.1, :1888-1895
    in 0.21.0); dapo came in 0.22 (:1620 in 0.22.2). The card read dapo as dapo."""
    with pytest.raises(ValueError, match=f"loss_type='dapo' is invalid for trl {version}"):
        read_config({"num_generations": 8, "loss_type": "dapo"}, "trl", version=version)
    run = read_config({"num_generations": 8, "loss_type": "dapo"}, "trl", version="0.22.2")
    assert run.aggregation == "dapo"


@pytest.mark.parametrize("value", ["none", "batch"])
def test_trl_scale_rewards_strings_are_refused_where_it_is_a_bool(value):
    """scale_rewards is a bool up to 0.21 (grpo_config.py:493 in 0.21.0) and the trainer
    divides by the group std whenever it is truthy (grpo_trainer.py:1691): "none" does not
    switch it off there. The strings came in 0.22 (grpo_config.py:507 in 0.22.2)."""
    with pytest.raises(ValueError, match=f"scale_rewards='{value}' is invalid for trl 0.21.0"):
        read_config({"num_generations": 8, "scale_rewards": value}, "trl", version="0.21.0")
    run = read_config({"num_generations": 8, "scale_rewards": value}, "trl", version="0.22.2")
    assert run.std_scope == (None if value == "none" else "batch")


def test_without_a_version_the_card_says_which_older_releases_set_its_defaults_otherwise():
    """A file whose keys every TRL release reads takes 1.16.0's defaults and says which of them
    older releases set otherwise: beta 0.04 up to 0.18.2 (grpo_config.py:390 in 0.18.2),
    loss_type bnpo 0.17.0 to 0.21.0 (:345 in 0.17.0, :502 in 0.21.0)."""
    run = read_config({"num_generations": 8}, "trl")
    assert run.version == "trl 1.16.0"
    (line,) = [p for p in run.pitfalls if p.startswith("no --framework-version")]
    assert "trl 0.14.0 to 1.16.0 all read" in line
    assert "beta (0.04 in 0.14.0 to 0.18.2)" in line
    assert "loss_type ('bnpo' in 0.17.0 to 0.21.0)" in line
    pinned = read_config({"num_generations": 8}, "trl", version="1.16.0")
    assert not any(p.startswith("no --framework-version") for p in pinned.pitfalls)
