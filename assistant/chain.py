"""Question → (condense with history) → retrieve → answer, as one LangChain ``Runnable``.

Only the chain lives here; :mod:`assistant.assemble` builds its pieces from ``Settings``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from langchain_core.documents import Document
from langchain_core.runnables import Runnable, RunnableLambda

from assistant.answer.types import Answer
from assistant.errors import InvalidQuestionError
from assistant.retrieve import HybridRetriever

# Follow-ups like "and who leads it?" lean on the previous question for their subject.
_ANAPHORA = re.compile(
    r"\b(it|its|they|them|their|he|him|his|she|her|this|that|these|those|there|the same)\b",
    re.IGNORECASE,
)
_FOLLOW_UP_MAX_WORDS = 12
_PERSON = re.compile(r"\b(he|him|his|she|her)\b", re.IGNORECASE)
# A lone UTF-16 surrogate ("\ud839" in a JSON request is valid JSON) is not text: the
# tokenizer refuses it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def check_question(question: Any, *, max_chars: int) -> str:
    """Return the question stripped, or raise a message that says what to change.

    Raises:
        InvalidQuestionError: the question is empty, whitespace, or longer than ``max_chars``.
    """
    if not isinstance(question, str) or not question.strip():
        raise InvalidQuestionError("The question is empty; type a question about the documents.")
    question = _as_text(question).strip()
    if len(question) > max_chars:
        raise InvalidQuestionError(
            f"The question is {len(question):,} characters long; the limit is {max_chars:,}. "
            "Ask something shorter."
        )
    return question


def condense_question(question: str, history: Sequence[str]) -> str:
    """Make a follow-up stand alone for retrieval and answering.

    Only short questions that point back are changed; a question that names its own
    subject is searched as it is. "he"/"she" (and "his", "her", "him") become the person
    the previous question names ("Who is Omar Khawlani?" → "What does he believe?" →
    "What does Omar Khawlani believe?"), so that the answer is to the follow-up's own ask;
    any other pointer ("what does it aim for?") gets the previous question as a prefix.
    """
    if not history:
        return question
    if len(question.split()) > _FOLLOW_UP_MAX_WORDS or not _ANAPHORA.search(question):
        return question
    name = _last_name(history[-1])
    if name and _PERSON.search(question):
        return _PERSON.sub(lambda m: _refer(m, name), question)
    return f"{history[-1]} {question}"


def _last_name(question: str) -> str | None:
    """The last person the question names, by spaCy's entities ("Omar Khawlani"), or None.
    (Parsed only for a follow-up that says "he" or "she": a few milliseconds.)"""
    from assistant.answer.parse import parse_sentences

    (parse,) = parse_sentences([question])
    people = [(start, end) for start, end, label in parse.entities if label == "PERSON"]
    if not people:
        return None
    start, end = parse.char_span(*people[-1])
    return parse.text[start:end]


def _refer(match: re.Match[str], name: str) -> str:
    word = match.group(0).lower()
    rest = match.string[match.end() :]
    possessive = word == "his" or (word == "her" and re.match(r"\s+[a-z]", rest) is not None)
    return f"{name}’s" if possessive else name


class Answerer(Protocol):
    """What the chain needs of an answerer: the extractive one or an LLM one."""

    def answer(self, question: str, passages: Sequence[Document]) -> Answer: ...

    def warm(self, passages: Sequence[Document]) -> None: ...

    def answer_many(
        self,
        questions: Sequence[str],
        passages: Sequence[Sequence[Document]],
        *,
        question_vectors: Any = None,
    ) -> list[Answer]: ...


def build_chain(
    retriever: HybridRetriever, answerer: Answerer, *, max_question_chars: int = 2000
) -> Runnable[dict[str, Any], Answer]:
    """Compose validation, retrieval and answering into one ``Runnable``.

    Input: ``{"question": str, "history": [previous questions], "k": optional int}``.
    Output: an :class:`Answer` with ``timings_ms`` = retrieve, answer, total.
    """

    def prepare(inputs: dict[str, Any]) -> dict[str, Any]:
        question = check_question(inputs.get("question"), max_chars=max_question_chars)
        history = [
            _as_text(h) for h in inputs.get("history") or [] if isinstance(h, str) and h.strip()
        ]
        k = inputs.get("k") or retriever.k
        if not isinstance(k, int) or k < 1:
            raise InvalidQuestionError(f"k must be a positive whole number, not {k!r}.")
        return {
            "question": question,
            "query": condense_question(question, history),
            "k": k,
            "started": time.perf_counter(),
        }

    def retrieve(state: dict[str, Any]) -> dict[str, Any]:
        began = time.perf_counter()
        passages = retriever.rank_many([state["query"]], k=state["k"])[0]
        return {**state, "passages": passages, "retrieve_ms": _ms_since(began)}

    def answer(state: dict[str, Any]) -> Answer:
        began = time.perf_counter()
        result = answerer.answer(state["query"], state["passages"])
        timings = {
            "retrieve": state["retrieve_ms"],
            "answer": _ms_since(began),
            "total": _ms_since(state["started"]),
        }
        return replace(result, question=state["question"], timings_ms=timings)

    return (
        RunnableLambda(prepare, name="prepare")
        | RunnableLambda(retrieve, name="retrieve")
        | RunnableLambda(answer, name="answer")
    ).with_config(run_name="cited_answer")


def _as_text(text: str) -> str:
    """``text`` with surrogate pairs joined and lone surrogates replaced by U+FFFD."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _ms_since(began: float) -> float:
    return (time.perf_counter() - began) * 1000
