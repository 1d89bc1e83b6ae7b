import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the harness modules are imported as tests.harness.*
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The `wippy` command caches compiled Lua on disk: each test session starts from an empty cache
# (subprocesses inherit it), removed at exit.
if "WIPPY_CACHE_DIR" not in os.environ:
    os.environ["WIPPY_CACHE_DIR"] = tempfile.mkdtemp(prefix="wippy-test-cache-")
    atexit.register(shutil.rmtree, os.environ["WIPPY_CACHE_DIR"], True)
