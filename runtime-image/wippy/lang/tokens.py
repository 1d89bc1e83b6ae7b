"""Tokenizer for Wippy Lua: Lua 5.4 plus the few symbols of the type syntax (`?`, `!`, `@`, `->`).

One compiled regular expression finds every token; the result is three parallel lists
(kind, text, line), which the parser indexes directly. Comments and blanks are dropped.
"""
from __future__ import annotations

import re
from typing import cast

from .errors import LuaSyntaxError

KEYWORDS = frozenset("""and break do else elseif end false for function goto if in local nil not or
repeat return then true until while""".split())

_SCAN = re.compile(r"""
  (?P<skip>[ \t\r\f\v]+|--\[(?P<ceq>=*)\[.*?\](?P=ceq)\]|--[^\n]*)
 |(?P<nl>\n)
 |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
 |(?P<number>0[xX](?:[0-9a-fA-F]*\.?[0-9a-fA-F]*)(?:[pP][+-]?[0-9]+)?|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
 |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|\[(?P<seq>=*)\[.*?\](?P=seq)\])
 |(?P<op>\.\.\.|\.\.|==|~=|<=|>=|<<|>>|//|::|->|[-+*/%^\#&~|<>=(){}\[\];:,.?!@])
""", re.VERBOSE | re.DOTALL)


# Lua ends a line at \n, \r, \r\n or \n\r (a comment, a line count), turns each into \n in a
# long string, and refuses a raw one in a short string: the same once every end is \n
_LINE_END = re.compile(r"\r\n|\n\r|\r")


def tokenize(src: str, chunk: str = "?") -> tuple[list[str], list[str], list[int]]:
    if "\r" in src:
        src = _LINE_END.sub("\n", src)
    kinds: list[str] = []
    texts: list[str] = []
    lines: list[int] = []
    line = 1
    pos = 0
    n = len(src)
    if src.startswith("#"):  # shebang line
        pos = src.find("\n")
        pos = n if pos < 0 else pos
    match = _SCAN.match
    kw = KEYWORDS
    while pos < n:
        m = match(src, pos)
        if m is None:
            ch = src[pos]
            if src.startswith("--[", pos) or ch == "[":
                raise LuaSyntaxError("unfinished long string or comment", line, chunk)
            if ch in "\"'":
                raise LuaSyntaxError("unfinished string", line, chunk)
            raise LuaSyntaxError(f"unexpected symbol near '{ch}'", line, chunk)
        group = cast(str, m.lastgroup)   # every alternative of the pattern is a named group
        text = m.group()
        pos = m.end()
        if group == "skip":
            if "\n" in text:
                line += text.count("\n")
            continue
        if group == "nl":
            line += 1
            continue
        if group == "name":
            kinds.append(text if text in kw else "name")
        elif group == "op":
            kinds.append(text)
        elif group == "seq" or group == "string":
            kinds.append("string")
        else:
            kinds.append(group)
        texts.append(text)
        lines.append(line)
        if group != "name" and group != "op" and "\n" in text:
            line += text.count("\n")
    kinds.append("<eof>")
    texts.append("<eof>")
    lines.append(line)
    return kinds, texts, lines
