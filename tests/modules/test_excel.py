"""excel module (lua/data/excel.md): workbooks, sheets, cells, rows, cursors, files via fs."""
from __future__ import annotations

import openpyxl
import pytest

from tests.engine.conftest import FakeEntry


@pytest.fixture
def vol(app, tmp_path):
    app.entries["app:data"] = FakeEntry("app:data", "fs.directory", {"directory": str(tmp_path)})
    return tmp_path


async def run(app, body: str, *args):
    return await app.run("local excel = require('excel')\nlocal fs = require('fs')\nreturn function(...)\n"
                         + body + "\nend", *args, modules=["excel", "fs"])


async def test_new_sheets_and_cells(app):
    res = await run(app, """
    local wb, err = excel.new()
    assert(err == nil)
    local idx1 = wb:new_sheet("Summary")
    local idx2 = wb:new_sheet("Details")
    local again = wb:new_sheet("Summary")
    wb:new_sheet("Data")
    assert(wb:set_cell_value("Data", "A1", "Product Name") == nil)
    wb:set_cell_value("Data", "B1", "Price")
    wb:set_cell_value("Data", "A2", "Widget")
    wb:set_cell_value("Data", "B2", 29.99)
    wb:set_cell_value("Data", "C2", true)
    wb:set_cell_value("Data", "C3", false)
    wb:set_cell_value("Data", "D3", 95)
    wb:set_cell_value("Data", "AA1", "Extended Column")
    local rows = wb:get_rows("Data")
    local list = wb:get_sheet_list()
    wb:close()
    wb:close()
    return {idx1, idx2, again, list, rows}
    """)
    assert res[:4] == [1, 2, 1, ["Sheet1", "Summary", "Details", "Data"]]
    rows = res[4]
    assert rows[0][:2] == ["Product Name", "Price"] and rows[0][26] == "Extended Column"
    assert rows[1] == ["Widget", "29.99", "TRUE"] and rows[2] == ["", "", "FALSE", "95"]


async def test_write_to_and_open(app, vol):
    res = await run(app, """
    local wb = excel.new()
    wb:new_sheet("Monthly Report")
    wb:set_cell_value("Monthly Report", "A1", "Month")
    wb:set_cell_value("Monthly Report", "B1", "Revenue")
    wb:set_cell_value("Monthly Report", "A2", "January")
    wb:set_cell_value("Monthly Report", "B2", 45000)
    local v = fs.get("app:data")
    local file = v:open("/monthly.xlsx", "w")
    local err = wb:write_to(file)
    file:close()
    wb:close()
    assert(err == nil, tostring(err))
    local f = v:open("/monthly.xlsx", "r")
    local wb2, oerr = excel.open(f)
    assert(oerr == nil, tostring(oerr))
    local rows = wb2:get_rows("Monthly Report")
    wb2:close()
    f:close()
    return rows
    """)
    assert res == [["Month", "Revenue"], ["January", "45000"]]
    wb = openpyxl.load_workbook(vol / "monthly.xlsx")
    assert wb["Monthly Report"]["B2"].value == 45000


async def test_cursor(app):
    res = await run(app, """
    local wb = excel.new()
    for i = 1, 7 do wb:set_cell_value("Sheet1", "A" .. i, "r" .. i) end
    wb:set_cell_value("Sheet1", "B9", "last")
    local cursor, err = wb:rows("Sheet1")
    assert(err == nil)
    local batches = {}
    while true do
        local batch, e = cursor:read(3)
        assert(e == nil)
        if not batch then break end
        batches[#batches + 1] = #batch
    end
    local after = cursor:read(3)
    local one = wb:rows("Sheet1"):read()
    cursor:close()
    cursor:close()
    local _, cerr = cursor:read()
    return {batches, after == nil, one, cerr:kind()}
    """)
    assert res == [[3, 3, 3], True, [["r1"]], "Internal"]


@pytest.mark.parametrize("body, kind", [
    ('local wb = excel.new(); local e = wb:set_cell_value("Nope", "A1", 1); return e:kind()', "Internal"),
    ('local wb = excel.new(); local e = wb:set_cell_value("Sheet1", "1A", 1); return e:kind()', "Internal"),
    ('local wb = excel.new(); local _, e = wb:get_rows("Nope"); return e:kind()', "Internal"),
    ('local wb = excel.new(); wb:close(); local _, e = wb:get_rows("Sheet1"); return e:kind()', "Internal"),
    ('local wb = excel.new(); wb:close(); return wb:set_cell_value("Sheet1", "A1", 1):kind()', "Internal"),
    ('local _, e = excel.open("not a reader"); return e:kind()', "Internal"),
    ('local wb = excel.new(); return wb:write_to(5):kind()', "Internal"),
])
async def test_errors(app, body, kind):
    assert await run(app, body) == kind


async def test_open_invalid_file(app, vol):
    (vol / "bad.xlsx").write_bytes(b"\xff\x00not a zip")
    res = await run(app, """
    local f = fs.get("app:data"):open("/bad.xlsx", "r")
    local wb, err = excel.open(f)
    return {wb == nil, err:kind()}
    """)
    assert res == [True, "Internal"]
