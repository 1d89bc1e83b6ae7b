#!/usr/bin/env python3
"""Write the values table of helm/README.md from helm/values.schema.json (descriptions, types)
and helm/values.yaml (defaults). `--check` only says whether the README is current."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parents[1] / "helm"
BEGIN, END = "<!-- values:begin -->", "<!-- values:end -->"


def rows(schema: dict, defaults: object, prefix: str = ""):
    for name, prop in schema.get("properties", {}).items():
        key = f"{prefix}{name}"
        value = defaults.get(name) if isinstance(defaults, dict) else None
        if "properties" in prop:
            yield from rows(prop, value, key + ".")
            continue
        kind = prop.get("type") or " \\| ".join(json.dumps(v) for v in prop.get("enum", []))
        default = json.dumps(value) if value not in (None, "", {}, []) else f"`{json.dumps(value)}`"
        if not default.startswith("`"):
            default = f"`{default}`"
        yield f"| `{key}` | {kind} | {default} | {prop.get('description', '')} |"


def table() -> str:
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    return "\n".join(["| Key | Type | Default | Description |", "|---|---|---|---|", *rows(schema, defaults)])


def render(readme: str) -> str:
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main() -> int:
    path = CHART / "README.md"
    current = path.read_text()
    wanted = render(current)
    if "--check" in sys.argv[1:]:
        if current != wanted:
            print(f"{path} is out of date: run scripts/chart-readme.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
