"""``explain(config) -> ObjectiveCard``: what a run of one of the supported trainers optimises.

The card is an ordered tuple of ``Section``s (title, JSON key, key/values, prose lines): the
settings read, the scheme and its exact objective h_M with the large-M limit, whether the lens
E[update] = w_M(p) grad p is exact for these settings, the rewards, what is not modelled, the
length bias at the run's own normaliser, the KL equilibrium and the pitfalls. Each section points
to its topic (``rlxform explain --topic NAME``). ``to_json`` and ``to_markdown`` render it; the
numbers come from the NumPy core (no JAX); saving ``card.png`` is the only IO, done lazily.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from rlxform.core import schemes as sch
from rlxform.core.objective import transform
from rlxform.explain import sections
from rlxform.explain.conclusions import kl_section, length_section
from rlxform.explain.entropy import entropy_section
from rlxform.explain.filters import filters_section
from rlxform.explain.parts import Section, bullets
from rlxform.frameworks import FRAMEWORKS, RunConfig, read_config
from rlxform.validation import InputError, check_group_size

# re-exported: ``rlxform transforms`` and tests use them as cards.<name>
objective_summary = sections.objective_summary
summary_line = sections.summary_line
run_scheme = sections.run_scheme
lens_breaks = sections.lens_breaks


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
            text = [
                ln
                for ln in s.prose
                if ln and not ln.startswith(("- ", "(The math")) and ln[-1] != ":"
            ]
            text = text if s.text_in_json else []
            out[s.key] = _jsonable({**s.values, **({"text": text} if text else {})})
        return out

    def to_markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        for s in self.sections:
            body = _md_values(s.values) + ([*s.prose, ""] if s.prose else [])
            if body:  # sections with only a list (defaults_used, unresolved) are JSON-only
                lines += [f"## {s.title}", "", *body]
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
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items() if v is not None)
    return "—" if value is None else str(value)


def _command(command: Mapping[str, Any]) -> str:
    where = f"line {command.get('line')}" + (
        f" of cell {command['cell']}" if command.get("cell") else ""
    )
    return f"{command['index']} of {command['count']} ({where}: {command['program']})"


def _md_values(values: Mapping[str, Any]) -> list[str]:
    rows = [
        (k, v)
        for k, v in values.items()
        if not isinstance(v, (list, tuple))
        and k != "table"
        and v is not None
        and not (isinstance(v, Mapping) and k != "command")
    ]
    table = values.get("table")
    lines = []
    if rows:
        shown = [(k, _command(v) if k == "command" else _fmt(v)) for k, v in rows]
        lines += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in shown), ""]
    if isinstance(table, Mapping):
        keys = list(table)
        lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        for row in zip(*table.values(), strict=True):
            lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
        lines.append("")
    return lines


# ---- explain ---------------------------------------------------------------------------------


def explain(
    config: Any = None,
    framework: str | None = None,
    *,
    version: str | None = None,
    command: int | None = None,
    scheme: str | sch.Scheme | None = None,
    group_size: int | None = None,
    allow_import: bool = False,
) -> ObjectiveCard:
    """What ``config`` (a path, a command line as a list of words, a mapping or a TRL-like
    dataclass) optimises, as a card; ``version`` and ``command`` as for ``read_config``.

    With ``scheme`` (a name for ``frameworks.resolve_scheme`` or a Scheme) and ``group_size``
    instead of a config, explain that scheme alone (no framework settings); a ``module:function``
    name is imported only with ``allow_import=True`` and named on the card (``custom_code``).
    """
    if scheme is not None:
        if config is not None:
            raise InputError("config and scheme are both given: must be one or the other")
        return _explain_scheme(scheme, group_size, allow_import)
    if config is None:
        raise InputError("config=None is invalid: must be a config (path, mapping or object)")
    run = read_config(config, framework, version=version, command=command)
    return card_of(run)


def card_of(run: RunConfig) -> ObjectiveCard:
    """The card of a run already read."""
    chosen, scale = run_scheme(run)
    chosen.check_group_size(run.group_size, name="group_size (from the config)")
    settings = {
        **run.facts(),
        "version": run.version,
        "source": run.source,
        "command": dict(run.command) if run.command else None,
    }
    record = FRAMEWORKS[run.framework]
    parts = [
        Section("settings", "Settings read", settings),
        sections.objective_section(chosen, run.group_size, scale),
        sections.lens_section(run, chosen),
        sections.loss_section(run, chosen),
        sections.rewards_section(run),
        sections.not_modelled_section(run),
        length_section(run, chosen),
        filters_section(run, chosen),
        kl_section(run, chosen),
        entropy_section(run, chosen),
        sections.pitfalls_section(run, record.notes),
        Section("defaults_used", "Defaults used", {"items": list(run.defaults_used)}),
        Section("unresolved", "Unresolved", {"items": list(run.unresolved)}),
    ]
    if run.warnings:
        items = list(run.warnings)
        parts.append(Section("warnings", "Warnings", {"items": items}, bullets(items)))
    name = (
        f"scale_rewards={run.estimator}" if run.framework in ("trl", "unsloth") else run.estimator
    )
    title = f"What this run optimises: {run.framework} {name}, M = {run.group_size}"
    card = ObjectiveCard(title, chosen, run.group_size, tuple(parts))
    return card


def _explain_scheme(
    scheme: str | sch.Scheme, group_size: Any, allow_import: bool = False
) -> ObjectiveCard:
    from rlxform.frameworks import resolve_scheme
    from rlxform.frameworks.schemes import custom_code

    if isinstance(scheme, sch.Scheme):
        chosen = scheme
    else:
        chosen = resolve_scheme(scheme, allow_import=allow_import)
    if group_size is None:
        raise InputError(
            "group_size=None is invalid: must be an integer >= 1 (no config gives a default)"
        )
    m = chosen.check_group_size(check_group_size(group_size))
    settings = {"scheme": chosen.label, "group_size": m}
    if custom_code([chosen]):  # user code ran to build this card: say whose
        settings["custom_code"] = ", ".join(custom_code([chosen]))
    parts = (
        Section("settings", "Settings", settings),
        sections.objective_section(chosen, m, None),
        Section(
            "lens",
            "Is the lens E[update] = w_M(p) grad p exact here?",
            {"exact": True, "breaks": [], "notes": []},
            (
                "Yes for the scheme itself (0/1 rewards, one on-policy update per batch, "
                "answer-level weights, no KL); a trainer's settings can break it: see "
                "`rlxform explain CONFIG`.",
            ),
        ),
    )
    return ObjectiveCard(f"What {chosen.label} optimises, M = {m}", chosen, m, parts)


def card_json(card: ObjectiveCard) -> str:
    """The card as one JSON object (text)."""
    return json.dumps(_jsonable(card.to_json()), indent=2, allow_nan=True)


def write_card(card: ObjectiveCard, out_dir: Any) -> dict[str, Any]:
    """Write ``card.md``, ``card.json`` and ``card.png`` (h_M vs p, log p, arcsine; w_M)
    atomically into ``out_dir``; returns their paths. Imports matplotlib (the figure)."""
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
