"""Hostile input to the modules that parse it (html, json schemas, compress, archive, templates,
expr, yaml's result): each attack runs as a process on the victim's host, as in
test_hostile_entries, while the victim process and an HTTP endpoint are probed. A bomb is refused
with an error naming the limit it hit, or read off the event loop; the node keeps answering."""
from __future__ import annotations

import io
import re
import tarfile
import zipfile
import zlib
from pathlib import Path

import brotli
import pytest
import pytest_asyncio
import zstandard

from tests.security.harness import HostileApp
from tests.security.test_hostile_entries import HELPERS, A, EVIL_HANDLER, run_attack

pytestmark = pytest.mark.asyncio(loop_scope="module")

MiB = 1024 * 1024
BOMB = 256 * MiB           # what each compressed bomb expands to: twice compress's default max_size
FILES = "app:files"        # the fs.directory the bombs are read from

OPEN = f'local fs = require("fs").get("{FILES}")\n'
VIEWS = "app:views"
TPL = f'local views = assert(require("templates").get("{VIEWS}"))\n'
TEMPLATES = {
    "counting": "{{ range i := n }}{{ end }}done",
    "listing": "{{ len(ints(0, n)) }}",
    "widening": '{{ replace(s, "", repeat("x", 1000)) }}',
    "outer": '{{ range i := 100000 }}{{ exec("inner") }}{{ end }}',
    "inner": "{{ range i := 1000 }}{{ end }}",
}

ATTACKS = [
    # ---------------------------------------------------------------- html
    A("html_large_document", """local html = require("html")
        function main()
          local p = html.sanitize.ugc_policy()
          local out = p:sanitize(string.rep("<p><b>x</b><i onclick='y'>z</i></p>", 200000))
          return #out end""", modules=["html"], value=len("<p><b>x</b><i>z</i></p>") * 200000),
    A("html_deep_nesting", """local html = require("html")
        function main()
          local p = html.sanitize.ugc_policy()
          local out, err = p:sanitize(string.rep("<div><span>", 300000) .. "x")
          return tostring(err) end""", modules=["html"], value=re.compile(r"deeper than the sanitizer's limit of 512")),
    A("html_nesting_within_limit", """local html = require("html")
        function main()
          local p = html.sanitize.ugc_policy()
          return #p:sanitize(string.rep("<div><span>", 250) .. "x" .. string.rep("</span></div>", 250)) end""",
      modules=["html"], value=len("<div><span>") * 250 + 1 + len("</span></div>") * 250),
    A("html_too_large_document", """local html = require("html")
        function main()
          local out, err = html.sanitize.strict_policy():sanitize(string.rep("<b>x</b>", 1200000))
          return tostring(err) end""", modules=["html"],
      value=re.compile(r"larger than the sanitizer's limit of \d+ bytes")),
    A("html_catastrophic_attribute_pattern", """local html = require("html")
        function main()
          local p = html.sanitize.new_policy()
          p:allow_elements("a")
          p:allow_attrs("title"):matching("^(a+)+$"):on_elements("a")
          return p:sanitize('<a title="' .. string.rep("a", 40) .. '!">x</a>') end""",
      modules=["html"], value="<a>x</a>"),
    # ---------------------------------------------------------------- json schema
    A("schema_catastrophic_pattern", """local json = require("json")
        function main()
          local ok, err = json.validate({type = "string", pattern = "^(a+)+$"}, string.rep("a", 40) .. "!")
          return {ok, tostring(err)} end""", modules=["json"],
      value=[False, re.compile("does not match pattern")]),
    A("schema_catastrophic_pattern_properties", """local json = require("json")
        function main()
          local ok, err = json.validate({type = "object", patternProperties = {["^(a|aa)+$"] = {type = "string"}}},
                                        {[string.rep("a", 60) .. "!"] = 1})
          return ok end""", modules=["json"], value=True),
    A("schema_ref_fanout", """local json = require("json")
        function main()
          -- each level tries the next twice: 2^40 checks of one value
          local defs = {d40 = {type = "string"}}
          for i = 39, 0, -1 do
            local next = {["$ref"] = "#/$defs/d" .. (i + 1)}
            defs["d" .. i] = {anyOf = {{allOf = {next, {type = "integer"}}}, next}}
          end
          local ok, err = json.validate({["$defs"] = defs, ["$ref"] = "#/$defs/d0"}, 1)
          return tostring(err) end""", modules=["json"],
      value=re.compile(r"schema error: validation took more than \d+ steps")),
    A("schema_ref_loop", """local json = require("json")
        function main()
          local ok, err = json.validate({["$ref"] = "#"}, 1)
          return tostring(err) end""", modules=["json"], value=re.compile("recursion too deep")),
    # ---------------------------------------------------------------- compress
    A("gzip_bomb", OPEN + """local compress = require("compress")
        function main()
          local v, err = compress.gzip.decode(fs:readfile("bomb.gz"))
          return tostring(err) end""", modules=["fs", "compress"],
      value=re.compile(r"decompressed size exceeds limit of 134217728 bytes")),
    A("zstd_bomb", OPEN + """local compress = require("compress")
        function main()
          local v, err = compress.zstd.decode(fs:readfile("bomb.zst"))
          return tostring(err) end""", modules=["fs", "compress"],
      value=re.compile(r"decompressed size exceeds limit of 134217728 bytes")),
    A("zstd_bomb_unsized_frames", OPEN + """local compress = require("compress")
        function main()
          local v, err = compress.zstd.decode(fs:readfile("bomb-stream.zst"), {max_size = 1024 * 1024 * 1024})
          return v and #v or tostring(err) end""", modules=["fs", "compress"],
      value=re.compile(r"a result of \d+ bytes does not fit the memory limit of host app:procs \(max_memory")),
    A("brotli_bomb", OPEN + """local compress = require("compress")
        function main()
          local v, err = compress.brotli.decode(fs:readfile("bomb.br"))
          return tostring(err) end""", modules=["fs", "compress"],
      value=re.compile(r"decompressed size exceeds limit of 134217728 bytes")),
    A("gzip_bomb_many_members", OPEN + """local compress = require("compress")
        function main()
          local one = fs:readfile("small.gz")
          local v, err = compress.gzip.decode(string.rep(one, 200), {max_size = 8 * 1024 * 1024})
          return tostring(err) end""", modules=["fs", "compress"],
      value=re.compile(r"exceeds limit of 8388608 bytes")),
    # ---------------------------------------------------------------- archive
    A("zip_bomb_read", OPEN + """local archive = require("archive")
        function main()
          local r = archive.open(fs, "bomb.zip")
          local v, err = r:read("zeros")
          return tostring(err) end""", modules=["fs", "archive"],
      value=re.compile(r"larger than max_inline_bytes")),
    A("zip_bomb_lying_header", OPEN + """local archive = require("archive")
        function main()
          local r = archive.open(fs, "liar.zip")
          local v, err = r:read("zeros")
          return v and #v or tostring(err) end""", modules=["fs", "archive"],
      value=re.compile(r"corrupt or truncated archive: Bad CRC|^10$")),
    A("zip_bomb_stream", OPEN + """local archive = require("archive")
        function main()
          local r = archive.open(fs, "bomb.zip", {max_total_bytes = 64 * 1024 * 1024})
          local s = r:stream("zeros")
          while true do
            local chunk, err = s:read(1024 * 1024)
            if err then return tostring(err) end
            if not chunk then break end
          end
          return "read it all" end""", modules=["fs", "archive"],
      value=re.compile(r"archive output exceeds max_total_bytes")),
    A("zip_bomb_extract_all", OPEN + """local archive = require("archive")
        function main()
          local r = archive.open(fs, "bombs.zip", {max_total_bytes = 96 * 1024 * 1024})
          local n, err = r:extract_all(fs, {prefix = "out/"})
          return tostring(err) end""", modules=["fs", "archive"],
      value=re.compile(r"archive output exceeds max_total_bytes")),
    A("zip_slip_extract_all", OPEN + """local archive = require("archive")
        function main()
          local r = archive.open(fs, "slip.zip")
          local n, err = r:extract_all(fs, {prefix = "out/"})
          return tostring(err) end""", modules=["fs", "archive"],
      value=re.compile(r"leaves the destination")),
    A("zip_slip_extract_one", OPEN + """local archive = require("archive")
        function main()
          local r = archive.open(fs, "slip.zip")
          local ok, err = r:extract("../../escaped.txt", fs)
          local ok2, err2 = r:extract("/abs.txt", fs)
          return {tostring(err), tostring(err2)} end""", modules=["fs", "archive"],
      value=[re.compile(r"leaves the destination"), re.compile(r"is absolute")]),
    A("tar_symlink_extract", OPEN + """local archive = require("archive")
        function main()
          local r = archive.open(fs, "symlink.tar")
          local n, err = r:extract_all(fs, {prefix = "out/"})
          return tostring(err) end""", modules=["fs", "archive"],
      value=re.compile(r"is not a regular file")),
    A("zip_many_entries", OPEN + """local archive = require("archive")
        function main()
          local r, err = archive.open(fs, "many.zip")
          return tostring(err) end""", modules=["fs", "archive"],
      value=re.compile(r"more than 100000 entries \(max_entries\)")),
    A("zip_many_entries_listed", OPEN + """local archive = require("archive")
        function main()
          local r = assert(archive.open(fs, "many.zip", {max_entries = 200000}))
          local n = 0
          for e in r:entries() do n = n + 1 end
          return n end""", modules=["fs", "archive"], value=100001, either=True),
    # ---------------------------------------------------------------- templates (hostile template.jet entries)
    A("template_range_huge", TPL + """function main()
          local out, err = views:render("counting", {n = 1000000000000})
          return tostring(err) end""", modules=["templates"], value=re.compile(r"exceeded \d+ steps")),
    A("template_ints_huge", TPL + """function main()
          local out, err = views:render("listing", {n = 1000000000000})
          return tostring(err) end""", modules=["templates"], value=re.compile(r"ints: more than \d+ numbers")),
    A("template_replace_blowup", TPL + """function main()
          local out, err = views:render("widening", {s = string.rep("a", 1000000)})
          return tostring(err) end""", modules=["templates"], value=re.compile(r"replace: result too large")),
    A("template_exec_in_range", TPL + """function main()
          local out, err = views:render("outer", {})
          return tostring(err) end""", modules=["templates"], value=re.compile(r"exceeded \d+ steps")),
    # ---------------------------------------------------------------- expr
    A("expr_huge_range", """local expr = require("expr")
        function main()
          local v, err = expr.eval("len(1..1000000000)")
          return tostring(err) end""", modules=["expr"], value=re.compile(r"evaluation failed")),
    A("expr_nested_maps", """local expr = require("expr")
        function main()
          local v, err = expr.eval(string.rep("map(", 5000) .. "x" .. string.rep(")", 5000), {x = {1}})
          return tostring(err) end""", modules=["expr"], value=re.compile(r"nested too deeply")),
    # ---------------------------------------------------------------- values crossing to Python
    # many small tables: the native codec counts them (engine/convert.py) and refuses the value
    A("dag_to_python_module", """local expr = require("expr")
        function main()
          local t = {} for i = 1, 17 do t = {t, t, t, t, t, t, t, t} end
          local v, err = expr.eval("1", {x = t})
          return tostring(err) end""", modules=["expr"],
      value=re.compile(r"too large to convert")),
    A("wide_dag_to_python_module", """local expr = require("expr")
        function main()
          local row = {} for i = 1, 2000 do row[i] = i end
          local t = {} for i = 1, 2000 do t[i] = row end
          local v, err = expr.eval("1", {x = t})
          return tostring(err) end""", modules=["expr"],
      value=re.compile(r"too large to convert")),
    A("yaml_wide_result", """local yaml = require("yaml")
        function main()
          local v, err = yaml.decode("[" .. string.rep("1,", 20000) .. "1]")
          return v and tostring(#v) or tostring(err) end""", modules=["yaml"],
      value=re.compile(r"^20001$|took longer than")),
]


def _zero_stream(compressor, total: int) -> bytes:
    chunk, out = bytes(MiB), []
    for _ in range(total // MiB):
        out.append(compressor(chunk))
    return b"".join(out)


def write_bombs(d: Path) -> None:
    """Small files that expand to far more than they weigh."""
    gz = zlib.compressobj(9, zlib.DEFLATED, 31)
    (d / "bomb.gz").write_bytes(_zero_stream(gz.compress, BOMB) + gz.flush())
    (d / "small.gz").write_bytes(zlib.compress(bytes(MiB), 9, wbits=31))
    (d / "bomb.zst").write_bytes(zstandard.ZstdCompressor(level=3).compress(bytes(BOMB)))
    z = zstandard.ZstdCompressor(level=3).compressobj()    # frames that do not state their size
    (d / "bomb-stream.zst").write_bytes(_zero_stream(z.compress, BOMB) + z.flush())
    br = brotli.Compressor(quality=1)
    (d / "bomb.br").write_bytes(_zero_stream(br.process, BOMB) + br.finish())
    with zipfile.ZipFile(d / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros", bytes(BOMB))
    with zipfile.ZipFile(d / "bombs.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(4):
            z.writestr(f"zeros{i}", bytes(32 * MiB))
    # a header that says 10 bytes for an entry that inflates to 32 MiB
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros", bytes(32 * MiB))
    raw = bytearray(buf.getvalue())
    size = (32 * MiB).to_bytes(4, "little")
    raw = raw.replace(size, (10).to_bytes(4, "little"))
    (d / "liar.zip").write_bytes(bytes(raw))
    with zipfile.ZipFile(d / "slip.zip", "w") as z:
        z.writestr("fine.txt", b"ok")
        z.writestr("../../escaped.txt", b"out")
        z.writestr("/abs.txt", b"abs")
    with tarfile.open(d / "symlink.tar", "w") as t:
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        t.addfile(link)
    with zipfile.ZipFile(d / "many.zip", "w", zipfile.ZIP_STORED) as z:
        for i in range(100001):
            z.writestr(f"{i}", b"")


async def add_files(app: HostileApp) -> None:
    from wippy.registry import Entry, Op
    d = app.root / "files"
    d.mkdir(exist_ok=True)
    write_bombs(d)
    ops = [Op("create", Entry.from_dict({"id": FILES, "kind": "fs.directory", "data": {"directory": str(d)}})),
           Op("create", Entry.from_dict({"id": VIEWS, "kind": "template.set", "data": {}}))]
    ops += [Op("create", Entry.from_dict({"id": f"app:{name}", "kind": "template.jet",
                                          "data": {"set": VIEWS, "source": source}}))
            for name, source in TEMPLATES.items()]
    await app.runtime.registry.apply(ops)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hostile(tmp_path_factory):
    app = HostileApp(tmp_path_factory.mktemp("parsers"))
    await app.start(evil=EVIL_HANDLER)
    for name, src in HELPERS.items():
        await app.add_process(name, src, modules=["time"])
    await add_files(app)
    yield app
    print("\nneighbours' worst latency over usual, per attack:\n" + app.latency_table())
    await app.stop()


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
async def test_parser_attack_ends_only_the_attacker(hostile, attack):
    await run_attack(hostile, attack)
