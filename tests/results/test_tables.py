"""Tests for rlxform.results.tables: bitwise CSV round trips and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from rlxform import results

SPECIAL_FLOATS = np.array(
    [
        0.0,
        -0.0,
        np.nan,
        np.inf,
        -np.inf,
        0.1,
        1.0 / 3.0,
        1e300,
        -1.7976931348623157e308,
        5e-324,
        2.2250738585072014e-308,
        1e-12,
        1.0 - 1e-12,
        123456789.0,
        1e16,
    ]
)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).view(np.uint64)


# --------------------------------------------------------------------------- tables


def test_table_round_trip_is_bitwise(tmp_path):
    n = len(SPECIAL_FLOATS)
    rng = np.random.default_rng(0)
    random_floats = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    columns = {
        "scheme": np.array(["grpo", "rloo, with comma", 'q"uote', "", "x\ny"] * 3),
        "seed": np.arange(n, dtype=np.int64) - 3,
        "step": np.full(n, 2**53 + 1, dtype=np.int64),
        "diverged": np.arange(n) % 2 == 0,
        "value": SPECIAL_FLOATS,
        "random": random_floats,
        "f32": np.linspace(0, 1, n, dtype=np.float32),
    }
    path = tmp_path / "t.csv"
    results.write_table(path, columns)
    back = results.read_table(path)

    assert list(back) == list(columns)
    np.testing.assert_array_equal(_bits(back["value"]), _bits(SPECIAL_FLOATS))
    np.testing.assert_array_equal(_bits(back["random"]), _bits(random_floats))
    assert np.signbit(back["value"][1]) and back["value"][1] == 0.0
    assert back["value"].dtype == np.float64
    assert back["seed"].dtype == np.int64 and back["seed"].tolist() == columns["seed"].tolist()
    assert back["step"][0] == 2**53 + 1
    assert back["diverged"].dtype == bool
    np.testing.assert_array_equal(back["diverged"], columns["diverged"])
    assert back["scheme"].tolist() == columns["scheme"].tolist()
    # float32 values are widened exactly, so casting back recovers them bitwise.
    np.testing.assert_array_equal(
        back["f32"].astype(np.float32).view(np.uint32), columns["f32"].view(np.uint32)
    )


def test_table_integer_valued_floats_stay_float(tmp_path):
    results.write_table(tmp_path / "t.csv", {"x": np.array([1.0, 2.0, 1e20])})
    back = results.read_table(tmp_path / "t.csv")
    assert back["x"].dtype == np.float64
    assert back["x"].tolist() == [1.0, 2.0, 1e20]


def test_table_from_rows_and_column_order(tmp_path):
    rows = [
        {"scheme": "grpo", "seed": 0, "step": 1, "p": 0.25},
        {"scheme": "rloo", "seed": 1, "step": 1, "p": -0.0},
    ]
    path = tmp_path / "rows.csv"
    results.write_table(path, rows, columns=["step", "p", "scheme"])
    assert path.read_text().splitlines()[0] == "step,p,scheme"
    back = results.read_table(path)
    assert list(back) == ["step", "p", "scheme"]
    assert back["p"].tolist() == [0.25, 0.0] and np.signbit(back["p"][1])
    assert back["scheme"].tolist() == ["grpo", "rloo"]


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"a": np.zeros(3), "b": np.zeros(4)}, "different lengths"),
        ({"a": np.zeros((2, 2))}, "1-D"),
        ({"a": np.array([1 + 2j])}, "dtype complex"),
        ([{"a": 1}, {"b": 2}], "lacks column"),
    ],
)
def test_table_rejects_bad_input(tmp_path, table, match):
    with pytest.raises(ValueError, match=match):
        results.write_table(tmp_path / "bad.csv", table)
    assert not (tmp_path / "bad.csv").exists()


def test_table_unknown_column_named(tmp_path):
    with pytest.raises(ValueError, match="nope"):
        results.write_table(tmp_path / "t.csv", {"a": [1]}, columns=["a", "nope"])
