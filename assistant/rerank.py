"""Second-stage scoring of retrieval candidates: where in a passage the question's words are.

BM25 scores a passage as a bag of words, so a passage that mentions the question's words
here and there can beat the one whose single sentence says what was asked. The candidates of
both rankers (dense and BM25) are therefore scored again on a few features, each computed
with numpy over the candidates' term ids at once:

* ``dense``: cosine similarity of the question and passage vectors;
* ``bm25``: the BM25 score divided by the best candidate's (0 to 1);
* ``coverage``: the share of the question's IDF weight found anywhere in the passage;
* ``sentence``: the share found in the passage's best single sentence, each term weighed by
  its IDF *among the candidates* (a word every candidate has tells them apart no better
  than a stop word);
* ``window``: the share (IDF weight) found in the best window of :data:`WINDOW` terms;
* ``phrase``: the share of the question's adjacent term pairs found in order in the passage,
  next to each other or one term apart.

The fused score is the weighted sum of the features (:data:`WEIGHTS`). When the retriever
is given sentence vectors (the extractive answerer's, which embeds the same sentences for
its answers anyway), the :data:`SENTENCE_DEPTH` leading candidates also gain
:data:`SENTENCE_WEIGHT` times the cosine of the question with their best sentence. All of
these were chosen on the tuning split of SQuAD v1.1 dev only, by
``benchmarks/retrieval_tuning.py`` (which prints them, and the scores on the tuning and
test splits).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from langchain_core.documents import Document

#: The features of :func:`candidate_features`, in column order.
FEATURES = ("dense", "bm25", "coverage", "sentence", "window", "phrase")
#: Feature weights of the fused score, fitted on the tuning split (see the module docstring).
WEIGHTS = {
    "dense": 13.73,
    "bm25": 1.05,
    "coverage": 2.89,
    "sentence": 4.61,
    "window": 2.30,
    "phrase": 2.22,
}
#: Dense search scores this many passages (it pools only ``fetch_k`` of them).
DENSE_SCORED = 50
#: With sentence vectors (see :class:`assistant.retrieve.HybridRetriever`): how many leading
#: candidates gain ``SENTENCE_WEIGHT`` times their best sentence's cosine with the question.
SENTENCE_DEPTH = 8
SENTENCE_WEIGHT = 6.0
#: Terms (stop words left out) in the proximity window.
WINDOW = 12
#: Largest gap between the two terms of a question's word pair still counted as a phrase.
PHRASE_GAP = 2


class HasVectors(Protocol):
    """A passage's sentences' unit vectors, one row each."""

    @property
    def vectors(self) -> np.ndarray: ...


@runtime_checkable
class SentenceVectors(Protocol):
    """Embeds passages' sentences once and keeps them: the extractive answerer is one."""

    def prepare(self, passages: Sequence[Document]) -> Mapping[str, HasVectors]:
        """Each passage's text -> its sentences' unit vectors (``.vectors``, one row each)."""
        ...


@dataclass(frozen=True)
class TermIndex:
    """The term ids of every passage, in order, with the sentence each term is in.

    Passage ``i``'s terms are ``tokens[offsets[i]:offsets[i + 1]]``; ``sentences`` numbers
    every sentence of the collection once, so a term's sentence id also names its passage.
    ``idf[t]`` is the inverse document frequency of term id ``t``.
    """

    tokens: np.ndarray
    sentences: np.ndarray
    offsets: np.ndarray
    idf: np.ndarray
    passages: int

    @classmethod
    def build(
        cls, sentence_terms: Sequence[Sequence[Sequence[int]]], frequency: np.ndarray
    ) -> TermIndex:
        """From each passage's sentences' term ids and each term id's document frequency."""
        tokens: list[int] = []
        sentence_ids: list[int] = []
        offsets = [0]
        sentence = 0
        for passage in sentence_terms:
            for terms in passage:
                tokens.extend(terms)
                sentence_ids.extend([sentence] * len(terms))
                sentence += 1
            offsets.append(len(tokens))
        n = len(sentence_terms)
        return cls(
            tokens=np.asarray(tokens, dtype=np.int32),
            sentences=np.asarray(sentence_ids, dtype=np.int32),
            offsets=np.asarray(offsets, dtype=np.int64),
            idf=inverse_document_frequency(frequency, n),
            passages=n,
        )


def inverse_document_frequency(frequency: np.ndarray | int, passages: int) -> np.ndarray:
    """Smoothed IDF, as the extractive answerer weighs words (a term never seen: the rarest)."""
    return np.log1p((passages + 1) / (np.asarray(frequency, dtype=np.float64) + 1))


@dataclass(frozen=True)
class QueryTerms:
    """A question's distinct terms (id -1: not in the index) and its adjacent term pairs."""

    ids: np.ndarray
    pairs: np.ndarray

    @classmethod
    def of(cls, terms: Sequence[str], vocabulary: dict[str, int]) -> QueryTerms:
        distinct = list(dict.fromkeys(terms))
        slot = {t: i for i, t in enumerate(distinct)}
        pairs = [(slot[a], slot[b]) for a, b in zip(terms, terms[1:], strict=False)]
        return cls(
            ids=np.asarray([vocabulary.get(t, -1) for t in distinct], dtype=np.int64),
            pairs=np.asarray(pairs, dtype=np.int64).reshape(-1, 2),
        )


def candidate_features(
    index: TermIndex,
    positions: np.ndarray,
    query: QueryTerms,
    dense: np.ndarray,
    bm25: np.ndarray,
) -> np.ndarray:
    """One row per candidate passage (``positions``), one column per :data:`FEATURES`."""
    n, m = len(positions), len(query.ids)
    features = np.zeros((n, len(FEATURES)), dtype=np.float64)
    features[:, 0] = dense
    top = float(bm25.max()) if n else 0.0
    if top > 0:
        features[:, 1] = bm25 / top
    if n == 0 or m == 0:
        return features
    unseen = math.log1p(index.passages + 1)  # the IDF of a term no passage has
    idf = np.where(query.ids >= 0, index.idf[np.maximum(query.ids, 0)], unseen)
    # The candidates' terms end to end: the passage (row) of each, its sentence, and the
    # question term it is (its slot in query.ids), or -1.
    starts, ends = index.offsets[positions], index.offsets[positions + 1]
    lengths = ends - starts
    row = np.repeat(np.arange(n), lengths)
    at = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    at += np.repeat(starts, lengths)
    slot = _slots(index.tokens[at], query.ids)
    hit = np.flatnonzero(slot >= 0)
    if hit.size == 0:
        return features
    present = np.zeros((n, m), dtype=bool)
    present[row[hit], slot[hit]] = True
    features[:, 2] = present @ idf / idf.sum()
    # Among the candidates, a term most of them contain hardly tells them apart.
    local = inverse_document_frequency(present.sum(axis=0), n)
    sentence_ids, first, which = np.unique(
        index.sentences[at[hit]], return_index=True, return_inverse=True
    )
    in_sentence = np.zeros((len(sentence_ids), m), dtype=bool)
    in_sentence[which, slot[hit]] = True
    np.maximum.at(features[:, 3], row[hit][first], in_sentence @ local / local.sum())
    features[:, 4] = _best_window(row, slot, hit, n, m, idf)
    features[:, 5] = _phrases(row, slot, n, m, query.pairs)
    return features


def fuse(features: np.ndarray, weights: dict[str, float] | None = None) -> np.ndarray:
    """The fused score of each row of :func:`candidate_features`."""
    chosen = WEIGHTS if weights is None else weights
    return features @ np.asarray([chosen.get(name, 0.0) for name in FEATURES])


def _slots(tokens: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """For each token, its index in ``ids`` (the question's terms), or -1."""
    known = np.flatnonzero(ids >= 0)
    if known.size == 0:
        return np.full(tokens.shape, -1, dtype=np.int64)
    order = known[np.argsort(ids[known])]
    sorted_ids = ids[order]
    place = np.minimum(np.searchsorted(sorted_ids, tokens), len(sorted_ids) - 1)
    return np.where(sorted_ids[place] == tokens, order[place], -1)


def _best_window(
    row: np.ndarray, slot: np.ndarray, hit: np.ndarray, n: int, m: int, idf: np.ndarray
) -> np.ndarray:
    """Per candidate: the most IDF weight of distinct question terms in ``WINDOW`` terms."""
    # The window starting at each hit: its terms' positions, one row per hit.
    other = np.minimum(hit[:, None] + np.arange(WINDOW), len(slot) - 1)
    inside = (row[other] == row[hit][:, None]) & (slot[other] >= 0)
    start, _ = np.nonzero(inside)
    in_window = np.zeros((hit.size, m), dtype=bool)
    in_window[start, slot[other[inside]]] = True
    best = np.zeros(n)
    np.maximum.at(best, row[hit], in_window @ idf / idf.sum())
    return best


def _phrases(row: np.ndarray, slot: np.ndarray, n: int, m: int, pairs: np.ndarray) -> np.ndarray:
    """Per candidate: the share of the question's term pairs found in order, close together."""
    if len(pairs) == 0:
        return np.zeros(n)
    seen = np.zeros((n, m * m), dtype=bool)
    for gap in range(1, PHRASE_GAP + 1):
        first, second = slot[:-gap], slot[gap:]
        valid = (first >= 0) & (second >= 0) & (row[:-gap] == row[gap:])
        seen[row[:-gap][valid], first[valid] * m + second[valid]] = True
    return seen[:, pairs[:, 0] * m + pairs[:, 1]].sum(axis=1) / len(pairs)
