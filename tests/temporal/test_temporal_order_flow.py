"""The order flow of the seed document, end to end on a real Temporal dev server."""
from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowFailureError

from wippy.runtime import Runtime
from wippy.temporal.errors import from_failure

from .conftest import copy_example

pytestmark = pytest.mark.temporal


@pytest.fixture
async def order_app(tmp_path, temporal_address):
    app = copy_example(tmp_path / "app", temporal_address)
    rt = Runtime(app, node_name="n1")
    await rt.start()
    assert not rt.errors, rt.errors
    await rt.supervisor.ensure_started("app:terminal")   # as `wippy run` does for a command
    yield rt
    await rt.stop()


async def test_order_flow_approved_by_another_process(order_app, capsys):
    # the `order` command: spawn_monitored the workflow on the temporal.worker host, spawn an
    # approver process that sends it a message, wait for the workflow's EXIT event
    code = await asyncio.wait_for(order_app.node.exec("app:order", "app:terminal", ["yes"]), 30)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "started workflow {app:temporal@app:worker|" in out
    assert "order order-1: fulfilled" in out


async def test_order_flow_rejected_error_keeps_kind_message_retryable(order_app, capsys):
    code = await asyncio.wait_for(order_app.node.exec("app:order", "app:terminal", ["no"]), 30)
    out = capsys.readouterr().out
    assert code == 1
    assert "order failed: rejected" in out
    wid = out.split("|", 1)[1].split("}", 1)[0]
    handle = order_app.node.hosts["app:worker"].client.get_workflow_handle(wid)
    with pytest.raises(WorkflowFailureError) as ei:
        await handle.result()
    err = from_failure(ei.value.cause)
    assert (err.kind, err.message, err.retryable) == ("Invalid", "rejected", False)
    # the compensations ran as activities, in order
    kinds = [e.activity_task_scheduled_event_attributes.activity_type.name
             async for e in handle.fetch_history_events() if e.HasField("activity_task_scheduled_event_attributes")]
    assert kinds == ["app:reserve_inventory", "app:charge_payment", "app:refund_payment", "app:release_inventory"]
