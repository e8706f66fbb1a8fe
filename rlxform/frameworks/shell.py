"""Walk a shell text as the shell would, without running anything: variables, expansion, commands.

``simple_commands(text, source)`` returns every simple command with its words expanded in order
of execution: variables from the file's own assignments (``X=...``, ``export``, ``declare``,
``NAME=(...)`` arrays, ``X+=...``), ``${X:-default}`` and the other parameter operators, integer
``$((...))``, brace expansion, field splitting. What the file does not determine stays
unresolved (an ``Unresolved`` word naming it): environment and positional variables, ``$(...)``,
variables assigned only in an ``if``/``case``/loop/function branch or after ``&&``/``||``.
A top-level ``exit`` ends the walk. Arithmetic is bash's: 64-bit integers, ``/`` truncating.
"""

from __future__ import annotations

import dataclasses
import re

from rlxform.frameworks.shell_arith import arith
from rlxform.frameworks.shell_lex import REDIRECTIONS, Lexer, Part, Word
from rlxform.frameworks.shell_words import (
    BREAK,
    MAX_VALUE_CHARS,
    Piece,
    Value,
    brace_expand,
    join_field,
    operate,
    unknown,
)
from rlxform.parsing import fail
from rlxform.validation import InputError

MAX_WORDS = 100_000
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\+?)=")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONDITIONAL = {"if", "loop", "case", "func"}
_DECLARE = {"export", "declare", "typeset", "local", "readonly"}


@dataclasses.dataclass(frozen=True)
class SimpleCommand:
    """One simple command: its expanded words, the line it starts on, whether it may not run."""

    line: int
    words: tuple[str, ...]
    conditional: bool


@dataclasses.dataclass
class _Frame:
    kind: str
    saved: dict[str, Value | None] = dataclasses.field(default_factory=dict)
    changed: set[str] = dataclasses.field(default_factory=set)


class Walker:
    """Executes assignments and expands words in file order (see module docstring)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.vars: dict[str, Value] = {}
        self.frames: list[_Frame] = []
        self.commands: list[SimpleCommand] = []
        self.stopped = self.expect_brace = self.func_pending = False

    # ---- the command walk ----------------------------------------------------------------

    def run(self, text: str) -> list[SimpleCommand]:
        words: list[Word] = []
        connector, redirect = "", False
        for tok in Lexer(text, self.source).tokens():
            if self.stopped:
                break
            if tok.kind == "word":
                if not redirect:
                    words.append(tok.word)
                redirect = False
            elif tok.op in REDIRECTIONS:
                redirect = True
            elif tok.op == "(":
                bare = [w.bare() for w in words]
                self.func_pending = len(words) == 1 and bool(bare[0]) and bare[0] not in _DECLARE
                if not words:
                    self.frames.append(_Frame("subshell"))
            elif tok.op == ")":
                if self.func_pending:
                    self.func_pending, self.expect_brace, words = False, True, []
                    self.frames.append(_Frame("func"))
                elif self.frames and self.frames[-1].kind == "case":
                    words = []  # a case pattern
                else:
                    self._execute(words, connector)
                    words = []
                    if self.frames and self.frames[-1].kind == "subshell":
                        self._pop()
            elif words or tok.kind != "newline":  # a command separator (or its newline)
                self._execute(words, connector)
                words = []
                connector = tok.op if tok.op in ("&&", "||", "|", "|&") else ""
                if tok.op in (";;", ";&", ";;&"):
                    self._branch()
        self._execute(words, connector)
        return self.commands

    def _execute(self, words: list[Word], connector: str) -> None:
        while words and not self.stopped:
            bare = words[0].bare()
            if bare in ("if", "while", "until", "case", "for", "select", "function", "{"):
                if bare == "{" and self.expect_brace:
                    self.expect_brace = False
                    words = words[1:]
                    continue
                kind = {"while": "loop", "until": "loop", "for": "loop", "select": "loop"}
                kind.update({"function": "func", "{": "group"})
                self.frames.append(_Frame(kind.get(bare, bare)))
                self.expect_brace = bare == "function"
                if bare in ("for", "select") and len(words) > 1 and words[1].bare():
                    self._assign(words[1].bare(), unknown(words[1].bare()))
                if bare in ("for", "select", "case", "function"):
                    return
            elif bare in ("else", "elif"):
                self._branch()
            elif bare in ("fi", "done", "esac", "}"):
                if self.frames:
                    self._pop()
            elif bare not in ("then", "do", "!", "time", "in"):
                break
            words = words[1:]
        if words and not self.stopped:
            self._simple(words, connector)

    def _simple(self, words: list[Word], connector: str) -> None:
        conditional = bool(connector) or any(f.kind in _CONDITIONAL for f in self.frames)
        prefix = 0
        while prefix < len(words) and _assignment(words[prefix]):
            prefix += 1
        if prefix == len(words):  # assignments only: shell variables
            for word in words:
                self._assign_word(word, connector)
            return
        command = words[prefix].bare()
        if command in _DECLARE:
            for word in words[prefix + 1 :]:
                if _assignment(word):
                    self._assign_word(word, connector)
            return
        if command in ("unset", "read"):
            for word in words[prefix + 1 :]:
                name = word.bare()
                if name and _IDENT.fullmatch(name):
                    value = Value("", unset=True) if command == "unset" else unknown(name)
                    self._assign(name, value, connector)
            return
        if command == "exit" and not conditional:
            self.stopped = True
        argv: list[str] = []
        for word in words:
            argv.extend(self.expand(word))
            if len(argv) > MAX_WORDS:
                raise fail(self.source, f"a command of more than {MAX_WORDS:,} words", word.line)
        self.commands.append(SimpleCommand(words[0].line, tuple(argv), conditional))

    # ---- variables -----------------------------------------------------------------------

    def _assign_word(self, word: Word, connector: str) -> None:
        name, append, rest = _assignment(word)
        if word.array is not None:
            fields = [
                Value(str(f), getattr(f, "names", ())) for w in word.array for f in self.expand(w)
            ]
            old = self.vars.get(name)
            if append and old is not None and old.items is not None:
                fields = list(old.items) + fields
            text = " ".join(v.text for v in fields)
            names = tuple(n for v in fields for n in v.names)
            self._assign(name, Value(text, names, items=tuple(fields)), connector)
            return
        value = self.value(rest)
        old = self.vars.get(name)
        if append and old is not None:
            names = tuple(dict.fromkeys(old.names + value.names))
            value = Value(old.text + value.text, names, old.unknown and value.unknown)
        self._assign(name, value, connector)

    def _assign(self, name: str, value: Value, connector: str = "") -> None:
        if len(value.text) > MAX_VALUE_CHARS:
            raise fail(self.source, f"${name} grows beyond {MAX_VALUE_CHARS:,} characters")
        for frame in self.frames:
            frame.saved.setdefault(name, self.vars.get(name))
        if connector and self.vars.get(name) != value:
            value = unknown(name)  # after && or ||: it may not have run
        self.vars[name] = value

    def _branch(self) -> None:
        if self.frames:
            frame = self.frames[-1]
            frame.changed.update(frame.saved)
            for name, old in frame.saved.items():
                self._restore(name, old)

    def _pop(self) -> None:
        frame = self.frames.pop()
        for name, old in frame.saved.items():
            if frame.kind == "subshell":
                self._restore(name, old)
            elif frame.kind != "group" and (name in frame.changed or self.vars.get(name) != old):
                self.vars[name] = unknown(name)

    def _restore(self, name: str, old: Value | None) -> None:
        if old is None:
            self.vars.pop(name, None)
        else:
            self.vars[name] = old

    # ---- expansion -----------------------------------------------------------------------

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
                    self._assign(name, self.value(part.arg))
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


def _assignment(word: Word) -> tuple[str, bool, tuple[Part, ...]] | None:
    first = word.parts[0] if word.parts else None
    if first is None or first.kind != "lit" or first.quoted:
        return None
    match = _ASSIGN.match(first.text)
    if not match:
        return None
    rest = first.text[match.end() :]
    parts = ((Part("lit", rest),) if rest else ()) + word.parts[1:]
    return match.group(1), bool(match.group(2)), parts


def word_text(word: Word) -> str:
    return "".join(p.text for p in word.parts)


def simple_commands(text: str, source: str = "<text>") -> list[SimpleCommand]:
    """Every simple command of a shell text, expanded (see module docstring)."""
    try:
        return Walker(source).run(text.replace("\r\n", "\n"))
    except InputError:
        raise
    except (ValueError, RecursionError) as err:
        raise fail(source, f"cannot follow the shell text ({err})") from None
