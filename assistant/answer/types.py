"""What every answerer returns: an :class:`Answer` and the :class:`Citation` s it makes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.documents import Document

REFUSAL = "The documents don't cover this question, so I can't answer it from them."


@dataclass(frozen=True)
class Citation:
    """A passage an answer cites, and the sentence(s) quoted from it."""

    n: int
    source: str
    title: str
    section: str
    paragraph: int
    text: str
    quote: str
    #: (start, end) offsets of each quoted sentence within ``text``.
    quote_spans: list[tuple[int, int]] = field(default_factory=list)
    page: int | None = None
    score: float = 0.0
    #: (start, end) offsets within ``text`` of the answering phrase(s) this citation backs:
    #: each lies inside a quoted sentence. Empty when the answer is whole sentences.
    answer_spans: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def from_passage(
        cls,
        n: int,
        passage: Document,
        spans: Sequence[tuple[int, int]],
        *,
        score: float,
        answer_spans: Sequence[tuple[int, int]] = (),
    ) -> Citation:
        """Cite ``passage`` as ``[n]``, quoting the sentences at ``spans`` (in text order);
        ``answer_spans`` are where the answering phrases sit in the passage."""
        meta = passage.metadata
        ordered = sorted(spans)
        page = meta.get("page")
        return cls(
            n=n,
            source=str(meta.get("source", "")),
            title=str(meta.get("title", "")),
            section=str(meta.get("section", "")),
            paragraph=int(meta.get("paragraph", 0)),
            text=passage.page_content,
            quote=" ".join(passage.page_content[start:end] for start, end in ordered),
            quote_spans=list(ordered),
            page=int(page) if page is not None else None,
            score=round(score, 4),
            answer_spans=sorted(answer_spans),
        )

    def pieces(self) -> list[tuple[str, bool, bool]]:
        """The passage cut where its marks change: (text, quoted, answering phrase), in
        order; joined, the pieces are ``text``. Lets each surface mark the quote and the
        phrase inside it its own way."""
        bounds = {0, len(self.text)}
        for start, end in (*self.quote_spans, *self.answer_spans):
            bounds.update((start, end))
        cuts = sorted(b for b in bounds if 0 <= b <= len(self.text))
        pieces: list[tuple[str, bool, bool]] = []
        for start, end in zip(cuts, cuts[1:], strict=False):
            quoted = any(a <= start and end <= b for a, b in self.quote_spans)
            answer = any(a <= start and end <= b for a, b in self.answer_spans)
            pieces.append((self.text[start:end], quoted, answer))
        return pieces

    def where(self) -> list[str]:
        """Where the passage sits, for people: title, section, paragraph and page if known."""
        parts = [self.title, self.section, f"paragraph {self.paragraph}"]
        if self.page:
            parts.append(f"page {self.page}")
        return [part for part in parts if part]


@dataclass(frozen=True)
class Answer:
    """An answer as the CLI, the UI and evaluation see it."""

    question: str
    text: str
    refused: bool
    citations: list[Citation]
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: Every passage retrieved (with ``metadata["scores"]``), cited or not.
    retrieved: list[Document] = field(default_factory=list, compare=False)
    #: The question as searched for and answered: a follow-up written out in full from the
    #: conversation ("Who commented on it?" → "Who commented on …?"); else ``question``.
    standalone_question: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``assistant ask --json``."""
        citations = []
        for c in self.citations:
            item = asdict(c)
            item["quote_spans"] = [list(span) for span in c.quote_spans]
            item["answer_spans"] = [list(span) for span in c.answer_spans]
            if c.page is None:
                del item["page"]
            citations.append(item)
        return {
            "question": self.question,
            "standalone_question": self.standalone_question or self.question,
            "answer": self.text,
            "refused": self.refused,
            "citations": citations,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


def refusal(question: str, passages: Sequence[Document]) -> Answer:
    """The answer that says the documents don't cover ``question`` (no citations)."""
    return Answer(question, REFUSAL, True, [], retrieved=list(passages))
