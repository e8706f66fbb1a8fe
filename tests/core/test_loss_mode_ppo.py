"""Loss modes as the simulator runs them: first-update class, effective weight, bad input.

Routes: the frameworks' per-token gradients (``token_gradient``, matched to their own numbers in
tests/data/loss_modes) at ratio 1 against the plain update's aggregation factor of
``core.aggregation`` times ``first_update``'s scale; ``ppo_effective_weight(loss_mode=...)``
against the clipped-surrogate iteration (verl vanilla = dual clip 3, TRL's two-sided delta = a
dual clip at delta, GMPO on one token = a clip in log space) and against hand-written scalar
recursions (CISPO, SAPO). NumPy float64 only: no compilation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rlxform.core import ppo, schemes
from rlxform.core.aggregation import aggregation_factor
from rlxform.core.loss_modes import TokenBatch, reduce, token_gradient
from rlxform.core.loss_modes import simulated as sim_modes
from rlxform.core.objective import transform
from rlxform.validation import InputError

GRPO = schemes.grpo(std="sample", eps=1e-6)
M = 6

# (mode, settings): every simulated mode once, and the settings that change its class or scale
CASES = [
    *[
        (name, {"dro_beta": 0.1} if name == "verl:dro" else {})
        for name in sim_modes.SIMULATED_MODES
    ],
    *[("verl:vanilla", {"loss_agg_mode": agg}) for agg in ("token-sum", "seq-mean-token-sum")],
    ("verl:vanilla", {"loss_agg_mode": "seq-mean-token-mean"}),
    ("verl:gspo", {"loss_agg_mode": "seq-mean-token-sum-norm"}),
    ("verl:cispo", {"loss_agg_mode": "seq-mean-token-sum-norm", "loss_scale_factor": 10.0}),
    ("verl:bypass_mode", {"loss_type": "reinforce", "rollout_is": "token"}),
    ("verl:bypass_mode", {"rollout_rs": "token_k1", "rollout_rs_threshold": "1.5_2.0"}),
    ("trl:grpo", {"importance_sampling_level": "sequence", "delta": 1.5}),
    ("trl:dapo", {"importance_sampling_level": "sequence"}),
    ("trl:dr_grpo", {"max_completion_length": 16}),
    ("trl:cispo", {"epsilon_high": 5.0}),
    ("trl:luspo", {"importance_sampling_level": "sequence"}),
    ("openrlhf:ppo", {"loss_agg_mode": "seq-mean-token-mean", "dual_clip": 3.0}),
]


def _ids(case):
    name, settings = case
    return name + "".join(f",{k}={v}" for k, v in settings.items())


def _batch(rng, groups: int, width: int, offpolicy: float = 0.0) -> TokenBatch:
    lengths = rng.integers(1, width + 1, size=groups * M)
    mask = (np.arange(width)[None, :] < lengths[:, None]) * 1.0
    old = np.log(rng.uniform(0.05, 0.9, size=mask.shape)) * mask
    new = old + offpolicy * rng.normal(size=mask.shape) * mask
    return TokenBatch(rng.normal(size=groups * M), mask, new, old)


@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize(("groups", "width"), [(1, 1), (2, 5)])
def test_first_update_is_the_plain_update_times_its_scale(case, groups, width):
    """At ratio 1 every token gets -A_i s f_i / (G M) (f: ``aggregation_factor``)."""
    name, settings = case
    mode = sim_modes.simulated_mode(name, settings)
    aggregation, scale = sim_modes.first_update(mode, width=width, answers=groups * M)
    batch = _batch(np.random.default_rng(len(name) + width), groups, width)
    lengths = batch.mask.sum(-1).astype(int).reshape(groups, M)
    factor = aggregation_factor(aggregation, lengths, max_length=width, batch_groups=groups)
    want = -batch.advantages[:, None] * scale * factor.reshape(-1, 1) / (groups * M)
    np.testing.assert_allclose(token_gradient(mode, batch), want * batch.mask, rtol=1e-7, atol=0)


def test_first_update_scales_by_hand():
    table = {
        ("trl:cispo", ()): ("token-mean", 0.2),
        ("trl:cispo", (("epsilon_high", 5.0),)): ("token-mean", 1.0),
        ("trl:dr_grpo", ()): ("seq-mean-token-sum-norm", 4 / 512),
        ("verl:vanilla", (("loss_agg_mode", "token-sum"),)): ("seq-mean-token-sum", 2 * M),
        ("verl:sapo", (("loss_agg_mode", "token-sum"),)): ("seq-mean-token-mean", 1.0),
        ("verl:geo_mean", ()): ("seq-mean-token-mean", 1.0),
        ("trl:luspo", ()): ("seq-mean-token-sum", 1.0),
        ("openrlhf:gspo", ()): ("seq-mean-token-mean", 1.0),
        ("verl:bypass_mode", (("rollout_rs", "token_k1"), ("rollout_rs_threshold", "1.5_2"))): (
            "token-mean",
            0.0,
        ),
    }
    for (name, settings), want in table.items():
        mode = sim_modes.simulated_mode(name, dict(settings))
        assert sim_modes.first_update(mode, width=4, answers=2 * M) == want, name


@pytest.mark.parametrize("name", ["verl:vanilla", "verl:cispo", "trl:dapo", "verl:sapo"])
def test_unclipped_twin_is_the_ratio_weighted_gradient(name):
    """Off-policy, the opened mode gives -A r n on every token (token-level ratio modes)."""
    rng = np.random.default_rng(3)
    batch = _batch(rng, 1, 4, offpolicy=0.5)
    mode = sim_modes.simulated_mode(name)
    twin = sim_modes.unclipped(mode)
    on = token_gradient(mode, batch._replace(logp=batch.old_logp))
    ratio = np.exp(batch.logp - batch.old_logp)
    np.testing.assert_allclose(token_gradient(twin, batch), on * ratio, rtol=2e-6, atol=1e-12)
    share = sim_modes.clipped_share(
        np, token_gradient(mode, batch), token_gradient(twin, batch), batch.mask
    )
    assert np.all((share >= 0) & (share <= 1)) and share.max() > 0.05


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_one_step_effective_weight_is_scale_times_w_m(case):
    name, settings = case
    mode = sim_modes.simulated_mode(name, settings)
    _, scale = sim_modes.first_update(mode, width=1, answers=M)
    for p in (0.1, 0.6):
        out = ppo.ppo_effective_weight(GRPO, M, p, learning_rate=0.3, loss_mode=mode)
        w = float(transform(GRPO, M).weight(p))
        want = 0.3 * scale * w * p * (1 - p)  # rel 2e-8: verl and OpenRLHF divide by L + 1e-8
        assert out.delta_theta == pytest.approx(want, rel=2e-8, abs=1e-15)
        degenerate = p**M + (1 - p) ** M
        share = 0.8 * (1 - degenerate) if (name, settings) == ("trl:cispo", {}) else 0.0
        assert out.clip_fraction == pytest.approx(share, rel=1e-12, abs=1e-15)


SURROGATE_TWINS = [  # (mode, settings) = the clipped surrogate with these arguments
    ("verl:vanilla", {}, {"dual_clip": 3.0}),
    ("verl:gspo", {}, {}),
    ("trl:dapo", {"epsilon_high": 0.28}, {"clip_high": 0.28}),
    ("trl:grpo", {"delta": 2.0}, {"dual_clip": 2.0}),
    (
        "openrlhf:ppo",
        {"dual_clip": 3.0, "eps_clip": 0.1},
        {"dual_clip": 3.0, "clip_low": 0.1, "clip_high": 0.1},
    ),
    ("verl:geo_mean", {}, {"clip_low": 1 - math.exp(-0.2), "clip_high": math.exp(0.2) - 1}),
]


@pytest.mark.parametrize(("name", "settings", "clip"), SURROGATE_TWINS, ids=lambda x: str(x))
@pytest.mark.parametrize(("epochs", "minibatches"), [(4, 1), (2, 3)])
def test_multi_epoch_equals_the_clipped_surrogate(name, settings, clip, epochs, minibatches):
    mode = sim_modes.simulated_mode(name, settings)
    for p in (0.15, 0.5, 0.85):
        args = dict(learning_rate=2.5, epochs=epochs, num_minibatches=minibatches)
        a = ppo.ppo_effective_weight(GRPO, M, p, **args, loss_mode=mode)
        b = ppo.ppo_effective_weight(GRPO, M, p, **args, **clip)
        # rel 5e-8: GMPO divides by L + 1e-8 twice (verl's length guard)
        assert a.delta_p == pytest.approx(b.delta_p, rel=5e-8, abs=1e-15)
        assert a.clip_fraction == pytest.approx(b.clip_fraction, rel=1e-10, abs=1e-15)


def _weight_cispo_verl(ratio, adv):
    return np.clip(ratio, 0.8, 1.2)


def _weight_cispo_trl(ratio, adv):
    return np.minimum(ratio, 0.2)


def _weight_sapo(ratio, adv):
    gate = 1.0 / (1.0 + np.exp(-np.where(adv > 0, 1.0, 1.05) * (ratio - 1.0)))
    return 4.0 * gate * (1.0 - gate) * ratio / (1.0 + 1e-8)  # verl's seq-mean over L + 1e-8


@pytest.mark.parametrize(
    ("name", "weight"),
    [
        ("verl:cispo", _weight_cispo_verl),
        ("trl:cispo", _weight_cispo_trl),
        ("verl:sapo", _weight_sapo),
    ],
)
def test_multi_epoch_by_hand(name, weight):
    """theta += lr / M sum_i A_i w(r_i) dlog pi_i per epoch (one minibatch), every S."""
    lr, epochs, p = 3.0, 4, 0.3
    a_table, b_table = GRPO.tables(M)
    theta0 = math.log(p / (1 - p))
    want = 0.0
    for s in range(M + 1):
        theta = theta0
        for _ in range(epochs):
            q = 1 / (1 + math.exp(-theta))
            r_c, r_w = q / p, (1 - q) / (1 - p)
            step = s * a_table[s] * weight(r_c, a_table[s]) * (1 - q)
            step -= (M - s) * b_table[s] * weight(r_w, b_table[s]) * q
            theta += lr * step / M
        want += stats.binom.pmf(s, M, p) * (1 / (1 + math.exp(-theta)) - p)
    out = ppo.ppo_effective_weight(
        GRPO, M, p, learning_rate=lr, epochs=epochs, loss_mode=sim_modes.simulated_mode(name)
    )
    assert out.delta_p == pytest.approx(want, rel=1e-10)
    assert out.clip_fraction > 0.0


@pytest.mark.parametrize(
    ("name", "settings", "fragment"),
    [
        ("verl:nope", {}, "loss_mode='verl:nope' is invalid: must be one of verl:vanilla"),
        ("gspo", {}, "loss_mode='gspo' is invalid"),
        (3, {}, "loss_mode=3 is invalid"),
        ("verl:clip_cov", {}, "loss_mode='verl:clip_cov' is invalid in the simulator"),
        (
            "verl:vanilla",
            {"clip_ratio_hi": 0.3},
            "loss_settings=clip_ratio_hi=0.3 is invalid: not a setting of verl:vanilla; "
            "must be one of loss_agg_mode",
        ),
        (
            "verl:vanilla",
            {"clip_ratio_high": -1.0},
            "loss_settings=clip_ratio_high=-1.0 is invalid",
        ),
        (
            "verl:vanilla",
            {"loss_agg_mode": "mean"},
            "loss_settings=loss_agg_mode='mean' is invalid: must be one of token-mean",
        ),
        ("verl:dro", {}, "loss_settings=dro_beta=None is invalid"),
        (
            "verl:vanilla",
            {"rollout_is": "token"},
            "loss_settings=rollout_is='token' is invalid in the simulator",
        ),
        ("trl:grpo", {"use_vllm": True}, "loss_settings=use_vllm=True is invalid in the simulator"),
        ("trl:grpo", {"beta": 0.1}, "loss_settings=beta=0.1 is invalid in the simulator"),
        (
            "trl:grpo",
            {"top_entropy_quantile": 0.2},
            "loss_settings=top_entropy_quantile=0.2 is invalid",
        ),
        (
            "openrlhf:ppo",
            {"is_correction_level": "token"},
            "is_correction_level='token' is invalid in the simulator",
        ),
    ],
)
def test_bad_modes_and_settings_name_key_value_and_allowed(name, settings, fragment):
    with pytest.raises(InputError, match=None) as err:
        sim_modes.simulated_mode(name, settings)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_settings_normalised_and_checked():
    assert sim_modes.normalise_settings({"b": [1, 2], "a": 1}) == (("a", 1), ("b", (1, 2)))
    with pytest.raises(InputError, match=r"loss_settings=a=\{.*must be a number, string"):
        sim_modes.normalise_settings({"a": {"x": 1}})
    with pytest.raises(InputError, match="settings need a loss mode"):
        sim_modes.configure(None, {"delta": 2.0}, 1, M)
    with pytest.raises(InputError, match="dynamic_sampling=True is invalid with loss_mode"):
        sim_modes.configure("trl:grpo", {}, 1, M, True)
    mode = reduce("verl", "gspo", clip_ratio_high=0.28)
    name, pairs, aggregation, (again, scale) = sim_modes.configure(mode, (), 1, M)
    assert (name, pairs, aggregation, scale) == (
        "verl:gspo",
        (("clip_ratio_high", 0.28),),
        "token-mean",
        1.0,
    )
    assert again == mode
    old = reduce("trl", "grpo", version="1.9.2")
    with pytest.raises(InputError, match=r"loss_mode='trl:grpo' of trl 1\.9\.2 is invalid"):
        sim_modes.configure(old, (), 1, M)


def test_effective_weight_refuses_clip_arguments_with_a_mode():
    mode = sim_modes.simulated_mode("trl:grpo")
    with pytest.raises(InputError, match=r"clip_high=0\.28 is invalid with loss_mode"):
        ppo.ppo_effective_weight(GRPO, M, 0.3, learning_rate=0.1, clip_high=0.28, loss_mode=mode)
    with pytest.raises(
        InputError, match="loss_mode='trl:grpo' is invalid: must be None or a LossMode"
    ):
        ppo.ppo_effective_weight(GRPO, M, 0.3, learning_rate=0.1, loss_mode="trl:grpo")
