"""Config keys and defaults of NeMo-RL, Open-Instruct and SkyRL releases (issue 25), from source.

Each release is read from a git checkout of the project at its tag (``git show TAG:PATH``;
nothing is imported or run) and written to ``<out>/<trainer>/<version>.json`` in the format of
README.md (one key per line, ``default``, ``file``, ``line``, ``type``, ``help``):

- nemo_rl: ``examples/configs/grpo_math_1B.yaml`` (the config ``examples/run_grpo.py`` loads
  without ``--config`` and that the shipped configs inherit through ``defaults:``), flattened to
  dotted keys with their YAML lines (``${...}`` interpolations kept as text in
  ``interpolation``, the value resolved by this script when it names one key), plus the fields
  of the algorithm's config classes (``GRPOConfig``, ``AdvEstimatorConfig``,
  ``RewardScalingConfig``, ``RewardShapingConfig``, ``AsyncGRPOConfig`` in grpo.py,
  ``ClippedPGLossConfig`` in the loss module) that the YAML leaves out, with the default the code
  uses (a pydantic default, or the fallback of a ``.get("key", default)`` in grpo.py; null and
  ``default_expr`` otherwise).
- open_instruct: the fields of the dataclasses ``grpo_fast.py``'s ``ArgumentParserPlus`` parses
  (``GRPOExperimentConfig`` and its bases, ``TokenizerConfig``, ``ModelConfig``,
  ``StreamingDataLoaderConfig``, ``VLLMConfig``, ``EnvsConfig``), with the parser's
  ``set_defaults`` applied; flags are ``--<field>`` (bools also ``--no_<field>`` when True).
- skyrl: the nested dataclasses of ``skyrl/train/config/config.py`` from ``SkyRLTrainConfig``,
  as dotted Hydra keys (``trainer.algorithm.grpo_norm_by_std``).

Usage: python tests/data/frameworks/extract_trainers_a.py NEMO_GIT OPEN_INSTRUCT_GIT SKYRL_GIT OUT
(the git directories of clones with their tags; see the README.md of each trainer's folder), then
``python tests/data/frameworks/extract_trainers_a.py --tables`` rewrites the ``versions`` section
of ``rlxform/frameworks/data/<trainer>.json`` from the files here (defaults, interpolations,
removed keys), keeping its hand-written ``doc``, ``classes``, ``effects``, ``neutral``,
``only_with``.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from extract_common import first_sentence, json_type, jsonable, write

NEMO_RL = {  # version -> tag
    "0.3.1": "v0.3.1",
    "0.4.0": "v0.4.0",
    "0.5.0": "v0.5.0",
    "0.6.0": "v0.6.0",
    "0.7.0": "v0.7.0",
}
OPEN_INSTRUCT = {"0.3.0": "v0.3.0"}
SKYRL = {"0.3.0": "skyrl-v0.3.0"}


def git_show(git: Path, tag: str, path: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git}", "show", f"{tag}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def git_files(git: Path, tag: str) -> list[str]:
    out = subprocess.run(
        ["git", f"--git-dir={git}", "ls-tree", "-r", "--name-only", tag],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()


def commit_of(git: Path, tag: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git}", "rev-parse", f"{tag}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


# ---- ast helpers ---------------------------------------------------------------------------


def literal(node: ast.AST) -> tuple[bool, Any]:
    """(ok, value) of a literal expression (lists, dicts, numbers, strings, None, -x)."""
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def annotation_type(node: ast.AST | None) -> str:
    """float|int|bool|str|list|dict (joined with |), 'any' otherwise; Optional's None dropped."""
    if node is None:
        return "any"
    text = ast.unparse(node)
    names = []
    for name, kind in (
        ("bool", "bool"),
        ("int", "int"),
        ("float", "float"),
        ("str", "str"),
        ("list", "list"),
        ("List", "list"),
        ("tuple", "list"),
        ("dict", "dict"),
        ("Dict", "dict"),
        ("Literal", "str"),
    ):
        if re.search(rf"\b{name}\b", text) and kind not in names:
            names.append(kind)
    if "Literal" in text:
        values = re.findall(r"Literal\[(.*?)\]", text)
        if values and re.fullmatch(r"[\d,\s]+", values[0]):
            names = ["int"]
    return "|".join(names) or ("str" if re.search(r"Enum|Type\b", text) else "any")


class Classes:
    """Class definitions by name across source files (dataclasses, TypedDicts, enums)."""

    def __init__(self, sources: dict[str, str], prefer: dict[str, str] | None = None):
        self.defs: dict[str, tuple[ast.ClassDef, str, str]] = {}
        prefer = prefer or {}
        for path, text in sources.items():
            for node in ast.walk(ast.parse(text)):
                if not isinstance(node, ast.ClassDef):
                    continue
                if node.name not in self.defs or prefer.get(node.name) == path:
                    self.defs[node.name] = (node, path, text)

    def enum_value(self, node: ast.AST) -> tuple[bool, Any]:
        """``Enum.member`` -> the member's literal value."""
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            found = self.defs.get(node.value.id)
            if found:
                for stmt in found[0].body:
                    if (
                        isinstance(stmt, ast.Assign)
                        and isinstance(stmt.targets[0], ast.Name)
                        and stmt.targets[0].id == node.attr
                    ):
                        return literal(stmt.value)
        return False, None

    def fields(self, name: str, seen=()) -> list[tuple[str, ast.AnnAssign, str, str]]:
        """(field, node, file, docstring) of a class and its bases (bases first)."""
        if name not in self.defs or name in seen:
            return []
        node, path, _ = self.defs[name]
        out = []
        for base in node.bases:
            base_name = ast.unparse(base).split("[")[0].split(".")[-1]
            out += self.fields(base_name, (*seen, name))
        body = node.body
        for i, stmt in enumerate(body):
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                if isinstance(stmt.value, ast.Call) and any(
                    k.arg == "init" and isinstance(k.value, ast.Constant) and k.value.value is False
                    for k in stmt.value.keywords
                ):
                    continue  # field(init=False): not an argument
                doc = ""
                if i + 1 < len(body) and isinstance(body[i + 1], ast.Expr):
                    value = body[i + 1].value
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        doc = value.value
                out = [f for f in out if f[0] != stmt.target.id]
                out.append((stmt.target.id, stmt, path, doc))
        return out


def field_default(cls: Classes, stmt: ast.AnnAssign) -> dict[str, Any]:
    """{"default": ..., "nested": class name, "default_expr": text, "help": ...}."""
    value = stmt.value
    out: dict[str, Any] = {}
    if value is None:
        return {"default": None, "required": True}
    if isinstance(value, ast.Call) and ast.unparse(value.func) in ("field", "dataclasses.field"):
        kw = {k.arg: k.value for k in value.keywords}
        meta = kw.get("metadata")
        if isinstance(meta, ast.Dict):
            for k, v in zip(meta.keys, meta.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == "help":
                    ok, text = literal(v)
                    out["help"] = text if ok else None
        if "default" in kw:
            value = kw["default"]
        elif "default_factory" in kw:
            factory = kw["default_factory"]
            if isinstance(factory, ast.Name) and factory.id in cls.defs:
                return {**out, "nested": factory.id}
            if isinstance(factory, ast.Name) and factory.id in ("list", "dict"):
                return {**out, "default": [] if factory.id == "list" else {}}
            if isinstance(factory, ast.Lambda):
                body = factory.body
                while (  # copy.deepcopy(Config(...)) -> Config(...)
                    isinstance(body, ast.Call)
                    and ast.unparse(body.func) in ("copy.deepcopy", "deepcopy")
                    and body.args
                ):
                    body = body.args[0]
                if isinstance(body, ast.Call) and ast.unparse(body.func) in cls.defs:
                    given = {k.arg: literal(k.value) for k in body.keywords}
                    given = {k: v for k, (ok, v) in given.items() if ok}
                    return {**out, "nested": ast.unparse(body.func), "overrides": given}
                ok, got = literal(factory.body)
                if ok:
                    return {**out, "default": got}
            return {**out, "default": None, "default_expr": ast.unparse(factory)}
        else:
            return {**out, "default": None, "required": True}
    ok, got = literal(value)
    if not ok:
        ok, got = cls.enum_value(value)
    if ok:
        return {**out, "default": got}
    return {**out, "default": None, "default_expr": ast.unparse(value)}


# ---- NeMo-RL --------------------------------------------------------------------------------


def yaml_leaves(text: str) -> dict[str, tuple[Any, int, str | None]]:
    """Dotted key -> (value, 1-based line, comment help) of a YAML mapping (lists are leaves)."""
    root = yaml.compose(text)
    lines = text.splitlines()
    out: dict[str, tuple[Any, int, str | None]] = {}

    def walk(node, prefix):
        for key_node, value_node in node.value:
            key = prefix + str(key_node.value)
            if isinstance(value_node, yaml.MappingNode) and value_node.value:
                walk(value_node, key + ".")
                continue
            value = yaml.safe_load(yaml.serialize(value_node)) if value_node is not None else None
            line = key_node.start_mark.line
            comment = lines[line].partition("#")[2].strip() if "#" in lines[line] else None
            out[key] = (value, line + 1, comment or None)

    walk(root, "")
    return out


_INTERP = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")


def resolve(values: dict[str, Any], value: Any, depth: int = 0) -> Any:
    """A ``${a.b}`` value resolved from the other keys (one key, nested up to 8 deep)."""
    if isinstance(value, str) and depth < 8:
        match = _INTERP.fullmatch(value.strip())
        if match and match[1] in values:
            return resolve(values, values[match[1]], depth + 1)
    return value


_NEMO_CLASSES = {  # dotted prefix -> class (grpo.py, loss module)
    "grpo.": "GRPOConfig",
    "grpo.adv_estimator.": "AdvEstimatorConfig",
    "grpo.reward_scaling.": "RewardScalingConfig",
    "grpo.reward_shaping.": "RewardShapingConfig",
    "grpo.async_grpo.": "AsyncGRPOConfig",
    "loss_fn.": "ClippedPGLossConfig",
}


def extract_nemo_rl(git: Path, version: str, tag: str) -> dict:
    files = git_files(git, tag)
    config = "examples/configs/grpo_math_1B.yaml"
    grpo_py = "nemo_rl/algorithms/grpo.py"
    loss_py = next(f for f in files if f.endswith("loss_functions.py") and "algorithms" in f)
    shaping = [f for f in files if f.endswith("reward_functions.py") and "algorithms" in f]
    text = git_show(git, tag, config)
    leaves = yaml_leaves(text)
    raw = {k: v[0] for k, v in leaves.items()}
    keys: dict[str, dict] = {}
    for key, (value, line, comment) in leaves.items():
        entry: dict[str, Any] = {"default": jsonable(resolve(raw, value))}
        if isinstance(value, str) and "${" in value:
            entry["interpolation"] = value
        entry.update(file=config, line=line, type=json_type(entry["default"]))
        if comment:
            entry["help"] = first_sentence(comment)
        keys[key] = entry
    sources = {grpo_py: git_show(git, tag, grpo_py), loss_py: git_show(git, tag, loss_py)}
    for path in shaping:
        sources[path] = git_show(git, tag, path)
    cls = Classes(sources)
    grpo_text = sources[grpo_py]
    for prefix, name in _NEMO_CLASSES.items():
        for field, stmt, path, doc in cls.fields(name):
            key = prefix + field
            if key in keys and keys[key]["type"] == "null":  # typed by the class annotation
                keys[key]["type"] = annotation_type(stmt.annotation)
            if key in keys or any(k.startswith(key + ".") for k in keys):
                continue
            kind = annotation_type(stmt.annotation)
            if kind.split("|")[0] == "any" and ast.unparse(stmt.annotation) in cls.defs:
                continue  # a nested section the YAML does not hold: its fields come with it
            got = field_default(cls, stmt)
            if got.get("required") or "NotRequired" in ast.unparse(stmt.annotation):
                got.pop("required", None)
                fallback = re.search(
                    rf"""\.get\(\s*["']{re.escape(field)}["']\s*,\s*([^()\n]+?)\s*\)""", grpo_text
                )
                if fallback:
                    ok, val = literal(ast.parse(fallback[1], mode="eval").body)
                    got["default"] = val if ok else None
                    if not ok:
                        got["default_expr"] = fallback[1]
                    got["fallback_line"] = grpo_text[: fallback.start()].count("\n") + 1
                else:
                    got.setdefault("default", None)
                    got["absent"] = "not in the YAML; the code reads it only where set"
            entry = {
                "default": jsonable(got.get("default")),
                "file": path,
                "line": stmt.lineno,
                "type": kind,
            }
            for extra in ("default_expr", "fallback_line", "absent"):
                if extra in got:
                    entry[extra] = got[extra]
            if doc or got.get("help"):
                entry["help"] = first_sentence(doc or got.get("help"))
            keys[key] = entry
    return {
        "framework": "nemo_rl",
        "version": version,
        "source": f"NVIDIA-NeMo/RL git tag {tag} (commit {commit_of(git, tag)})",
        "files": [config, grpo_py, loss_py],
        "keys": dict(sorted(keys.items())),
    }


# ---- Open-Instruct --------------------------------------------------------------------------

_OI_FILES = (
    "open_instruct/grpo_fast.py",
    "open_instruct/grpo_utils.py",
    "open_instruct/olmo_core_utils.py",
    "open_instruct/dataset_transformation.py",
    "open_instruct/model_utils.py",
    "open_instruct/data_loader.py",
    "open_instruct/environments/tools/utils.py",
)
_OI_CLASSES = (
    "GRPOExperimentConfig",
    "TokenizerConfig",
    "ModelConfig",
    "StreamingDataLoaderConfig",
    "VLLMConfig",
    "EnvsConfig",
)


def extract_open_instruct(git: Path, version: str, tag: str) -> dict:
    sources = {path: git_show(git, tag, path) for path in _OI_FILES}
    cls = Classes(sources, prefer={"ModelConfig": "open_instruct/model_utils.py"})
    main = sources["open_instruct/grpo_fast.py"]
    call = re.search(r"parser\.set_defaults\((.*?)\)\n", main)
    overrides = {}
    if call:
        tree = ast.parse(f"f({call[1]})", mode="eval").body
        overrides = {k.arg: ast.literal_eval(k.value) for k in tree.keywords}
        override_line = main[: call.start()].count("\n") + 1
    keys: dict[str, dict] = {}
    for name in _OI_CLASSES:
        for field, stmt, path, doc in cls.fields(name):
            got = field_default(cls, stmt)
            entry: dict[str, Any] = {
                "default": jsonable(got.get("default")),
                "file": path,
                "line": stmt.lineno,
                "type": annotation_type(stmt.annotation),
                "class": name,
            }
            if field in overrides:
                entry.update(
                    default=overrides[field],
                    file="open_instruct/grpo_fast.py",
                    line=override_line,
                    overrides=f"{path}:{stmt.lineno}",
                )
            if "default_expr" in got:
                entry["default_expr"] = got["default_expr"]
            if got.get("required"):
                entry["required"] = True
            if entry["type"] == "bool" and entry["default"] is True:
                entry["also"] = f"--no_{field}"  # HfArgumentParser: store_false, same dest
            if doc or got.get("help"):
                entry["help"] = first_sentence(doc or got.get("help"))
            keys[field] = entry
    return {
        "framework": "open_instruct",
        "version": version,
        "source": f"allenai/open-instruct git tag {tag} (commit {commit_of(git, tag)})",
        "files": list(_OI_FILES),
        "keys": dict(sorted(keys.items())),
    }


# ---- SkyRL ----------------------------------------------------------------------------------

_SKY_CONFIG = "skyrl/train/config/config.py"


def extract_skyrl(git: Path, version: str, tag: str) -> dict:
    files = git_files(git, tag)
    extra = [f for f in files if re.search(r"skyrl_gym/envs/(search|sql)/env\.py$", f)]
    sources = {_SKY_CONFIG: git_show(git, tag, _SKY_CONFIG)}
    for path in extra:
        sources[path] = git_show(git, tag, path)
    cls = Classes(sources)
    keys: dict[str, dict] = {}

    def walk(name: str, prefix: str, depth: int = 0, given=None) -> None:
        for field, stmt, path, doc in cls.fields(name):
            got = field_default(cls, stmt)
            if "nested" in got and depth < 8:
                walk(got["nested"], f"{prefix}{field}.", depth + 1, got.get("overrides"))
                continue
            if given and field in given:  # Config(field=value) in the parent's default_factory
                got = {**got, "default": given[field]}
                got.pop("default_expr", None)
            entry: dict[str, Any] = {
                "default": jsonable(got.get("default")),
                "file": path,
                "line": stmt.lineno,
                "type": annotation_type(stmt.annotation),
            }
            if "default_expr" in got:
                entry["default_expr"] = got["default_expr"]
            if doc or got.get("help"):
                entry["help"] = first_sentence(doc or got.get("help"))
            keys[prefix + field] = entry

    walk("SkyRLTrainConfig", "")
    return {
        "framework": "skyrl",
        "version": version,
        "source": f"NovaSky-AI/SkyRL git tag {tag} (commit {commit_of(git, tag)}; = PyPI skyrl "
        f"{version})",
        "files": [_SKY_CONFIG, *extra],
        "keys": dict(sorted(keys.items())),
    }


HERE = Path(__file__).resolve().parent
TABLES = HERE.parents[2] / "rlxform" / "frameworks" / "data"
TRAINERS = ("nemo_rl", "open_instruct", "skyrl")


def vkey(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def build_table(framework: str) -> dict:
    """The runtime table: hand-written sections kept, ``versions`` from the extracted files."""
    path = TABLES / f"{framework}.json"
    table = json.loads(path.read_text(encoding="utf-8"))
    versions, prev = {}, None
    for file in sorted((HERE / framework).glob("*.json"), key=lambda p: vkey(p.stem)):
        data = json.loads(file.read_text(encoding="utf-8"))
        keys = data["keys"]
        entry = {
            "source": f"{data['source']} (tests/data/frameworks/{framework}/{file.name})",
            "defaults": {k: v["default"] for k, v in keys.items()},
            "renamed": {},
            "removed": [k for k in (prev or {}) if k not in keys],
        }
        interpolations = {k: v["interpolation"] for k, v in keys.items() if "interpolation" in v}
        if interpolations:
            entry["interpolations"] = interpolations
        versions[data["version"]] = entry
        prev = keys
    table["versions"] = versions
    table["latest"] = list(versions)[-1]
    order = ["framework", "doc", "latest", "classes", "effects", "neutral", "only_with", "versions"]
    return {k: table[k] for k in order if k in table}


def dump(obj, path: tuple = ()) -> str:
    """JSON with one entry a line (as build_tables.py writes the other trainers' tables)."""
    level = len(path)
    wide = isinstance(obj, dict) and obj and (level < 2 or (path[0] == "versions" and level < 4))
    if not wide:
        return json.dumps(obj, ensure_ascii=False)
    pad = " " * (level + 1)
    inner = ",\n".join(
        f"{pad}{json.dumps(k, ensure_ascii=False)}: {dump(v, (*path, k))}" for k, v in obj.items()
    )
    return "{\n" + inner + "\n" + " " * level + "}"


def main(argv: list[str]) -> None:
    if argv[:1] == ["--tables"]:
        for framework in argv[1:] or TRAINERS:
            text = dump(build_table(framework)) + "\n"
            (TABLES / f"{framework}.json").write_text(text, encoding="utf-8")
        return
    nemo, oi, sky, out = (Path(a) for a in argv)
    for version, tag in NEMO_RL.items():
        write(out / "nemo_rl" / f"{version}.json", extract_nemo_rl(nemo, version, tag))
    for version, tag in OPEN_INSTRUCT.items():
        write(out / "open_instruct" / f"{version}.json", extract_open_instruct(oi, version, tag))
    for version, tag in SKYRL.items():
        write(out / "skyrl" / f"{version}.json", extract_skyrl(sky, version, tag))


if __name__ == "__main__":
    main(sys.argv[1:])
