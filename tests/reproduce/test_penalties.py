"""The KL / PPO experiments at their tiny configs: files, columns and values checked against
closed forms."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rlxform.core import kl
from rlxform.reproduce import penalties as ex
from rlxform.results import read_table


def _check_files(result, name):
    for kind in ("csv", "png", "json"):
        assert result.paths[kind].name == f"{name}.{kind}"
        assert result.paths[kind].stat().st_size > 0
    meta = json.loads(result.paths["json"].read_text())
    assert meta["experiment"] == name
    table = read_table(result.paths["csv"])
    assert set(table) == set(result.table)
    return table


def test_kl_estimators_tiny(tmp_path):
    calls = []
    result = ex.run_kl_estimators(
        ex.run_kl_estimators.configs["tiny"], tmp_path, lambda d, t: calls.append((d, t))
    )
    table = _check_files(result, "kl_estimators")
    assert calls == [(1, 1)]
    assert {"policy", "estimator", "placement", "cosine", "relative_error"} <= set(table)
    assert len(table["policy"]) == 2 * len(kl.ESTIMATORS) * 2  # bandit, sequence; loss, reward
    exact = (table["estimator"] == "k1") & (table["placement"] == "reward")
    assert np.all(table["relative_error"][exact] < 1e-12)
    bandit = table["policy"] == "bandit"
    k2_bandit = bandit & (table["estimator"] == "k2") & (table["placement"] == "loss")
    assert table["relative_error"][k2_bandit][0] < 1e-12


def test_kl_equilibrium_tiny(tmp_path):
    result = ex.run_kl_equilibrium(ex.run_kl_equilibrium.configs["tiny"], tmp_path)
    table = _check_files(result, "kl_equilibrium")
    rows = (table["scheme"] == "reinforce") & (table["divergence"] == "reverse")
    for beta, p_star in zip(table["beta"][rows], table["p_star"][rows], strict=True):
        z = math.log(0.3 / 0.7) + 1.0 / beta
        assert p_star == pytest.approx(1.0 / (1.0 + math.exp(-z)), rel=1e-12)
    rows = (table["scheme"] == "reinforce") & (table["divergence"] == "forward")
    for beta, p_star in zip(table["beta"][rows], table["p_star"][rows], strict=True):
        want = (-(beta - 1) + math.sqrt((beta - 1) ** 2 + 4 * beta * 0.3)) / 2
        assert p_star == pytest.approx(want, rel=1e-12)


def test_ppo_effective_weight_tiny(tmp_path):
    result = ex.run_ppo_effective_weight(ex.run_ppo_effective_weight.configs["tiny"], tmp_path)
    table = _check_files(result, "ppo_effective_weight")
    one = table["epochs"] == 1
    assert np.all(table["clip_fraction"][one] == 0.0)  # the first step is never clipped
    # with one step, the clip range does not matter
    for p in np.unique(table["p"]):
        at_p = one & (table["p"] == p)
        assert np.ptp(table["weight"][at_p]) == 0.0
    unclipped = table["clip_high"] >= 1e6
    assert np.all(table["clip_fraction"][unclipped] == 0.0)
    assert np.any(table["clip_fraction"][~one & ~unclipped] > 0.0)


def test_batch_std_tiny(tmp_path, x64):
    from rlxform.core import schemes
    from rlxform.core.objective import transform

    result = ex.run_batch_std(ex.run_batch_std.configs["tiny"], tmp_path)
    table = _check_files(result, "batch_std")
    # G = 1: batch std is the group's own (Bessel) std, i.e. GRPO's weight
    one = table["G"] == 1
    np.testing.assert_allclose(table["weight"][one], table["group_std_weight"][one], rtol=1e-12)
    for p, w in zip(table["p"][one], table["group_std_weight"][one], strict=True):
        want = float(transform(schemes.grpo(std="sample", eps=1e-4), 4).weight(p))
        assert w == pytest.approx(want, rel=1e-12)
    homogeneous = table["scenario"] == "homogeneous"
    for p in (0.1, 0.5):
        rows = homogeneous & (table["p"] == p)
        dev = np.abs(table["relative_deviation"][rows][np.argsort(table["G"][rows])])
        assert np.all(np.diff(dev) < 0)
