"""Sentence splitting with character offsets, shared by ingest (long passages) and answer."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? or … (optionally followed by closing quotes or brackets), then
# whitespace, then something that can open a sentence. Requiring the capital (or quote,
# digit) after the space keeps "e.g. the" and "U.S. forces" mostly in one piece.
_SENTENCE_END = re.compile(r"""(?<=[.!?…])["”’')\]]*\s+(?=["“‘'(\[]?[A-Z0-9])""")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc e.g i.e u.s u.k no fig gen col lt sgt rev inc ltd co".split()
)


@dataclass(frozen=True)
class Span:
    """A piece of a larger text: ``text == whole[start:end]``."""

    text: str
    start: int
    end: int


def split_sentences(text: str) -> list[Span]:
    """Split ``text`` into sentences, each with its offsets into ``text``."""
    spans: list[Span] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if _last_word(text, start, match.start()).rstrip(".").lower() in _ABBREVIATIONS:
            continue
        _append_stripped(spans, text, start, match.end())
        start = match.end()
    _append_stripped(spans, text, start, len(text))
    return spans


def _last_word(text: str, start: int, end: int) -> str:
    """The run of non-space characters ending at ``end`` (not reaching back before ``start``).

    Looks back a little at a time: slicing all of ``text[start:end]`` for each full stop
    made a long run of abbreviations ("etc. etc. ...") quadratic.
    """
    step = 32
    while True:
        low = max(start, end - step)
        piece = text[low:end]
        words = piece.rsplit(maxsplit=1)
        if low == start:
            return words[-1] if words else ""
        if words and words[-1] != piece:  # a space before it: the word is whole
            return words[-1]
        step *= 2


def _append_stripped(spans: list[Span], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    left = len(piece) - len(piece.lstrip())
    right = len(piece.rstrip())
    if right > left:
        spans.append(Span(piece[left:right], start + left, start + right))


# A compact English stop list. Single letters other than "a" and "i" stay: "Plan T" must
# match on its "t".
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves s""".split()
)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_stemmer = None


def tokenize(text: str) -> list[str]:
    """Lower-case, drop stop words and stem: the terms BM25 and word overlap compare."""
    global _stemmer
    if _stemmer is None:
        import Stemmer  # PyStemmer: the Snowball stemmers, in C

        _stemmer = Stemmer.Stemmer("english")
    words = [w.replace("’", "'").split("'")[0] for w in _WORD.findall(text.lower())]
    return _stemmer.stemWords([w for w in words if w and w not in _STOPWORDS])
