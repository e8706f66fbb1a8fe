"""slime, ROLL and AReaL advantages (frameworks.advantages) against their own numbers, by hand,
and their per-group schemes (core.group_norm) against the restated code and brute force.

References: tests/data/trainers/{slime,roll,areal}.json, produced by running each trainer's own
functions at slime v0.3.1, ROLL v0.3.0, AReaL v1.0.4 (README.md there), float32. Float32
caution (README): a real-valued group of M copies of 0.7 has a float32 mean that is not 0.7
for M = 8, 12, 16, so slime's and ROLL's group std normalisation returns residue / 1e-6 (up to
0.12) where a float64 rule gives 0. Those groups are compared separately: ours 0, theirs the
residue; and where a batch whitening follows, the residue spreads to every answer, so those
cases are checked by feeding the trainer's own residue (recovered from its output, as
mu + sigma w of the affine whitening) into our whitening. Pure NumPy, no JAX.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate

from rlxform import frameworks as fw
from rlxform.core import schemes as sch
from rlxform.core.group_norm import group_norm
from rlxform.core.noise import noise
from rlxform.core.objective import transform
from rlxform.frameworks import areal, roll_rule, slime
from rlxform.frameworks.batch_steps import areal_normalise, roll_whiten, slime_whiten

DATA = Path(__file__).resolve().parents[1] / "data" / "trainers"
TOL = {"rtol": 1e-5, "atol": 2e-6}


def cases(trainer: str) -> list[dict]:
    return json.loads((DATA / f"{trainer}.json").read_text())["cases"]


def _flat(case) -> np.ndarray:
    m = case["group_size"]
    return np.repeat(np.ptp(np.reshape(case["rewards"], (-1, m)), axis=1) == 0, m)


def _real(case) -> bool:
    r = np.asarray(case["rewards"])
    return not np.all((r == 0) | (r == 1))


def _whitened(trainer: str, settings: dict) -> bool:
    key = {"slime": "normalize_advantages", "roll": "whiten_advantages"}[trainer]
    return bool(settings.get(key, False))


def _group_std(trainer: str, settings: dict) -> bool:
    if trainer == "slime":
        return (
            settings["advantage_estimator"] in ("grpo", "gspo", "cispo")
            and settings["rewards_normalization"]
            and settings["grpo_std_normalization"]
        )
    return settings["adv_estimator"] == "grpo" or settings.get("norm_std_type") == "group"


@pytest.mark.parametrize("trainer", ["slime", "roll", "areal"])
def test_every_case_of_the_trainers_own_numbers(trainer):
    """float32 precision on every case; the float32 residue groups of the caution as stated."""
    data = cases(trainer)
    assert len(data) == {"slime": 192, "roll": 288, "areal": 256}[trainer]
    residue_cases = 0
    for case in data:
        settings, m = dict(case["settings"]), case["group_size"]
        ours = fw.advantages(
            trainer, None, case["rewards"], m, lengths=case.get("lengths"), settings=settings
        )
        theirs = np.asarray(case["advantages"])
        residue = trainer != "areal" and _real(case) and _group_std(trainer, settings)
        if residue and _whitened(trainer, settings):
            residue_cases += 1
            continue  # test_whitening_fed_the_trainers_residue
        if residue:
            flat = _flat(case)
            np.testing.assert_allclose(ours[~flat], theirs[~flat], **TOL, err_msg=str(case))
            assert np.all(np.abs(ours[flat]) < 1e-9) and np.all(np.abs(theirs[flat]) < 0.13)
            continue
        np.testing.assert_allclose(ours, theirs, **TOL, err_msg=str(case))
    assert residue_cases == {"slime": 8, "roll": 24, "areal": 0}[trainer]


def _stage_one(trainer: str, case) -> tuple[np.ndarray, np.ndarray]:
    """(our advantages before the whitening, the kept mask)."""
    settings, m = dict(case["settings"]), case["group_size"]
    key = {"slime": "normalize_advantages", "roll": "whiten_advantages"}[trainer]
    settings[key] = False
    pre = fw.advantages(trainer, None, case["rewards"], m, settings=settings)
    kept = np.ones(pre.size)
    if trainer == "roll" and settings.get("difficulty_mask"):
        score = np.reshape(case["rewards"], (-1, m)).mean(1)
        lo, hi = settings["difficulty_low_threshold"], settings["difficulty_high_threshold"]
        kept = np.repeat((score > lo) & (score < hi), m).astype(float)
        pre = fw.advantages(trainer, None, case["rewards"], m, settings={
            **settings, "difficulty_mask": False})  # fmt: skip
    return pre, kept


@pytest.mark.parametrize("trainer", ["slime", "roll"])
def test_whitening_fed_the_trainers_residue(trainer):
    """Whitening is affine: theirs = (v - mu) / sigma on the kept answers. mu and sigma are fit
    on the groups whose stage-one values we share (float32 precision), the constant group's
    v = mu + sigma w is the trainer's residue; whitening our values with it gives all theirs."""
    checked = 0
    for case in cases(trainer):
        settings = case["settings"]
        if not (_real(case) and _group_std(trainer, settings) and _whitened(trainer, settings)):
            continue
        pre, kept = _stage_one(trainer, case)
        theirs = np.asarray(case["advantages"])
        flat = _flat(case)
        fit = (~flat) & (kept > 0)
        slope, intercept = np.polyfit(theirs[fit], pre[fit], 1)
        residue = intercept + slope * theirs[flat & (kept > 0)]
        assert np.all(np.abs(residue) < 0.13) and np.ptp(residue) < 1e-5, (case, residue)
        fed = pre.copy()
        fed[flat & (kept > 0)] = residue.mean()
        lengths = np.asarray(case.get("lengths") or np.ones(pre.size), float)
        if trainer == "slime":
            ours = slime_whiten(fed, lengths)
        else:
            ours = roll_whiten(fed, lengths, kept)
        np.testing.assert_allclose(ours, theirs, **TOL, err_msg=str(case))
        checked += 1
    assert checked == {"slime": 8, "roll": 24}[trainer]


# ---- hand-computed cases ---------------------------------------------------------------------


def test_slime_by_hand():
    # grpo, M = 4, one correct: mean 1/4, Bessel std 1/2
    np.testing.assert_allclose(
        fw.advantages("slime", "grpo", [1, 0, 0, 0], 4),
        np.array([0.75, -0.25, -0.25, -0.25]) / (0.5 + 1e-6),
        rtol=1e-12,
    )
    dr = fw.advantages("slime", None, [1, 0, 0, 0], 4, settings={
        "--disable-grpo-std-normalization": True})  # fmt: skip
    np.testing.assert_allclose(dr, [0.75, -0.25, -0.25, -0.25], rtol=1e-12)
    # the same switch as its argparse dest, and without dashes
    for spelling in ({"grpo_std_normalization": False}, {"disable-grpo-std-normalization": True}):
        np.testing.assert_array_equal(
            fw.advantages("slime", None, [1, 0, 0, 0], 4, settings=spelling), dr
        )
    raw = fw.advantages("slime", None, [1, 0, 1, 1], 2, settings={
        "--disable-rewards-normalization": True})  # fmt: skip
    np.testing.assert_array_equal(raw, [1, 0, 1, 1])
    # reinforce_plus_plus_baseline: r - mean (1/2, -1/2, 0, 0), then whitened over tokens of
    # lengths (1, 3, 2, 2): mean -1/8, E[x^2] = (1/4 + 3/4) / 8 = 1/8, var = (1/8 - 1/64) 8/7
    whitened = fw.advantages(
        "slime",
        "reinforce_plus_plus_baseline",
        [1, 0, 1, 1],
        2,
        lengths=[1, 3, 2, 2],
        settings={"--normalize-advantages": True},
    )
    var = (1 / 8 - 1 / 64) * 8 / 7
    expected = (np.array([0.5, -0.5, 0.0, 0.0]) + 1 / 8) / math.sqrt(var + 1e-8)
    np.testing.assert_allclose(whitened, expected, rtol=1e-12)


def test_roll_by_hand():
    # norm group/None: r - group mean; reward_clip 0.3 clamps it
    clipped = fw.advantages("roll", "reinforce", [1, 0, 0, 0], 4, settings={
        "norm_mean_type": "group", "reward_clip": 0.3})  # fmt: skip
    np.testing.assert_allclose(clipped, [0.3, -0.25, -0.25, -0.25], rtol=1e-12)
    # batch mean and std of (1, 0, 1, 1): mean 3/4, Bessel std 1/2
    batch = fw.advantages("roll", "reinforce", [1, 0, 1, 1], 2, settings={
        "norm_mean_type": "batch", "norm_std_type": "batch"})  # fmt: skip
    np.testing.assert_allclose(batch, np.array([0.25, -0.75, 0.25, 0.25]) / (0.5 + 1e-6))
    # grpo ignores the norm types; difficulty mask (0.1, 0.95) drops the all-correct group
    masked = fw.advantages("roll", "grpo", [1, 0, 1, 1], 2, settings={
        "difficulty_mask": True, "difficulty_low_threshold": 0.1,
        "difficulty_high_threshold": 0.95, "norm_mean_type": None})  # fmt: skip
    s = math.sqrt(0.5)
    np.testing.assert_allclose(masked, [0.5 / (s + 1e-6), -0.5 / (s + 1e-6), 0, 0])


@pytest.mark.parametrize(
    ("mean", "std"), [("group", None), ("batch", "group"), (None, "group")], ids=str
)
def test_roll_refuses_what_it_cannot_run(mean, std):
    settings = {"norm_mean_type": mean, "norm_std_type": std}
    if std == "group":
        with pytest.raises(ValueError, match="norm_std_type='group' with norm_mean_type"):
            fw.advantages("roll", "reinforce", [1, 0, 0, 1], 2, settings=settings)
    else:
        fw.advantages("roll", "reinforce", [1, 0, 0, 1], 2, settings=settings)
    with pytest.raises(ValueError, match="'running' is not modelled"):
        fw.advantages("roll", "reinforce", [1, 0], 2, settings={"norm_mean_type": "running"})


def test_areal_by_hand():
    # the GSM8K example: (r - 0.5) 10 = +-5, group mean and std, then batch whitening
    settings = {
        "actor.reward_scaling": 10.0,
        "actor.reward_bias": -0.5,
        "actor.reward_norm.mean_level": "group",
        "actor.reward_norm.std_level": "group",
        "actor.reward_norm.group_size": 4,
    }
    ours = fw.advantages("areal", None, [1, 0, 0, 0], 4, settings=settings)
    # values 5, -5, -5, -5: mean -2.5, Bessel std sqrt(75/3) = 5
    np.testing.assert_allclose(ours, np.array([7.5, -2.5, -2.5, -2.5]) / (5 + 1e-5), rtol=1e-12)
    loo = fw.advantages("areal", None, [1, 0, 0, 0], 4, settings={
        "actor.reward_norm": {"mean_level": "group", "mean_leave1out": True, "std_level": None,
                              "group_size": 4}})  # fmt: skip
    np.testing.assert_allclose(loo, [1, -1 / 3, -1 / 3, -1 / 3], rtol=1e-12)
    # a block given without group_size uses AReaL's default 1: every group mean is the reward
    zero = fw.advantages("areal", None, [1, 0, 0, 1], 2, settings={
        "actor.reward_norm.mean_level": "group"})  # fmt: skip
    np.testing.assert_array_equal(zero, np.zeros(4))
    # no block: the clipped, scaled reward itself
    raw = fw.advantages("areal", None, [1, 0], 2, settings={"actor.reward_scaling": 30.0})
    np.testing.assert_array_equal(raw, [20.0, 0.0])


def test_areal_token_weighted_adv_norm_by_hand():
    """adv_norm batch/batch over tokens: values (1, 0) with lengths (3, 1): mean 3/4, Bessel
    variance over 4 tokens (3 (1/4)^2 + (3/4)^2) / 3 = 1/4."""
    got = areal_normalise(np.array([1.0, 0.0]), np.array([3.0, 1.0]), mean_level="batch",
                          std_level="batch", leave1out=False, unbiased=True, eps=1e-5,
                          group_size=1)  # fmt: skip
    np.testing.assert_allclose(got, np.array([0.25, -0.75]) / (0.5 + 1e-5), rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fw.advantages("slim", None, [1, 0], 2), "framework='slim' is invalid"),
        (lambda: fw.advantages("slime", "ppo", [1, 0], 2), "advantage_estimator='ppo'"),
        (lambda: fw.advantages("roll", "gae", [1, 0], 2), "adv_estimator='gae' is invalid"),
        (
            lambda: fw.advantages("roll", None, [1, 0], 2),
            "adv_estimator='gae' is invalid: must be one of reinforce, grpo",
        ),
        (
            lambda: fw.advantages("slime", None, [1, 0], 2, settings={"--std": 1}),
            "settings key 'std' is invalid for slime's advantage: must be one of",
        ),
        (
            lambda: fw.advantages("areal", None, [1, 0], 2, settings={"actor.reward_nrom": 1}),
            "settings key 'actor.reward_nrom' is invalid",
        ),
        (
            lambda: fw.advantages("slime", "reinforce_plus_plus", [1, 0], 2),
            "requires normalize_advantages",
        ),
        (
            lambda: fw.advantages(
                "areal", None, [1, 0], 2, settings={"actor.reward_norm.mean_level": "prompt"}
            ),
            "actor.reward_norm.mean_level='prompt' is invalid",
        ),
    ],
)
def test_bad_input_is_one_line_naming_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        call()
    assert "\n" not in str(err.value)


# ---- the per-group schemes against the restated code ----------------------------------------

SCHEMES = [
    ("slime", "grpo", {}, slime.from_slime("grpo")),
    ("slime", "grpo", {"grpo_std_normalization": False},
     slime.from_slime("grpo", grpo_std_normalization=False)),
    ("slime", "gspo", {"rewards_normalization": False},
     slime.from_slime("gspo", rewards_normalization=False)),
    ("roll", "grpo", {}, roll_rule.from_roll("grpo")),
    ("roll", "reinforce", {"norm_mean_type": "group"},
     roll_rule.from_roll("reinforce", norm_mean_type="group")),
    ("roll", "reinforce", {}, roll_rule.from_roll()),
    ("roll", "reinforce", {"norm_mean_type": "group", "norm_std_type": "group",
                           "reward_clip": 0.8},
     roll_rule.from_roll("reinforce", norm_mean_type="group", norm_std_type="group", clip=0.8)),
    ("roll", "grpo", {"difficulty_mask": True, "difficulty_low_threshold": 0.1,
                      "difficulty_high_threshold": 0.95},
     roll_rule.from_roll("grpo", keep=(0.1, 0.95))),
    ("areal", None, {"actor.reward_norm.mean_level": "group", "actor.reward_norm.std_level":
                     "group", "actor.reward_norm.mean_leave1out": True,
                     "actor.reward_norm.group_size": "M"},
     areal.from_areal(stages=(("leave_one_out", "group", True, 1e-5),))),
    ("areal", None, {"actor.reward_norm.mean_level": None, "actor.reward_norm.std_level":
                     "group", "actor.reward_norm.std_unbiased": False,
                     "actor.reward_norm.group_size": "M"},
     areal.from_areal(stages=(("none", "group", False, 1e-5),))),
    ("areal", None, {"actor.reward_scaling": 10.0, "actor.reward_bias": -0.5,
                     "actor.reward_norm.mean_level": "group", "actor.reward_norm.std_level":
                     None, "actor.reward_norm.group_size": "M",
                     "actor.adv_norm.mean_level": "group", "actor.adv_norm.std_level": "group",
                     "actor.adv_norm.group_size": "M"},
     areal.from_areal(reward_scaling=10.0, reward_bias=-0.5,
                      stages=(("group", "none", True, 0.0), ("group", "group", True, 1e-5)))),
]  # fmt: skip


@pytest.mark.parametrize(("trainer", "estimator", "settings", "scheme"), SCHEMES)
def test_scheme_tables_agree_with_the_advantage_code(trainer, estimator, settings, scheme):
    """Two routes: the scheme's a/b tables vs the restated code on every 0/1 vector, M = 2..6."""
    for m in range(2, 7):
        rewards = np.array(list(itertools.product((0, 1), repeat=m)), np.float64)
        given = {k: (m if v == "M" else v) for k, v in settings.items()}
        code = fw.advantages(trainer, estimator, rewards.reshape(-1), m, settings=given)
        table = scheme.advantages(rewards).reshape(-1)
        np.testing.assert_allclose(table, code, rtol=1e-12, atol=1e-12, err_msg=scheme.label)


def test_catalog_schemes_stand_for_their_combinations():
    assert slime.from_slime("grpo") == sch.grpo(std="sample", eps=1e-6)
    assert slime.from_slime("cispo", grpo_std_normalization=False) == sch.mean_baseline()
    assert roll_rule.from_roll() == sch.reinforce()
    # AReaL's example: rewards +-5 with a group std is GRPO with eps / 10
    assert areal.from_areal(
        reward_scaling=10.0, reward_bias=-0.5, stages=(("group", "group", True, 1e-5),)
    ) == sch.grpo(std="sample", eps=1e-6)
    # leave-one-out mean and its std: GRPO with eps (M-1)/M (the std is M/(M-1) the group's)
    loo = group_norm("leave_one_out", "group", eps=1e-5)
    for m in (2, 5, 9):
        np.testing.assert_allclose(
            loo.tables(m), sch.grpo(std="sample", eps=1e-5 * (m - 1) / m).tables(m), rtol=1e-12
        )


# ---- exact objective, noise and limits of group_norm ------------------------------------------

NEW = [
    group_norm("none", "group", eps=1e-5),
    group_norm("leave_one_out", "group", unbiased=False, eps=1e-3),
    group_norm("group", "group", eps=1e-6, clip=0.8),
    group_norm("group", "group", eps=1e-6, keep=(0.1, 0.95)),
    group_norm("none", "none", low=-5.0, high=5.0),
    group_norm("group", "none", low=-5.0, high=5.0, then=("group", "group", True, 1e-5)),
]


def _brute(scheme, m: int, p: float) -> tuple[float, float]:
    """E and Var of g = (1/M) sum_i Z_i (r_i - p) over all 2^M outcomes (scalar-logit
    policy: grad log pi(y_i) = r_i - p), from the tables."""
    a_table, b_table = scheme.tables(m)
    mean = second = 0.0
    for r in itertools.product((0, 1), repeat=m):
        r = np.array(r)
        s = int(r.sum())
        prob = p**s * (1 - p) ** (m - s)
        z = np.where(r == 1, a_table[s], b_table[s])
        g = np.sum(z * (r - p)) / m
        mean += prob * g
        second += prob * g * g
    return mean, second - mean**2


@pytest.mark.parametrize("scheme", NEW, ids=[s.label for s in NEW])
def test_group_norm_weight_and_noise_against_brute_force(scheme):
    """E[g] = w_M(p) p (1-p) (Bernstein) and the exact noise, both to 1e-12."""
    for m in (2, 3, 5, 7):
        t = transform(scheme, m)
        for p in (0.05, 0.3, 0.5, 0.85):
            mean, var = _brute(scheme, m, p)
            assert abs(mean - float(t.weight(p)) * p * (1 - p)) < 1e-12
            stats = noise(scheme, m, p)
            assert abs(float(stats.mean) - mean) < 1e-12
            assert abs(float(stats.variance) - var) < 1e-12


def test_group_norm_limits():
    """h_M tends to the named limit (with a rate); the limit's weight is its derivative."""
    p = np.array([0.05, 0.3, 0.6, 0.9])
    for scheme, big, tol in [
        (group_norm("none", "group", eps=1e-5), 16000, 0.02),
        (group_norm("group", "group", eps=1e-6, keep=(0.1, 0.95)), 4000, 0.02),
        (group_norm("leave_one_out", "group", eps=1e-5), 4000, 0.02),
        (group_norm("none", "none", low=-5.0, high=5.0), 50, 1e-12),
    ]:
        t = transform(scheme, big)
        np.testing.assert_allclose(t.objective(p), t.limit(p), rtol=tol, atol=tol)
        h = t.limit
        step = 1e-6
        numeric = (h(p + step) - h(p - step)) / (2 * step)
        np.testing.assert_allclose(h.weight(p), numeric, rtol=1e-5)
    # 2 sqrt p - 2e log(1 + sqrt p / e) by quadrature of 1 / (sqrt t + e)
    e = 0.01
    quad, _ = integrate.quad(lambda t: 1 / (math.sqrt(t) + e), 0, 0.49, epsabs=1e-13)
    h = transform(group_norm("none", "group", eps=e), 4).limit
    assert abs(float(h(0.49)) - quad) < 1e-10
    assert transform(group_norm("group", "group", eps=1e-6, clip=0.8), 8).limit is None


def test_batch_whitening_tends_to_the_per_group_scheme_over_sigma():
    """Monte Carlo over large batches (scalar-logit policy): slime's grpo with
    --normalize-advantages moves each prompt by w_M(p) p (1-p) / sigma, sigma the population
    std of the group-normalised advantages (equal lengths)."""
    rng = np.random.default_rng(1)
    m, per_class, repeats = 4, 400, 30
    p_values = np.array([0.1, 0.4, 0.8])
    p = np.repeat(p_values, per_class)
    scheme = slime.from_slime("grpo")
    a_table, b_table = scheme.tables(m)
    # sigma^2 = E over prompts and answers of Z^2 (the advantages have mean 0 per group)
    pmf = [np.array([math.comb(m, s) * q**s * (1 - q) ** (m - s) for s in range(m + 1)])
           for q in p_values]  # fmt: skip
    s_values = np.arange(m + 1)
    second = [np.sum(w * (s_values * a_table**2 + (m - s_values) * b_table**2) / m) for w in pmf]
    sigma = math.sqrt(np.mean(second))
    updates = []
    for _ in range(repeats):
        rewards = (rng.random((p.size, m)) < p[:, None]).astype(np.float64)
        whiten = {"--normalize-advantages": True}
        adv = fw.advantages("slime", "grpo", rewards.reshape(-1), m, settings=whiten)
        adv = adv.reshape(p.size, m)
        updates.append(np.mean(adv * (rewards - p[:, None]), axis=1))
    updates = np.stack(updates).reshape(repeats, len(p_values), per_class)
    mean = updates.mean(axis=(0, 2))
    se = updates.std(axis=(0, 2)) / math.sqrt(repeats * per_class)
    w = transform(scheme, m).weight(p_values)
    assert np.all(np.abs(mean - w * p_values * (1 - p_values) / sigma) < 4 * se), (mean, se)
