"""Hybrid retrieval: dense (Chroma) and BM25 (bm25s) rankings fused by reciprocal rank.

Dense search finds paraphrases; BM25 finds rare names and numbers the small embedding model
blurs. Reciprocal rank fusion needs no score calibration between the two, which is why it is
the usual way to combine them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from langchain_core.vectorstores import VectorStore
from pydantic import ConfigDict, Field

from assistant.embeddings import SentenceEmbeddings
from assistant.store import StoreLocation, all_passages, dense_search, manifest_stamp
from assistant.text import tokenize

#: The usual reciprocal rank fusion constant (Cormack et al., 2009).
RRF_K = 60


class KeywordIndex:
    """BM25 over every passage of a Chroma collection, rebuilt whenever the collection changes.

    Every indexing run and removal rewrites the index's manifest; a query first compares the
    manifest's time with the one seen at the last load (one ``stat`` call) and reloads when
    it moved, so BM25 never returns a removed passage or misses a new one, even when another
    process changed the index.
    """

    def __init__(self, store: VectorStore, location: StoreLocation | None = None) -> None:
        self.store = store
        self.location = location
        self._lock = threading.Lock()
        self.passages: list[Document] = []
        self.position: dict[str, int] = {}
        self.document_frequency: dict[str, int] = {}
        self._bm25: Any = None
        self._vocabulary: dict[str, int] = {}
        self._stamp = -1
        self.refresh()

    def ensure_current(self) -> None:
        """Reload if the index changed since the last load."""
        if self.location is not None and manifest_stamp(self.location) != self._stamp:
            self.refresh()

    def refresh(self) -> None:
        """Reload the passages from the store and rebuild BM25 over them."""
        import bm25s

        # bm25s sets its logger to DEBUG on import and logs every build; stderr is for progress.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        stamp = manifest_stamp(self.location) if self.location is not None else 0
        passages = all_passages(self.store)
        corpus_tokens = [tokenize(p.page_content) or ["\x00empty"] for p in passages]
        frequency: dict[str, int] = {}
        for tokens in corpus_tokens:
            for term in set(tokens):
                frequency[term] = frequency.get(term, 0) + 1
        bm25 = None
        vocabulary: dict[str, int] = {}
        if passages:
            bm25 = bm25s.BM25()
            tokenized = bm25s.tokenization.Tokenized(*_to_ids(corpus_tokens, vocabulary))
            bm25.index(tokenized, show_progress=False)
        with self._lock:
            self.passages = passages
            self.position = {p.id: i for i, p in enumerate(passages) if p.id}
            self.document_frequency = frequency
            self._bm25 = bm25
            self._vocabulary = vocabulary
            self._stamp = stamp

    def __len__(self) -> int:
        return len(self.passages)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Rank passages for ``query``: (position, BM25 score), best first, scores > 0 only."""
        if self._bm25 is None:
            return []
        ids = [self._vocabulary[t] for t in tokenize(query) if t in self._vocabulary]
        if not ids:
            return []
        scores = self._bm25.get_scores_from_ids(ids)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


@dataclass(frozen=True)
class Ranked:
    """One retrieved passage with the scores that placed it."""

    passage: Document
    rrf: float
    dense: float | None
    bm25: float | None


class HybridRetriever(BaseRetriever):
    """Fuse dense and BM25 rankings with reciprocal rank fusion; return the top ``k``.

    Each returned ``Document`` is a copy whose metadata gains ``scores``:
    ``{"rrf", "dense" (cosine similarity), "bm25"}`` (``None`` where a ranker missed it).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: VectorStore
    embeddings: SentenceEmbeddings
    keywords: KeywordIndex
    k: int = Field(4, gt=0)
    fetch_k: int = Field(20, gt=0)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun | None = None,
        k: int | None = None,
        **_ignored: Any,
    ) -> list[Document]:
        """LangChain's entry point: ``invoke(query, k=3)`` returns the top 3.

        Taking ``k`` makes ``BaseRetriever`` pass *every* ``invoke`` keyword here; the others
        (``verbose``, ...) are ignored, as ``BaseRetriever`` ignored them all before.
        """
        k = self.k if k is None else k
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        # Fetch at least k candidates per ranker, so that k documents come back whenever
        # the index holds k (rank_many leaves that to the caller's fetch_k).
        return self._rank([query], k, None, max(self.fetch_k, k))[0]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun | None = None,
        k: int | None = None,
        **ignored: Any,
    ) -> list[Document]:
        # BaseRetriever's default would drop k; the work is CPU-bound, so it runs in a thread.
        sync_manager = run_manager.get_sync() if run_manager is not None else None
        return await run_in_executor(
            None, self._get_relevant_documents, query, run_manager=sync_manager, k=k, **ignored
        )

    def rank_many(
        self, queries: Sequence[str], *, k: int | None = None, vectors: np.ndarray | None = None
    ) -> list[list[Document]]:
        """Retrieve for many queries at once: one embedding batch (unless their ``vectors``
        are given, embedded ahead), one Chroma query."""
        return self._rank(queries, k or self.k, vectors, self.fetch_k)

    def _rank(
        self, queries: Sequence[str], k: int, vectors: np.ndarray | None, depth: int
    ) -> list[list[Document]]:
        """The top ``k`` for each query, fused from ``depth`` candidates of each ranker."""
        if not queries:
            return []
        self.keywords.ensure_current()
        if vectors is None:
            vectors = self.embeddings.embed_questions(list(queries))
        dense = self._dense(vectors, depth)
        return [
            [_with_scores(r) for r in self._fuse(query, hits, k, depth)]
            for query, hits in zip(queries, dense, strict=True)
        ]

    def _dense(self, vectors: np.ndarray, depth: int) -> list[list[tuple[str, float]]]:
        total = len(self.keywords)
        if total == 0:
            return [[] for _ in range(len(vectors))]
        return dense_search(self.store, vectors, min(depth, total))

    def _fuse(self, query: str, dense: list[tuple[str, float]], k: int, depth: int) -> list[Ranked]:
        keywords = self.keywords
        if any(doc_id not in keywords.position for doc_id, _ in dense):
            keywords.refresh()  # the collection changed under us: catch up before ranking
        fused: dict[int, dict[str, float]] = {}
        for rank, (doc_id, similarity) in enumerate(dense):
            position = keywords.position.get(doc_id)
            if position is None:
                continue
            entry = fused.setdefault(position, {"rrf": 0.0})
            entry["rrf"] += 1.0 / (RRF_K + rank + 1)
            entry["dense"] = similarity
        for rank, (position, score) in enumerate(keywords.search(query, depth)):
            entry = fused.setdefault(position, {"rrf": 0.0})
            entry["rrf"] += 1.0 / (RRF_K + rank + 1)
            entry["bm25"] = score
        best = sorted(fused.items(), key=lambda item: -item[1]["rrf"])[:k]
        return [
            Ranked(keywords.passages[pos], s["rrf"], s.get("dense"), s.get("bm25"))
            for pos, s in best
        ]


def _with_scores(ranked: Ranked) -> Document:
    metadata = dict(ranked.passage.metadata)
    metadata["scores"] = {"rrf": ranked.rrf, "dense": ranked.dense, "bm25": ranked.bm25}
    return Document(
        page_content=ranked.passage.page_content, metadata=metadata, id=ranked.passage.id
    )


def _to_ids(
    corpus_tokens: list[list[str]], vocabulary: dict[str, int]
) -> tuple[list[list[int]], dict[str, int]]:
    ids = [[vocabulary.setdefault(t, len(vocabulary)) for t in tokens] for tokens in corpus_tokens]
    return ids, vocabulary
