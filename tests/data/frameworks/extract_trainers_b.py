"""Extract the config keys of slime, ROLL and AReaL releases from their source (git tags).

    python tests/data/frameworks/extract_trainers_b.py SRC OUT

SRC holds one source tree per trainer, checked out at the tag (``SRC/slime`` = THUDM/slime v0.3.1,
``SRC/roll`` = alibaba/ROLL v0.3.0, ``SRC/areal`` = inclusionAI/AReaL v1.0.4); OUT is
tests/data/frameworks. Nothing is imported: the files are read with ``ast``.

* slime: every ``parser.add_argument`` / ``reset_arg`` of slime/utils/arguments.py (its own
  flags and the Megatron-LM ones it resets); key = the argparse dest.
* ROLL: the fields of ``RLVRConfig`` (roll/pipeline/rlvr/rlvr_config.py) and its bases
  (``PPOConfig``, ``BaseConfig``, ``ScheduleConfig`` in roll/configs/base_config.py), nested
  into the ROLL dataclasses they hold (``actor_train.training_args.*``, ...); key = the dotted
  YAML path.
* AReaL: the fields of ``GRPOConfig`` (areal/api/cli_args.py) and the dataclasses it holds
  (``actor.*``, ``gconfig.*``, ...); ``NormConfig`` blocks (``actor.reward_norm``,
  ``actor.adv_norm``) default to None, their fields are listed under the block's path.

Each key: default (JSON; ``default_expr`` keeps non-literal defaults as text), type, file, line,
``section`` (where the trainer declares it: slime's argparse group function such as
``add_wandb_arguments``, ROLL's and AReaL's dataclass such as ``TrainingArguments``), and for
slime ``flags`` (option strings), ``action``, ``choices``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

RELEASES = {
    "slime": ("0.3.1", "v0.3.1", "THUDM/slime"),
    "roll": ("0.3.0", "v0.3.0", "alibaba/ROLL"),
    "areal": ("1.0.4", "v1.0.4", "inclusionAI/AReaL"),
}


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return False, ast.unparse(node)


def _type_of(value: Any, annotation: str | None = None) -> str:
    if annotation:
        text = annotation.replace("Optional[", "").replace("typing.", "")
        for name in ("bool", "int", "float", "str"):
            if text.startswith(name) or text.startswith(f"{name} |"):
                return name
        if text.startswith(("list", "List", "tuple", "Tuple")):
            return "list"
        if text.startswith(("dict", "Dict")):
            return "dict"
        if text.startswith("Literal"):
            return "str"
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if isinstance(value, kind):
            return name
    return "list" if isinstance(value, list) else "dict" if isinstance(value, dict) else "any"


# ---- slime: argparse ------------------------------------------------------------------------


def slime_keys(root: Path) -> dict[str, dict[str, Any]]:
    rel = "slime/utils/arguments.py"
    tree = ast.parse((root / rel).read_text())
    functions = [
        (n.lineno, n.end_lineno, n.name) for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
    ]
    keys: dict[str, dict[str, Any]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = (
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        )
        if name not in ("add_argument", "reset_arg"):
            continue
        strings = [
            a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
        ]
        flags = [s for s in strings if s.startswith("-")]
        if not flags:
            continue
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        dest = kw["dest"].value if "dest" in kw else flags[0].lstrip("-").replace("-", "_")
        action = None
        if "action" in kw:
            ok, action = _literal(kw["action"])
            action = action if ok else ast.unparse(kw["action"])
        entry: dict[str, Any] = {"file": rel, "line": node.lineno, "flags": flags}
        # its section: the innermost function declaring the flag (add_wandb_arguments)
        entry["section"] = min(
            (end - start, name) for start, end, name in functions if start <= node.lineno <= end
        )[1]
        if "default" in kw:
            ok, value = _literal(kw["default"])
            entry["default"] = value if ok else None
            if not ok:
                entry["default_expr"] = value
        elif action == "store_true":
            entry["default"] = False
        elif action == "store_false":
            entry["default"] = True
        else:
            entry["default"] = None
        if action:
            entry["action"] = action.rpartition(".")[2]
        if "choices" in kw:
            ok, choices = _literal(kw["choices"])
            if ok:
                entry["choices"] = list(choices)
        type_name = ast.unparse(kw["type"]) if "type" in kw else None
        if (
            action in ("store_true", "store_false")
            or entry.get("action") == "BooleanOptionalAction"
        ):
            entry["type"] = "bool"
        elif "nargs" in kw:
            entry["type"] = "list"
        elif type_name in ("int", "float", "str"):
            entry["type"] = type_name
        else:
            entry["type"] = _type_of(entry["default"]) if entry["default"] is not None else "str"
        if name == "reset_arg":
            entry["reset"] = True  # a Megatron-LM flag whose default slime resets
        if dest in keys and name == "reset_arg":
            continue  # reset of a flag slime also declares: keep the declaration
        keys[dest] = entry
    return dict(sorted(keys.items()))


# ---- ROLL and AReaL: dataclasses --------------------------------------------------------------


class Classes:
    """The ``@dataclass`` classes of some files: fields (name, annotation, default node), bases."""

    def __init__(self, root: Path, files: list[str]) -> None:
        self.classes: dict[str, tuple[str, ast.ClassDef]] = {}
        for rel in files:
            tree = ast.parse((root / rel).read_text())
            for node in tree.body:
                if isinstance(node, ast.ClassDef):
                    self.classes[node.name] = (rel, node)

    def fields(self, name: str) -> list[tuple[str, str, int, str, ast.AST | None, str, str]]:
        """(field, file, line, annotation, default node, how, declaring class) of a class and
        its bases."""
        rel, node = self.classes[name]
        out: dict[str, tuple] = {}
        for base in node.bases:
            base_name = ast.unparse(base)
            if base_name in self.classes:
                for item in self.fields(base_name):
                    out[item[0]] = item
        for stmt in node.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            annotation = ast.unparse(stmt.annotation)
            if annotation.startswith("ClassVar"):
                continue
            default, how = stmt.value, "value"
            if isinstance(default, ast.Call) and ast.unparse(default.func) in (
                "field",
                "dataclasses.field",
            ):
                kw = {k.arg: k.value for k in default.keywords}
                if "default" in kw:
                    default, how = kw["default"], "value"
                elif "default_factory" in kw:
                    default, how = kw["default_factory"], "factory"
                else:
                    default, how = None, "required"
            out[stmt.target.id] = (stmt.target.id, rel, stmt.lineno, annotation, default, how, name)
        return list(out.values())

    def expand(self, name: str, prefix: str, keys: dict, nested_none: dict[str, str]) -> None:
        for field, rel, line, annotation, default, how, owner in self.fields(name):
            path = prefix + field
            factory = ast.unparse(default) if how == "factory" and default is not None else None
            if factory in self.classes:
                self.expand(factory, path + ".", keys, nested_none)
                continue
            entry: dict[str, Any] = {"file": rel, "line": line, "section": owner}
            if how == "required" or default is None:
                entry["default"] = None
                if how == "required":
                    entry["required"] = True
            elif how == "factory":
                ok, value = _literal(ast.Call(default, [], []) if False else default)
                text = ast.unparse(default)
                if text in ("list", "lambda: []"):
                    entry["default"] = []
                elif text in ("dict", "lambda: {}"):
                    entry["default"] = {}
                elif text.startswith("lambda:"):
                    ok, value = _literal(ast.parse(text[7:].strip(), mode="eval").body)
                    entry["default"] = value if ok else None
                    if not ok:
                        entry["default_expr"] = text
                else:
                    entry["default"] = None
                    entry["default_expr"] = text
            else:
                ok, value = _literal(default)
                entry["default"] = value if ok else None
                if not ok:
                    entry["default_expr"] = value
            entry["type"] = _type_of(entry["default"], annotation)
            keys[path] = entry
            block = nested_none.get(
                annotation.replace(" | None", "").replace("Optional[", "").rstrip("]")
            )
            if block and entry["default"] is None:
                entry["type"] = "dict"
                sub: dict[str, Any] = {}
                self.expand(block, path + ".", sub, {})
                keys.update(sub)


def dataclass_keys(root: Path, files: list[str], top: str, nested_none: dict[str, str]):
    classes = Classes(root, files)
    keys: dict[str, dict[str, Any]] = {}
    classes.expand(top, "", keys, nested_none)
    return dict(sorted(keys.items()))


def roll_keys(root: Path) -> dict[str, dict[str, Any]]:
    files = [
        "roll/pipeline/rlvr/rlvr_config.py",
        "roll/configs/base_config.py",
        "roll/configs/worker_config.py",
        "roll/configs/training_args.py",
        "roll/configs/generating_args.py",
        "roll/configs/model_args.py",
        "roll/configs/data_args.py",
    ]
    return dataclass_keys(root, files, "RLVRConfig", {})


def areal_keys(root: Path) -> dict[str, dict[str, Any]]:
    files = ["areal/api/cli_args.py"]
    return dataclass_keys(root, files, "GRPOConfig", {"NormConfig": "NormConfig"})


def main(src: str, out: str) -> None:
    extractors = {"slime": slime_keys, "roll": roll_keys, "areal": areal_keys}
    for name, (version, tag, repo) in RELEASES.items():
        root = Path(src) / name
        try:
            commit = subprocess.check_output(
                ["git", "-C", f"/work/.mirror/{repo.replace('/', '+')}/repo", "rev-parse", tag],
                text=True,
            ).strip()
        except (OSError, subprocess.CalledProcessError):
            commit = None
        keys = extractors[name](root)
        files = sorted({e["file"] for e in keys.values()})
        record = {
            "framework": name,
            "version": version,
            "source": f"{repo} git tag {tag}",
            "commit": commit,
            "files": files,
            "keys": keys,
        }
        path = Path(out) / name / f"{version}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")
        print(path, len(keys), "keys")


if __name__ == "__main__":
    main(*sys.argv[1:3])
