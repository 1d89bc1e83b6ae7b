"""Python side of the `exec` module: commands of exec.native executors (wippy.execs)."""
from __future__ import annotations

from ..engine.errors import INVALID, WippyError
from ..execs import Executors, Process


def install(engine):
    execs = lambda: Executors.of(engine.node)  # noqa: E731

    def get(entry_id):
        execs().get(entry_id)
        return True

    def new(entry_id, cmd, work_dir, env):
        ex = execs().get(entry_id)
        ex.check(cmd)
        merged = dict(ex.model.default_env)
        if env is not None:
            extra = engine.py(env)
            if extra == []:
                extra = {}
            if not isinstance(extra, dict):
                raise WippyError(INVALID, "env must be a table of names to values")
            merged.update({str(k): str(v) for k, v in extra.items()})
        return execs().new_process(Process(ex, cmd, ex.work_dir(work_dir), merged))

    def want(handle, which):
        p = execs().process(handle)
        if p.proc is not None:
            raise WippyError(INVALID, "process already started: ask for streams before start")
        setattr(p, "want_out" if which == "stdout" else "want_err", True)
        return True

    async def start(handle):
        return await execs().process(handle).start()

    async def wait(handle):
        return await execs().process(handle).wait()

    async def write_stdin(handle, data, latin1):
        return await execs().process(handle).write_stdin(data.encode("latin-1" if latin1 else "utf-8"))

    async def read(handle, which, n):
        return await execs().process(handle).read(which, n)

    def signal(handle, signum):
        return execs().process(handle).signal(signum)

    def close(handle, force):
        p = execs().handles.pop(handle, None)
        return p.close(bool(force)) if p is not None else True

    return {"get": get, "new": new, "want": want, "start": start, "wait": wait, "write_stdin": write_stdin,
            "read": read, "signal": signal, "close": close}
