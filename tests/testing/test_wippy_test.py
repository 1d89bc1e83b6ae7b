"""`wippy test` as a user runs it: the framework of framework/testing.md on a real app, progress,
failures with file, line and values, exit codes, JSON and JUnit XML (validated against the
Jenkins xUnit schema), and the project's examples, each with tests of its own."""
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import xmlschema

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLES = ROOT / "examples"


def wippy(*args, cwd=None, timeout=60, env=None):
    return subprocess.run([sys.executable, "-m", "wippy.cli.main", "-s", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run of the framework app (JSON, JUnit and all) shared by the tests that read it."""
    out = tmp_path_factory.mktemp("run")
    app = out / "app"
    shutil.copytree(HERE / "app", app)
    junit = out / "report.xml"
    r = wippy("test", str(app), "--json", "--junit", str(junit), "--timeout", "3")
    return r, json.loads(r.stdout), junit, app


def cases(report, entry):
    [test] = [t for t in report["tests"] if t["entry"] == entry]
    return {" / ".join([*c["path"], c["name"]]): c for c in test["cases"]}


def test_failing_run_exits_non_zero_with_counts(run):
    r, report, _, _ = run
    assert r.returncode == 1
    assert report["ok"] is False
    assert [t["entry"] for t in report["tests"]] == [   # by suite, then meta.order, then id
        "app:calc_test", "app:hooks_test", "app:fail_test", "app:simple_error", "app:simple_ok", "app:slow"]
    assert "app:not_a_test" not in r.stdout


def test_bdd_cases_pass_skip_and_nest(run):
    _, report, _, _ = run
    got = {name: c["status"] for name, c in cases(report, "app:calc_test").items()}
    assert got == {
        "calculator / setup ran": "passed", "calculator / adds numbers": "passed",
        "calculator / returns error on divide by zero": "passed",
        "calculator / every assertion passes on good values": "passed",
        "calculator / not implemented yet": "skipped", "aliases / when nested / runs": "passed"}
    [calc] = [t for t in report["tests"] if t["entry"] == "app:calc_test"]
    assert (calc["suite"], calc["name"]) == ("calculator", "Calculator Test")


def test_hooks_run_in_order_and_mocks_are_restored(run):
    _, report, _, _ = run
    got = cases(report, "app:hooks_test")
    assert {n: c["status"] for n, c in got.items()} == dict.fromkeys([
        "outer / inner / case", "outer / hooks ran parent first on the way in, child first on the way out",
        "mocks / replace a global's field for one case", "mocks / are restored after the case",
        "mocks / mock_process and restore_mock"], "passed"), got


def test_failure_names_file_line_and_values(run):
    _, report, _, app = run
    got = cases(report, "app:fail_test")
    eq = got["failures / reports the values compared"]
    assert (eq["status"], eq["file"], eq["line"]) == ("failed", str(app / "fail_test.lua"), 7)
    assert (eq["message"], eq["expected"], eq["actual"]) == ("expected 5, got 4", "5", "4")
    msg = got["failures / reports a message"]
    assert (msg["line"], msg["message"]) == (11, "one is not more than two: expected 1 > 2")
    boom = got["failures / reports a runtime error"]
    assert (boom["line"], boom["status"]) == (15, "failed")
    assert "attempt to index a nil value" in boom["message"]
    assert got["failures / passes"]["status"] == "passed"
    # the test raised "tests failed: 3" after its cases: the cases it reported are what counts
    assert len(got) == 4


def test_simple_tests_and_timeouts(run):
    _, report, _, app = run
    assert cases(report, "app:simple_ok")["simple_ok"]["status"] == "passed"
    err = cases(report, "app:simple_error")["simple_error"]
    assert (err["status"], err["file"], err["line"], err["message"]) == (
        "failed", str(app / "simple_error.lua"), 4, "expected 3, got 2")
    slow = cases(report, "app:slow")["slow"]
    assert (slow["status"], slow["message"]) == ("failed", "timed out after 3s")


def test_junit_validates_against_the_ci_schema(run):
    _, report, junit, _ = run
    schema = xmlschema.XMLSchema(str(HERE / "junit-10.xsd"))
    schema.validate(str(junit))
    doc = schema.to_dict(str(junit))
    assert doc["@tests"] == str(report["passed"] + report["failed"] + report["skipped"])
    assert doc["@failures"] == str(report["failed"]) == "5"
    suites = {s["@name"]: s for s in doc["testsuite"]}
    assert set(suites) == {"calculator", "framework", "simple"}
    [eq] = [c for c in suites["framework"]["testcase"] if c["@name"] == "failures / reports the values compared"]
    assert eq["failure"][0]["@message"] == "expected 5, got 4"
    assert "fail_test.lua:7" in eq["failure"][0]["$"]


def test_console_progress_and_filter(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(HERE / "app", app)
    r = wippy("test", str(app), "fail_test", "simple_ok")
    assert r.returncode == 1
    out = r.stdout
    assert out.startswith("2 tests in 2 suites\n")
    assert "x failures / reports the values compared" in out
    assert f"{app / 'fail_test.lua'}:7: expected 5, got 4" in out
    assert "expected: 5" in out and "actual:   4" in out
    assert "o simple_ok" in out and "calc_test" not in out
    assert "FAILED   2 passed   3 failed   0 skipped" in out
    ok = wippy("test", str(app), "calc_test")
    assert ok.returncode == 0, ok.stdout
    assert "PASSED   5 passed   0 failed   1 skipped" in ok.stdout
    assert "- calculator / not implemented yet (skipped)" in ok.stdout


def test_a_folder_without_an_app_is_refused(tmp_path):
    r = wippy("test", str(tmp_path))
    assert r.returncode == 1
    assert "not an app folder" in r.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("name, passed", [
    ("hello-world", 2), ("ping-pong", 2), ("key-value", 3), ("worker-pool", 3), ("supervision", 2),
    ("registry-dynamic", 4), ("http-hello", 3), ("task-queue", 2), ("agent-mcp", 1),
    pytest.param("order-flow", 5, marks=pytest.mark.temporal),
])
def test_examples_pass_their_tests(tmp_path, name, passed):
    app = tmp_path / name
    shutil.copytree(EXAMPLES / name, app, ignore=shutil.ignore_patterns(".wippy"))
    env = {"HTTP_ADDR": f"127.0.0.1:{free_port()}", "TASKS_ADDR": f"127.0.0.1:{free_port()}"}
    r = wippy("test", str(app), "--json", env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert (report["passed"], report["failed"]) == (passed, 0)
