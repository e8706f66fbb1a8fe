"""Tests for rlxform.results.figures and outputs: formats and save_result."""

from __future__ import annotations

import numpy as np
import pytest

from rlxform import results


def test_save_result_writes_the_requested_figure_format(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.subplots().plot([0, 1], [0, 1])
    table = {"x": np.array([0.0, 1.0])}
    svg = results.FigureFormat("svg", 50)
    res = results.save_result("demo", {"a": 1}, table, fig, tmp_path, 0.0, svg)
    assert res.paths["figure"] == res.paths["svg"] == tmp_path / "demo.svg"
    assert res.paths["svg"].read_text().lstrip().startswith("<?xml")
    assert not (tmp_path / "demo.png").exists()
    res = results.save_result("demo", {"a": 1}, table, fig, tmp_path, 0.0)
    assert res.paths["png"].read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="format='gif' is invalid"):
        results.check_figure_format("gif", 100)
    with pytest.raises(ValueError, match="dpi=True is invalid"):
        results.check_figure_format("png", True)
