"""Config keys and defaults of prime-rl and of TRL's RLOOTrainer releases (issue 25), from source.

Each release is read as text (``ast``; nothing imported or run) and written to
``<out>/<trainer>/<version>.json`` in the format of README.md (one key per line, ``default``,
``file``, ``line``, ``type``, ``help``):

- prime_rl: the pydantic config classes of ``packages/prime-rl-configs/src/prime_rl/configs/`` at
  the git tag, walked from ``RLConfig`` (rl.py, the ``rl`` entry point: ``trainer.*``,
  ``orchestrator.*``, ``inference.*`` and the shared top-level keys), names resolved per module
  (its classes, ``TypeAlias``es and ``from prime_rl.configs.X import A as B``). A discriminated
  union (``AlgoConfig``, ``LossConfig``, ...) contributes the fields of every variant, each with
  its own variant's default (``variant`` names it when it is not the default one); an optional
  section (``X | None = None``) contributes its fields with the section's own defaults
  (``section``: the section key, null by default). Classes of other packages (verifiers,
  renderers) are leaves (``external``). A list of config objects (``pre_batch_filters``) has its
  default written out field by field.
- trl_rloo: ``RLOOConfig`` (trl/trainer/rloo_config.py) and the ``TrainingArguments`` (or TRL's
  ``_BaseConfig``) it inherits, of every TRL release from 0.22 (the first whose RLOOTrainer is
  the GRPO-style trainer; up to 0.21 it was the PPO-style one, rloo_k and kl_coef) at the latest
  patch of each minor, from the unpacked wheels (the same sources as extract.py's TRL tables).

Usage: python tests/data/frameworks/extract_trainers_c.py PRIME_RL_GIT TRL_SRC OUT (PRIME_RL_GIT:
the git directory of a prime-rl clone with its tags; TRL_SRC: unpacked wheels
``trl-<version>/`` and ``transformers-<version>/`` as in README.md), then
``python tests/data/frameworks/extract_trainers_c.py --tables`` rewrites the ``versions``
section of ``rlxform/frameworks/data/<trainer>.json`` from the files here (keeping its
hand-written ``doc``, ``classes``, ``effects``, ``neutral``, ``only_with``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from extract import dataclass_fields, trl_min_transformers
from extract_common import first_sentence, jsonable, wheel_sha256, write
from extract_trainers_a import annotation_type, commit_of, dump, git_show, literal

PRIME_RL = {"0.8.0": "v0.8.0"}
TRL_RLOO = (
    "0.22.2 0.23.1 0.24.0 0.25.1 0.26.2 0.27.2 0.28.0 0.29.1 1.0.0 1.1.0 1.2.0 1.3.0 1.4.0 "
    "1.5.1 1.6.0 1.7.1 1.8.0 1.9.2 1.10.0 1.11.0 1.12.0 1.13.0 1.14.2 1.15.0 1.16.0"
).split()
_CONFIGS = "packages/prime-rl-configs/src/prime_rl/configs/"
_MODULES = ("shared", "algorithm", "trainer", "orchestrator", "inference", "rl")


# ---- prime-rl: pydantic classes, names resolved per module ----------------------------------


class Module:
    """One config module: its classes, type aliases and imported names."""

    def __init__(self, name: str, text: str):
        self.name, self.path = name, f"{_CONFIGS}{name}.py"
        self.tree = ast.parse(text)
        self.classes: dict[str, ast.ClassDef] = {}
        self.aliases: dict[str, ast.AST] = {}
        self.imports: dict[str, tuple[str, str]] = {}  # local name -> (module, name)
        for node in self.tree.body:
            if isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif isinstance(node, ast.AnnAssign) and "TypeAlias" in ast.unparse(node.annotation):
                self.aliases[node.target.id] = node.value
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "prime_rl.configs."
            ):
                home = node.module.rsplit(".")[-1]
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (home, alias.name)


class Prime:
    """The prime-rl config modules of one release; ``keys()`` walks ``RLConfig``."""

    def __init__(self, git: Path, tag: str):
        self.modules = {m: Module(m, git_show(git, tag, f"{_CONFIGS}{m}.py")) for m in _MODULES}
        self.keys: dict[str, dict] = {}

    def resolve(self, module: str, name: str) -> tuple[str, str, str] | None:
        """(module, kind "class" | "alias", name) of a name used in ``module``, or None."""
        mod = self.modules[module]
        if name in mod.classes:
            return module, "class", name
        if name in mod.aliases:
            return module, "alias", name
        if name in mod.imports:
            other, real = mod.imports[name]
            return self.resolve(other, real) if other in self.modules else None
        return None

    def classes_of(self, module: str, node: ast.AST | None) -> list[tuple[str, str]]:
        """The local config classes an annotation names ((module, class), unions flattened,
        Optional / Annotated / SerializeAsAny stripped); [] for anything else."""
        if node is None:
            return []
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self.classes_of(module, ast.parse(node.value, mode="eval").body)
        if isinstance(node, ast.BinOp):
            return self.classes_of(module, node.left) + self.classes_of(module, node.right)
        if isinstance(node, ast.Subscript):
            head = ast.unparse(node.value).split(".")[-1]
            inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if head in ("Annotated", "SerializeAsAny"):
                return self.classes_of(module, inner[0])
            if head in ("Union", "Optional"):
                return [c for part in inner for c in self.classes_of(module, part)]
            return []
        if isinstance(node, ast.Name):
            found = self.resolve(module, node.id)
            if found is None:
                return []
            where, kind, name = found
            if kind == "alias":
                return self.classes_of(where, self.modules[where].aliases[name])
            return [(where, name)]
        return []

    def fields(self, module: str, name: str) -> list[tuple[str, ast.AnnAssign, str, str]]:
        """(field, node, module, docstring) of a class and its local bases, bases first."""
        node = self.modules[module].classes[name]
        out: list[tuple[str, ast.AnnAssign, str, str]] = []
        for base in node.bases:
            found = self.resolve(module, ast.unparse(base))
            if found and found[1] == "class":
                out += self.fields(found[0], found[2])
        body = node.body
        for i, stmt in enumerate(body):
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            if "ClassVar" in ast.unparse(stmt.annotation):
                continue
            doc = ""
            if i + 1 < len(body) and isinstance(body[i + 1], ast.Expr):
                value = body[i + 1].value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    doc = value.value
            out = [f for f in out if f[0] != stmt.target.id]
            out.append((stmt.target.id, stmt, module, doc))
        return out

    def value(self, module: str, node: ast.AST | None) -> tuple[bool, Any]:
        """(ok, JSON value) of a default: a literal, ``Path("x")``, a config call (its fields'
        defaults with the call's keywords) or a list of those."""
        if node is None:
            return False, None
        ok, got = literal(node)
        if ok and got is not Ellipsis:
            return True, jsonable(got)
        if ok:  # Field(...): required, no default
            return False, None
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.value(module, e) for e in node.elts]
            return all(ok for ok, _ in items), [v for _, v in items]
        if isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            if func == "Path" and node.args:
                return literal(node.args[0])
            found = self.resolve(module, func)
            if found and found[1] == "class":
                out: dict[str, Any] = {}
                for field, stmt, where, _ in self.fields(found[0], found[2]):
                    ok, got = self.default(where, stmt)
                    out[field] = got if ok else None
                for kw in node.keywords:
                    ok, got = self.value(module, kw.value)
                    out[kw.arg] = got if ok else ast.unparse(kw.value)
                return True, out
        return False, None

    def default(self, module: str, stmt: ast.AnnAssign) -> tuple[bool, Any]:
        """(ok, default) of a field: ``x: T = v`` or ``Field(v, ...)`` / ``Field(default=v)``."""
        value = stmt.value
        if isinstance(value, ast.Call) and ast.unparse(value.func) == "Field":
            kw = {k.arg: k.value for k in value.keywords}
            if value.args:
                return self.value(module, value.args[0])
            if "default" in kw:
                return self.value(module, kw["default"])
            factory = kw.get("default_factory")
            if isinstance(factory, ast.Name) and factory.id in ("list", "dict"):
                return True, [] if factory.id == "list" else {}
            if isinstance(factory, ast.Name):  # a config class: its defaults
                return self.value(module, ast.Call(factory, [], []))
            return False, None
        if value is None:
            return True, None
        return self.value(module, value)

    def walk(self, module: str, name: str, prefix: str, extra: dict | None = None) -> None:
        for field, stmt, where, doc in self.fields(module, name):
            key = prefix + field
            classes = self.classes_of(where, stmt.annotation)
            ok, default = self.default(where, stmt)
            text = ast.unparse(stmt.annotation)
            entry: dict[str, Any] = {
                "default": default if ok else None,
                "file": self.modules[where].path,
                "line": stmt.lineno,
                "type": annotation_type(stmt.annotation),
            }
            required = stmt.value is None or "Field(..." in ast.unparse(stmt.value)
            if not ok and not required:
                entry["default_expr"] = ast.unparse(stmt.value)
            if required:
                entry["required"] = True
            if doc:
                entry["help"] = first_sentence(doc)
            entry.update(extra or {})
            listed = text.startswith(("list[", "List["))
            if listed and (classes or self._external(where, stmt)):
                entry["type"] = "list"
                entry["items"] = text[5:-1]
            elif classes:
                entry["type"] = "section"
                self.keys.setdefault(key, entry)
                chosen = default.get("type") if isinstance(default, dict) else None
                optional = default is None and not entry.get("required")
                section = {"section": key} if optional else {}
                variants = {c: self._variant(*c) for c in classes}
                classes.sort(key=lambda c: variants[c] != chosen)  # the default's variant first
                for cls_module, cls_name in classes:
                    variant = variants[(cls_module, cls_name)]
                    mark = dict(extra or {}, **section)
                    if len(classes) > 1 and variant is not None and variant != chosen:
                        mark["variant"] = variant
                    self.walk(cls_module, cls_name, key + ".", mark)
                continue
            elif text not in ("Path", "str") and self._external(where, stmt):
                entry["type"] = "section"
                entry["external"] = text
            self.keys.setdefault(key, entry)

    def _variant(self, module: str, name: str) -> str | None:
        for field, stmt, where, _ in self.fields(module, name):
            if field == "type":
                ok, got = self.default(where, stmt)
                return got if ok else None
        return None

    def _external(self, module: str, stmt: ast.AnnAssign) -> bool:
        """A class of another package (verifiers, renderers): not a builtin type."""
        text = ast.unparse(stmt.annotation)
        names = {n.id for n in ast.walk(stmt.annotation) if isinstance(n, ast.Name)}
        names |= {n.attr for n in ast.walk(stmt.annotation) if isinstance(n, ast.Attribute)}
        builtin = {"int", "float", "bool", "str", "None", "Literal", "Any", "Path", "list", "dict"}
        builtin |= {"Annotated", "Field", "EnvVars", "tuple", "SerializeAsAny", "Optional"}
        return "vf." in text or bool(names - builtin - {"ge", "gt", "le", "lt"})


def extract_prime_rl(git: Path, version: str, tag: str) -> dict:
    prime = Prime(git, tag)
    prime.walk("rl", "RLConfig", "")
    return {
        "framework": "prime_rl",
        "version": version,
        "source": f"PrimeIntellect-ai/prime-rl git tag {tag} (commit {commit_of(git, tag)})",
        "files": [prime.modules[m].path for m in _MODULES],
        "root": "RLConfig (rl.py): the rl entry point; the trainer and orchestrator entry "
        "points read TrainerConfig / OrchestratorConfig, the keys under trainer. / orchestrator.",
        "keys": dict(sorted(prime.keys.items())),
    }


# ---- TRL RLOOConfig -------------------------------------------------------------------------


def extract_trl_rloo(src: Path, version: str) -> dict:
    root = src / f"trl-{version}"
    tf_version = trl_min_transformers(root)
    rloo = root / "trl/trainer/rloo_config.py"
    tree = ast.parse(rloo.read_text(encoding="utf-8"))
    cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "RLOOConfig")
    base = ast.unparse(cls.bases[0])
    keys = {}
    files = [f"transformers-{tf_version}: transformers/training_args.py (TrainingArguments)"]
    for name, entry in dataclass_fields(
        src / f"transformers-{tf_version}/transformers/training_args.py",
        "TrainingArguments",
        "transformers/training_args.py",
        own_help=False,
    ).items():
        keys[name] = {**entry, "package": f"transformers-{tf_version}"}
    if base != "TrainingArguments":
        rel = "trl/trainer/base_config.py"
        files.append(f"{rel} ({base})")
        keys.update(dataclass_fields(root / rel, base, rel, own_help=True))
    rel = "trl/trainer/rloo_config.py"
    files.append(f"{rel} (RLOOConfig)")
    keys.update(dataclass_fields(rloo, "RLOOConfig", rel, own_help=True))
    wheels = src.parent / "wheels"
    return {
        "framework": "trl_rloo",
        "version": version,
        "source": f"trl-{version} wheel from PyPI",
        "inherits": f"transformers.TrainingArguments of transformers {tf_version}, the minimum "
        f"trl {version} requires (keys with a 'package' entry)",
        "files": files,
        "wheel_sha256": wheel_sha256(wheels, "trl", version),
        "keys": keys,
    }


# ---- runtime tables -------------------------------------------------------------------------

# RLOOConfig's deprecated aliases, read under their new names (0.22.2 rloo_config.py:588-598,
# _DEPRECATED_PARAMS; removed in 0.25): first seen in the first release listed
RENAMES = {
    "trl_rloo": {
        "0.22.2": {
            "rloo_k": "num_generations",
            "cliprange": "epsilon",
            "kl_coef": "beta",
            "normalize_reward": "normalize_advantages",
            "num_ppo_epochs": "num_iterations",
            "num_mini_batches": "steps_per_generation",
            "exp_name": "run_name",
            "response_length": "max_completion_length",
        }
    }
}

HERE = Path(__file__).resolve().parent
TABLES = HERE.parents[2] / "rlxform" / "frameworks" / "data"
TRAINERS = ("prime_rl", "trl_rloo")


def build_table(framework: str) -> dict:
    """The runtime table: hand-written sections kept, ``versions`` from the extracted files."""
    import json
    import re

    path = TABLES / f"{framework}.json"
    table = json.loads(path.read_text(encoding="utf-8"))
    versions, prev = {}, None
    files = sorted(
        (HERE / framework).glob("*.json"),
        key=lambda p: tuple(int(x) for x in re.findall(r"\d+", p.stem)),
    )
    for file in files:
        data = json.loads(file.read_text(encoding="utf-8"))
        keys = data["keys"]
        versions[data["version"]] = {
            "source": f"{data['source']} (tests/data/frameworks/{framework}/{file.name})",
            "defaults": {k: v["default"] for k, v in keys.items()},
            "renamed": RENAMES.get(framework, {}).get(data["version"], {}),
            "removed": [k for k in (prev or {}) if k not in keys],
        }
        prev = keys
    table["versions"] = versions
    table["latest"] = list(versions)[-1]
    order = ["framework", "doc", "latest", "classes", "effects", "neutral", "only_with", "versions"]
    return {k: table[k] for k in order if k in table}


def main(argv: list[str]) -> None:
    if argv[:1] == ["--tables"]:
        for framework in argv[1:] or TRAINERS:
            text = dump(build_table(framework)) + "\n"
            (TABLES / f"{framework}.json").write_text(text, encoding="utf-8")
        return
    prime, trl_src, out = (Path(a) for a in argv)
    for version, tag in PRIME_RL.items():
        write(out / "prime_rl" / f"{version}.json", extract_prime_rl(prime, version, tag))
    for version in TRL_RLOO:
        write(out / "trl_rloo" / f"{version}.json", extract_trl_rloo(trl_src, version))


if __name__ == "__main__":
    main(sys.argv[1:])
