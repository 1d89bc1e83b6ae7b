"""The undeclared-`require` check and the runtime resolve a module name alike: what the linter
reports as undeclared is what `require` refuses when the code runs, and the ambient modules
(the globals: `process`, `errors`, `channel`, `payload`) need no declaration on either side."""
from __future__ import annotations

import pytest

from wippy.engine.errors import WippyError
from wippy.lang.lint import lint_source
from wippy.modules import AMBIENT

AMBIENT_NAMES = sorted(AMBIENT)


def test_the_ambient_set_holds_the_documented_globals():
    assert {"process", "errors", "channel", "payload"} <= AMBIENT


@pytest.mark.parametrize("name", AMBIENT_NAMES)
async def test_an_ambient_module_needs_no_declaration(app, name):
    src = f'local m = require("{name}")\nfunction main(): boolean\n    return m ~= nil\nend\n'
    assert [d for d in lint_source(src, method="main") if d.severity == "error"] == []
    assert await app.run(src) is True


async def test_an_undeclared_module_is_an_error_at_lint_time_and_at_run_time(app):
    src = 'local json = require("json")\nfunction main()\n    return json.encode({})\nend\n'
    assert [(d.code, d.line) for d in lint_source(src, method="main")] == [("E0008", 1)]
    with pytest.raises(WippyError) as e:
        await app.run(src)
    assert "module 'json' is not available to app:main" in e.value.message
    assert await app.run(src, modules=["json"]) == "[]"
    assert lint_source(src, method="main", modules=["json"]) == []


async def test_an_undeclared_import_is_an_error_at_lint_time_and_at_run_time(app):
    app.add("app:util", "library.lua", "return {n = 1}", method=None)
    src = 'local util = require("util")\nfunction main(): integer\n    return util.n\nend\n'
    assert [(d.code, d.line) for d in lint_source(src, method="main")] == [("E0008", 1)]
    with pytest.raises(WippyError):
        await app.run(src)
    assert await app.run(src, imports={"util": "app:util"}) == 1
    assert lint_source(src, method="main", imports={"util": "app:util"},
                       libraries={"app:util": "return {n = 1}"}) == []


def test_a_library_given_as_entry_data_resolves_its_own_imports():
    # the operator hands the linter each imported library's spec: one library re-exporting another
    relay = {"source": 'local m = require("m")\nreturn {double = m.double}', "imports": {"m": "app:mathlib"}}
    mathlib = "local M = {}\nfunction M.double(n: integer): integer\n    return n * 2\nend\nreturn M"
    src = 'local r = require("r")\nfunction main(): integer\n    return r.double("x")\nend\n'
    diags = lint_source(src, method="main", imports={"r": "app:relay"},
                        libraries={"app:relay": relay, "app:mathlib": mathlib})
    assert [(d.code, d.line) for d in diags] == [("E0001", 3)]
    # without the library it imports, the relay's export is any: nothing to report
    assert lint_source(src, method="main", imports={"r": "app:relay"}, libraries={"app:relay": relay}) == []
