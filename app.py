"""Open the chat over the indexed documents (building the index from corpus/ if needed).

Run with ``python app.py`` (or ``make run``); settings come from ASSISTANT_* variables.
"""

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor

from assistant.config import Settings
from assistant.errors import AssistantError


def _open(settings: Settings):  # noqa: ANN202 - returns assistant.assemble.Assistant
    from assistant.assemble import open_assistant

    assistant = open_assistant(
        settings,
        build_if_missing=True,
        notify=lambda message: print(message, file=sys.stderr),
        warm=False,  # the sentences are embedded once the page is served (assistant.ui)
    )
    assistant.embeddings.load()  # the model, so that the first question does not wait for it
    return assistant


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the chat (settings: ASSISTANT_*).")
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="serve on an address other than loopback without ASSISTANT_AUTH",
    )
    no_auth = parser.parse_args().no_auth
    settings = Settings()
    from assistant.access import serving_access

    try:
        serving_access(settings, no_auth=no_auth)  # refuse before loading anything
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    # Open the index and the model while Gradio (the slowest import) loads.
    with ThreadPoolExecutor(max_workers=1) as pool:
        opening = pool.submit(_open, settings)
        from assistant.ui import launch

        try:
            assistant = opening.result()
        except AssistantError as exc:
            sys.exit(f"error: {exc}")
    launch(assistant, no_auth=no_auth)


if __name__ == "__main__":
    main()
