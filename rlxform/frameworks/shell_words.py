"""Values and words of the shell walk: ``Unresolved`` words, variable ``Value``s, expansion pieces.

Also the value operators that need no state: brace expansion (``a{b,c}``, ``{1..3}``), the
pattern, case and substring operators of ``${X...}``, and joining pieces into a field.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re

from rlxform.frameworks.shell_lex import Part

MAX_VALUE_CHARS = 1_000_000
_BRACE = re.compile(r"\{([^{}]*)\}")


class Unresolved(str):
    """A word or value holding expansions the file does not determine; ``names`` lists them.

    ``whole`` is true for a word that is a single unquoted expansion (``$EXTRA_ARGS``): it may
    stand for any number of words.
    """

    names: tuple[str, ...]
    whole: bool

    def __new__(cls, text: str, names: tuple[str, ...], whole: bool = False) -> Unresolved:
        obj = super().__new__(cls, text)
        obj.names, obj.whole = tuple(names), bool(whole)
        return obj

    def __getnewargs__(self) -> tuple:
        return (str(self), self.names, self.whole)

    def __repr__(self) -> str:
        return f"Unresolved({str(self)!r}, names={self.names!r})"


@dataclasses.dataclass(frozen=True)
class Value:
    """A variable's value: text with unresolved ``names`` inside; ``unknown`` if wholly unknown."""

    text: str
    names: tuple[str, ...] = ()
    unknown: bool = False
    items: tuple[Value, ...] | None = None  # arrays
    unset: bool = False


@dataclasses.dataclass(frozen=True)
class Piece:
    text: str
    quoted: bool
    names: tuple[str, ...] = ()
    split: bool = False  # an unquoted expansion: subject to field splitting


BREAK = Piece("", True, split=True)  # field boundary between "${A[@]}" elements


def unknown(name: str) -> Value:
    return Value("${" + name + "}", ("$" + name,), unknown=True)


def join_field(pieces: list[Piece]) -> str:
    if sum(len(p.text) for p in pieces) > MAX_VALUE_CHARS:
        raise ValueError(f"a word longer than {MAX_VALUE_CHARS:,} characters")
    text = "".join(p.text for p in pieces)
    names = tuple(dict.fromkeys(n for p in pieces for n in p.names))
    if not names:
        return text
    # one unquoted expansion, or "$@": the word may stand for any number of words
    whole = len(pieces) == 1 and (not pieces[0].quoted or pieces[0].names in (("$@",), ("$*",)))
    return Unresolved(text, names, whole)


def brace_expand(parts: list[Part], budget: int = 10_000) -> list[list[Part]]:
    """Bash brace expansion ``a{b,c}`` / ``{1..3}`` within one unquoted literal part."""
    for k, part in enumerate(parts):
        if part.kind != "lit" or part.quoted:
            continue
        for match in _BRACE.finditer(part.text):
            options = _brace_options(match.group(1))
            if options is None:
                continue
            head, tail = part.text[: match.start()], part.text[match.end() :]
            out: list[list[Part]] = []
            for option in options:
                new = [*parts[:k], Part("lit", head + option + tail), *parts[k + 1 :]]
                out.extend(brace_expand(new, budget // max(len(options), 1)))
                if len(out) > budget:
                    raise ValueError("brace expansion too large")
            return out
    return [parts]


def _brace_options(inner: str) -> list[str] | None:
    seq = re.fullmatch(r"(-?\d+)\.\.(-?\d+)", inner)
    if seq:
        lo, hi = int(seq.group(1)), int(seq.group(2))
        if abs(hi - lo) > 10_000:
            return None
        step = 1 if hi >= lo else -1
        return [str(v) for v in range(lo, hi + step, step)]
    if "," not in inner:
        return None
    return inner.split(",")


def operate(text: str, op: str, arg: str) -> str | None:
    """``${X#pat}``, ``%``, ``/``, case and substring operators on a known value."""
    if op in ("#", "##", "%", "%%"):
        rx = re.compile(fnmatch.translate(arg)[4:-3] if arg else "")
        cuts = range(len(text) + 1)
        if op[0] == "#":
            ends = [i for i in cuts if rx.fullmatch(text[:i])]
            return text[(max(ends) if op == "##" else min(ends)) :] if ends else text
        starts = [i for i in cuts if rx.fullmatch(text[i:])]
        return text[: (min(starts) if op == "%%" else max(starts))] if starts else text
    if op in ("/", "//"):
        pattern, _, replacement = arg.partition("/")
        rx = re.compile(fnmatch.translate(pattern)[4:-3]) if pattern else None
        return rx.sub(replacement.replace("\\", "\\\\"), text, count=op == "/") if rx else text
    if op in ("^^", ",,"):
        return text.upper() if op == "^^" else text.lower()
    if op in ("^", ","):
        return (text[:1].upper() if op == "^" else text[:1].lower()) + text[1:]
    if op == ":":
        offset, _, length = arg.partition(":")
        try:
            start, size = int(offset), int(length) if length else None
        except ValueError:
            return None
        end = None if size is None else (start + size if size >= 0 else size)
        return text[start:end]
    return None
