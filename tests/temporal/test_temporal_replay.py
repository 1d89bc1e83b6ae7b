"""Replaying a recorded order flow with temporalio's Replayer: the same Lua replays; Lua
changed in a nondeterministic way is reported as nondeterminism."""
from __future__ import annotations

import asyncio
import dataclasses

import pytest
from temporalio.workflow import NondeterminismError

from wippy.runtime import Runtime
from wippy.temporal.replay import replay

from .conftest import copy_example

pytestmark = pytest.mark.temporal


async def test_recorded_history_replays_and_a_nondeterministic_change_is_reported(tmp_path, temporal_address, capsys):
    app = copy_example(tmp_path / "app", temporal_address)
    rt = Runtime(app, node_name="n1")
    await rt.start()
    try:
        await rt.supervisor.ensure_started("app:terminal")   # as `wippy run` does for a command
        assert await asyncio.wait_for(rt.node.exec("app:order", "app:terminal", ["yes"]), 30) == 0
        wid = capsys.readouterr().out.split("|", 1)[1].split("}", 1)[0]
        history = await rt.node.hosts["app:worker"].client.get_workflow_handle(wid).fetch_history()
        entries = {e.id: e for e in rt.registry.entries()}
    finally:
        await rt.stop()

    # the same code replays
    assert await replay(history, entries.get) is None

    # a change that keeps the commands (a comment, a local variable) still replays
    flow = entries["app:order_flow"]
    harmless = dataclasses.replace(flow, data={**flow.data, "source": "-- v2\n" + flow.data["source"]})
    assert await replay(history, {**entries, "app:order_flow": harmless}.get) is None

    # charging before reserving changes the recorded commands
    src = flow.data["source"]
    swapped = src.replace('funcs.call("app:reserve_inventory", order.items)', 'funcs.call("app:charge_payment", order.total)', 1)
    assert swapped != src
    changed = dataclasses.replace(flow, data={**flow.data, "source": swapped})
    failure = await replay(history, {**entries, "app:order_flow": changed}.get)
    assert isinstance(failure, NondeterminismError), failure
    assert "app:reserve_inventory" in str(failure) or "activity" in str(failure).lower()
