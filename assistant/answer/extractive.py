"""The offline extractive answerer: verbatim sentences of the retrieved passages, cited.

The extractive answerer quotes the sentences of the retrieved passages that best answer the
question, verbatim, each followed by ``[n]`` for the passage it came from. Every sentence is
scored by the cosine similarity of its embedding to the question's plus a bonus for sharing
the question's rarer words; when even the best sentence scores under ``min_relevance`` it
refuses rather than quote something unrelated.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from langchain_core.documents import Document

from assistant.answer.types import Answer, Citation, refusal
from assistant.embeddings import SentenceEmbeddings
from assistant.text import Span, split_sentences, tokenize


class TermStatistics(Protocol):
    """In how many of ``len(self)`` passages each term occurs."""

    document_frequency: dict[str, int]

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class _Sentences:
    """A passage's sentences with their terms and unit vectors (one row each)."""

    spans: list[Span]
    terms: list[frozenset[str]]
    vectors: np.ndarray


@dataclass(frozen=True)
class _Candidate:
    passage_rank: int
    sentence: Span
    score: float


class ExtractiveAnswerer:
    """Quote the best-matching sentences of the retrieved passages, or refuse.

    Args:
        embeddings: the model that embeds the question and the sentences.
        min_relevance: refuse when the best sentence scores below this.
        max_sentences: quote at most this many sentences.
        margin: also quote a sentence scoring within this of the best one.
        lexical_weight: weight of the shared-rare-words bonus against cosine similarity.
        term_statistics: in how many passages each term occurs (the BM25 index has it), so
            that rare words weigh more; without it every word weighs the same.
    """

    def __init__(
        self,
        embeddings: SentenceEmbeddings,
        *,
        min_relevance: float = 0.36,
        max_sentences: int = 3,
        margin: float = 0.06,
        lexical_weight: float = 0.3,
        term_statistics: TermStatistics | None = None,
        cache_size: int = 100_000,
    ) -> None:
        if max_sentences < 1:
            raise ValueError(f"max_sentences must be at least 1, not {max_sentences}")
        self.embeddings = embeddings
        self.min_relevance = min_relevance
        self.max_sentences = max_sentences
        self.margin = margin
        self.lexical_weight = lexical_weight
        self.term_statistics = term_statistics
        self._passages: OrderedDict[str, _Sentences] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def warm(self, passages: Sequence[Document]) -> None:
        """Embed the sentences of ``passages`` ahead of the first question."""
        self.prepare(passages)

    def answer(self, question: str, passages: Sequence[Document]) -> Answer:
        """Answer ``question`` from ``passages`` (best first)."""
        return self.answer_many([question], [passages])[0]

    def answer_many(
        self,
        questions: Sequence[str],
        passages: Sequence[Sequence[Document]],
        *,
        question_vectors: np.ndarray | None = None,
    ) -> list[Answer]:
        """Answer many questions at once: one embedding batch for all their new sentences
        (and for the questions, unless their vectors are given)."""
        prepared = self.prepare([p for ps in passages for p in ps])
        if question_vectors is None:
            question_vectors = self.embeddings.embed_questions(list(questions))
        answers = []
        for question, q_vector, ps in zip(questions, question_vectors, passages, strict=True):
            candidates = self._score(question, q_vector, [prepared[p.page_content] for p in ps])
            answers.append(self._compose(question, list(ps), candidates))
        return answers

    def _score(
        self, question: str, q_vector: np.ndarray, per_passage: list[_Sentences]
    ) -> list[_Candidate]:
        weights = self._term_weights(tokenize(question))
        total_weight = sum(weights.values())
        candidates = []
        for rank, sentences in enumerate(per_passage):
            cosines = sentences.vectors @ q_vector
            for span, terms, cosine in zip(sentences.spans, sentences.terms, cosines, strict=True):
                overlap = 0.0
                if total_weight:
                    overlap = sum(w for t, w in weights.items() if t in terms) / total_weight
                score = (1 - self.lexical_weight) * float(cosine) + self.lexical_weight * overlap
                candidates.append(_Candidate(rank, span, score))
        candidates.sort(key=lambda c: (-c.score, c.passage_rank, c.sentence.start))
        return candidates

    def prepare(self, passages: Sequence[Document]) -> dict[str, _Sentences]:
        """Split, tokenise and embed each passage's sentences once; later questions reuse them."""
        with self._lock:
            ready = {
                p.page_content: self._passages[p.page_content]
                for p in passages
                if p.page_content in self._passages
            }
        todo = list(dict.fromkeys(p.page_content for p in passages if p.page_content not in ready))
        if todo:
            spans = {text: split_sentences(text) or [Span(text, 0, len(text))] for text in todo}
            # fp32, like the questions they are compared with: the int8 passage model moved
            # dev-question scores across the refusal threshold (benchmarks/dev_questions.py).
            vectors = self.embeddings.embed([s.text for text in todo for s in spans[text]])
            begin = 0
            for text in todo:
                end = begin + len(spans[text])
                ready[text] = _Sentences(
                    spans=spans[text],
                    terms=[frozenset(tokenize(s.text)) for s in spans[text]],
                    vectors=vectors[begin:end].copy(),  # not a view: the cache frees it
                )
                begin = end
            with self._lock:
                for text in todo:
                    self._passages[text] = ready[text]
                while len(self._passages) > self._cache_size:
                    self._passages.popitem(last=False)
        return ready

    def best_support(self, claim: str, passage: Document) -> tuple[tuple[int, int], float]:
        """The sentence of ``passage`` closest in meaning to ``claim``: its (start, end) in
        the passage, and its cosine similarity (comparable with ``min_relevance``)."""
        sentences = self.prepare([passage])[passage.page_content]
        claim_vector = self.embeddings.embed([claim])[0]  # fp32, like a question
        scores = sentences.vectors @ claim_vector
        best = int(np.argmax(scores))
        span = sentences.spans[best]
        return (span.start, span.end), float(scores[best])

    def _term_weights(self, terms: list[str]) -> dict[str, float]:
        # Smoothed inverse document frequency; unseen terms weigh as the rarest.
        stats = self.term_statistics
        if stats is None:
            return dict.fromkeys(terms, 1.0)
        n, frequency = len(stats), stats.document_frequency
        return {t: math.log(1 + (n + 1) / (frequency.get(t, 0) + 1)) for t in set(terms)}

    def _compose(
        self, question: str, passages: list[Document], candidates: list[_Candidate]
    ) -> Answer:
        if not candidates or candidates[0].score < self.min_relevance:
            return refusal(question, passages)
        floor = max(self.min_relevance, candidates[0].score - self.margin)
        chosen = [c for c in candidates if c.score >= floor][: self.max_sentences]
        numbers: dict[int, int] = {}
        parts: list[str] = []
        quoted: dict[int, list[_Candidate]] = {}
        for c in chosen:
            n = numbers.setdefault(c.passage_rank, len(numbers) + 1)
            quoted.setdefault(c.passage_rank, []).append(c)
            parts.append(f"{c.sentence.text} [{n}]")
        citations = [
            Citation.from_passage(
                n,
                passages[rank],
                [(c.sentence.start, c.sentence.end) for c in quoted[rank]],
                score=max(c.score for c in quoted[rank]),
            )
            for rank, n in numbers.items()
        ]
        return Answer(question, " ".join(parts), False, citations, retrieved=passages)
