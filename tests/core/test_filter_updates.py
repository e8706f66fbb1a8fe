"""Exact expected updates under filters (``rlxform.core.filter_updates``, issue 24).

Routes: brute force over every batch of responses (``filters_brute``: each sample weighted by
the trainer's rule, no count vectors, no transforms); the count-vector enumeration against
``core.aggregation``'s transforms on 0/1 rewards; no filter = ``core.sequences``; the
length drift's sign where the filter alone moves lengths. NumPy float64.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from filters_brute import brute_entropy_mask, brute_token_mass, walk_probs

from rlxform.core import filter_updates as fu
from rlxform.core import filters as F
from rlxform.core import schemes
from rlxform.core import sequences as sq
from rlxform.core.filter_groups import group_weights
from rlxform.core.sequences import SequenceTask, enumerate_sequences
from rlxform.validation import InputError

SMALL = SequenceTask(3, 3, "parity")  # 15 responses (8 truncated), 7 prefixes
GRPO = schemes.get("grpo")  # sample std, eps 1e-4: TRL's rule
RLOO = schemes.get("rloo")
AGGS = ("seq-mean-token-sum", "seq-mean-token-mean", "token-mean")


def _table(seed: int, task=SMALL, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    return scale * rng.standard_normal((sq.num_prefixes(task), task.vocab_size))


def _mass(scheme, agg, m, table, filters, g=1):
    """pi(y) omega(y) k(y, t) of the exact route."""
    weights = fu.FilteredRule(scheme, agg, m, filters, batch_groups=g).token_weights(table, SMALL)
    probs, _, _ = walk_probs(table, SMALL)
    return probs[:, None] * weights


def _check(exact, brute):
    scale = np.abs(brute).max()
    assert scale > 1e-3  # the case is not trivially zero
    np.testing.assert_allclose(exact, brute, rtol=0, atol=1e-13 * max(scale, 1.0))


def test_no_filter_is_the_sequence_core():
    table = _table(0)
    for agg in AGGS:
        for g in (1, 2):
            exact = fu.FilteredRule(GRPO, agg, 4, batch_groups=g).expected_update(table, SMALL)
            plain = sq.UpdateRule(GRPO, agg, 4, batch_groups=g).expected_update(table, SMALL)
            np.testing.assert_array_equal(exact, plain)


@pytest.mark.parametrize("scheme", [GRPO, RLOO], ids=["grpo", "rloo"])
@pytest.mark.parametrize("agg", AGGS)
def test_mask_truncated_and_range_match_brute_force(scheme, agg):
    """Truncated answers out of the loss and of token-mean's normaliser; a kept-group range."""
    table = _table(1)
    m = 3
    for filters, options in [
        (fu.Filters(mask_truncated=True), {"mask_truncated": True}),
        (fu.Filters(reward_range=(0.2, 0.9)), {"reward_range": (0.2, 0.9)}),
        (
            fu.Filters(reward_range=(0.5, 2.0), refill=False, mask_truncated=True),
            {"reward_range": (0.5, 2.0), "refill": False, "mask_truncated": True},
        ),
    ]:
        brute = brute_token_mass(scheme, agg, m, 1, SMALL, table, **options)
        _check(_mass(scheme, agg, m, table, filters), brute)


@pytest.mark.parametrize(
    "scheme", [GRPO, RLOO, schemes.get("mean_baseline")], ids=["grpo", "rloo", "mean_baseline"]
)
@pytest.mark.parametrize("agg", AGGS)
def test_overlong_shaping_matches_brute_force(scheme, agg):
    """Real rewards r + min(-(L - (L_max - buffer)) / buffer * factor, 0) through the scheme's
    real-reward form, with and without mask_truncated (factor 1 makes a penalised correct
    answer's reward equal an unpenalised wrong one's)."""
    table = _table(2)
    for buffer, factor, masked in [(2.0, 0.5, False), (2.0, 1.0, True), (1.5, 0.3, False)]:
        filters = fu.Filters(overlong_buffer=buffer, overlong_factor=factor, mask_truncated=masked)
        brute = brute_token_mass(
            scheme, agg, 3, 1, SMALL, table, overlong=(buffer, factor), mask_truncated=masked
        )
        _check(_mass(scheme, agg, 3, table, filters), brute)


def test_overlong_through_a_trainers_own_advantage_matches_brute_force():
    """verl's own advantage code (``frameworks.advantages``, (r - mean) / (Bessel std + 1e-6))
    as the real-reward Z, and the registry's real-reward form of the verl rule: both routes
    give brute force's token mass."""
    from rlxform.frameworks import resolve_scheme
    from rlxform.frameworks.advantages import advantages

    scheme = resolve_scheme("verl:grpo")
    assert scheme.has_real_reward  # declared with the rule (issue 24)

    def rule(rows):
        return advantages("verl", "grpo", rows.reshape(-1), rows.shape[1]).reshape(rows.shape)

    table = _table(6)
    filters = fu.Filters(overlong_buffer=2.0, overlong_factor=0.5, mask_truncated=True)
    for agg in AGGS:
        brute = brute_token_mass(
            scheme,
            agg,
            3,
            1,
            SMALL,
            table,
            overlong=(2.0, 0.5),
            mask_truncated=True,
            advantage=rule,
        )
        own = fu.FilteredRule(scheme, agg, 3, filters, advantage=rule)
        _check(walk_probs(table, SMALL)[0][:, None] * own.token_weights(table, SMALL), brute)
        registry = fu.FilteredRule(scheme, agg, 3, filters).token_weights(table, SMALL)
        _check(walk_probs(table, SMALL)[0][:, None] * registry, brute)


def test_token_mean_over_two_groups_matches_brute_force():
    """G = 2 groups share the normaliser: truncation, overlong and a refilled range."""
    table = _table(3)
    m = 2
    cases = [
        (fu.Filters(mask_truncated=True), {"mask_truncated": True}),
        (fu.Filters(overlong_buffer=2.0, overlong_factor=0.5), {"overlong": (2.0, 0.5)}),
        (fu.Filters(reward_range=(0.1, 0.9)), {"reward_range": (0.1, 0.9)}),
    ]
    for filters, options in cases:
        brute = brute_token_mass(RLOO, "token-mean", m, 2, SMALL, table, **options)
        _check(_mass(RLOO, "token-mean", m, table, filters, g=2), brute)


@pytest.mark.parametrize("mode", F.VLLM_MODES)
def test_vllm_and_entropy_factors_match_brute_force(mode):
    """The vLLM expected weight per answer (sequence modes) or per token (token modes) and the
    entropy mask of the population quantile multiply each sample's terms."""
    table = _table(4, scale=1.5)
    enum = enumerate_sequences(SMALL)
    filters = fu.Filters(
        vllm_mode=mode,
        vllm_cap=1.2,
        mismatch_sd=0.3,
        mismatch_mean=0.02,
        entropy_quantile=0.6,
        mask_truncated=True,
    )
    keep = F.stopped(SMALL)
    weight = F.vllm_law(mode, enum.lengths, 1.2, None, 0.02, 0.3).expected_weight
    token = brute_entropy_mask(table, SMALL, 0.6, keep).astype(float)
    answer = weight if mode.startswith("sequence") else None
    if answer is None:
        token = token * weight[0]
    brute = brute_token_mass(
        GRPO,
        "seq-mean-token-mean",
        3,
        1,
        SMALL,
        table,
        answer_factor=answer,
        token_factor=token,
        mask_truncated=True,
    )
    _check(_mass(GRPO, "seq-mean-token-mean", 3, table, filters), brute)
    assert 0 < token[keep].mean() < 1  # the mask keeps some tokens and drops others


def test_count_vectors_agree_with_the_transforms_on_binary_rewards():
    """The enumeration over answer types (overlong's route) with a zero penalty is the
    transform route of ``core.aggregation``."""
    table = _table(5)
    probs, _, _ = walk_probs(table, SMALL)
    enum = enumerate_sequences(SMALL)
    keep = np.ones(enum.lengths.shape, bool)
    for agg in AGGS:
        for g in (1, 2):
            for scheme in (GRPO, RLOO):
                rule = sq.UpdateRule(scheme, agg, 4, batch_groups=g)
                args = (rule, probs, enum.correct.astype(float), SMALL)
                counted = group_weights(*args, binary=False, keep_own=keep)
                transformed = group_weights(*args, binary=True, keep_own=keep)
                np.testing.assert_allclose(counted, transformed, rtol=0, atol=1e-14)


def test_length_drift_of_the_default_vllm_mask():
    """seq-mean-token-sum has no length drift on first_token; TRL's default sequence mask adds
    one like 1/L: correct answers shorten and wrong ones lengthen (the mask drops long answers
    more often, so their terms, of either sign, shrink)."""
    task = SequenceTask(4, 8, "first_token")
    plain = fu.FilteredRule(GRPO, "seq-mean-token-sum", 8)
    drift = plain.length_drift(task, 0.3)
    assert abs(drift.drift_correct) < 1e-12 and abs(drift.drift_wrong) < 1e-12
    strong = fu.Filters(vllm_mode="sequence_mask", mismatch_sd=0.5)
    drift = dataclasses.replace(plain, filters=strong).length_drift(task, 0.3)
    assert drift.drift_correct < 0 and drift.drift_wrong > 0 and drift.drift_p > 0
    token = fu.Filters(vllm_mode="token_truncate", mismatch_sd=0.5)
    truncate = dataclasses.replace(plain, filters=token).length_drift(task, 0.3)
    assert abs(truncate.drift_correct) < 1e-12  # token modes: a constant factor


def test_overlong_needs_a_real_reward_form():
    overlong = fu.Filters(overlong_buffer=1.0)
    rule = fu.FilteredRule(schemes.get("rejection_sampling"), "seq-mean-token-sum", 4, overlong)
    with pytest.raises(InputError, match="scheme='rejection_sampling' is invalid with overlong"):
        rule.token_weights(_table(0), SMALL)
    with pytest.raises(InputError, match=r"reward_range=0\.5 is invalid"):
        fu.Filters(reward_range=0.5)
    with pytest.raises(InputError, match=r"entropy_quantile=0\.0 is invalid"):
        fu.Filters(entropy_quantile=0)


def test_the_rule_is_a_validated_hashable_record():
    """Equal inputs make equal, hashable rules (aggregation aliases in canonical spelling); a
    wrong field is refused once, by name, at construction."""
    rule = fu.FilteredRule(GRPO, "token-mean", 4, fu.Filters(mask_truncated=True), batch_groups=2)
    same = fu.FilteredRule(GRPO, "token-mean", 4, fu.Filters(mask_truncated=True), batch_groups=2)
    assert rule == same and hash(rule) == hash(same) and len({rule, same}) == 1
    assert rule != fu.FilteredRule(GRPO, "token-mean", 4, batch_groups=2)
    assert isinstance(rule, sq.UpdateRule)
    assert fu.FilteredRule(GRPO, "trl:dapo", 4, batch_groups=2) == dataclasses.replace(
        rule, filters=fu.Filters()
    )
    cases = [
        ({"filters": {"mask_truncated": True}}, r"filters=\{'mask_truncated': True\} is invalid"),
        ({"advantage": 3}, r"advantage=3 is invalid: must be None or a function"),
        ({"batch_groups": 0}, r"batch_groups=0 is invalid"),
        ({"group_size": 0}, r"group_size=0 is invalid"),
        ({"aggregation": "sum"}, r"aggregation='sum' is invalid"),
        ({"scheme": "grpo"}, r"scheme='grpo' is invalid: must be an rlxform"),
    ]
    base = {"scheme": GRPO, "aggregation": "token-mean", "group_size": 4}
    for change, message in cases:
        with pytest.raises(InputError, match=message):
            fu.FilteredRule(**{**base, **change})
