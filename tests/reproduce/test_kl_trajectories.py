"""kl_trajectories (tiny): columns, simulated vs exact within SE, p* where beta > 0."""

import numpy as np

from rlxform.core import schemes
from rlxform.core.kl import kl_equilibrium
from rlxform.reproduce.kl_trajectories import run_kl_trajectories


def test_kl_trajectories_tiny(tmp_path):
    result = run_kl_trajectories(run_kl_trajectories.configs["tiny"], tmp_path)
    table = result.table if hasattr(result, "table") else result
    beta = np.asarray(table["beta"], float)
    gap = np.abs(np.asarray(table["mean_p"]) - np.asarray(table["exact_mean_p"]))
    se = np.asarray(table["mean_p_se"])
    assert np.all(gap <= np.maximum(5 * se, 1e-5))
    p_star = np.asarray(table["p_star"], float)
    assert np.all(np.isnan(p_star[beta == 0]))
    expected = kl_equilibrium(schemes.grpo(), 8, 2.0, 0.3, estimator="k2", placement="loss")
    np.testing.assert_allclose(p_star[beta == 2.0], expected)
