"""examples/agent-mcp: an agent scripted through a real MCP session (the SDK's stdio client)
adds an endpoint and its test to the running app, then a broken change that its test catches and
that is rolled back by itself, while the app answers every request."""
import importlib.util
import threading
import time
from pathlib import Path

from tests.harness.agents import RunningApp, stdio_session

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "agent-mcp"


def load_agent():
    spec = importlib.util.spec_from_file_location("agent_example", EXAMPLE / "agent.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Poller(threading.Thread):
    """Asks the app for a path over and over, noting every answer."""

    def __init__(self, app, path):
        super().__init__(daemon=True)
        self.app, self.path, self.answers, self.stop = app, path, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.answers.append(self.app.get(self.path))
            time.sleep(0.01)


async def test_agent_adds_an_endpoint_and_a_broken_change_is_rolled_back(tmp_path):
    app = RunningApp(EXAMPLE, tmp_path / "agent-mcp")
    try:
        token = app.token("scripted-agent", ns=["app"], actions="read,lint,create,update,test,observe")
        agent = load_agent()
        assert app.get("/api/hello/ann")[0] == 404
        status = Poller(app, "/api/status")
        status.start()
        lines = []
        async with stdio_session(app.dir, token["token"]) as session:
            seen = await agent.act(session, say=lines.append)
            hello = Poller(app, "/api/hello/ann")
            hello.start()
            seen["broken"] = await agent.tool(session, "apply", changes=agent.BROKEN_CHANGE, run_tests=True)
            hello.stop.set()
            hello.join()
            # from the moment apply returned (rolled back), the broken handler is never served
            after = [app.get("/api/hello/ann") for _ in range(20)]
        status.stop.set()
        status.join()

        assert seen["lint"] == {"ok": True, "problems": []}
        add = seen["add"]
        assert add["applied"] is True and "rolled_back" not in add
        assert (add["tests"]["passed"], add["tests"]["failed"]) == (1, 0)
        assert app.get("/api/hello/ann") == (200, '{"message":"Hello, ann!"}')

        broken = seen["broken"]
        assert broken["applied"] is True and broken["rolled_back"] is True
        [case] = broken["tests"]["tests"][0]["cases"]
        assert (case["expected"], case["actual"]) == ('"Hello, ann!"', '"Goodbye, ann!"')
        assert after == [(200, '{"message":"Hello, ann!"}')] * 20

        # the app answered every request throughout; the broken handler was live only while tested
        # (a request sent before the rollback may still answer Goodbye after apply returns)
        assert status.answers and all(a == (200, '{"ok":true}') for a in status.answers)
        assert hello.answers and set(hello.answers) <= {(200, '{"message":"Hello, ann!"}'),
                                                        (200, '{"message":"Goodbye, ann!"}')}

        history = app.history()
        assert sum("mcp:scripted-agent" in ln for ln in history) == 5   # add, broken, undo; broken, undo
        assert "tests failed: back to" in history[-1] and history[-1].startswith("*")
        assert lines[0] == "lint: ok" and "rolled back: True" in lines[2]
    finally:
        app.stop()
