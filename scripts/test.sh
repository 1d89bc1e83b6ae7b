#!/usr/bin/env bash
# The whole test suite: installs and starts what it needs, then runs pytest.
# Extra arguments go to pytest (e.g. `-m "not kubernetes"` while iterating).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/pytest -q "$@"
