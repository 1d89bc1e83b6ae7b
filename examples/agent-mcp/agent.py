"""A scripted agent: what an LLM client would do over MCP, step by step, with the official SDK.

    wippy run examples/agent-mcp &                                   # the app (HTTP_ADDR, default 127.0.0.1:8080)
    export WIPPY_MCP_TOKEN=$(wippy mcp-token create examples/agent-mcp --actor scripted-agent \\
        --ns app --actions read,lint,create,update,test,observe | python -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    python examples/agent-mcp/agent.py examples/agent-mcp

It adds GET /api/hello/{who} and a test for it (applied with run_tests: the test passes, the change
stays), then tries a broken version of the handler: its test fails and the change is rolled back by
itself, while the app keeps serving.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

HANDLER = '''local http = require("http")

local function handler()
  local who = http.request():param("who")
  http.response():write_json({message = "%s, " .. who .. "!"})
end

return {handler = handler}
'''

TEST = '''local test = require("test")
local http_client = require("http_client")
local json = require("json")
local env = require("env")

-- covers app:hello (the handler behind GET /api/hello/{who})
local function define_tests()
  test.describe("GET /api/hello/{who}", function()
    test.it("greets by name", function()
      local url = "http://" .. (env.get("HTTP_ADDR") or "127.0.0.1:8080") .. "/api/hello/ann"
      local res = test.no_error(http_client.get(url))
      test.eq(res.status_code, 200)
      test.eq(json.decode(res.body).message, "Hello, ann!")
    end)
  end)
end

return {run = test.run_cases(define_tests)}
'''


def handler_entry(greeting: str) -> dict:
    return {"id": "app:hello", "kind": "function.lua", "source": HANDLER % greeting, "method": "handler",
            "modules": ["http"]}


ADD_ENDPOINT = [
    {"action": "create", "entry": handler_entry("Hello")},
    {"action": "create", "entry": {"id": "app:hello.get", "kind": "http.endpoint", "meta": {"router": "api"},
                                   "method": "GET", "path": "/hello/{who}", "func": "hello"}},
    {"action": "create", "entry": {"id": "app:hello_test", "kind": "function.lua",
                                   "meta": {"type": "test", "suite": "hello"}, "source": TEST, "method": "run",
                                   "modules": ["http_client", "json", "env"],
                                   "imports": {"test": "wippy.test:test"}}},
]

BROKEN_CHANGE = [{"action": "update", "entry": handler_entry("Goodbye")}]


async def tool(session: ClientSession, name: str, **args):
    result = await session.call_tool(name, args)
    text = "".join(getattr(c, "text", "") for c in result.content)
    if result.is_error:
        raise RuntimeError(f"{name}: {text}")
    return json.loads(text)


async def act(session: ClientSession, say=print) -> dict:
    """The agent's steps; returns what it saw at each."""
    seen = {"lint": await tool(session, "lint", changes=ADD_ENDPOINT)}
    say(f"lint: {'ok' if seen['lint']['ok'] else seen['lint']['problems']}")
    seen["add"] = await tool(session, "apply", changes=ADD_ENDPOINT, run_tests=True)
    say(f"added the endpoint as version {seen['add']['version']}: tests "
        f"{seen['add']['tests']['passed']} passed, {seen['add']['tests']['failed']} failed")
    seen["broken"] = await tool(session, "apply", changes=BROKEN_CHANGE, run_tests=True)
    say(f"broken change: tests failed {seen['broken']['tests']['failed']}, rolled back: "
        f"{seen['broken'].get('rolled_back', False)} (now version {seen['broken']['version']})")
    seen["history"] = await tool(session, "history", limit=5)
    for row in seen["history"]:
        say(f"  v{row['version']}  {row['origin']}  {row['summary']}")
    return seen


async def main(app_dir: str) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "wippy.cli.main", "-s", "mcp", app_dir],
                                   env={"WIPPY_MCP_TOKEN": os.environ["WIPPY_MCP_TOKEN"]})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            await act(session)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))))
