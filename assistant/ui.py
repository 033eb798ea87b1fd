"""The browser chat (Gradio Blocks): layout and event wiring only.

Answers come from the chain, documents from the indexer; HTML comes from ``ui_format``.
"""

from __future__ import annotations

import html
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.access import serving_access
from assistant.answer.llm_stream import Done, Shown, stream_events
from assistant.assemble import Assistant
from assistant.chain import as_turns
from assistant.errors import AssistantError
from assistant.ingest.loaders import SUPPORTED_SUFFIXES
from assistant.sources import list_sources, remove_source
from assistant.ui_format import WORKING, format_answer
from assistant.uploads import add_uploads, forget_upload

EXAMPLES = [
    "What is Plan T?",
    "What did Muqtada al-Sadr demand?",
    "Who is Khaled Hammadi?",
    "Why did the militias postpone targeting American forces?",
]
#: Events between two refreshes of Gradio's monitoring summary (/monitoring). Gradio's
#: default, 1, rebuilds a pandas table of the last 10,000 events after every event: 20-30 ms
#: of CPU per question once the server has answered 10,000, more than the answer itself.
ANALYTICS_EVERY = 1000
# Below the sentences of an LLM answer shown so far.
_CHECKING = '<div class="working" role="status">Checking the next sentence…</div>'

CSS = """
.answer-text { line-height: 1.55; }
.cite { font-weight: 600; text-decoration: none; padding: 0 1px; cursor: pointer; }
.sources { margin-top: .6em; border-top: 1px solid var(--border-color-primary); padding-top: .4em; }
.sources-title { font-size: .85em; font-weight: 600; opacity: .8; margin-bottom: .2em; }
.source { margin: .35em 0; padding: .35em .6em; border-left: 3px solid var(--color-accent);
          background: var(--background-fill-secondary); border-radius: 4px;
          overflow-wrap: anywhere; }
.source.flash { outline: 2px solid var(--color-accent); }
.source-head { font-size: .85em; font-weight: 600; }
.source-where, .source-file { font-weight: 400; opacity: .8; }
.source-text { font-size: .9em; margin-top: .2em; }
.source-text mark { background: #fde68a; color: #111; padding: 0 1px; }
.source-text .answer-span { font-weight: 700; text-decoration: underline; }
.scores { font-size: .75em; opacity: .7; font-family: var(--font-mono); }
.refusal { font-style: italic; opacity: .85; border-left: 3px solid var(--border-color-primary);
           padding-left: .5em; }
.working { opacity: .7; font-style: italic; }
.note { font-size: .8em; opacity: .75; margin-top: .3em; }
.searched { font-size: .8em; opacity: .75; margin-top: .3em; }
.typing { animation: blink 1s steps(2) infinite; }
@keyframes blink { 50% { opacity: 0; } }
#chat, #chat * { overflow-wrap: anywhere; }
@media (max-width: 480px) { .gradio-container { padding: 4px !important; } }
"""

# Clicking a marker scrolls to its passage in the same answer and flashes it.
HEAD = """
<script>
document.addEventListener("click", (event) => {
  const marker = event.target.closest && event.target.closest("a.cite");
  if (!marker) return;
  event.preventDefault();
  const target = document.getElementById(marker.getAttribute("href").slice(1));
  if (!target) return;
  target.scrollIntoView({behavior: "smooth", block: "nearest"});
  target.classList.add("flash");
  setTimeout(() => target.classList.remove("flash"), 1600);
});
</script>
"""


def build(assistant: Assistant) -> Any:
    """Build the chat (and the Documents tab) as Gradio Blocks over ``assistant``."""
    import gradio as gr

    settings = assistant.settings

    def respond(
        question: str,
        messages: list[dict[str, Any]],
        asked: list[dict[str, str]],
        k: int,
        show_scores: bool,
    ) -> Iterator[Any]:
        user = {"role": "user", "content": html.escape((question or "").strip())}
        history = [*messages, user]
        if (question or "").strip():
            # Show the question and that we are working before the answer is ready.
            yield "", [*history, {"role": "assistant", "content": WORKING}], asked
        # An LLM's sentences are shown one by one as each is checked; an extractive
        # answer, ready at once, is shown whole.
        try:
            for event in stream_events(lambda: assistant.ask(question, history=asked, k=int(k))):
                if isinstance(event, Shown):
                    partial = format_answer(event.answer, show_scores=show_scores)
                    content = partial + _CHECKING
                    yield "", [*history, {"role": "assistant", "content": content}], asked
                elif isinstance(event, Done):
                    answer = event.answer
        except AssistantError as exc:
            # A toast, and the conversation and typed question put back as they were:
            # gr.Error would also cover the chat and the question box with an error overlay.
            gr.Warning(str(exc))
            yield question, messages, asked
            return
        final = format_answer(answer, show_scores=show_scores) + _note(answer)
        turn = {"question": answer.question, "answer": answer.text}
        yield "", [*history, {"role": "assistant", "content": final}], [*asked, turn]

    def ask_api(
        question: str, k: int = settings.top_k, history: list[Any] | None = None
    ) -> dict[str, Any]:
        """Answer a question; returns the same JSON as `assistant ask --json`.

        ``question`` must be text and ``k`` a whole number from 1 to 50 (``3``, ``3.0`` or
        ``"3"``); anything else is refused with a plain message, not a traceback. To hold a
        conversation, pass ``history``: the earlier turns, oldest first, each
        ``{"question": …, "answer": …}`` (the ``answer`` this returned); the reply's
        ``standalone_question`` is the follow-up as it was searched for.
        """
        if not isinstance(question, str):
            raise gr.Error(
                f"The question must be text, not {_kind(question)}.", print_exception=False
            )
        passages = _whole_number(k)
        if passages is None or not 1 <= passages <= 50:
            raise gr.Error(
                f"k must be a whole number from 1 to 50 (passages to retrieve), not {k!r:.40}.",
                print_exception=False,
            )
        try:
            return assistant.ask(question, history=as_turns(history), k=passages).to_dict()
        except AssistantError as exc:
            raise gr.Error(str(exc), print_exception=False) from exc

    def _kind(value: Any) -> str:
        if value is None:
            return "nothing"
        name = type(value).__name__
        return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"

    def _whole_number(value: Any) -> int | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return int(value) if value.is_integer() else None
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return None

    def documents_table() -> list[list[Any]]:
        return [
            [s.source, s.title, s.passages, s.indexed_at]
            for s in list_sources(assistant.location, assistant.embeddings)
        ]

    def removable() -> Any:
        choices = [
            (f"{s.source} ({s.passages} passages)", s.key)
            for s in list_sources(assistant.location, assistant.embeddings)
        ]
        return gr.update(choices=choices, value=None)

    def upload(files: list[str] | None, progress: Any = gr.Progress()) -> tuple[str, Any, Any]:
        names = [Path(f) for f in files or []]
        results = add_uploads(
            names,
            location=assistant.location,
            embeddings=assistant.embeddings,
            max_mb=settings.max_upload_mb,
            on_file=lambda i, name: progress(i / max(len(names), 1), desc=f"Indexing {name}"),
            lock_timeout_s=settings.lock_timeout_s,
        )
        progress(1.0, desc="Done")
        lines = [
            f"{'✓' if r.ok else '✗'} {html.escape(r.name)}: {html.escape(r.message)}"
            for r in results
        ]
        return "\n\n".join(lines) or "No files received.", documents_table(), removable()

    def remove(key: str | None) -> tuple[str, Any, Any]:
        if not key:
            return "Choose a document to remove.", documents_table(), removable()
        try:
            removed = remove_source(
                assistant.location,
                assistant.embeddings,
                key,
                lock_timeout_s=settings.lock_timeout_s,
            )
        except AssistantError as exc:
            return html.escape(str(exc)), documents_table(), removable()
        forget_upload(assistant.location, key)
        return (
            f"Removed {html.escape(Path(key).name)} ({removed} passages).",
            documents_table(),
            removable(),
        )

    with gr.Blocks(title="Article assistant", fill_height=True) as demo:
        gr.Markdown(
            "### Ask the article\nAnswers quote the documents verbatim; every sentence cites "
            "its passage. Click a marker like **[1]** to see the passage."
        )
        with gr.Tab("Chat", elem_id="chat-tab"):
            chatbot = gr.Chatbot(
                label="Conversation",
                height=520,
                buttons=["copy"],
                elem_id="chat",
                placeholder="Ask a question about the documents.",
            )
            # The conversation so far ({"question", "answer"} per turn): one per browser session.
            asked = gr.State([])
            with gr.Row(equal_height=True):
                question = gr.Textbox(
                    label="Your question",
                    placeholder="e.g. What is Plan T?  (Enter sends)",
                    scale=5,
                    lines=1,
                    max_lines=4,
                    autofocus=True,
                    elem_id="question",
                    max_length=settings.max_question_chars,
                )
                send = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="send")
            with gr.Row():
                new_chat = gr.Button("New chat", size="sm", elem_id="new-chat")
            gr.Examples(EXAMPLES, inputs=question, label="Examples")
            with gr.Accordion("Settings", open=False, elem_id="settings"):
                k = gr.Slider(
                    1,
                    10,
                    value=settings.top_k,
                    step=1,
                    label="Passages to retrieve (k)",
                    elem_id="k",
                )
                show_scores = gr.Checkbox(
                    False, label="Show retrieval scores", elem_id="show-scores"
                )
        with gr.Tab("Documents", elem_id="documents-tab"):
            gr.Markdown(
                f"Upload {', '.join(SUPPORTED_SUFFIXES)} files (up to "
                f"{settings.max_upload_mb} MB each). Only what changed is embedded again."
            )
            # No file_types filter: Gradio would reject other kinds with a bare "Error";
            # our own check names the file and the formats that are supported.
            files = gr.File(label="Upload documents", file_count="multiple", elem_id="upload")
            status = gr.Markdown(elem_id="upload-status")
            table = gr.Dataframe(
                headers=["Document", "Title", "Passages", "Indexed"],
                value=documents_table,
                interactive=False,
                label="Indexed documents",
                elem_id="documents",
                wrap=True,
            )
            with gr.Row():
                to_remove = gr.Dropdown(
                    label="Document to remove", choices=[], elem_id="remove-choice"
                )
                remove_button = gr.Button("Remove", variant="stop", elem_id="remove")

        chat_inputs = [question, chatbot, asked, k, show_scores]
        chat_outputs = [question, chatbot, asked]
        question.submit(respond, chat_inputs, chat_outputs, api_visibility="private")
        send.click(respond, chat_inputs, chat_outputs, api_visibility="private")
        new_chat.click(lambda: ("", [], []), None, chat_outputs, api_visibility="private")
        files.upload(upload, files, [status, table, to_remove], api_visibility="private")
        remove_button.click(remove, to_remove, [status, table, to_remove], api_visibility="private")
        demo.load(removable, None, to_remove, api_visibility="private")
        gr.api(ask_api, api_name="ask")
    return demo


def _note(answer: Any) -> str:
    """Why an LLM answer stops short, or why the extractive answer stands in for it."""
    note = getattr(answer, "note", None)
    return f'<div class="note" role="note">{html.escape(note)}</div>' if note else ""


def launch(
    assistant: Assistant, *, prevent_thread_lock: bool = False, no_auth: bool = False
) -> Any:
    """Build the chat and serve it on the configured host and port; see
    :func:`serving_access` for who may use it.

    Raises:
        ExposedWithoutAuthError: see :func:`serving_access`.
    """
    settings = assistant.settings
    access = serving_access(settings, no_auth=no_auth)  # callers check first; so does this
    if access.warning:
        print(access.warning, file=sys.stderr)
    demo = build(assistant)
    # Read when the queue is made; a value set by the user stands.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(ANALYTICS_EVERY))
    demo.queue(default_concurrency_limit=4)
    served = demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=access.auth,
        css=CSS,
        head=HEAD,
        show_error=False,
        footer_links=["api"],
        prevent_thread_lock=True,
        max_file_size=f"{settings.max_upload_mb}mb",
    )
    # Embed the passages' sentences once the page is served, not before (nor while starting
    # the server): a question asked before this finishes embeds just its own passages.
    threading.Thread(target=assistant.warm, name="warm-up", daemon=True).start()
    if not prevent_thread_lock:
        demo.block_thread()
    return served
