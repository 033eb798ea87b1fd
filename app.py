"""Open the chat over the indexed documents (building the index from corpus/ if needed).

Run with ``python app.py`` (or ``make run``); settings come from ASSISTANT_* variables.
"""

import sys

from assistant.chain import open_assistant
from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.ui import launch


def main() -> None:
    settings = Settings()
    try:
        assistant = open_assistant(
            settings, build_if_missing=True, notify=lambda m: print(m, file=sys.stderr)
        )
    except AssistantError as exc:
        sys.exit(f"error: {exc}")
    launch(assistant)


if __name__ == "__main__":
    main()
