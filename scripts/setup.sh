#!/usr/bin/env bash
# Creates .venv and installs the project with its test tools (idempotent, quick when done).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  touch "$stamp"
fi
# the native codecs (runtime-image/wippy/native): optional, built when a C compiler is present
if [ ! -f runtime-image/wippy/native/_json.so ] || [ runtime-image/wippy/native/json.c -nt runtime-image/wippy/native/_json.so ] \
    || [ runtime-image/wippy/native/lua_api.h -nt runtime-image/wippy/native/_json.so ]; then
  if command -v "${CC:-cc}" >/dev/null; then
    sh runtime-image/wippy/native/build.sh
  else
    echo "setup: no C compiler (apt-get install gcc): the json module runs without its native codec" >&2
  fi
fi
