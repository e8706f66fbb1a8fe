"""Code runs only when asked (issue 26, item 5): a ``module:function`` scheme is imported only
with ``--allow-import`` (``allow_import=True`` from Python), and the run names it.

The probe of 0.4.1: a sweep TOML naming ``this:s`` printed the Zen of Python while its config was
validated. Each module here writes a marker file when imported, so a test sees whether its code
ran. Without the flag: one line saying how to allow it, exit 2, nothing imported or written.
"""

from __future__ import annotations

import json
import sys

import pytest

from rlxform import cli
from rlxform.frameworks import resolve_scheme
from rlxform.frameworks.schemes import custom_code
from rlxform.reproduce.sweep_config import parse_sweep_config
from rlxform.validation import InputError

SWEEP = """
learning_rate = [0.3]
group_size = [4]
seeds = 1
steps = 2
records = 1

[policy]
kind = "scalar"
num_prompts = 2
num_responses = 2

[[schemes]]
name = "{name}"
"""


@pytest.fixture
def module(tmp_path, monkeypatch):
    """A fresh module ``side_effect_<n>`` whose import touches ``imported.marker``."""
    name = f"side_effect_{tmp_path.name.replace('-', '_')}"
    marker = tmp_path / "imported.marker"
    (tmp_path / f"{name}.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
        "def weight(r, s, m):\n    return r - s / m\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    sys.modules.pop(name, None)


def _one_error(capsys, *needles: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlxform: error: "), lines
    assert captured.out == ""  # nothing printed by foreign code (0.4.1: the Zen of Python)
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_this_s_in_a_sweep_is_not_imported(tmp_path, capsys):
    already = "this" in sys.modules
    path = tmp_path / "s.toml"
    path.write_text(SWEEP.format(name="this:s"))
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 2
    _one_error(capsys, "schemes[0]", "'this'", "--allow-import")
    assert ("this" in sys.modules) == already and not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--scheme", "{}", "--out", "{out}"],
        ["transforms", "--schemes", "grpo,{}", "--out", "{out}"],
        ["explain", "--scheme", "{}", "--group-size", "4"],
    ],
    ids=["simulate", "transforms", "explain"],
)
def test_cli_refuses_without_the_flag(argv, module, tmp_path, capsys):
    name, marker = module
    out = tmp_path / "out"
    argv = [a.replace("{}", f"{name}:weight").replace("{out}", str(out)) for a in argv]
    assert cli.main(argv) == 2
    _one_error(capsys, f"{name}:weight", "--allow-import", "allow_import=True")
    assert not marker.exists() and name not in sys.modules and not out.exists()


def test_python_refuses_without_allow_import(module):
    name, marker = module
    with pytest.raises(InputError, match="allow_import=True"):
        resolve_scheme(f"{name}:weight")
    with pytest.raises(InputError, match="allow_import=True"):
        parse_sweep_config({"schemes": [{"name": f"{name}:weight"}]})
    assert not marker.exists()
    scheme = resolve_scheme(f"{name}:weight", allow_import=True)
    assert marker.exists() and custom_code([scheme]) == [f"{name}:weight"]
    assert resolve_scheme("verl:grpo").name == "verl"  # framework names import nothing


def test_with_the_flag_the_card_and_transforms_name_the_code(module, tmp_path, capsys):
    name, _ = module
    argv = ["explain", "--scheme", f"{name}:weight", "--group-size", "4", "--allow-import"]
    assert cli.main([*argv, "--format", "json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["custom_code"] == f"{name}:weight"  # the card's settings name the code
    out = tmp_path / "t"
    argv = ["transforms", "--schemes", f"{name}:weight", "--group-sizes", "4", "--grid", "5"]
    assert cli.main([*argv, "--out", str(out), "--allow-import"]) == 0
    assert f"rlxform: imported {name}:weight (--allow-import)" in capsys.readouterr().err


def test_with_the_flag_the_sweep_runs_and_its_metadata_names_the_code(module, tmp_path, capsys):
    name, marker = module
    path = tmp_path / "s.toml"
    path.write_text(SWEEP.format(name=f"{name}:weight"))
    out = tmp_path / "o"
    assert cli.main(["sweep", str(path), "--out", str(out), "--allow-import"]) == 0
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["custom_code"] == [f"{name}:weight"] and marker.exists()
    assert sorted(p.name for p in (out / "chunks").glob("*.npz")) == ["000-custom-M4.npz"]
    assert f"fn={name}:weight" in (out / "sweep_summary.csv").read_text()
