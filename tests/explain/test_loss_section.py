"""The loss-mode reduction on the card: readers, the Loss section, the lens and the length bias.

Each expected factor is read off the trainer's released code (file:line in the reducer's table,
``rlxform.core.loss_modes.releases``, and tests/data/configs/**/*.expected.json); the reducer
itself is checked against the frameworks' own gradients in tests/core/test_loss_modes.py. Pure
Python (no JAX), small configs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlxform.core.loss_modes import reduce
from rlxform.core.loss_modes.releases import RELEASES, release
from rlxform.explain.cards import explain
from rlxform.frameworks import FRAMEWORKS, read_config
from rlxform.validation import InputError

ROOT = Path(__file__).parent.parent.parent
A = "actor_rollout_ref.actor."
VERL = ["python3", "-m", "verl.trainer.main_ppo", "algorithm.adv_estimator=grpo"]
VERL += ["actor_rollout_ref.rollout.n=4", "data.train_batch_size=256", f"{A}ppo_mini_batch_size=64"]


def verl(*overrides: str, version: str | None = None) -> dict:
    return explain([*VERL, *overrides], version=version).to_json()


def trl(version: str | None = None, **settings) -> dict:
    run = {"num_generations": 8, "reward_funcs": "accuracy", **settings}
    return explain(run, "trl", version=version).to_json()


# ---- the factor each mode really has ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sapo", "geo_mean"])
def test_verl_sapo_and_geo_mean_are_one_over_l_whatever_the_aggregation(mode):
    """core_algos.py:1689 (sapo) and :2000 (geo_mean) hard-code the per-answer mean."""
    card = verl(f"{A}policy_loss.loss_mode={mode}", f"{A}loss_agg_mode=seq-mean-token-sum")
    assert card["loss"]["length_factor"] == "1/L" and card["aggregation"] == "seq-mean-token-sum"
    assert card["length_bias"]["rlxform_aggregation"] == "seq-mean-token-mean"
    assert any(b.startswith("length-normalised loss") for b in card["lens"]["breaks"])


def test_verl_gspo_follows_loss_agg_mode_in_091_and_not_before():
    """0.9.1 passes loss_agg_mode (core_algos.py:1603-1607); 0.8.0 hard-codes
    seq-mean-token-mean in its agg_loss call (gspo at :1539 of that release)."""
    clip = (f"{A}policy_loss.loss_mode=gspo", f"{A}clip_ratio_low=3e-4", f"{A}clip_ratio_high=4e-4")
    new = verl(*clip)
    assert new["loss"]["length_factor"] == "token-mean" and new["loss"]["release"] == "verl 0.9.1"
    assert new["length_bias"]["rlxform_aggregation"] == "token-mean"
    old = verl(*clip, version="0.8.0")
    assert old["loss"]["length_factor"] == "1/L" and "core_algos.py:1539" in old["loss"]["source"]
    assert old["length_bias"]["rlxform_aggregation"] == "seq-mean-token-mean"
    notes = " ".join(new["lens"]["notes"])  # 256 // 64 = 4 updates: the clip acts on 2 to 4
    assert "[0.9997, 1.0004]" in notes and "updates 2 to 4" in notes
    assert "clip_ratio_c" not in notes  # gspo has no dual clip


def test_trl_gspo_is_dapo_token_mean_by_default_and_one_over_l_with_grpo():
    """Sequence level: d exp(mean log-ratio)/d log pi_t = 1/L, times the L copies the loss
    sums (grpo_trainer.py:3087, :3168-3174) or averages (:3153-3157)."""
    dapo = trl(importance_sampling_level="sequence")
    assert (dapo["loss"]["mode"], dapo["loss"]["length_factor"]) == ("dapo", "token-mean")
    assert "Sequence level (GSPO) gives the token level's gradient" in dapo["loss"]["note"]
    grpo = trl(importance_sampling_level="sequence", loss_type="grpo")
    assert grpo["loss"]["length_factor"] == "1/L"


def test_trl_luspo_is_a_token_sum_where_the_lens_is_exact():
    """TRL 1.16.0 luspo: (per_token_loss * mask).sum(-1).mean() (grpo_trainer.py:3175-3182)."""
    card = trl(loss_type="luspo", importance_sampling_level="sequence")
    assert card["loss"]["length_factor"] == "1" and card["loss"]["exact_on_policy"]
    assert card["lens"]["exact"] is True and card["lens"]["breaks"] == []
    assert abs(card["length_bias"]["d_length_wrong_per_p"]) < 1e-12


def test_trl_luspo_before_110_grows_with_length_at_token_level():
    """0.28-1.9: loss = (per_token_loss * L).mean() over the padded (B, T) batch
    (grpo_trainer.py:2083-2087 in 0.28.0): c(L) = L / (B T) at token level, 1 at sequence
    level; no length drift is computed for a factor that is no aggregation."""
    token = trl("0.28.0", loss_type="luspo")
    assert "L / (B T)" in token["loss"]["length_factor"]
    assert token["length_bias"]["rlxform_aggregation"] is None
    assert "Not computed" in token["length_bias"]["text"][0]
    sequence = trl("0.28.0", loss_type="luspo", importance_sampling_level="sequence")
    assert sequence["loss"]["length_factor"] == "1"


def test_trl_sapo_normalises_like_grpo():
    for version in (None, "0.26.2"):
        card = trl(version, loss_type="sapo")
        assert card["loss"]["length_factor"] == "1/L"
        assert card["length_bias"]["rlxform_aggregation"] == "seq-mean-token-mean"


def test_trl_cispo_caps_every_weight_at_epsilon_when_epsilon_high_is_unset():
    """clamp(ratio, max=epsilon_high) detached (grpo_trainer.py:3109-3111), epsilon_high None ->
    epsilon (:946): weight min(1, 0.2) = 0.2 at ratio 1."""
    card = trl(loss_type="cispo")
    assert card["loss"]["scale"] == 0.2
    cap = "s = 0.2 (the cap epsilon, as epsilon_high is unset)"
    assert any(cap in t for t in card["loss"]["text"])
    assert any("scales every token's weight by 0.2" in n for n in card["lens"]["notes"])
    wide = trl(loss_type="cispo", epsilon_high=5.0)
    assert wide["loss"]["scale"] == 1.0 and "epsilon_high" in wide["loss"]["off_policy_only"]


# ---- knobs of later updates -------------------------------------------------------------------


def test_no_clip_is_said_for_a_mode_without_one():
    """verl gpg (-A log pi, core_algos.py:1708) has no ratio: 4 updates, no clip knob."""
    card = verl(f"{A}policy_loss.loss_mode=gpg")
    assert card["loss"]["off_policy_only"] == [] and card["updates_per_rollout"] == 4
    text = " ".join(card["lens"]["notes"] + card["lens"]["breaks"])
    assert "clipping can bind" not in text and "clip [" not in text
    assert "No setting of gpg acts only off-policy" in text


def test_off_policy_knobs_do_nothing_with_one_update_per_rollout():
    card = trl(loss_type="dr_grpo")  # num_iterations 1, steps_per_generation = gas: 1 update
    assert card["updates_per_rollout"] == 1 and not card["loss"]["off_policy_acts"]
    assert any("so they do nothing" in t for t in card["loss"]["text"])
    assert card["lens"]["notes"] == [] and card["lens"]["exact"] is True


# ---- older releases: their own code, never the newest's --------------------------------------


def test_trl_releases_without_loss_type_reduce_what_they_hard_code():
    """0.14-0.15: per-sequence mean, ratio exp(x - sg(x)) = 1 always (grpo_trainer.py:512 in
    0.14.0); 0.16: micro-batch token mean (:932); 0.18: loss_type bnpo (:1381-1382)."""
    old = trl("0.14.0")["loss"]
    assert (old["mode"], old["length_factor"], old["off_policy_only"]) == ("grpo", "1/L", [])
    assert old["source"] == "trl 0.14.0 trl/trainer/grpo_trainer.py:512"
    bnpo = trl("0.16.1")["loss"]
    assert (bnpo["mode"], bnpo["length_factor"]) == ("bnpo", "token-mean")
    r018 = trl("0.18.2")["loss"]
    assert r018["source"] == "trl 0.18.2 trl/trainer/grpo_trainer.py:1332 (:1381-1382)"
    assert r018["off_policy_only"] == ["epsilon", "epsilon_high", "delta"]  # no IS level yet


def test_a_mode_the_reducer_does_not_cover_stays_not_modelled():
    """verl 0.5.0's gspo is not reduced: the key stays unmodelled, the lens not exact."""
    card = verl(f"{A}policy_loss.loss_mode=clip_cov", version="0.5.0")
    assert card["loss"]["reduced"] is False and "verl 0.5.0" in card["loss"]["why"]
    assert f"{A}policy_loss.loss_mode" in [i["key"] for i in card["not_modelled"]]
    assert card["lens"]["exact"] is False
    plain = verl(version="0.5.0")  # vanilla is reduced in every release
    assert plain["loss"]["reduced"] and "core_algos.py:722" in plain["loss"]["source"]


# modes each release registers (verl/trainer/ppo/core_algos.py @register_policy_loss; 0.4.1 and
# 0.5.0 compute vanilla inline, dp_actor.py:473 / :421): 0.4.1 :626 clip_cov, :714 kl_cov;
# 0.5.0 :797 gpg, :818 clip_cov, :908 kl_cov; get_policy_loss_fn raises 'Unsupported loss mode'
# on any other (0.4.1 core_algos.py:53-54)
VERL_041_MODES = "vanilla, clip_cov, kl_cov"


@pytest.mark.parametrize("mode", ["gspo", "gpg", "cispo"])
def test_verl_refuses_a_loss_mode_its_release_lacks(mode):
    with pytest.raises(InputError) as err:
        read_config([*VERL, f"{A}policy_loss.loss_mode={mode}"], version="0.4.1")
    text = str(err.value)
    assert "\n" not in text and f"{A}policy_loss.loss_mode={mode!r}" in text
    assert "verl 0.4.1" in text and f"it has {VERL_041_MODES};" in text
    assert "core_algos.py:53-54" in text


def test_verl_loss_modes_a_release_has_are_read():
    card = verl(f"{A}policy_loss.loss_mode=gpg", version="0.5.0")  # core_algos.py:797 in 0.5.0
    assert card["loss"]["reduced"] is False and card["loss"]["mode"] == "gpg"
    effect = {i["key"]: i["effect"] for i in card["not_modelled"]}[f"{A}policy_loss.loss_mode"]
    assert "0.4.1: clip_cov, kl_cov;" in effect and "0.5.0: gpg, clip_cov, kl_cov;" in effect
    # every mode the reducer reads in a release is one verl registers there
    data = json.loads((ROOT / "rlxform/frameworks/data/verl_loss_modes.json").read_text())
    assert list(data["versions"]) == list(RELEASES["verl"])
    for version, entry in data["versions"].items():
        reduced = set(release("verl", version).modes) - {"_reinforce"}  # loss_type, not a mode
        assert reduced <= set(entry["modes"]), version


def test_openrlhf_legacy_correction_names_read_as_level_and_mode():
    """0.11.1 is_correction_enable + is_correction_type icepop = 0.11.2 level token + mode mask
    (train_ppo_ray.py:258 of 0.11.2); the type alone does nothing (enable defaults False)."""
    base = {"algo.advantage.estimator": "rloo", "rollout.n_samples_per_prompt": 4}
    on = {**base, "algo.advantage.is_correction_enable": True}
    on["algo.advantage.is_correction_type"] = "icepop"
    run = read_config(on, version="0.11.1")
    lm = run.loss.reduction
    level, mode = lm.setting("is_correction_level"), lm.setting("is_correction_mode")
    assert (level, mode) == ("token", "mask")
    assert lm.length_factor.startswith("not a per-answer factor: each token")
    assert run.loss.corrections == ["algo.advantage.is_correction_enable"]
    off = read_config({**base, "algo.advantage.is_correction_type": "icepop"}, version="0.11.1")
    assert off.loss.reduction.setting("is_correction_level") == "off"


def test_corrections_are_said_in_the_loss_section_and_listed_as_not_modelled():
    card = verl("+algorithm.rollout_correction.rollout_is=token")
    assert card["loss"]["corrections"] == ["algorithm.rollout_correction.rollout_is"]
    assert card["loss"]["length_factor"].startswith("not a per-answer factor: per-token IS")
    keys = [i["key"] for i in card["not_modelled"]]
    assert "algorithm.rollout_correction.rollout_is" in keys


def test_unsloth_reduction_skips_what_its_loss_does_not_read():
    run = {"num_generations": 4, "top_entropy_quantile": 0.2, "loss_type": "grpo"}
    card = explain(run, "unsloth").to_json()
    assert card["loss"]["length_factor"] == "1/L"  # no entropy-mask phrase
    assert any("Unsloth replaces TRL's loss" in t for t in card["loss"]["text"])


def test_invalid_loss_settings_name_the_config_key():
    with pytest.raises(InputError, match=rf"{A}policy_loss.dro_beta=None is invalid"):
        read_config([*VERL, f"{A}policy_loss.loss_mode=dro"])
    with pytest.raises(InputError, match=r"lower_upper IcePop form came in verl 0\.8"):
        read_config(
            [*VERL, "+algorithm.rollout_correction.rollout_is=token",
             "+algorithm.rollout_correction.rollout_is_threshold='0.5_2.0'"],
            version="0.7.1",
        )  # fmt: skip


# ---- the key classes follow the reducer's coverage --------------------------------------------

_LOSS_KEYS = {
    "verl": [A + "policy_loss.loss_mode", A + "policy_loss.clip_cov_ratio", A + "clip_ratio_c",
             A + "policy_loss.kl_cov_ratio", A + "tau_pos", A + "policy_loss.dro_beta"],
    "trl": ["loss_type", "importance_sampling_level", "delta", "sapo_temperature_neg",
            "vespo_k_pos"],
    "openrlhf": ["actor.policy_loss_type", "actor.dual_clip", "actor.loss_agg_mode"],
}  # fmt: skip


@pytest.mark.parametrize("framework", list(_LOSS_KEYS))
def test_loss_keys_are_modelled_where_the_reducer_covers_every_mode(framework):
    for table in FRAMEWORKS[framework].tables().values():
        # verl <= 0.6: only the vanilla loss is reduced (releases.py); TRL and OpenRLHF: all
        full = framework != "verl" or "gspo" in release(framework, table.version).modes
        for key in _LOSS_KEYS[framework]:
            if not table.has(key):
                continue
            kind = table.kind(key).kind
            expected = "modelled" if full or key == A + "clip_ratio_c" else "unmodelled"
            assert kind == expected, (table.label, key, kind)


def test_every_release_of_the_version_tables_is_one_the_reducer_reads():
    for name in ("verl", "trl", "openrlhf"):
        assert list(FRAMEWORKS[name].tables()) == list(RELEASES[name])


def test_reduce_refuses_a_mode_a_release_does_not_have():
    with pytest.raises(InputError, match="mode='cispo' is invalid: must be one of grpo, bnpo"):
        reduce("trl", "cispo", version="0.17.0")
    with pytest.raises(InputError, match=r"trl 0\.17\.0 has no such setting"):
        reduce("trl", "grpo", version="0.17.0", delta=2.0)


def test_expected_files_cite_their_loss_source():
    for path in (ROOT / "tests" / "data" / "configs").rglob("*.expected.json"):
        why = json.loads(path.read_text())["why"]["loss"]
        assert ".py:" in why or ".py (" in why, path.name
