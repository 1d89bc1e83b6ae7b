#!/usr/bin/env bash
# The main job: set up, then run an example app (default: examples/hello-world).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
app=${1:-examples/hello-world}
shift || true
exec .venv/bin/wippy run "$app" "$@"
