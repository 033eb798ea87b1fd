"""What a question asks for: its wh-word, the entity types that can answer it, its terms.

Read with regular expressions and word lists rather than spaCy: questions are short and
formulaic, and parsing ten thousand of them would cost more than everything else the
answerer does with them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from assistant.answer.lexicon import normalize
from assistant.text import tokenize

PEOPLE = frozenset({"PERSON", "ORG", "NORP"})
TIMES = frozenset({"DATE", "TIME"})
PLACES = frozenset({"GPE", "LOC", "FAC"})
AMOUNTS = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT"})

_WH = re.compile(
    r"\b(how\s+(?:many|much|long|old|far|tall|high|big|large|wide|deep|heavy|fast|often)"
    r"|what|which|who|whom|whose|when|where|why|how)\b",
    re.IGNORECASE,
)
_HOW_TYPES: dict[str, frozenset[str]] = {
    "many": AMOUNTS,
    "much": frozenset({"MONEY", "QUANTITY", "PERCENT", "CARDINAL"}),
    "long": frozenset({"DATE", "TIME", "QUANTITY"}),
    "old": frozenset({"DATE", "CARDINAL"}),
    "often": frozenset({"DATE", "TIME", "CARDINAL"}),
}
# The noun after "what"/"which" that names an entity type ("what year", "which city").
_FOCUS_TYPES: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        tokenize("year years date day month century decade era period time season"), TIMES
    ),
    **dict.fromkeys(tokenize("percentage percent proportion"), frozenset({"PERCENT"})),
    **dict.fromkeys(tokenize("number amount population total"), AMOUNTS),
    **dict.fromkeys(tokenize("price cost salary"), frozenset({"MONEY"})),
    **dict.fromkeys(
        tokenize(
            "city country state nation town village province county region place location "
            "continent island capital neighborhood district"
        ),
        frozenset({"GPE", "LOC", "FAC"}),
    ),
    **dict.fromkeys(tokenize("river mountain lake ocean sea desert"), frozenset({"LOC"})),
    **dict.fromkeys(
        tokenize(
            "company organization team university college school party band agency club "
            "newspaper network institution church firm"
        ),
        frozenset({"ORG"}),
    ),
    **dict.fromkeys(
        tokenize(
            "person man woman king queen president leader author scientist player coach "
            "emperor general minister pope bishop architect composer writer"
        ),
        frozenset({"PERSON"}),
    ),
    **dict.fromkeys(tokenize("language"), frozenset({"LANGUAGE", "NORP"})),
    **dict.fromkeys(tokenize("nationality religion ethnicity"), frozenset({"NORP"})),
}
# Words that end the noun phrase after "what"/"which": auxiliaries and prepositions.
_FOCUS_STOP = frozenset(
    """is was are were be been do does did has have had can could will would should may might
    must shall of in on at to for from by with about as that the a an""".split()
)
_AUXILIARIES = frozenset(
    "is was are were be been do does did has have had can could will would should may might".split()
)
# "Who is Khaled Hammadi?", "What is Plan T?": what or who something is.
_DEFINE = re.compile(
    r"^\s*(?:who|what)\s+(?:is|was|are|were)\s+(?!.*\bof\b)(?:\S+\s*){1,4}\??\s*$",
    re.IGNORECASE,
)
DERIVED = ("er", "or", "ion", "ation")
_ACTION = re.compile(r"\bwhat\b.*\b(?:do|doing|done)\b", re.IGNORECASE)
_NAMED = re.compile(r"\bname[ds]?\b|\bcalled\b|\btitled?\b", re.IGNORECASE)
# "What kind of X": the type is X's.
_FOCUS_SKIP = frozenset("kind type sort form name".split())
_NEGATION = re.compile(r"\b(?:not|never|no|none|nor|without)\b|n['’]t\b", re.IGNORECASE)
# Several things asked at once: "plans A and B", "the first and second".
# "What were plans A and B?", "Who are X, Y and Z?": a question that only lists things.
_SEVERAL = re.compile(
    r"^\s*(?:what|who|which)\s+(?:were|are)\s+(?:the\s+)?([^?]+?\s+and\s+[^?]+?)\s*\??\s*$",
    re.IGNORECASE,
)
_CAPITAL_WORD = re.compile(r"[A-Z][\w’'-]*|\w*\d[\w.,]*")


@dataclass(frozen=True)
class Question:
    """A question as the answerer reads it."""

    text: str
    #: "who", "when", "where", "why", "how", "what", "which", "how many", ..., or "" if none.
    wh: str
    #: The entity labels that can answer it; empty when a phrase or clause answers it.
    types: frozenset[str]
    #: Each content term and its weight (rarer terms weigh more).
    weights: Mapping[str, float]
    #: The terms of the noun the wh-word asks about ("what kind of government" → govern).
    focus: frozenset[str]
    #: Capitalised words and numbers: names and figures a passage must mention.
    names: tuple[str, ...]
    negated: bool
    #: Its terms in the order they come (repeats kept).
    order: tuple[str, ...] = ()
    #: Whether the wh-word is the subject ("Who designed it?"), not the object ("What did
    #: she design?") or the complement ("What is it?").
    subject: bool = False
    #: Whether it asks for a name ("What is the name of …", "… called?").
    named: bool = False
    #: Whether it asks what someone did ("What did the leaders do after …?").
    action: bool = False
    #: Capitalised words the stemmer drops ("Plan A"): matched as they are written.
    exact: frozenset[str] = frozenset()
    #: Each term a sentence may use for one of the question's terms, and that term: the
    #: term itself and its agent and action nouns ("lead" → "leader", "elect" →
    #: "election"), which the stemmer keeps apart.
    aliases: Mapping[str, str] = field(default_factory=dict)
    #: For a question about two or three things ("plans A and B"), the words of each.
    parts: tuple[tuple[str, ...], ...] = ()

    @property
    def name_words(self) -> frozenset[str]:
        """The question's names, as written."""
        return frozenset(self.names)

    @property
    def numeric(self) -> bool:
        """Whether it asks for an amount ("how many", "how old"), which takes a number."""
        return (
            self.wh.startswith("how ")
            and self.wh != "how often"
            or self.types <= AMOUNTS
            and bool(self.types)
        )

    @cached_property  # read for every candidate phrase
    def kind(self) -> str:
        """The coarse class of the question, for the span weights: typed kinds first."""
        if _DEFINE.match(self.text) and not self.parts:
            return "define"
        if self.wh in ("who", "whom", "whose"):
            return "who"
        if self.wh in ("when", "where", "why"):
            return self.wh
        if self.types & AMOUNTS:
            return "amount"
        if self.types:
            return "typed"
        if self.wh == "how":
            return "how"
        return "what"


def analyze(question: str, weights: Mapping[str, float]) -> Question:
    """Read ``question``; ``weights`` gives each of its terms' weight (see
    :meth:`ExtractiveAnswerer._term_weights`)."""
    normalized: dict[str, float] = {}
    for term, weight in weights.items():
        key = normalize(term)
        normalized[key] = max(weight, normalized.get(key, 0.0))
    found = _WH.search(question)
    wh = " ".join(found.group(1).lower().split()) if found else ""
    types: frozenset[str] = frozenset()
    focus: tuple[str, ...] = ()
    if wh in ("who", "whom", "whose"):
        types = PEOPLE
    elif wh == "when":
        types = TIMES
    elif wh == "where":
        types = PLACES
    elif wh.startswith("how ") and found:
        types = _HOW_TYPES.get(wh.split()[1], frozenset({"QUANTITY", "CARDINAL"}))
        if wh in ("how many", "how much"):  # the thing counted: "how many seats"
            focus = _focus(question[found.end() :])
    elif wh in ("what", "which") and found:
        focus = _focus(question[found.end() :])
        # The head noun, last, says the type: "what modern-day country" asks for a place.
        for term in reversed(focus):
            if term in _FOCUS_TYPES:
                types = _FOCUS_TYPES[term]
                break
    if _DEFINE.match(question):
        # "Who is Khaled Hammadi?" asks what he is, not for a person; "Plan T" is the subject.
        types, focus = frozenset(), ()
    names = tuple(
        m.group()
        for m in _CAPITAL_WORD.finditer(question)
        if m.start() > 0 and not _WH.fullmatch(m.group())
    )
    return Question(
        text=question,
        wh=wh,
        types=types,
        weights=normalized,
        focus=frozenset(focus),
        names=names,
        negated=bool(_NEGATION.search(question)),
        parts=_parts(question),
        order=tuple(normalize(t) for t in tokenize(question)),
        subject=found is not None and _subject(question[found.end() :]),
        named=bool(_NAMED.search(question)),
        action=bool(_ACTION.search(question)),
        exact=frozenset(name for name in names if not tokenize(name)),
        aliases=_aliases(normalized),
    )


def _aliases(weights: Mapping[str, float]) -> dict[str, str]:
    found: dict[str, str] = {}
    for term in weights:
        for suffix in DERIVED:
            found.setdefault(term + suffix, term)
    found.update({term: term for term in weights})
    return found


def _subject(rest: str) -> bool:
    """Whether the words after the wh-word start with a verb rather than an auxiliary."""
    words = re.findall(r"[\w’'-]+", rest.lower())
    for word in words[:3]:
        if word in _AUXILIARIES:
            return False
        if word.endswith(("ed", "es", "s")) and word not in _FOCUS_STOP:
            return True
    return False


def _focus(rest: str) -> tuple[str, ...]:
    """The noun right after the wh-word ("what year", "which prime minister"), or after
    "is the" ("what is the capital of …"); none when a subject follows ("what did the
    leaders do": the leaders are not what is asked for)."""
    words = re.findall(r"[\w’'-]+", rest.lower())
    if words and words[0] in _AUXILIARIES:
        if words[0] not in ("is", "was", "are", "were") or words[1:2] not in (["the"], ["a"]):
            return ()
        words = words[2:]
    kept: list[str] = []
    for word in words[:4]:
        if word in _FOCUS_SKIP:
            continue
        if word in _FOCUS_STOP:
            if kept:
                break
            continue
        kept.append(word)
        if len(kept) == 2:
            break
    return tuple(t for word in kept for t in tokenize(word))


def _parts(question: str) -> tuple[tuple[str, ...], ...]:
    """The things a question asks for at once: "What were plans A and B?" → (("A",), ("B",)),
    the words that tell them apart, as written; empty for a question about one thing."""
    match = _SEVERAL.match(question)
    if not match:
        return ()
    pieces = [p.split() for p in re.split(r",\s*(?:and\s+)?|\s+and\s+", match.group(1))]
    if not 2 <= len(pieces) <= 3 or any(not p or len(p) > 4 for p in pieces):
        return ()
    shared = set.intersection(*({w.lower() for w in p} for p in pieces))
    # "plans A and B": the head noun is written once, so "B" alone is what tells B apart.
    if len(pieces[0]) > 1 and all(len(p) == 1 for p in pieces[1:]):
        shared |= {w.lower() for w in pieces[0][:-1]}
    parts = tuple(tuple(w for w in p if w.lower() not in shared) for p in pieces)
    return parts if all(parts) and len(set(parts)) == len(parts) else ()
