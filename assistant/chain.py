"""Question → (condense with history) → retrieve → answer, as one LangChain ``Runnable``.

The CLI and the UI both call :func:`open_assistant` and invoke its chain; neither holds any
retrieval or answering logic of its own.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from langchain_core.documents import Document
from langchain_core.runnables import Runnable, RunnableLambda

from assistant.answer import Answer, ExtractiveAnswerer
from assistant.config import Settings
from assistant.embeddings import SentenceEmbeddings
from assistant.errors import IndexMissingError, InvalidQuestionError
from assistant.retrieve import HybridRetriever, KeywordIndex
from assistant.store import StoreLocation, open_store

# Follow-ups like "and who leads it?" lean on the previous question for their subject.
_ANAPHORA = re.compile(
    r"\b(it|its|they|them|their|he|him|his|she|her|this|that|these|those|there|the same)\b",
    re.IGNORECASE,
)
_FOLLOW_UP_MAX_WORDS = 12
# Above this many passages, sentence vectors are embedded lazily instead of at start-up.
_WARM_LIMIT = 2000


def check_question(question: Any, *, max_chars: int) -> str:
    """Return the question stripped, or raise a message that says what to change.

    Raises:
        InvalidQuestionError: the question is empty, whitespace, or longer than ``max_chars``.
    """
    if not isinstance(question, str) or not question.strip():
        raise InvalidQuestionError("The question is empty; type a question about the documents.")
    question = question.strip()
    if len(question) > max_chars:
        raise InvalidQuestionError(
            f"The question is {len(question):,} characters long; the limit is {max_chars:,}. "
            "Ask something shorter."
        )
    return question


def condense_question(question: str, history: Sequence[str]) -> str:
    """Make a follow-up stand alone for retrieval by prefixing the previous question.

    Only short questions that point back ("what does it aim for?") are expanded; a question
    that names its own subject is searched as it is.
    """
    if not history:
        return question
    if len(question.split()) > _FOLLOW_UP_MAX_WORDS or not _ANAPHORA.search(question):
        return question
    return f"{history[-1]} {question}"


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
        history = [h for h in inputs.get("history") or [] if isinstance(h, str) and h.strip()]
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


@dataclass
class Assistant:
    """The pieces made from one ``Settings``: store, retriever, answerer and their chain."""

    settings: Settings
    embeddings: SentenceEmbeddings
    location: StoreLocation
    store: Any
    keywords: KeywordIndex
    retriever: HybridRetriever
    answerer: Answerer
    chain: Runnable[dict[str, Any], Answer]

    def ask(self, question: str, *, history: Sequence[str] = (), k: int | None = None) -> Answer:
        """Answer one question (see :func:`build_chain` for the input)."""
        return self.chain.invoke({"question": question, "history": list(history), "k": k})

    def warm(self) -> None:
        """Load the model and embed the passages' sentences ahead of the first question."""
        self.embeddings.load()
        if len(self.keywords) <= _WARM_LIMIT:
            self.answerer.warm(self.keywords.passages)

    def refresh(self) -> None:
        """Catch up with the store after documents were indexed or removed."""
        self.keywords.refresh()


def make_embeddings(settings: Settings) -> SentenceEmbeddings:
    return SentenceEmbeddings(
        settings.embedding_model,
        backend=settings.embedding_backend,
        precision=settings.embedding_precision,
        cache_dir=settings.model_cache_dir,
    )


def store_location(settings: Settings) -> StoreLocation:
    return StoreLocation(settings.index_dir, settings.collection, settings.chroma_url)


def open_assistant(
    settings: Settings,
    *,
    embeddings: SentenceEmbeddings | None = None,
    build_if_missing: bool = False,
    notify: Callable[[str], None] = lambda message: None,
    warm: bool = True,
) -> Assistant:
    """Open the index and build the chain over it.

    With ``build_if_missing``, a missing index is first built from the corpus folder (and
    ``notify`` is told so). With ``warm``, the model is loaded and the passages' sentences
    embedded now (see :meth:`Assistant.warm`) rather than on the first question.

    Raises:
        IndexMissingError: there is no index yet (run ``assistant index``).
        IndexCorruptError: the index cannot be read.
    """
    embeddings = embeddings or make_embeddings(settings)
    location = store_location(settings)
    try:
        store = open_store(location, embeddings)
    except IndexMissingError:
        if not build_if_missing or not settings.corpus_dir.is_dir():
            raise
        from assistant.index import index_paths

        notify(f"No index yet: indexing {settings.corpus_dir}/ first.")
        index_paths([settings.corpus_dir], location=location, embeddings=embeddings)
        store = open_store(location, embeddings)
    keywords = KeywordIndex(store, location)
    retriever = HybridRetriever(
        store=store,
        embeddings=embeddings,
        keywords=keywords,
        k=settings.top_k,
        fetch_k=max(settings.fetch_k, settings.top_k),
    )
    extractive = ExtractiveAnswerer(
        embeddings,
        min_relevance=settings.min_relevance,
        max_sentences=settings.max_sentences,
        term_statistics=keywords,
    )
    answerer: Answerer = extractive
    if settings.llm != "extractive":
        from assistant.llm_answer import LLMAnswerer, make_chat_model

        model = make_chat_model(settings.llm, base_url=settings.llm_base_url)
        answerer = LLMAnswerer(model, support=extractive)
    chain = build_chain(retriever, answerer, max_question_chars=settings.max_question_chars)
    assistant = Assistant(
        settings, embeddings, location, store, keywords, retriever, answerer, chain
    )
    if warm:
        assistant.warm()
    return assistant


def _ms_since(began: float) -> float:
    return (time.perf_counter() - began) * 1000
