"""Durable workflows in Lua on Temporal (temporalio).

- `context`: what workflow code may know of the runtime that hosts its worker (entries, workers).
- `errors`: Wippy errors <-> Temporal failures (kind, message, retryable survive the crossing).
- `options`: `process.with_options` / `funcs.new():with_options` keys -> temporalio arguments.
- `wfcore`: a workflow run = one Lua engine driven by the workflow's deterministic event loop.
- `workflows`: the (dynamic) Temporal workflow class; sandbox-safe module.
- `host`: the `temporal.worker` host on a node (starting, signalling, cancelling workflows) and
  the `temporal.client` connection, with the embedded dev server (`devserver`).
"""
