"""Write rlxform/frameworks/data/{slime,roll,areal}.json from the extracted releases here.

    python tests/data/frameworks/build_tables_trainers_b.py

The ``versions`` section (every key's default, the file's source) comes from
tests/data/frameworks/<trainer>/<version>.json (extract_trainers_b.py); ``classes``, ``effects``,
``neutral`` and ``only_with`` are written by hand in classes_slime.py, classes_roll.py and
classes_areal.py (beside this script), from reading each trainer's code at the named tag
(file:line in the effects and in tests/data/trainers/README.md). Every key has a rule of its own
or falls under a glob over one section of its config; there is no catch-all.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from classes_areal import AREAL
from classes_roll import ROLL
from classes_slime import SLIME

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "frameworks"
TABLES = ROOT / "rlxform" / "frameworks" / "data"
DOC = json.loads((TABLES / "openrlhf.json").read_text())["doc"]

HAND = {"slime": SLIME, "roll": ROLL, "areal": AREAL}


SWITCHES_DOC = (
    "versions[V].switches: the flags of release V that take no value (argparse "
    "store_true, store_false, BooleanOptionalAction and its --no- form), as dests of the flag "
    "spelling (--colocate -> colocate); the word after one is never its value."
)
_SWITCH_ACTIONS = ("store_true", "store_false", "BooleanOptionalAction")


def _switches(keys: dict) -> list[str]:
    out = set()
    for entry in keys.values():
        if entry.get("action") in _SWITCH_ACTIONS:
            for flag in entry["flags"]:
                out.add(flag.lstrip("-").replace("-", "_"))
                if entry["action"] == "BooleanOptionalAction":
                    out.add("no_" + flag.lstrip("-").replace("-", "_"))
    return sorted(out)


def build(name: str) -> dict:
    versions = {}
    for path in sorted((DATA / name).glob("*.json")):
        release = json.loads(path.read_text())
        versions[release["version"]] = {
            "source": f"{release['source']} ({release['commit']}); extracted file "
            f"tests/data/frameworks/{name}/{path.name}",
            "defaults": {k: e["default"] for k, e in release["keys"].items()},
            "renamed": {},
            "removed": [],
            "rules": {},
        }
        switches = _switches(release["keys"])
        if switches:  # argparse flags that take no value (slime)
            versions[release["version"]]["switches"] = switches
    hand = HAND[name]
    doc = DOC
    if any("switches" in v for v in versions.values()):
        doc = {**DOC, "switches": SWITCHES_DOC}
    return {
        "framework": name,
        "doc": doc,
        "latest": list(versions)[-1],
        "classes": hand["classes"],
        "effects": hand["effects"],
        "neutral": hand["neutral"],
        "only_with": hand["only_with"],
        "versions": versions,
    }


if __name__ == "__main__":
    for trainer in HAND:
        out = TABLES / f"{trainer}.json"
        out.write_text(json.dumps(build(trainer), indent=1) + "\n")
        print(out)
