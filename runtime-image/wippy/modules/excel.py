"""Python side of the `excel` module: .xlsx workbooks on openpyxl. Loading and saving run in
a worker thread; cell operations are small and run inline."""
from __future__ import annotations

import asyncio
import io
import itertools
import re
import zipfile

import openpyxl
from openpyxl.utils.cell import coordinate_from_string
from openpyxl.utils.exceptions import CellCoordinatesException, InvalidFileException

from ..engine.errors import INTERNAL, INVALID, WippyError

_CELL = re.compile(r"^[A-Za-z]{1,3}[1-9][0-9]{0,6}$")
MAX_BATCH = 10000


def _text(v) -> str:
    if v is None:
        return ""
    if v is True:
        return "TRUE"
    if v is False:
        return "FALSE"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def _row(values) -> list[str]:
    cells = [_text(v) for v in values]
    while cells and cells[-1] == "":
        cells.pop()
    return cells


class Book:
    def __init__(self, wb):
        self.wb = wb
        self.cursors: dict[int, "Cursor"] = {}

    def sheet(self, name):
        if not isinstance(name, str) or name not in self.wb.sheetnames:
            raise WippyError(INTERNAL, f"sheet {name!r} does not exist")
        return self.wb[name]


class Cursor:
    def __init__(self, ws):
        self.rows = ws.iter_rows(values_only=True)
        self.done = False


def install(engine):
    books: dict[int, Book] = {}
    ids = itertools.count(1)

    def book(h) -> Book:
        b = books.get(h)
        if b is None:
            raise WippyError(INTERNAL, "workbook is closed")
        return b

    def new():
        wb = openpyxl.Workbook()
        first = wb.active
        assert first is not None   # a new workbook has one sheet
        first.title = "Sheet1"
        h = next(ids)
        books[h] = Book(wb)
        return h

    async def open_(data, latin1):
        raw = data.encode("latin-1" if latin1 else "utf-8")

        def load():
            return openpyxl.load_workbook(io.BytesIO(raw), read_only=False, data_only=True)
        try:
            wb = await asyncio.get_running_loop().run_in_executor(None, load)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
            raise WippyError(INTERNAL, f"invalid Excel file: {e}") from None
        h = next(ids)
        books[h] = Book(wb)
        return h

    def new_sheet(h, name):
        b = book(h)
        if not isinstance(name, str) or not name or len(name) > 31 or any(c in name for c in "[]:*?/\\"):
            raise WippyError(INVALID, f"invalid sheet name {name!r}")
        if name not in b.wb.sheetnames:
            b.wb.create_sheet(name)
        return b.wb.sheetnames.index(name)

    def sheet_list(h):
        return engine.to_lua(list(book(h).wb.sheetnames))

    def set_cell(h, sheet, cell, value):
        ws = book(h).sheet(sheet)
        if not isinstance(cell, str) or not _CELL.match(cell):
            raise WippyError(INTERNAL, f"invalid cell reference {cell!r}")
        try:
            coordinate_from_string(cell.upper())
        except CellCoordinatesException as e:
            raise WippyError(INTERNAL, f"invalid cell reference {cell!r}: {e}") from None
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise WippyError(INVALID, "cell value must be a string, number or boolean")
        ws[cell.upper()] = value
        return True

    async def get_rows(h, sheet):
        ws = book(h).sheet(sheet)

        def collect():
            rows = [_row(r) for r in ws.iter_rows(values_only=True)]
            while rows and not rows[-1]:
                rows.pop()
            return rows
        return engine.to_lua(await asyncio.get_running_loop().run_in_executor(None, collect))

    def open_cursor(h, sheet):
        b = book(h)
        c = next(ids)
        b.cursors[c] = Cursor(b.sheet(sheet))
        return c

    def read_cursor(h, c, n):
        b = book(h)
        cur = b.cursors.get(c)
        if cur is None:
            raise WippyError(INTERNAL, "cursor is closed")
        if n is None:
            n = 1
        if not isinstance(n, int) or n < 1:
            raise WippyError(INVALID, "batch size must be a positive integer")
        n = min(n, MAX_BATCH)
        if cur.done:
            return None
        batch = []
        for r in cur.rows:
            batch.append(_row(r))
            if len(batch) >= n:
                break
        if len(batch) < n:
            cur.done = True
        return engine.to_lua(batch) if batch else None

    def close_cursor(h, c):
        b = books.get(h)
        if b is not None:
            b.cursors.pop(c, None)
        return True

    async def save(h):
        wb = book(h).wb

        def dump():
            buf = io.BytesIO()
            wb.save(buf)
            return buf.getvalue()
        try:
            return await asyncio.get_running_loop().run_in_executor(None, dump)
        except Exception as e:   # openpyxl raises many kinds when a workbook cannot be written
            raise WippyError(INTERNAL, f"write failed: {e}") from None

    def close(h):
        books.pop(h, None)
        return True

    return {"new": new, "open": open_, "new_sheet": new_sheet, "sheet_list": sheet_list, "set_cell": set_cell,
            "get_rows": get_rows, "open_cursor": open_cursor, "read_cursor": read_cursor,
            "close_cursor": close_cursor, "save": save, "close": close}
