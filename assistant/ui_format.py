"""HTML for the chat: answers with linked markers, cited passages with the quote highlighted.

Every piece of document text is HTML-escaped here before it reaches the page; Gradio's own
sanitiser is a second fence, not the first. Output has no blank lines: a blank line would end
the HTML block in Gradio's Markdown renderer.
"""

from __future__ import annotations

import html
import itertools
import re

from assistant.answer.markers import MARKER, cited_sentences
from assistant.answer.types import Answer, Citation

_message_ids = itertools.count(1)

#: Shown while the answer is being prepared.
WORKING = '<div class="working" role="status">Searching the documents…</div>'


def format_answer(
    answer: Answer, *, show_scores: bool = False, sentences: int | None = None
) -> str:
    """Render an answer and its cited passages as one HTML chat message.

    With ``sentences``, render only that many sentences of the answer and no sources yet:
    the frames of a streamed answer.
    """
    if answer.refused:
        return f'<div class="refusal" role="note">{html.escape(answer.text)}</div>' + searched(
            answer
        )
    uid = next(_message_ids)
    parts = split_answer(answer.text)
    shown = parts if sentences is None else parts[:sentences]
    body = " ".join(_link_marker(html.escape(part), uid, answer) for part in shown)
    if sentences is not None and sentences < len(parts):
        return f'<div class="answer-text">{body} <span class="typing">▍</span></div>'
    sources = "".join(_format_citation(c, uid, answer, show_scores) for c in answer.citations)
    return (
        f'<div class="answer-text">{body}</div>{searched(answer)}'
        f'<div class="sources"><div class="sources-title">Sources</div>{sources}</div>'
    )


def searched(answer: Answer) -> str:
    """ "Searched for: …" when a follow-up was written out in full before searching (the
    question as asked is already on the page), else nothing."""
    standalone = answer.standalone_question
    if not standalone or _same_words(standalone, answer.question):
        return ""
    return f'<div class="searched">Searched for: {html.escape(standalone)}</div>'


def _same_words(a: str, b: str) -> bool:
    return a.casefold().split() == b.casefold().split()


def split_answer(text: str) -> list[str]:
    """Cut an answer into its sentences, each ending with its own ``[n]`` marker."""
    return [piece.marked for piece in cited_sentences(text)] or [text]


def _link_marker(escaped_sentence: str, uid: int, answer: Answer) -> str:
    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        citation = next((c for c in answer.citations if c.n == n), None)
        if citation is None:
            return match.group()
        preview = html.escape(_where(citation), quote=True)
        return (
            f'<a class="cite" href="#src-{uid}-{n}" title="{preview}" '
            f'aria-label="Source {n}: {preview}">[{n}]</a>'
        )

    return MARKER.sub(link, escaped_sentence)


def _where(c: Citation) -> str:
    return " · ".join(c.where())


def _format_citation(c: Citation, uid: int, answer: Answer, show_scores: bool) -> str:
    where_text = html.escape(_where(c))
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
    """Escape the passage, wrap the quoted sentences in <mark> and the answering phrase
    inside them in <strong class="answer-span">."""
    out: list[str] = []
    for text, quoted, answer in c.pieces():
        piece = html.escape(text)
        if answer:
            piece = f'<strong class="answer-span">{piece}</strong>'
        if quoted:
            piece = f"<mark>{piece}</mark>"
        out.append(piece)
    # Adjacent pieces of one sentence would each get a <mark>: join them into one.
    return "".join(out).replace("</mark><mark>", "").replace("\n", "<br>")


def _scores_text(c: Citation, answer: Answer) -> str:
    for doc in answer.retrieved:
        meta = doc.metadata
        if meta.get("source") == c.source and doc.page_content == c.text:
            s = meta.get("scores", {})
            parts = [f"sentence {c.score:.3f}"]
            for key in ("dense", "bm25", "fused", "rrf"):
                if s.get(key) is not None:
                    parts.append(f"{key} {s[key]:.3f}")
            return " · ".join(parts)
    return f"sentence {c.score:.3f}"
