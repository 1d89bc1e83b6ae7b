"""`wippy lint` on an app folder: codes, lines, filters, formats and the exit status."""
from __future__ import annotations

import json
import textwrap

import pytest

from wippy.cli.main import main


@pytest.fixture
def app(tmp_path):
    (tmp_path / "_index.yaml").write_text(textwrap.dedent("""\
        version: "1.0"
        namespace: app
        entries:
          - name: good
            kind: function.lua
            source: file://good.lua
            method: main
          - name: bad
            kind: function.lua
            source: file://bad.lua
            method: main
            modules: [json]
          - name: broken
            kind: process.lua
            source: file://broken.lua
            method: main
        """))
    (tmp_path / "good.lua").write_text(textwrap.dedent("""\
        type User = {name: string, age: number}
        local function greet(u: User): string
            return "Hello, " .. u.name
        end
        function main(): string
            return greet({name = "ann", age = 3})
        end
        """))
    (tmp_path / "bad.lua").write_text(textwrap.dedent("""\
        local json = require("json")
        local yaml = require("yaml")
        local function add(a: number, b: number): number
            return a + b
        end
        function main()
            local unused = 1
            return add("one", 2)
        end
        """))
    (tmp_path / "broken.lua").write_text("function main()\n  return 1 +\nend\n")
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "_index.yaml").write_text(textwrap.dedent("""\
        version: "1.0"
        namespace: lib
        entries:
          - name: util
            kind: library.lua
            source: |
              local M = {}
              function M.twice(x: number): number return x * 2 end
              M.oops = undefined_name
              return M
        """))
    return tmp_path


def run(capsys, *args) -> tuple[int, str]:
    code = main(["lint", *map(str, args)])
    return code, capsys.readouterr().out


def test_errors_are_listed_with_entry_line_and_code_and_exit_non_zero(app, capsys):
    code, out = run(capsys, app)
    assert code == 1
    assert "error[E0001]: \"one\" not assignable to number (argument 1 of 'add')" in out
    assert "--> app:bad:8" in out
    assert "error[E0008]: require(\"yaml\") is not declared in _index.yaml imports or modules" in out
    assert "error[P0001]" in out and "--> app:broken:3" in out
    assert "error[E0002]: undefined variable 'undefined_name'" in out
    assert "W0004" not in out  # rules are off by default
    assert out.strip().endswith("Checked 4 entries: 4 errors, 0 warnings")


def test_json_output(app, capsys):
    code, out = run(capsys, app, "--json")
    report = json.loads(out)
    assert code == 1
    assert report["total_entries"] == 4 and report["error_count"] == 4 and report["warning_count"] == 0
    d = next(d for d in report["diagnostics"] if d["code"] == "E0001")
    assert d == {"entry_id": "app:bad", "code": "E0001", "severity": "error",
                 "message": "\"one\" not assignable to number (argument 1 of 'add')", "line": 8, "column": 1}


def test_rules_level_code_limit_and_namespace_filters(app, capsys):
    _, out = run(capsys, app, "--rules", "--json")
    codes = {(d["entry_id"], d["code"], d["line"]) for d in json.loads(out)["diagnostics"]}
    assert ("app:bad", "W0004", 7) in codes and ("app:bad", "W0006", 1) in codes
    _, out = run(capsys, app, "--rules", "--json", "--level", "error")
    assert all(d["severity"] == "error" for d in json.loads(out)["diagnostics"])
    _, out = run(capsys, app, "--json", "--code", "E0008")
    assert [d["code"] for d in json.loads(out)["diagnostics"]] == ["E0008"]
    _, out = run(capsys, app, "--json", "--limit", "1")
    assert len(json.loads(out)["diagnostics"]) == 1
    code, out = run(capsys, app, "--json", "--ns", "lib")
    assert {d["entry_id"] for d in json.loads(out)["diagnostics"]} == {"lib:util"}
    code, out = run(capsys, app, "--json", "--ns", "l*")
    assert {d["entry_id"] for d in json.loads(out)["diagnostics"]} == {"lib:util"}


def test_summary(app, capsys):
    _, out = run(capsys, app, "--summary", "--rules")
    assert "By namespace:" in out and "By error code:" in out
    assert "E0001" in out and "W0004" in out
    assert "app " in out and "lib " in out


def test_a_clean_app_exits_zero(tmp_path, capsys):
    (tmp_path / "_index.yaml").write_text(
        'version: "1.0"\nnamespace: a\nentries:\n  - {name: f, kind: function.lua, method: main,'
        ' source: "function main(): integer return 1 end"}\n')
    code, out = run(capsys, tmp_path)
    assert code == 0 and "Checked 1 entries: 0 errors, 0 warnings" in out


@pytest.fixture
def importer(tmp_path, monkeypatch):
    monkeypatch.setenv("WIPPY_CACHE_DIR", str(tmp_path / "cache"))
    app = tmp_path / "app"
    app.mkdir()
    (app / "_index.yaml").write_text(textwrap.dedent("""\
        version: "1.0"
        namespace: app
        entries:
          - {name: orders, kind: library.lua, source: file://orders.lua}
          - {name: main, kind: function.lua, source: file://main.lua, method: main, imports: {orders: app:orders}}
        """))
    (app / "orders.lua").write_text("local M = {}\nfunction M.total(n: integer): integer return n end\nreturn M\n")
    (app / "main.lua").write_text('local orders = require("orders")\nfunction main(): integer\n'
                                  '    return orders.total(2)\nend\n')
    return app


def test_results_are_cached_by_what_they_depend_on(importer, tmp_path, capsys):
    assert run(capsys, importer, "--json")[0] == 0
    cached = list((tmp_path / "cache" / "lint").glob("*.json"))
    assert len(cached) == 2
    # the library changes: the entry importing it is checked again against its new signature
    (importer / "orders.lua").write_text("local M = {}\nfunction M.total(s: string): integer return #s end\nreturn M\n")
    code, out = run(capsys, importer, "--json")
    assert code == 1
    assert [(d["entry_id"], d["code"], d["line"]) for d in json.loads(out)["diagnostics"]] == [("app:main", "E0001", 3)]


def test_cache_reset_clears_stale_results(importer, tmp_path, capsys):
    run(capsys, importer)
    for f in (tmp_path / "cache" / "lint").glob("*.json"):   # results gone stale behind lint's back
        f.write_text(json.dumps([["E0001", 1, "stale result", 1]]))
    code, out = run(capsys, importer)
    assert code == 1 and "stale result" in out
    code, out = run(capsys, importer, "--cache-reset")
    assert code == 0 and "stale result" not in out and "Checked 2 entries: 0 errors" in out


def test_lock_file_is_refused_with_the_reason(importer, capsys):
    code = main(["lint", str(importer), "--lock-file", "wippy.lock"])
    assert code == 2
    assert "hub dependencies (wippy.lock) are not supported" in capsys.readouterr().err
