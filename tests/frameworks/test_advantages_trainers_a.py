"""NeMo-RL, Open-Instruct and SkyRL advantages: their own numbers, hand-computed cases, schemes.

References: tests/data/trainers/<trainer>.json, vectors produced by each trainer's own function
at the named release (see the README there): nemo_rl v0.7.0, the v0.3.1 rule and the pre-fix
git 74b9b1789 (float32), open_instruct v0.3.0 (float64), skyrl 0.3.0 (float32). Matched to
float32 precision (rtol 1e-5, atol 2e-6; the pre-fix file's +-1e6 by rtol).

Float32 caution, tested separately: the third group of every real-valued batch is M copies of
0.7. In float32 the trainer's group mean is not exactly 0.7 for some M, so r - mean is a
rounding residue that the trainers divide by (std + eps): NeMo-RL up to 2.4e-4, SkyRL up to 0.13
(its eps is 1e-6), Open-Instruct (float64) 1.1e-8. rlxform's float64 rule gives exactly 0 there
(all-equal groups are detected). SkyRL's ``advantage_batch_normalize`` then spreads that residue
over the whole batch through the batch mean and std; for those cases the test feeds the
trainer's own float32 value of the constant group (taken from the case without batch
normalisation at the same M, a function of M only) into rlxform's batch normalisation.
"""

from __future__ import annotations

import itertools
import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from rlxform import frameworks as fw
from rlxform.core import schemes as sch
from rlxform.core.objective import transform
from rlxform.frameworks.skyrl import batch_normalize

DATA = Path(__file__).parent.parent / "data" / "trainers"
RTOL, ATOL = 1e-5, 2e-6


@cache
def cases(name: str) -> list[dict]:
    return json.loads((DATA / f"{name}.json").read_text())["cases"]


def flat_mask(case: dict) -> np.ndarray:
    m = case["group_size"]
    return np.repeat(np.ptp(np.reshape(case["rewards"], (-1, m)), axis=1) == 0, m)


@pytest.mark.parametrize(
    ("name", "estimator", "bound"),
    [
        ("nemo_rl", None, 2.5e-4),
        ("nemo_rl_v0.3.1", "grpo@v0.3.1", 2.5e-4),
        ("nemo_rl_pre_zero_std_fix", "grpo@74b9b1789", 2.5e-4),
    ],
)
def test_nemo_rl_matches_its_own_numbers(name, estimator, bound):
    """Every case of the file; the constant real groups: ours exactly 0, theirs a residue."""
    for case in cases(name):
        ours = fw.advantages(
            "nemo_rl", estimator, case["rewards"], case["group_size"], settings=case["settings"]
        )
        theirs, flat = np.asarray(case["advantages"]), flat_mask(case)
        np.testing.assert_allclose(
            ours[~flat], theirs[~flat], rtol=RTOL, atol=ATOL, err_msg=str(case)
        )
        assert np.all(ours[flat] == 0) and np.all(np.abs(theirs[flat]) < bound), case
    assert len(cases(name)) == {"nemo_rl": 96}.get(name, 64)


def test_nemo_rl_pre_fix_gives_plus_minus_a_million():
    """74b9b1789: the lone success of a 1-of-M group and the lone failure of an (M-1)-of-M
    group divide by 0 + 1e-6 (their others all agree): A = +-1e6, in the trainer's file too."""
    ours = fw.advantages("nemo_rl", "grpo@74b9b1789", [1, 0, 0, 0, 1, 1, 1, 0], 4)
    b = -(1 / 3) / (math.sqrt(1 / 3) + 1e-6)  # a wrong sample seeing 1 success among 3
    np.testing.assert_allclose(ours, [1e6, b, b, b, -b, -b, -b, -1e6], rtol=1e-12)
    theirs = [a for c in cases("nemo_rl_pre_zero_std_fix") for a in c["advantages"]]
    assert max(theirs) == 1e6 and min(theirs) == -1e6


def test_nemo_rl_hand_computed():
    """M = 4, one success. v0.7.0 (LOO + std): the success sees others (0, 0, 0): b = 0, s = 0,
    so A = 1 undivided; a failure sees (1, 0, 0): b = 1/3, Bessel s = sqrt(1/3).
    v0.3.1: population s = sqrt(2)/3, no eps. Without LOO: GRPO, Bessel std 1/2, eps 1e-6."""
    r = [1, 0, 0, 0]
    np.testing.assert_allclose(
        fw.advantages("nemo_rl", None, r, 4),
        [1.0, *[-(1 / 3) / (math.sqrt(1 / 3) + 1e-6)] * 3],
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        fw.advantages("nemo_rl", "grpo@v0.3.1", r, 4),
        [1.0, *[-(1 / 3) / (math.sqrt(2) / 3)] * 3],
        rtol=1e-12,
    )
    plain = fw.advantages(
        "nemo_rl", None, r, 4, settings={"grpo.use_leave_one_out_baseline": False}
    )
    np.testing.assert_allclose(plain, np.array([0.75, -0.25, -0.25, -0.25]) / 0.500001, rtol=1e-12)
    rloo = fw.advantages(
        "nemo_rl", "grpo", [1, 1, 0, 0], 4, settings={"grpo.normalize_rewards": False}
    )
    np.testing.assert_allclose(rloo, [2 / 3, 2 / 3, -2 / 3, -2 / 3], rtol=1e-12)
    # reward scaling [0, 1] -> [-1, 1] then a clip of +-0.5: scores (1, -1, -1, -1)
    scaled = fw.advantages(
        "nemo_rl",
        None,
        r,
        4,
        settings={
            "grpo.reward_scaling.enabled": True,
            "grpo.reward_scaling.target_min": -1.0,
            "grpo.advantage_clip_low": -0.5,
            "grpo.advantage_clip_high": 0.5,
        },
    )
    np.testing.assert_allclose(scaled, [0.5, -0.5, -0.5, -0.5])
    # reinforce_plus_plus: r - group mean (1/2, -1/2, 0, 0) whitened with token weights (1, 3, 2, 2)
    rpp = fw.advantages("nemo_rl", "reinforce_plus_plus", [1, 0, 1, 1], 2, lengths=[1, 3, 2, 2])
    np.testing.assert_allclose(rpp, np.array([0.625, -0.375, 0.125, 0.125]) / math.sqrt(0.109375))


def test_open_instruct_matches_its_own_numbers():
    """float64 trainer: non-constant groups to 1e-12; constant groups 0 (theirs <= 1.2e-8)."""
    for case in cases("open_instruct"):
        ours = fw.advantages(
            "open_instruct", None, case["rewards"], case["group_size"], settings=case["settings"]
        )
        theirs, flat = np.asarray(case["advantages"]), flat_mask(case)
        np.testing.assert_allclose(ours[~flat], theirs[~flat], rtol=1e-12, atol=1e-12)
        assert np.all(ours[flat] == 0) and np.all(np.abs(theirs[flat]) < 1.2e-8)
    assert len(cases("open_instruct")) == 64


def test_open_instruct_hand_computed():
    """Scores 10 r: centered 10 (r - mean); standard (r - mean) / (population std + 1e-8 / 10)."""
    np.testing.assert_allclose(
        fw.advantages("open_instruct", None, [1, 0, 0, 0], 4), [7.5, -2.5, -2.5, -2.5]
    )
    std = fw.advantages("open_instruct", "standard", [1, 0, 0, 0], 4)
    sd = 10 * math.sqrt(3) / 4
    np.testing.assert_allclose(std, np.array([7.5, -2.5, -2.5, -2.5]) / (sd + 1e-8), rtol=1e-14)
    unit = fw.advantages(
        "open_instruct", "centered", [1, 1, 0], 3, settings={"verification_reward": 1.0}
    )
    np.testing.assert_allclose(unit, [1 / 3, 1 / 3, -2 / 3])


def skyrl_expected(case: dict, residue: dict) -> np.ndarray | None:
    """For batch-normalised grpo cases with a constant 0.7 group: rlxform's pre-normalisation
    advantages with that group replaced by the trainer's own float32 value, then normalised."""
    settings = case["settings"]
    if not settings["trainer.algorithm.advantage_batch_normalize"]:
        return None
    m = case["group_size"]
    plain = {**settings, "trainer.algorithm.advantage_batch_normalize": False}
    pre = fw.advantages(
        "skyrl", None, case["rewards"], m, lengths=case.get("lengths"), settings=plain
    )
    rewards = np.asarray(case["rewards"])
    key = (
        settings["trainer.algorithm.advantage_estimator"],
        settings.get("trainer.algorithm.grpo_norm_by_std"),
        m,
    )
    constant = np.repeat(np.all(rewards.reshape(-1, m) == 0.7, axis=1), m)
    if not constant.any() or residue.get(key, 0.0) == 0.0:
        return None
    pre[constant] = residue[key]
    lengths = np.asarray(case.get("lengths", np.ones(rewards.size)), np.float64)
    return batch_normalize(pre, lengths)


def test_skyrl_matches_its_own_numbers():
    residue = {}  # the trainer's float32 advantage of a constant 0.7 group, by (estimator, M)
    for case in cases("skyrl"):
        s = case["settings"]
        rewards = np.asarray(case["rewards"])
        constant = np.repeat(
            np.all(rewards.reshape(-1, case["group_size"]) == 0.7, axis=1), case["group_size"]
        )
        group_rule = s["trainer.algorithm.advantage_estimator"] != "reinforce_pp"
        if group_rule and not s["trainer.algorithm.advantage_batch_normalize"] and constant.any():
            key = (
                s["trainer.algorithm.advantage_estimator"],
                s.get("trainer.algorithm.grpo_norm_by_std"),
                case["group_size"],
            )
            residue[key] = float(np.asarray(case["advantages"])[constant][0])
    fed = 0
    for case in cases("skyrl"):
        m = case["group_size"]
        ours = fw.advantages(
            "skyrl",
            None,
            case["rewards"],
            m,
            lengths=case.get("lengths"),
            settings=case["settings"],
        )
        theirs = np.asarray(case["advantages"])
        expected = skyrl_expected(case, residue)
        if expected is not None:  # the trainer's residue fed through rlxform's normalisation
            np.testing.assert_allclose(expected, theirs, rtol=RTOL, atol=ATOL, err_msg=str(case))
            fed += 1
            continue
        whitened = case["settings"]["trainer.algorithm.advantage_estimator"] == "reinforce_pp"
        flat = flat_mask(case) & (not whitened)  # reinforce++: no group mean, compare all
        np.testing.assert_allclose(
            ours[~flat], theirs[~flat], rtol=RTOL, atol=ATOL, err_msg=str(case)
        )
        if flat.any() and not case["settings"]["trainer.algorithm.advantage_batch_normalize"]:
            assert np.all(ours[flat] == 0) and np.all(np.abs(theirs[flat]) < 0.13), case
    # batch-normalised real-valued cases whose constant group the trainer leaves nonzero: grpo
    # with std at M = 8, 12, 16 (residue / 1e-6, up to 0.11), and 1e-8-sized residues of grpo
    # without std, rloo and maxrl at the same M
    assert len(cases("skyrl")) == 160 and fed == 12
    big = {k for k, v in residue.items() if abs(v) > 1e-3}
    assert big == {("grpo", True, 8), ("grpo", True, 12), ("grpo", True, 16)}


def test_skyrl_hand_computed():
    """grpo: verl's rule (Bessel std + 1e-6); rloo: M/(M-1) (r - mean); maxrl: (r - q)/(q + 1e-6);
    reinforce++: r whitened over tokens (Bessel over the N tokens, + 1e-8)."""
    np.testing.assert_allclose(
        fw.advantages("skyrl", None, [1, 0, 0, 0], 4),
        np.array([0.75, -0.25, -0.25, -0.25]) / 0.500001,
    )
    np.testing.assert_allclose(
        fw.advantages("skyrl", "rloo", [1, 1, 0, 0], 4), [2 / 3, 2 / 3, -2 / 3, -2 / 3]
    )
    np.testing.assert_allclose(
        fw.advantages("skyrl", "maxrl", [1, 0, 0, 0], 4),
        np.array([0.75, -0.25, -0.25, -0.25]) / 0.250001,
    )
    np.testing.assert_allclose(fw.advantages("skyrl", "maxrl", [1], 1), [1.0])  # group of one: r
    tokens = np.repeat([1.0, 0.0, 1.0, 1.0], [1, 3, 2, 2])  # r on each of an answer's tokens
    whitened = (tokens - tokens.mean()) / math.sqrt(tokens.var(ddof=1) + 1e-8)
    got = fw.advantages("skyrl", "reinforce++", [1, 0, 1, 1], 2, lengths=[1, 3, 2, 2])
    np.testing.assert_allclose(np.repeat(got, [1, 3, 2, 2]), whitened, rtol=1e-12)
    # batch normalize: mean over the padded [4, 3] batch, variance over the 8 valid tokens
    pre = np.array([0.5, -0.5, 0.0, 0.0]) / (math.sqrt(0.5) + 1e-6)
    lengths = np.array([1.0, 3.0, 2.0, 2.0])
    mean = np.sum(lengths * pre) / 12
    var = np.sum(lengths * (pre - mean) ** 2) / 8
    got = fw.advantages(
        "skyrl",
        None,
        [1, 0, 1, 1],
        2,
        lengths=lengths,
        settings={"trainer.algorithm.advantage_batch_normalize": True},
    )
    np.testing.assert_allclose(got, (pre - mean) / math.sqrt(var), rtol=1e-12)


# ---- the schemes (tables) against the restated advantage code, every 0/1 vector -------------

SCHEMES = [
    ("nemo_rl", "grpo", {}, fw.resolve_scheme("nemo_rl:grpo")),
    ("nemo_rl", "grpo@v0.3.1", {}, fw.resolve_scheme("nemo_rl:grpo@v0.3.1")),
    ("nemo_rl", "grpo@74b9b1789", {}, fw.resolve_scheme("nemo_rl:grpo@74b9b1789")),
    (
        "nemo_rl",
        "grpo",
        {"grpo.use_leave_one_out_baseline": False},
        fw.resolve_scheme("nemo_rl:grpo", use_leave_one_out_baseline=False),
    ),
    ("nemo_rl", "grpo", {"grpo.normalize_rewards": False}, sch.rloo()),
    (
        "nemo_rl",
        "grpo",
        {
            "grpo.advantage_clip_low": -1.2,
            "grpo.advantage_clip_high": 1.5,
            "grpo.reward_scaling.enabled": True,
            "grpo.reward_scaling.target_min": -1.0,
            "grpo.reward_scaling.target_max": 2.0,
        },
        fw.resolve_scheme(
            "nemo_rl:grpo", advantage_clip_low=-1.2, advantage_clip_high=1.5, reward_scale=3.0
        ),
    ),
    ("open_instruct", "centered", {}, fw.resolve_scheme("open_instruct:centered")),
    ("open_instruct", "standard", {}, fw.resolve_scheme("open_instruct:standard")),
    ("skyrl", "grpo", {}, fw.resolve_scheme("skyrl:grpo")),
    (
        "skyrl",
        "grpo",
        {"trainer.algorithm.grpo_norm_by_std": False},
        fw.resolve_scheme("skyrl:grpo", grpo_norm_by_std=False),
    ),
    ("skyrl", "rloo", {}, fw.resolve_scheme("skyrl:rloo")),
    ("skyrl", "maxrl", {}, fw.resolve_scheme("skyrl:maxrl")),
]


@pytest.mark.parametrize(("framework", "estimator", "settings", "scheme"), SCHEMES)
def test_scheme_tables_agree_with_the_advantage_code(framework, estimator, settings, scheme):
    """Two routes: the scheme's a/b tables (counts formulas) vs the restated code (reward
    vectors), every 0/1 vector at M = 2..7 (M = 1 too where the trainer takes groups of one)."""
    sizes = range(1 if scheme.min_group_size == 1 else 2, 8)
    for m in sizes:
        rewards = np.array(list(itertools.product((0, 1), repeat=m)), np.float64)
        code = fw.advantages(framework, estimator, rewards.reshape(-1), m, settings=settings)
        table = scheme.advantages(rewards).reshape(-1)
        np.testing.assert_allclose(table, code, rtol=1e-12, atol=1e-12, err_msg=f"M={m}")


def test_trainer_scheme_names():
    assert fw.resolve_scheme("nemo_rl:grpo") == sch.loo_grpo("sample", 1e-6, "undivided")
    assert fw.resolve_scheme("nemo_rl:grpo@v0.3.1") == sch.loo_grpo("population", 0.0)
    assert fw.resolve_scheme("nemo_rl:grpo@74b9b1789") == sch.loo_grpo(zero_std="eps")
    assert fw.resolve_scheme("open_instruct:standard") == sch.grpo("population", 1e-9)
    assert (
        fw.resolve_scheme("open_instruct:centered", verification_reward=1.0) == sch.mean_baseline()
    )
    # rewards mapped 2 apart, group std: (2 r - 2 mean) / (2 sd + 1e-6) is GRPO with eps 5e-7
    scaled = fw.resolve_scheme("nemo_rl:grpo", use_leave_one_out_baseline=False, reward_scale=2.0)
    assert scaled == sch.grpo("sample", 5e-7)
    for name in ("nemo_rl:grpo", "open_instruct:centered", "skyrl:grpo", "skyrl:maxrl"):
        assert name in fw.scheme_names()


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: fw.advantages("nemo", "grpo", [1, 0], 2),
            "framework='nemo' is invalid: must be one of",
        ),
        (
            lambda: fw.advantages("nemo_rl", "gdpo", [1, 0], 2),
            "estimator='gdpo' is invalid: must be one of grpo",
        ),
        (
            lambda: fw.advantages("skyrl", "gae", [1, 0], 2),
            "estimator='gae' is invalid: must be one of grpo, rloo",
        ),
        (
            lambda: fw.advantages("open_instruct", None, [1, 0], 2, settings={"verification": 1}),
            "settings key 'verification' is invalid for open_instruct's advantage: must be one of",
        ),
        (
            lambda: fw.advantages(
                "nemo_rl", "grpo@v0.3.1", [1, 0], 2, settings={"grpo.advantage_clip_low": -1}
            ),
            "not read it",
        ),
        (
            lambda: fw.advantages(
                "skyrl",
                "reinforce++",
                [1, 0],
                2,
                lengths=[2, 3],
                settings={"trainer.algorithm.gamma": 0.9},
            ),
            "gamma=0.9 is invalid here",
        ),
        (lambda: sch.loo_grpo(eps=0.0, zero_std="eps"), "eps=0.0 is invalid with zero_std='eps'"),
        (
            lambda: fw.resolve_scheme("open_instruct:centered", verification_reward=0),
            "verification_reward=0",
        ),
    ],
)
def test_bad_input_names_the_known_values(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_nemo_rl_default_weight_at_m16_p001_is_1_39_against_grpo_3_61():
    """The issue's numbers: w_16(0.01) = 1.392 for NeMo-RL's default, 3.614 for GRPO (Bessel std,
    eps 1e-6, verl's): GRPO up-weights the rarest successes, NeMo-RL's default does not divide the
    lone success of a 1-of-16 group."""
    nemo = transform(fw.resolve_scheme("nemo_rl:grpo"), 16).weight(0.01)
    grpo = transform(sch.grpo("sample", 1e-6), 16).weight(0.01)
    assert round(float(nemo), 2) == 1.39 and round(float(grpo), 2) == 3.61


def test_trainer_scheme_limits():
    """Named large-M limits: SkyRL maxrl h = log(1 + p/1e-6) (w = 1/(p + 1e-6)), reached by
    w_M as M grows; Open-Instruct centered 10 p; NeMo-RL with a clamp: none (stated)."""
    from rlxform.core.objective import limit_weight

    maxrl = fw.resolve_scheme("skyrl:maxrl")
    assert float(limit_weight(maxrl, np.array([0.3]))[0]) == pytest.approx(1 / 0.300001, rel=1e-14)
    assert float(maxrl.limit()[0](np.float64(1.0))) == pytest.approx(math.log1p(1e6), rel=1e-14)
    errors = [abs(float(transform(maxrl, m).weight(0.3)) * 0.300001 - 1) for m in (64, 256, 1024)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.01
    centered = transform(fw.resolve_scheme("open_instruct:centered"), 8)
    np.testing.assert_allclose(centered.weight(np.array([0.2, 0.7])), [10 * 7 / 8] * 2, rtol=1e-14)
    assert fw.resolve_scheme("open_instruct:centered").limit()[1] == "10 p"
    clamped = fw.resolve_scheme("nemo_rl:grpo", advantage_clip_high=2.0)
    assert clamped.limit() == (None, None)


@pytest.mark.parametrize(
    ("name", "scheme"),
    [
        ("nemo_rl", sch.loo_grpo("sample", 1e-6, "undivided")),
        ("nemo_rl_v0.3.1", sch.loo_grpo("population", 0.0, "undivided")),
        ("nemo_rl_pre_zero_std_fix", sch.loo_grpo("sample", 1e-6, "eps")),
    ],
)
def test_loo_grpo_tables_match_nemo_rl_binary_cases(name, scheme):
    """The catalog scheme's a/b tables against the trainer's own float32 numbers directly, for
    every binary batch with the default leave-one-out baseline and std."""
    checked = 0
    for case in cases(name):
        rewards = np.asarray(case["rewards"])
        default = case["settings"] == {
            "grpo.use_leave_one_out_baseline": True,
            "grpo.normalize_rewards": True,
        }
        if not default or not np.all((rewards == 0) | (rewards == 1)):
            continue
        table = scheme.advantages(rewards.reshape(-1, case["group_size"])).reshape(-1)
        np.testing.assert_allclose(table, case["advantages"], rtol=RTOL, atol=ATOL)
        checked += 1
    assert checked == 8  # M = 2, 3, 4, 5, 6, 8, 12, 16
