"""``rlxform explain --compare``: the default GRPO of every supported trainer, side by side.

One row per record of ``frameworks.FRAMEWORKS`` (a new trainer record appears without edits
here): its newest release read with no settings at all (``read_config({}, name)``), so every fact
is that release's default. A trainer whose default estimator is not a group rule (verl and
OpenRLHF default to GAE, a critic) is read with the first estimator its record models (its
GRPO), and the row says so. Per row: w_M(p) at M = 8 and 16 (the scheme the card would use,
exact NumPy float64, at a few p), the per-answer length factor of its loss (the loss-mode
reducer's where it reduces the run's loss, else the record's normaliser), the KL default
(placement, estimator, coefficient, and p* at p_ref = 0.3 at the default M, from the card's KL
section), the filters acting by default and whether the lens is exact for the first update.
Filters are what the reader lists (``RunConfig.filters``), else dynamic sampling and the reader's
pitfall lines about a filter that drops answers. ``--out DIR`` writes compare.md, compare.json
and compare.png (``plotting.fig_trainer_comparison``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import numpy as np

from rlxform.core.objective import transform
from rlxform.explain import sections
from rlxform.explain.conclusions import kl_section
from rlxform.validation import InputError

GROUP_SIZES = (8, 16)
P_VALUES = (0.01, 0.1, 0.3, 0.5, 0.9)
P_REF = "0.3"


@dataclasses.dataclass(frozen=True)
class Row:
    """One trainer's default GRPO.

    Attributes:
      framework, title, version: the record and the release whose defaults were read.
      estimator: the estimator read; given: settings the page had to set ({key: value}: an
        estimator that is no group rule, a group size the estimator refuses), with their
        defaults in ``replaced``; group_size: M as read; scheme: the card's scheme label.
      weights: {M: w_M at ``P_VALUES``}; length_factor, normaliser: the per-answer factor and
        where it comes from; kl: placement, estimator, coef, p_star (p_ref 0.3, default M);
      filters: filters acting by default; lens_exact, lens_breaks: the card's lens at the
        defaults (exact for the first update?) and what breaks it.
    """

    framework: str
    title: str
    version: str
    estimator: str
    given: dict[str, Any]
    replaced: dict[str, Any]
    group_size: int
    scheme: str
    weights: dict[int, list[float]]
    length_factor: str
    normaliser: str
    kl: dict[str, Any]
    filters: list[str]
    lens_exact: bool
    lens_breaks: list[str]
    scheme_object: Any = dataclasses.field(repr=False, compare=False, default=None)


def default_run(record) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(RunConfig at the newest release's defaults, the settings that had to be given, their
    defaults). A default the reader refuses for a GRPO is replaced and said: an estimator that is
    no group rule by the record's first (verl, OpenRLHF: gae -> grpo, group_norm), a group size
    the chosen estimator refuses (OpenRLHF: 1) or whose scheme it changes (slime: 1) by the first M
    of the page."""
    from rlxform.frameworks import read_config

    table, _ = record.table()
    given: dict[str, Any] = {}
    if record.group_size_key is not None and table.default(record.group_size_key) == 1:
        given[record.group_size_key] = GROUP_SIZES[0]  # its default M = 1 is no group
    for _ in range(4):
        try:
            return read_config(given, record.name), given, {k: table.default(k) for k in given}
        except InputError as err:
            match = re.match(r"([\w.]+)=", str(err))
            key = match[1] if match else None
            if key is None or key in given or not table.has(key):
                raise
            if key == record.rule.key:  # its GRPO where it has one, else its first
                names = record.rule.estimators
                given[key] = "grpo" if "grpo" in names else names[0]
            elif isinstance(table.default(key), int):
                given[key] = GROUP_SIZES[0]
            else:
                raise
    raise InputError(f"{record.name}: its defaults could not be read as a GRPO")


def _length_factor(run) -> tuple[str, str]:
    from rlxform.frameworks.losses import reduced_factor

    norm = run.normaliser
    reduced = reduced_factor(run)
    if reduced is not None and reduced[0] != "token-mean":
        return reduced
    factor = getattr(norm, "factor", "1")
    if factor == "token-mean" and getattr(norm, "answers", None):
        return f"token-mean ({norm.answers:g} answers)", norm.where
    return factor, getattr(norm, "where", "")


def filters_of(run) -> list[str]:
    """The filters acting in ``run``: as its reader lists them, else the filter facts the card's
    filters section reads, dynamic sampling and the pitfalls that describe a filter dropping
    answers."""
    listed = list(getattr(run, "filters", ()) or ())
    if listed:
        return listed
    out = []
    mode = getattr(run, "vllm_is_mode", None)  # the filter facts of rlxform.explain.filters
    if mode is not None:
        out.append(f"vLLM importance-sampling correction: {mode}, cap {run.vllm_is_cap}")
    if getattr(run, "mask_truncated", False):
        out.append("mask_truncated_completions: truncated answers leave the loss")
    if getattr(run, "overlong_buffer", None) is not None:
        out.append("overlong shaping: answers near the length limit lose reward")
    if getattr(run, "top_entropy_quantile", None) is not None:
        out.append(f"top_entropy_quantile {run.top_entropy_quantile}: a token filter")
    if getattr(run, "filter_range", None) is not None:
        out.append(f"dynamic_filtering_range {run.filter_range}: groups dropped by accuracy")
    if run.dynamic_sampling:
        out.append("dynamic sampling: zero-variance groups dropped and refilled")
    for line in run.pitfalls:
        if re.search(r"filter", line, re.I) and re.search(r"\bdrop", line):
            out.append(line)
    for item in run.not_modelled:
        if item.get("default") and re.search(r"\b(drop|mask)", item["effect"]):
            out.append(f"{item['key']}: {item['effect']}")
    return out


def row_of(record) -> Row:
    run, given, replaced = default_run(record)
    scheme, _ = sections.run_scheme(run)
    weights = {}
    for m in GROUP_SIZES:
        t = transform(scheme, m)
        weights[m] = [float(v) for v in np.asarray(t.weight(np.asarray(P_VALUES)), np.float64)]
    factor, where = _length_factor(run)
    kl = {"placement": run.kl_placement, "estimator": run.kl_estimator, "coef": run.kl_coef}
    if run.kl_placement != "none" and run.kl_coef:
        section = kl_section(run, scheme)
        star = section.values.get("p_star")
        kl["p_star"] = star.get(P_REF) if isinstance(star, dict) else None
        kl["group_size"] = run.group_size
        if star is None:
            kl["why"] = section.values.get("reason")
    else:
        kl["p_star"] = None
    breaks, _ = sections.lens_breaks(run, scheme)
    return Row(
        framework=record.name,
        title=record.title,
        version=run.version,
        estimator=str(run.estimator),
        given=given,
        replaced=replaced,
        group_size=run.group_size,
        scheme=scheme.label,
        weights=weights,
        length_factor=factor,
        normaliser=where,
        kl=kl,
        filters=filters_of(run),
        lens_exact=not breaks,
        lens_breaks=list(breaks),
        scheme_object=scheme,
    )


def compare_rows() -> list[Row]:
    """One ``Row`` per registered trainer, in registry order."""
    from rlxform.frameworks import FRAMEWORKS

    return [row_of(record) for record in FRAMEWORKS.values()]


# ---- rendering -------------------------------------------------------------------------------


def _short(text: str, size: int = 48) -> str:
    head = text.split(":")[0].split(" (")[0].strip()
    return head if len(head) <= size else head[: size - 3] + "..."


def _kl_text(kl: dict[str, Any]) -> str:
    if kl["placement"] == "none":
        return "none"
    return f"{kl['estimator']} in the {kl['placement']}, {kl['coef']:g}"


def _p_star(kl: dict[str, Any]) -> str:
    if kl["placement"] == "none":
        return "—"
    if kl.get("p_star") is None:
        return "not solved"
    return f"{kl['p_star']:.4g} (M = {kl['group_size']})"


def _lens(r: Row) -> str:
    return "yes" if r.lens_exact else "no: " + "; ".join(_short(b, 40) for b in r.lens_breaks)


def to_markdown(rows: list[Row]) -> str:
    ps = ", ".join(f"{p:g}" for p in P_VALUES)
    lines = [
        "# Which trainer optimises what: the default GRPO of each trainer",
        "",
        "Each trainer's newest supported release with no settings (its defaults); where the "
        "default estimator is not a group rule (GAE needs a critic) the trainer's GRPO is read "
        "instead (the estimator column says what was set). w_M(p) is the weight of a prompt "
        "whose answers are correct with probability p when M answers are sampled per prompt: "
        "in expectation each update is w_M(p) grad p "
        f"(0/1 rewards, first update of a batch). Weights at p = {ps}.",
        "",
    ]
    for m in GROUP_SIZES:
        head = "| trainer | version | estimator | scheme | " + " | ".join(
            f"w_{m}({p:g})" for p in P_VALUES
        )
        lines += [f"## w_M(p) at M = {m}", "", head + " |", "|" + "---|" * (4 + len(P_VALUES))]
        for r in rows:
            est = r.estimator
            if r.given:
                est += " (" + ", ".join(f"{k} {v} for {r.replaced[k]}" for k, v in r.given.items())
                est += ")"
            vals = " | ".join(f"{w:.4g}" for w in r.weights[m])
            lines.append(f"| {r.title} | {r.version} | {est} | {r.scheme} | {vals} |")
        lines.append("")
    lines += [
        "## Defaults beside the weights",
        "",
        "| trainer | default M | length factor c(L) | KL default | p* (p_ref 0.3) | filters "
        "by default | lens exact |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        filters = "; ".join(_short(f) for f in r.filters) or "none"
        lines.append(
            f"| {r.title} | {r.group_size} | {r.length_factor} | {_kl_text(r.kl)} | "
            f"{_p_star(r.kl)} | {filters} | {_lens(r)} |"
        )
    lines += [
        "",
        "c(L): the factor an answer of L tokens gets in the loss (1: token sums; 1/L: its own "
        "length; token-mean: every token of N answers shares one count). p*: where exact ascent "
        "on h_M(p) - beta KL stops for a reference accuracy p_ref = 0.3 (--topic kl). Lens exact: "
        "E[update] = w_M(p) grad p holds for the first update at these defaults (--topic lens). "
        "Full card of a trainer's defaults: `rlxform explain --framework NAME -- ...`, or its "
        "example configs.",
    ]
    return "\n".join(lines) + "\n"


def to_json(rows: list[Row]) -> dict[str, Any]:
    out = []
    for r in rows:
        item = {k: v for k, v in dataclasses.asdict(r).items() if k != "scheme_object"}
        item["weights"] = {str(m): w for m, w in r.weights.items()}
        out.append(item)
    return {"p": list(P_VALUES), "group_sizes": list(GROUP_SIZES), "rows": out}


def curve_table(rows: list[Row], num_grid: int = 201) -> dict[str, np.ndarray]:
    """Tidy columns framework, title, M, p, weight: w_M(p) on a grid, per row and M."""
    p = np.linspace(0.0, 1.0, num_grid)
    cols: dict[str, list] = {"framework": [], "title": [], "M": [], "p": [], "weight": []}
    for r in rows:
        for m in GROUP_SIZES:
            w = np.asarray(transform(r.scheme_object, m).weight(p), np.float64)
            cols["framework"] += [r.framework] * p.size
            cols["title"] += [r.title] * p.size
            cols["M"] += [m] * p.size
            cols["p"] += p.tolist()
            cols["weight"] += w.tolist()
    return {k: np.asarray(v) for k, v in cols.items()}


def write_compare(rows: list[Row], out_dir: Any) -> dict[str, Any]:
    """compare.md, compare.json and compare.png in ``out_dir`` (imports matplotlib)."""
    from rlxform.plotting import fig_trainer_comparison
    from rlxform.results import atomic_write_text, check_writable, save_png

    out = check_writable(out_dir, name="out")
    paths = {"md": out / "compare.md", "json": out / "compare.json", "png": out / "compare.png"}
    atomic_write_text(paths["md"], to_markdown(rows))
    atomic_write_text(paths["json"], json.dumps(to_json(rows), indent=2) + "\n")
    save_png(fig_trainer_comparison(curve_table(rows)), paths["png"])
    return paths
