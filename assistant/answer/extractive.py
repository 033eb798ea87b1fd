"""The offline extractive answerer: the answering phrase of the retrieved passages, cited.

Every sentence of the retrieved passages is scored by the cosine similarity of its embedding
to the question's plus a bonus for sharing the question's rarer words. The answer is the
shortest verbatim span of the best sentences that answers the question (an entity, date,
number, noun phrase or clause: :mod:`assistant.answer.phrases`), followed by ``[n]`` for the
passage it came from; the citations quote the best sentences whole and mark where the phrase
sits (``Citation.answer_spans``). It refuses when even the best sentence scores under
``min_relevance``, or when the question looks like a near miss the passages do not answer
(:mod:`assistant.answer.nearmiss`). With ``phrases=False`` it answers with the best
sentences whole, as it did before phrases.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from langchain_core.documents import Document

from assistant.answer import nearmiss
from assistant.answer.lexicon import initialisms, normalize
from assistant.answer.parse import SentenceParse, parse_sentences
from assistant.answer.phrases import (
    FEATURES,
    Offered,
    Scored,
    feature_rows,
    pick,
)
from assistant.answer.phrases import rank as rank_phrases
from assistant.answer.question import Question, analyze
from assistant.answer.spans import Candidates
from assistant.answer.spans import candidates as find_candidates
from assistant.answer.types import Answer, Citation, refusal
from assistant.answer.weights import PHRASE_WEIGHTS, REFUSAL_THRESHOLD, REFUSAL_WEIGHTS
from assistant.embeddings import SentenceEmbeddings
from assistant.text import Span, split_sentences, tokenize


class TermStatistics(Protocol):
    """In how many of ``len(self)`` passages each term occurs."""

    @property
    def document_frequency(self) -> Mapping[str, int]: ...

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class _Sentences:
    """A passage's sentences with their terms and unit vectors (one row each)."""

    spans: list[Span]
    terms: list[frozenset[str]]
    vectors: np.ndarray
    #: Every term of the passage (a near miss names what no passage mentions).
    passage_terms: frozenset[str]


@dataclass(frozen=True)
class _Parsed:
    """A sentence parsed, and its candidate phrases."""

    parse: SentenceParse
    spans: Candidates


#: Sentences parsed per batch while warming up (about half a second each).
_WARM_BATCH = 128

#: A sentence: its passage's text and its index there.
_SentenceKey = tuple[str, int]


@dataclass(frozen=True)
class _Candidate:
    passage_rank: int
    sentence: Span
    score: float
    index: int = 0  # of the sentence in its passage


@dataclass
class Analysis:
    """How one question was answered: what the answer is made from, for tuning and tests.

    ``sentences`` are all scored sentences, best first; ``offered`` the best of them, parsed;
    ``rows`` their candidates' features; ``ranked`` the candidates best first; ``chosen``
    the answering phrase(s); ``signals`` the near-miss signals and ``refusal`` their
    probability (None when refused on the sentence scores alone, or phrases are off).
    """

    question: Question
    passages: list[Document]
    sentences: list[_Candidate]
    offered: list[Offered] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    ranked: list[Scored] = field(default_factory=list)
    chosen: list[Scored] = field(default_factory=list)
    signals: np.ndarray | None = None
    refusal: float | None = None


class ExtractiveAnswerer:
    """Answer with the phrase of the retrieved passages that answers the question, or refuse.

    Args:
        embeddings: the model that embeds the question and the sentences.
        min_relevance: refuse when the best sentence scores below this.
        max_sentences: quote at most this many sentences (besides the phrases' own).
        margin: with ``phrases=False``, also quote a sentence scoring within this of the best.
        lexical_weight: weight of the shared-rare-words bonus against cosine similarity.
        term_statistics: in how many passages each term occurs (the BM25 index has it), so
            that rare words weigh more; without it every word weighs the same.
        phrases: answer with phrases; False answers with the best sentences whole.
        phrase_sentences: look for the phrase in this many of the best sentences.
        refusal_threshold: refuse when the near-miss probability is at least this (above 1:
            never on near misses).
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
        phrases: bool = True,
        phrase_sentences: int = 2,
        refusal_threshold: float = REFUSAL_THRESHOLD,
    ) -> None:
        if max_sentences < 1:
            raise ValueError(f"max_sentences must be at least 1, not {max_sentences}")
        self.embeddings = embeddings
        self.min_relevance = min_relevance
        self.max_sentences = max_sentences
        self.margin = margin
        self.lexical_weight = lexical_weight
        self.term_statistics = term_statistics
        self.phrases = phrases
        self.phrase_sentences = phrase_sentences
        self.refusal_threshold = refusal_threshold
        self.phrase_weights = np.array(
            [PHRASE_WEIGHTS.get(name, 0.0) for name in FEATURES], dtype=np.float32
        )
        self.refusal_weights = np.array(
            [REFUSAL_WEIGHTS.get(name, 0.0) for name in nearmiss.SIGNALS], dtype=np.float64
        )
        self._passages: OrderedDict[str, _Sentences] = OrderedDict()
        self._parsed: OrderedDict[_SentenceKey, _Parsed] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def warm(self, passages: Sequence[Document]) -> None:
        """Embed (and, for phrases, parse) the sentences of ``passages`` ahead of the first
        question."""
        prepared = self.prepare(passages)
        if self.phrases:
            texts = dict.fromkeys(p.page_content for p in passages)
            keys = [(t, i) for t in texts for i in range(len(prepared[t].spans))]
            # In small batches: spaCy parses one batch at a time, and a question that comes
            # in meanwhile waits for the batch in progress only, not the whole warm-up.
            for begin in range(0, len(keys), _WARM_BATCH):
                self.parse(prepared, keys[begin : begin + _WARM_BATCH])

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
        (and for the questions, unless their vectors are given), one parsing batch."""
        analyses = self.analyze_many(questions, passages, question_vectors=question_vectors)
        return [self._compose(a) for a in analyses]

    def analyze_many(
        self,
        questions: Sequence[str],
        passages: Sequence[Sequence[Document]],
        *,
        question_vectors: np.ndarray | None = None,
    ) -> list[Analysis]:
        """Score the sentences and, for phrases, the candidate phrases of each question."""
        prepared, analyses = self._scored(questions, passages, question_vectors)
        if not self.phrases:
            return analyses
        # Parse, in one batch, every question's best sentences (only those: the others
        # cannot give the phrase, and spaCy is most of the answerer's time).
        parsed = self.parse(prepared, self._needed(analyses))
        for a in analyses:
            if self._relevant(a):
                self._choose(a, prepared, parsed)
        return analyses

    def unparsed(
        self,
        questions: Sequence[str],
        passages: Sequence[Sequence[Document]],
        *,
        question_vectors: np.ndarray | None = None,
    ) -> list[tuple[_SentenceKey, str]]:
        """The sentences :meth:`answer_many` would parse for these questions that are not
        parsed yet, each with its text: a batch run has them parsed elsewhere ahead
        (:meth:`adopt`) while it answers the batch before."""
        if not self.phrases:
            return []
        prepared, analyses = self._scored(questions, passages, question_vectors)
        with self._lock:
            keys = [k for k in dict.fromkeys(self._needed(analyses)) if k not in self._parsed]
        return [(key, prepared[key[0]].spans[key[1]].text) for key in keys]

    def adopt(
        self, keys: Sequence[_SentenceKey], parsed: Sequence[tuple[SentenceParse, Candidates]]
    ) -> None:
        """Keep sentences parsed elsewhere (``keys`` as :meth:`unparsed` gave them)."""
        with self._lock:
            for key, (parse, spans) in zip(keys, parsed, strict=True):
                self._parsed[key] = _Parsed(parse, spans)

    def _scored(
        self,
        questions: Sequence[str],
        passages: Sequence[Sequence[Document]],
        question_vectors: np.ndarray | None,
    ) -> tuple[dict[str, _Sentences], list[Analysis]]:
        prepared = self.prepare([p for ps in passages for p in ps])
        if question_vectors is None:
            question_vectors = self.embeddings.embed_questions(list(questions))
        analyses = []
        for question, q_vector, ps in zip(questions, question_vectors, passages, strict=True):
            weights = self._term_weights(tokenize(question))
            sentences = self._score(weights, q_vector, [prepared[p.page_content] for p in ps])
            analyses.append(Analysis(analyze(question, weights), list(ps), sentences))
        return prepared, analyses

    def _needed(self, analyses: list[Analysis]) -> list[_SentenceKey]:
        return [
            (a.passages[c.passage_rank].page_content, c.index)
            for a in analyses
            if self._relevant(a)
            for c in self._offered(a)
        ]

    def _relevant(self, analysis: Analysis) -> bool:
        best = analysis.sentences[0].score if analysis.sentences else -1.0
        return best >= self.min_relevance

    def _offered(self, a: Analysis) -> list[_Candidate]:
        """The sentences the phrase is looked for in: the best few, and the best of the
        first passage when none of those is from it (the retriever, which sees the whole
        passage, is right about the first passage more often than one sentence's score is)."""
        best = a.sentences[: self.phrase_sentences]
        if best and all(c.passage_rank != 0 for c in best):
            first = next((c for c in a.sentences if c.passage_rank == 0), None)
            if first is not None:
                best = [*best, first]
        return best

    def _choose(
        self, a: Analysis, prepared: dict[str, _Sentences], parsed: dict[_SentenceKey, _Parsed]
    ) -> None:
        for c in self._offered(a):
            p = parsed[(a.passages[c.passage_rank].page_content, c.index)]
            a.offered.append(
                Offered(c.passage_rank, c.sentence.start, c.sentence.end, c.score, p.parse, p.spans)
            )
        a.rows = feature_rows(a.question, a.offered)
        a.ranked = rank_phrases(a.question, a.offered, self.phrase_weights, a.rows)
        a.chosen = pick(a.question, a.ranked)
        if not a.chosen:
            return
        best = a.chosen[0]
        q = a.question
        runner_up = a.ranked[1].score if len(a.ranked) > 1 else best.score - 1.0
        a.signals = nearmiss.signals(
            q,
            frozenset().union(*(prepared[p.page_content].passage_terms for p in a.passages)),
            best.sentence.parse,
            sentence_score=a.sentences[0].score,
            phrase_score=best.score,
            type_found=bool(
                best.row[FEATURES.index("type_match")] or best.row[FEATURES.index("type_inside")]
            ),
            own_passage_terms=prepared[
                a.passages[best.sentence.passage].page_content
            ].passage_terms,
            phrase_margin=best.score - runner_up,
            phrase_distance=float(best.row[FEATURES.index("log_distance")]),
            phrase_tree_distance=float(best.row[FEATURES.index("tree_distance")]),
        )
        a.refusal = float(1 / (1 + np.exp(-(a.signals @ self.refusal_weights))))

    def parse(
        self, prepared: dict[str, _Sentences], keys: Sequence[_SentenceKey]
    ) -> dict[_SentenceKey, _Parsed]:
        """Parse each sentence once (one spaCy batch for all new ones) and find its
        candidate phrases; later questions reuse them."""
        with self._lock:
            ready = {k: self._parsed[k] for k in keys if k in self._parsed}
        todo = [k for k in dict.fromkeys(keys) if k not in ready]
        if todo:
            parses = parse_sentences(
                [prepared[text].spans[i].text for text, i in todo], batch_size=256
            )
            for key, parse in zip(todo, parses, strict=True):
                ready[key] = _Parsed(parse, find_candidates(parse))
            with self._lock:
                for key in todo:
                    self._parsed[key] = ready[key]
                while len(self._parsed) > self._cache_size * 10:  # sentences, not passages
                    self._parsed.popitem(last=False)
        return ready

    def _score(
        self, weights: dict[str, float], q_vector: np.ndarray, per_passage: list[_Sentences]
    ) -> list[_Candidate]:
        total_weight = sum(weights.values())
        candidates = []
        for rank, sentences in enumerate(per_passage):
            cosines = sentences.vectors @ q_vector
            for index, (span, terms, cosine) in enumerate(
                zip(sentences.spans, sentences.terms, cosines, strict=True)
            ):
                overlap = 0.0
                if total_weight:
                    overlap = sum(w for t, w in weights.items() if t in terms) / total_weight
                score = (1 - self.lexical_weight) * float(cosine) + self.lexical_weight * overlap
                candidates.append(_Candidate(rank, span, score, index))
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
            # By the passage model (int8 where passages are: 2-2.5x faster than fp32 on
            # these CPUs, one sentence per run so a vector never depends on its batch), as
            # when the weights and the refusal threshold were fitted (answer_tuning.py).
            vectors = self.embeddings.embed_passages([s.text for text in todo for s in spans[text]])
            begin = 0
            for text in todo:
                end = begin + len(spans[text])
                terms = [frozenset(tokenize(s.text)) for s in spans[text]]
                ready[text] = _Sentences(
                    spans=spans[text],
                    terms=terms,
                    vectors=vectors[begin:end].copy(),  # not a view: the cache frees it
                    passage_terms=frozenset(normalize(t) for ts in terms for t in ts)
                    | initialisms(re.findall(r"\w+", text)),
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

    def _compose(self, a: Analysis) -> Answer:
        question, passages = a.question.text, a.passages
        if not self._relevant(a):
            return refusal(question, passages)
        if not self.phrases:
            return self._sentences(a)
        if not a.chosen or (a.refusal is not None and a.refusal >= self.refusal_threshold):
            return refusal(question, passages)
        # The phrases' sentences, then the best others: the quotes that show the context.
        quoted: dict[int, dict[tuple[int, int], float]] = {}
        for s in a.chosen:
            quoted.setdefault(s.sentence.passage, {})[(s.sentence.start, s.sentence.end)] = (
                s.sentence.score
            )
        for c in a.sentences[: self.max_sentences]:
            if c.score >= self.min_relevance:
                spans = quoted.setdefault(c.passage_rank, {})
                spans[(c.sentence.start, c.sentence.end)] = c.score
        numbers = {rank: n for n, rank in enumerate(quoted, start=1)}
        text = " ".join(f"{s.text} [{numbers[s.sentence.passage]}]" for s in a.chosen)
        citations = [
            Citation.from_passage(
                numbers[rank],
                passages[rank],
                list(spans),
                score=max(spans.values()),
                answer_spans=[s.passage_span() for s in a.chosen if s.sentence.passage == rank],
            )
            for rank, spans in quoted.items()
        ]
        return Answer(question, text, False, citations, retrieved=passages)

    def _sentences(self, a: Analysis) -> Answer:
        """The answer before phrases: the best sentences whole, each with its marker."""
        candidates = a.sentences
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
                a.passages[rank],
                [(c.sentence.start, c.sentence.end) for c in quoted[rank]],
                score=max(c.score for c in quoted[rank]),
            )
            for rank, n in numbers.items()
        ]
        return Answer(a.question.text, " ".join(parts), False, citations, retrieved=a.passages)
