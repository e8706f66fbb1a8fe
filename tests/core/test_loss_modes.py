"""Loss-mode reducer: hand-computed cases, the frameworks' own per-token gradients, the table.

Three routes: small cases computed by hand; rlxform's NumPy restatement against the gradient
autograd gave through each framework's own loss (tests/data/loss_modes, verl 0.9.1, TRL 1.16.0,
OpenRLHF 0.11.2; every case of the three files, at ratio 1 and off-policy); and, at ratio 1,
the framework's gradient read as -A_i c(L_i) with c taken from the reducer's ``length_factor``
alone. verl clip_cov zeroes tokens drawn by torch.randperm: the draw is read off verl's gradient,
checked (exactly min(k, candidates) tokens, all candidates) and then matched; the expectation over
draws that rlxform computes is checked by enumerating the draws of a small case. NumPy only.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from rlxform.core import loss_modes as lm
from rlxform.core.loss_modes import verl as verl_grad
from rlxform.core.loss_modes.batch import TokenBatch
from rlxform.validation import InputError

DATA = Path(__file__).resolve().parents[1] / "data" / "loss_modes"
FRAMEWORKS = ("verl", "trl", "openrlhf")
TRL_MAX_COMPLETION_LENGTH = 16  # trl.json conventions


def _load(framework: str) -> dict:
    return json.loads((DATA / f"{framework}.json").read_text())


FILES = {fw: _load(fw) for fw in FRAMEWORKS}
CASES = [(fw, case) for fw in FRAMEWORKS for case in FILES[fw]["cases"]]


def _padded(rows: list[list[float]], width: int) -> np.ndarray:
    out = np.zeros((len(rows), width))
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def _batch(framework: str, case: dict) -> TokenBatch:
    data = FILES[framework]["batch"]
    width, lengths = data["width"], np.array(data["lengths"])
    old = _padded(data["old_logp"], width)
    new = (
        old.copy() if case["regime"] == "ratio1" else _padded(data["new_logp"]["offpolicy"], width)
    )
    return TokenBatch(
        advantages=np.array(data["advantages"][case["advantages"]]),
        mask=(np.arange(width)[None, :] < lengths[:, None]) * 1.0,
        logp=new,
        old_logp=old,
        rollout_logp=_padded(data["rollout_logp"], width),
        ref_logp=_padded(data["ref_logp"], width),
    )


def _loss_mode(framework: str, case: dict) -> lm.LossMode:
    settings = dict(case["settings"])
    if framework == "verl":
        return lm.reduce("verl", case["loss_mode"], loss_agg_mode=case["loss_agg_mode"], **settings)
    if framework == "trl":
        settings.setdefault("max_completion_length", TRL_MAX_COMPLETION_LENGTH)
        return lm.reduce("trl", case["loss_type"], **settings)
    return lm.reduce("openrlhf", case["policy_loss_type"], **settings)


def _gradient(framework: str, case: dict, dropped=None) -> np.ndarray:
    batch = _batch(framework, case)
    if case["kind"] == "kl" and framework == "verl":
        kl_type = case["settings"]["kl_loss_type"]
        return lm.kl_term_gradient("verl", kl_type, batch, loss_agg_mode=case["loss_agg_mode"])
    if case["kind"] == "kl" and framework == "openrlhf":
        s = case["settings"]
        return lm.kl_term_gradient(
            "openrlhf", s["estimator"], batch, unbiased_gradient=s["unbiased_gradient"]
        )
    return lm.token_gradient(_loss_mode(framework, case), batch, dropped=dropped)


def _theirs(framework: str, case: dict) -> np.ndarray:
    return _padded(case["grad"], FILES[framework]["batch"]["width"])


# ---------------------------------------------------------------- hand-computed cases

A2 = np.array([1.0, -0.5])  # two answers of lengths 2 and 3, padded to width 4
MASK2 = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], float)
LOGP2 = np.log(np.array([[0.2, 0.3, 0.5, 0.5], [0.1, 0.4, 0.25, 0.5]]))


def _hand_batch(log_ratio=None) -> TokenBatch:
    old = LOGP2 if log_ratio is None else LOGP2 - np.asarray(log_ratio)
    return TokenBatch(A2, MASK2, LOGP2, old)


def _per_answer(values) -> np.ndarray:
    return np.array([[values[0]] * 2 + [0, 0], [values[1]] * 3 + [0]])


@pytest.mark.parametrize(
    "agg, factors",
    [
        ("token-mean", [1 / 5, 1 / 5]),  # N = 5 tokens
        ("token-sum", [1.0, 1.0]),
        ("seq-mean-token-sum", [1 / 2, 1 / 2]),  # B = 2 answers
        ("seq-mean-token-mean", [1 / (2 * 2), 1 / (2 * 3)]),  # 1/(B L_i)
        ("seq-mean-token-sum-norm", [1 / (2 * 4), 1 / (2 * 4)]),  # 1/(B W), W = 4
    ],
)
def test_verl_aggregations_by_hand(agg, factors):
    for mode in ("vanilla", "gpg", "cispo", "dppo_tv", "gspo"):
        grad = lm.token_gradient(lm.reduce("verl", mode, loss_agg_mode=agg), _hand_batch())
        expected = _per_answer(-A2 * factors)
        np.testing.assert_allclose(grad, expected, rtol=5e-8, atol=0, err_msg=mode)


def test_sapo_and_geo_mean_ignore_the_aggregation_by_hand():
    for mode in ("sapo", "geo_mean"):
        for agg in ("token-mean", "seq-mean-token-sum"):
            grad = lm.token_gradient(lm.reduce("verl", mode, loss_agg_mode=agg), _hand_batch())
            np.testing.assert_allclose(grad, _per_answer([-1 / 4, 0.5 / 6]), rtol=5e-8)


def test_trl_loss_types_by_hand():
    expected = {  # -A_i c(L_i), B = 2, N = 5, max_completion_length = 8
        "grpo": [-1 / 4, 0.5 / 6],
        "sapo": [-1 / 4, 0.5 / 6],
        "bnpo": [-1 / 5, 0.5 / 5],
        "dapo": [-1 / 5, 0.5 / 5],
        "vespo": [-1 / 5, 0.5 / 5],
        "cispo": [-0.2 / 5, 0.2 * 0.5 / 5],  # epsilon_high unset: the cap is epsilon = 0.2
        "dr_grpo": [-1 / 16, 0.5 / 16],
        "luspo": [-1 / 2, 0.5 / 2],
    }
    for loss_type, values in expected.items():
        for level in ("token", "sequence"):
            mode = lm.reduce(
                "trl", loss_type, max_completion_length=8, importance_sampling_level=level
            )
            grad = lm.token_gradient(mode, _hand_batch())
            np.testing.assert_allclose(grad, _per_answer(values), rtol=1e-14, err_msg=loss_type)


def test_clips_by_hand():
    # answer 0 (A = 1): r = 1.5 above 1 + 0.2: clipped, zero gradient; r = 1.1 inside: -A r / N.
    # answer 1 (A = -0.5): r = 0.5 below 0.8: clipped; r = 2.5: unclipped (-A r = 1.25 < dual
    # bound -A c = 1.5); r = 4: past the dual clip, zero gradient.
    ratio = np.array([[1.5, 1.1, 1, 1], [0.5, 2.5, 4.0, 1]])
    batch = _hand_batch(np.log(ratio))
    grad = lm.token_gradient(lm.reduce("verl", "vanilla"), batch)
    expected = np.array([[0, -1.1, 0, 0], [0, 0.5 * 2.5, 0, 0]]) / 5
    np.testing.assert_allclose(grad, expected, rtol=1e-14, atol=1e-17)
    # OpenRLHF: same clip without dual clip: r = 4 learns; with dual_clip = 3 it stops
    plain = lm.token_gradient(lm.reduce("openrlhf", "ppo"), batch)
    np.testing.assert_allclose(plain[1, 2], 0.5 * 4 / 5, rtol=1e-14)
    dual = lm.token_gradient(lm.reduce("openrlhf", "ppo", dual_clip=3.0), batch)
    np.testing.assert_allclose(dual, expected, rtol=1e-14, atol=1e-17)
    # CISPO (verl): -A clamp(r, 0.8, 1.2) / N on every token, no zero
    cispo = lm.token_gradient(lm.reduce("verl", "cispo"), batch)
    clamped = np.clip(ratio, 0.8, 1.2) * MASK2
    np.testing.assert_allclose(cispo, -A2[:, None] * clamped / 5, rtol=1e-14)
    # TRL two-sided delta = 2: A < 0 with r = 2.5 and 4 capped at 2, zero gradient
    trl = lm.token_gradient(lm.reduce("trl", "dapo", delta=2.0), batch)
    np.testing.assert_allclose(trl, np.array([[0, -1.1, 0, 0], [0, 0, 0, 0]]) / 5, atol=1e-17)


def test_sequence_ratio_by_hand():
    # answer 0's log-ratios 0.05, 0.15: s = exp(0.1) = 1.105 < 1.2, every token -A s / (B L)
    batch = _hand_batch([[0.05, 0.15, 0, 0], [0, 0, 0, 0]])
    grad = lm.token_gradient(lm.reduce("trl", "grpo", importance_sampling_level="sequence"), batch)
    s = math.exp(0.1)
    np.testing.assert_allclose(grad[0, :2], [-s / 4] * 2, rtol=1e-14)
    # verl gspo: the token's own gradient times the sequence ratio, under token-mean
    verl = lm.token_gradient(lm.reduce("verl", "gspo"), batch)
    np.testing.assert_allclose(verl[0, :2], [-s / 5] * 2, rtol=1e-14)
    # GMPO: exp(mean log-ratio), log-ratios clipped at +0.2 for A > 0: 0.3 -> 0.2 has no gradient
    batch = _hand_batch([[0.3, 0.1, 0, 0], [0, 0, 0, 0]])
    gmpo = lm.token_gradient(lm.reduce("verl", "geo_mean"), batch)
    np.testing.assert_allclose(gmpo[0, :2], [0.0, -math.exp(0.15) / 4], rtol=5e-8)


@pytest.mark.parametrize(
    ("correction", "scale"),
    [
        ({"loss_type": "reinforce", "rollout_is": "token", "rollout_is_threshold": 0.5}, 0.5),
        ({"loss_type": "reinforce", "rollout_is": "sequence", "rollout_is_threshold": 0.5}, 0.5),
        ({"loss_type": "reinforce", "rollout_is": "token", "rollout_is_threshold": "1.1_2"}, 0.0),
        (
            {
                "loss_type": "reinforce",
                "rollout_is": "token",
                "rollout_is_threshold": 0.5,
                "rollout_is_batch_normalize": True,
            },
            1.0,
        ),
        ({"rollout_is": "token", "rollout_is_threshold": 0.5}, 1.0),  # ppo_clip: no IS weight
        ({"rollout_rs": "token_k1", "rollout_rs_threshold": "1.1_1.3"}, 0.0),
        ({"rollout_rs": "seq_max_k3", "rollout_rs_threshold": 0.01}, 1.0),
    ],
)
def test_bypass_mode_at_ratio_one_by_hand(correction, scale):
    """Bypass weights and rejection read pi_theta / pi_rollout = 1: TIS caps it, bands keep it."""
    loss = lm.reduce("verl", "bypass_mode", rollout_correction=correction)
    assert loss.scale == scale and loss.length_factor == "token-mean"
    grad = lm.token_gradient(loss, _hand_batch())
    np.testing.assert_allclose(grad, _per_answer(-A2 / 5) * scale, rtol=5e-8, atol=1e-300)


def test_clip_cov_expectation_is_the_average_over_draws():
    """Dropping each candidate with probability k / candidates is the mean over verl's draws."""
    loss = lm.reduce("verl", "clip_cov", clip_cov_ratio=0.25, clip_cov_lb=-1.0, clip_cov_ub=1.0)
    batch = _hand_batch()
    settings = dict(loss.settings)
    adv = A2[:, None] * MASK2
    candidates, count = verl_grad.clip_cov_candidates(
        settings, np, adv, LOGP2, np.zeros((2, 4)), MASK2, 0.2, 0.2
    )
    assert count == 1.0 and candidates.sum() == 5  # int(0.25 * 5) = 1 of 5 tokens
    draws = []
    for i, t in zip(*np.nonzero(candidates), strict=True):
        dropped = np.zeros((2, 4))
        dropped[i, t] = 1.0
        draws.append(lm.token_gradient(loss, batch, dropped=dropped))
    np.testing.assert_allclose(np.mean(draws, axis=0), lm.token_gradient(loss, batch), rtol=1e-14)
    np.testing.assert_allclose(lm.token_gradient(loss, batch), _per_answer(-A2 / 5) * 0.8)


# ---------------------------------------------------------------- the frameworks' own numbers


def _tolerances(framework: str, case: dict) -> dict:
    theirs = _theirs(framework, case)
    if framework == "openrlhf" and case["kind"] == "kl":  # compute_approx_kl runs in float32
        return {"rtol": 1e-6, "atol": 1e-6 * np.abs(theirs).max()}
    return {"rtol": 1e-12, "atol": 1e-15 * np.abs(theirs).max()}


CLIP_COV = "verl clip_cov drops tokens drawn by torch.randperm: matched given the draw"


def _groups(cases: list[tuple[str, dict]]) -> dict[str, list[tuple[str, dict]]]:
    """Cases by framework, kind and mode (one test per group, the case id in each message)."""
    groups: dict[str, list[tuple[str, dict]]] = {}
    for framework, case in cases:
        mode = case.get("loss_mode") or case.get("loss_type") or case.get("policy_loss_type")
        groups.setdefault(f"{framework}:{case['kind']}:{mode}", []).append((framework, case))
    return groups


GROUPS = _groups(CASES)


@pytest.mark.parametrize("group", GROUPS)
def test_matches_the_framework_gradient(group):
    for framework, case in GROUPS[group]:
        theirs = _theirs(framework, case)
        dropped = None
        if case.get("loss_mode") == "clip_cov":
            dropped = _clip_cov_draw(framework, case, theirs)
        mine = _gradient(framework, case, dropped)
        tolerances = _tolerances(framework, case)
        np.testing.assert_allclose(mine, theirs, **tolerances, err_msg=case["id"])
        assert np.all(mine[_batch(framework, case).mask == 0] == 0), case["id"]


def _clip_cov_draw(framework: str, case: dict, theirs: np.ndarray) -> np.ndarray:
    """The tokens verl's random draw zeroed, read off its gradient and checked: exactly
    min(k, candidates) of them, all candidates (the random choice is not restated)."""
    loss, batch = _loss_mode(framework, case), _batch(framework, case)
    settings = dict(loss.settings)
    adv = batch.advantages[:, None] * batch.mask
    candidates, count = verl_grad.clip_cov_candidates(
        settings,
        np,
        adv,
        batch.logp,
        batch.logp - batch.old_logp,
        batch.mask,
        settings["clip_ratio_low"],
        settings["clip_ratio_high"],
    )
    undropped = lm.token_gradient(loss, batch, dropped=np.zeros_like(batch.mask))
    dropped = (theirs == 0) & (undropped != 0)
    assert np.all(candidates[dropped] == 1), CLIP_COV
    assert dropped.sum() == min(count, candidates.sum()), CLIP_COV
    return dropped * 1.0


# ---------------------------------------------------------------- the table, independently


def _class_factor(loss: lm.LossMode, lengths: np.ndarray) -> np.ndarray:
    """c(L_i) from the reducer's class and the batch's normalisers (N = 73, B = 12, W = 12)."""
    tokens, answers = lengths.sum(), len(lengths)
    factor = loss.base_length_factor if loss.mode == "clip_cov" else loss.length_factor
    if factor == "token-mean":
        c = np.full(answers, 1.0 / tokens)
    elif factor == "1/L":
        c = 1.0 / (answers * lengths)
    elif factor == "1/L_max":
        if loss.framework == "trl":
            horizon = loss.setting("max_completion_length")
        else:
            horizon = loss.setting("loss_scale_factor") or FILES["verl"]["batch"]["width"]
        c = np.full(answers, 1.0 / (answers * horizon))
    else:
        assert factor == "1"
        token_sum = loss.framework == "verl" and loss.setting("loss_agg_mode") == "token-sum"
        c = np.full(answers, 1.0 if token_sum else 1.0 / answers)
    return c * loss.scale


FIRST_UPDATES = [(f, c) for f, c in CASES if c["regime"] == "ratio1" and c["kind"] != "kl"]
RATIO1 = [
    (f, c)
    for f, c in FIRST_UPDATES
    if _loss_mode(f, c).base_length_factor == _loss_mode(f, c).length_factor
    or c.get("loss_mode") == "clip_cov"
]
CORRECTED = [(f, c) for f, c in FIRST_UPDATES if (f, c) not in RATIO1]


RATIO1_GROUPS, CORRECTED_GROUPS = _groups(RATIO1), _groups(CORRECTED)


@pytest.mark.parametrize("group", RATIO1_GROUPS)
def test_ratio_one_gradient_is_minus_a_times_the_class_factor(group):
    for framework, case in RATIO1_GROUPS[group]:
        loss = _loss_mode(framework, case)
        assert loss.length_factor in lm.FACTORS or loss.mode == "clip_cov"
        lengths = np.array(FILES[framework]["batch"]["lengths"])
        adv = np.array(FILES[framework]["batch"]["advantages"][case["advantages"]])
        factors = zip(adv, _class_factor(loss, lengths), lengths, strict=True)
        expected = _padded([[-a * c] * n for a, c, n in factors], 12)
        theirs = _theirs(framework, case)
        keep = theirs != 0 if loss.mode == "clip_cov" else np.ones_like(theirs, bool)  # the draw
        np.testing.assert_allclose(theirs[keep], expected[keep], rtol=1e-7, err_msg=case["id"])
        observed = case["observed"]
        if observed["per_answer_factor"] and loss.mode != "clip_cov":
            reading = (observed["c_L"], observed["multiplier"])
            assert reading == (loss.length_factor, loss.scale), case["id"]


@pytest.mark.parametrize("group", CORRECTED_GROUPS)
def test_phrases_mark_first_updates_that_are_no_factor_of_length(group):
    """Sampler-mismatch corrections act at ratio 1: the framework's own reading agrees."""
    for framework, case in CORRECTED_GROUPS[group]:
        loss = _loss_mode(framework, case)
        assert loss.length_factor not in lm.FACTORS and not loss.exact_on_policy
        assert case["observed"]["c_L"] not in lm.FACTORS, case["id"]


# each off_policy_only knob moved far from its default
MOVED = dict(
    clip_ratio=0.01, clip_ratio_low=0.01, clip_ratio_high=0.01, clip_ratio_c=1.01, tau_pos=5.0,
    tau_neg=7.0, kl_cov_ratio=0.5, ppo_kl_coef=3.0, dro_beta=9.0, loss_type="reinforce",
    rollout_is="token", rollout_is_threshold=1.5, rollout_is_batch_normalize=True,
    rollout_rs="token_k2", rollout_rs_threshold=0.1, epsilon=0.01, epsilon_high=0.01, delta=1.01,
    importance_sampling_level="sequence", sapo_temperature_pos=5.0, sapo_temperature_neg=7.0,
    vespo_k_pos=5.0, vespo_lambda_pos=0.5, vespo_k_neg=5.0, vespo_lambda_neg=0.5,
    off_policy_mask_threshold=0.0, eps_clip=0.01, eps_clip_low_high=(0.01, 0.01), dual_clip=1.01,
)  # fmt: skip
# dro needs its beta; TRL cispo's default cap 0.2 binds every ratio, hiding the other knobs
BASES = {("verl", "dro"): {"dro_beta": 0.1}, ("trl", "cispo"): {"epsilon_high": 5.0}}
COMPANIONS = {  # knobs that act only together with another one
    "rollout_rs": {"rollout_rs_threshold": 0.1},
    "rollout_rs_threshold": {"rollout_rs": "token_k2"},
    "rollout_is": {"loss_type": "reinforce"},
    "rollout_is_threshold": {"rollout_is": "token", "loss_type": "reinforce"},
    "rollout_is_batch_normalize": {"rollout_is": "sequence", "loss_type": "reinforce"},
}


def _knob_gradients(framework: str, mode: str, knob: str, regime: str):
    """(gradient at the defaults, gradient with the knob moved) on the randn-advantage batch."""
    batch = _batch("verl", {"regime": regime, "advantages": "randn"})
    base_settings = BASES.get((framework, mode), {})
    value = 1.1 if (mode, knob) == ("cispo", "epsilon_high") else MOVED[knob]
    moved = {**base_settings, **COMPANIONS.get(knob, {}), knob: value}
    return (
        lm.token_gradient(lm.reduce(framework, mode, **base_settings), batch),
        lm.token_gradient(lm.reduce(framework, mode, **moved), batch),
    )


def _off_policy_knobs():
    for framework in FRAMEWORKS:
        for mode in lm.table.TABLE[framework]:
            if mode == "clip_cov":
                continue  # its on-policy draw is random
            settings = BASES.get((framework, mode), {})
            for knob in lm.reduce(framework, mode, **settings).off_policy_only:
                yield framework, mode, knob


@pytest.mark.parametrize(("framework", "mode", "knob"), list(_off_policy_knobs()))
def test_off_policy_knobs_act_only_off_policy(framework, mode, knob):
    base, moved = _knob_gradients(framework, mode, knob, "ratio1")
    np.testing.assert_allclose(moved, base, rtol=1e-7, atol=0)
    base, moved = _knob_gradients(framework, mode, knob, "offpolicy")
    assert np.abs(moved - base).max() > 1e-6 * np.abs(base).max()


@pytest.mark.parametrize("framework", ["verl", "openrlhf"])
def test_the_aggregation_acts_on_policy(framework):
    batch = _batch("verl", {"regime": "ratio1", "advantages": "randn"})
    for mode, row in lm.table.TABLE[framework].items():
        settings = {"dro_beta": 0.1} if mode == "dro" else {}
        token = lm.token_gradient(lm.reduce(framework, mode, **settings), batch)
        seq = lm.reduce(framework, mode, loss_agg_mode="seq-mean-token-mean", **settings)
        changed = np.abs(lm.token_gradient(seq, batch) - token).max() > 1e-6 * np.abs(token).max()
        assert changed == ("loss_agg_mode" in row.on_policy), mode


# ---------------------------------------------------------------- the reducer's contract


def test_contract_attributes_and_vocabulary():
    for framework, mode, settings in lm.markdown.ROWS:
        loss = lm.reduce(framework, mode, **settings)
        assert isinstance(loss.off_policy_only, list)
        assert isinstance(loss.exact_on_policy, bool)
        assert loss.exact_on_policy == (loss.length_factor in ("1", "1/L_max"))
        assert loss.base_length_factor in lm.FACTORS
        assert loss.source.startswith(f"{framework} {lm.VERSIONS[framework]} ")
        assert ":" in loss.source and loss.note
        hash(loss)  # a static configuration
    cases = {
        ("verl", "vanilla", "seq-mean-token-sum"): "1",
        ("verl", "vanilla", "token-sum"): "1",
        ("verl", "vanilla", "seq-mean-token-sum-norm"): "1/L_max",
        ("verl", "gspo", "seq-mean-token-mean"): "1/L",
        ("verl", "sapo", "token-sum"): "1/L",
        ("verl", "geo_mean", "seq-mean-token-sum"): "1/L",
        ("openrlhf", "gspo", "token-mean"): "1/L",
    }
    for (framework, mode, agg), factor in cases.items():
        assert lm.reduce(framework, mode, loss_agg_mode=agg).length_factor == factor
    assert lm.reduce("trl", "luspo").length_factor == "1"
    assert lm.reduce("trl", "dr_grpo").exact_on_policy
    assert lm.reduce("trl", "cispo").scale == 0.2
    assert lm.reduce("trl", "cispo", epsilon_high=0.28).scale == 0.28
    assert lm.reduce("trl", "cispo", epsilon_high=5.0).scale == 1.0
    assert "epsilon_high" in lm.reduce("trl", "cispo", epsilon_high=5.0).off_policy_only
    assert lm.reduce("trl", "grpo").off_policy_only == [
        "epsilon",
        "epsilon_high",
        "delta",
        "importance_sampling_level",
    ]
    vllm = lm.reduce("trl", "dapo", use_vllm=True)  # TRL's default correction: sequence_mask, 3
    assert vllm.length_factor not in lm.FACTORS and "sequence_mask" in vllm.length_factor
    assert not vllm.exact_on_policy
    assert lm.reduce("verl", "vanilla", bypass_mode=True).mode == "bypass_mode"
    dotted = lm.reduce("openrlhf", "ppo", **{"actor.loss_agg_mode": "seq-mean-token-mean"})
    assert dotted.length_factor == "1/L"
    rc = lm.reduce("verl", "vanilla", **{"algorithm.rollout_correction.rollout_is": "token"})
    assert rc.length_factor.startswith("not a per-answer factor")
    assert lm.reduce("verl", "vanilla", version="0.9.1").version == "0.9.1"


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (lambda: lm.reduce("nemo", "vanilla"), ["framework='nemo'", "verl"]),
        (lambda: lm.reduce("verl", "ppo"), ["mode='ppo'", "vanilla"]),
        (lambda: lm.reduce("verl", "vanilla", version="0.4.0"), ["version='0.4.0'", "0.9.1"]),
        (lambda: lm.reduce("trl", "grpo", clip_ratio=0.2), ["setting='clip_ratio'", "epsilon"]),
        (lambda: lm.reduce("verl", "vanilla", loss_agg_mode="mean"), ["loss_agg_mode='mean'"]),
        (lambda: lm.reduce("verl", "dro"), ["dro_beta=None"]),
        (lambda: lm.reduce("trl", "grpo", delta=0.5), ["delta=0.5"]),
        (lambda: lm.reduce("verl", "vanilla", rollout_is_threshold="2_1"), ["rollout_is_thr"]),
        (lambda: lm.reduce("verl", "vanilla", rollout_rs="token_k9"), ["token_k9", "token_k1"]),
        (lambda: lm.reduce("trl", "vespo", use_vllm=True), ["sequence_mask", "token_mask"]),
        (lambda: lm.reduce("trl", "grpo", loss_type="dapo"), ["loss_type='dapo'"]),
        (lambda: lm.reduce("openrlhf", "ppo", dual_clip=1.0), ["dual_clip=1.0"]),
        (
            lambda: lm.reduce(
                "openrlhf", "ppo", is_correction_mode="clip", is_correction_level="seq"
            ),
            ["is_correction_mode='clip'"],
        ),
    ],
)
def test_bad_input_names_argument_value_and_allowed(call, names):
    with pytest.raises(InputError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message
    for name in names:
        assert name in message


def test_markdown_table_lists_every_mode_and_is_in_the_topic():
    table = lm.markdown_table()
    for framework, modes in lm.table.TABLE.items():
        for mode in modes:
            assert f"| {framework} {lm.VERSIONS[framework]} | {mode} |" in table
    topic = Path(lm.__file__).parents[2] / "explain" / "topics" / "loss_modes.md"
    assert table in topic.read_text()


def test_import_is_jax_free():
    code = "import sys, rlxform.core.loss_modes; assert 'jax' not in sys.modules"
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_file_case_is_covered():
    assert [len(FILES[fw]["cases"]) for fw in FRAMEWORKS] == [422, 246, 76]
    assert FILES["verl"]["version"] == "0.9.1" and FILES["trl"]["version"] == "1.16.0"
    assert FILES["openrlhf"]["version"] == "0.11.2"
