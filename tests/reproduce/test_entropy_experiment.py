"""entropy_equilibrium: p* of the equilibrium part is entropy_equilibrium's (cheap, NumPy); the
tiny run's seed means follow exact ascent within SE (slow_cases.txt)."""

from __future__ import annotations

import dataclasses

import numpy as np

from rlxform.core.entropy import entropy_equilibrium
from rlxform.reproduce.entropy import run_entropy_equilibrium


def _table(result):
    return result.table if hasattr(result, "table") else result


def test_equilibrium_part_is_the_core_root_and_falls_with_c(tmp_path):
    config = dataclasses.replace(run_entropy_equilibrium.configs["tiny"], sim_coefs=())
    table = _table(run_entropy_equilibrium(config, tmp_path))
    assert set(table["part"].tolist()) == {"equilibrium"}
    for scheme in config.schemes:
        for m in config.group_sizes:
            rows = (table["scheme"] == scheme.label) & (table["M"] == m)
            coefs, p_star = table["coef"][rows], table["p_star"][rows]
            want = [entropy_equilibrium(scheme, m, c, init_p=config.init_p) for c in coefs]
            np.testing.assert_allclose(p_star, want, rtol=0, atol=1e-12)
            assert np.all(np.diff(p_star[np.argsort(coefs)]) < 0)  # a larger bonus holds p lower
    reinforce = table["scheme"] == "reinforce"
    c = table["coef"][reinforce]
    np.testing.assert_allclose(table["p_star"][reinforce], 1 / (1 + np.exp(-1 / c)), atol=1e-12)


def test_tiny_run_follows_exact_ascent(tmp_path):
    config = run_entropy_equilibrium.configs["tiny"]
    table = _table(run_entropy_equilibrium(config, tmp_path))
    tr = table["part"] == "trajectory"
    gap = np.abs(table["mean_p"][tr] - table["exact_mean_p"][tr])
    assert np.all(gap <= np.maximum(5 * table["mean_p_se"][tr], 1e-5))
    for c in config.sim_coefs:
        rows = tr & (table["coef"] == c)
        p_star = table["p_star"][rows]
        if c == 0:
            assert np.all(np.isnan(p_star))
        else:
            assert p_star[0] == entropy_equilibrium("grpo", 8, c, init_p=config.init_p)
