"""Shell text -> tokens: words (as quoted/unquoted parts and expansions), operators, newlines.

A POSIX/bash subset, enough for training launchers: line continuations, comments, single and
double quotes, ``$'...'``, ``$X``, ``${X...}`` (operand words parsed), ``$((...))``, ``$(...)`` and
backticks (kept as raw text), ``NAME=(...)`` arrays, redirections with their io numbers, and
here-documents (a body rides on its ``<<`` token). Nothing is evaluated; ``shell`` expands.
Errors (an unterminated quote or expansion) are one-line ``InputError``s naming line and column.
"""

from __future__ import annotations

import bisect
import dataclasses
import re

from rlxform.parsing import fail

MAX_NESTING = 32  # ${...${...}} and quotes inside expansions
_ORDINARY = re.compile(r"[^\s'\"\\$`;&|()<>]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPECIAL = re.compile(r"[0-9]+|[@*#?$!-]")
_BLANKS = re.compile(r"[ \t\r]+")
_OPERATORS = (
    ";;&", ";;", ";&", ";", "&&", "&>>", "&>", "&", "||", "|&", "|", "(", ")",
    "<<<", "<<-", "<<", "<>", "<&", "<", ">>", ">&", ">|", ">",
)  # fmt: skip
REDIRECTIONS = {op for op in _OPERATORS if "<" in op or ">" in op}
_PARAM_OPS = (":-", ":=", ":+", ":?", "-", "=", "+", "?", "##", "#", "%%", "%", "//", "/", "^^")
_PARAM_OPS += ("^", ",,", ",", ":")
_ANSI = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a", "e": "\x1b"}


@dataclasses.dataclass(frozen=True)
class Part:
    """A piece of a word.

    kind: "lit" (text), "param" (``$X`` / ``${X op arg}``), "arith" (``$((text))``), "cmd"
    (``$(...)`` or backticks, never run), "tilde" (a leading ``~``). ``quoted``: inside quotes
    (no field splitting). ``text``: the literal, or the source text for display.
    """

    kind: str
    text: str
    quoted: bool = False
    name: str = ""
    op: str = ""
    arg: tuple[Part, ...] = ()
    index: str = ""


@dataclasses.dataclass(frozen=True)
class Word:
    """A shell word; ``array`` holds the elements of a ``NAME=(...)`` assignment."""

    parts: tuple[Part, ...]
    line: int
    array: tuple[Word, ...] | None = None

    def literal(self) -> str | None:
        """The word's text when it is all literal (quoted or not), else None."""
        if self.array is not None or any(p.kind != "lit" for p in self.parts):
            return None
        return "".join(p.text for p in self.parts)

    def bare(self) -> str | None:
        """The text of an all-unquoted literal word (reserved words, assignment names)."""
        if self.array is None and all(p.kind == "lit" and not p.quoted for p in self.parts):
            return "".join(p.text for p in self.parts)
        return None


@dataclasses.dataclass(frozen=True)
class Token:
    kind: str  # "word" | "op" | "newline"
    line: int
    word: Word | None = None
    op: str = ""


class Lexer:
    """Tokens of a shell text, in order (``tokens()``)."""

    def __init__(self, text: str, source: str) -> None:
        self.text, self.source, self.pos = text, source, 0
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._heredocs: list[tuple[int, str, bool, bool]] = []  # token, delimiter, <<-, quoted
        self.line_offset = 0

    def line(self, pos: int | None = None) -> int:
        pos = self.pos if pos is None else pos
        return bisect.bisect_right(self._starts, pos) + self.line_offset

    def _fail(self, problem: str, pos: int):
        line = self.line(pos)
        column = pos - self._starts[line - self.line_offset - 1] + 1
        return fail(self.source, problem, line, column)

    def _peek(self, k: int = 0) -> str:  # "" at the end
        return self.text[self.pos + k : self.pos + k + 1]

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        text, heredoc_word = self.text, False
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t\r":
                self.pos = _BLANKS.match(text, self.pos).end()
            elif text.startswith("\\\n", self.pos):
                self.pos += 2
            elif char == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif char == "\n":
                out.append(Token("newline", self.line()))
                self.pos += 1
                self._read_heredocs(out)
            elif char in "&;|()<>" and (op := _operator(text, self.pos)):
                out.append(Token("op", self.line(), op=op))
                self.pos += len(op)
                heredoc_word = op in ("<<", "<<-")
            else:
                start = self.pos
                word = self._word()
                if self._peek() in ("<", ">") and _io_number(word):
                    continue  # "2>&1": the digits belong to the redirection
                if heredoc_word:
                    delimiter = "".join(p.text for p in word.parts)
                    quoted = any(p.quoted for p in word.parts)
                    self._heredocs.append((len(out) - 1, delimiter, out[-1].op == "<<-", quoted))
                    heredoc_word = False
                out.append(Token("word", self.line(start), word=word))
        return out

    def _read_heredocs(self, out: list[Token]) -> None:
        """The bodies of the here-documents opened on the line just ended, onto their tokens."""
        while self._heredocs:
            index, delimiter, strip_tabs, quoted = self._heredocs.pop(0)
            start, lines = self.pos, []
            while self.pos < len(self.text):
                end = self.text.find("\n", self.pos)
                end = len(self.text) if end < 0 else end
                line = self.text[self.pos : end]
                self.pos = min(end + 1, len(self.text))
                line = line.lstrip("\t") if strip_tabs else line
                if line == delimiter:
                    break
                lines.append(line + "\n")
            body = "".join(lines)
            if quoted:
                parts: tuple[Part, ...] = (Part("lit", body, True),)
            else:
                sub = Lexer(body, self.source)
                sub.line_offset = self.line(start) - 1
                parts = tuple(sub._parts("heredoc", depth=0))
            op = out[index]
            out[index] = Token("op", op.line, word=Word(parts, self.line(start)), op=op.op)

    # ---- words ---------------------------------------------------------------------------

    def _word(self) -> Word:
        start = self.pos
        parts = self._parts("word", depth=0)
        if self._peek() == "(" and _assignment_prefix(parts):
            return Word(tuple(parts), self.line(start), array=self._array(start))
        return Word(tuple(parts), self.line(start))

    def _array(self, start: int) -> tuple[Word, ...]:
        self.pos += 1  # "("
        items: list[Word] = []
        while True:
            if self.pos >= len(self.text):
                raise self._fail("unterminated array ( ... ), no closing )", start)
            char = self.text[self.pos]
            if char in " \t\r\n":
                self.pos += 1
            elif self.text.startswith("\\\n", self.pos):
                self.pos += 2
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            elif char == ")":
                self.pos += 1
                return tuple(items)
            else:
                before = self.pos
                items.append(self._word())
                if self.pos == before:
                    raise self._fail(f"unexpected {char!r} inside an array", before)

    def _parts(self, mode: str, depth: int) -> list[Part]:
        """Parts up to a word's end ("word"), a closing quote ("dquote"), "}" ("brace") or the
        end of a here-document's body ("heredoc", where quotes are plain characters)."""
        if depth > MAX_NESTING:
            raise self._fail(f"expansions nested more than {MAX_NESTING} deep", self.pos)
        parts: list[Part] = []
        text, quoted = self.text, mode in ("dquote", "heredoc")
        while self.pos < len(text):
            char = text[self.pos]
            if mode == "word" and (char in " \t\r\n;&|()<>"):
                break
            if (mode == "dquote" and char == '"') or (mode == "brace" and char == "}"):
                break
            if char == "\\":
                nxt = self._peek(1)
                self.pos += 2
                if nxt == "\n":
                    continue
                if quoted and nxt not in ("$`\\" if mode == "heredoc" else '$`"\\'):
                    parts.append(Part("lit", "\\" + nxt, True))
                else:
                    parts.append(Part("lit", nxt or "\\", True))
            elif char == "'" and not quoted and mode != "heredoc":
                end = text.find("'", self.pos + 1)
                if end < 0:
                    raise self._fail("unterminated single quote, no closing '", self.pos)
                parts.append(Part("lit", text[self.pos + 1 : end], True))
                self.pos = end + 1
            elif char == '"' and not quoted and mode != "heredoc":
                open_at = self.pos
                self.pos += 1
                inner = self._parts("dquote", depth + 1)
                if self._peek() != '"':
                    raise self._fail('unterminated double quote, no closing "', open_at)
                self.pos += 1
                parts.extend(inner or [Part("lit", "", True)])
            elif char == "$":
                parts.append(self._dollar(quoted, depth))
            elif char == "`":
                end = self._closing(self.pos, "`")
                if end < 0:
                    raise self._fail("unterminated backtick command substitution", self.pos)
                parts.append(Part("cmd", text[self.pos : end + 1], quoted))
                self.pos = end + 1
            elif char == "~" and mode == "word" and not parts:
                self.pos += 1
                tilde = self._peek() in ("/", ":") or _ends(self)
                parts.append(Part("tilde", "~") if tilde else Part("lit", "~"))
            else:
                match = _ORDINARY.match(text, self.pos) if mode == "word" else None
                chunk = match.group() if match else char
                if mode != "word":
                    stop = "$`\\" if mode == "heredoc" else '"$`\\' if quoted else "}$`\\'\""
                    end = self.pos + 1
                    while end < len(text) and text[end] not in stop:
                        end += 1
                    chunk = text[self.pos : end]
                parts.append(Part("lit", chunk, quoted))
                self.pos += len(chunk)
        return _merge_literals(parts)

    def _dollar(self, quoted: bool, depth: int) -> Part:
        text, start = self.text, self.pos
        if text.startswith("$((", start):
            end = self._match_parens(start + 3, arithmetic=True)
            self.pos = end + 2
            return Part("arith", text[start + 3 : end], quoted, index=text[start : end + 2])
        if text.startswith("$(", start):
            end = self._match_parens(start + 2)
            self.pos = end + 1
            return Part("cmd", text[start : end + 1], quoted)
        if text.startswith("${", start):
            return self._braced(quoted, depth)
        if text.startswith("$'", start) and not quoted:
            return self._ansi_c()
        if text.startswith('$"', start) and not quoted:
            self.pos += 1
            return Part("lit", "", False)  # $"..." is a double-quoted string
        match = _NAME.match(text, start + 1)
        if match:
            self.pos = match.end()
            return Part("param", text[start : self.pos], quoted, name=match.group())
        nxt = text[start + 1 : start + 2]
        if nxt and (nxt.isdigit() or nxt in "@*#?$!-"):  # $1, $@, ...
            self.pos += 2
            return Part("param", "$" + nxt, quoted, name=nxt)
        self.pos += 1
        return Part("lit", "$", quoted)

    def _braced(self, quoted: bool, depth: int) -> Part:
        text, start = self.text, self.pos
        self.pos += 2
        length = text.startswith("#", self.pos) and text[self.pos + 1 : self.pos + 2] != "}"
        self.pos += length
        match = _NAME.match(text, self.pos) or _SPECIAL.match(text, self.pos)
        if not match or text.startswith("!", start + 2):
            end = self._match_brace(start)
            self.pos = end + 1
            return Part("param", text[start : end + 1], quoted, name="", op="unsupported")
        name, self.pos = match.group(), match.end()
        index = ""
        if self._peek() == "[":
            close = text.find("]", self.pos)
            if close < 0:
                raise self._fail("unterminated ${...[ subscript", start)
            index, self.pos = text[self.pos + 1 : close], close + 1
        op = "#len" if length else ""
        arg: list[Part] = []
        if not length and self._peek() != "}":
            op = next((o for o in _PARAM_OPS if text.startswith(o, self.pos)), "unsupported")
            self.pos += len(op) if op != "unsupported" else 0
            arg = self._parts("brace", depth + 1)
        if self._peek() != "}":
            raise self._fail("unterminated ${, no closing }", start)
        self.pos += 1
        raw = text[start : self.pos]
        return Part("param", raw, quoted, name=name, op=op, arg=tuple(arg), index=index)

    def _ansi_c(self) -> Part:
        start = self.pos
        self.pos += 2
        out = []
        while self.pos < len(self.text) and self.text[self.pos] != "'":
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                nxt = self.text[self.pos + 1]
                out.append(_ANSI.get(nxt, "\\" + nxt))
                self.pos += 2
            else:
                out.append(char)
                self.pos += 1
        if self.pos >= len(self.text):
            raise self._fail("unterminated $'...' string", start)
        self.pos += 1
        return Part("lit", "".join(out), True)

    def _match_parens(self, pos: int, arithmetic: bool = False) -> int:
        """Index of the ")" closing an open "(" before ``pos`` ("))" for arithmetic)."""
        text, depth, start = self.text, 0, pos
        while pos < len(text):
            char = text[pos]
            if char == "\\":
                pos += 2
                continue
            if char in "'\"" and not arithmetic:
                end = text.find(char, pos + 1) if char == "'" else self._closing(pos, '"')
                if end < 0:
                    break
                pos = end
            elif char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    if not arithmetic or text.startswith("))", pos):
                        return pos
                    break
                depth -= 1
            pos += 1
        what = "$((...)) arithmetic" if arithmetic else "$( command substitution"
        raise self._fail(f"unterminated {what}, no closing parenthesis", start - 2)

    def _closing(self, pos: int, char: str) -> int:
        """Index of the ``char`` closing the one at ``pos`` (backslash escapes skipped), or -1."""
        pos += 1
        while pos < len(self.text) and self.text[pos] != char:
            pos += 2 if self.text[pos] == "\\" else 1
        return pos if pos < len(self.text) else -1

    def _match_brace(self, start: int) -> int:
        depth, pos = 0, start + 2
        while pos < len(self.text):
            char = self.text[pos]
            if char == "{":
                depth += 1
            elif char == "}":
                if depth == 0:
                    return pos
                depth -= 1
            pos += 1
        raise self._fail("unterminated ${, no closing }", start)


def _operator(text: str, pos: int) -> str:
    return next((op for op in _OPERATORS if text.startswith(op, pos)), "")


def _ends(lexer: Lexer) -> bool:
    return lexer.pos >= len(lexer.text) or lexer.text[lexer.pos] in " \t\r\n;&|()<>"


def _merge_literals(parts: list[Part]) -> list[Part]:
    out: list[Part] = []
    for part in parts:
        prev = out[-1] if out else None
        if prev and part.kind == prev.kind == "lit" and part.quoted == prev.quoted:
            out[-1] = Part("lit", prev.text + part.text, prev.quoted)
        else:
            out.append(part)
    return out


def _assignment_prefix(parts: list[Part]) -> bool:
    if len(parts) != 1 or parts[0].kind != "lit" or parts[0].quoted:
        return False
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*\+?=", parts[0].text) is not None


def _io_number(word: Word) -> bool:
    return (word.bare() or "x").isdigit()
