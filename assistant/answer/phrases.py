"""The answering phrase: which candidate span of the best sentences answers the question.

Each sentence's candidates (:mod:`assistant.answer.spans`) are described, for a question, by
a few features: does it have the entity type the question asks for, how near is it to the
question's words, does it only repeat them, what kind of span it is and what kind of
question it answers. A linear model whose weights were fitted on the tuning split of SQuAD
(``benchmarks/answer_tuning.py``, :mod:`assistant.answer.weights`) scores them; the best
candidate is the answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assistant.answer.parse import SentenceParse
from assistant.answer.question import AMOUNTS, Question
from assistant.answer.spans import KINDS, Candidate, Candidates, is_content, label_bits

QUESTION_KINDS = ("define", "who", "when", "where", "why", "amount", "typed", "how", "what")
_VERB = KINDS.index("verb")
_REASON = KINDS.index("reason")
_DESCRIPTIONS = frozenset({KINDS.index("appositive"), KINDS.index("predicate")})
_PERSON_BITS = label_bits(frozenset({"PERSON"}))
_GROUP_BITS = label_bits(frozenset({"ORG", "NORP"}))
_TIME_BITS = label_bits(frozenset({"DATE", "TIME"}))
_AMOUNT_BITS = label_bits(AMOUNTS)

#: The features of a candidate, in the order :func:`features` writes them.
FEATURES: tuple[str, ...] = (
    "sentence_score",  # how well its sentence matches the question
    "type_match",  # an entity of a type the question asks for
    "type_inside",  # holds such an entity
    "type_missing",  # neither, for a question that asks for a type
    "question_overlap",  # share of its words that are the question's
    "only_question_words",
    "log_distance",  # tokens to the nearest word of the question
    "tree_distance",  # dependency arcs to it
    "nearby_weight",  # question words around it, weighted
    "log_length",
    "focus",  # holds the noun the question asks about ("what kind of government")
    "negated_sentence",
    "proper_nouns",  # share of proper nouns
    "numbers",
    "after_match",  # comes after the first matched word
    "subject_for_subject",  # a subject, for "Who built it?"
    "subject_for_object",  # a subject, for "What did she build?"
    "object_for_subject",
    "object_for_object",
    "second_sentence",
    "third_sentence",
    "later_passage",  # its sentence is not from the first of the retrieved passages
    "name_asked",  # proper nouns, for "What is the name of …"
    "argument_of_match",  # its head is a word of the question
    "argument_of_matched_verb",
    "described_by_match",  # a clause or aside about it holds question words ("…, which is Plan A")
    "verb_for_action",  # a verb phrase, for "What did they do?"
    "subject_matched",  # a verb phrase whose subject holds question words ("Tehran would …")
    "question_name",  # holds a name the question gives: rarely what it asks for
    "about_match",  # inside a clause or aside about question words ("Plan T, which is …")
    "about_match_not_define",  # the same, for a question that is not "What is X?"
    "appositive_of_match",  # inside an aside about question words ("al-Sadr, the leader …")
    "modified_by_match",  # its preposition holds question words ("clashes [between A and B]")
    "cuts_name",  # ends or starts inside a name ("[MENA Research] and Study Center")
    "subject_other",  # a verb phrase of a subject not the question's ("the militias had …")
    "aside_of_name",  # inside an aside about a name the question gives ("al-Sadr, [the leader]")
    "type_missing_who",  # no person or group, for "Who …?" ("[the militias]" can answer it)
    "verb_of_question",  # a verb phrase whose verb is the question's ("[agreed and postponed it]")
    "verb_length",  # log length of a verb phrase, for a question that is not "What did X do?"
    "name_tree_distance",  # dependency arcs to the nearest name the question gives
    "person_untyped",  # a person, for a question that asks for no type ("What did X agree to?")
    "group_untyped",  # an organisation or nationality, the same
    "time_untyped",  # a date or time, the same
    "amount_untyped",  # a number, the same
    "head_of_question",  # its head word is one the question gives, not the one it asks about
)
_PLAIN = len(FEATURES)
FEATURES += tuple(f"{k}|{q}" for q in QUESTION_KINDS for k in KINDS)


@dataclass(frozen=True, slots=True)
class Offered:
    """A sentence offered to the phrase chooser: its parse, candidates and score."""

    passage: int  # rank of its passage among the retrieved ones
    start: int  # its offset in the passage
    end: int
    score: float
    parse: SentenceParse
    spans: Candidates


@dataclass(frozen=True, slots=True)
class Scored:
    """A candidate of an offered sentence, with its score for one question."""

    score: float
    sentence: Offered
    candidate: Candidate
    row: np.ndarray  # its features

    def passage_span(self) -> tuple[int, int]:
        """(start, end) of the phrase within its passage."""
        start, end = self.sentence.parse.char_span(self.candidate.start, self.candidate.end)
        return self.sentence.start + start, self.sentence.start + end

    @property
    def text(self) -> str:
        start, end = self.sentence.parse.char_span(self.candidate.start, self.candidate.end)
        return self.sentence.parse.text[start:end]


def feature_rows(question: Question, offered: Sequence[Offered]) -> list[np.ndarray]:
    """The feature matrix of each offered sentence's candidates."""
    return [
        features(question, o.parse, o.spans, o.score, rank, o.passage)
        for rank, o in enumerate(offered)
    ]


def rank(
    question: Question,
    offered: Sequence[Offered],
    weights: np.ndarray,
    rows: list[np.ndarray] | None = None,
) -> list[Scored]:
    """The candidates of ``offered`` best first, leaving out those that are only words of
    the question (or no content word at all): they cannot answer it. A why-question is
    answered by a reason clause, "What did they do?" by a verb phrase, and "What/Who is X?"
    by what the sentence says X is (its appositive, predicate, or a clause about it): those
    come first whenever the sentences have one."""
    rows = rows if rows is not None else feature_rows(question, offered)
    only_question = FEATURES.index("only_question_words")
    scored = []
    for sentence, matrix in zip(offered, rows, strict=True):
        if not len(matrix):
            continue
        scores = matrix @ weights
        for c, score, row in zip(sentence.spans.spans, scores, matrix, strict=True):
            if c.content and not row[only_question]:
                scored.append(Scored(float(score), sentence, c, row))
    scored.sort(key=lambda s: (-s.score, s.sentence.passage, s.sentence.start, s.candidate.start))
    # The kinds of span the question calls for first (all of them, when none is there).
    return sorted(scored, key=lambda s: _preference(question, s))


_ABOUT = FEATURES.index("about_match")
_SUBJECT_OTHER = FEATURES.index("subject_other")
_ASIDE_OF_NAME = FEATURES.index("aside_of_name")


def _preference(question: Question, s: Scored) -> tuple[bool, bool]:
    """Sorts first the candidates of the kind the question calls for."""
    kinds = s.candidate.kinds
    if question.kind == "why":
        return _REASON not in kinds, False
    if question.action:
        # "What did the leaders do?": a verb phrase, and not one whose subject is someone
        # else ("the militias had …" does not say what the leaders did).
        return _VERB not in kinds, bool(s.row[_SUBJECT_OTHER])
    if question.kind == "define":
        return not (s.row[_ABOUT] or _DESCRIPTIONS.intersection(kinds)), False
    if question.kind in ("what", "how") and not question.named:
        # "What did al-Sadr demand?": "al-Sadr, the leader of the movement" says who he is,
        # which only "Who is al-Sadr?" asks.
        return bool(s.row[_ASIDE_OF_NAME]), False
    return False, False


def pick(
    question: Question, ranked: Sequence[Scored], *, part_penalty: float = 1.0
) -> list[Scored]:
    """The answering phrase, or one per thing asked for ("What were plans A and B?"):
    for each, the best candidate near that thing's own words and holding none of the
    things' words (a phrase naming B does not say what A is)."""
    if not ranked:
        return []
    parts = question.parts
    letters = tuple(name for name in question.names if len(name) == 1 and name.isupper())
    if not parts and letters:
        # "What was Plan B?": a thing named by a bare letter is what its naming clause
        # describes ("…, which represents Plan B"), like one part of several.
        parts = (letters,)
    if not parts:
        return [ranked[0]]
    every = tuple(w for words in parts for w in words)
    # Per sentence, where each part's words and any part's words stand (candidates share
    # their sentence's words: look each word up once).
    found: dict[int, tuple[list[list[int]], list[bool]]] = {}
    for s in ranked:
        parse = s.sentence.parse
        if id(parse) not in found:
            found[id(parse)] = (
                [[t for t, w in enumerate(parse.words) if _same_word(w, ws)] for ws in parts],
                [_same_word(w, every) for w in parse.words],
            )
    chosen: list[Scored] = []
    for part in range(len(parts)):
        best: tuple[float, Scored] | None = None
        for s in ranked:
            parse, c = s.sentence.parse, s.candidate
            where, naming = found[id(parse)]
            places = where[part]
            if not places or any(naming[c.start : c.end]):
                continue
            # "escalating on the street, which represents Plan A": what the clause naming
            # the thing describes is what the thing is; failing that, what stands near it.
            owners = [_described(parse, t) for t in places]
            chains = [_phrase_heads(parse, o) for o in owners if o is not None]
            if chains:
                # The outermost phrase the clause is about: "escalating on [the street]".
                depth = max(
                    (chain.index(c.root) for chain in chains if c.root in chain), default=-1
                )
                if depth < 0:
                    continue
                value = s.score + 10.0 * depth
            else:
                gap = _gap(places, c.start, c.end)
                if gap is None:
                    continue
                value = s.score - part_penalty * math.log1p(gap)
            if best is None or value > best[0]:
                best = (value, s)
        if best is not None and best[1] not in chosen:
            chosen.append(best[1])
    return chosen or [ranked[0]]


def features(
    question: Question,
    parse: SentenceParse,
    spans: Candidates,
    sentence_score: float,
    rank: int = 0,
    passage: int = 0,
) -> np.ndarray:
    """One row of :data:`FEATURES` per candidate of ``parse``."""
    count = len(spans)
    rows = np.zeros((count, len(FEATURES)), dtype=np.float32)
    if not count:
        return rows
    weights, aliases, focus = question.weights, question.aliases, question.focus
    total = sum(weights.values()) or 1.0
    n = len(parse)
    # Per token: the weight of the question term it matches (0: none), and flags.
    weight = np.zeros(n + 1, dtype=np.float32)
    content_match = np.zeros(n + 1, dtype=np.float32)
    focused = np.zeros(n + 1, dtype=np.float32)
    named = np.zeros(n + 1, dtype=np.float32)
    matched = []
    for t in range(n):
        terms = [aliases[term] for term in parse.terms[t] if term in aliases]
        if terms or parse.words[t] in question.exact:
            matched.append(t)
            weight[t + 1] = max((weights[term] for term in terms), default=1.0)
            content_match[t + 1] = is_content(parse, t)
    if focus:
        for t in range(n):
            focused[t + 1] = any(term in focus for term in parse.terms[t])
    if question.names:
        names = question.name_words
        for t in range(n):
            named[t + 1] = parse.words[t] in names
    distance = np.array(_tree_distances(parse, matched), dtype=np.float32)
    # "escalating on the street, which represents Plan A": the street is described by a
    # clause (or an aside) that holds the question's words.
    described = np.zeros(n + 1, dtype=np.float32)
    for t in matched:
        u = t
        while parse.heads[u] != u:
            if parse.deps[u] in ("relcl", "appos", "acl"):
                described[parse.heads[u] + 1] = 1.0
                break
            u = parse.heads[u]
    # Tokens inside a clause or an aside about a question word: "Plan T, which is based on …".
    about = np.zeros(n + 1, dtype=np.float32)
    aside = np.zeros(n + 1, dtype=np.float32)
    for u in range(n):
        if parse.deps[u] in ("relcl", "appos", "acl") and distance[parse.heads[u]] == 0:
            about[parse.left[u] + 1 : parse.right[u] + 2] = 1.0
            if parse.deps[u] == "appos":
                aside[parse.left[u] + 1 : parse.right[u] + 2] = 1.0
    # Words a prepositional phrase of question words modifies: "confrontations [between
    # al-Sadr and the militias]" answers "What does he expect between al-Sadr and the militias?".
    modified = np.zeros(n, dtype=bool)
    for u in range(n):
        if parse.deps[u] == "prep" and distance[parse.left[u] : parse.right[u] + 1].min() == 0:
            modified[parse.heads[u]] = distance[parse.heads[u]] > 0
    # Verbs whose subject holds question words: "Tehran would abandon them"; and verbs whose
    # subject is named and holds none ("the militias had …", for a question about leaders).
    subject_matched = np.zeros(n, dtype=bool)
    subject_other = np.zeros(n, dtype=bool)
    for t in range(n):
        if parse.deps[t] in ("nsubj", "nsubjpass"):
            if distance[parse.left[t] : parse.right[t] + 1].min() == 0:
                subject_matched[parse.heads[t]] = True
            elif parse.pos[t] != "PRON":
                subject_other[parse.heads[t]] = True
    # Asides about a proper noun of the question: "al-Sadr, [the leader of the movement]".
    aside_name = np.zeros(n + 1, dtype=np.float32)
    for u in range(n):
        h = parse.heads[u]
        if parse.deps[u] == "appos" and distance[h] == 0 and parse.pos[h] == "PROPN":
            aside_name[parse.left[u] + 1 : parse.right[u] + 2] = 1.0
    # Running sums: a span's count of anything is two lookups.
    cum = {
        name: np.cumsum(a)
        for name, a in (
            ("weight", weight),
            ("content", content_match),
            ("focus", focused),
            ("named", named),
            ("described", described),
            ("about", about),
            ("aside", aside),
            ("aside_name", aside_name),
        )
    }
    start, end = spans.start, spans.end
    size = (end - start).astype(np.float32)

    def inside(name: str) -> np.ndarray:
        return cum[name][end] - cum[name][start]

    # Tokens to the nearest matched token outside the span, either side.
    if matched:
        at = np.array(matched)
        left_index = np.searchsorted(at, start) - 1  # last matched before the span
        right_index = np.searchsorted(at, end)  # first matched after it
        left = np.where(left_index >= 0, start - at[np.maximum(left_index, 0)] - 1, n)
        right = np.where(right_index < len(at), at[np.minimum(right_index, len(at) - 1)] - end, n)
        gap = np.minimum(left, right).astype(np.float32)
    else:
        gap = np.full(count, n, dtype=np.float32)
    tree = np.minimum.reduceat(distance[spans.tokens], spans.offsets)
    around = (cum["weight"][np.minimum(end + 8, n)] - cum["weight"][end]) + (
        cum["weight"][start] - cum["weight"][np.maximum(start - 8, 0)]
    )
    shared = inside("content")
    content = spans.content
    types = label_bits(question.types)
    typed = bool(types)
    type_match = (spans.label_bits & types) != 0
    type_inside = ~type_match & ((spans.inside_bits & types) != 0)
    if question.numeric:  # "how many", "how old": an amount needs a number ("Christmas" won't do)
        type_match &= spans.number
        type_inside &= spans.number
    proper_share = spans.proper_share
    roots = spans.root
    argument = (distance[spans.head] == 0) & (spans.head != roots)
    head_is_verb = spans.head_verb
    verbal = (spans.kinds[:, _VERB] + spans.kinds[:, _REASON]) > 0
    subject_q = question.subject
    # The question's names where the sentence has them ("Which militia does [Rayan
    # al-Kildani] lead?"): the answer is what the sentence says about that one.
    name_tokens = [t for t in range(n) if named[t + 1]]
    name_tree: np.ndarray | float = 0.0
    if name_tokens:
        arcs = np.array(_tree_distances(parse, name_tokens), dtype=np.float32)
        name_tree = np.minimum(np.minimum.reduceat(arcs[spans.tokens], spans.offsets), 6) / 6
    untyped = not typed and question.kind != "define"
    columns = (
        sentence_score,
        type_match if typed else 0.0,
        type_inside if typed else 0.0,
        ~(type_match | type_inside) if typed else 0.0,
        np.where(content > 0, shared / np.maximum(content, 1), 1.0),
        (content > 0) & (shared >= content),
        np.log1p(gap),
        np.minimum(tree, 6) / 6,
        around / total,
        spans.log_length,
        inside("focus") > 0,
        float("neg" in parse.deps),
        proper_share,
        spans.number,
        (matched[0] if matched else n) < start,
        spans.subject & subject_q,
        spans.subject & (not subject_q),
        spans.object & subject_q,
        spans.object & (not subject_q),
        rank == 1,
        rank >= 2,
        passage > 0,
        question.named & (proper_share > 0),
        argument,
        argument & head_is_verb,
        inside("described") > 0,
        spans.kinds[:, _VERB] * question.action,
        verbal & subject_matched[roots],
        inside("named") > 0,
        (inside("about") >= size) & (question.kind == "define"),
        (inside("about") >= size) & (question.kind != "define"),
        inside("aside") >= size,
        modified[roots],
        spans.cuts_name,
        verbal & subject_other[roots] & ~subject_matched[roots],
        inside("aside_name") >= size,
        ~(type_match | type_inside) & (question.kind == "who"),
        verbal & (weight[roots + 1] > 0),
        spans.kinds[:, _VERB] * spans.log_length * (not question.action),
        name_tree,
        untyped & ((spans.label_bits & _PERSON_BITS) != 0),
        untyped & ((spans.label_bits & _GROUP_BITS) != 0),
        untyped & ((spans.label_bits & _TIME_BITS) != 0),
        untyped & ((spans.label_bits & _AMOUNT_BITS) != 0),
        ~verbal & (weight[roots + 1] > 0) & (focused[roots + 1] == 0),
    )
    for column, value in enumerate(columns):
        rows[:, column] = value
    kind_offset = _PLAIN + QUESTION_KINDS.index(question.kind) * len(KINDS)
    rows[:, kind_offset : kind_offset + len(KINDS)] = spans.kinds
    return rows


def _described(parse: SentenceParse, token: int) -> int | None:
    """The word that the relative clause or aside holding ``token`` describes, if any."""
    u = token
    while parse.heads[u] != u:
        if parse.deps[u] in ("relcl", "appos", "acl"):
            return parse.heads[u]
        u = parse.heads[u]
    return None


def _phrase_heads(parse: SentenceParse, token: int) -> list[int]:
    """``token`` and the words above it while it is a conjunct or a prepositional object:
    "the street" → "on" → "escalating"; "the threat" → "attempt"."""
    chain = [token]
    while parse.deps[token] in ("conj", "pobj", "prep") and parse.heads[token] != token:
        token = parse.heads[token]
        # A verb above counts only as the head of a gerund phrase ("by [escalating] on …").
        if parse.pos[token] in ("VERB", "AUX") and parse.deps[token] != "pcomp":
            break
        chain.append(token)
    return chain


def _same_word(word: str, words: tuple[str, ...]) -> bool:
    """Whether ``word`` is one of ``words``: letters alone ("A") must match their case,
    or every article "a" would be Plan A."""
    return any(word == w if len(w) == 1 else word.lower() == w.lower() for w in words)


def _gap(matched: list[int], start: int, end: int) -> int | None:
    """Tokens between the span and the nearest matched token outside it (None: none)."""
    best = None
    for t in matched:
        if t < start:
            d = start - t - 1
        elif t >= end:
            d = t - end
        else:
            continue
        if best is None or d < best:
            best = d
    return best


def _tree_distances(parse: SentenceParse, sources: list[int]) -> list[int]:
    """Each token's number of dependency arcs to the nearest token of ``sources``."""
    n = len(parse)
    far = n + 1
    distance = [far] * n
    if not sources:
        return distance
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for t, h in enumerate(parse.heads):
        if h != t:
            neighbours[t].append(h)
            neighbours[h].append(t)
    frontier = list(sources)
    for t in frontier:
        distance[t] = 0
    while frontier:
        following = []
        for t in frontier:
            for u in neighbours[t]:
                if distance[u] == far:
                    distance[u] = distance[t] + 1
                    following.append(u)
        frontier = following
    return distance
