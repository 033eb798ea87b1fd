"""Open the chat over the indexed documents (building the index from corpus/ if needed).

Run with ``python app.py`` (or ``make run``); settings come from ASSISTANT_* variables.
"""

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
    settings = Settings()
    # Open the index and the model while Gradio (the slowest import) loads.
    with ThreadPoolExecutor(max_workers=1) as pool:
        opening = pool.submit(_open, settings)
        from assistant.ui import launch

        try:
            assistant = opening.result()
        except AssistantError as exc:
            sys.exit(f"error: {exc}")
    launch(assistant)


if __name__ == "__main__":
    main()
