"""Finding `meta.type: test` entries and running them.

Each test entry runs in a Lua state of its own (a host created for it and closed after it), so
nothing one test leaves behind — globals, pooled instances, processes it spawned — reaches the
next; a test that does not finish within its timeout is failed and its host closed. BDD cases
report themselves to the runner as they finish (so a run that raises at the end still shows
which cases failed), and the returned report, when there is one, is authoritative.
"""
from __future__ import annotations

import asyncio
import itertools
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from ..engine.errors import WippyError
from ..registry import Entry
from .builtin import TEST_PROCESS

DEFAULT_TIMEOUT = 30.0
_WHERE = re.compile(r"^([\w.\-]+:[\w.\-]+):(\d+): (.*)$", re.S)


@dataclass
class Case:
    name: str
    path: list[str]
    status: str                      # passed | failed | skipped
    duration_ms: int = 0
    message: str | None = None
    file: str | None = None
    line: int | None = None
    actual: str | None = None
    expected: str | None = None


@dataclass
class TestResult:
    entry: str
    suite: str
    name: str
    file: str | None
    cases: list[Case] = field(default_factory=list)
    duration_ms: int = 0

    @property
    def failed(self) -> bool:
        return any(c.status == "failed" for c in self.cases)


@dataclass
class Report:
    results: list[TestResult] = field(default_factory=list)
    duration_ms: int = 0

    def count(self, status: str) -> int:
        return sum(1 for r in self.results for c in r.cases if c.status == status)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def suites(self) -> dict[str, list[TestResult]]:
        out: dict[str, list[TestResult]] = {}
        for r in self.results:
            out.setdefault(r.suite, []).append(r)
        return out

    def to_dict(self) -> dict:
        return {"ok": self.ok, "passed": self.count("passed"), "failed": self.count("failed"),
                "skipped": self.count("skipped"), "duration_ms": self.duration_ms,
                "tests": [asdict(r) for r in self.results]}


def is_test(entry: Entry) -> bool:
    return entry.kind == "function.lua" and (entry.meta or {}).get("type") == "test"


def discover(entries: Iterable[Entry], patterns: Iterable[str] = ()) -> list[Entry]:
    """Test entries whose id contains any of ``patterns`` (all without patterns), by suite, order, id."""
    pats = [p for p in patterns if p]
    found = [e for e in entries if is_test(e) and (not pats or any(p in e.id for p in pats))]

    def key(e: Entry):
        meta = e.meta or {}
        order = meta.get("order")
        return (suite_of(e), order if isinstance(order, (int, float)) else float("inf"), e.id)
    return sorted(found, key=key)


def suite_of(entry: Entry) -> str:
    return str((entry.meta or {}).get("suite") or entry.ns)


class SourceFiles:
    """The Lua file an entry's `source: file://...` named, read back from its `_index.yaml`
    (the registry keeps the text, not the path), so failures can name file and line."""

    def __init__(self, lookup: Callable[[str], Entry | None]):
        self._lookup = lookup
        self._indexes: dict[str, dict[str, str]] = {}

    def of(self, entry_id: str) -> str | None:
        entry = self._lookup(entry_id)
        if entry is None or entry.source is None or not entry.source.file.endswith((".yaml", ".yml")):
            return None
        return self._index(entry.source.file).get(entry.name)

    def _index(self, path: str) -> dict[str, str]:
        if path not in self._indexes:
            files: dict[str, str] = {}
            try:
                doc = yaml.safe_load(Path(path).read_text()) or {}
            except (OSError, yaml.YAMLError):
                doc = {}
            for item in doc.get("entries") or [] if isinstance(doc, dict) else []:
                src = item.get("source") if isinstance(item, dict) else None
                if isinstance(src, str) and src.startswith("file://"):
                    rel = src[len("file://"):]
                    files[str(item.get("name"))] = str((Path(path).parent / rel).resolve()) if not rel.startswith("/") else rel
            self._indexes[path] = files
        return self._indexes[path]


class _Reporter:
    """A host with one mailbox: where BDD cases send themselves while they run."""

    def __init__(self):
        self.messages: list[Any] = []

    def deliver(self, pid: str, topic: str, frm: str | None, value: Any) -> None:
        if topic == "test.case":
            self.messages.append(value)

    def deliver_event(self, pid: str, event: dict) -> None:
        pass


_seq = itertools.count(1)


class Runner:
    def __init__(self, runtime, *, timeout: float = DEFAULT_TIMEOUT,
                 on_start: Callable[[Entry], None] | None = None,
                 on_result: Callable[[TestResult], None] | None = None):
        self.runtime = runtime
        self.timeout = timeout
        self.on_start = on_start
        self.on_result = on_result
        self.files = SourceFiles(runtime.entry)

    async def run(self, tests: list[Entry]) -> Report:
        started = time.monotonic()
        report = Report()
        for entry in tests:
            if self.on_start:
                self.on_start(entry)
            result = await self.run_one(entry)
            report.results.append(result)
            if self.on_result:
                self.on_result(result)
        report.duration_ms = int((time.monotonic() - started) * 1000)
        return report

    async def run_one(self, entry: Entry) -> TestResult:
        from ..engine.engine import Engine
        node = self.runtime.node
        n = next(_seq)
        host_id, mailbox_id = f"wippy:test.{n}", f"wippy:test-report.{n}"
        reporter = _Reporter()
        node.add_host(mailbox_id, reporter)
        engine = Engine(node, host_id)
        node.add_host(host_id, engine)
        meta = entry.meta or {}
        result = TestResult(entry.id, suite_of(entry), str(meta.get("name") or entry.name), self.files.of(entry.id))
        started = time.monotonic()
        outcome: Any = None
        error: str | None = None
        try:
            options = {"reporter": f"{{{node.name}@{mailbox_id}|0x00001}}", "entry": entry.id}
            answer = await asyncio.wait_for(node.exec(TEST_PROCESS, host_id, [entry.id, options]), self.timeout)
            outcome, error = (answer or {}).get("value"), (answer or {}).get("error")
        except TimeoutError:
            error = f"timed out after {self.timeout:g}s"
        except WippyError as e:
            error = e.message or e.kind
        finally:
            node.remove_host(host_id)
            node.remove_host(mailbox_id)
            engine.close()
        result.duration_ms = int((time.monotonic() - started) * 1000)
        if isinstance(outcome, dict) and outcome.get("bdd"):
            result.cases = [self._case(entry, c) for c in outcome.get("cases") or []]
        else:
            result.cases = [self._case(entry, c) for c in reporter.messages if isinstance(c, dict)]
            reported_failure = any(c.status == "failed" for c in result.cases)
            if (error is not None and not reported_failure) or outcome is False:
                case = Case(result.name, [], "failed", result.duration_ms)
                self._locate(case, entry, error if error is not None else "the test returned false")
                result.cases.append(case)
            elif not result.cases:
                result.cases.append(Case(result.name, [], "passed", result.duration_ms))
        return result

    def _case(self, entry: Entry, c: dict) -> Case:
        path = [str(p) for p in c.get("path") or []]
        case = Case(str(c.get("name")), path, str(c.get("status")), int(c.get("duration_ms") or 0),
                    actual=c.get("actual"), expected=c.get("expected"))
        if case.status == "failed":
            chunk, line = c.get("entry"), c.get("line")
            case.message = str(c.get("error"))
            if chunk and line:
                case.file, case.line = self.files.of(str(chunk)) or str(chunk), int(line)
            else:
                self._locate(case, entry, case.message)
        return case

    def _locate(self, case: Case, entry: Entry, message: str) -> None:
        """Split `ns:name:LINE: text` (a Lua error's position) into file, line and message."""
        m = _WHERE.match(message)
        if m:
            case.file, case.line, case.message = self.files.of(m[1]) or m[1], int(m[2]), m[3]
        else:
            case.file, case.message = self.files.of(entry.id) or entry.id, message
