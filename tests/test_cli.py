"""The command line: outputs, and one-line errors with a non-zero exit for bad input."""

from __future__ import annotations

import numpy as np
import pytest

from rlxform import cli
from rlxform.results import read_table


def test_schemes_lists_catalog(capsys):
    assert cli.main(["schemes"]) == 0
    out = capsys.readouterr().out
    for name in ("reinforce", "grpo", "rejection_sampling", "pass_at_k", "f_grpo"):
        assert name in out


def test_transforms_writes_table_and_figure(tmp_path):
    out = tmp_path / "tr"
    code = cli.main(
        [
            "transforms",
            "--schemes",
            "grpo,rloo,pass_at_k",
            "--scheme-param",
            "eps=0.01",
            "--scheme-param",
            "pass_at_k.k=2",
            "--group-sizes",
            "4,16",
            "--grid",
            "11",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    table = read_table(out / "transforms.csv")
    assert list(table) == ["scheme", "params", "M", "p", "weight", "objective", "limit"]
    assert len(table["p"]) == 3 * 2 * 11
    rloo = table["scheme"] == "rloo"
    np.testing.assert_allclose(table["weight"][rloo], 1.0, rtol=1e-12)
    np.testing.assert_allclose(table["objective"][rloo], table["p"][rloo], atol=1e-12)
    pk = table["scheme"] == "pass_at_k"
    np.testing.assert_allclose(table["objective"][pk], 1 - (1 - table["p"][pk]) ** 2, atol=1e-12)
    grpo = (table["scheme"] == "grpo") & (table["p"] == 1.0)
    assert np.all(
        np.char.find(table["params"][table["scheme"] == "grpo"].astype(str), '"eps": 0.01') >= 0
    )
    assert np.all(np.isfinite(table["objective"][grpo]))
    assert (out / "transforms.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["transforms", "--schemes", "grpo,nope"], "scheme='nope' is invalid"),
        (["transforms", "--group-sizes", "0"], "--group-sizes=0 is invalid"),
        (["transforms", "--schemes", "rloo", "--group-sizes", "1"], "--group-sizes=1 is invalid"),
        (["transforms", "--group-sizes", "4,x"], "--group-sizes='4,x' is invalid"),
        (["transforms", "--scheme-param", "eps=-1"], "eps=-1.0 is invalid"),
        (["transforms", "--scheme-param", "k=3", "--schemes", "grpo"], "'k' is invalid"),
        (["transforms", "--scheme-param", "noequals"], "--scheme-param='noequals' is invalid"),
        (
            ["transforms", "--schemes", "pass_at_k", "--scheme-param", "k=8", "--group-sizes", "4"],
            "--group-sizes=4 is invalid for scheme pass_at_k",
        ),
        (["transforms", "--bogus"], "unrecognized arguments: --bogus"),
        (["nonsense"], "invalid choice: 'nonsense'"),
        (["reproduce", "--quick", "--tiny"], "not allowed with argument --quick"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(capsys, tmp_path, argv, fragment):
    code = cli.main([*argv, "--out", str(tmp_path)] if argv[0] == "transforms" else argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("rlxform: error: ")
    assert fragment in err


def test_unwritable_out_is_rejected(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["transforms", "--out", str(blocker / "sub")]) == 2
    assert "--out=" in capsys.readouterr().err
