"""Bounded parsers: hostile files get one line, fast; YAML numbers as the frameworks read them.

Time bounds are generous sanity limits (5 s); the refusals take milliseconds.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from rlxform.frameworks.launch import read_launch_text
from rlxform.parsing import (
    MAX_CONFIG_BYTES,
    MAX_SCRIPT_BYTES,
    flatten_dotted,
    load_json,
    load_toml,
    load_yaml,
    nest_dotted,
    parse_python,
    read_text,
)
from rlxform.validation import InputError

EXAMPLES = Path(__file__).resolve().parents[1] / "experiments" / "configs"


def _refused(call, *args, match: str) -> str:
    start = time.perf_counter()
    with pytest.raises(InputError, match=match) as err:
        call(*args)
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert "\n" not in message
    return message


# ---- files -----------------------------------------------------------------------------------


def test_read_text_refuses_binary_large_and_missing(tmp_path):
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"a: 1\n\x00\x01\x02")
    message = _refused(read_text, binary, match="binary data")
    assert (
        message
        == f"config={str(binary)!r} is invalid: binary data (a NUL byte at offset 5), expected text"
    )
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("a: caf\xe9\n".encode("latin-1"))
    _refused(read_text, latin, match=r"not UTF-8 text \(byte 0xe9 at offset 6\)")
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:  # 50 MB, sparse: refused from its size, never read
        f.truncate(50 * 2**20)
    _refused(
        read_text, big, match=f"52,428,800 bytes; a config may hold at most {MAX_CONFIG_BYTES:,}"
    )
    _refused(read_text, tmp_path / "missing.yaml", match="no such file")
    _refused(read_text, tmp_path, match="a directory")
    script = tmp_path / "run.sh"
    script.write_bytes(b"x" * (MAX_SCRIPT_BYTES + 1))
    _refused(lambda p: read_text(p, what="launch script"), script, match="launch script=")


def test_read_text_refuses_pipes_and_devices(tmp_path):
    fifo = tmp_path / "pipe.sh"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    _refused(read_text, fifo, match="not a regular file, expected a file")
    _refused(read_text, os.devnull, match="not a regular file, expected a file")


def test_read_text_drops_a_byte_order_mark(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert read_text(path) == "a: 1\n"


# ---- YAML ------------------------------------------------------------------------------------


def test_yaml_numbers_follow_yaml_1_2():
    text = (
        "a: 1e-3\nb: 1.0e-6\nc: .5\nd: 1.0e6\ne: 5E+2\nf: -3e2\ng: 2.0e-05\nh: 12\ni: 0x10\n"
        "j: '1e-3'\nk: 1_000\nl: .inf\nm: 2024-01-01\nn: 1.2.3\no: true\np: null\nq: 1e\n"
    )
    assert load_yaml(text, "n.yaml") == {
        "a": 0.001,
        "b": 1e-6,
        "c": 0.5,
        "d": 1e6,
        "e": 500.0,
        "f": -300.0,
        "g": 2e-5,
        "h": 12,
        "i": 16,
        "j": "1e-3",  # quoted: a string
        "k": 1000,
        "l": float("inf"),
        "m": "2024-01-01",  # no timestamps
        "n": "1.2.3",
        "o": True,
        "p": None,
        "q": "1e",
    }


def test_yaml_example_configs_load():
    recipe = load_yaml((EXAMPLES / "launch" / "openr1_grpo_recipe.yaml").read_text(), "r.yaml")
    assert recipe["learning_rate"] == 3e-6 and isinstance(recipe["learning_rate"], float)
    assert recipe["reward_funcs"] == ["accuracy", "format", "tag_count"]
    assert recipe["reward_weights"] == [1.0, 1.0, 1.0]
    assert recipe["mask_truncated_completions"] is True and recipe["beta"] == 0.04
    dapo = load_yaml((EXAMPLES / "verl_dapo.yaml").read_text(), "verl_dapo.yaml")
    assert dapo["actor_rollout_ref"]["rollout"]["n"] == 16
    assert dapo["actor_rollout_ref"]["actor"]["optim"]["lr"] == 1e-6


def _bomb_list(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for k in range(1, levels + 1):
        lines.append(f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def _bomb_mapping(levels: int = 30) -> str:
    lines = ["m0: &m0 {k0: 1, k1: 1}"]
    for k in range(1, levels + 1):
        lines.append(f"m{k}: &m{k}\n  <<: [*m{k - 1}]\n  x{k}: *m{k - 1}\n  y{k}: *m{k - 1}")
    return "\n".join(lines) + "\n"


# expanded sizes: list level k holds 1 + 10 S(k-1) nodes (111,111 at k = 4, line 5); mapping
# level k holds 5 + 3 S(k-1) (147,620 at k = 9, whose anchor is on line 4 k - 2 = 34)
@pytest.mark.parametrize("text, line", [(_bomb_list(), 5), (_bomb_mapping(), 34)])
def test_yaml_alias_bombs_refused(text, line):
    assert len(text) < 2000  # about 1 KB that would expand past memory
    message = _refused(load_yaml, text, "bomb.yaml", match="alias bomb")
    assert message.startswith(f"bomb.yaml: line {line}, column ")


def test_yaml_aliases_within_budget_still_load():
    data = load_yaml("base: &b {lr: 1e-6, n: 8}\nrun:\n  <<: *b\n  n: 16\nother: *b\n", "ok.yaml")
    assert data == {
        "base": {"lr": 1e-6, "n": 8},
        "run": {"lr": 1e-6, "n": 16},
        "other": data["base"],
    }


@pytest.mark.parametrize(
    "text, match",
    [
        ("[" * 5000 + "]" * 5000, "line 1, column 1001: cannot read it as YAML"),
        ("".join("  " * i + "k:\n" for i in range(150)), "line 101, column 201: YAML nested more"),
        ("a: " + "[" * 150 + "]" * 150, "line 1, column 103: YAML nested more than 100"),
    ],
)  # fmt: skip
def test_yaml_deep_nesting_refused(text, match):
    _refused(load_yaml, text, "deep.yaml", match=match)


@pytest.mark.parametrize(
    "text, match",
    [
        ("a: !!python/object/apply:os.system ['echo hi']", "YAML tag 'tag:yaml.org,2002:python/"),
        ("a: !!binary aGk=", "YAML tag 'tag:yaml.org,2002:binary'"),
        ("a: !custom 1", "YAML tag '!custom'"),
        ("a: !!set {x, y}", "YAML tag 'tag:yaml.org,2002:set'"),
        ("a: &a [*a]", "a YAML alias that contains itself"),
        ("a: " + "9" * 400, "an integer of 400 digits exceeds 64 bits"),
        (
            "a: 1\n---\nb: 2\n",
            "line 2, column 1: cannot read it as YAML: but found another document",
        ),
        ("a: 'open\nb: 1\n", "found unexpected end of stream"),
        ("a: [1, 2\n", "cannot read it as YAML"),
    ],
)
def test_yaml_refusals_are_one_line(text, match):
    message = _refused(load_yaml, text, "bad.yaml", match=match)
    assert message.startswith("bad.yaml: ")


def test_yaml_keeps_64_bit_integers():
    assert load_yaml("seed: 18446744073709551615\nneg: -9223372036854775808\n", "s.yaml") == {
        "seed": 2**64 - 1,
        "neg": -(2**63),
    }


# ---- JSON and TOML ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, match",
    [
        ("[" * 5000 + "]" * 5000, r"^d\.json: line 1, column 101: JSON nested more than 100"),
        ('{"a": ' + "[" * 5000, r"^d\.json: line 1, column 106: JSON nested"),
        ('{"a": 1,\n "b": ' + "9" * 400 + "}", r"line 2, column 7: an integer of 400 digits"),
        ('{"b": -' + "9" * 5000 + "}", "an integer of 5000 digits"),
        ('{"a": 1,\n "b": }', r"^d\.json: line 2, column 7: cannot read it as JSON"),
    ],
)
def test_json_refusals(text, match):
    _refused(load_json, text, "d.json", match=match)


def test_json_reads_brackets_in_strings_and_64_bit_numbers():
    text = '{"a": "' + "[" * 5000 + '", "b": [1, 2.5, -9223372036854775808], "c": null}'
    assert load_json(text, "d.json") == {"a": "[" * 5000, "b": [1, 2.5, -(2**63)], "c": None}


@pytest.mark.parametrize(
    "text, match",
    [
        ("a = " + "[" * 5000 + "]" * 5000, "line 1, column 105: TOML nested more than 100"),
        ("a = " + "{b = " * 5000 + "1" + "}" * 5000, "TOML nested more than 100"),
        ("a" + ".a" * 5000 + " = 1", "line 1: a dotted key of more than 100 parts"),
        ("x = 1\na = " + "9" * 400, "line 2, column 5: an integer of 400 digits"),
        ("a = " + "9" * 5000, "an integer of over 4300 digits"),
        ("a = [1, 2", "cannot read it as TOML"),
    ],
)
def test_toml_refusals(text, match):
    _refused(load_toml, text, "d.toml", match=match)


def test_toml_strings_and_comments_are_not_nesting():
    text = "a = \"[[[[\" # [[[[[[\nb = '''\n{{{{\n'''\n[c.d]\ne = [1.5, 2.5]\n"
    assert load_toml(text, "d.toml") == {"a": "[[[[", "b": "{{{{\n", "c": {"d": {"e": [1.5, 2.5]}}}


# ---- Python ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, match",
    [
        ("x = " + "(" * 5000 + "1" + ")" * 5000, "too many nested parentheses"),
        ("x = [" * 1 + "[" * 5000, "too many nested parentheses"),
        ("x = a" + ".b" * 5000, "Python expressions nested too deeply"),
        ("x = 1" + " + 1" * 5000, "Python expressions nested too deeply"),
        ("x = 1" + " + 1" * 300, "line 1: Python syntax nested more than 200"),
        ("x = 1\0", "source code string cannot contain null bytes"),
        ("x = 1\ny = (\n", r"line 2, column 5: cannot read it as Python"),
        ("x = 1\n" * 200_000, "at most 524,288 characters"),
    ],
)
def test_python_refusals(text, match):
    message = _refused(parse_python, text, "p.py", match=match)
    assert message.startswith("p.py: ")


# ---- shell text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "load, text, match",
    [
        (load_yaml, "a: 'open\n", "found unexpected end of stream"),
        (load_json, '{"a": "open}', "Unterminated string"),
        (load_toml, 'a = "open\n', "cannot read it as TOML"),
        (parse_python, "x = 'open\n", "unterminated string literal"),
        (read_launch_text, "python t.py --a 'open\n", "unterminated single quote"),
    ],
)
def test_unbalanced_quotes_give_one_line(load, text, match):
    message = _refused(load, text, "q.txt", match=match)
    assert message.startswith("q.txt: line ")


def test_a_script_that_launches_nothing(tmp_path):
    path = tmp_path / "setup.sh"
    path.write_text("set -e\npip install -e .\nexport WANDB_MODE=offline\nmkdir -p out\n")
    assert read_launch_text(read_text(path, what="launch script"), str(path)) == ()


# ---- dotted keys -----------------------------------------------------------------------------


def test_nest_and_flatten_dotted_keys():
    flat = {"a.b": 1, "a.c": [1, 2], "d": {"e.f": 2, "g": {}}, "a": {"h": 3}}
    nested = nest_dotted(flat, "c.yaml")
    assert nested == {"a": {"b": 1, "c": [1, 2], "h": 3}, "d": {"e": {"f": 2}, "g": {}}}
    assert flatten_dotted(nested) == {"a.b": 1, "a.c": [1, 2], "a.h": 3, "d.e.f": 2, "d.g": {}}
    assert nest_dotted({"a.b": 1, "a.b ": 2}) == {"a": {"b": 1, "b ": 2}}
    assert nest_dotted({"x": 1, "x": 2}) == {"x": 2}  # noqa: F601 - the later value wins


@pytest.mark.parametrize(
    "flat, match",
    [
        ({"actor.eps_clip": 0.2, "actor.eps_clip.low": 0.1},
         "key 'actor.eps_clip.low' needs 'actor.eps_clip' to be a section of keys, but "
         "'actor.eps_clip' is 0.2"),
        ({"actor": {"eps_clip": {"low": 0.1}}, "actor.eps_clip": 0.2},
         "key 'actor.eps_clip' is set to 0.2 but is also a section of keys"),
        ({"a": 1, "a.b": {}}, "key 'a.b' needs 'a' to be a section"),
        ({"a" + ".a" * 200: 1}, "a key nested more than 100 levels deep"),
    ],
)  # fmt: skip
def test_dotted_key_collisions_are_one_line(flat, match):
    message = _refused(nest_dotted, flat, "c.yaml", match=match)
    assert message.startswith("c.yaml: ")
