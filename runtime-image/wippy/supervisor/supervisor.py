"""Supervision of services (reference §3): `process.service` entries, and the http.service,
queue.consumer and process.host entries the runtime runs in Python.

A process service runs its process on a host, monitored from a Python control pid; a Python
service runs a coroutine. A failure restarts it with exponential backoff; a normal return ends
it (Exited, not restarted). Starting a service first starts the services it requires that were
never started (dependencies before dependents). Services stop in the reverse of their start order.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from ..engine.errors import TIMEOUT, UNAVAILABLE, WippyError
from ..engine.node import Node
from ..kinds.models.lifecycle import Lifecycle, RestartPolicy

log = logging.getLogger("wippy.supervisor")


class State(str, enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    EXITED = "exited"
    FAILED = "failed"


def restart_delay(policy: RestartPolicy, attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Delay before restart number `attempt` (1-based): initial x factor^(n-1), capped, jittered."""
    base = min(policy.initial_delay * policy.backoff_factor ** (attempt - 1), policy.max_delay)
    return base * (1 + policy.jitter * (2 * rng() - 1))


@dataclass
class ServiceSpec:
    id: str
    process: str
    host: str
    input: list
    lifecycle: Lifecycle
    actor: dict | None = None        # identity from lifecycle.security
    scope: list[str] | None = None   # policy ids granted to it
    placement: str = "every"         # "singleton": once per app (cluster/singletons.py)
    # A service run in Python instead of a process: run(ready) calls ready() once started (within
    # start_timeout); returning is a normal exit, raising a failure; it is cancelled to stop.
    run: Callable[[Callable[[], None]], Awaitable[Any]] | None = None


def python_service(service_id: str, lifecycle: Lifecycle, run: Callable[[Callable[[], None]], Awaitable[Any]],
                   actor: dict | None = None, scope: list[str] | None = None) -> ServiceSpec:
    return ServiceSpec(service_id, "", "", [], lifecycle, actor, scope, run=run)


@dataclass
class Service:
    spec: ServiceSpec
    state: State = State.STOPPED
    pid: str | None = None
    attempts: int = 0
    restarts: int = 0
    last_error: str | None = None
    delays: list[float] = field(default_factory=list)
    task: asyncio.Task | None = None
    exit_fut: asyncio.Future | None = None
    runner: asyncio.Task | None = None    # a Python service's coroutine
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: bool = False


class Supervisor:
    def __init__(self, node: Node, *, clock: Callable[[], float] = time.monotonic):
        self.node = node
        self.clock = clock
        self.services: dict[str, Service] = {}
        self._order: list[str] = []          # start order, for reverse shutdown
        self._listeners: list[Callable[[str, State], None]] = []
        self._changed = asyncio.Event()      # set (and replaced) at every state change
        self.placement = None                # cluster/singletons.py on a node of a cluster

    def on_state(self, cb: Callable[[str, State], None]) -> None:
        self._listeners.append(cb)

    def _set(self, svc: Service, state: State) -> None:
        svc.state = state
        self._changed.set()
        self._changed = asyncio.Event()
        for cb in self._listeners:
            cb(svc.spec.id, state)

    def _needs(self, spec: ServiceSpec) -> list[str]:
        """lifecycle.requires, and the host of a process service when the host is supervised."""
        extra = [spec.host] if spec.host and spec.host in self.services else []
        return [*spec.lifecycle.requires, *extra]

    def unmet(self, spec: ServiceSpec) -> list[str]:
        """Required entries not ready: a service that is not running, any other entry that does not exist."""
        unmet = []
        for rid in self._needs(spec):
            svc = self.services.get(rid)
            ready = svc.state == State.RUNNING if svc is not None else self.node.get_entry(rid) is not None
            if not ready:
                unmet.append(rid)
        return unmet

    async def _await_requirements(self, svc: Service) -> None:
        """Wait for lifecycle.requires, at most lifecycle.start_timeout (or until the service stops);
        raises WippyError when they are not met in time."""
        spec = svc.spec
        for rid in self._needs(spec):
            dep = self.services.get(rid)
            if dep is not None and dep.task is None:     # never started (auto_start: false): start it now
                self.start(rid)
        deadline = self.clock() + spec.lifecycle.start_timeout
        while not svc.stopping and (unmet := self.unmet(spec)):
            left = deadline - self.clock()
            if left <= 0:
                raise WippyError("UNAVAILABLE", f"required {', '.join(unmet)} not running within "
                                                f"start_timeout {spec.lifecycle.start_timeout:g}s")
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    # ------------------------------------------------------------------ public
    def add(self, spec: ServiceSpec) -> Service:
        svc = Service(spec)
        self.services[spec.id] = svc
        if spec.lifecycle.auto_start:
            self._auto_start(spec)
        return svc

    def _auto_start(self, spec: ServiceSpec) -> None:
        if spec.placement == "singleton" and self.placement is not None:
            self.placement.claim(spec.id)    # starts it here while this node holds its Lease
        else:
            self.start(spec.id)

    def start(self, service_id: str) -> None:
        svc = self.services[service_id]
        if svc.task is not None and not svc.task.done():
            return
        svc.stopping = False
        svc.attempts = 0
        if service_id in self._order:
            self._order.remove(service_id)
        self._order.append(service_id)
        svc.task = asyncio.get_running_loop().create_task(self._run(svc), name=f"service {service_id}")

    async def replace(self, spec: ServiceSpec) -> None:
        """A changed service (or its code) restarts on the new version."""
        svc = self.services.get(spec.id)
        was_running = svc is not None and svc.task is not None and not svc.task.done()
        if svc is not None:
            await self.stop(spec.id)
        new = Service(spec)
        self.services[spec.id] = new
        if self.placement is not None and spec.placement != "singleton":
            await self.placement.release(spec.id)
        if was_running or spec.lifecycle.auto_start:
            self._auto_start(spec)

    async def ensure_started(self, service_id: str) -> None:
        """Start a service that was never started and wait until it runs (or fails to start)."""
        svc = self.services[service_id]
        if svc.task is None:
            self.start(service_id)
        task = svc.task
        assert task is not None   # just started
        while svc.state not in (State.RUNNING, State.FAILED, State.EXITED) and not task.done():
            await self._changed.wait()
        if svc.state != State.RUNNING:
            raise WippyError(UNAVAILABLE, f"service {service_id} did not start: {svc.last_error or svc.state.value}")

    def update(self, spec: ServiceSpec) -> None:
        """New settings for a service that keeps running (its next start uses them)."""
        svc = self.services.get(spec.id)
        if svc is not None:
            svc.spec = spec

    async def remove(self, service_id: str) -> None:
        svc = self.services.get(service_id)
        if svc is not None:
            if self.placement is not None:
                await self.placement.release(service_id)
            await self.discard(svc)

    async def discard(self, svc: Service) -> None:
        """Stop this service; forget it unless another service has taken its id meanwhile."""
        await self._stop(svc)
        sid = svc.spec.id
        if self.services.get(sid) is svc:
            del self.services[sid]
            if sid in self._order:
                self._order.remove(sid)

    async def stop(self, service_id: str) -> None:
        svc = self.services.get(service_id)
        if svc is not None:
            await self._stop(svc)

    async def _stop(self, svc: Service) -> None:
        service_id = svc.spec.id
        if svc.task is None or svc.task.done():
            return
        svc.stopping = True
        svc.wake.set()
        self._set(svc, State.STOPPING)
        if svc.runner is not None and svc.exit_fut is not None:
            # a Python service bounds its own stop by stop_timeout (requests, messages in hand);
            # the grace covers the clean-up after that
            svc.runner.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(svc.exit_fut), svc.spec.lifecycle.stop_timeout + 5)
            except asyncio.TimeoutError:
                log.warning("service %s did not stop within %ss", service_id, svc.spec.lifecycle.stop_timeout)
        elif svc.pid is not None and self.node.host_for(svc.pid) is not None:
            self.node.cancel(svc.pid, None, "service stopping")
            exit_fut = svc.exit_fut
            assert exit_fut is not None   # made before the pid
            try:
                await asyncio.wait_for(asyncio.shield(exit_fut), svc.spec.lifecycle.stop_timeout)
            except asyncio.TimeoutError:
                log.warning("service %s did not stop within %ss; terminating", service_id,
                            svc.spec.lifecycle.stop_timeout)
                self.node.terminate(svc.pid, "stop timeout")
        if svc.exit_fut is not None and not svc.exit_fut.done():
            svc.exit_fut.set_result({})    # it is stopping: no exit to wait for (its host is gone, or it timed out)
        try:
            await svc.task
        except asyncio.CancelledError:
            pass

    async def stop_all(self) -> None:
        for service_id in reversed(list(self._order)):
            await self.stop(service_id)

    def states(self) -> dict[str, dict[str, Any]]:
        return {sid: {"state": s.state.value, "pid": s.pid, "restarts": s.restarts, "error": s.last_error}
                for sid, s in self.services.items()}

    # ------------------------------------------------------------------ the loop
    async def _run(self, svc: Service) -> None:
        spec = svc.spec
        policy = spec.lifecycle.restart
        loop = asyncio.get_running_loop()
        while not svc.stopping:
            self._set(svc, State.STARTING)
            svc.exit_fut = loop.create_future()
            fut = svc.exit_fut

            def on_event(ev: dict, fut=fut) -> None:
                if ev.get("kind") == "pid.exit" and not fut.done():
                    fut.set_result(ev.get("result") or {})

            cpid = self.node.control_pid(on_event) if spec.run is None else None
            started = self.clock()
            try:
                await self._await_requirements(svc)
                if svc.stopping:
                    break
                if spec.run is None:
                    svc.pid = self.node.spawn(spec.process, spec.host, list(spec.input), caller=cpid,
                                              monitored=True, options={"actor": spec.actor, "scope": spec.scope})
                    self._set(svc, State.RUNNING)
                    result = await fut
                else:
                    result = await self._run_python(svc, fut)
            except WippyError as e:      # could not even start: a failure like any other
                result = {"error": e}
            finally:
                if cpid is not None:
                    self.node.release_control(cpid)
                svc.pid = None
                svc.runner = None
            if svc.stopping:
                break
            err = result.get("error")
            if err is None:
                log.info("service %s exited normally", spec.id)
                self._set(svc, State.EXITED)
                return
            svc.last_error = str(err)
            if self.clock() - started >= spec.lifecycle.stable_threshold:
                svc.attempts = 0
            svc.attempts += 1
            if policy.max_attempts and svc.attempts > policy.max_attempts:
                log.error("service %s failed %d times, giving up: %s", spec.id, svc.attempts, err)
                self._set(svc, State.FAILED)
                return
            delay = restart_delay(policy, svc.attempts)
            svc.delays.append(delay)
            log.warning("service %s failed (%s); restart %d in %.3fs", spec.id, err, svc.attempts, delay)
            self._set(svc, State.RESTARTING)
            svc.wake.clear()
            try:
                await asyncio.wait_for(svc.wake.wait(), delay)
            except asyncio.TimeoutError:
                pass
            svc.restarts += 1
        self._set(svc, State.STOPPED)

    async def _run_python(self, svc: Service, fut: asyncio.Future) -> dict:
        """Run a Python service once: its result ({} or {"error": ...}) when it ends; a failure if
        it is not ready within start_timeout."""
        ready = asyncio.get_running_loop().create_future()

        def set_ready() -> None:
            if not ready.done():
                ready.set_result(None)
                self._set(svc, State.RUNNING)

        run = svc.spec.run
        assert run is not None   # a Python service

        async def body() -> None:
            try:
                await run(set_ready)
                outcome: dict = {}
            except asyncio.CancelledError:
                outcome = {}
            except Exception as e:
                outcome = {"error": e}
            if not fut.done():
                fut.set_result(outcome)

        svc.runner = asyncio.get_running_loop().create_task(body(), name=f"service {svc.spec.id} run")
        timeout = svc.spec.lifecycle.start_timeout
        done, _ = await asyncio.wait({fut, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            svc.runner.cancel()
            await asyncio.gather(svc.runner, return_exceptions=True)
            return {"error": WippyError(TIMEOUT, f"did not start within start_timeout {timeout:g}s")}
        return await fut
