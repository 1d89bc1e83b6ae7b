import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the harness modules are imported as tests.harness.*
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
