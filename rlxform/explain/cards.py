"""``explain(config) -> ObjectiveCard``: what a verl / TRL / OpenRLHF run optimises, in words.

The card is an ordered tuple of ``Section``s (title, JSON key, key/values, prose lines):
settings read from the config, the scheme and its exact objective h_M (SPEC section 2) with the
large-M limit, whether the paper's lens is exact for these settings (and which parts break it),
pitfalls and warnings. ``card.with_section(section, after=...)`` adds a conclusion; ``to_json``
and ``to_markdown`` render every section.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from rlxform import frameworks as fw
from rlxform.core import schemes as sch
from rlxform.frameworks import FACT_KEYS, RunConfig, read_config
from rlxform.core.objective import transform
from rlxform.explain.conclusions import kl_section, length_section
from rlxform.validation import InputError, check_group_size

P_VALUES = (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99)
LENGTH_NORMALISED = ("seq-mean-token-mean", "grpo")  # 1 / (own length) per answer
BATCH_TOKEN = ("token-mean", "dapo", "bnpo")  # 1 / (tokens in the batch): a batch constant
CONSTANT = ("seq-mean-token-sum", "seq-mean-token-sum-norm", "dr_grpo")  # f = 1 or 1 / L_max
KL_KIND = {"kl": "k1", "k1": "k1", "mse": "k2", "k2": "k2", "low_var_kl": "k3", "k3": "k3"}


@dataclasses.dataclass(frozen=True)
class Section:
    """One part of a card: ``key`` in the JSON, ``title`` in markdown, values and prose."""

    key: str
    title: str
    values: Mapping[str, Any]
    prose: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ObjectiveCard:
    """What a run optimises. ``sections[0]`` holds the settings (flat in the JSON)."""

    title: str
    scheme: sch.Scheme
    group_size: int
    sections: tuple[Section, ...]

    def section(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise InputError(f"key={key!r} is invalid: must be one of {[s.key for s in self.sections]}")

    def with_section(self, section: Section, after: str | None = None) -> ObjectiveCard:
        """A copy with ``section`` inserted after the section ``after`` (default: at the end)."""
        items = list(self.sections)
        index = len(items) if after is None else items.index(self.section(after)) + 1
        items.insert(index, section)
        return dataclasses.replace(self, sections=tuple(items))

    def to_json(self) -> dict[str, Any]:
        """Settings keys at the top level, then ``scheme`` and one entry per other section."""
        out = dict(self.sections[0].values)
        out["scheme"] = self.scheme.label
        for s in self.sections[1:]:
            if list(s.values) == ["items"]:
                out[s.key] = _jsonable(s.values["items"])
                continue
            text = [ln for ln in s.prose if ln and not ln.startswith("- ") and ln[-1] != ":"]
            out[s.key] = _jsonable({**s.values, **({"text": text} if text else {})})
        return out

    def to_markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        for s in self.sections:
            lines += [f"## {s.title}", ""]
            lines += _md_values(s.values)
            lines += [*s.prose, ""] if s.prose else []
        return "\n".join(lines).rstrip() + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return "—" if value is None else str(value)


def _md_values(values: Mapping[str, Any]) -> list[str]:
    rows = [(k, v) for k, v in values.items() if not isinstance(v, (list, tuple, Mapping))]
    table = values.get("table")
    lines = []
    if rows:
        lines += ["| | |", "|---|---|", *(f"| {k} | {_fmt(v)} |" for k, v in rows), ""]
    if isinstance(table, Mapping):
        keys = list(table)
        lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        for row in zip(*table.values(), strict=True):
            lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
        lines.append("")
    return lines


# ---- scheme and objective -----------------------------------------------------------------------


def run_scheme(run: RunConfig) -> tuple[sch.Scheme, str | None]:
    """The scheme a run amounts to, and a note on its step scale (batch-level std)."""
    params = dict(run.scheme_params)
    if run.std_scope == "batch":
        sigma = (
            "sqrt(pbar (1 - pbar)), pbar the batch's mean success rate"
            if run.framework == "trl"
            else "sqrt(((M-1)/M) mean_x p_x (1 - p_x)) (equal-length answers)"
        )
        note = (
            f"batch-level std: as the batch grows the update tends to the mean baseline divided "
            f"by sigma = {sigma}: h = ((M-1)/M) p / sigma (rlxform.core.frameworks.batch_std_limit)"
        )
        return sch.mean_baseline(), note
    if run.framework == "verl":
        return fw.from_verl(run.estimator, **params), None
    if run.framework == "trl":
        return fw.from_trl(run.estimator), None
    return fw.from_openrlhf(run.estimator, **params), None


def objective_summary(scheme: sch.Scheme, group_size: int, p=P_VALUES) -> dict[str, Any]:
    """h_M, w_M and the large-M limit at a few p, the range of w_M and h_M(1) (float64)."""
    t = transform(scheme, group_size)
    p = np.asarray(p, np.float64)
    grid = np.linspace(0.0, 1.0, 201)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.asarray(t.objective(p), np.float64)
        w = np.asarray(t.weight(p), np.float64)
        w_grid = np.asarray(t.weight(grid), np.float64)
        limit = None if t.limit is None else np.asarray(t.limit(p), np.float64)
        top = float(np.asarray(t.objective(1.0)))
    return {
        "group_size": group_size,
        "formula": scheme.formula,
        "h_M_at_1": top,
        "w_M_min": float(w_grid.min()),
        "w_M_max": float(w_grid.max()),
        "limit_name": t.limit_name,
        "table": {
            "p": p.tolist(),
            "h_M": h.tolist(),
            "w_M": w.tolist(),
            **({} if limit is None else {"limit": limit.tolist()}),
        },
    }


def summary_line(scheme: sch.Scheme, group_size: int) -> str:
    """One line for ``rlxform transforms``: h_M(0.1), h_M(0.5), range of w_M, the limit."""
    s = objective_summary(scheme, group_size, (0.1, 0.5))
    h01, h05 = s["table"]["h_M"]
    return (
        f"{scheme.label} M={group_size}: h_M(0.1)={h01:.4g}, h_M(0.5)={h05:.4g}, "
        f"w_M in [{s['w_M_min']:.4g}, {s['w_M_max']:.4g}], "
        f"large-M h = {s['limit_name'] or '(none)'}"
    )


# ---- the lens --------------------------------------------------------------------------------


def lens_breaks(run: RunConfig, scheme: sch.Scheme) -> tuple[list[str], list[str]]:
    """(parts of the settings that break the lens, notes on parts that keep it)."""
    breaks, notes = [], []
    agg = run.aggregation
    if agg in LENGTH_NORMALISED:
        breaks.append(
            f"length-normalised aggregation ({agg}): each answer's weight is divided by its own "
            "length, so updates also move answer lengths (SPEC 8); exact only if length does "
            "not depend on the answer"
        )
    elif agg in BATCH_TOKEN:
        notes.append(
            f"aggregation {agg} divides by the batch's token count: a batch constant for large "
            "batches (rescales the step); at small batches an answer's own length enters"
        )
    elif agg not in CONSTANT:
        breaks.append(f"aggregation {agg!r} is not one rlxform knows how it weighs answers")
    if run.updates_per_rollout > 1:
        breaks.append(
            f"clipping can bind: {_fmt(run.updates_per_rollout)} optimizer steps per rollout "
            f"batch; after the first the ratio pi/pi_old leaves 1 and the clip "
            f"[{1 - run.clip_low:.3g}, {1 + run.clip_high:.3g}] can bind (SPEC 10)"
        )
    kind = KL_KIND.get(run.kl_estimator or "", "other")
    if run.kl_placement == "loss" and kind in ("k2", "k3", "other"):
        what = {
            "k2": "k2 = (log rho)^2 / 2, exact for a one-token policy but per-prefix on sequences",
            "k3": "k3 = 1/rho - 1 + log rho, locally the forward KL(pi_ref || pi)",
            "other": "an estimator rlxform does not model",
        }[kind]
        breaks.append(
            f"KL estimator {run.kl_estimator} as a loss: {what}; as a per-token loss it follows "
            "a local divergence, not the KL(pi || pi_ref) of the lens (SPEC 9)"
        )
    elif run.kl_placement == "loss":
        notes.append(f"{run.kl_estimator} (k1) as a loss has zero expected gradient: no effect")
    elif run.kl_placement == "reward" and run.framework == "verl":
        breaks.append(
            "KL in the reward before the group normalisation: the advantage sees non-binary rewards"
        )
    elif run.kl_placement == "reward" and kind != "k1":
        breaks.append(f"KL estimator {run.kl_estimator} in the reward is not the true KL gradient")
    elif run.kl_placement == "reward":
        notes.append(
            f"k1 KL in the reward (coef {run.kl_coef:g}): in expectation the true gradient of "
            "KL(pi || pi_ref): ascent on h_M(p) - beta KL (SPEC 9)"
        )
    if run.std_scope == "batch":
        breaks.append(
            "batch-level std: the step is divided by the std of the whole batch; exact only as "
            "the batch grows (h = ((M-1)/M) p / sigma)"
        )
    if run.dynamic_sampling:
        a_table, b_table = scheme.tables(run.group_size)
        same = a_table[-1] == 0 and b_table[0] == 0
        breaks.append(
            "dynamic sampling: groups with S = 0 or S = M are dropped and refilled, so the "
            "update is ascent on h°_M with the step scaled by 1/(1 - d), d the population's "
            "degenerate fraction (SPEC 7)"
            + (
                "; here h°_M = h_M (those groups already weigh 0): only the step changes"
                if same
                else ""
            )
        )
    if run.reward_shaping:
        breaks.append("reward shaping: " + run.reward_shaping)
    return breaks, notes


# ---- explain ---------------------------------------------------------------------------------


def explain(
    config: Any = None,
    framework: str | None = None,
    *,
    scheme: str | sch.Scheme | None = None,
    group_size: int | None = None,
) -> ObjectiveCard:
    """What ``config`` (a path, a mapping or a TRL-like dataclass) optimises, as a card.

    With ``scheme`` (a name for ``frameworks.resolve_scheme`` or a Scheme) and ``group_size``
    instead of a config, explain that scheme alone (no framework settings).
    """
    if scheme is not None:
        if config is not None:
            raise InputError("config and scheme are both given: must be one or the other")
        return _explain_scheme(scheme, group_size)
    if config is None:
        raise InputError("config=None is invalid: must be a config (path, mapping or object)")
    run = read_config(config, framework)
    chosen, scale = run_scheme(run)
    chosen.check_group_size(run.group_size, name="group_size (from the config)")
    settings = {**run.facts(), "version": run.version, "source": run.source}
    breaks, notes = lens_breaks(run, chosen)
    sections = [
        Section("settings", "Settings read", settings),
        _objective_section(chosen, run.group_size, scale),
        Section(
            "lens",
            "Is the paper's lens exact here?",
            {"exact": not breaks, "breaks": breaks, "notes": notes},
            _lens_prose(breaks, notes),
        ),
        length_section(run, chosen),
        kl_section(run, chosen),
        Section(
            "pitfalls",
            "Pitfalls of these settings",
            {"items": list(run.pitfalls)},
            _bullets(run.pitfalls) or ("None found.",),
        ),
    ]
    if run.warnings:
        sections.append(
            Section("warnings", "Warnings", {"items": list(run.warnings)}, _bullets(run.warnings))
        )
    name = f"scale_rewards={run.estimator}" if run.framework == "trl" else run.estimator
    title = f"What this run optimises: {run.framework} {name}, M = {run.group_size}"
    return ObjectiveCard(title, chosen, run.group_size, tuple(sections))


def _bullets(items) -> tuple[str, ...]:
    return tuple(f"- {item}" for item in items)


def _lens_prose(breaks: list[str], notes: list[str]) -> tuple[str, ...]:
    if breaks:
        head = (
            f"No: E[update] = w_M(p) grad p does not hold exactly; {len(breaks)} part(s) of "
            "these settings break it:"
        )
    else:
        head = "Yes: every setting keeps E[update] = w_M(p) grad p (SPEC 2)."
    lines = [head, *_bullets(breaks)]
    if notes:
        lines += ["", "Parts that keep it:", *_bullets(notes)]
    return tuple(lines)


def _objective_section(scheme: sch.Scheme, group_size: int, scale: str | None) -> Section:
    s = objective_summary(scheme, group_size)
    limit = s["limit_name"] or "(no named limit)"
    prose = [
        f"In expectation every update is gradient ascent on E_x h_M(p_x), M = {group_size}, "
        f"for the scheme {scheme.label}: h_M' = w_M is a Bernstein polynomial of degree "
        f"{group_size - 1}. As M grows, h_M tends to {limit} (up to scale)."
    ]
    if scale:
        prose.append("Step scale: " + scale + ".")
    return Section("objective", "Objective", {"scheme": scheme.label, **s}, tuple(prose))


def _explain_scheme(scheme: str | sch.Scheme, group_size: Any) -> ObjectiveCard:
    chosen = scheme if isinstance(scheme, sch.Scheme) else fw.resolve_scheme(scheme)
    if group_size is None:
        raise InputError(
            "group_size=None is invalid: must be an integer >= 1 (no config gives a default)"
        )
    m = chosen.check_group_size(check_group_size(group_size))
    settings = dict.fromkeys(FACT_KEYS)
    settings.update(estimator=chosen.label, group_size=m)
    sections = (
        Section("settings", "Settings", settings),
        _objective_section(chosen, m, None),
        Section(
            "lens",
            "Is the paper's lens exact here?",
            {"exact": True, "breaks": [], "notes": []},
            (
                "Yes for the scheme itself (one on-policy update per batch, sequence-level "
                "weights, no KL); a framework's settings can break it: see `rlxform explain "
                "CONFIG`.",
            ),
        ),
    )
    return ObjectiveCard(f"What {chosen.label} optimises, M = {m}", chosen, m, sections)


def card_json(card: ObjectiveCard) -> str:
    """The card as one JSON object (text)."""
    return json.dumps(_jsonable(card.to_json()), indent=2, allow_nan=True)


def write_card(card: ObjectiveCard, out_dir: Any) -> dict[str, Any]:
    """Write ``card.md``, ``card.json`` and ``card.png`` (h_M vs p, log p, arcsine; w_M)
    atomically into ``out_dir``; returns their paths."""
    from rlxform.plotting import fig_objective
    from rlxform.results import atomic_write_text, check_writable, save_png

    out = check_writable(out_dir, name="out")
    paths = {"md": out / "card.md", "json": out / "card.json", "png": out / "card.png"}
    atomic_write_text(paths["md"], card.to_markdown())
    atomic_write_text(paths["json"], card_json(card) + "\n")
    t = transform(card.scheme, card.group_size)
    p = np.linspace(0.0, 1.0, 201)
    table = {
        "p": p,
        "h_M": np.asarray(t.objective(p), np.float64),
        "w_M": np.asarray(t.weight(p), np.float64),
    }
    save_png(fig_objective(table, f"{card.scheme.label}, M = {card.group_size}"), paths["png"])
    return paths
