"""frameworks.advantages: each trainer's advantage code restated, its schemes, batch-level limits.

References: verl vectors produced by verl 0.9.1's own code (tests/data/verl_advantages.json);
TRL and OpenRLHF vectors worked by hand from their formulas (TRL 1.16.0 GRPOTrainer:
(r - group mean) / (torch.std + 1e-4); OpenRLHF 0.11.2 experience_maker: group_norm
(r - mean) / (torch.std + 1e-9), rloo r - mean of the others, reinforce_baseline r - mean then
token-level whitening (A - mean_tok) * rsqrt(max(var_tok, 1e-8))).
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from rlxform import frameworks as fw
from rlxform.core import schemes
from rlxform.core.objective import transform


def test_every_verl_case_by_the_advantage_code(verl_cases):
    """advantages() (a restatement of verl's code, not the tables) reproduces verl's own output."""
    for case in verl_cases:
        ours = fw.advantages(
            "verl", case["estimator"], case["rewards"], case["group_size"], **case["params"]
        )
        np.testing.assert_allclose(
            ours, case["advantages"], rtol=2e-6, atol=2e-6, err_msg=str(case)
        )
    assert len(verl_cases) == 308


@pytest.mark.parametrize(
    ("framework", "estimator", "scheme", "params"),
    [
        ("verl", "grpo", fw.from_verl("grpo"), {}),
        (
            "verl",
            "grpo",
            fw.from_verl("grpo", norm_adv_by_std_in_grpo=False),
            {"norm_adv_by_std_in_grpo": False},
        ),
        ("verl", "grpo_vectorized", fw.from_verl("grpo_vectorized"), {}),
        ("verl", "rloo", fw.from_verl("rloo"), {}),
        ("verl", "rloo_vectorized", fw.from_verl("rloo_vectorized"), {}),
        ("verl", "grpo_passk", fw.from_verl("grpo_passk"), {}),
        ("trl", "group", fw.from_trl("group"), {}),
        ("trl", True, fw.from_trl(True), {}),
        ("trl", "none", fw.from_trl("none"), {}),
        ("trl", False, fw.from_trl(False), {}),
        ("openrlhf", "group_norm", fw.from_openrlhf("group_norm"), {}),
        ("openrlhf", "dr_grpo", fw.from_openrlhf("dr_grpo"), {}),
        ("openrlhf", "rloo", fw.from_openrlhf("rloo"), {}),
    ],
)
def test_scheme_tables_agree_with_the_advantage_code(framework, estimator, scheme, params):
    """Two routes: the scheme's a/b tables vs the restated code, every 0/1 vector, M = 2..6."""
    for m in range(2, 7):
        rewards = np.array(list(itertools.product((0, 1), repeat=m)), np.float64)
        code = fw.advantages(framework, estimator, rewards.reshape(-1), m, **params)
        table = scheme.advantages(rewards).reshape(-1)  # NumPy float64
        np.testing.assert_allclose(table, code, rtol=1e-12, atol=1e-12)


def test_hand_computed_vectors():
    # TRL group, M = 4, one correct: mean 1/4, Bessel std sqrt((9/16 + 3/16)/3) = 1/2
    np.testing.assert_allclose(
        fw.advantages("trl", "group", [1, 0, 0, 0], 4),
        [0.75 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001],
        rtol=1e-12,
    )
    # TRL batch, two groups: batch mean 3/8, sum of squares 3 (5/8)^2 + 5 (3/8)^2 = 15/8
    sd = math.sqrt(15 / 8 / 7)
    np.testing.assert_allclose(
        fw.advantages("trl", "batch", [1, 0, 0, 0, 1, 1, 0, 0], 4),
        np.array([0.75, -0.25, -0.25, -0.25, 0.5, 0.5, -0.5, -0.5]) / (sd + 1e-4),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        fw.advantages("openrlhf", "group_norm", [1, 0, 0, 0], 4),
        np.array([0.75, -0.25, -0.25, -0.25]) / (0.5 + 1e-9),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        fw.advantages("openrlhf", "rloo", [1, 1, 0, 0], 4), [2 / 3, 2 / 3, -2 / 3, -2 / 3]
    )
    np.testing.assert_allclose(fw.advantages("openrlhf", "dr_grpo", [1, 0], 2), [0.5, -0.5])
    # verl grpo_passk, M = 3, one correct: Bessel std of (0, 1, 0) is sqrt(1/3)
    np.testing.assert_allclose(
        fw.advantages("verl", "grpo_passk", [0, 1, 0], 3), [0, 1 / (math.sqrt(1 / 3) + 1e-6), 0]
    )


def test_openrlhf_reinforce_baseline_whitens_over_tokens():
    """Centred A = (1/2, -1/2, 0, 0), lengths (1, 3, 2, 2): token mean -1/8, variance 7/64."""
    rewards, lengths = [1, 0, 1, 1], [1, 3, 2, 2]
    expected = np.array([0.625, -0.375, 0.125, 0.125]) / math.sqrt(0.109375)
    got = fw.advantages("openrlhf", "reinforce_baseline", rewards, 2, lengths=lengths)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # second route: expand to one entry per action token, whiten with numpy's mean and var
    tokens = np.repeat([0.5, -0.5, 0.0, 0.0], lengths)
    whitened = (tokens - tokens.mean()) / np.sqrt(tokens.var())
    np.testing.assert_allclose(np.repeat(got, lengths), whitened, rtol=1e-12)
    no_std = fw.advantages(
        "openrlhf", "reinforce_baseline", rewards, 2, lengths=lengths, no_std_norm=True
    )
    np.testing.assert_allclose(no_std, [0.625, -0.375, 0.125, 0.125])
    # all-equal rewards: variance 0 is floored at 1e-8, so A = 0 (no division by zero)
    flat = fw.advantages("openrlhf", "reinforce_baseline", [1, 1, 1, 1], 2)
    np.testing.assert_array_equal(flat, np.zeros(4))


@pytest.mark.parametrize(
    ("framework", "estimator"), [("trl", "batch"), ("openrlhf", "reinforce_baseline")]
)
def test_batch_level_update_tends_to_mean_baseline_over_sigma(framework, estimator):
    """Monte Carlo over large batches (scalar-logit policy, grad log pi(y) = r - p): the mean
    update of each prompt is ((M-1)/M) / den(sigma) * p (1-p), i.e. h = ((M-1)/M) p / sigma."""
    rng = np.random.default_rng(0)
    m, per_class, repeats = 4, 500, 40
    p_values = np.array([0.1, 0.3, 0.6, 0.9])
    p = np.repeat(p_values, per_class)
    sigma = fw.batch_std_limit(framework, estimator, m, p)
    expected_sigma = (
        math.sqrt(p.mean() * (1 - p.mean()))
        if framework == "trl"
        else math.sqrt(0.75 * np.mean(p * (1 - p)))
    )
    assert sigma == pytest.approx(expected_sigma, rel=1e-12)
    updates = []
    for _ in range(repeats):
        rewards = (rng.random((p.size, m)) < p[:, None]).astype(np.float64)
        # OpenRLHF weighs by response length: lengths independent of the reward
        lengths = rng.integers(1, 20, size=rewards.size) if framework == "openrlhf" else None
        adv = fw.advantages(framework, estimator, rewards.reshape(-1), m, lengths=lengths)
        adv = adv.reshape(p.size, m)
        updates.append(np.mean(adv * (rewards - p[:, None]), axis=1))
    updates = np.stack(updates).reshape(repeats, len(p_values), per_class)
    mean = updates.mean(axis=(0, 2))
    se = updates.std(axis=(0, 2)) / math.sqrt(repeats * per_class)
    limit = (
        fw.from_trl("batch", batch_std=sigma)
        if framework == "trl"
        else (fw.from_openrlhf(estimator, batch_std=sigma))
    )
    w = transform(limit, m).weight(p_values)
    den = sigma + 1e-4 if framework == "trl" else sigma
    np.testing.assert_allclose(w, 0.75 / den, rtol=1e-10)
    assert np.all(np.abs(mean - w * p_values * (1 - p_values)) < 4 * se), (mean, w, se)


def test_scheme_names_resolve(tmp_path, monkeypatch):
    assert fw.resolve_scheme("verl:grpo") == fw.from_verl("grpo")
    assert fw.resolve_scheme("trl:group") == schemes.grpo(std="sample", eps=1e-4)
    assert fw.resolve_scheme("openrlhf:group_norm") == schemes.grpo(std="sample", eps=1e-9)
    assert fw.resolve_scheme("grpo", eps=0.5) == schemes.grpo(eps=0.5)
    (tmp_path / "my_rules.py").write_text(
        "def rloo_like(r, s, m):\n    return r - (s - r) / (m - 1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_rules", None)
    custom = fw.resolve_scheme("my_rules:rloo_like", allow_import=True)
    np.testing.assert_allclose(custom.tables(5), schemes.rloo().tables(5), atol=1e-15)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fw.from_trl("group", epsilon=0.2), "TRL's std epsilon is hard-coded"),
        (lambda: fw.from_trl("batch"), "pass batch_std"),
        (lambda: fw.from_trl("mean"), "scale_rewards='mean' is invalid"),
        (lambda: fw.from_openrlhf("gae"), "estimator='gae' is invalid: must be one of group_norm"),
        (lambda: fw.from_openrlhf("reinforce_baseline", batch_std=0), "batch_std=0"),
        (lambda: fw.advantages("ray", "grpo", [1, 0], 2), "framework='ray' is invalid"),
        (lambda: fw.advantages("verl", "grpo", [1, 0, 1], 2), "multiple of group_size=2"),
        (lambda: fw.advantages("openrlhf", "rloo", [1], 1), "group_size=1 is invalid"),
        (lambda: fw.advantages("verl", "grpo", [1, 0], 2, eps=1), "parameter 'eps'"),
        (
            lambda: fw.resolve_scheme("no_such_module_xyz:f", allow_import=True),
            "cannot import module",
        ),
        (lambda: fw.resolve_scheme("math:pi", allow_import=True), "has no callable 'pi'"),
        (lambda: fw.resolve_scheme("verl:ppo"), "estimator='ppo' is invalid"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_settings_use_the_trainers_own_keys():
    """settings= takes the trainer's config keys; estimator=None reads it from them."""
    rewards = [1, 0, 0, 1, 1, 1]
    plain = fw.advantages("verl", "grpo", rewards, 3, norm_adv_by_std_in_grpo=False)
    keyed = fw.advantages(
        "verl",
        None,
        rewards,
        3,
        settings={"algorithm.adv_estimator": "grpo", "algorithm.norm_adv_by_std_in_grpo": False},
    )
    np.testing.assert_array_equal(keyed, plain)
    # r - group mean by hand: group 1 mean 1/3, group 2 mean 1
    np.testing.assert_allclose(keyed, [2 / 3, -1 / 3, -1 / 3, 0, 0, 0], atol=1e-15)
    none = fw.advantages("trl", None, [1, 0], 2, settings={"scale_rewards": False})
    np.testing.assert_allclose(none, [0.5, -0.5])
    default = fw.advantages("trl", None, [1, 0], 2)  # scale_rewards "group": / (std + 1e-4)
    np.testing.assert_allclose(default, np.array([0.5, -0.5]) / (math.sqrt(0.5) + 1e-4))
    whitened = fw.advantages(
        "openrlhf",
        None,
        [1, 0, 1, 1],
        2,
        lengths=[1, 3, 2, 2],  # token mean of (1/2, -1/2, 0, 0) weighted by length: -1/8
        settings={
            "algo.advantage.estimator": "reinforce_baseline",
            "algo.advantage.no_std_norm": True,
        },
    )
    np.testing.assert_allclose(whitened, [0.625, -0.375, 0.125, 0.125])
    with pytest.raises(ValueError, match="settings key 'scale_reward' is invalid for trl"):
        fw.advantages("trl", None, [1, 0], 2, settings={"scale_reward": "none"})
    with pytest.raises(ValueError, match="estimator='gae' is invalid"):
        fw.advantages("verl", None, [1, 0], 2)  # verl's default estimator is not an outcome rule


def test_unsloth_matches_its_own_numbers():
    """Unsloth 2026.10.9 on trl 1.16.0 (tests/data/trainers/unsloth.json, run by trainerdata):
    TRL's advantage, and scale_rewards forced to none with loss_type dr_grpo. The data are
    float32: a group of M equal real rewards leaves a rounding residue r - mean that TRL
    divides by (0 + 1e-4), up to 1.2e-3 (tests/data/trainers/README.md); ours: float64, < 1e-9."""
    data = Path(__file__).parent.parent / "data" / "trainers" / "unsloth.json"
    cases = json.loads(data.read_text())["cases"]
    for case in cases:
        m, settings = case["group_size"], dict(case["settings"])
        ours = fw.advantages("unsloth", None, case["rewards"], m, settings=settings)
        theirs = np.asarray(case["advantages"])
        flat = np.repeat(np.ptp(np.reshape(case["rewards"], (-1, m)), axis=1) == 0, m)
        np.testing.assert_allclose(ours[~flat], theirs[~flat], rtol=1e-5, atol=2e-5)
        assert np.all(np.abs(ours[flat]) < 1e-9) and np.all(np.abs(theirs[flat]) < 1.3e-3), case
    assert len(cases) == 64
    assert "unsloth" in fw.FRAMEWORKS and fw.FRAMEWORKS["unsloth"].imports == ("unsloth",)
