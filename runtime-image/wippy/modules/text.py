"""Python side of the `text` module.

Regular expressions are RE2 (`google-re2`) over the bytes of the Lua string, with Go's
regexp conventions: byte offsets, successive non-overlapping matches where an empty match
right after a previous match is ignored, `$1`/`${name}` in replacements. Diffs and patches
are diff-match-patch (the algorithm go-diff ports). The splitters follow langchaingo's
recursive character splitter; the markdown splitter keeps its structure on top of it.
"""
from __future__ import annotations

import html
import re

import re2
from diff_match_patch import diff_match_patch

from ..engine.errors import WippyError, INVALID
from .binary import take


def _invalid(msg: str) -> WippyError:
    return WippyError(INVALID, msg, False)


# ---------------------------------------------------------------------------- regexp
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


def compile_regexp(ref, n):
    pattern = take(ref, n)
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as e:
        msg = e.args[0].decode(errors="replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise _invalid(f"invalid regexp pattern: {msg}") from None


def _matches(rx, data: bytes, limit: int = -1):
    """Go's allMatches: skip an empty match that starts where the previous match ended."""
    prev_end = -1
    count = 0
    for m in rx.finditer(data):
        s, e = m.span()
        if s == e and s == prev_end:
            continue
        yield m
        prev_end = e
        count += 1
        if count == limit:
            return


def _groups(m, ngroups: int) -> list[bytes]:
    return [m.group(i) or b"" for i in range(ngroups + 1)]


_TEMPLATE = re.compile(rb"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+)|(\$))")


def _template(rx, repl: bytes):
    """A replacement as parts: bytes literals and group numbers (Go's Regexp.Expand)."""
    parts: list = []
    pos = 0
    names = {k if isinstance(k, bytes) else k.encode(): v for k, v in rx.groupindex.items()}
    for m in _TEMPLATE.finditer(repl):
        parts.append(repl[pos:m.start()])
        pos = m.end()
        if m.group(3):
            parts.append(b"$")
            continue
        name = m.group(1) or m.group(2)
        if name.isdigit():
            idx = int(name)
            parts.append(idx if idx <= rx.groups else b"")
        else:
            parts.append(names.get(name, b""))
    parts.append(repl[pos:])
    return [p for p in parts if p != b""]


def regexp_call(rx, method: str, ref, n, arg2=None):
    data = take(ref, n)
    if method == "match_string":
        return rx.search(data) is not None
    if method == "find_string":
        m = next(_matches(rx, data, 1), None)
        return None if m is None else m.group(0)
    if method == "find_all_string":
        return [m.group(0) for m in _matches(rx, data)]
    if method == "find_string_submatch":
        m = next(_matches(rx, data, 1), None)
        return None if m is None else _groups(m, rx.groups)
    if method == "find_all_string_submatch":
        return [_groups(m, rx.groups) for m in _matches(rx, data)]
    if method == "find_string_index":
        m = next(_matches(rx, data, 1), None)
        return None if m is None else [m.start() + 1, m.end()]
    if method == "find_all_string_index":
        out = [[m.start() + 1, m.end()] for m in _matches(rx, data)]
        return out or None
    if method == "split":
        return _split(rx, data, arg2)
    raise _invalid(f"unknown regexp method {method}")


def replace_all(rx, ref, n, rref, rn) -> bytes:
    data, repl = take(ref, n), take(rref, rn)
    parts = _template(rx, repl)
    out, pos = [], 0
    for m in _matches(rx, data):
        out.append(data[pos:m.start()])
        for p in parts:
            out.append(p if isinstance(p, bytes) else (m.group(p) or b""))
        pos = m.end()
    if not out:
        return data
    out.append(data[pos:])
    return b"".join(out)


def _split(rx, data: bytes, n: int):
    """Go's Regexp.Split."""
    if n == 0:
        return []
    if rx.pattern and not data:
        return [b""]
    parts: list[bytes] = []
    beg = end = 0
    for m in _matches(rx, data, n):
        if n > 0 and len(parts) == n - 1:
            break
        end = m.start()
        if m.end() != 0:
            parts.append(data[beg:end])
        beg = m.end()
    if end != len(data):
        parts.append(data[beg:])
    return parts


def subexp_names(rx) -> list[str]:
    names = [""] * (rx.groups + 1)
    for name, idx in rx.groupindex.items():
        names[idx] = name.decode() if isinstance(name, bytes) else name
    return names


# ---------------------------------------------------------------------------- diff
_DIFF_OPTIONS = {
    "diff_timeout": ("Diff_Timeout", float), "diff_edit_cost": ("Diff_EditCost", int),
    "match_threshold": ("Match_Threshold", float), "match_distance": ("Match_Distance", int),
    "patch_delete_threshold": ("Patch_DeleteThreshold", float), "patch_margin": ("Patch_Margin", int),
}
_OPS = {diff_match_patch.DIFF_EQUAL: "equal", diff_match_patch.DIFF_DELETE: "delete",
        diff_match_patch.DIFF_INSERT: "insert"}
_OP_CODES = {v: k for k, v in _OPS.items()}


def new_differ(options) -> diff_match_patch:
    d = diff_match_patch()
    for key, value in (options or {}).items():
        if key not in _DIFF_OPTIONS:
            raise _invalid(f"unknown diff option '{key}'")
        attr, typ = _DIFF_OPTIONS[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (typ is int and value != int(value)):
            raise _invalid(f"diff option '{key}' must be a number")
        if value < 0 or (key in ("match_threshold", "patch_delete_threshold") and value > 1):
            raise _invalid(f"diff option '{key}' out of range")
        setattr(d, attr, typ(value))
    return d


def compare(d: diff_match_patch, a: str, b: str) -> list[dict]:
    diffs = d.diff_main(a, b)
    d.diff_cleanupSemantic(diffs)
    return [{"operation": _OPS[op], "text": t} for op, t in diffs]


def _diffs(raw) -> list[tuple[int, str]]:
    if not isinstance(raw, list):
        raise _invalid("diffs must be an array from compare")
    out = []
    for item in raw:
        if not isinstance(item, dict) or item.get("operation") not in _OP_CODES or not isinstance(item.get("text"), str):
            raise _invalid("each diff must be {operation = 'equal'|'delete'|'insert', text = string}")
        out.append((_OP_CODES[item["operation"]], item["text"]))
    return out


def summarize(raw) -> dict:
    s = {"insertions": 0, "deletions": 0, "equals": 0}
    key = {"insert": "insertions", "delete": "deletions", "equal": "equals"}
    for op, t in _diffs(raw):
        s[key[_OPS[op]]] += len(t)
    return s


def pretty_text(raw) -> str:
    color = {"insert": "\x1b[32m", "delete": "\x1b[31m"}
    out = []
    for op, t in _diffs(raw):
        name = _OPS[op]
        out.append(t if name == "equal" else f"{color[name]}{t}\x1b[0m")
    return "".join(out)


def pretty_html(raw) -> str:
    out = []
    for op, t in _diffs(raw):
        name, t = _OPS[op], html.escape(t, quote=False).replace("\n", "&para;<br>")
        out.append(t if name == "equal" else (f"<del>{t}</del>" if name == "delete" else f"<ins>{t}</ins>"))
    return "".join(out)


def patch_make(d: diff_match_patch, a: str, b: str) -> list[dict]:
    return [{"text": d.patch_toText([p]), "start1": p.start1, "start2": p.start2,
             "length1": p.length1, "length2": p.length2} for p in d.patch_make(a, b)]


def patch_apply(d: diff_match_patch, raw, text: str):
    if not isinstance(raw, list) or not all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in raw):
        raise _invalid("patches must be the array patch_make returned")
    try:
        patches = d.patch_fromText("".join(p["text"] for p in raw))
    except ValueError as e:
        raise _invalid(f"invalid patch: {e}") from None
    result, applied = d.patch_apply(patches, text)
    return result, all(applied)


# ---------------------------------------------------------------------------- splitters
def _split_on(text: str, sep: str) -> list[str]:
    return list(text) if sep == "" else text.split(sep)


class Recursive:
    """langchaingo's RecursiveCharacter splitter (lengths in characters)."""

    def __init__(self, chunk_size=512, chunk_overlap=100, separators=None, keep_separator=False):
        self.size, self.overlap = chunk_size, chunk_overlap
        self.separators = separators or ["\n\n", "\n", " ", ""]
        self.keep = keep_separator

    def split(self, text: str) -> list[str]:
        return self._split(text, self.separators)

    def _split(self, text: str, separators: list[str]) -> list[str]:
        final: list[str] = []
        separator, rest = separators[-1], []
        for i, c in enumerate(separators):
            if c == "" or c in text:
                separator, rest = c, separators[i + 1:]
                break
        splits = _split_on(text, separator)
        if self.keep:
            splits = [s if i == 0 else separator + s for i, s in enumerate(splits)]
            separator = ""
        good: list[str] = []
        for s in splits:
            if len(s) < self.size:
                good.append(s)
                continue
            if good:
                final += self._merge(good, separator)
                good = []
            final += self._split(s, rest) if rest else [s]
        if good:
            final += self._merge(good, separator)
        return final

    def _merge(self, splits: list[str], sep: str) -> list[str]:
        docs: list[str] = []
        current: list[str] = []
        total = 0
        for s in splits:
            with_split = total + len(s) + (len(sep) if current else 0)
            if with_split > self.size and current:
                doc = sep.join(current).strip()
                if doc:
                    docs.append(doc)
                while current and (total > self.overlap or
                                   (total + len(s) + (len(sep) if len(current) > 1 else 0) > self.size and total > 0)):
                    total -= len(current[0]) + (len(sep) if len(current) > 1 else 0)
                    current.pop(0)
            current.append(s)
            total += len(s) + (len(sep) if len(current) > 1 else 0)
        doc = sep.join(current).strip()
        if doc:
            docs.append(doc)
        return docs


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^(\s*)(```+|~~~+)")
_REFDEF = re.compile(r"^\s{0,3}\[([^\]]+)\]:\s*\S+")
_REFUSE = re.compile(r"\[[^\]]*\]\[([^\]]*)\]|\[([^\]]+)\](?!\(|:)")


class Markdown:
    """Splits markdown into chunks along its structure: sections under headings, fenced code
    blocks, tables and paragraphs; blocks larger than a chunk go through the recursive
    splitter (code blocks too, unless `code_blocks` keeps them whole)."""

    def __init__(self, chunk_size=512, chunk_overlap=100, code_blocks=False, reference_links=False,
                 heading_hierarchy=False, join_table_rows=False):
        self.size, self.overlap = chunk_size, chunk_overlap
        self.code_blocks, self.ref_links = code_blocks, reference_links
        self.hierarchy, self.join_rows = heading_hierarchy, join_table_rows
        self.fallback = Recursive(chunk_size, chunk_overlap)

    def _blocks(self, text: str):
        """(kind, text, heading path) for each block."""
        lines = text.split("\n")
        path: list[tuple[int, str]] = []
        blocks, i = [], 0
        while i < len(lines):
            line = lines[i]
            fence = _FENCE.match(line)
            if fence:
                j = i + 1
                while j < len(lines) and not lines[j].strip().startswith(fence.group(2)):
                    j += 1
                blocks.append(("code", "\n".join(lines[i:j + 1]), list(path)))
                i = j + 1
                continue
            h = _HEADING.match(line)
            if h:
                level = len(h.group(1))
                path = [p for p in path if p[0] < level] + [(level, line.strip())]
                blocks.append(("heading", line.strip(), list(path)))
                i += 1
                continue
            if line.lstrip().startswith("|"):
                j = i
                while j < len(lines) and lines[j].lstrip().startswith("|"):
                    j += 1
                rows = lines[i:j]
                if self.join_rows:
                    blocks.append(("table", "\n".join(rows), list(path)))
                else:
                    blocks.extend(("row", r, list(path)) for r in rows)
                i = j
                continue
            if not line.strip():
                i += 1
                continue
            j = i
            while (j < len(lines) and lines[j].strip() and not _HEADING.match(lines[j])
                   and not _FENCE.match(lines[j]) and not lines[j].lstrip().startswith("|")):
                j += 1
            blocks.append(("text", "\n".join(lines[i:j]), list(path)))
            i = j
        return blocks

    def split(self, text: str) -> list[str]:
        refs = {}
        if self.ref_links:
            for line in text.split("\n"):
                m = _REFDEF.match(line)
                if m:
                    refs[m.group(1).lower()] = line.strip()
        chunks: list[str] = []
        current: list[str] = []
        current_path: list = []

        def flush():
            if current:
                body = "\n\n".join(current).strip()
                if body:
                    chunks.append(self._with_refs(body, refs))
                current.clear()

        def header(path):
            if not self.hierarchy or not path:
                return []
            return [h for _, h in path]

        for kind, block, path in self._blocks(text):
            if self.ref_links and kind == "text" and all(_REFDEF.match(ln) for ln in block.split("\n")):
                continue    # definitions travel with the chunks that use them
            if kind == "heading":
                flush()
                current_path = path
                current.extend(header(path)[:-1])
                current.append(block)
                continue
            size = sum(len(c) + 2 for c in current)
            if current and size + len(block) > self.size and not all(
                    c in header(current_path) or _HEADING.match(c) for c in current):
                flush()
                current.extend(header(current_path))
            if len(block) > self.size and not (kind == "code" and self.code_blocks) and \
                    not (kind == "table" and self.join_rows):
                prefix = "\n\n".join(current)
                current.clear()
                for part in self.fallback.split(block):
                    chunks.append(self._with_refs((prefix + "\n\n" + part).strip() if prefix else part, refs))
                    prefix = "\n\n".join(header(current_path))
                continue
            current.append(block)
        flush()
        return chunks

    def _with_refs(self, chunk: str, refs: dict) -> str:
        if not refs:
            return chunk
        used = []
        for m in _REFUSE.finditer(chunk):
            key = (m.group(1) or m.group(2) or "").lower()
            if key in refs and refs[key] not in used and refs[key] not in chunk:
                used.append(refs[key])
        return chunk + ("\n\n" + "\n".join(used) if used else "")


_RECURSIVE_OPTS = {"chunk_size": int, "chunk_overlap": int, "keep_separator": bool, "separators": list}
_MARKDOWN_OPTS = {"chunk_size": int, "chunk_overlap": int, "code_blocks": bool, "reference_links": bool,
                  "heading_hierarchy": bool, "join_table_rows": bool}


def new_splitter(kind: str, options):
    spec = _RECURSIVE_OPTS if kind == "recursive" else _MARKDOWN_OPTS
    opts = {}
    if isinstance(options, list) and not options:
        options = {}
    if not isinstance(options, dict):
        raise _invalid("splitter options must be a table")
    for key, value in options.items():
        if key not in spec:
            raise _invalid(f"unknown splitter option '{key}'")
        typ = spec[key]
        if typ is int and (isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value)):
            raise _invalid(f"{key} must be an integer")
        if typ is bool and not isinstance(value, bool):
            raise _invalid(f"{key} must be a boolean")
        if typ is list and (not isinstance(value, list) or not all(isinstance(s, str) for s in value)):
            raise _invalid(f"{key} must be an array of strings")
        opts[key] = int(value) if typ is int else value
    size, overlap = opts.get("chunk_size", 512), opts.get("chunk_overlap", 100)
    if size <= 0:
        raise _invalid("chunk_size must be positive")
    if overlap < 0 or overlap >= size:
        raise _invalid("chunk_overlap must be at least 0 and smaller than chunk_size")
    return Recursive(**opts) if kind == "recursive" else Markdown(**opts)


def install(engine):
    def regexp_call_lua(rx, method, ref, n, arg2=None):
        r = regexp_call(rx, method, ref, n, arg2)
        return engine.to_lua(r) if isinstance(r, list) else r

    def split_batch(splitter, pages):
        pages = engine.py(pages)
        if not isinstance(pages, list):
            raise _invalid("pages must be an array of {content, metadata}")
        out = []
        for i, p in enumerate(pages, 1):
            if not isinstance(p, dict) or not isinstance(p.get("content"), str):
                raise _invalid(f"page {i} must be a table with a string content")
            meta = p.get("metadata") or {}
            out += [{"content": c, "metadata": meta} for c in splitter.split(p["content"])]
        return engine.to_lua(out)

    return {
        "compile": compile_regexp,
        "call": regexp_call_lua,
        "replace_all": replace_all,
        "num_subexp": lambda rx: rx.groups,
        "subexp_names": lambda rx: engine.to_lua(subexp_names(rx)),
        "pattern": lambda rx: rx.pattern,
        "differ": lambda opts: new_differ(engine.py(opts) if opts is not None else {}),
        "compare": lambda d, a, b: engine.to_lua(compare(d, a, b)),
        "summarize": lambda raw: engine.to_lua(summarize(engine.py(raw))),
        "pretty_text": lambda raw: pretty_text(engine.py(raw)),
        "pretty_html": lambda raw: pretty_html(engine.py(raw)),
        "patch_make": lambda d, a, b: engine.to_lua(patch_make(d, a, b)),
        "patch_apply": lambda d, raw, text: patch_apply(d, engine.py(raw), text),
        "splitter": lambda kind, opts: new_splitter(kind, engine.py(opts) if opts is not None else {}),
        "split_text": lambda sp, text: engine.to_lua(sp.split(text)),
        "split_batch": split_batch,
    }
