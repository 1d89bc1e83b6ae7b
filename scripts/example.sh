#!/usr/bin/env bash
# The main job: set up, then run an example app.
# With no arguments it runs the hello-world app's `hello` command; otherwise the arguments go to
# `wippy run` (e.g. `bash scripts/example.sh examples/ping-pong play 5`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ $# -eq 0 ]; then
  set -- examples/hello-world hello
fi
exec .venv/bin/wippy run "$@"
