"""The values reference of charts/kubesaga/README.md, generated from values.yaml's comments.

values.yaml documents a key with a ``# --`` comment right above it (helm-docs' convention, so
that tool reads it too); continuation lines are plain ``#`` lines. A key without one is
described by its closest documented ancestor. ``python -m infra.chart_docs`` rewrites the
table between the README's markers; a unit test fails when the README is behind values.yaml.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[1] / "charts" / "kubesaga"
BEGIN, END = "<!-- values:begin -->", "<!-- values:end -->"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z][A-Za-z0-9_]*):")


def descriptions(text: str) -> dict[str, str]:
    """Dotted key path -> its ``# --`` comment, from the file's layout."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped.removeprefix("# --").strip()]
            continue
        if stripped.startswith("#") and pending is not None:
            pending.append(stripped.removeprefix("#").strip())
            continue
        match = _KEY.match(line)
        if match is None:
            pending = None if not stripped else pending
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        if pending is not None:
            found[".".join(key for _, key in stack)] = " ".join(pending)
        pending = None
    return found


def leaves(values: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every key whose value is not a non-empty mapping, with that value."""
    if isinstance(values, dict) and values:
        return [row for key, value in values.items() for row in leaves(value, f"{prefix}{key}.")]
    return [(prefix.removesuffix("."), values)]


def table(values_file: Path = CHART / "values.yaml") -> str:
    text = values_file.read_text()
    documented = descriptions(text)
    rows = ["| key | default | description |", "|---|---|---|"]
    for key, default in leaves(yaml.safe_load(text)):
        parts = key.split(".")
        owner = next(
            (
                ".".join(parts[:n])
                for n in range(len(parts), 0, -1)
                if ".".join(parts[:n]) in documented
            ),
            None,
        )
        about = documented[owner] if owner else ""
        if owner and owner != key:
            about = f"(see `{owner}`)"
        shown = json.dumps(default, separators=(", ", ": "))
        escaped = about.replace("|", r"\|")
        rows.append(f"| `{key}` | `{shown}` | {escaped} |")
    return "\n".join(rows)


def undocumented(values_file: Path = CHART / "values.yaml") -> list[str]:
    """Leaves with no ``# --`` comment on themselves or any ancestor."""
    text = values_file.read_text()
    documented = descriptions(text)
    missing = []
    for key, _ in leaves(yaml.safe_load(text)):
        parts = key.split(".")
        if not any(".".join(parts[:n]) in documented for n in range(len(parts), 0, -1)):
            missing.append(key)
    return missing


def rewrite(readme: Path = CHART / "README.md") -> bool:
    """Put the current table between the markers; True when the file changed."""
    text = readme.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    updated = f"{head}{BEGIN}\n{table()}\n{END}{tail}"
    if updated != text:
        readme.write_text(updated)
    return updated != text


if __name__ == "__main__":
    changed = rewrite()
    print("charts/kubesaga/README.md " + ("updated" if changed else "is current"))
    sys.exit(0)
