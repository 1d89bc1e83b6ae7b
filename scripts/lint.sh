#!/usr/bin/env bash
# Static checks: ruff (rules in pyproject.toml) over all Python code, mypy over the two packages.
# Exit status nonzero on any finding. Run before landing; .ci/run runs it too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
status=0
.venv/bin/ruff check runtime-image operator tests bench scripts || status=1
.venv/bin/mypy || status=1
exit $status
