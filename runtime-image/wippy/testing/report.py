"""How a test run is shown: progress on a terminal, JSON, and JUnit XML (the dialect of the
Jenkins xUnit plugin's junit-10.xsd, which GitLab, GitHub test reporters and others read)."""
from __future__ import annotations

import json
import socket
import sys
from datetime import datetime, timezone
from typing import TextIO
from xml.etree import ElementTree as ET

from .runner import Case, Report, TestResult

MARK = {"passed": "o", "failed": "x", "skipped": "-"}


class Progress:
    """Prints each test entry as it finishes, with its failures in full."""

    def __init__(self, out: TextIO = sys.stdout):
        self.out = out
        self._suite: str | None = None

    def start(self, total: int, suites: int) -> None:
        self.out.write(f"{total} tests in {suites} suites\n")
        self.out.flush()

    def result(self, r: TestResult) -> None:
        if r.suite != self._suite:
            self._suite = r.suite
            self.out.write(f"\n  {r.suite}\n")
        passed = sum(c.status == "passed" for c in r.cases)
        skipped = sum(c.status == "skipped" for c in r.cases)
        extra = f"  {skipped} skipped" if skipped else ""
        self.out.write(f"    {r.name} ({r.entry})  {passed}/{len(r.cases)}{extra}  {r.duration_ms}ms\n")
        for c in r.cases:
            label = " / ".join([*c.path, c.name]) if c.path else c.name
            suffix = " (skipped)" if c.status == "skipped" else ""
            self.out.write(f"      {MARK.get(c.status, '?')} {label}{suffix}\n")
            if c.status == "failed":
                for line in failure_lines(c):
                    self.out.write(f"          {line}\n")
        self.out.flush()

    def summary(self, report: Report) -> None:
        word = "PASSED" if report.ok else "FAILED"
        failed = report.count("failed")
        self.out.write(f"\n  {word}   {report.count('passed')} passed   {failed} failed   "
                       f"{report.count('skipped')} skipped   {len(report.suites())} suites   {report.duration_ms}ms\n")
        self.out.flush()


def failure_lines(c: Case) -> list[str]:
    where = f"{c.file}:{c.line}: " if c.file and c.line else (f"{c.file}: " if c.file else "")
    lines = [f"{where}{c.message}"]
    if c.expected is not None or c.actual is not None:
        lines.append(f"  expected: {c.expected}")
        lines.append(f"  actual:   {c.actual}")
    return lines


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2)


def to_junit(report: Report, name: str = "wippy test") -> str:
    root = ET.Element("testsuites", name=name, tests=str(_total(report.results)),
                      failures=str(report.count("failed")), errors="0", time=_secs(report.duration_ms))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    host = socket.gethostname()
    for i, (suite, results) in enumerate(report.suites().items()):
        cases = [(r, c) for r in results for c in r.cases]
        el = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)),
                           failures=str(sum(c.status == "failed" for _, c in cases)), errors="0",
                           skipped=str(sum(c.status == "skipped" for _, c in cases)),
                           time=_secs(sum(r.duration_ms for r in results)), timestamp=stamp,
                           hostname=host, id=str(i))
        for r, c in cases:
            tc = ET.SubElement(el, "testcase", name=" / ".join([*c.path, c.name]) if c.path else c.name,
                               classname=r.entry, time=_secs(c.duration_ms))
            if c.status == "failed":
                f = ET.SubElement(tc, "failure", message=c.message or "failed", type="AssertionError")
                f.text = "\n".join(failure_lines(c))
            elif c.status == "skipped":
                ET.SubElement(tc, "skipped")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _total(results: list[TestResult]) -> int:
    return sum(len(r.cases) for r in results)


def _secs(ms: int) -> str:
    return f"{ms / 1000:.3f}"
