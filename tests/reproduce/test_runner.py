"""The shared run/save pattern: Columns broadcasting and the experiment decorator's files."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from rlxform.reproduce.runner import Columns, experiment
from rlxform.results import FigureFormat, read_table

ROOT = Path(__file__).resolve().parents[2]


def test_columns_broadcast_scalars_and_concatenate_blocks():
    cols = Columns()
    cols.add(scheme="grpo", M=4, p=np.array([0.25, 0.5]))
    cols.add(scheme="rejection_sampling", M=16, p=np.array([0.75]))
    table = cols.table()
    assert list(table) == ["scheme", "M", "p"]
    assert table["scheme"].tolist() == ["grpo", "grpo", "rejection_sampling"]
    assert table["M"].tolist() == [4, 4, 16] and table["M"].dtype.kind == "i"
    assert table["p"].tolist() == [0.25, 0.5, 0.75] and table["p"].dtype == np.float64


def test_columns_scalar_only_block_is_one_row_and_bad_blocks_raise():
    cols = Columns()
    cols.add(name="a", value=1.5)
    cols.add(name="b", value=2.5)
    assert cols.table()["value"].tolist() == [1.5, 2.5]
    with pytest.raises(ValueError, match="differ"):
        cols.add(name="c")
    with pytest.raises(ValueError, match="different lengths"):
        Columns().add(x=np.zeros(2), y=np.zeros(3))


def _plot(table):
    fig = Figure()
    fig.subplots().plot(table["x"], table["y"])
    return fig


def test_experiment_decorator_writes_table_figure_and_metadata(tmp_path):
    calls = []

    @experiment("demo", _plot)
    def run_demo(config, progress=None):
        calls.append((config, progress))
        x = np.arange(3.0)
        return {"x": x, "y": config["scale"] * x}, {"note": "hi"}

    result = run_demo({"scale": 2.0}, tmp_path, None, FigureFormat("svg", 50))
    assert calls == [({"scale": 2.0}, None)]
    assert result.paths["figure"] == tmp_path / "demo.svg"
    assert read_table(tmp_path / "demo.csv")["y"].tolist() == [0.0, 2.0, 4.0]
    meta = json.loads((tmp_path / "demo.json").read_text())
    assert meta["experiment"] == "demo" and meta["note"] == "hi"
    assert meta["config"] == {"scale": 2.0} and meta["wall_time_s"] >= 0.0
    assert run_demo.compute.__name__ == "run_demo"


def test_experiment_scripts_hold_no_config():
    """Each experiments/*.py only names its registry entry (configs live in the registry)."""
    from rlxform.reproduce.registry import EXPERIMENTS

    scripts = [p for p in sorted((ROOT / "experiments").glob("*.py")) if p.stem != "bench"]
    assert {p.stem for p in scripts} <= set(EXPERIMENTS)
    for path in scripts:
        tree = ast.parse(path.read_text())
        assigned = [n for n in ast.walk(tree) if isinstance(n, ast.Assign)]
        assert not assigned, f"{path.name} assigns {ast.dump(assigned[0])}"
        assert f'script_main("{path.stem}")' in path.read_text()


def test_experiment_with_configs_registers_itself(tmp_path, monkeypatch):
    """``@experiment(name, plot, configs=...)`` is the whole registration: the registry finds the
    new experiment by name, with its modes, without an edit of ``registry.py``."""
    from rlxform.reproduce import runner

    monkeypatch.setattr(runner, "REGISTERED", dict(runner.REGISTERED))
    configs = {mode: {"scale": float(i + 1)} for i, mode in enumerate(runner.MODES)}

    @experiment("demo_registered", _plot, configs=configs)
    def run_demo(config, progress=None):
        """A demo figure."""
        return {"x": np.arange(2.0), "y": config["scale"] * np.arange(2.0)}

    entry = runner.REGISTERED["demo_registered"]
    assert (
        entry.run is run_demo and entry.configs == configs and entry.description == "A demo figure."
    )
    result = entry.run(entry.configs["quick"], tmp_path)
    assert read_table(result.paths["csv"])["y"].tolist() == [0.0, 2.0]
    with pytest.raises(ValueError, match="demo_registered"):  # a name registers once
        experiment("demo_registered", _plot, configs=configs)(run_demo.compute)
    with pytest.raises(ValueError, match="tiny"):  # every mode, no other
        experiment("demo_partial", _plot, configs={"quick": {}})(run_demo.compute)
