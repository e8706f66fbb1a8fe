"""``rlxform simulate --policy sequence_*``: the files it writes and its one-line errors."""

import csv
import json

import numpy as np
import pytest

from rlxform import cli

BASE = ["simulate", "--policy", "sequence_tabular", "--scheme", "grpo", "--prompts", "2"]


@pytest.mark.slow
def test_sequence_simulate_writes_lengths_and_agrees(tmp_path):
    out = tmp_path / "run"
    argv = [*BASE, "--vocab", "3", "--max-length", "3", "--verifier", "parity"]
    argv += ["--aggregation", "token-mean", "--batch-groups", "2", "--group-size", "4"]
    argv += ["--steps", "6", "--record-every", "3", "--seeds", "32", "--lr", "0.3"]
    argv += ["--init-p", "0.3,0.6", "--out", str(out)]
    assert cli.main(argv) == 0
    with open(out / "trajectories.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [0, 3, 6]
    for column in ("exact_mean_p", "objective", "exact_objective"):
        assert column in rows[0]
    for name in ("mean_length_correct", "mean_length_wrong"):
        sim = np.array([float(r[name]) for r in rows])
        exact = np.array([float(r[f"exact_{name}"]) for r in rows])
        se = np.array([float(r[f"{name}_se"]) for r in rows])
        assert np.all(np.abs(sim - exact) <= 4 * se + 1e-5)
    np.testing.assert_allclose(float(rows[0]["exact_mean_p"]), 0.45, atol=1e-6)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["agreement"] >= 0.6 and summary["config"]["aggregation"] == "token-mean"
    assert (out / "trajectories.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--vocab", "1"], "--vocab=1"),
        (["--max-length", "0"], "--max-length=0"),
        (["--verifier", "nope"], "--verifier='nope'"),
        (["--aggregation", "sum"], "--aggregation='sum'"),
        (["--batch-groups", "0"], "--batch-groups=0"),
        (["--batch-groups", "3"], "--batch-groups=3"),
        (["--vocab", "6", "--max-length", "12"], "MAX_SEQUENCES"),
        (["--dynamic-sampling"], "--dynamic-sampling"),
    ],
)
def test_sequence_simulate_bad_input_is_one_line(extra, needle, tmp_path, capsys):
    out = tmp_path / "bad"
    assert cli.main([*BASE, *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlxform: error: ") and err.count("\n") == 1 and needle in err
    assert not out.exists()
