"""Walk a shell text as the shell would, without running anything: variables, expansion, commands.

``simple_commands(text, source)`` returns every simple command with its words expanded in order
of execution: variables from the file's own assignments (``X=...``, ``export``, ``declare``,
``NAME=(...)`` arrays, ``X+=...``), ``${X:-default}`` and the other parameter operators, integer
``$((...))``, brace expansion, field splitting. What the file does not determine stays
unresolved (an ``Unresolved`` word naming it): environment and positional variables, ``$(...)``,
variables assigned only in an ``if``/``case``/loop/function branch or after ``&&``/``||``.
A test on known values (``if [ "$mode" = async ]``, ``[ -z "$X" ] && ...``) decides its branch:
the branch that runs assigns for good, the others are not walked. A top-level ``exit`` ends the
walk. Expansion: ``shell_expand``; here-documents feed ``read`` (``shell_builtins``).
"""

from __future__ import annotations

import dataclasses
import re

from rlxform.frameworks.shell_builtins import read_builtin, test_status
from rlxform.frameworks.shell_expand import Expander
from rlxform.frameworks.shell_lex import REDIRECTIONS, Lexer, Part, Word
from rlxform.frameworks.shell_words import (
    MAX_VALUE_CHARS,
    Value,
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
    """An open block. ``status`` of the branch being walked: "runs" (decided by a test on known
    values), "skipped" (decided not to run) or "maybe"; ``taken``: an earlier branch runs;
    ``skipped``: every branch so far was skipped."""

    kind: str
    status: str = "maybe"
    taken: bool = False
    skipped: bool = True
    saved: dict[str, Value | None] = dataclasses.field(default_factory=dict)
    changed: set[str] = dataclasses.field(default_factory=set)

    def enter(self, status: str) -> None:
        self.status = status
        self.taken = self.taken or status == "runs"
        self.skipped = self.skipped and status == "skipped"


class Walker(Expander):
    """Executes assignments and expands words in file order (see module docstring)."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source
        self.frames: list[_Frame] = []
        self.commands: list[SimpleCommand] = []
        self.stopped = self.expect_brace = self.func_pending = False
        self.last_test: bool | None = None  # outcome of the last test command, if decided

    # ---- the command walk ----------------------------------------------------------------

    def run(self, text: str) -> list[SimpleCommand]:
        words: list[Word] = []
        connector, redirect, stdin = "", "", None
        for tok in Lexer(text, self.source).tokens():
            if self.stopped:
                break
            if tok.kind == "word":
                if redirect == "<<<":
                    stdin = Word((*tok.word.parts, Part("lit", "\n", True)), tok.word.line)
                elif not redirect:
                    words.append(tok.word)
                redirect = ""
            elif tok.op in REDIRECTIONS:
                redirect = tok.op
                stdin = tok.word if tok.word is not None else stdin  # a here-document's body
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
                    self._execute(words, connector, stdin, ")")
                    words, stdin = [], None
                    if self.frames and self.frames[-1].kind == "subshell":
                        self._pop()
            elif words or tok.kind != "newline":  # a command separator (or its newline)
                self._execute(words, connector, stdin, tok.op)
                words, stdin = [], None
                connector = tok.op if tok.op in ("&&", "||", "|", "|&") else ""
                if tok.op in (";;", ";&", ";;&"):
                    self._branch()
        self._execute(words, connector, stdin)
        return self.commands

    def _execute(
        self, words: list[Word], connector: str, stdin: Word | None = None, follow: str = ""
    ) -> None:
        """One command: reserved words first (blocks), then the simple command, if any.

        ``follow`` is the separator after it: an ``if`` condition followed by ``&&`` is not
        decided by its first test alone.
        """
        while words and not self.stopped:
            bare = words[0].bare()
            if bare in ("if", "while", "until", "case", "for", "select", "function", "{"):
                if bare == "{" and self.expect_brace:
                    self.expect_brace = False
                    words = words[1:]
                    continue
                kind = {"while": "loop", "until": "loop", "for": "loop", "select": "loop"}
                kind.update({"function": "func", "{": "group"})
                frame = _Frame(kind.get(bare, bare))
                if bare in ("if", "{"):
                    frame.enter(self._condition(words[1:], follow) if bare == "if" else "runs")
                else:
                    frame.enter("maybe")
                self.frames.append(frame)
                self.expect_brace = bare == "function" and "{" not in [w.bare() for w in words]
                if bare in ("for", "select") and len(words) > 1 and words[1].bare():
                    self.assign(words[1].bare(), unknown(words[1].bare()))
                if bare in ("for", "select", "case", "function"):
                    return
            elif bare in ("else", "elif"):
                self._branch()
                frame = self.frames[-1] if self.frames else _Frame("if")
                if frame.taken:
                    frame.enter("skipped")
                elif not frame.skipped:
                    frame.enter("maybe")
                else:
                    frame.enter("runs" if bare == "else" else self._condition(words[1:], follow))
            elif bare in ("fi", "done", "esac", "}"):
                if self.frames:
                    self._pop()
            elif bare not in ("then", "do", "!", "time", "in"):
                break
            words = words[1:]
        if words and not self.stopped and not self._skipping():
            self._simple(words, connector, stdin)

    def _skipping(self) -> bool:
        return any(frame.status == "skipped" for frame in self.frames)

    def _condition(self, words: list[Word], follow: str) -> str:
        """Branch status from an ``if``/``elif`` condition (a test on known values decides)."""
        if self._skipping() or follow in ("&&", "||", "|", "|&") or not words:
            return "skipped" if self._skipping() else "maybe"
        fields = [field for word in words for field in self.expand(word)]
        status = test_status(fields)
        return "maybe" if status is None else "runs" if status else "skipped"

    def _simple(self, words: list[Word], connector: str, stdin: Word | None) -> None:
        if connector in ("&&", "||") and self.last_test is not None:
            if self.last_test != (connector == "&&"):
                return  # "[ known test ] && cmd": decided not to run
            connector = ""
        self.last_test = None
        blocks = any(f.kind in _CONDITIONAL and f.status != "runs" for f in self.frames)
        conditional = bool(connector) or blocks
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
        if command == "unset":
            for word in words[prefix + 1 :]:
                name = word.bare()
                if name and _IDENT.fullmatch(name):
                    self.assign(name, Value("", unset=True), connector)
            return
        if command == "read":
            read_builtin(self, words[prefix + 1 :], None if prefix else stdin, connector)
            return
        if command == "exit" and not conditional:
            self.stopped = True
        argv: list[str] = []
        for word in words:
            argv.extend(self.expand(word))
            if len(argv) > MAX_WORDS:
                raise fail(self.source, f"a command of more than {MAX_WORDS:,} words", word.line)
        is_test = command in ("[", "[[", "test") and not prefix
        self.last_test = test_status(argv) if is_test else None
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
            self.assign(name, Value(text, names, items=tuple(fields)), connector)
            return
        value = self.value(rest)
        old = self.vars.get(name)
        if append and old is not None:
            names = tuple(dict.fromkeys(old.names + value.names))
            value = Value(old.text + value.text, names, old.unknown and value.unknown)
        self.assign(name, value, connector)

    def assign(self, name: str, value: Value, connector: str = "") -> None:
        if len(value.text) > MAX_VALUE_CHARS:
            raise fail(self.source, f"${name} grows beyond {MAX_VALUE_CHARS:,} characters")
        for frame in self.frames:
            if frame.status != "runs":  # a decided branch assigns for good
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


def simple_commands(text: str, source: str = "<text>") -> list[SimpleCommand]:
    """Every simple command of a shell text, expanded (see module docstring)."""
    try:
        return Walker(source).run(text.replace("\r\n", "\n"))
    except InputError:
        raise
    except (ValueError, RecursionError) as err:
        raise fail(source, f"cannot follow the shell text ({err})") from None
