#!/bin/sh
# Builds the native codecs (json.c) next to their sources, with the system C compiler. Optional:
# without them the modules run their Lua/Python code. Usage: build.sh [cc]
set -e
cd "$(dirname "$0")"
CC=${1:-${CC:-cc}}
$CC -O2 -fPIC -shared -Wall -Wextra -Werror -std=c99 -o _json.so json.c -lm
