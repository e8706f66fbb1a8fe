"""``rlxform explain --compare``: every trainer's default GRPO side by side.

The page's weights are checked against each record's own ``frameworks.advantages`` on binary
groups, by brute force over the number S of correct answers in a group (E[update] =
sum_S C(M, S) p^S (1-p)^(M-S) (1/M) [S a_S (1-p) - (M-S) b_S p] = w_M(p) p (1-p)), so a row
shows what the record's defaults give. Pure NumPy float64; no JAX.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from rlxform import cli
from rlxform import frameworks as fw
from rlxform.explain import compare
from rlxform.frameworks import FRAMEWORKS


@pytest.fixture(scope="module")
def rows() -> list[compare.Row]:
    return compare.compare_rows()


def brute_weight(framework: str, estimator: str, m: int, p: float) -> float:
    """w_M(p) from the record's advantage code on one group per S = 0..M."""
    total = 0.0
    for s in range(m + 1):
        rewards = [1.0] * s + [0.0] * (m - s)
        adv = fw.advantages(framework, estimator, rewards, m)
        a = adv[0] if s > 0 else 0.0
        b = adv[-1] if s < m else 0.0
        prob = math.comb(m, s) * p**s * (1 - p) ** (m - s)
        total += prob * (s * a * (1 - p) - (m - s) * b * p) / m
    return total / (p * (1 - p))


def test_one_row_per_registered_trainer(rows):
    assert [r.framework for r in rows] == list(FRAMEWORKS)
    assert {"prime_rl", "trl_rloo", "nemo_rl", "verl"} <= {r.framework for r in rows}


def test_weights_are_the_records_own_advantages_by_brute_force(rows):
    """Every row, M = 8 and 16, every p of the page: the scheme's Bernstein weight equals the
    record's advantage code averaged over the binomial S (1e-10 relative). A record whose
    default has a batch-level step (its scheme is the large-batch limit) is checked up to that
    step's constant: the code's weights are proportional to the page's."""
    for r in rows:
        run, _, _ = compare.default_run(FRAMEWORKS[r.framework])
        batch = run.std_scope == "batch" or bool(getattr(run, "batch_steps", ()))
        for m in compare.GROUP_SIZES:
            code = np.array(
                [brute_weight(r.framework, r.estimator, m, p) for p in compare.P_VALUES]
            )
            page = np.asarray(r.weights[m])
            if batch:
                code = code * (page[0] / code[0])
            np.testing.assert_allclose(page, code, rtol=1e-10, err_msg=f"{r.framework} M={m}")


def test_known_rows(rows):
    """The issue's contrast (GRPO up-weights rare successes, NeMo-RL's default does not), the
    linear rules' flat weights, and what had to be set for the GAE defaults."""
    by = {r.framework: r for r in rows}
    assert (
        round(by["verl"].weights[16][0], 2) == 3.61
        and round(by["nemo_rl"].weights[16][0], 2) == 1.39
    )
    assert by["verl"].given == {"algorithm.adv_estimator": "grpo"}
    assert by["verl"].replaced == {"algorithm.adv_estimator": "gae"}
    assert by["openrlhf"].estimator == "group_norm"
    np.testing.assert_allclose(by["open_instruct"].weights[8], 10 * 7 / 8, rtol=1e-14)
    np.testing.assert_allclose(by["prime_rl"].weights[16], 15 / 16, rtol=1e-14)
    np.testing.assert_allclose(by["trl_rloo"].weights[8], 1.0, rtol=1e-14)
    assert by["prime_rl"].group_size == 1 and by["prime_rl"].version == "prime_rl 0.8.0"
    assert by["prime_rl"].filters[0].startswith("post_batch_filters zero_advantage")
    assert by["trl_rloo"].length_factor == "1" and by["trl_rloo"].lens_exact
    assert by["trl"].version == "trl 1.16.0" and by["trl"].kl["placement"] == "none"


def test_kl_column_is_the_cards_equilibrium(rows):
    """TRL RLOO: k1 in the reward, beta 0.05, w_M = 1 at its default M = 2: logit p* =
    logit 0.3 + 1 / 0.05 exactly; no KL: no p*."""
    kl = {r.framework: r.kl for r in rows}
    assert (kl["trl_rloo"]["placement"], kl["trl_rloo"]["estimator"]) == ("reward", "k1")
    z = math.log(0.3 / 0.7) + 1 / 0.05
    assert kl["trl_rloo"]["p_star"] == pytest.approx(1 / (1 + math.exp(-z)), rel=1e-12)
    assert kl["prime_rl"] == {"placement": "none", "estimator": None, "coef": 0.0, "p_star": None}


def test_a_new_record_appears_without_edits(monkeypatch):
    copy = dataclasses.replace(FRAMEWORKS["trl_rloo"], name="trl_rloo_copy", title="copy")
    monkeypatch.setitem(FRAMEWORKS, "trl_rloo_copy", copy)
    names = [r.framework for r in compare.compare_rows()]
    assert names[-1] == "trl_rloo_copy"


def test_cli_markdown_json_and_files(tmp_path, capsys):
    assert cli.main(["explain", "--compare"]) == 0
    text = capsys.readouterr().out
    assert "## w_M(p) at M = 8" in text and "| prime-rl | prime_rl 0.8.0 |" in text
    assert cli.main(["explain", "--compare", "--format", "json", "--out", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["group_sizes"] == [8, 16] and len(data["rows"]) == len(FRAMEWORKS)
    for name in ("compare.md", "compare.json", "compare.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "compare.json").read_text()) == data


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explain", "--compare", "run.yaml"], "CONFIG='run.yaml' is invalid with --compare"),
        (["explain", "--compare", "--framework", "verl"], "--framework='verl' is invalid"),
        (["explain", "--compare", "--format", "csv"], "--format='csv' is invalid"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, argv, message):
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_readme_table_is_the_page(rows):
    """Each row of the README's "Which trainer optimises what" table shows the page's release
    and weights (a trainer added later may be missing from the README, never wrong in it)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("## Which trainer optimises what", 1)[1].split("\n## ", 1)[0]
    by = {f"{r.title} ({r.version.split()[-1]})": r for r in rows}
    seen = 0
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 7 or cells[0] not in by:
            continue
        r = by[cells[0]]
        shown = [float(c) for c in cells[2:7]]
        page = [
            r.weights[8][0],
            r.weights[8][3],
            r.weights[16][0],
            r.weights[16][3],
            r.weights[16][4],
        ]
        assert shown == [float(f"{w:.4g}") for w in page], cells[0]
        assert cells[7] == str(r.group_size) and f"`{r.scheme}`" in cells[1], cells[0]
        seen += 1
    assert seen >= 9
