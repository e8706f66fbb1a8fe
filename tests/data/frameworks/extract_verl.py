"""verl: ``ppo_trainer.yaml`` composed as Hydra 1.3 composes it, flattened to dotted keys.

Each leaf keeps the file and line that set it; interpolations (``${a.b}``, ``${.x}``,
``${oc.select:key,default}``) are resolved as OmegaConf resolves them. ``--hydra`` in extract.py
checks the composition against Hydra itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from extract_common import first_sentence, json_type, jsonable

# ---- verl: ppo_trainer.yaml composed as Hydra composes it ---------------------------------------


class _Loader(yaml.SafeLoader):
    """OmegaConf's YAML rules: YAML 1.2 floats such as 1e-6; no timestamps."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


class Leaf:
    """A composed config value with the file and line that set it."""

    __slots__ = ("file", "help", "line", "value")

    def __init__(self, value, file, line, help):
        self.value, self.file, self.line, self.help = value, file, line, help


def _comment_above(lines: list[str], line: int) -> str | None:
    """The comment block right above a YAML key (verl writes one above each field)."""
    block = []
    i = line - 2
    while i >= 0 and lines[i].strip().startswith("#"):
        block.insert(0, lines[i].strip().lstrip("# ").strip())
        i -= 1
    return first_sentence(" ".join(block)) if block else None


def _tree(node: yaml.Node, loader: _Loader, rel: str, lines: list[str]) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(value_node, yaml.MappingNode) and value_node.value:
                out[key] = _tree(value_node, loader, rel, lines)
            else:
                line = key_node.start_mark.line + 1
                value = loader.construct_object(value_node, deep=True)
                out[key] = Leaf(value, rel, line, _comment_above(lines, line))
        return out
    raise ValueError(f"{rel}: top level is not a mapping")


def load_yaml(path: Path, rel: str) -> tuple[dict, str | None]:
    """(tree of dicts and Leafs, the '# @package' header or None)."""
    text = path.read_text(encoding="utf-8")
    header = re.match(r"#\s*@package\s+(\S+)", text)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    if node is None:
        return {}, header.group(1) if header else None
    return _tree(node, loader, rel, text.splitlines()), header.group(1) if header else None


def _merge(dst: dict, src: dict) -> None:
    """OmegaConf merge: mappings merge key by key, anything else replaces."""
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _merge(dst[key], value)
        elif isinstance(value, dict):
            dst[key] = {}
            _merge(dst[key], value)
        else:
            dst[key] = value


def _at(tree: dict, package: str) -> dict:
    node = tree
    for part in [p for p in package.split(".") if p]:
        node = node.setdefault(part, {})
    return node


class Composer:
    """Hydra 1.3 defaults-list composition of one primary config (the parts verl uses)."""

    def __init__(self, config_dir: Path, rel_dir: str):
        self.dir, self.rel_dir = config_dir, rel_dir
        self.choices: dict[str, str] = {}
        self.files: list[str] = []

    def compose(self, name: str) -> dict:
        out: dict = {}
        self._load("", name, "", out, primary=True)
        return out

    def _load(self, group: str, name: str, package: str, out: dict, primary=False) -> None:
        rel_path = f"{group}/{name}.yaml" if group else f"{name}.yaml"
        rel = f"{self.rel_dir}/{rel_path}"
        tree, header = load_yaml(self.dir / rel_path, rel)
        self.files.append(rel)
        if header == "_global_":
            package = ""
        elif header is not None:
            package = header
        defaults = tree.pop("defaults", None)
        entries = defaults.value if isinstance(defaults, Leaf) else []
        if "_self_" not in entries:
            entries = [*entries, "_self_"]
        for entry in entries:
            if entry == "_self_":
                _merge(_at(out, package), tree)
                continue
            if isinstance(entry, str):  # a config of the same group, same package
                self._load(group, entry, package, out)
                continue
            ((spec, option),) = entry.items()
            option = re.sub(r"\$\{(\w+)\}", lambda m: self.choices[m.group(1)], str(option))
            sub_group, _, sub_pkg = spec.partition("@")
            path = (Path(group) / sub_group) if group else Path(sub_group)
            sub_group = str(Path(*[p for p in _norm(path.parts)]))
            self.choices[sub_group.split("/")[-1]] = option
            if sub_pkg:
                target = ".".join(p for p in (package, sub_pkg) if p)
            else:
                target = ".".join(p for p in (package, sub_group.replace("/", ".")) if p)
            self._load(sub_group, option, target, out)


def _norm(parts):
    out = []
    for part in parts:
        if part == "..":
            out.pop()
        elif part != ".":
            out.append(part)
    return out


def flatten(tree: dict, prefix: str = "") -> dict[str, Leaf]:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if value:
                out.update(flatten(value, name + "."))
            else:
                out[name] = Leaf({}, None, None, None)
        else:
            out[name] = value
    return out


_INTERP = re.compile(r"\$\{")


def _split_args(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch in "{["
        depth -= ch in "}]"
        cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def _end(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced interpolation {text!r}")


class Resolver:
    """Resolves ``${a.b}``, ``${.x}`` and ``${oc.select:key,default}`` as OmegaConf does."""

    _missing = object()

    def __init__(self, flat: dict[str, Leaf]):
        self.flat = flat
        self.prefixes = {k.rsplit(".", i)[0] for k in flat for i in range(1, k.count(".") + 1)}

    def lookup(self, path: str, here: str, depth: int) -> Any:
        if path.startswith("."):
            dots = len(path) - len(path.lstrip("."))
            node = here.split(".")[:-1]  # the node holding the key
            node = node[: len(node) - (dots - 1)]
            path = ".".join([*node, path[dots:]])
        if path in self.flat:
            got = self.value(path, depth + 1)
            return self._missing if got == "???" else got  # MISSING counts as absent
        if path in self.prefixes:  # a sub-tree, nested as OmegaConf returns it
            tree: dict = {}
            for k in self.flat:
                if k.startswith(path + "."):
                    *heads, last = k[len(path) + 1 :].split(".")
                    node = tree
                    for head in heads:
                        node = node.setdefault(head, {})
                    node[last] = self.value(k, depth + 1)
            return tree
        return self._missing

    def value(self, key: str, depth: int = 0) -> Any:
        return self.resolve(self.flat[key].value, key, depth)

    def resolve(self, raw: Any, here: str, depth: int = 0) -> Any:
        if depth > 50:
            raise ValueError(f"interpolation loop at {here}")
        if not isinstance(raw, str) or "${" not in raw:
            return raw
        match = _INTERP.search(raw)
        end = _end(raw, match.start() + 1)
        inner = raw[match.start() + 2 : end]
        if inner.startswith("oc.select:"):
            args = _split_args(inner[len("oc.select:") :])
            got = self.lookup(args[0], here, depth)
            if got is self._missing:
                got = yaml.load(args[1], Loader=_Loader) if len(args) > 1 else None
                got = self.resolve(got, here, depth + 1)
        else:
            got = self.lookup(inner, here, depth)
            if got is self._missing:
                raise ValueError(f"{here}: cannot resolve ${{{inner}}}")
        if match.start() == 0 and end == len(raw) - 1:
            return got
        text = raw[: match.start()] + str(got) + raw[end + 1 :]
        return self.resolve(text, here, depth + 1)


def extract_verl(root: Path, version: str, hydra: str | None = None) -> dict:
    rel_dir = "verl/trainer/config"
    composer = Composer(root / rel_dir, rel_dir)
    flat = flatten(composer.compose("ppo_trainer"))
    resolver = Resolver(flat)
    keys = {}
    for key, leaf in flat.items():
        raw = leaf.value
        entry = {
            "default": None,
            "file": leaf.file,
            "line": leaf.line,
            "type": None,
        }
        value = resolver.value(key)
        if isinstance(raw, str) and "${" in raw:
            entry["interpolation"] = raw
        entry["default"] = jsonable(value)
        entry["type"] = json_type(value)
        if leaf.help:
            entry["help"] = leaf.help
        keys[key] = entry
    files = list(dict.fromkeys(composer.files))
    record = {
        "framework": "verl",
        "version": version,
        "source": f"verl-{version} wheel from PyPI",
        "composed": "verl/trainer/config/ppo_trainer.yaml with its Hydra defaults list "
        f"(choices: {', '.join(f'{g}={o}' for g, o in composer.choices.items())})",
        "files": files,
        "keys": keys,
    }
    generated = root / rel_dir / "_generated_ppo_trainer.yaml"
    if generated.is_file():
        record["checked_against"] = f"{rel_dir}/_generated_ppo_trainer.yaml"
        differs = compare_generated(flat, generated)
        if differs:
            record["generated_differs"] = differs
    if hydra:
        check_hydra(root / rel_dir, flat, resolver)
        record["checked_against_hydra"] = (
            f"hydra-core {hydra} compose(ppo_trainer), raw and resolved"
        )
    return record


def compare_generated(flat: dict[str, Leaf], generated: Path) -> list[str]:
    """Where the composition differs from verl's own generated reference (keys, raw values)."""
    tree, _ = load_yaml(generated, generated.name)
    theirs = {k: v.value for k, v in flatten(tree).items()}
    ours = {k: v.value for k, v in flat.items()}
    out = [f"{k}: absent from the generated file" for k in sorted(set(ours) - set(theirs))]
    out += [f"{k}: only in the generated file" for k in sorted(set(theirs) - set(ours))]
    out += [
        f"{k}: {ours[k]!r} composed, {theirs[k]!r} generated"
        for k in sorted(set(ours) & set(theirs))
        if _norm_val(ours[k]) != _norm_val(theirs[k])
    ]
    return out


def check_hydra(config_dir: Path, flat: dict[str, Leaf], resolver: Resolver) -> None:
    """Hydra's own composition must give the same keys, raw values and resolved values."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        cfg = compose(config_name="ppo_trainer")
    raw = _flat_plain(OmegaConf.to_container(cfg, resolve=False))
    assert set(raw) == set(flat), sorted(set(raw) ^ set(flat))[:10]
    for key, leaf in flat.items():
        assert _norm_val(raw[key]) == _norm_val(leaf.value), (key, raw[key], leaf.value)
        ours = resolver.value(key)
        if ours != "???":
            theirs = OmegaConf.select(cfg, key)
            if OmegaConf.is_config(theirs):
                theirs = OmegaConf.to_container(theirs, resolve=True)
            assert json.dumps(jsonable(ours)) == json.dumps(jsonable(theirs)), (key, ours, theirs)


def _flat_plain(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(_flat_plain(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _norm_val(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split())
    return value
