"""The verl release a verl recipe runs on: recipes (verl-recipe, verl's older in-tree ``recipe/``)
pin an older verl than the newest, in a ``REQUIRED_VERL.txt`` (``TAG=v0.6.0``, ``pip install
verl==0.6.0``) or a requirements file beside their launchers. A launch file inside such a folder,
or naming ``recipe.<name>.*``, is read with the pinned release's table: from the pin file next to
it (found with ``inputs.nearby_files``, read as text, nothing imported), else from the recipe pins
shipped in ``data/verl_recipes.json`` (cited there). A pin rlxform cannot map to a release (a
rolling or commit pin, a release older than its tables) leaves the newest defaults, and the card
names the defaults an older release sets otherwise (``readers._unpinned``)."""

from __future__ import annotations

import dataclasses
import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from rlxform import parsing
from rlxform.frameworks.inputs import Found, nearby_files
from rlxform.frameworks.tables import version_key
from rlxform.validation import InputError

PIN_FILES = ("REQUIRED_VERL.txt", "requirements.txt", "requirements-verl.txt")
_RELEASE = re.compile(r"(?:^TAG=v?|\bverl==)(\d+\.\d+(?:\.\d+)?)\b", re.M)
_COMMIT = re.compile(r"^(?:COMMIT|VERL_COMMIT|REPRODUCTION_COMMIT)=([0-9a-f]{7,40})\s*$", re.M)


@dataclasses.dataclass(frozen=True)
class Pin:
    """A recipe's verl pin: ``release`` (None: not mapped to a release) and where it is written."""

    release: str | None
    where: str


@cache
def known_pins() -> dict[str, Any]:
    """data/verl_recipes.json: recipe name -> {release, where}, and its source commit."""
    text = resources.files("rlxform.frameworks").joinpath("data/verl_recipes.json").read_text()
    return json.loads(text)


def recipe_name(program: str | None) -> str | None:
    """``recipe.<name>.main_x`` / ``verl.recipe.<name>.*`` -> name; None for another program."""
    parts = (program or "").removeprefix("verl.").split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "recipe" else None


def _pin_files(found: Found) -> list[Path]:
    """Pin files beside the launch file (its folder first, then up to three parents), then in
    the named recipe's folder; the working directory's last."""
    name = recipe_name(found.program)
    names = [*PIN_FILES]
    if name:
        names += [f"{d}{name}/{f}" for d in ("recipe/", "") for f in PIN_FILES]
    here = Path.cwd()
    files = [p for n in names for p in nearby_files(n, found)]
    return sorted(dict.fromkeys(files), key=lambda p: p.parent == here)


def read_pin(path: Path) -> Pin | None:
    """The verl pin a pin file writes; None when it names no verl."""
    text = parsing.read_text(path)
    lines = text.splitlines()
    for i, line in enumerate(lines, 1):
        found = _RELEASE.search(line)
        if found and ("verl" in line or line.startswith("TAG=")) and "verl" in text:
            return Pin(found.group(1), f"{_shown(path)}:{i} {line.strip()}")
    for i, line in enumerate(lines, 1):
        found = _COMMIT.search(line)
        if found and "verl" in text:
            return Pin(None, f"{_shown(path)}:{i} verl commit {found.group(1)[:8]}, not a release")
    return None


def _shown(path: Path) -> str:
    """A pin file's path as the card names it: relative to the working directory if inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def recipe_pin(found: Found) -> Pin | None:
    """The launch's recipe pin: a pin file near the launch file, else the shipped table."""
    for path in _pin_files(found):
        pin = read_pin(path)
        if pin is not None:
            return pin
    name = recipe_name(found.program)
    entry = known_pins()["recipes"].get(name or "")
    if entry is None:
        return None
    return Pin(entry["release"], f"{entry['where']} at {known_pins()['source']}")


LEGACY = (  # what an older release changes beyond the defaults
    "; and on a verl before 0.8 (the legacy verl.workers.fsdp_workers) token-mean divides by "
    "one GPU micro-batch's tokens (dp_actor.py, core_algos.py:621 in 0.4.1), not the mini-batch's"
)


def verl_pin(record: Any, found: Found) -> tuple[str | None, str, str] | None:
    """(release to read with, note, caveat) for a recipe launch: the release (None: the pin
    does not give one rlxform reads), what the card says, and what an older release changes
    beyond the defaults; None for no recipe and no pin file."""
    pin = recipe_pin(found)
    what = f"{found.program} is a verl recipe" if recipe_name(found.program) else "a verl launch"
    if pin is None:
        if recipe_name(found.program) is None:
            return None
        return None, f"{what} whose verl pin rlxform cannot find (no REQUIRED_VERL.txt)", LEGACY
    if pin.release is not None:
        try:
            table, _ = record.table(pin.release)
        except InputError:
            table = None
        if table is not None:
            same = table.version == pin.release
            note = f"{what} pinned to verl {pin.release} ({pin.where}): the defaults of "
            note += f"{table.label} are used" + ("" if same else " (the nearest it reads)")
            return pin.release, note + "; --framework-version picks another", ""
    named = f"verl {pin.release}" if pin.release else "a verl commit"
    oldest = next(iter(record.tables()))
    why = "older than every release rlxform reads" if pin.release else "no release rlxform maps"
    if pin.release and version_key(pin.release) > version_key(oldest):
        why = "a release rlxform does not read"
    return (
        None,
        f"{what} pinned to {named} ({pin.where}; {why})",
        LEGACY,
    )
