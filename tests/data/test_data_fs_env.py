"""fs.directory + the fs module (confined to its root), and env storages/variables
through the env module."""
from __future__ import annotations

import os

from tests.data.conftest import add_entry


async def test_fs_confined_to_its_directory(data_app, tmp_path):
    root = tmp_path / "root"
    (tmp_path / "secret.txt").write_text("outside")
    add_entry(data_app, "app:files", "fs.directory", directory=str(root), auto_init=True)
    root.mkdir()
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    add_entry(data_app, "app:ro", "fs.directory", directory=str(root), readonly=True)
    out = await data_app.run("""
        local fs = require("fs")
        return function()
          local f = assert(fs.get("app:files"))
          assert(f:mkdir("sub/deeper", true))
          assert(f:writefile("sub/a.txt", "hello"))
          assert(f:writefile("sub/a.txt", " world", "a"))
          local data = f:readfile("sub/a.txt")
          local _, escape = f:readfile("../secret.txt")
          local _, escape2 = f:readfile("link.txt")
          local _, missing = f:readfile("nope.txt")
          assert(f:chdir("sub"))
          local rel = f:readfile("a.txt")
          local names = {}
          for e in f:readdir(".") do names[#names + 1] = e.name .. ":" .. e.type end
          local h = assert(f:open("b.bin", "w")); h:write("abc"); h:close()
          local r = f:open("b.bin", "r"); local first = r:read(2); r:close()
          local _, closed = r:read(1)
          local st = f:stat("b.bin")
          assert(f:remove("b.bin"))
          local ro = fs.get("app:ro")
          local _, denied = ro:writefile("x", "y")
          return {data, tostring(escape), tostring(escape2), missing:kind(), f:pwd(), rel, names, first,
                  tostring(closed), st.size, f:exists("b.bin"), tostring(denied)}
        end""", modules=["fs"], method=None)
    assert out[0] == "hello world"
    # `..` cannot climb above the root (it resolves inside it); a symlink out is refused
    assert "../secret.txt: no such file" in out[1] and "outside of app:files" in out[2]
    assert out[3] == "NotFound"
    assert out[4:7] == ["/sub", "hello world", ["a.txt:file", "deeper:directory"]]
    assert out[7] == "ab" and "closed" in out[8] and out[9] == 3 and out[10] is False
    assert "read-only" in out[11]
    assert (root / "sub" / "a.txt").read_text() == "hello world"


async def test_env_variables_and_storages(runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("WIPPY_TEST_OS_VALUE", "from-os")
    envfile = tmp_path / "cfg" / "app.env"
    await runtime.put(
        ("app:mem", "env.storage.memory", {}),
        ("app:file", "env.storage.file", {"file_path": str(envfile), "auto_create": True}),
        ("app:static", "env.storage.static", {"values": {"REGION": "eu"}}),
        ("app:router", "env.storage.router", {"storages": ["app:static", "app:file"]}),
        ("app:region", "env.variable", {"variable": "REGION", "storage": "app:router"}),
        ("app:token", "env.variable", {"variable": "TOKEN", "storage": "app:router", "default": "none"}),
        ("app:mode", "env.variable", {"variable": "MODE", "storage": "app:mem", "default": "dev", "readonly": True}),
        ("app:f", "function.lua", {"method": "main", "modules": ["env"], "source": """
            local env = require("env")
            return function()
              local before = env.get("TOKEN")
              assert(env.set("TOKEN", "s3cret"))
              local _, ro = env.set("MODE", "prod")
              local _, missing = env.get("WIPPY_NOT_SET_ANYWHERE")
              return {env.get("REGION"), before, env.get("TOKEN"), env.get("MODE"), tostring(ro),
                      missing:kind(), env.get("WIPPY_TEST_OS_VALUE"), env.get_all().TOKEN}
            end"""}))
    out = await runtime.call("app:f")
    assert out == ["eu", "none", "s3cret", "dev", "env variable MODE is read-only", "NotFound", "from-os", "s3cret"]
    assert 'TOKEN=s3cret' in envfile.read_text()


async def test_fs_exclusive_write_constants_and_scanner(data_app, tmp_path):
    root = tmp_path / "scan"
    add_entry(data_app, "app:files", "fs.directory", directory=str(root), auto_init=True)
    root.mkdir()
    (root / "crlf.txt").write_bytes(b"one\r\ntwo\n\nlast")
    (root / "words.txt").write_bytes(b"  alpha beta\n\tgamma  \n")
    (root / "runes.txt").write_bytes("aé😀".encode() + b"\xff" + b"z")
    (root / "big.txt").write_bytes(b"".join(b"line %d\n" % i for i in range(30000)))
    (root / "long.txt").write_bytes(b"x" * (1024 * 1024 + 10))
    out = await data_app.run("""
        local fs = require("fs")
        return function()
          local f = assert(fs.get("app:files"))
          local ok1, e1 = f:writefile("lock.pid", "1", "wx")
          local ok2, e2 = f:writefile("lock.pid", "2", "wx")
          local _, e3 = f:writefile("x", "y", "rw")
          local function tokens(name, split)
            local h = assert(f:open(name, "r"))
            local sc = assert(h:scanner(split))
            local out = {}
            while sc:scan() do out[#out + 1] = sc:text() end
            h:close()
            return out, sc:err()
          end
          local big = tokens("big.txt")
          local long, long_err = tokens("long.txt")
          local _, bad = f:open("crlf.txt", "r"):scanner("sentences")
          return {ok1, e1 == nil, ok2 == nil, e2:kind(), f:readfile("lock.pid"), e3:kind(),
                  tokens("crlf.txt"), tokens("crlf.txt", "lines"), tokens("words.txt", "words"),
                  tokens("runes.txt", "runes"), #tokens("runes.txt", "bytes"),
                  #big, big[1], big[30000], #long, long_err, bad:kind(),
                  {fs.type.FILE, fs.type.DIR, fs.seek.SET, fs.seek.CUR, fs.seek.END}}
        end""", modules=["fs"], method=None)
    assert out[:6] == [True, True, True, "AlreadyExists", "1", "Invalid"]
    assert out[6] == out[7] == ["one", "two", "", "last"]
    assert out[8] == ["alpha", "beta", "gamma"]
    assert out[9] == ["a", "é", "😀", "\ufffd", "z"]
    assert out[10] == len("aé😀".encode()) + 2
    assert out[11:14] == [30000, "line 0", "line 29999"]
    assert out[14] == 0 and "token too long" in out[15] and out[16] == "Invalid"
    assert out[17] == ["file", "directory", "set", "cur", "end"]
