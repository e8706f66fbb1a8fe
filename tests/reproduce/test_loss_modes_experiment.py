"""Experiment ``loss_modes`` (tiny config): files, columns, the first update is s w_M for every
mode, the second route through the clipped surrogate, and the figure's panels. NumPy only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlxform.core.ppo import ppo_effective_weight
from rlxform.plotting import fig_loss_modes
from rlxform.reproduce import registry
from rlxform.reproduce.loss_modes import LossModesConfig, mode_label, run_loss_modes
from rlxform.results import read_table


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("loss_modes")
    result = registry.run_experiment("loss_modes", "tiny", out)
    for kind in ("csv", "png", "json"):
        assert result.paths[kind].stat().st_size > 0
    meta = json.loads(result.paths["json"].read_text())
    assert meta["experiment"] == "loss_modes"
    return read_table(result.paths["csv"])


def test_first_update_is_s_w_m_for_every_mode(tiny):
    first = tiny["epochs"] == 1
    np.testing.assert_allclose(tiny["logit_weight_per_scale"][first], tiny["w_m"][first], rtol=3e-8)
    modes = set(tiny["mode"].tolist())
    assert {"verl:vanilla", "verl:cispo", "verl:sapo", "trl:cispo"} <= modes
    trl = first & (tiny["mode"] == "trl:cispo")
    assert np.all(tiny["scale"][trl] == 0.2)
    p, m = tiny["p"][trl], LossModesConfig().group_size
    np.testing.assert_allclose(tiny["clip_fraction"][trl], 0.8 * (1 - p**m - (1 - p) ** m))
    assert np.all(tiny["clip_fraction"][first & (tiny["mode"] != "trl:cispo")] == 0.0)


def test_after_epochs_vanilla_is_the_clipped_surrogate(tiny):
    """verl vanilla = the plain clipped surrogate with verl's dual clip 3 (independent route)."""
    config = LossModesConfig()
    rows = (tiny["mode"] == "verl:vanilla") & (tiny["epochs"] == max(config.epochs))
    for p, weight, clipped in zip(
        tiny["p"][rows], tiny["weight"][rows], tiny["clip_fraction"][rows], strict=True
    ):
        want = ppo_effective_weight(
            config.scheme,
            config.group_size,
            float(p),
            learning_rate=config.learning_rates[0],
            epochs=max(config.epochs),
            dual_clip=3.0,
        )
        assert weight == pytest.approx(want.weight, rel=1e-10)
        assert clipped == pytest.approx(want.clip_fraction, rel=1e-10, abs=1e-15)
    assert tiny["clip_fraction"][rows].max() > 0.05  # the clip binds after 4 epochs at lr 0.5


def test_labels_and_figure():
    assert mode_label("trl:cispo", (("epsilon_high", 5.0),)) == "trl:cispo(epsilon_high=5)"
    config = LossModesConfig(modes=(("verl:sapo", ()), ("trl:cispo", ())), num_grid=3)
    fig = fig_loss_modes(run_loss_modes.compute(config, None))
    assert len(fig.axes) == 3
    first = fig.axes[0]
    assert len(first.get_lines()) == 3  # two modes and w_M
    np.testing.assert_allclose(
        first.get_lines()[0].get_ydata(), first.get_lines()[2].get_ydata(), rtol=3e-8
    )
