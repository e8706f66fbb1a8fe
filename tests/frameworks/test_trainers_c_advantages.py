"""prime-rl and TRL RLOO advantages: their own numbers, hand-computed cases, schemes, bad input.

References: tests/data/trainers/prime_rl.json (prime-rl v0.8.0 ``score_group`` of grpo, with and
without ``length_penalty``, and of max_rl) and tests/data/trainers/trl_rloo.json (TRL 1.16.0
RLOOTrainer advantage block: plain, normalize_advantages, reward_clip_range, reward_weights),
both float32, matched to float32 precision (rtol 1e-5, atol 2e-6). Float32 caution: the constant
0.7 groups of the real-valued batches leave a rounding residue in the trainers (<= 2.4e-7 here:
no division by a small std); rlxform's float64 rules give exactly 0 there, tested separately.
Schemes: the a/b tables against the restated code on every 0/1 vector, and w_M, h_M and the
noise against brute-force enumeration of all 2^M outcomes with advantages written from their
definitions (1e-12). NumPy float64 only.
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
from rlxform.core.noise import noise
from rlxform.core.objective import limit_weight, transform

DATA = Path(__file__).parent.parent / "data" / "trainers"
RTOL, ATOL = 1e-5, 2e-6


@cache
def data(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def flat_mask(case: dict) -> np.ndarray:
    m = case["group_size"]
    return np.repeat(np.ptp(np.reshape(case["rewards"], (-1, m)), axis=1) == 0, m)


@pytest.mark.parametrize("name", ["prime_rl", "trl_rloo"])
def test_matches_the_trainers_own_numbers(name):
    """Every case of the file, with its settings (and lengths for the length penalty)."""
    shaped = 0
    for case in data(name)["cases"]:
        ours = fw.advantages(
            name,
            None,
            case["rewards"],
            case["group_size"],
            lengths=case.get("lengths"),
            settings=case["settings"],
        )
        theirs, flat = np.asarray(case["advantages"]), flat_mask(case)
        penalised = "lengths" in case  # the length penalty moves all-equal groups too
        shaped += penalised
        keep = ~flat | penalised
        np.testing.assert_allclose(
            ours[keep], theirs[keep], rtol=RTOL, atol=ATOL, err_msg=str(case)
        )
        if not penalised:
            assert np.all(np.abs(ours[flat]) <= 1e-15) and np.all(np.abs(theirs[flat]) < 3e-7)
    assert len(data(name)["cases"]) == {"prime_rl": 64, "trl_rloo": 80}[name]
    assert shaped == (32 if name == "prime_rl" else 0)
    assert data(name)["version"].startswith({"prime_rl": "v0.8.0", "trl_rloo": "trl 1.16.0"}[name])


def test_prime_rl_hand_computed():
    """grpo: r - mean; max_rl: (r - q)/q, 0 for an all-wrong group; length penalty (output
    tokens, weight 0.25 by default): r' = r - q 0.25 L/L_max, A = r' - mean(r')."""
    np.testing.assert_allclose(
        fw.advantages("prime_rl", None, [1, 0, 0, 0], 4), [0.75, -0.25, -0.25, -0.25]
    )
    np.testing.assert_allclose(
        fw.advantages("prime_rl", "max_rl", [1, 1, 0, 0, 0, 0, 0, 0], 4), [1, 1, -1, -1, 0, 0, 0, 0]
    )
    assert np.all(fw.advantages("prime_rl", "grpo", [1], 1) == 0)  # a group of one
    settings = {"orchestrator.algo.length_penalty.type": "linear"}
    got = fw.advantages(
        "prime_rl", None, [1, 1, 0, 1], 4, lengths=[10, 20, 30, 40], settings=settings
    )
    q = 0.75
    shaped = np.array([1, 1, 0, 1]) - q * 0.25 * np.array([10, 20, 30, 40]) / 40
    np.testing.assert_allclose(got, shaped - shaped.mean(), rtol=1e-14)
    # an all-correct group: the longer answers get negative advantages
    full = fw.advantages("prime_rl", None, [1, 1], 2, lengths=[10, 30], settings=settings)
    np.testing.assert_allclose(full, [0.25 * 20 / 30 / 2, -0.25 * 20 / 30 / 2], rtol=1e-14)
    # the section as a mapping, with a weight of 0 given: no penalty at all
    off = fw.advantages(
        "prime_rl",
        None,
        [1, 1, 0, 1],
        4,
        lengths=[10, 20, 30, 40],
        settings={"orchestrator.algo.length_penalty": {"num_output_tokens_weight": 0.0}},
    )
    np.testing.assert_allclose(off, [0.25, 0.25, -0.75, 0.25], atol=1e-15)


def test_trl_rloo_hand_computed():
    """A_i = r_i - mean of the others; weights and clip act on the rewards first; normalize
    whitens over the batch (Bessel std + 1e-4)."""
    np.testing.assert_allclose(
        fw.advantages("trl_rloo", None, [1, 0, 0, 0], 4), [1, -1 / 3, -1 / 3, -1 / 3]
    )
    scaled = fw.advantages(
        "trl_rloo",
        None,
        [1, 0, 0, 0],
        4,
        settings={"reward_weights": [2.0], "reward_clip_range": [0.5, 1.5]},
    )
    np.testing.assert_allclose(scaled, [1.0, -1 / 3, -1 / 3, -1 / 3])  # {0.5, 1.5}: 1 apart
    got = fw.advantages(
        "trl_rloo", None, [1, 0, 1, 0], 2, settings={"normalize_advantages": True, "beta": 0.0}
    )
    a = np.array([1.0, -1.0, 1.0, -1.0])
    np.testing.assert_allclose(got, a / (np.std(a, ddof=1) + 1e-4), rtol=1e-14)
    # beta is the KL shaping, linear in the RLOO advantage: the outcome part is unchanged
    np.testing.assert_allclose(
        fw.advantages("trl_rloo", None, [1, 0, 0, 0], 4, settings={"beta": 0.3}),
        [1, -1 / 3, -1 / 3, -1 / 3],
    )


# ---- schemes: tables vs the code, Bernstein vs brute force -----------------------------------

SCHEMES = [
    ("prime_rl", "grpo", {}, fw.resolve_scheme("prime_rl:grpo")),
    ("prime_rl", "max_rl", {}, fw.resolve_scheme("prime_rl:max_rl")),
    ("trl_rloo", "rloo", {}, fw.resolve_scheme("trl_rloo:rloo")),
    (
        "trl_rloo",
        "rloo",
        {"reward_weights": [2.0], "reward_clip_range": [0.0, 1.5]},
        fw.resolve_scheme("trl_rloo:rloo", reward_weights=[2.0], reward_clip_range=[0.0, 1.5]),
    ),
]


@pytest.mark.parametrize(("framework", "estimator", "settings", "scheme"), SCHEMES)
def test_scheme_tables_agree_with_the_advantage_code(framework, estimator, settings, scheme):
    """Every 0/1 vector, M = 2..7: the scheme's a/b tables equal the restated code."""
    for m in range(2, 8):
        rewards = np.array(list(itertools.product((0, 1), repeat=m)), np.float64)
        code = fw.advantages(framework, estimator, rewards.reshape(-1), m, settings=settings)
        table = scheme.advantages(rewards).reshape(-1)
        np.testing.assert_allclose(table, code, rtol=1e-12, atol=1e-12, err_msg=f"M={m}")


def test_scheme_names_and_group_of_one():
    assert fw.resolve_scheme("prime_rl:grpo") == sch.mean_baseline()
    assert fw.resolve_scheme("prime_rl:max_rl") == sch.maxrl()
    assert fw.resolve_scheme("trl_rloo:rloo") == sch.rloo()
    scaled = fw.resolve_scheme("trl_rloo:rloo", reward_weights=[2.0], reward_clip_range=[0.0, 1.5])
    assert scaled.label == "trl_rloo(scale=1.5)"
    for estimator in ("grpo", "max_rl"):  # prime-rl's default group size is 1: all weights 0
        one = fw.resolve_scheme(f"prime_rl:{estimator}", group_size=1)
        assert one.name == "prime_rl" and np.all(np.concatenate(one.tables(1)) == 0)
        for m in range(2, 9):  # the same tables as the catalog's from M = 2 on
            catalog = sch.mean_baseline() if estimator == "grpo" else sch.maxrl()
            np.testing.assert_array_equal(one.tables(m), catalog.tables(m))
    for name in ("prime_rl:grpo", "prime_rl:max_rl", "trl_rloo:rloo"):
        assert name in fw.scheme_names()


def _prime_max_rl(rewards, i):
    q = sum(rewards) / len(rewards)
    return 0.0 if q <= 0 else (rewards[i] - q) / q


def _scaled_rloo(scale):
    def advantage(rewards, i):
        m = len(rewards)
        return scale * (rewards[i] - (sum(rewards) - rewards[i]) / (m - 1))

    return advantage


BRUTE = {
    "prime_rl grpo, M = 1 too": (
        fw.resolve_scheme("prime_rl:grpo", group_size=1),
        lambda r, i: r[i] - sum(r) / len(r),
        1,
    ),
    "prime_rl max_rl": (fw.resolve_scheme("prime_rl:max_rl", group_size=1), _prime_max_rl, 1),
    "trl_rloo scale 1.5": (sch.Scheme.make("trl_rloo", scale=1.5), _scaled_rloo(1.5), 2),
    "trl_rloo scale -0.5": (sch.Scheme.make("trl_rloo", scale=-0.5), _scaled_rloo(-0.5), 2),
}


def brute(advantage, m: int, p: float) -> tuple[float, float]:
    """(mean, variance) of g = (1/M) sum_i A_i (r_i - p) over all 2^M outcomes."""
    mean = second = 0.0
    for rewards in itertools.product((0, 1), repeat=m):
        s = sum(rewards)
        prob = p**s * (1 - p) ** (m - s)
        g = sum(advantage(rewards, i) * (r - p) for i, r in enumerate(rewards)) / m
        mean += prob * g
        second += prob * g * g
    return mean, second - mean * mean


@pytest.mark.parametrize("name", sorted(BRUTE))
def test_bernstein_matches_brute_force_enumeration(name):
    """E[update] = w_M(p) p (1-p), its variance (``noise``) and h_M = int_0^p w_M, exact to
    1e-12 against all 2^M outcomes (M from the scheme's smallest to 8)."""
    scheme, advantage, low = BRUTE[name]
    nodes, weights = np.polynomial.legendre.leggauss(8)
    for m in range(low, 9):
        t = transform(scheme, m)
        for p in (0.01, 0.17, 0.5, 0.83):
            mean, var = brute(advantage, m, p)
            assert abs(float(t.weight(p)) * p * (1 - p) - mean) <= 1e-12 * max(abs(mean), 1e-15)
            stats = noise(scheme, m, p)
            assert abs(float(stats.mean) - mean) <= 1e-12 * max(abs(mean), 1e-15)
            assert abs(float(stats.variance) - var) <= 1e-10 * max(var, 1e-15)
        if m in (3, 8):
            p = 0.7
            ts = p * (nodes + 1) / 2
            w = [brute(advantage, m, x)[0] / (x * (1 - x)) for x in ts]
            assert float(t.objective(p)) == pytest.approx(
                p / 2 * float(np.dot(weights, w)), rel=1e-12
            )


def test_limits():
    """prime_rl grpo -> p ((M-1)/M -> 1), max_rl -> log p (w = 1/p), trl_rloo -> scale p."""
    grpo, maxrl = (
        fw.resolve_scheme("prime_rl:grpo", group_size=1),
        fw.resolve_scheme("prime_rl:max_rl", group_size=1),
    )
    assert grpo.limit()[1] == "p" and maxrl.limit()[1] == "log p"
    assert float(limit_weight(maxrl, np.array([0.25]))[0]) == pytest.approx(4.0, rel=1e-14)
    errors = [abs(float(transform(maxrl, m).weight(0.3)) * 0.3 - 1) for m in (16, 64, 256)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-12  # (1-p)^(M-1)
    scaled = sch.Scheme.make("trl_rloo", scale=1.5)
    assert scaled.limit()[1] == "1.5 p"
    np.testing.assert_allclose(
        transform(scaled, 5).weight(np.array([0.1, 0.9])), [1.5, 1.5], rtol=1e-14
    )


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: fw.advantages("prime", None, [1, 0], 2),
            "framework='prime' is invalid: must be one of",
        ),
        (
            lambda: fw.advantages("prime_rl", "rae", [1, 0], 2),
            "orchestrator.algo.type='rae' is not modelled by rlxform: prime-rl's rae is reward "
            "minus a per-agent EMA",
        ),
        (
            lambda: fw.advantages("prime_rl", "gspo", [1, 0], 2),
            "orchestrator.algo.type='gspo' is invalid: must be one of grpo, max_rl",
        ),
        (
            lambda: fw.advantages("prime_rl", None, [1, 0], 2, settings={"algo.type": "grpo"}),
            "settings key 'algo.type' is invalid for prime_rl's advantage: must be one of "
            "orchestrator.algo.type",
        ),
        (
            lambda: fw.advantages(
                "prime_rl",
                None,
                [1, 0],
                2,
                settings={"orchestrator.algo.length_penalty.type": "cosine"},
            ),
            "length_penalty.type='cosine' is invalid: must be linear",
        ),
        (
            lambda: fw.advantages("trl_rloo", "grpo", [1, 0], 2),
            "estimator='grpo' is invalid: must be one of rloo",
        ),
        (
            lambda: fw.advantages("trl_rloo", None, [1, 0], 2, settings={"scale_rewards": "group"}),
            "settings key 'scale_rewards' is invalid for trl_rloo's advantage: must be one of beta",
        ),
        (
            lambda: fw.advantages(
                "trl_rloo", None, [1, 0], 2, settings={"reward_weights": [1.0, 2.0]}
            ),
            "reward_weights=[1.0, 2.0] is invalid here",
        ),
        (
            lambda: fw.advantages(
                "trl_rloo", None, [1, 0], 2, settings={"normalize_advantages": True}
            ),
            "beta=0.05 is invalid with normalize_advantages=True here",
        ),
    ],
)
def test_bad_input_names_the_known_values(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_prime_rl_weight_values():
    """At M = 16: grpo w = 15/16 everywhere; max_rl w(p) = (1 - (1-p)^15)/p, the weight of the
    truncated maximum-likelihood objective sum_{k=1}^{15} (1 - (1-p)^k)/k: 14.0 at p = 0.01
    against GRPO's 3.61 (Bessel std, eps 1e-6)."""
    maxrl = transform(fw.resolve_scheme("prime_rl:max_rl"), 16)
    for p in (0.01, 0.3, 0.9):
        assert float(maxrl.weight(p)) == pytest.approx((1 - (1 - p) ** 15) / p, rel=1e-12)
    grpo = transform(fw.resolve_scheme("prime_rl:grpo"), 16)
    assert float(grpo.weight(0.01)) == pytest.approx(15 / 16, rel=1e-14)
    assert math.isclose(float(maxrl.weight(0.01)), 13.994, rel_tol=1e-4)
    assert float(maxrl.objective(0.3)) == pytest.approx(
        sum((1 - 0.7**k) / k for k in range(1, 16)), rel=1e-12
    )


def test_trl_rloo_real_reward_form_is_trls_own_advantage_on_real_rewards():
    """reward_weights [2]: TRL's advantages of real-valued rewards r (its own numbers, float32)
    are the form's 2 rloo(r) on the 0/1 scale; its reward gap is 2, so a KL beta on TRL's
    rewards is beta / 2 on that scale (the card's p*: logit p_ref + 2 / beta, by hand)."""
    from rlxform.core.kl import kl_equilibrium
    from rlxform.core.registry import Scheme

    scheme = Scheme.make("trl_rloo", scale=2.0)
    assert scheme.has_real_reward and scheme.reward_gap == 2.0 and sch.rloo().reward_gap == 1.0
    cases = [
        c
        for c in data("trl_rloo")["cases"]
        if c["settings"] == {"beta": 0.0, "reward_weights": [2.0]}
    ]
    assert len(cases) == 16 and any(r % 1 for c in cases for r in c["rewards"])  # real ones too
    for case in cases:
        m = case["group_size"]
        rewards = np.asarray(case["rewards"], np.float64).reshape(-1, m)
        z = np.asarray(scheme.real_reward_weights(rewards, None, m))
        np.testing.assert_allclose(z.reshape(-1), case["advantages"], rtol=1e-6, atol=1e-6)
    logit = math.log(0.3 / 0.7) + 2.0 / 0.1
    p_star = kl_equilibrium(scheme, 8, 0.1 / scheme.reward_gap, 0.3)
    assert p_star == pytest.approx(1 / (1 + math.exp(-logit)), rel=1e-12)
