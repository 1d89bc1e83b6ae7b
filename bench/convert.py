"""Lua values crossing to Python (engine/convert.py): the native path (json.c's `plain`, then
json.loads) against the item-by-item walk through lupa, on plain data and on a DAG that the
host's caps refuse (the dag_to_python_module attack of tests/security).

    .venv/bin/python bench/convert.py [--rounds 5]

Prints the best round of each, in ms; the walk is what a node without the built codec runs.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "runtime-image")]

from tests.engine.conftest import LuaApp  # noqa: E402
from wippy import native  # noqa: E402
from wippy.engine.convert import NotConvertible  # noqa: E402

VALUES = {
    "2,000 records": "local t = {} for i = 1, 2000 do t[i] = {id = i, name = 'n' .. i, f = i / 7, ok = true} end return t",
    "50,000 numbers": "local t = {} for i = 1, 50000 do t[i] = i * 1.5 end return t",
    "DAG of 2^51 tables (refused)": "local t = {} for i = 1, 17 do t = {t, t, t, t, t, t, t, t} end return t",
}


def best_ms(engine, value, rounds: int) -> tuple[float, str]:
    times, outcome = [], ""
    for _ in range(rounds):
        t0 = time.perf_counter()
        try:
            engine.py(value)
            outcome = "converted"
        except NotConvertible as e:
            outcome = str(e).split(" (")[0]
        times.append((time.perf_counter() - t0) * 1000)
    return min(times), outcome


async def main(rounds: int) -> None:
    print(f"{'value':32} {'native ms':>10} {'walk ms':>10}  outcome")
    for name, src in VALUES.items():
        row = []
        for enabled in (True, False):
            native.enabled = enabled
            try:
                engine = LuaApp().engine
                value = engine.lua.execute(src)
                row.append(best_ms(engine, value, rounds))
            finally:
                native.enabled = True
        print(f"{name:32} {row[0][0]:10.1f} {row[1][0]:10.1f}  {row[0][1]}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(ap.parse_args().rounds))
