"""A runtime running a workflow is SIGKILLed; a second runtime finishes it. Completed
activities do not run again (their side effects are counted in SQLite) and the wait still
receives its signal."""
from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from .conftest import eventually, write_app

pytestmark = pytest.mark.temporal

WIPPY = str(Path(sys.executable).parent / "wippy")

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: temporal, kind: temporal.client, address: "ADDRESS"}
  - {name: worker, kind: temporal.worker, client: temporal, task_queue: "QUEUE", lifecycle: {auto_start: true}}
  - {name: db, kind: db.sql.sqlite, file: effects.db}
  - name: step
    kind: function.lua
    meta: {temporal: {activity: {worker: app:worker}}}
    source: file://step.lua
    method: step
    modules: [sql]
  - name: crashflow
    kind: workflow.lua
    meta: {temporal: {workflow: {worker: app:worker}}}
    source: file://crashflow.lua
    method: main
    modules: [funcs, time]
"""

FILES = {
    "step.lua": """
        local sql = require("sql")
        local function step(name, order)
          local db, err = sql.get("app:db")
          if err then return nil, err end
          db:execute("CREATE TABLE IF NOT EXISTS effects (step TEXT, order_id TEXT)")
          local _, e = db:execute("INSERT INTO effects (step, order_id) VALUES (?, ?)", {name, order})
          if e then return nil, e end
          return name .. ":" .. order
        end
        return {step = step}
    """,
    "crashflow.lua": """
        local funcs = require("funcs")
        local time = require("time")
        local function main(order)
          local done = {}
          for _, s in ipairs({"reserve", "charge", "notify"}) do
            done[#done + 1] = funcs.call("app:step", s, order)
          end
          time.sleep("200ms")
          local msg = process.inbox():receive()
          local approved = msg:payload():data().approved
          done[#done + 1] = funcs.call("app:step", approved and "fulfill" or "refund", order)
          return done
        end
        return {main = main}
    """,
}


def start_runtime(app: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([WIPPY, "run", str(app)], stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True, env=dict(os.environ, WIPPY_NODE_ID="n-" + log.stem))


def effects(app: Path) -> dict[str, int]:
    db = app / "effects.db"
    if not db.exists():
        return {}
    con = sqlite3.connect(db)
    try:
        return dict(con.execute("SELECT step, COUNT(*) FROM effects GROUP BY step").fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        con.close()


async def test_sigkill_mid_workflow_second_runtime_completes_it(tmp_path, temporal_address):
    queue = "crash-" + uuid.uuid4().hex[:8]
    app = write_app(tmp_path / "app", INDEX.replace("ADDRESS", temporal_address).replace("QUEUE", queue), FILES)
    client = await Client.connect(temporal_address)
    first = start_runtime(app, tmp_path / "first.log")
    second = None
    try:
        handle = await client.start_workflow("app:crashflow", args=["o-1"], id="crash-" + queue, task_queue=queue)
        # the three activities have run and the workflow waits for its message
        await eventually(lambda: effects(app) == {"reserve": 1, "charge": 1, "notify": 1}, timeout=60)

        async def waiting():
            return [e async for e in handle.fetch_history_events() if e.HasField("timer_fired_event_attributes")]
        await eventually(waiting, timeout=30)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)

        second = start_runtime(app, tmp_path / "second.log")
        # the message is sent while no runtime may even be up yet: it waits in Temporal
        await handle.signal("approval", {"approved": True})
        result = await asyncio.wait_for(handle.result(), 90)
        assert result == ["reserve:o-1", "charge:o-1", "notify:o-1", "fulfill:o-1"]
        assert effects(app) == {"reserve": 1, "charge": 1, "notify": 1, "fulfill": 1}
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
