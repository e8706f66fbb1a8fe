"""Extract the config keys and defaults of released verl, TRL and OpenRLHF wheels.

Usage (see README.md beside this file for the download and unpack commands):

    python tests/data/frameworks/extract.py SRC OUT

SRC holds unpacked wheels named ``<package>-<version>/`` (trl, verl, openrlhf, transformers);
OUT receives ``<framework>/<version>.json``. Sources are read as text: TRL's ``GRPOConfig`` and
transformers' ``TrainingArguments`` with ``ast``; verl's Hydra YAML files with PyYAML (composed
here as Hydra composes ``ppo_trainer.yaml``); OpenRLHF's ``train_ppo_ray.py`` argparse block is run
with the standard library's argparse only (the statements of its ``__main__`` block before
``parse_args``; nothing of openrlhf is imported), so loops and f-string flags expand as they do
at run time. Not part of the test suite; needs PyYAML.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path
from typing import Any

from extract_common import first_sentence, json_type, jsonable, wheel_sha256, write
from extract_rules import find_rules
from extract_verl import extract_verl

# ---- TRL: GRPOConfig and the TrainingArguments it inherits ---------------------------------------

_TYPE_NAMES = {
    "int": "int", "float": "float", "bool": "bool", "str": "str", "list": "list", "List": "list",
    "tuple": "list", "Tuple": "list", "dict": "dict", "Dict": "dict", "None": "null",
}  # fmt: skip


def annotation_types(node: ast.AST) -> list[str]:
    """The JSON types an annotation allows (Enum and other classes read as str)."""
    if isinstance(node, ast.Constant):
        if node.value is None:
            return ["null"]
        if isinstance(node.value, str):  # a string annotation
            return annotation_types(ast.parse(node.value, mode="eval").body)
        return [json_type(node.value)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return annotation_types(node.left) + annotation_types(node.right)
    if isinstance(node, ast.Subscript):
        head = ast.unparse(node.value).split(".")[-1]
        inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Optional":
            return [*annotation_types(inner[0]), "null"]
        if head == "Union":
            return [t for part in inner for t in annotation_types(part)]
        if head == "Literal":
            return sorted({json_type(ast.literal_eval(p)) for p in inner})
        return [_TYPE_NAMES.get(head, "str")]
    name = ast.unparse(node).split(".")[-1]
    if name == "Any":
        return ["any"]
    return [_TYPE_NAMES.get(name, "str")]


def field_type(node: ast.AST, default: Any) -> str:
    kinds = [k for k in dict.fromkeys(annotation_types(node)) if k != "null"]
    return "|".join(kinds) if kinds else json_type(default)


def dataclass_fields(path: Path, cls_name: str, rel: str, own_help: bool) -> dict[str, dict]:
    """Fields of one dataclass body (not its bases): name -> entry (default, file, line, ...)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls_name)
    names: dict[str, Any] = {}
    out: dict[str, dict] = {}
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            try:
                names[ast.unparse(stmt.targets[0])] = ast.literal_eval(stmt.value)
            except ValueError:
                pass
            continue
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        if "ClassVar" in ast.unparse(stmt.annotation):
            continue
        value, meta, init = stmt.value, {}, True
        expr: ast.AST | None = value
        factory = False
        if isinstance(value, ast.Call) and ast.unparse(value.func).endswith("field"):
            kws = {k.arg: k.value for k in value.keywords}
            if "init" in kws and ast.literal_eval(kws["init"]) is False:
                init = False
            if "metadata" in kws:
                try:
                    meta = ast.literal_eval(kws["metadata"])
                except ValueError:
                    meta = {}
            expr = kws.get("default", kws.get("default_factory"))
            factory = "default_factory" in kws
        if not init:
            continue
        entry: dict[str, Any] = {}
        if expr is None:
            default, entry["required"] = None, True
        elif factory:
            body = expr.body if isinstance(expr, ast.Lambda) else expr
            src = ast.unparse(body)
            default = {"list": [], "dict": {}}.get(src, None)
            if src not in ("list", "dict"):
                default = ast.literal_eval(body)
        else:
            try:
                default = ast.literal_eval(expr)
            except ValueError:
                src = ast.unparse(expr)
                if src in names:
                    default = names[src]
                else:  # a run-time expression: keep its text
                    default, entry["default_expr"] = None, src
        entry = {
            "default": jsonable(default),
            "file": rel,
            "line": stmt.lineno,
            "type": field_type(stmt.annotation, default),
            **entry,
        }
        if isinstance(meta.get("choices"), (list, tuple)):
            entry["choices"] = jsonable(meta["choices"])
        if own_help and first_sentence(meta.get("help")):
            entry["help"] = first_sentence(meta["help"])
        out[stmt.target.id] = entry
    return out


def trl_min_transformers(root: Path) -> str:
    meta = next(root.glob("*.dist-info/METADATA")).read_text(encoding="utf-8")
    match = re.search(r"^Requires-Dist: transformers>=([0-9.]+)", meta, re.M)
    return match.group(1)


def extract_trl(root: Path, src: Path, version: str) -> dict:
    tf_version = trl_min_transformers(root)
    tf_root = src / f"transformers-{tf_version}"
    grpo = root / "trl/trainer/grpo_config.py"
    tree = ast.parse(grpo.read_text(encoding="utf-8"))
    cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "GRPOConfig")
    base = ast.unparse(cls.bases[0])
    files = [f"transformers-{tf_version}: transformers/training_args.py (TrainingArguments)"]
    keys = {}
    for name, entry in dataclass_fields(
        tf_root / "transformers/training_args.py",
        "TrainingArguments",
        "transformers/training_args.py",
        own_help=False,
    ).items():
        keys[name] = {**entry, "package": f"transformers-{tf_version}"}
    if base != "TrainingArguments":
        rel = "trl/trainer/base_config.py"
        files.append(f"{rel} ({base})")
        keys.update(dataclass_fields(root / rel, base, rel, own_help=True))
    rel = "trl/trainer/grpo_config.py"
    files.append(f"{rel} (GRPOConfig)")
    keys.update(dataclass_fields(grpo, "GRPOConfig", rel, own_help=True))
    return {
        "framework": "trl",
        "version": version,
        "source": f"trl-{version} wheel from PyPI",
        "inherits": f"transformers.TrainingArguments of transformers {tf_version}, the minimum "
        f"trl {version} requires (keys with a 'package' entry)",
        "files": files,
        "keys": keys,
    }


# ---- OpenRLHF: train_ppo_ray.py argparse -------------------------------------------------------


class _FixedClock:
    """Stands in for ``datetime`` in argparse defaults such as a timestamped run name."""

    @staticmethod
    def now():
        import datetime

        return datetime.datetime(2000, 1, 1)


def extract_openrlhf(root: Path, version: str) -> dict:
    rel = "openrlhf/cli/train_ppo_ray.py"
    path = root / rel
    tree = ast.parse(path.read_text(encoding="utf-8"))
    main = next(n for n in tree.body if isinstance(n, ast.If) and "__name__" in ast.unparse(n.test))
    body = []
    for stmt in main.body:
        if "parse_args" in ast.unparse(stmt):
            break
        body.append(stmt)
    lines: dict[int, int] = {}

    class Recorder(argparse.ArgumentParser):
        def add_argument(self, *args, **kwargs):
            action = super().add_argument(*args, **kwargs)
            lines[id(action)] = sys._getframe(1).f_lineno
            return action

    # run-time defaults (a timestamped run name): kept as their source text, default null
    runtime = {
        node.lineno: ast.unparse(kw.value)
        for node in ast.walk(main)
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("add_argument")
        for kw in node.keywords
        if kw.arg == "default" and "datetime" in ast.unparse(kw.value)
    }
    namespace: dict[str, Any] = {"__name__": "extract", "datetime": _FixedClock}
    fake = type(sys)("argparse_rec")
    fake.__dict__.update(vars(argparse))
    fake.ArgumentParser = Recorder
    namespace["argparse"] = fake
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), namespace)
    parser = next(v for v in namespace.values() if isinstance(v, Recorder))
    keys: dict[str, dict] = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        kind = type(action).__name__
        line = lines[id(action)]
        entry: dict[str, Any] = {"default": jsonable(action.default), "file": rel, "line": line}
        if line in runtime:
            entry["default"], entry["default_expr"] = None, runtime[line]
        if kind in ("_StoreTrueAction", "_StoreFalseAction"):
            entry["type"] = "bool"
            entry["action"] = "store_true" if kind == "_StoreTrueAction" else "store_false"
        else:
            typ = action.type
            base = {int: "int", float: "float", str: "str", bool: "bool"}.get(typ)
            if typ is None:  # argparse hands the string through
                base = "str"
            elif base is None:
                base = getattr(typ, "__name__", str(typ))
            entry["type"] = "list" if action.nargs not in (None, "?") else base
            if action.nargs not in (None, "?") or entry["type"] != base:
                entry["item_type"] = base
            if kind != "_StoreAction":
                entry["action"] = kind.strip("_").replace("Action", "").lower()
        if action.nargs not in (None, 0):  # store_true/false have nargs 0
            entry["nargs"] = action.nargs
        if action.choices is not None:
            entry["choices"] = jsonable(list(action.choices))
        flags = [s for s in action.option_strings]
        if flags != [f"--{action.dest}"]:
            entry["flags"] = flags
        if first_sentence(action.help):
            entry["help"] = first_sentence(action.help)
        if action.dest in keys:  # a second flag writing the same dest (e.g. --x.no_y)
            first = keys[action.dest]
            first.setdefault("also", []).append(
                {k: entry[k] for k in ("flags", "line", "action", "default") if k in entry}
            )
            continue
        keys[action.dest] = entry
    return {
        "framework": "openrlhf",
        "version": version,
        "source": f"openrlhf-{version} wheel from PyPI",
        "files": [f"{rel} (argparse of the __main__ block)"],
        "keys": keys,
    }


# ---- main ------------------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    hydra = None
    if "--hydra" in argv:  # cross-check verl's composition with Hydra itself
        import hydra as hydra_module

        hydra = hydra_module.__version__
        argv = [a for a in argv if a != "--hydra"]
    src, out = Path(argv[0]), Path(argv[1])
    wheels = src.parent / "wheels"
    done = []
    for root in sorted(src.iterdir(), key=lambda p: p.name):
        package, _, version = root.name.partition("-")
        if package == "trl":
            record = extract_trl(root, src, version)
        elif package == "verl":
            record = extract_verl(root, version, hydra)
        elif package == "openrlhf":
            record = extract_openrlhf(root, version)
        else:
            continue
        rules = find_rules(package, root, record["keys"])
        if rules:
            record["rules"] = rules
        digest = wheel_sha256(wheels, package, version)
        if digest:
            record["wheel_sha256"] = digest
        write(out / package / f"{version}.json", record)
        done.append(f"{package} {version}: {len(record['keys'])} keys")
    print("\n".join(done))


if __name__ == "__main__":
    main(sys.argv[1:])
