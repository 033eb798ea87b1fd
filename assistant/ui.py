"""The browser chat (Gradio Blocks): formatting only; answers come from the chain.

Every piece of document text is HTML-escaped here before it reaches the page; Gradio's own
sanitiser is a second fence, not the first.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterator
from typing import Any

from assistant.answer import Answer, Citation
from assistant.chain import Assistant
from assistant.errors import AssistantError

EXAMPLES = [
    "What is Plan T?",
    "What did Muqtada al-Sadr demand?",
    "Who is Khaled Hammadi?",
    "Why did the militias postpone targeting American forces?",
]

_message_ids = itertools.count(1)

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
.source-where { font-weight: 400; opacity: .8; }
.source-text { font-size: .9em; margin-top: .2em; }
.source-text mark { background: #fde68a; color: #111; padding: 0 1px; }
.scores { font-size: .75em; opacity: .7; font-family: var(--font-mono); }
.refusal { font-style: italic; opacity: .85; }
.refusal::before { content: "ⓘ "; font-style: normal; }
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


def format_answer(answer: Answer, *, show_scores: bool = False) -> str:
    """Render an answer and its cited passages as one HTML chat message (no blank lines)."""
    if answer.refused:
        return f'<div class="refusal">{html.escape(answer.text)}</div>'
    uid = next(_message_ids)
    body = _link_markers(html.escape(answer.text), uid, len(answer.citations))
    sources = "".join(_format_citation(c, uid, answer, show_scores) for c in answer.citations)
    return (
        f'<div class="answer-text">{body}</div>'
        f'<div class="sources"><div class="sources-title">Sources</div>{sources}</div>'
    )


def _link_markers(escaped_text: str, uid: int, count: int) -> str:
    for n in range(1, count + 1):
        escaped_text = escaped_text.replace(
            f"[{n}]", f'<a class="cite" href="#src-{uid}-{n}" title="Show passage {n}">[{n}]</a>'
        )
    return escaped_text


def _format_citation(c: Citation, uid: int, answer: Answer, show_scores: bool) -> str:
    where = [c.title, c.section, f"paragraph {c.paragraph}"]
    if c.page:
        where.append(f"page {c.page}")
    where_text = " · ".join(html.escape(w) for w in where if w)
    scores = ""
    if show_scores:
        scores = f'<div class="scores">{html.escape(_scores_text(c, answer))}</div>'
    return (
        f'<div class="source" id="src-{uid}-{c.n}">'
        f'<div class="source-head">[{c.n}] <span class="source-where">{where_text}</span>'
        f' <span class="source-file">({html.escape(c.source)})</span></div>'
        f'<div class="source-text">{_highlight(c)}</div>{scores}</div>'
    )


def _highlight(c: Citation) -> str:
    """Escape the passage and wrap the quoted sentences in <mark>."""
    pieces, cursor = [], 0
    for start, end in sorted(c.quote_spans):
        pieces.append(html.escape(c.text[cursor:start]))
        pieces.append(f"<mark>{html.escape(c.text[start:end])}</mark>")
        cursor = end
    pieces.append(html.escape(c.text[cursor:]))
    return "".join(pieces).replace("\n", "<br>")


def _scores_text(c: Citation, answer: Answer) -> str:
    for doc in answer.retrieved:
        meta = doc.metadata
        if meta.get("source") == c.source and doc.page_content == c.text:
            s = meta.get("scores", {})
            parts = [f"sentence {c.score:.3f}"]
            for key in ("dense", "bm25", "rrf"):
                if s.get(key) is not None:
                    parts.append(f"{key} {s[key]:.3f}")
            return " · ".join(parts)
    return f"sentence {c.score:.3f}"


def build(assistant: Assistant) -> Any:
    """Build the chat as Gradio Blocks over ``assistant``."""
    import gradio as gr

    def respond(
        question: str, messages: list[dict[str, Any]], asked: list[str], k: int,
        show_scores: bool,
    ) -> Iterator[tuple[str, list[dict[str, Any]], list[str]]]:
        try:
            answer = assistant.ask(question, history=asked, k=int(k))
        except AssistantError as exc:
            raise gr.Error(str(exc), print_exception=False) from exc
        messages = [
            *messages,
            {"role": "user", "content": html.escape(question.strip())},
            {"role": "assistant", "content": format_answer(answer, show_scores=show_scores)},
        ]
        yield "", messages, [*asked, answer.question]

    with gr.Blocks(title="Article assistant", fill_height=True) as demo:
        gr.Markdown(
            "### Ask the article\nAnswers quote the article verbatim; every sentence cites "
            "its passage. Click a marker like **[1]** to read the passage."
        )
        chatbot = gr.Chatbot(
            label="Conversation", height=520, buttons=["copy"], elem_id="chat",
            placeholder="Ask a question about the article below.",
        )
        asked = gr.State([])
        with gr.Row(equal_height=True):
            question = gr.Textbox(
                label="Your question", placeholder="e.g. What is Plan T?", scale=5,
                max_lines=4, autofocus=True, elem_id="question", submit_btn=False,
            )
            send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
        with gr.Row():
            new_chat = gr.Button("New chat", size="sm", elem_id="new-chat")
        gr.Examples(EXAMPLES, inputs=question, label="Examples")
        with gr.Accordion("Settings", open=False):
            k = gr.Slider(1, 10, value=assistant.settings.top_k, step=1,
                          label="Passages to retrieve (k)")
            show_scores = gr.Checkbox(False, label="Show retrieval scores")

        inputs = [question, chatbot, asked, k, show_scores]
        outputs = [question, chatbot, asked]
        question.submit(respond, inputs, outputs, api_visibility="private")
        send.click(respond, inputs, outputs, api_visibility="private")
        new_chat.click(lambda: ("", [], []), None, outputs, api_visibility="private")
    return demo


def launch(assistant: Assistant, *, prevent_thread_lock: bool = False) -> Any:
    """Build the chat and serve it on the configured host and port."""
    demo = build(assistant)
    settings = assistant.settings
    demo.queue(default_concurrency_limit=4)
    return demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        css=CSS,
        head=HEAD,
        show_error=True,
        footer_links=["api"],
        prevent_thread_lock=prevent_thread_lock,
        quiet=False,
    )
