"""Candidate answering phrases of a sentence, found once when it is parsed.

Its named entities; its noun phrases, bare and with their modifiers (and, when long, their
core: the noun with its arguments but without relative clauses and asides); its verb
phrases; the predicate of "X is Y"; the appositive of "X, a Y,"; the objects of verbs and
prepositions; reason and purpose clauses ("because …", "to …"). The same span found in
several ways is one candidate with several kinds. Each sentence's candidates come with the
arrays :func:`assistant.answer.phrases.features` computes on, so that scoring them for a
question is a few vector operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assistant.answer.parse import SentenceParse

KINDS = ("entity", "noun", "noun+", "verb", "predicate", "appositive", "reason", "object")
#: The entity labels of the English pipeline, for bit masks.
LABELS = (
    "CARDINAL",
    "DATE",
    "EVENT",
    "FAC",
    "GPE",
    "LANGUAGE",
    "LAW",
    "LOC",
    "MONEY",
    "NORP",
    "ORDINAL",
    "ORG",
    "PERCENT",
    "PERSON",
    "PRODUCT",
    "QUANTITY",
    "TIME",
    "WORK_OF_ART",
)
# Parts of speech that carry no content of their own.
_FUNCTION = frozenset({"DET", "PUNCT", "ADP", "CCONJ", "SCONJ", "PART", "PRON", "AUX", "SPACE"})
_REASON_MARKS = frozenset({"because", "since", "as", "so"})
# Children that belong to a noun phrase's core: "the leader [of the militia]".
_NOUN_CORE = frozenset({"prep", "compound", "amod", "nummod", "nmod", "quantmod", "poss"})
# Children that belong to a verb phrase's core: "[launch] strikes [against sites]".
_VERB_CORE = frozenset(
    {"dobj", "prep", "attr", "acomp", "xcomp", "ccomp", "prt", "dative", "oprd", "agent", "pobj"}
)
# Children kept in a phrase's core, however deep: they only modify the word above them.
_MODIFIERS = frozenset(
    {"compound", "amod", "nummod", "quantmod", "poss", "det", "case", "neg", "aux", "auxpass"}
)
# Children kept in a phrase's core to a limited depth: its arguments and their own.
_ARGUMENTS = frozenset(
    {"prep", "pobj", "pcomp", "dobj", "attr", "acomp", "xcomp", "prt", "dative", "oprd"}
    | {"agent", "acl", "nmod", "ccomp"}
)
_MAX_TOKENS = 25
# The clauses a "to" infinitive can head that say what something is for.
_PURPOSES = frozenset({"advcl", "xcomp", "acl", "relcl"})


@dataclass(frozen=True, slots=True)
class Candidate:
    """A span of a sentence that may answer a question: tokens ``start`` .. ``end - 1``."""

    start: int
    end: int
    #: The ways it was found (indices into :data:`KINDS`).
    kinds: tuple[int, ...]
    #: The entity label of an entity span, else "".
    label: str
    #: Its head token (whose dependency arc links it to the rest of the sentence).
    root: int
    #: How many content words (not determiners, pronouns, prepositions...) it has.
    content: int


@dataclass(frozen=True)
class Candidates:
    """A sentence's candidates, and what scoring them needs, one array entry each."""

    spans: tuple[Candidate, ...]
    start: np.ndarray
    end: np.ndarray
    #: One row per candidate, a 1 for each of its kinds.
    kinds: np.ndarray
    #: Its head token's head (a preposition's head, for "in [1887]").
    head: np.ndarray
    #: Its own head token (:attr:`Candidate.root`).
    root: np.ndarray
    #: Whether ``head`` is a verb or an auxiliary.
    head_verb: np.ndarray
    #: The share of its tokens that are proper nouns.
    proper_share: np.ndarray
    #: Whether it holds a number.
    number: np.ndarray
    #: Whether it starts or ends inside a name ("[MENA Research] and Study Center").
    cuts_name: np.ndarray
    subject: np.ndarray
    object: np.ndarray
    log_length: np.ndarray
    content: np.ndarray
    #: Bit ``LABELS.index(label)`` set for the span's own entity label.
    label_bits: np.ndarray
    #: The same bits for every entity inside it.
    inside_bits: np.ndarray
    #: The tokens of every span one after another, and where each span's begin.
    tokens: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.spans)


def is_content(parse: SentenceParse, token: int) -> bool:
    """Whether a token carries content: not a function word, and a term of its own."""
    return parse.pos[token] not in _FUNCTION and bool(parse.terms[token])


def label_bits(labels: frozenset[str]) -> int:
    """The bit mask of entity labels (see :data:`LABELS`)."""
    return sum(1 << LABELS.index(label) for label in labels if label in LABELS)


def candidates(parse: SentenceParse) -> Candidates:
    """Every candidate span of a sentence (question-independent: computed once)."""
    found: dict[tuple[int, int], tuple[set[int], str]] = {}

    def add(start: int, end: int, kind: str, label: str = "") -> None:
        start, end = _trim(parse, start, end)
        if 0 <= start < end and end - start <= _MAX_TOKENS:
            kinds, known = found.setdefault((start, end), (set(), label))
            kinds.add(KINDS.index(kind))
            if label and not known:
                found[(start, end)] = (kinds, label)

    n = len(parse)
    children: list[list[int]] = [[] for _ in range(n)]
    for t, h in enumerate(parse.heads):
        if h != t:
            children[h].append(t)

    def core(token: int, depth: int) -> tuple[int, int]:
        """``token`` with its modifiers and, ``depth`` arguments deep, its arguments: the
        phrase without its relative clauses, asides and coordinated clauses."""
        low, high = token, token + 1
        for child in children[token]:
            dep = parse.deps[child]
            if dep in _MODIFIERS or (depth > 0 and dep in _ARGUMENTS):
                # A preposition and its object are one step: "based [on an attempt]".
                a, b = core(child, depth if dep in _MODIFIERS or dep == "prep" else depth - 1)
                low, high = min(low, a), max(high, b)
        return low, high

    def whole(token: int, kind: str) -> None:
        """The token's subtree, and its core when the subtree runs long."""
        add(parse.left[token], parse.right[token] + 1, kind)
        if parse.right[token] + 1 - parse.left[token] > 8:
            add(*core(token, 2), kind)

    for start, end, label in parse.entities:
        add(start, end, "entity", label)
    for start, end in parse.chunks:
        add(start, end, "noun")
        root = _head_of(parse, start, end)
        add(start, _core_end(parse, root, _NOUN_CORE), "noun+")
        add(*core(root, 2), "noun+")
        # "Queen Victoria and Prince Albert": a noun with the nouns coordinated with it.
        conjuncts = [
            t
            for t in range(root + 1, parse.right[root] + 1)
            if parse.heads[t] == root and parse.deps[t] == "conj"
        ]
        if conjuncts:
            # An entity the tagger cut short ("MENA Research [and Study Center]") keeps its label.
            label = next((lab for s, e, lab in parse.entities if s == start and e > root), "")
            add(start, parse.right[conjuncts[-1]] + 1, "noun+", label)
    for i in range(n):
        dep, pos = parse.deps[i], parse.pos[i]
        if pos in ("VERB", "AUX") and dep != "aux":
            first = i
            if i > 0 and parse.words[i - 1].lower() == "to":
                first = i - 1
            add(first, _core_end(parse, i, _VERB_CORE), "verb")
            add(first, core(i, 3)[1], "verb")
        if dep in ("attr", "acomp", "oprd"):
            whole(i, "predicate")
        elif dep == "appos":
            whole(i, "appositive")
        elif dep in ("pobj", "pcomp", "dobj"):
            whole(i, "object")
        word = parse.words[i].lower()
        if word in _REASON_MARKS and dep in ("mark", "advmod", "prep", "cc"):
            # "because it coincides with …": the clause after the mark.
            head = parse.heads[i]
            end = parse.right[head] + 1 if head > i else parse.right[i] + 1
            add(i + 1, end, "reason")
            if head > i:
                add(i + 1, core(head, 2)[1], "reason")
        elif word == "to" and dep == "aux" and parse.deps[parse.heads[i]] in _PURPOSES:
            # "… to attract Iraqi youth": a purpose (or what an attempt, a demand is for).
            add(i + 1, core(parse.heads[i], 2)[1], "reason")
    spans = []
    for (start, end), (kinds, label) in sorted(found.items()):
        content = sum(1 for t in range(start, end) if is_content(parse, t))
        spans.append(
            Candidate(start, end, tuple(sorted(kinds)), label, _head_of(parse, start, end), content)
        )
    return _arrays(parse, tuple(spans))


def _arrays(parse: SentenceParse, spans: tuple[Candidate, ...]) -> Candidates:
    kinds = np.zeros((len(spans), len(KINDS)), dtype=np.float32)
    for row, c in enumerate(spans):
        kinds[row, list(c.kinds)] = 1.0
    heads = []
    for c in spans:
        head = parse.heads[c.root]
        if parse.pos[head] == "ADP":  # "built [in [1887]]": the preposition's head
            head = parse.heads[head]
        heads.append(c.root if head == c.root else head)
    deps = [parse.deps[c.root] for c in spans]
    start = np.array([c.start for c in spans], dtype=np.int64)
    end = np.array([c.end for c in spans], dtype=np.int64)
    n = len(parse)
    proper = np.zeros(n + 1, dtype=np.float32)
    number = np.zeros(n + 1, dtype=np.float32)
    proper[1:] = [p == "PROPN" for p in parse.pos]
    number[1:] = [p == "NUM" for p in parse.pos]
    proper, number = np.cumsum(proper), np.cumsum(number)
    joined = _name_joins(parse)
    return Candidates(
        spans=spans,
        start=start,
        end=end,
        kinds=kinds,
        head=np.array(heads, dtype=np.int64),
        root=np.array([c.root for c in spans], dtype=np.int64),
        head_verb=np.array([parse.pos[h] in ("VERB", "AUX") for h in heads], dtype=bool),
        proper_share=(proper[end] - proper[start]) / np.maximum(end - start, 1),
        number=(number[end] - number[start]) > 0,
        cuts_name=joined[np.maximum(start - 1, 0)] & (start > 0) | joined[np.maximum(end - 1, 0)],
        subject=np.array([d in ("nsubj", "nsubjpass") for d in deps], dtype=bool),
        object=np.array([d in ("dobj", "attr", "oprd", "pobj") for d in deps], dtype=bool),
        log_length=np.log(np.array([c.end - c.start for c in spans], dtype=np.float32)),
        content=np.array([c.content for c in spans], dtype=np.float32),
        label_bits=np.array([label_bits(frozenset({c.label})) for c in spans], dtype=np.int64),
        inside_bits=np.array(
            [
                label_bits(
                    frozenset(lab for s, e, lab in parse.entities if s < c.end and e > c.start)
                )
                for c in spans
            ],
            dtype=np.int64,
        ),
        tokens=np.array([t for c in spans for t in range(c.start, c.end)], dtype=np.int64),
        offsets=np.cumsum([0] + [c.end - c.start for c in spans][:-1]).astype(np.int64),
    )


def _name_joins(parse: SentenceParse) -> np.ndarray:
    """Whether token t and t + 1 belong to one name: runs of proper nouns, joined by "and"
    or "of" when capitals follow ("MENA Research and Study Center")."""
    n = len(parse)
    joined = np.zeros(n + 1, dtype=bool)
    for t in range(n - 1):
        if parse.pos[t] == "PROPN" and parse.pos[t + 1] == "PROPN":
            joined[t] = True
        elif (
            t + 2 < n
            and parse.pos[t] == "PROPN"
            and parse.words[t + 1] in ("and", "of", "&")
            and parse.pos[t + 2] == "PROPN"
            and parse.words[t + 2][:1].isupper()
        ):
            joined[t] = joined[t + 1] = True
    return joined


def _trim(parse: SentenceParse, start: int, end: int) -> tuple[int, int]:
    """Drop leading determiners and punctuation and trailing punctuation: "the", ", ",
    "their" do not answer anything."""
    while start < end and (
        parse.pos[start] in ("PUNCT", "DET", "CCONJ", "SCONJ") or parse.tags[start] == "PRP$"
    ):
        start += 1
    while end > start and parse.pos[end - 1] in ("PUNCT", "CCONJ", "ADP"):
        end -= 1
    return start, end


def _head_of(parse: SentenceParse, start: int, end: int) -> int:
    """The token of ``start`` .. ``end - 1`` whose head lies outside it (the first one)."""
    for t in range(start, end):
        if not start <= parse.heads[t] < end or parse.heads[t] == t:
            return t
    return start


def _core_end(parse: SentenceParse, token: int, core: frozenset[str]) -> int:
    """The end of ``token`` with its core children to the right (and theirs, whole)."""
    end = token + 1
    for child in range(token + 1, parse.right[token] + 1):
        if parse.heads[child] == token and parse.deps[child] in core:
            end = max(end, parse.right[child] + 1)
    return end
