"""Build everything from one ``Settings``: embeddings, store, retriever, answerer, chain.

The CLI, the UI, ``app.py`` and evaluation call :func:`open_assistant` and use the
:class:`Assistant` it returns; none of them builds these pieces itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable
from langchain_core.vectorstores import VectorStore

from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.types import Answer
from assistant.chain import Answerer, AnswerSteps, Condenser, llm_condenser
from assistant.config import Settings
from assistant.embeddings import SentenceEmbeddings
from assistant.errors import IndexMissingError
from assistant.followup import Turn
from assistant.retrieve import HybridRetriever, KeywordIndex
from assistant.store import StoreLocation, open_store

# Above this many passages, sentence vectors are embedded lazily instead of at start-up.
_WARM_LIMIT = 2000


@dataclass
class Assistant:
    """The pieces made from one ``Settings``: store, retriever, answerer and their chain.

    ``chain`` is the LangChain ``Runnable`` for use in other chains; :meth:`ask` calls the
    same steps (``steps``) directly, without the ``Runnable`` machinery, for the same answer.
    """

    settings: Settings
    embeddings: SentenceEmbeddings
    location: StoreLocation
    store: VectorStore
    keywords: KeywordIndex
    retriever: HybridRetriever
    answerer: Answerer
    chain: Runnable[dict[str, Any], Answer]
    steps: AnswerSteps
    #: The LLM that writes follow-ups out in full; None: the offline resolver does.
    condense: Condenser | None = None

    def ask(
        self,
        question: str,
        *,
        history: Sequence[Turn | Mapping[str, str] | str] = (),
        k: int | None = None,
    ) -> Answer:
        """Answer one question, a follow-up to the ``history`` turns (question and the
        assistant's answer each, oldest first; see :func:`~assistant.chain.build_chain`)."""
        return self.steps({"question": question, "history": history, "k": k})

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
        index_paths(
            [settings.corpus_dir],
            location=location,
            embeddings=embeddings,
            max_file_mb=settings.max_file_mb,
        )
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
        refusal_threshold=settings.near_miss_threshold,
    )
    answerer: Answerer = extractive
    condense: Condenser | None = None  # offline follow-up resolution
    if settings.llm != "extractive":
        from assistant.answer.llm import LLMAnswerer, chat_model_from

        model = chat_model_from(settings)
        llm = LLMAnswerer(model, support=extractive, timeout=settings.llm_timeout)
        answerer = llm
        # A follow-up the model could not condense (server down or silent) is resolved
        # offline, and its answer does not wait for the same server again.
        condense = llm_condenser(model, timeout=settings.llm_timeout, on_failure=llm.note_failure)
    steps = AnswerSteps(
        retriever, answerer, max_question_chars=settings.max_question_chars, condense=condense
    )
    assistant = Assistant(
        settings=settings,
        embeddings=embeddings,
        location=location,
        store=store,
        keywords=keywords,
        retriever=retriever,
        answerer=answerer,
        chain=steps.as_runnable(),
        steps=steps,
        condense=condense,
    )
    if warm:
        assistant.warm()
    return assistant
