"""The operator against a real API server: status conditions, revision history, rollback,
validation beyond the schema, and what a WippyApp becomes. The operator runs as a process
(`python -m wippy_operator`), the way its image runs it; the tests act with kubectl and
`wippy`, and play the runtime pods by reporting in their app's report map as they do."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.operator_process import Operator, install_crds
from tests.harness.processes import wait_for
from tests.harness.reports import report
from wippy.kube.projection import map_names

ROOT = Path(__file__).resolve().parents[2]
WIPPY = [sys.executable, "-m", "wippy.cli.main"]


@pytest.fixture(scope="module")
def operator(kube, tmp_path_factory):
    install_crds(kube)
    op = Operator(kube, tmp_path_factory.mktemp("operator") / "operator.log")
    op.start()
    yield op
    op.stop()


_namespaces = iter(range(1, 1000))


@pytest.fixture
def ns(kube):
    name = f"op-{os.getpid()}-{next(_namespaces)}"
    kube.kubectl("create", "namespace", name)
    return name


def wippy(*args, kube, check=True):
    proc = subprocess.run([*WIPPY, *args], capture_output=True, text=True,
                          env={**os.environ, "KUBECONFIG": str(kube.kubeconfig)})
    if check and proc.returncode != 0:
        raise AssertionError(f"wippy {' '.join(args)} failed: {proc.stderr}")
    return proc


def get(kube, ns, ref) -> dict:
    return json.loads(kube.kubectl("get", ref, "-n", ns, "-o", "json").stdout)


def condition(obj: dict, kind: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def function(entry_id: str, source: str, app: str = "demo", method: str = "f") -> dict:
    from wippy.kube.naming import object_name
    return {"apiVersion": "wippy.ai/v1alpha1", "kind": "FunctionLua",
            "metadata": {"name": object_name(entry_id), "labels": {"wippy.ai/app": app}},
            "spec": {"id": entry_id, "source": source, "method": method}}


def apply(kube, ns, *objects) -> None:
    kube.kubectl("apply", "-n", ns, "-f", "-", input={"apiVersion": "v1", "kind": "List", "items": list(objects)})




def projected(kube, ns, app) -> set[str]:
    """The entry keys in an app's entry maps (what its pods are given)."""
    maps = json.loads(kube.kubectl("get", "configmaps", "-n", ns, "-l", f"wippy.ai/app={app},wippy.ai/projection=entries",
                                   "-o", "json").stdout)["items"]
    return {k for m in maps for k in m.get("data") or {}}


def projected_items(kube, ns, app) -> dict[str, str]:
    maps = json.loads(kube.kubectl("get", "configmaps", "-n", ns, "-l", f"wippy.ai/app={app},wippy.ai/projection=entries",
                                   "-o", "json").stdout)["items"]
    return {k: v for m in maps for k, v in (m.get("data") or {}).items()}


def revisions(kube, ns, name) -> list[dict]:
    items = json.loads(kube.kubectl("get", "controllerrevisions", "-n", ns, "-l", f"wippy.ai/entry={name}",
                                    "-o", "json").stdout)["items"]
    return sorted(items, key=lambda r: r["revision"])


# ---------------------------------------------------------------------- status and readiness
def test_entries_become_ready_when_every_pod_serves_the_revision(kube, operator, ns):
    manifests = wippy("manifests", str(ROOT / "examples/hello-world"), "--app", "hello", kube=kube).stdout
    kube.kubectl("apply", "-n", ns, "-f", "-", input=manifests)
    ref = "functionlua/hello.greet"
    obj = wait_for(lambda: (o := get(kube, ns, ref)) and condition(o, "Reconciling").get("status") == "True" and o,
                   what="Reconciling")
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    assert obj["status"]["latestRevision"] == obj["status"]["activeRevision"] == 1
    # Reconciling and Stalled are there only while True
    assert condition(obj, "Ready")["status"] == "False" and condition(obj, "Stalled") == {}

    report(kube, ns, ref, "hello-abc", 1, app="hello")
    kube.kubectl("wait", "--for=condition=Ready", "--timeout=20s", ref, "-n", ns)
    out = kube.kubectl("get", "wippy", "-n", ns).stdout
    assert "hello:greet" in out and "METHOD" in out and "REVISION" in out

    report(kube, ns, ref, "hello-def", 1, error="boom: cannot start", app="hello")
    obj = wait_for(lambda: (o := get(kube, ns, ref)) and condition(o, "Stalled").get("status") == "True" and o,
                   what="Stalled after a pod error")
    assert condition(obj, "Ready")["reason"] == "ApplyFailed" and "boom" in condition(obj, "Ready")["message"]
    assert obj["spec"]["id"] == "hello:greet"  # the operator never touches spec


def test_invalid_lua_is_stalled_with_reason_and_event(kube, operator, ns):
    apply(kube, ns, function("app:bad", "return {f = function( end}"))
    obj = wait_for(lambda: (o := get(kube, ns, "functionlua/app.bad")) and condition(o, "Stalled").get("status") == "True"
                   and o, what="Stalled")
    ready = condition(obj, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "LuaSyntaxError" and "app:bad" in ready["message"]
    assert revisions(kube, ns, "app.bad") == []  # only accepted specs are recorded
    events = wait_for(lambda: json.loads(kube.kubectl(
        "get", "events", "-n", ns, "--field-selector", "involvedObject.name=app.bad", "-o", "json").stdout)["items"],
        what="an Event")
    assert events[0]["reason"] == "LuaSyntaxError" and events[0]["type"] == "Warning"



def test_a_type_error_is_stalled_as_lint_failed_and_warnings_are_events(kube, operator, ns):
    apply(kube, ns, function("app:typed", 'local n: number = "one"\nreturn {f = function() return n end}'),
          function("app:warned", "local unused = 1\nreturn {f = function(): integer return 1 end}"))
    obj = wait_for(lambda: (o := get(kube, ns, "functionlua/app.typed")) and condition(o, "Stalled").get("status") == "True"
                   and o, what="Stalled")
    ready = condition(obj, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "LintFailed"
    assert 'app:typed:1: E0001 "one" not assignable to number' in ready["message"]
    assert revisions(kube, ns, "app.typed") == []
    events = wait_for(lambda: json.loads(kube.kubectl(
        "get", "events", "-n", ns, "--field-selector", "involvedObject.name=app.warned", "-o", "json").stdout)["items"],
        what="a lint warning Event")
    assert events[0]["reason"] == "LintWarnings" and "W0004 unused variable 'unused'" in events[0]["message"]
    warned = get(kube, ns, "functionlua/app.warned")
    assert condition(warned, "Stalled").get("status") != "True"  # warnings do not stop an entry

def test_a_call_into_a_library_with_wrong_types_is_lint_failed_until_the_library_fits(kube, operator, ns):
    library = {"apiVersion": "wippy.ai/v1alpha1", "kind": "LibraryLua",
               "metadata": {"name": "app.mathlib", "labels": {"wippy.ai/app": "demo"}},
               "spec": {"id": "app:mathlib", "source": "local M = {}\nfunction M.double(n: integer): integer\n"
                                                       "  return n * 2\nend\nreturn M"}}
    caller = function("app:caller", 'local m = require("m")\nlocal function f()\n  return m.double("two")\nend\n'
                                    "return {f = f}")
    caller["spec"]["imports"] = {"m": "app:mathlib"}
    apply(kube, ns, library, caller)
    ready = wait_for(lambda: (c := condition(get(kube, ns, "functionlua/app.caller"), "Ready"))
                     and c.get("reason") == "LintFailed" and c, what="LintFailed against the library's types")
    assert ready["status"] == "False"
    assert "app:caller:3: E0001 \"two\" not assignable to integer (argument 1 of 'm.double')" in ready["message"]
    assert revisions(kube, ns, "app.caller") == []

    # the library now takes a string: the caller is checked again, without being touched itself
    library["spec"]["source"] = "local M = {}\nfunction M.double(n: string): string\n  return n .. n\nend\nreturn M"
    apply(kube, ns, library)
    wait_for(lambda: get(kube, ns, "functionlua/app.caller").get("status", {}).get("latestRevision") == 1,
             what="the caller accepted once the library fits")
    assert condition(get(kube, ns, "functionlua/app.caller"), "Stalled") == {}

    # through a second library: one that re-exports the first, which changes back to integer
    relay = {"apiVersion": "wippy.ai/v1alpha1", "kind": "LibraryLua",
             "metadata": {"name": "app.relay", "labels": {"wippy.ai/app": "demo"}},
             "spec": {"id": "app:relay", "imports": {"m": "app:mathlib"},
                      "source": 'local m = require("m")\nreturn {double = m.double}'}}
    second = function("app:second", 'local r = require("r")\nreturn {f = function() return r.double("x") end}')
    second["spec"]["imports"] = {"r": "app:relay"}
    apply(kube, ns, relay, second)
    wait_for(lambda: get(kube, ns, "functionlua/app.second").get("status", {}).get("latestRevision") == 1,
             what="the second caller accepted")
    library["spec"]["source"] = "local M = {}\nfunction M.double(n: integer): integer\n  return n * 2\nend\nreturn M"
    apply(kube, ns, library)
    ready = wait_for(lambda: (c := condition(get(kube, ns, "functionlua/app.second"), "Ready"))
                     and c.get("reason") == "LintFailed" and c, what="LintFailed through the relay library")
    assert "app:second:2: E0001" in ready["message"]
    wait_for(lambda: condition(get(kube, ns, "functionlua/app.caller"), "Ready").get("reason") == "LintFailed",
             what="the first caller LintFailed again")

    # fixing the call itself clears it too
    caller["spec"]["source"] = 'local m = require("m")\nlocal function f()\n  return m.double(2)\nend\nreturn {f = f}'
    apply(kube, ns, caller)
    wait_for(lambda: get(kube, ns, "functionlua/app.caller").get("status", {}).get("latestRevision") == 2
             and condition(get(kube, ns, "functionlua/app.caller"), "Stalled") == {},
             what="the caller accepted once the call fits")


def test_missing_reference_heals_when_the_entry_appears(kube, operator, ns):
    service = {"apiVersion": "wippy.ai/v1alpha1", "kind": "ProcessService",
               "metadata": {"name": "app.svc", "labels": {"wippy.ai/app": "demo"}},
               "spec": {"id": "app:svc", "process": "worker", "host": "app:procs"}}
    worker = {"apiVersion": "wippy.ai/v1alpha1", "kind": "ProcessLua",
              "metadata": {"name": "app.worker", "labels": {"wippy.ai/app": "demo"}},
              "spec": {"id": "app:worker", "source": "return {main = function() end}", "method": "main"}}
    apply(kube, ns, service, worker)
    # the worker may arrive after the service was checked: once it has, only the host is missing
    wait_for(lambda: condition(get(kube, ns, "processservice/app.svc"), "Ready").get("message")
             == "references app:procs, not an entry of this app", what="MissingReference of the host alone")
    assert condition(get(kube, ns, "processservice/app.svc"), "Stalled")["status"] == "True"
    apply(kube, ns, {"apiVersion": "wippy.ai/v1alpha1", "kind": "ProcessHost",
                     "metadata": {"name": "app.procs", "labels": {"wippy.ai/app": "demo"}}, "spec": {"id": "app:procs"}})
    wait_for(lambda: (o := get(kube, ns, "processservice/app.svc")) and condition(o, "Ready") and condition(o, "Stalled") == {},
             what="the reference to resolve")

    # a referenced entry that goes (deleted, or relabelled out of the app) breaks its referrers again
    kube.kubectl("delete", "-n", ns, "processhost/app.procs")
    wait_for(lambda: condition(get(kube, ns, "processservice/app.svc"), "Ready").get("reason") == "MissingReference",
             what="MissingReference after the host was deleted")
    kube.kubectl("label", "-n", ns, "processlua/app.worker", "wippy.ai/app=other", "--overwrite")
    wait_for(lambda: "app:worker" in condition(get(kube, ns, "processservice/app.svc"), "Ready").get("message", ""),
             what="MissingReference after the worker left the app")


def test_one_apply_of_entries_that_reference_and_collide_settles_each_one_right(kube, operator, ns):
    """References and id claims decided while the entries they depend on arrive in parallel: a
    check that looked before its reference (or rival claimant) came is redone, not left stuck."""
    import random
    objects = []
    for i in range(25):
        objects += [{"apiVersion": "wippy.ai/v1alpha1", "kind": "ProcessService",
                     "metadata": {"name": f"svc-{i}", "labels": {"wippy.ai/app": "demo"}},
                     "spec": {"id": f"app:svc{i}", "process": f"worker{i}", "host": f"app:procs{i}"}},
                    {"apiVersion": "wippy.ai/v1alpha1", "kind": "ProcessLua",
                     "metadata": {"name": f"worker-{i}", "labels": {"wippy.ai/app": "demo"}},
                     "spec": {"id": f"app:worker{i}", "source": "return {main = function() end}", "method": "main"}},
                    {"apiVersion": "wippy.ai/v1alpha1", "kind": "ProcessHost",
                     "metadata": {"name": f"procs-{i}", "labels": {"wippy.ai/app": "demo"}},
                     "spec": {"id": f"app:procs{i}"}}]
    for i in range(10):
        for name in (f"twin-{i}-a", f"twin-{i}-b"):
            twin = function(f"app:twin{i}", "return {f = function() end}")
            twin["metadata"]["name"] = name
            objects.append(twin)
    random.Random(15).shuffle(objects)
    apply(kube, ns, *objects)

    def settled():
        services = json.loads(kube.kubectl("get", "processservices", "-n", ns, "-o", "json").stdout)["items"]
        twins = json.loads(kube.kubectl("get", "functionluas", "-n", ns, "-o", "json").stdout)["items"]
        reasons = {o["metadata"]["name"]: condition(o, "Ready").get("reason") for o in services + twins}
        if len(reasons) < 45 or None in reasons.values():
            return None
        stuck = sorted(n for n, r in reasons.items() if n.startswith("svc-") and r == "MissingReference")
        collided = sorted(n for n, r in reasons.items() if r == "IdCollision")
        # of two objects of one id the younger collides (created in the same second: the later name)
        younger = sorted(max((o for o in twins if o["spec"]["id"] == f"app:twin{i}"),
                             key=lambda o: (o["metadata"]["creationTimestamp"], o["metadata"]["name"]))
                         ["metadata"]["name"] for i in range(10))
        return (stuck, collided) if not stuck and collided == younger else None
    wait_for(settled, timeout=120, what="no reference stuck missing, exactly one of each pair of twins collided")


def test_an_id_claimed_by_two_kinds_stays_with_the_older_object(kube, operator, ns):
    apply(kube, ns, function("app:x", "return {f = function() end}"))
    wait_for(lambda: get(kube, ns, "functionlua/app.x").get("status", {}).get("latestRevision") == 1, what="recorded")
    library = {"apiVersion": "wippy.ai/v1alpha1", "kind": "LibraryLua",
               "metadata": {"name": "x-library", "labels": {"wippy.ai/app": "demo"}},
               "spec": {"id": "app:x", "source": "return {}"}}
    apply(kube, ns, library)
    obj = wait_for(lambda: (o := get(kube, ns, "librarylua/x-library")) and condition(o, "Stalled").get("status") == "True"
                   and o, what="IdCollision")
    assert condition(obj, "Ready")["reason"] == "IdCollision" and "FunctionLua" in condition(obj, "Ready")["message"]
    assert condition(get(kube, ns, "functionlua/app.x"), "Stalled") == {}
    kube.kubectl("delete", "-n", ns, "functionlua/app.x")
    wait_for(lambda: get(kube, ns, "librarylua/x-library").get("status", {}).get("latestRevision") == 1,
             what="the library to take the id")


def test_any_name_is_accepted_and_a_second_object_for_one_id_is_a_collision(kube, operator, ns):
    obj = function("app:greet", "return {f = function() end}")
    obj["metadata"]["name"] = "greeter"   # spec.id is the entry's id, whatever the name
    apply(kube, ns, obj)
    wait_for(lambda: get(kube, ns, "functionlua/greeter").get("status", {}).get("latestRevision") == 1,
             what="recorded under a hand-written name")
    copy = function("app:greet", "return {f = function() end}")
    copy["metadata"]["name"] = "greeter-copy"
    apply(kube, ns, copy)
    obj = wait_for(lambda: (o := get(kube, ns, "functionlua/greeter-copy"))
                   and condition(o, "Ready").get("reason") == "IdCollision" and o, what="IdCollision")
    assert "FunctionLua greeter" in condition(obj, "Ready")["message"]
    # an id in another app of the namespace is no collision: each app runs its own
    other = function("app:greet", "return {f = function() end}", app="other")
    other["metadata"]["name"] = "greeter-other"
    apply(kube, ns, other)
    wait_for(lambda: get(kube, ns, "functionlua/greeter-other").get("status", {}).get("latestRevision") == 1,
             what="the other app's entry recorded")


def test_schema_refuses_a_wrong_entry_with_a_clear_message(kube, operator, ns):
    obj = function("app:f", "return {}")
    del obj["spec"]["method"]
    obj["spec"]["methd"] = "f"
    proc = kube.kubectl("apply", "-n", ns, "-f", "-", input=obj, check=False)
    assert proc.returncode != 0
    assert 'unknown field "spec.methd"' in proc.stderr or "spec.method: Required value" in proc.stderr, proc.stderr
    obj = function("app:f", "return {}")
    obj["spec"]["pool"] = {"max_size": 0}
    proc = kube.kubectl("apply", "-n", ns, "-f", "-", input=obj, check=False)
    assert proc.returncode != 0 and "spec.pool.max_size" in proc.stderr and "should be greater than or equal to 1" in proc.stderr


# ---------------------------------------------------------------------- history and rollback
def _observed(kube, ns) -> dict:
    """app:f once the operator has seen its current spec."""
    return wait_for(lambda: (o := get(kube, ns, "functionlua/app.f"))
                    and o.get("status", {}).get("observedGeneration") == o["metadata"]["generation"] and o,
                    what="observed")


def _set_source(kube, ns, text):
    apply(kube, ns, function("app:f", text))
    return _observed(kube, ns)


def _assert_revision_one_kept_beside_two(kube, ns, first: dict) -> None:
    """app:f, observed at its second spec, has revision 1 (`first`) and 2 in its history."""
    assert _observed(kube, ns)["status"]["latestRevision"] == 2
    revs = revisions(kube, ns, "app.f")
    assert [r["revision"] for r in revs] == [1, 2] and revs[0]["data"] == first
    lines = wippy("history", "app:f", "-n", ns, kube=kube).stdout.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["1", "2"]


def test_revisions_are_deduplicated_and_pruned(kube, operator, ns):
    for i in range(12):
        obj = _set_source(kube, ns, f"return {{f = function() return {i} end}}")
    assert obj["status"]["latestRevision"] == 12
    revs = revisions(kube, ns, "app.f")
    assert [r["revision"] for r in revs] == list(range(3, 13))  # history limit 10
    assert revs[-1]["data"] == obj["spec"]
    assert all(r["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"] for r in revs)
    assert revs[-1]["metadata"]["name"] == "app.f-12"

    kube.kubectl("annotate", "-n", ns, "functionlua/app.f", "note=unrelated")  # metadata only: no revision
    obj = _set_source(kube, ns, "return {f = function() return 11 end}")  # same as revision 12
    assert obj["status"]["latestRevision"] == 12 and len(revisions(kube, ns, "app.f")) == 10

    obj = _set_source(kube, ns, "return {f = function() return 5 end}")  # same content as revision 6
    numbers = [r["revision"] for r in revisions(kube, ns, "app.f")]
    assert obj["status"]["latestRevision"] == 13 and 6 not in numbers and numbers[-1] == 13


def test_a_rollback_write_survives_a_status_write_but_not_a_spec_change(kube, operator, ns):
    """The operator writes status between the CLI's read and its write (the resourceVersion moves,
    the generation does not): the write goes through. A spec change in between is never overwritten."""
    import kubernetes

    from wippy.cli.commands import UsageError
    from wippy.kube.revisions import replace_spec
    custom = kubernetes.client.CustomObjectsApi(kubernetes.config.new_client_from_config(str(kube.kubeconfig)))
    apply(kube, ns, function("app:f", "return {f = function() return 1 end}"))
    stale = get(kube, ns, "functionlua/app.f")
    kube.kubectl("patch", "-n", ns, "functionlua/app.f", "--subresource=status", "--type=merge",
                 "-p", json.dumps({"status": {"observedGeneration": 1}}))
    wanted = {**stale["spec"], "source": "return {f = function() return 2 end}"}
    replace_spec(custom, ns, "functionluas", stale, wanted)
    assert get(kube, ns, "functionlua/app.f")["spec"]["source"] == wanted["source"]

    stale = get(kube, ns, "functionlua/app.f")
    kube.kubectl("patch", "-n", ns, "functionlua/app.f", "--type=merge",
                 "-p", json.dumps({"spec": {"source": "return {f = function() return 3 end}"}}))
    with pytest.raises(UsageError, match="was changed while rolling back"):
        replace_spec(custom, ns, "functionluas", stale, {**stale["spec"], "source": "return {}"})
    assert get(kube, ns, "functionlua/app.f")["spec"]["source"] == "return {f = function() return 3 end}"


def test_rollback_with_the_cli_and_history(kube, operator, ns):
    _set_source(kube, ns, "return {f = function() return 'one' end}")
    _set_source(kube, ns, "return {f = function()\n  return 'two'\nend}")
    out = wippy("history", "app:f", "-n", ns, kube=kube).stdout
    lines = out.splitlines()
    assert lines[1].startswith("1 ") and "created" in lines[1]
    assert lines[2].startswith("2 ") and "source" in lines[2] and "latest" in lines[2]

    rolled = wippy("rollback", "app:f", "--to-revision", "1", "-n", ns, kube=kube)
    assert "rolled back to revision 1" in rolled.stdout
    # applied with kubectl apply: the next apply from its source undoes a rollback, so say how to pin instead
    assert "warning: functionlua/app.f is applied by kubectl apply" in rolled.stderr
    assert f"kubectl annotate -n {ns} functionlua/app.f wippy.ai/pin-revision=1" in rolled.stderr
    obj = wait_for(lambda: (o := get(kube, ns, "functionlua/app.f")) and o.get("status", {}).get("latestRevision") == 3 and o,
                   what="revision 3")
    assert "'one'" in obj["spec"]["source"]
    fields = json.loads(kube.kubectl("get", "functionlua/app.f", "-n", ns, "-o", "json", "--show-managed-fields").stdout)
    managers = {(m["manager"], m.get("subresource")) for m in fields["metadata"]["managedFields"]}
    assert ("wippy", None) in managers and ("wippy", "status") in managers   # the CLI's and the operator's writes
    assert not any(m.startswith("OpenAPI") for m, _ in managers)
    assert [r["revision"] for r in revisions(kube, ns, "app.f")] == [2, 3]  # 1 became 3

    bad = wippy("rollback", "app:f", "--to-revision", "9", "-n", ns, kube=kube, check=False)
    assert bad.returncode == 1 and "no revision 9" in bad.stderr and "2, 3" in bad.stderr


def test_history_continues_across_an_operator_restart(kube, operator, ns):
    _set_source(kube, ns, "return {f = function() return 'one' end}")
    _set_source(kube, ns, "return {f = function() return 'two' end}")
    operator.stop()
    apply(kube, ns, function("app:f", "return {f = function() return 'three' end}"))  # while it is down
    operator.start()
    assert _observed(kube, ns)["status"]["latestRevision"] == 3
    obj = _set_source(kube, ns, "return {f = function() return 'one' end}")  # as revision 1: renumbered
    assert obj["status"]["latestRevision"] == 4
    assert [r["revision"] for r in revisions(kube, ns, "app.f")] == [2, 3, 4]


def _in_app(kube, ns, text):
    """The spec of app:f in a WippyApp without replicas (Ready once recorded and projected)."""
    apply(kube, ns, {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "demo"},
                     "spec": {"replicas": 0}}, function("app:f", text))
    return wait_for(lambda: (o := get(kube, ns, "functionlua/app.f"))
                    and o.get("status", {}).get("observedGeneration") == o["metadata"]["generation"]
                    and condition(o, "Ready").get("status") == "True" and o, what="Ready")


def test_a_first_revision_is_kept_by_the_object_until_a_second_spec_comes(kube, operator, ns):
    obj = _in_app(kube, ns, "return {f = function() return 'one' end}")
    first = obj["spec"]
    assert obj["status"]["latestRevision"] == 1 and obj["status"]["latestRevisionHash"]
    assert revisions(kube, ns, "app.f") == []   # no ControllerRevision for a first spec
    lines = wippy("history", "app:f", "-n", ns, kube=kube).stdout.splitlines()
    assert len(lines) == 2 and lines[1].startswith("1 ") and "latest,active" in lines[1] and "created" in lines[1]
    assert "already has the spec of revision 1" in wippy("rollback", "app:f", "--to-revision", "1", "-n", ns,
                                                         kube=kube).stdout

    obj = _in_app(kube, ns, "return {f = function() return 'two' end}")
    assert obj["status"]["latestRevision"] == 2
    revs = revisions(kube, ns, "app.f")
    assert [r["revision"] for r in revs] == [1, 2] and revs[0]["data"] == first and revs[1]["data"] == obj["spec"]

    operator.stop()
    operator.start()
    rolled = wippy("rollback", "app:f", "--to-revision", "1", "-n", ns, kube=kube)
    assert "rolled back to revision 1" in rolled.stdout
    obj = wait_for(lambda: (o := get(kube, ns, "functionlua/app.f")) and o.get("status", {}).get("latestRevision") == 3
                   and o, what="revision 3")
    assert obj["spec"] == first and [r["revision"] for r in revisions(kube, ns, "app.f")] == [2, 3]


def test_a_first_revision_kept_by_the_object_survives_a_change_while_the_operator_is_down(kube, operator, ns):
    first = _in_app(kube, ns, "return {f = function() return 'one' end}")["spec"]
    assert revisions(kube, ns, "app.f") == []
    operator.stop()
    apply(kube, ns, function("app:f", "return {f = function() return 'two' end}"))
    operator.start()
    # the operator finds revision 1 in the app's map, which holds what the pods were to serve
    _assert_revision_one_kept_beside_two(kube, ns, first)

    kube.kubectl("annotate", "-n", ns, "functionlua/app.f", "wippy.ai/pin-revision=1")
    wait_for(lambda: get(kube, ns, "functionlua/app.f").get("status", {}).get("activeRevision") == 1, what="pinned to 1")
    assert "'one'" in json.loads(next(v for k, v in projected_items(kube, ns, "demo").items()
                                      if k.endswith("app.f")))["spec"]["source"]


def test_a_first_revision_is_written_when_the_app_map_lets_go_of_it(kube, operator, ns):
    first = _in_app(kube, ns, "return {f = function() return 'one' end}")["spec"]
    assert revisions(kube, ns, "app.f") == []
    apply(kube, ns, function("app:f", "return {f = function( end}"))   # a broken spec is projected as it is
    wait_for(lambda: condition(get(kube, ns, "functionlua/app.f"), "Stalled").get("status") == "True", what="Stalled")
    revs = revisions(kube, ns, "app.f")
    assert [r["revision"] for r in revs] == [1] and revs[0]["data"] == first
    assert "already has" not in wippy("rollback", "app:f", "--to-revision", "1", "-n", ns, kube=kube).stdout
    obj = wait_for(lambda: (o := get(kube, ns, "functionlua/app.f")) and condition(o, "Ready").get("status") == "True"
                   and o, what="Ready again")
    assert obj["spec"] == first and obj["status"]["latestRevision"] == 1


@pytest.fixture
def garbage_collector(kube, tmp_path):
    """kube-controller-manager running its garbage collector only, as in a real cluster: the
    dependents (ownerReferences) of an object deleted are deleted after it."""
    from tests.harness.cluster_node import ensure_node_tools
    from tests.harness.kube_cluster import free_port
    log = open(tmp_path / "kube-controller-manager.log", "wb")   # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(ensure_node_tools() / "kube-controller-manager"), f"--kubeconfig={kube.kubeconfig}",
                             f"--authentication-kubeconfig={kube.kubeconfig}",
                             f"--authorization-kubeconfig={kube.kubeconfig}", "--controllers=garbagecollector",
                             "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
                             f"--cert-dir={tmp_path / 'kcm-certs'}", "--use-service-account-credentials=false"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield _collected_once(kube)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _collected_once(kube):
    """A function that returns once the garbage collector has deleted the dependent of an owner
    deleted now (so it has also seen what was deleted before)."""
    def collected() -> None:
        ns = "default"
        name = f"gc-probe-{os.getpid()}-{next(_namespaces)}"
        owner = json.loads(kube.kubectl("create", "configmap", name, "-n", ns, "-o", "json").stdout)
        kube.kubectl("apply", "-n", ns, "-f", "-", input={
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name + "-dependent", "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": owner["metadata"]["uid"]}]}})
        kube.kubectl("delete", "-n", ns, f"configmap/{name}")
        wait_for(lambda: kube.kubectl("get", "-n", ns, f"configmap/{name}-dependent", check=False).returncode != 0,
                 what="the garbage collector to delete a dependent", timeout=120)
    collected()   # the collector has its graph of the cluster
    return collected


def test_a_first_revision_outlives_the_maps_of_its_deleted_app(kube, operator, ns, garbage_collector):
    """An app is deleted while its entry's revision 1 is only in the app's map (and the object),
    with a garbage collector running, as in a real cluster. The app (and through it the map it
    owns) goes only once revision 1 has its ControllerRevision; here that write is refused, the
    operator stops before it succeeds, the garbage collector runs, and the spec changes meanwhile:
    the restarted operator still finds revision 1 in the map. (Deleting the map first lost it, and
    so did an app that went at once, its maps collected after it.)"""
    apply(kube, ns, {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "demo"},
                     "spec": {"replicas": 0}})
    wait_for(lambda: get(kube, ns, "wippyapp/demo").get("status", {}).get("observedGeneration"), what="the app seen")
    first = _in_app(kube, ns, "return {f = function() return 'one' end}")["spec"]
    assert revisions(kube, ns, "app.f") == []
    refused = _refuse_revisions(kube, ns)
    try:
        kube.kubectl("delete", "-n", ns, "wippyapp/demo", "--wait=false")
        wait_for(lambda: refused in operator.log.read_text(), what="the refused write of revision 1")
        operator.stop()
        garbage_collector()
        apply(kube, ns, function("app:f", "return {f = function() return 'two' end}"))
    finally:
        kube.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", f"refuse-{ns}")
        operator.start()
    _assert_revision_one_kept_beside_two(kube, ns, first)
    # then the app goes, and its maps with it
    wait_for(lambda: kube.kubectl("get", "-n", ns, "wippyapp/demo", check=False).returncode != 0, what="the app gone")
    wait_for(lambda: not json.loads(kube.kubectl("get", "configmaps", "-n", ns, "-l", "wippy.ai/app=demo",
                                                 "-o", "json").stdout)["items"], what="its maps gone")


def _refuse_revisions(kube, ns) -> str:
    """A ValidatingAdmissionPolicy refusing every new ControllerRevision in the namespace (what a
    failing API server would do to the operator's write); returns its message once in force."""
    message = f"ControllerRevisions refused in {ns}"
    kube.kubectl("apply", "-f", "-", input={"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": f"refuse-{ns}"},
         "spec": {"failurePolicy": "Fail",
                  "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                                          "operations": ["CREATE"], "resources": ["controllerrevisions"]}]},
                  "validations": [{"expression": "false", "message": message}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": f"refuse-{ns}"},
         "spec": {"policyName": f"refuse-{ns}", "validationActions": ["Deny"],
                  "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}}}]})
    probe = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "probe"}, "revision": 1,
             "data": {}}

    def in_force() -> bool:
        made = kube.kubectl("create", "-n", ns, "-f", "-", input=probe, check=False)
        if made.returncode == 0:
            kube.kubectl("delete", "-n", ns, "controllerrevision/probe")
        return message in made.stderr
    wait_for(in_force, what="the policy in force")
    return message


def test_a_deleted_entry_takes_its_history_and_a_namesake_starts_afresh(kube, operator, ns):
    _set_source(kube, ns, "return {f = function() return 'one' end}")
    _set_source(kube, ns, "return {f = function() return 'two' end}")
    kube.kubectl("delete", "-n", ns, "functionlua/app.f")
    wait_for(lambda: revisions(kube, ns, "app.f") == [], what="the history to go")
    obj = _set_source(kube, ns, "return {f = function() return 'again' end}")
    assert obj["status"]["latestRevision"] == 1
    revs = revisions(kube, ns, "app.f")
    assert len(revs) == 1 and revs[0]["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]


def test_pin_annotation_serves_an_old_revision_without_touching_spec(kube, operator, ns):
    _set_source(kube, ns, "return {f = function() return 'one' end}")
    obj = _set_source(kube, ns, "return {f = function() return 'two' end}")
    spec = obj["spec"]
    kube.kubectl("annotate", "-n", ns, "functionlua/app.f", "wippy.ai/pin-revision=1")
    obj = wait_for(lambda: (o := get(kube, ns, "functionlua/app.f")) and o.get("status", {}).get("activeRevision") == 1 and o,
                   what="activeRevision 1")
    assert obj["status"]["latestRevision"] == 2 and obj["spec"] == spec

    kube.kubectl("annotate", "-n", ns, "functionlua/app.f", "wippy.ai/pin-revision=7", "--overwrite")
    wait_for(lambda: condition(get(kube, ns, "functionlua/app.f"), "Ready").get("reason") == "PinnedRevisionMissing",
             what="PinnedRevisionMissing")
    kube.kubectl("annotate", "-n", ns, "functionlua/app.f", "wippy.ai/pin-revision-")
    wait_for(lambda: get(kube, ns, "functionlua/app.f").get("status", {}).get("activeRevision") == 2, what="unpinned")


# ---------------------------------------------------------------------- WippyApp
def test_app_becomes_deployment_rbac_services_and_pdb(kube, operator, ns):
    app = {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "shop"},
           "spec": {"replicas": 2, "image": "example/wippy:1", "temporal": {"address": "temporal:7233"},
                    "secretRefs": [{"name": "shop-secrets"}], "env": [{"name": "MODE", "value": "prod"}]}}
    apply(kube, ns, app)
    uid = get(kube, ns, "wippyapp/shop")["metadata"]["uid"]
    deploy = wait_for(lambda: json.loads(kube.kubectl("get", "deployment", "shop", "-n", ns, "-o", "json",
                                                      check=False).stdout or "null"), what="the Deployment")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["run", "--kubernetes", "--app", "shop", "--namespace", ns,
                                 "--metrics", "0.0.0.0:9464"]
    assert {"name": "metrics", "containerPort": 9464, "protocol": "TCP"} in container["ports"]
    assert deploy["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9464"
    env = {e["name"]: e for e in container["env"]}
    assert env["WIPPY_NODE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["TEMPORAL_ADDRESS"]["value"] == "temporal:7233" and env["MODE"]["value"] == "prod"
    assert container["envFrom"] == [{"secretRef": {"name": "shop-secrets"}}]
    assert deploy["spec"]["replicas"] == 2 and deploy["spec"]["template"]["spec"]["serviceAccountName"] == "shop-runtime"

    for ref in ("deployment/shop", "serviceaccount/shop-runtime", "role/shop-runtime", "rolebinding/shop-runtime",
                "service/shop-peers", "poddisruptionbudget/shop"):
        owners = get(kube, ns, ref)["metadata"]["ownerReferences"]
        assert owners == [{"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "name": "shop", "uid": uid,
                           "controller": True, "blockOwnerDeletion": True}], ref
    peers = get(kube, ns, "service/shop-peers")["spec"]
    assert peers["clusterIP"] == "None"
    assert peers["ports"] == [{"name": "mesh", "port": 7950, "targetPort": "mesh", "protocol": "TCP"}]
    assert {"name": "mesh", "containerPort": 7950, "protocol": "TCP"} in container["ports"]
    assert env["POD_UID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.uid"
    assert env["WIPPY_CLUSTER_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "shop-mesh", "key": "key"}
    secret = wait_for(lambda: json.loads(kube.kubectl("get", "secret", "shop-mesh", "-n", ns, "-o", "json",
                                                      check=False).stdout or "null"), what="the mesh Secret")
    assert secret["metadata"]["ownerReferences"][0]["uid"] == uid and len(secret["data"]["key"]) >= 64
    assert get(kube, ns, "poddisruptionbudget/shop")["spec"]["minAvailable"] == 1

    kube.kubectl("patch", "wippyapp/shop", "-n", ns, "--type=merge", "-p", '{"spec": {"replicas": 0}}')
    wait_for(lambda: get(kube, ns, "deployment/shop")["spec"]["replicas"] == 0, what="scale to 0")
    wait_for(lambda: condition(get(kube, ns, "wippyapp/shop"), "Ready").get("status") == "True", what="app Ready")


def test_app_pod_template_places_and_secures_the_pods(kube, operator, ns):
    """A WippyApp's placement and security fields reach the Deployment the API server stores;
    without them the pods are restricted (Pod Security Standard) and the image is pinned."""
    apply(kube, ns, {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "plain"}, "spec": {}})
    plain = wait_for(lambda: json.loads(kube.kubectl("get", "deployment", "plain", "-n", ns, "-o", "json",
                                                     check=False).stdout or "null"), what="the Deployment")
    pod = plain["spec"]["template"]["spec"]
    container = pod["containers"][0]
    from wippy import __version__
    assert container["image"] == f"ghcr.io/wippy/wippy-runtime:{__version__}"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics", "scheme": "HTTP"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics", "scheme": "HTTP"}

    spec = {
        "image": "registry.example/wippy-runtime:2", "imagePullPolicy": "Always",
        "imagePullSecrets": [{"name": "regcred"}], "resources": {"requests": {"cpu": "100m"}},
        "nodeSelector": {"disktype": "ssd"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "wippy", "effect": "NoSchedule"}],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                               "labelSelector": {"matchLabels": {"wippy.ai/app": "shop"}}}}]}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": {"wippy.ai/app": "shop"}}}],
        "priorityClassName": "high", "podAnnotations": {"team": "payments"},
        "podLabels": {"cost-center": "42", "wippy.ai/app": "not-mine"},
        "podSecurityContext": {"runAsUser": 1000, "fsGroup": 2000},
        "securityContext": {"readOnlyRootFilesystem": False},
        "volumes": [{"name": "certs", "secret": {"secretName": "shop-certs"}}],
        "volumeMounts": [{"name": "certs", "mountPath": "/etc/certs", "readOnly": True}],
        "serviceAccountAnnotations": {"iam.gke.io/gcp-service-account": "shop@p.iam.gserviceaccount.com"},
    }
    apply(kube, ns, {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "shop"},
                     "spec": spec})
    deploy = wait_for(lambda: json.loads(kube.kubectl("get", "deployment", "shop", "-n", ns, "-o", "json",
                                                      check=False).stdout or "null"), what="the Deployment")
    template = deploy["spec"]["template"]
    pod, container = template["spec"], template["spec"]["containers"][0]
    assert container["image"] == spec["image"] and container["imagePullPolicy"] == "Always"
    assert container["resources"] == {"requests": {"cpu": "100m"}}
    for field in ("imagePullSecrets", "nodeSelector", "tolerations", "affinity", "topologySpreadConstraints",
                  "priorityClassName"):
        assert pod[field] == spec[field], field
    assert template["metadata"]["annotations"]["team"] == "payments"
    assert template["metadata"]["labels"]["cost-center"] == "42"
    assert template["metadata"]["labels"]["wippy.ai/app"] == "shop"  # the selector's label is not the user's
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
                                      "runAsUser": 1000, "fsGroup": 2000}
    assert container["securityContext"]["readOnlyRootFilesystem"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "certs", "secret": {"secretName": "shop-certs", "defaultMode": 420}} in pod["volumes"]
    assert {"name": "certs", "mountPath": "/etc/certs", "readOnly": True} in container["volumeMounts"]
    account = get(kube, ns, "serviceaccount/shop-runtime")
    assert account["metadata"]["annotations"] == spec["serviceAccountAnnotations"]

    # a field removed from the app leaves the Deployment too (server-side apply by one manager)
    kube.kubectl("patch", "wippyapp/shop", "-n", ns, "--type=json", "-p",
                 '[{"op": "remove", "path": "/spec/nodeSelector"}, {"op": "remove", "path": "/spec/tolerations"}]')
    wait_for(lambda: "nodeSelector" not in get(kube, ns, "deployment/shop")["spec"]["template"]["spec"],
             what="nodeSelector removed")
    assert "tolerations" not in get(kube, ns, "deployment/shop")["spec"]["template"]["spec"]

    # what the API server refuses in the pod template is the app's Stalled message
    kube.kubectl("patch", "wippyapp/shop", "-n", ns, "--type=merge", "-p",
                 '{"spec": {"tolerations": [{"operator": "Sometimes"}]}}')
    cond = wait_for(lambda: (c := condition(get(kube, ns, "wippyapp/shop"), "Ready")).get("reason") == "ApplyFailed"
                    and c, what="ApplyFailed")
    assert "operator" in cond["message"] and "Sometimes" in cond["message"], cond


def test_an_apps_pods_can_read_and_report_only_through_their_own_apps_maps(kube, operator, ns):
    """Least privilege within one namespace: RBAC cannot filter by label, so the runtime's
    ServiceAccount gets no right on entry objects at all, only on its app's maps, by name."""
    for app in ("shop", "blog"):
        apply(kube, ns, {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": app},
                         "spec": {"replicas": 0}},
              function(f"{app}:f", "return {f = function() return 1 end}", app=app))
    for app in ("shop", "blog"):
        wait_for(lambda app=app: projected(kube, ns, app) == {f"functionluas.{app}.f"}, what=f"{app}'s entry projected")
        wait_for(lambda app=app: kube.kubectl("get", "role", f"{app}-runtime", "-n", ns, check=False).returncode == 0,
                 what=f"{app}'s Role")

    def can(*args, app="shop"):
        sa = f"system:serviceaccount:{ns}:{app}-runtime"
        return kube.kubectl("auth", "can-i", *args, "-n", ns, "--as", sa, check=False).stdout.strip()

    own_entries = [m for m in map_names("shop") if "-entries-" in m]
    own_reports = [m for m in map_names("shop") if "-applied-" in m]
    for verb in ("get", "list", "watch"):
        assert all(can(verb, f"configmaps/{m}") == "yes" for m in own_entries), verb
    assert all(can("patch", f"configmaps/{m}") == "yes" for m in own_reports)
    # nothing of the other app: neither its entries nor its reports, nor the entry objects themselves
    for m in map_names("blog"):
        for verb in ("get", "list", "watch", "patch", "update", "delete"):
            assert can(verb, f"configmaps/{m}") == "no", (verb, m)
    for verb in ("get", "list", "watch", "patch", "update"):
        assert can(verb, "functionluas.wippy.ai/blog.f") == "no", verb
        assert can(verb, "functionluas.wippy.ai") == "no", verb
        assert can(verb, "functionluas.wippy.ai/blog.f", "--subresource=status") == "no", verb
    assert can("patch", f"configmaps/{own_entries[0]}") == "no"   # what it serves is the operator's to say
    for verb in ("get", "list", "watch"):
        assert can(verb, "secrets") == "no" and can(verb, "configmaps") == "no"
    assert can("list", "controllerrevisions.apps") == "no"
    # the cluster: membership from EndpointSlices (read only), names, locks and leaders as Leases
    assert can("watch", "endpointslices.discovery.k8s.io") == "yes" and can("create", "endpointslices.discovery.k8s.io") == "no"
    assert can("create", "leases.coordination.k8s.io") == "yes" and can("delete", "leases.coordination.k8s.io") == "yes"
    assert can("create", "configmaps") == "no" and can("create", "pods") == "no"
    assert can("get", f"configmaps/{map_names('blog')[0]}", app="blog") == "yes"
    assert kube.kubectl("auth", "can-i", "get", f"configmaps/{own_entries[0]}", "-n", "default", "--as",
                        f"system:serviceaccount:{ns}:shop-runtime", check=False).stdout.strip() == "no"

    # a report about an entry the app does not select counts for nothing
    report(kube, ns, "functionlua/blog.f", "shop-forger", 1, app="shop")
    report(kube, ns, "functionlua/blog.f", "blog-1", 1, app="blog")
    wait_for(lambda: set(get(kube, ns, "functionlua/blog.f").get("status", {}).get("applied") or {}) == {"blog-1"},
             what="blog's own report mirrored")
    assert "shop-forger" not in get(kube, ns, "functionlua/blog.f")["status"]["applied"]


def test_http_service_entry_gets_a_service(kube, operator, ns):
    if not (ROOT / "crds/wippy.ai_httpservices.yaml").exists():
        pytest.skip("no http.service kind in this build")
    apply(kube, ns, {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "web"}, "spec": {}},
          {"apiVersion": "wippy.ai/v1alpha1", "kind": "HttpService",
           "metadata": {"name": "web.gateway", "labels": {"wippy.ai/app": "web"}},
           "spec": {"id": "web:gateway", "addr": ":8080"}})
    svc = wait_for(lambda: json.loads(kube.kubectl("get", "service", "web-gateway", "-n", ns, "-o", "json",
                                                   check=False).stdout or "null"), what="the Service")
    assert svc["spec"]["ports"][0]["port"] == 8080 and svc["spec"]["selector"]["wippy.ai/app"] == "web"
    container = get(kube, ns, "deployment/web")["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == 8080


def test_app_versions_and_app_rollback(kube, operator, ns):
    shop = {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "shop"}, "spec": {"replicas": 0}}
    app_version = lambda: get(kube, ns, "wippyapp/shop").get("status", {}).get("version")  # noqa: E731
    apply(kube, ns, shop, function("app:f", "return {f = function() return 'f1' end}", app="shop"),
          function("app:g", "return {f = function() return 'g1' end}", app="shop"))
    wait_for(lambda: app_version() == 1, what="version 1")
    apply(kube, ns, function("app:f", "return {f = function() return 'f2' end}", app="shop"))
    wait_for(lambda: app_version() == 2, what="version 2")
    apply(kube, ns, function("app:h", "return {f = function() return 'h1' end}", app="shop"))
    wait_for(lambda: app_version() == 3, what="version 3")
    assert "3" in kube.kubectl("get", "wippyapp", "shop", "-n", ns).stdout.splitlines()[1].split()

    lines = wippy("history", "--app", "shop", "-n", ns, kube=kube).stdout.splitlines()
    assert lines[1].split()[0] == "1" and lines[1].endswith("2 entries")
    assert lines[2].split()[0] == "2" and lines[2].endswith("~app:f")
    assert lines[3].split()[0] == "3" and "current" in lines[3] and lines[3].endswith("+app:h")

    out = wippy("rollback", "--app", "shop", "--to", "1", "-n", ns, kube=kube).stdout
    assert "1 entries changed, 1 unchanged" in out and "kept" in out and "app:h" in out
    assert "'f1'" in get(kube, ns, "functionlua/app.f")["spec"]["source"]
    assert get(kube, ns, "functionlua/app.h")  # kept without --prune
    wait_for(lambda: app_version() == 4, what="version 4: version 1 plus app:h")

    out = wippy("rollback", "--app", "shop", "--to", "1", "--prune", "-n", ns, kube=kube).stdout
    assert "0 entries changed" in out and "deleted: app:h" in out
    # the same content as version 1: it takes a new number and the duplicate goes
    wait_for(lambda: app_version() == 5, what="version 5")
    numbers = [int(line.split()[0]) for line in
               wippy("history", "--app", "shop", "-n", ns, kube=kube).stdout.splitlines()[1:]]
    assert numbers == [2, 3, 4, 5]

    kube.kubectl("delete", "-n", ns, "functionlua/app.g")
    bad = wippy("rollback", "--app", "shop", "--to", "2", "-n", ns, kube=kube, check=False)
    assert bad.returncode == 1 and "app:g (deleted since" in bad.stderr and "--skip-missing" in bad.stderr
    assert "'f1'" in get(kube, ns, "functionlua/app.f")["spec"]["source"]  # nothing written
    out = wippy("rollback", "--app", "shop", "--to", "2", "--skip-missing", "-n", ns, kube=kube).stdout
    assert "1 entries changed" in out and "not restored: app:g" in out
    assert "'f2'" in get(kube, ns, "functionlua/app.f")["spec"]["source"]


def test_app_pin_annotation_serves_an_old_version_without_touching_specs(kube, operator, ns):
    shop = {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "shop"}, "spec": {"replicas": 0}}
    app_version = lambda: get(kube, ns, "wippyapp/shop").get("status", {}).get("version")  # noqa: E731
    apply(kube, ns, shop, function("app:f", "return {f = function() return 'f1' end}", app="shop"),
          function("app:g", "return {f = function() return 'g1' end}", app="shop"))
    wait_for(lambda: app_version() == 1, what="version 1")
    apply(kube, ns, function("app:f", "return {f = function() return 'f2' end}", app="shop"),
          function("app:h", "return {f = function() return 'h1' end}", app="shop"))
    wait_for(lambda: app_version() == 2, what="version 2")
    f_spec = get(kube, ns, "functionlua/app.f")["spec"]

    kube.kubectl("annotate", "-n", ns, "wippyapp/shop", "wippy.ai/pin-version=1")
    f = wait_for(lambda: (o := get(kube, ns, "functionlua/app.f")) and o.get("status", {}).get("activeRevision") == 1 and o,
                 what="app:f served at its revision in version 1")
    assert f["status"]["latestRevision"] == 2 and f["spec"] == f_spec  # spec untouched
    h = get(kube, ns, "functionlua/app.h")["status"]
    assert h["activeRevision"] == h["latestRevision"] == 1  # added since version 1: served as it is
    wait_for(lambda: app_version() == 1, what="the app to report version 1")

    kube.kubectl("annotate", "-n", ns, "wippyapp/shop", "wippy.ai/pin-version=9", "--overwrite")
    f = wait_for(lambda: (o := get(kube, ns, "functionlua/app.f")) and condition(o, "Stalled").get("status") == "True"
                 and o, what="PinnedRevisionMissing")
    assert condition(f, "Ready")["reason"] == "PinnedRevisionMissing" and "version 9" in condition(f, "Ready")["message"]

    kube.kubectl("annotate", "-n", ns, "wippyapp/shop", "wippy.ai/pin-version-")
    wait_for(lambda: get(kube, ns, "functionlua/app.f").get("status", {}).get("activeRevision") == 2, what="unpinned")
    wait_for(lambda: app_version() == 2, what="version 2 again")
    numbers = [int(line.split()[0]) for line in
               wippy("history", "--app", "shop", "-n", ns, kube=kube).stdout.splitlines()[1:]]
    assert numbers == [1, 2]  # nothing recorded while pinned


def labelled(obj: dict, **labels: str) -> dict:
    obj["metadata"]["labels"] = labels
    return obj


def runtime_pod(app: str, name: str) -> dict:
    """A pod of the app's Deployment, as the ReplicaSet would create it (nothing runs it here)."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"wippy.ai/app": app}},
            "spec": {"containers": [{"name": "runtime", "image": "example/wippy:1"}]}}


def test_app_selects_its_entries_by_a_label_selector(kube, operator, ns):
    app = {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "shop"},
           "spec": {"selector": {"matchLabels": {"team": "a"},
                                 "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}]}}}
    apply(kube, ns, app,
          labelled(function("app:greet", "return {f = function() end}"), team="a", tier="web"),
          labelled(function("app:batch", "return {f = function() end}"), team="a", tier="batch"),
          function("app:named", "return {f = function() end}", app="shop"))  # the label alone no longer selects
    deploy = wait_for(lambda: json.loads(kube.kubectl("get", "deployment", "shop", "-n", ns, "-o", "json",
                                                      check=False).stdout or "null"), what="the Deployment")
    assert "--selector" not in deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    wait_for(lambda: get(kube, ns, "wippyapp/shop").get("status", {}).get("entries") == 1, what="one entry selected")
    # the pods get what the app selects through the app's own maps, and nothing else
    wait_for(lambda: projected(kube, ns, "shop") == {"functionluas.app.greet"}, what="greet projected")

    report(kube, ns, "functionlua/app.greet", "shop-abc", 1, app="shop")
    kube.kubectl("wait", "--for=condition=Ready", "--timeout=20s", "functionlua/app.greet", "-n", ns)
    wait_for(lambda: condition(get(kube, ns, "wippyapp/shop"), "Ready").get("status") == "True", what="app Ready")
    for ref in ("functionlua/app.batch", "functionlua/app.named"):
        wait_for(lambda ref=ref: condition(get(kube, ns, ref), "Ready").get("reason") == "NoApp", what=f"{ref} in no app")

    # relabelled out of the selector: the app no longer counts it and no app runs it
    kube.kubectl("label", "-n", ns, "functionlua/app.greet", "tier=batch", "--overwrite")
    wait_for(lambda: get(kube, ns, "wippyapp/shop")["status"].get("entries") == 0, what="no entry selected")
    wait_for(lambda: condition(get(kube, ns, "functionlua/app.greet"), "Ready").get("reason") == "NoApp",
             what="the entry out of the app")
    # and the app's selector changed to take it back, with the other batch entry
    app["spec"]["selector"]["matchExpressions"][0]["values"] = ["batch"]
    apply(kube, ns, app)
    wait_for(lambda: get(kube, ns, "wippyapp/shop")["status"].get("entries") == 2, what="two entries selected")
    wait_for(lambda: projected(kube, ns, "shop") == {"functionluas.app.greet", "functionluas.app.batch"},
             what="the batch entries projected")


def test_an_entry_two_apps_select_needs_both_apps_pods_and_its_references_in_both(kube, operator, ns):
    web = {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "web"},
           "spec": {"selector": {"matchLabels": {"tier": "web"}}}}
    every = {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "every"},
             "spec": {"selector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}}}
    service = {"apiVersion": "wippy.ai/v1alpha1", "kind": "ProcessService",
               "metadata": {"name": "app.svc", "labels": {"tier": "web"}},
               "spec": {"id": "app:svc", "process": "app:worker", "host": "app:procs"}}
    worker = {"apiVersion": "wippy.ai/v1alpha1", "kind": "ProcessLua",
              "metadata": {"name": "app.worker", "labels": {"tier": "web"}},
              "spec": {"id": "app:worker", "source": "return {main = function() end}", "method": "main"}}
    host = {"apiVersion": "wippy.ai/v1alpha1", "kind": "ProcessHost",
            "metadata": {"name": "app.procs", "labels": {"tier": "batch"}}, "spec": {"id": "app:procs"}}
    apply(kube, ns, web, every, service, worker, host, runtime_pod("web", "web-1"), runtime_pod("every", "every-1"))

    # the host is in `every` only: the service cannot start in `web`
    ref = "processservice/app.svc"
    wait_for(lambda: condition(get(kube, ns, ref), "Ready").get("message")
             == "references app:procs, not an entry of WippyApp web", what="MissingReference in web")
    kube.kubectl("label", "-n", ns, "processhost/app.procs", "tier=web", "--overwrite")
    wait_for(lambda: (o := get(kube, ns, ref)) and condition(o, "Ready") and condition(o, "Stalled") == {},
             what="the reference to resolve in both apps")

    # Ready once the pods of both apps serve it
    report(kube, ns, ref, "web-1", 1, app="web")
    wait_for(lambda: condition(get(kube, ns, ref), "Ready").get("message") == "WippyApp every: 0/1 pods serve revision 1",
             what="waiting for the other app's pod")
    report(kube, ns, ref, "every-1", 1, app="every")
    kube.kubectl("wait", "--for=condition=Ready", "--timeout=20s", ref, "-n", ns)
    for app in ("web", "every"):
        wait_for(lambda app=app: get(kube, ns, f"wippyapp/{app}").get("status", {}).get("entries") == 3, what=f"{app} counts 3")


def test_wippy_lint_kubernetes_checks_an_apps_resources(kube, operator, ns):
    manifests = wippy("manifests", str(ROOT / "examples/hello-world"), "--app", "hello", kube=kube).stdout
    kube.kubectl("apply", "-n", ns, "-f", "-", input=manifests)
    clean = wippy("lint", "--kubernetes", "--app", "hello", "--namespace", ns, "--json", kube=kube)
    report = json.loads(clean.stdout)
    lua_entries = report["total_entries"]   # greet, hello and the example's test entries
    assert lua_entries >= 2 and report["error_count"] == 0
    apply(kube, ns, function("hello:typo", 'local n: number = "one"\nreturn {f = function() return n end}', app="hello"))
    bad = wippy("lint", "--kubernetes", "--app", "hello", "--namespace", ns, kube=kube, check=False)
    assert bad.returncode == 1
    assert 'error[E0001]: "one" not assignable to number' in bad.stdout and "--> hello:typo:1" in bad.stdout
    assert f"Checked {lua_entries + 1} entries: 1 error, 0 warnings" in bad.stdout
