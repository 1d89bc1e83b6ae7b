"""Code examples of the Lua docs (lua/**/*.md), extracted and prepared to run as entries.

Each ```lua block of a page is one example. A page takes part once it has a setup file,
tests/docs/pages/<page path>.yaml (it may be empty), with optional keys:

    prelude: |            # Lua run before every example of the page (inside its function)
      local data = "..."
    modules: [json]       # extra modules granted to every example
    skip:                 # example number (1-based, in page order) -> why it cannot run here
      3: needs an HTTP request (req/res only exist in an http.endpoint)
    error_ok: [4]         # examples whose documented outcome is `nil, err`
    listing: [7]          # valid Lua that only lists signatures: checked as in the note below
    check:                # Lua run after the example, in its scope, to assert what the docs say
      5: assert(result == "hello")
    prelude_for:          # extra prelude for one example
      6: local id = "r-1"
    entries: [...]        # more entries in the examples' namespace (docs)
    namespaces:           # entries of other namespaces the examples name
      app.api: [...]
    terminal: true        # the examples run on a terminal.host (terminal-only modules such as io)
    stdin: "text"         # what the examples read from standard input
    http_server: true     # a local HTTP server runs beside the page (the test's, on loopback):
                          # $SERVER in the prelude is its base URL; every path answers with
                          # JSON describing the request (a `stream=true` read gets a body too)
    http_handler:         # each example is the handler of an http.endpoint (req/res exist):
      routes: {12: "/users/:id"}    # route per example (default /ex<n>), under /ex<n>
      requests:                     # the request the test sends (default POST /ex<n>, no body)
        12: {path: /users/7, method: GET, headers: {...}, body: "...", query: "a=1", expect: 500}
                          # expect: the status the example answers with (default: any below 500)

An example whose modules are not implemented is skipped with that reason, so pages of
modules still to come can have their setup files early. An example that only lists values
(`time.utc  -- UTC`) or signatures (`string.sub(s, i [,j])`) is run as checks that each
value or function exists; one that is still not valid
Lua fails on its own without stopping the rest of its page. Each example has 10 s.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from lupa import lua54

from wippy.modules import BY_NAME, INTERNAL

from tests.harness.wippy_docs import DOCS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def docs_root() -> Path | None:
    """The docs' Lua pages (`lua/` of the Wippy documentation)."""
    return DOCS / "lua" if DOCS is not None else None


# Module names the docs define (every `require` of a Loading section), implemented or not.
DOC_MODULES = {
    "archive", "base64", "cdc", "cloudstorage", "compress", "contract", "crypto", "ctx", "env",
    "eval_runner", "events", "excel", "exec", "expr", "fs", "funcs", "hash", "html", "http",
    "http_client", "hub", "io", "json", "logger", "metrics", "payload", "pg", "queue", "registry",
    "security", "sql", "store", "stream", "system", "templates", "text", "time", "treesitter", "tty",
    "uuid", "websocket", "yaml", "future", "ostime",
}
IMPLEMENTED = {n for n, s in BY_NAME.items() if n not in INTERNAL and not s.terminal_only}
TERMINAL_ONLY = {n for n, s in BY_NAME.items() if n not in INTERNAL and s.terminal_only}
GLOBALS = {n for n, s in BY_NAME.items() if s.is_global}

_LUA = lua54.LuaRuntime()
_SYNTAX = _LUA.eval("function(src) local f, err = load(src, '=example', 't', {}); return err end")
# a line that only names a value (`time.utc  -- UTC timezone`): listings of constants
_BARE = re.compile(r"^(\s*)([A-Za-z_][\w.]*)(\s*--.*)?$")
# a line of signatures (`string.sub(s, i [,j])  -- Substring`): reference listings of functions
_SIGNATURES = re.compile(r"^\s*(?:[A-Za-z_][\w.:]*\([^()]*\)\s*)+(--.*)?$")
_SIGNATURE = re.compile(r"([A-Za-z_][\w.]*)(?::\w+)?\(")

_BLOCK = re.compile(r"^```lua[ \t]*\n(.*?)^```", re.S | re.M)
_REQUIRE = re.compile(r"""require\s*\(?\s*["']([\w.]+)["']""")
_USE = re.compile(r"(?<![\w.:])([a-z_][\w]*)\s*[.:]\s*[a-zA-Z_]")
_LOCAL = re.compile(r"\blocal\s+(?:function\s+)?([\w\s,]+?)(?:=|\n|$)")


@dataclass
class Example:
    page: str            # path under lua/, e.g. "data/compress.md"
    number: int          # 1-based position in the page
    line: int            # line of the ```lua fence
    code: str
    setup: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.page}#{self.number}"

    def source_parts(self) -> tuple[str, str, str]:
        s = self.setup
        prelude = (s.get("prelude") or "") + "\n" + ((s.get("prelude_for") or {}).get(self.number) or "")
        check = (s.get("check") or {}).get(self.number) or ""
        return prelude, self.code, check

    def modules(self) -> set[str]:
        """Modules the example needs: required ones and module names it uses unrequired."""
        text = "\n".join(self.source_parts())
        need = set(_REQUIRE.findall(text)) | set(self.setup.get("modules") or [])
        declared = {n.strip() for group in _LOCAL.findall(text) for n in group.split(",")}
        used = {m for m in _USE.findall(text) if m in DOC_MODULES and m not in declared}
        return need | used

    def skip_reason(self) -> str | None:
        why = (self.setup.get("skip") or {}).get(self.number)
        if why:
            return str(why)
        missing = sorted(m for m in self.modules() if m not in self.implemented() and m not in GLOBALS
                         and m in DOC_MODULES)
        if missing:
            return "module not implemented: " + ", ".join(missing)
        return None

    def body(self) -> str:
        """The example's code; a listing of values (not statements) becomes checks that each exists."""
        code = self.code
        if _SYNTAX(code) is None and self.number not in (self.setup.get("listing") or []):
            return code
        lines = []
        for line in code.split("\n"):
            m = _BARE.match(line)
            if m:
                lines.append(f'{m.group(1)}assert({m.group(2)} ~= nil, "{m.group(2)} is nil")')
            elif _SIGNATURES.match(line):
                names = _SIGNATURE.findall(line.split("--")[0])
                lines.append(" ".join(f'assert({n} ~= nil, "{n} is nil")' for n in names))
            else:
                lines.append(line)
        return "\n".join(lines)

    def syntax_error(self) -> str | None:
        return _SYNTAX(self.chunk())

    def chunk(self) -> str:
        """The example as the source of a process entry."""
        prelude, _, check = self.source_parts()
        code = self.body()
        # required before the example's function: a local of the same name inside shadows it
        auto = sorted(m for m in self.modules() if m in self.implemented() and m not in GLOBALS)
        head = "".join(f'local {m} = require("{m}")\n' for m in auto)
        error_ok = self.number in (self.setup.get("error_ok") or [])
        tail = "return true" if error_ok else "return r[1], r[2]"
        return (f"{head}local function __example(...)\n{prelude}\n{code}\n{check}\nend\n"
                f"return {{main = function(...)\n  local r = table.pack(__example(...))\n  {tail}\nend}}\n")

    def implemented(self) -> set[str]:
        """Modules the example can have: terminal-only ones (io) on a `terminal: true` page."""
        return IMPLEMENTED | TERMINAL_ONLY if self.setup.get("terminal") else IMPLEMENTED

    def grants(self) -> list[str]:
        return sorted(m for m in self.modules() if m in self.implemented())


def setup_for(page: str) -> dict | None:
    f = HERE / "pages" / (page[:-3] + ".yaml")
    if not f.is_file():
        return None
    return yaml.safe_load(f.read_text()) or {}


def pages() -> list[str]:
    root = docs_root()
    if root is None:
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.md"))


def examples(page: str) -> list[Example]:
    root = docs_root()
    text = (root / page).read_text()
    setup = setup_for(page) or {}
    out = []
    for i, m in enumerate(_BLOCK.finditer(text), 1):
        line = text.count("\n", 0, m.start()) + 1
        out.append(Example(page, i, line, m.group(1), setup))
    return out
