"""Word expansion of the shell walk: parameters, arithmetic, brace expansion, field splitting.

``Expander`` holds the variables (name -> ``Value``) and expands a ``Word`` as bash would with
them: ``${X}``, ``${X:-d}``, ``${X:=d}``, ``${X:+a}``, ``${X:?m}``, ``${#X}``, ``${X#p}``,
``${X%p}``, ``${X/p/r}``, case and substring operators, arrays (``${A[@]}``, ``${A[i]}``),
``$((...))``, brace expansion, then field splitting of unquoted results. Names the file does not
determine come back inside ``Unresolved`` words; ``$(...)`` is never run.
"""

from __future__ import annotations

import re

from rlxform.frameworks.shell_arith import arith
from rlxform.frameworks.shell_lex import Part, Word
from rlxform.frameworks.shell_words import (
    BREAK,
    Piece,
    Value,
    brace_expand,
    join_field,
    operate,
)

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Expander:
    """Expands words with the variables assigned so far (``assign`` is the walker's)."""

    def __init__(self) -> None:
        self.vars: dict[str, Value] = {}

    def assign(self, name: str, value: Value, connector: str = "") -> None:
        self.vars[name] = value

    def value(self, parts: tuple[Part, ...] | list[Part]) -> Value:
        """The value of an assignment's right-hand side (no field splitting)."""
        pieces = [Piece(" ", True) if p is BREAK else p for p in self._pieces(parts, False)]
        text = "".join(p.text for p in pieces)
        names = tuple(dict.fromkeys(n for p in pieces for n in p.names))
        whole = bool(pieces) and all(p.names for p in pieces)
        return Value(text, names, unknown=whole)

    def expand(self, word: Word) -> list[str]:
        """The fields a word expands to: ``str``, or ``Unresolved`` where names stay open."""
        if word.array is not None:  # NAME=(...) outside an assignment context
            return [word_text(word)]
        out: list[str] = []
        for parts in brace_expand(list(word.parts)):
            fields: list[list[Piece]] = [[]]
            keep = [False]
            for piece in self._pieces(parts, False):
                if piece is BREAK:
                    fields.append([])
                    keep.append(True)
                elif piece.split and not piece.names:
                    for k, chunk in enumerate(re.split(r"[ \t\n]+", piece.text)):
                        if k:
                            fields.append([])
                            keep.append(False)
                        if chunk:
                            fields[-1].append(Piece(chunk, False))
                            keep[-1] = True
                else:
                    fields[-1].append(piece)
                    keep[-1] = keep[-1] or piece.quoted or bool(piece.text)
            out.extend(join_field(f) for f, k in zip(fields, keep, strict=True) if k)
        return out

    def _pieces(self, parts, quoted: bool) -> list[Piece]:
        out: list[Piece] = []
        for part in parts:
            q = quoted or part.quoted
            if part.kind == "lit":
                out.append(Piece(part.text, q))
            elif part.kind == "tilde":
                home = self.vars.get("HOME")
                out.append(Piece(home.text, q, home.names) if home else Piece("~", q, ("~",)))
            elif part.kind == "cmd":
                shown = " ".join(part.text.split())
                out.append(Piece(part.text, q, (shown[:80],)))
            elif part.kind == "arith":
                number, names = arith(part.text, self.vars)
                shown = part.index if number is None else str(number)
                out.append(Piece(shown, q, names if number is None else (), split=not q))
            else:
                out.extend(self._param(part, q))
        return out

    def _param(self, part: Part, quoted: bool) -> list[Piece]:
        name, op = part.name, part.op

        def open_(label: str = "") -> list[Piece]:  # left unresolved, named by its root causes
            roots = value.names if value is not None and value.names else ("$" + name,)
            return [Piece(part.text, quoted, (label,) if label else roots)]

        value = self.vars.get(name) if _IDENT.fullmatch(name) else None
        if op == "unsupported" or not name:
            return open_(part.text)
        if not _IDENT.fullmatch(name):  # $1, $@, $#, ...
            return open_()
        if value is not None and value.items is not None and part.index not in ("", "@", "*"):
            idx = part.index.strip()
            value = value.items[int(idx)] if idx.isdigit() and int(idx) < len(value.items) else None
            value = value or Value("")
        state = "env" if value is None else "unset" if value.unset else "set"
        if op in (":-", "-", ":=", "="):
            empty = state == "unset" or (state == "set" and op[0] == ":" and value.text == "")
            if state == "set" and value.unknown:
                return open_()
            if state == "env" or empty:
                default = self._pieces(part.arg, quoted)
                if op.endswith("="):
                    self.assign(name, self.value(part.arg))
                return default
            return self._scalar_or_items(value, part, quoted)
        if state == "env" or (state == "set" and value.unknown):
            return open_()
        if op in (":+", "+"):
            use = state == "set" and (op == "+" or value.text != "")
            return self._pieces(part.arg, quoted) if use else []
        if op in (":?", "?"):
            return self._scalar_or_items(value, part, quoted) if state == "set" else open_()
        if op == "#len":
            size = len(value.items) if value.items is not None and part.index else len(value.text)
            return [Piece(str(size), quoted)]
        if op == "":
            return self._scalar_or_items(value, part, quoted)
        if value.names:
            return open_()
        arg = self.value(part.arg)
        if arg.names:
            return open_()
        result = operate(value.text, op, arg.text)
        return open_() if result is None else [Piece(result, quoted, split=not quoted)]

    def _scalar_or_items(self, value: Value, part: Part, quoted: bool) -> list[Piece]:
        if value.items is None or part.index not in ("@", "*"):
            text = value.items[0].text if value.items and not part.index else value.text
            names = value.items[0].names if value.items and not part.index else value.names
            return [Piece(text, quoted, names, split=not quoted)]
        out: list[Piece] = []
        for k, item in enumerate(value.items):
            if k and quoted and part.index == "@":
                out.append(BREAK)
            elif k:
                out.append(Piece(" ", quoted, split=not quoted))
            out.append(Piece(item.text, quoted, item.names, split=not quoted))
        return out


def word_text(word: Word) -> str:
    return "".join(p.text for p in word.parts)
