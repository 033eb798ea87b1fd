"""Hybrid retrieval: dense (Chroma) and BM25 (:mod:`assistant.keywords`), scored again, fused.

Dense search finds paraphrases; BM25 finds rare names and numbers the small embedding model
blurs. Both rankers' candidates are pooled and scored on features of where the question's
words sit in each passage (its best sentence, its best window, the question's word pairs)
besides the two rankers' own scores; the fused score is a weighted sum of these features,
the weights chosen on a tuning split of SQuAD (see :mod:`assistant.rerank`). Reciprocal rank
fusion, used before, threw the scores away and kept only the ranks: on SQuAD v1.1 dev it
put the right paragraph first for fewer questions than BM25 alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
from assistant.errors import IndexMissingError
from assistant.keywords import KeywordIndex, Terms, top
from assistant.rerank import (
    DENSE_SCORED,
    SENTENCE_DEPTH,
    SENTENCE_WEIGHT,
    HasVectors,
    QueryTerms,
    SentenceVectors,
    candidate_features,
    fuse,
)
from assistant.store import dense_search
from assistant.text import tokenize

__all__ = ["Candidates", "HybridRetriever", "KeywordIndex", "Ranked"]


@dataclass(frozen=True)
class Ranked:
    """One retrieved passage with the scores that placed it."""

    passage: Document
    fused: float
    dense: float | None
    bm25: float | None


@dataclass(frozen=True)
class Candidates:
    """One question's pooled candidates, before fusion: each ranker's score (``None`` where
    it did not return the passage), the features (:data:`assistant.rerank.FEATURES`) and,
    once :meth:`HybridRetriever.candidates` was given sentence vectors, the cosine of the
    question with each leading candidate's best sentence (NaN for the others)."""

    passages: list[Document]
    dense: list[float | None]
    bm25: list[float | None]
    features: np.ndarray
    sentence: np.ndarray

    def fused(
        self, weights: dict[str, float] | None = None, sentence_weight: float = SENTENCE_WEIGHT
    ) -> np.ndarray:
        """The fused score of each candidate (see :mod:`assistant.rerank`)."""
        bonus = np.nan_to_num(np.maximum(self.sentence, 0.0), nan=0.0)
        return fuse(self.features, weights) + sentence_weight * bonus

    def ranked(self, k: int, weights: dict[str, float] | None = None) -> list[Ranked]:
        """The ``k`` best by fused score (ties: dense order, then BM25 order), each text
        once: a passage whose text (whitespace aside) a better one already has is left out,
        so that an answer never cites the same words twice (a page indexed both as HTML and
        as its source, the same file in two folders)."""
        fused = self.fused(weights)
        seen: set[str] = set()
        ranked: list[Ranked] = []
        for i in self.leading(len(self.passages), weights):
            text = " ".join(self.passages[i].page_content.split())
            if text in seen:
                continue
            seen.add(text)
            ranked.append(Ranked(self.passages[i], float(fused[i]), self.dense[i], self.bm25[i]))
            if len(ranked) == k:
                break
        return ranked

    def leading(self, n: int, weights: dict[str, float] | None = None) -> np.ndarray:
        """The indices of the ``n`` best candidates by :meth:`fused`, best first."""
        return np.argsort(-self.fused(weights), kind="stable")[:n]

    def add_sentences(
        self, question: np.ndarray, prepared: Mapping[str, HasVectors], which: Iterable[int]
    ) -> None:
        """Set :attr:`sentence` of the candidates ``which``: the cosine of ``question`` (a
        unit vector) with their best sentence, from their ``prepared`` sentence vectors."""
        for i in which:
            vectors = prepared[self.passages[i].page_content].vectors
            self.sentence[i] = float(np.max(vectors @ question)) if len(vectors) else 0.0


class HybridRetriever(BaseRetriever):
    """Pool dense and BM25 candidates, score them on :mod:`assistant.rerank`'s features and
    return the top ``k`` by fused score.

    Each returned ``Document`` is a copy whose metadata gains ``scores``: ``{"fused" (the
    score it was ranked by), "dense" (cosine similarity), "bm25"}``, ``None`` where that
    ranker did not return the passage among its ``fetch_k``.

    Given ``sentences`` (something that embeds and keeps passages' sentence vectors, like
    the extractive answerer, whose cache it then shares), the
    :data:`~assistant.rerank.SENTENCE_DEPTH` leading candidates also gain
    :data:`~assistant.rerank.SENTENCE_WEIGHT` times the cosine of the question with their
    best sentence. Without it no sentence is embedded here.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: VectorStore
    embeddings: SentenceEmbeddings
    keywords: KeywordIndex
    k: int = Field(4, gt=0)
    fetch_k: int = Field(20, gt=0)
    sentences: SentenceVectors | None = None

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

    def candidates(
        self,
        queries: Sequence[str],
        *,
        vectors: np.ndarray | None = None,
        depth: int | None = None,
        sentences: SentenceVectors | None = None,
    ) -> list[Candidates]:
        """Each query's pooled candidates: the ``depth`` (default ``fetch_k``) best of each
        ranker, with their features (and, with ``sentences``, their best sentence's cosine
        for the leading ones). :meth:`rank_many` ranks these; the tuning benchmark fits the
        weights on them."""
        if not queries:
            return []
        self.keywords.ensure_current()
        if vectors is None:
            vectors = self.embeddings.embed_questions(list(queries))
        depth = depth or self.fetch_k
        # Dense scores a little deeper than it pools: the dense feature of a passage only
        # BM25 found is then more often its own cosine than a stand-in (see _pool).
        dense = self._dense(vectors, max(depth, DENSE_SCORED))
        keywords = self.keywords
        if any(doc_id not in keywords.position for hits in dense for doc_id, _ in hits):
            keywords.refresh()  # the collection changed under us: catch up before ranking
        loaded = keywords.loaded
        picks = [
            _pick(q, hits, depth, keywords, loaded) for q, hits in zip(queries, dense, strict=True)
        ]
        # The texts and metadata of every query's candidates, read at once; one deleted
        # since the version check (a write in between) is left out.
        wanted = list(dict.fromkeys(p for pick in picks for p in pick.positions))
        read = dict(zip(wanted, keywords.documents(wanted, loaded), strict=True))
        pools = [_pool(pick, read, loaded) for pick in picks]
        if sentences is not None:
            leading = [pool.leading(SENTENCE_DEPTH) for pool in pools]
            prepared = sentences.prepare(
                [pool.passages[i] for pool, top in zip(pools, leading, strict=True) for i in top]
            )
            for pool, top, vector in zip(pools, leading, vectors, strict=True):
                pool.add_sentences(vector, prepared, top)
        return pools

    def _rank(
        self, queries: Sequence[str], k: int, vectors: np.ndarray | None, depth: int
    ) -> list[list[Document]]:
        """The top ``k`` for each query, fused from ``depth`` candidates of each ranker."""
        pools = self.candidates(queries, vectors=vectors, depth=depth, sentences=self.sentences)
        return [[_with_scores(r) for r in pool.ranked(k)] for pool in pools]

    def _dense(self, vectors: np.ndarray, depth: int) -> list[list[tuple[str, float]]]:
        total = len(self.keywords)
        if total == 0:
            return [[] for _ in range(len(vectors))]
        try:
            return dense_search(self.store, vectors, min(depth, total))
        except IndexMissingError:
            # Rebuilt since the check: follow the new collection (BM25 too), then search it.
            self.keywords.ensure_current()
            total = len(self.keywords)
            if total == 0:
                return [[] for _ in range(len(vectors))]
            return dense_search(self.store, vectors, min(depth, total))


@dataclass(frozen=True)
class _Picked:
    """One query's candidates before their texts are read: positions and ranker scores."""

    terms: list[str]
    bm25: np.ndarray
    dense: dict[int, float]  # position -> cosine, for those dense search scored
    pooled: list[int]  # dense search's first ``depth``
    by_bm25: dict[int, float]
    positions: list[int]  # both, once each


def _pick(
    query: str, dense: list[tuple[str, float]], depth: int, keywords: KeywordIndex, loaded: Terms
) -> _Picked:
    terms = tokenize(query)
    bm25 = keywords.scores(terms, loaded)
    scored = {loaded.position[i]: s for i, s in dense if i in loaded.position}
    pooled = list(scored)[:depth]
    by_bm25 = dict(top(bm25, depth))
    positions = list(dict.fromkeys([*pooled, *by_bm25]))
    return _Picked(terms, bm25, scored, pooled, by_bm25, positions)


def _pool(pick: _Picked, read: dict[int, Document | None], loaded: Terms) -> Candidates:
    kept = [p for p in pick.positions if read.get(p) is not None]
    positions = np.asarray(kept, dtype=np.int64)
    # A passage dense search did not score has a cosine at most its last one: use that.
    floor = min(pick.dense.values(), default=0.0)
    features = candidate_features(
        loaded.terms,
        positions,
        QueryTerms.of(pick.terms, loaded.vocabulary),
        np.asarray([pick.dense.get(int(p), floor) for p in positions]),
        pick.bm25[positions],
    )
    in_dense = set(pick.pooled)
    return Candidates(
        passages=[d for p in kept if (d := read[p]) is not None],
        dense=[pick.dense[p] if p in in_dense else None for p in kept],
        bm25=[pick.by_bm25.get(p) for p in kept],
        features=features,
        sentence=np.full(len(kept), np.nan),
    )


def _with_scores(ranked: Ranked) -> Document:
    metadata = dict(ranked.passage.metadata)
    metadata["scores"] = {"fused": ranked.fused, "dense": ranked.dense, "bm25": ranked.bm25}
    return Document(
        page_content=ranked.passage.page_content, metadata=metadata, id=ranked.passage.id
    )
