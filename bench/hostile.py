"""How long a neighbour waits while a hostile entry attacks: the attacks of tests/security
(test_hostile_entries, test_hostile_parsers) run one after another on the suite's app (a victim
process on the attacker's host, an HTTP endpoint), and for each the slowest answer of either is
printed as time over their usual latency.

    .venv/bin/python bench/hostile.py [ATTACK ...]

Two figures per neighbour: wall time, and the node's CPU time while the probe waited (on a
shared, loaded machine wall time mostly says how long the OS kept the node waiting; CPU time how
long the node itself made the probe wait). The issue's bound is 100 ms over usual; attacks over
it in CPU time are marked.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.security import test_hostile_entries as T  # noqa: E402
from tests.security import test_hostile_parsers as P  # noqa: E402
from tests.security.harness import HOST, HostileApp  # noqa: E402

ATTACKS = T.ATTACKS + P.ATTACKS

BOUND_MS = 100.0


async def main(names: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        app = HostileApp(Path(tmp))
        await app.start(evil=T.EVIL_HANDLER)
        over = []
        try:
            for name, src in T.HELPERS.items():
                await app.add_process(name, src, modules=["time"])
            if any(not names or a.name in names for a in P.ATTACKS):
                await P.add_files(app)     # the bombs and templates the parser attacks read
            for attack in ATTACKS:
                if names and attack.name not in names:
                    continue
                entry = await app.add_process("attack_" + attack.name, attack.source, attack.modules)
                _, probes = await app.measured(lambda entry=entry: app.node.exec(entry, HOST, []))
                app.record(attack.name, probes)
                if max(app.report[attack.name][2:]) > BOUND_MS:
                    over.append(attack.name)
                await app.settle()
        finally:
            await app.stop()
        print(app.latency_table())
        print(f"over {BOUND_MS:.0f} ms of node CPU: {', '.join(over) or 'none'}")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("attacks", nargs="*", help="attack names (default: all)")
    args = ap.parse_args()
    known = {a.name for a in ATTACKS}
    if set(args.attacks) - known:
        raise SystemExit(f"unknown attacks: {', '.join(sorted(set(args.attacks) - known))}")
    sys.exit(asyncio.run(main(args.attacks)))
