"""archive module (lua/data/archive.md): formats, open/scan/create over fs, files, bytes and
streams; entries/stat/read/stream/extract/extract_all; limits and zip-slip defense."""
from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from tests.engine.conftest import FakeEntry


@pytest.fixture
def vol(app, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    app.entries["app:uploads"] = FakeEntry("app:uploads", "fs.directory", {"directory": str(tmp_path / "in")})
    app.entries["app:out"] = FakeEntry("app:out", "fs.directory", {"directory": str(tmp_path / "out")})
    return tmp_path


def make_zip(path, files: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)


async def run(app, body: str, *args):
    return await app.run("local archive = require('archive')\nlocal fs = require('fs')\nreturn function(...)\n"
                         + body + "\nend", *args, modules=["archive", "fs"])


async def test_formats(app):
    assert await run(app, "return archive.formats()") == ["zip", "tar", "tar.gz", "tar.zst"]


async def test_open_zip_random_access(app, vol):
    make_zip(vol / "in" / "incoming.zip", {"docs/readme.md": b"# hi\n", "big.csv": b"a,b\n" * 10000,
                                           "bin.dat": bytes(range(256)), "docs/": b""})
    res = await run(app, """
    local r, err = archive.open(fs.get("app:uploads"), "incoming.zip")
    assert(err == nil, tostring(err))
    local names = {}
    for e in r:entries() do names[#names + 1] = e.name .. ":" .. e.size .. ":" .. tostring(e.is_dir) end
    local info = r:stat("docs/readme.md")
    local data = r:read("docs/readme.md")
    local bin = r:read("bin.dat")
    local es = r:stream("big.csv")
    local total = 0
    while true do
        local chunk = es:read(65536)
        if not chunk then break end
        total = total + #chunk
    end
    es:close()
    local _, nf = r:read("nope")
    r:close()
    r:close()
    local _, closed = r:read("docs/readme.md")
    return {names, info.size, info.method, data, #bin, bin:byte(256), total, nf:kind(), closed:kind()}
    """)
    assert res[0] == ["docs/readme.md:5:false", "big.csv:40000:false", "bin.dat:256:false", "docs/:0:true"]
    assert res[1:] == [5, "deflate", "# hi\n", 256, 255, 40000, "NotFound", "Invalid"]


async def test_extract_and_extract_all(app, vol):
    make_zip(vol / "in" / "x.zip", {"a/one.txt": b"1", "a/b/two.txt": b"2", "top.txt": b"t"})
    res = await run(app, """
    local r = archive.open(fs.get("app:uploads"), "x.zip")
    local ok = r:extract("top.txt", fs.get("app:out"))
    local ok2 = r:extract("a/one.txt", fs.get("app:out"), "renamed.txt")
    local count = r:extract_all(fs.get("app:out"), {prefix = "job123/", strip = 1,
                                                     filter = function(e) return not e.is_dir end})
    r:close()
    return {ok, ok2, count}
    """)
    assert res == [True, True, 2]    # top.txt has nothing left after strip = 1
    out = vol / "out"
    assert (out / "top.txt").read_bytes() == b"t" and (out / "renamed.txt").read_bytes() == b"1"
    assert (out / "job123" / "one.txt").read_bytes() == b"1" and (out / "job123" / "b" / "two.txt").read_bytes() == b"2"


async def test_zip_slip_rejected(app, vol):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../evil.txt", b"x")
        z.writestr("/abs.txt", b"y")
    (vol / "in" / "evil.zip").write_bytes(buf.getvalue())
    res = await run(app, """
    local r = archive.open(fs.get("app:uploads"), "evil.zip")
    local n, err = r:extract_all(fs.get("app:out"))
    local _, err2 = r:extract("/abs.txt", fs.get("app:out"))
    return {n == nil, err:kind(), err2:kind()}
    """)
    assert res == [True, "Invalid", "Invalid"]
    assert not (vol / "evil.txt").exists()


async def test_create_zip_and_tar_then_read_back(app, vol):
    (vol / "in" / "big.bin").write_bytes(b"\x00\xff" * 50000)
    res = await run(app, """
    local out = {}
    for _, fmt in ipairs({"zip", "tar", "tar.gz", "tar.zst"}) do
        local w, err = archive.create(fs.get("app:out"), "out." .. fmt, {format = fmt})
        assert(err == nil, tostring(err))
        w:add("notes.txt", "hello")
        w:add("bin", "\\0\\255\\1", {method = "store", mode = tonumber("600", 8)})
        w:add_file("data/big.bin", fs.get("app:uploads"), "big.bin")
        w:add_dir("empty/")
        assert(w:close() == true)
        w:close()
        out[#out + 1] = fmt
    end
    -- zip and tar read back by name; the compressed tars by walking
    local r = archive.open(fs.get("app:out"), "out.zip")
    local z = {r:read("notes.txt"), #r:read("data/big.bin"), r:read("bin"):byte(2)}
    r:close()
    local t = archive.open(fs.get("app:out"), "out.tar")
    local tt = {t:read("notes.txt"), t:stat("bin").mode}
    t:close()
    local _, unavailable = archive.open(fs.get("app:out"), "out.tar.gz")
    local walked = {}
    for _, fmt in ipairs({"tar.gz", "tar.zst"}) do
        local s = archive.scan(fs.get("app:out"):open("out." .. fmt, "r"))
        local names = {}
        for e, entry in s:walk() do
            if e.name == "notes.txt" then names[#names + 1] = entry:read() end
            names[#names + 1] = e.name
        end
        s:close()
        walked[#walked + 1] = names
    end
    return {out, z, tt, unavailable:kind(), walked}
    """)
    assert res[0] == ["zip", "tar", "tar.gz", "tar.zst"]
    assert res[1] == ["hello", 100000, 255]
    assert res[2] == ["hello", 0o600]
    assert res[3] == "Unavailable"
    assert res[4] == [["hello", "notes.txt", "bin", "data/big.bin", "empty/"]] * 2
    with zipfile.ZipFile(vol / "out" / "out.zip") as z:
        assert z.read("data/big.bin") == b"\x00\xff" * 50000
    with tarfile.open(vol / "out" / "out.tar.gz") as t:
        assert t.extractfile("notes.txt").read() == b"hello"


async def test_bytes_source_stream_destination_and_stale_entry(app):
    res = await run(app, """
    local sink = {}
    local dest = {write = function(self, d) sink[#sink + 1] = d; return #d end}
    local w = archive.create(dest, {format = "zip"})
    w:add("a.txt", "A")
    w:add("b.txt", "B")
    w:close()
    local bytes = table.concat(sink)
    local r = archive.open(bytes, {format = "zip"})
    local a = r:read("a.txt")
    r:close()
    local s = archive.scan(bytes)
    local first
    local got = {}
    for e, entry in s:walk() do
        if not first then first = entry end
        got[#got + 1] = e.name .. "=" .. entry:read()
    end
    local _, stale = first:read()
    return {a, got, stale:kind(), bytes:sub(1, 2)}
    """)
    assert res == ["A", ["a.txt=A", "b.txt=B"], "Internal", "PK"]


@pytest.mark.parametrize("body, kind", [
    ('return select(2, archive.open("not an archive at all"))', "Invalid"),
    ('return select(2, archive.open(("PK\\3\\4"):rep(3), {format = "zip"}))', "Invalid"),
    ('return select(2, archive.open(fs.get("app:uploads"), "missing.zip"))', "PermissionDenied"),
    ('return select(2, archive.open(42))', "PermissionDenied"),
    ('return select(2, archive.create(42))', "PermissionDenied"),
    ('local _, e = archive.open(fs.get("app:uploads"), "l.zip", {max_entries = 2}); return e', "Invalid"),
    ('local r = archive.open(fs.get("app:uploads"), "l.zip", {max_inline_bytes = 4}); return select(2, r:read("e1"))', "Invalid"),
    ('local r = archive.open(fs.get("app:uploads"), "l.zip", {max_file_bytes = 4}); return select(2, r:extract("e1", fs.get("app:out")))', "Invalid"),
    ('local r = archive.open(fs.get("app:uploads"), "l.zip", {max_total_bytes = 15}); r:read("e1"); return select(2, r:read("e2"))', "Invalid"),
    ('return select(2, archive.open(fs.get("app:uploads"), "l.zip", {max_entries = 0}))', "Invalid"),
])
async def test_errors(app, vol, body, kind):
    make_zip(vol / "in" / "l.zip", {"e1": b"0123456789", "e2": b"0123456789", "e3": b"x"})
    res = await run(app, f"local err = (function() {body} end)(); return err:kind()")
    assert res == kind


async def test_entry_stream_scanner(app):
    res = await run(app, """
    local sink = {}
    local w = archive.create({write = function(self, d) sink[#sink + 1] = d; return #d end}, {format = "tar"})
    w:add("t.txt", "one two\\r\\nthree\\nlast é")
    w:close()
    local r = archive.open(table.concat(sink))
    local out = {}
    for _, split in ipairs({"lines", "words", "runes"}) do
        local sc = r:stream("t.txt"):scanner(split)
        local toks = {}
        while true do
            local has, err = sc:scan()
            assert(err == nil)
            if not has then break end
            toks[#toks + 1] = sc:text()
        end
        out[split] = toks
    end
    local _, bad = r:stream("t.txt"):scanner("sentences")
    return {out.lines, out.words, #out.runes, out.runes[#out.runes], bad:kind()}
    """)
    assert res == [["one two", "three", "last é"], ["one", "two", "three", "last", "é"], 21, "é", "Invalid"]


async def test_entry_metadata_fields(app, vol):
    make_zip(vol / "in" / "m.zip", {"d/a.txt": b"abc" * 100, "d/": b""})
    res = await run(app, """
    local r = archive.open(fs.get("app:uploads"), "m.zip")
    local out = {}
    for e in r:entries() do
        out[#out + 1] = {e.name, e.size, e.compressed_size < e.size or e.is_dir, e.is_dir, e.type, e.method,
                         e.crc32, math.type(e.modified), e.mode}
    end
    local _, nf = r:stat("missing")
    local _, xnf = r:extract("missing", fs.get("app:out"))
    r:close()
    return {out, nf:kind(), xnf:kind()}
    """)
    import zlib
    assert res[0][0] == ["d/a.txt", 300, True, False, "file", "deflate", zlib.crc32(b"abc" * 100), "integer", 0o600]   # zipfile.writestr mode
    assert res[0][1][:5] == ["d/", 0, True, True, "dir"]
    assert res[1:] == ["NotFound", "NotFound"]


@pytest.mark.parametrize("body, kind, message", [
    ('return select(2, archive.open("PK\\3\\4xxxx", {format = "rar"}))', "Invalid", "unknown archive format"),
    # a zip read as a tar: mismatched format
    ('local sink = {}; local w = archive.create({write = function(_, d) sink[#sink + 1] = d; return #d end}, '
     '{format = "zip"}); w:add("a", "A"); w:close(); '
     'return select(2, archive.open(table.concat(sink), {format = "tar"}))', "Invalid", ""),
    ('return select(2, archive.open("x", {fromat = "zip"}))', "Invalid", "unknown archive option 'fromat'"),
    ('return select(2, archive.scan("x", {max_entires = 3}))', "Invalid", "unknown archive option 'max_entires'"),
    ('return select(2, archive.create(fs.get("app:out"), "o.zip", {level = 9}))', "Invalid", "unknown archive option 'level'"),
    ('local w = archive.create(fs.get("app:out"), "o.zip"); return select(2, w:add("a", "A", {compress = true}))',
     "Invalid", "unknown add option 'compress'"),
    ('local w = archive.create(fs.get("app:out"), "o.zip"); return select(2, w:add("a", "A", {method = "lzma"}))',
     "Invalid", "method must be"),
    ('local w = archive.create(fs.get("app:out"), "o.zip"); '
     'return select(2, w:add_file("a", fs.get("app:uploads"), "l.zip", {chmod = 1}))', "Invalid", "unknown add option"),
    ('local w = archive.create(fs.get("app:out"), "o.zip"); w:close(); return select(2, w:add("a", "A"))',
     "Invalid", "closed"),
    ('local w = archive.create(fs.get("app:out"), "o.zip"); w:close(); return select(2, w:add_dir("d/"))',
     "Invalid", "closed"),
    ('local r = archive.open(fs.get("app:uploads"), "l.zip"); '
     'return select(2, r:extract_all(fs.get("app:out"), {strip_components = 1}))', "Invalid", "unknown extract_all option"),
    ('return select(2, archive.create(fs.get("app:uploads"), "l.zip", {format = "tar"}))', "PermissionDenied", ""),
    ('local r = archive.open(fs.get("app:uploads"), "l.zip"); r:close(); return select(2, r:stat("e1"))',
     "Invalid", "closed"),
])
async def test_documented_error_returns(app, vol, body, kind, message):
    make_zip(vol / "in" / "l.zip", {"e1": b"0123456789"})
    app.entries["app:uploads"].data["readonly"] = True   # a destination that is not writable
    res = await run(app, f"local err = (function() {body} end)(); return {{err:kind(), tostring(err)}}")
    assert res[0] == kind, res
    assert message in res[1], res


async def test_reader_and_writer_left_open_are_closed_when_the_process_ends(app, vol):
    import asyncio
    import os
    make_zip(vol / "in" / "keep.zip", {"a.txt": b"A"})
    res = await run(app, """
    local r = archive.open(fs.get("app:uploads"), "keep.zip")
    local es = r:stream("a.txt")
    local w = archive.create(fs.get("app:out"), "unclosed.zip")
    w:add("x.txt", "written before the process ended")
    return r:read("a.txt")
    """)
    assert res == "A"

    def open_paths():
        paths = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                paths.add(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                pass
        return paths
    # the writer is finalized in a worker thread: its central directory lands shortly after
    for _ in range(100):
        if str(vol / "in" / "keep.zip") not in open_paths() and str(vol / "out" / "unclosed.zip") not in open_paths():
            break
        await asyncio.sleep(0.02)
    assert str(vol / "in" / "keep.zip") not in open_paths()
    assert str(vol / "out" / "unclosed.zip") not in open_paths()
    with zipfile.ZipFile(vol / "out" / "unclosed.zip") as z:
        assert z.read("x.txt") == b"written before the process ended"


def _corrupt_zip(path, member: bytes):
    """A zip whose one deflated entry has damaged compressed data (headers and sizes intact)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("e", member)
    data = bytearray(buf.getvalue())
    start = 30 + len("e")                   # the local header, then the compressed data
    data[start:start + 8] = b"\xff" * 8     # an invalid deflate block type
    path.write_bytes(bytes(data))


async def test_damaged_compressed_data_is_an_invalid_archive(app, vol):
    _corrupt_zip(vol / "in" / "bad.zip", bytes(range(256)) * 64)
    res = await run(app, """
    local r = archive.open(fs.get("app:uploads"), "bad.zip")
    local out = {}
    local _, e1 = r:read("e")
    local _, e2 = r:extract("e", fs.get("app:out"))
    local _, e3 = r:extract_all(fs.get("app:out"))
    local s = r:stream("e")
    local _, e4 = s:read(65536)
    r:close()
    for _, e in ipairs({e1, e2, e3, e4}) do out[#out + 1] = e:kind() .. ": " .. e:message() end
    return out
    """)
    assert len(res) == 4
    for line in res:
        assert line.startswith("Invalid: corrupt or truncated archive: "), res


async def test_extract_all_writes_a_bounded_amount_unless_told_more(app, vol, monkeypatch):
    from wippy import archives
    monkeypatch.setattr(archives, "EXTRACT_DEFAULT", 100_000)   # 256 MiB in production
    make_zip(vol / "in" / "big.zip", {f"f{i}": bytes(30_000) for i in range(5)})
    res = await run(app, """
    local r = archive.open(fs.get("app:uploads"), "big.zip")
    local n, err = r:extract_all(fs.get("app:out"), {prefix = "default/"})
    r:close()
    local r2 = archive.open(fs.get("app:uploads"), "big.zip", {max_total_bytes = 1000000})
    local n2, err2 = r2:extract_all(fs.get("app:out"), {prefix = "given/"})
    r2:close()
    return {n == nil, err:kind(), err:message(), n2, err2 == nil}
    """)
    assert res[:2] == [True, "Invalid"]
    assert res[2].startswith("extracted output exceeds 100000 bytes") and "pass max_total_bytes" in res[2]
    assert res[3:] == [5, True]
    written = sum(f.stat().st_size for f in (vol / "out" / "default").iterdir())
    assert written <= 100_000 + 64 * 1024
