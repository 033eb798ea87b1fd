"""Print the README's configuration table from `Settings` (so the two cannot drift apart).

python scripts/settings_table.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import Settings  # noqa: E402


def table() -> str:
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if name == "model_cache_dir":
            default = "~/.cache/assistant"
        shown = "unset" if default is None else f"`{default}`"
        lines.append(f"| `ASSISTANT_{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
