"""The compact sentence parses: the same as spaCy's own pipeline makes, only faster.

``parse_sentences`` skips spaCy's ``attribute_ruler`` (it applies the ruler's patterns
itself) and reads the ``Doc`` as arrays; these tests hold it to what the whole pipeline,
ruler included, gives when read token by token. Real model, no fakes.
"""

from __future__ import annotations

import pytest

from assistant.answer import parse
from assistant.answer.lexicon import initialisms, terms_of
from assistant.answer.parse import SentenceParse, parse_sentences

SENTENCES = [
    # empty, blank and odd whitespace: the ruler retags spaces
    "",
    " ",
    "  \n ",
    "\t",
    "Paris",
    "Stop.",
    "The cat sat on the mat.",
    "a  b\n\nc d",
    "The U.S. and the U.K. signed the treaty in Geneva on 4 May 1919.  ",
    # entities, numbers, money, percentages, dates
    "Barack Obama was born in Honolulu, Hawaii, on August 4, 1961.",
    "The Denver Broncos defeated the Carolina Panthers 24–10 to earn their third Super Bowl title.",
    "Apple paid $3.2 billion, or about 12% of its cash, for Beats Electronics in 2014.",
    "Around 1,500 people, roughly two thirds of the town, left between 1840 and the 1850s.",
    "The Bank of England raised rates to 5.25 per cent at 10:30 a.m. on Thursday.",
    "Its population was 8,405,837 in 2013, according to the United States Census Bureau.",
    "World War II ended in 1945, when Japan surrendered aboard the USS Missouri.",
    # coordination, relative clauses, subordinate clauses
    "Tom and Jerry chased cats, dogs and mice but never caught any.",
    "The engineer who designed the lens, which was made in France, lived in Oslo.",
    "The book that I read last week was written by a woman whose father was a sailor.",
    "Because the river flooded, the bridge that connects the two towns was closed.",
    "If it rains, we will stay at home unless you want to go out.",
    "He said that the plan would work, although nobody believed him.",
    "Whether or not they agree, the law takes effect once the king signs it.",
    # auxiliaries, do/have as verbs, expletive there, negation, contractions
    "There is a cat on the roof and there were dogs in the yard.",
    "There's nothing anyone can do about it, isn't there?",
    "I didn't do it, but he did, and they have done it before.",
    "She has a car and had been driving it for years.",
    "They do their homework every day; do you?",
    "It's been said that he'd have gone if he could've.",
    "We're not sure what you'll do, but we won't stop you.",
    "Ain't nobody gonna tell me what I can't do, y'all.",
    "Being a doctor, he is well paid, but not everyone is.",
    "But the army, but not the navy, was ready.",
    "Something happened to everyone, and nobody knew anything about it.",
    "This is the one that works; those are the ones that don't.",
    "That was all that mattered: that, and the money.",
    "Here and then there, once upon a time, lived a king.",
    # quotes, brackets, punctuation, symbols
    '"We shall fight on the beaches," said Churchill in June 1940.',
    "The word ‘quark’ comes from James Joyce’s novel Finnegans Wake.",
    "Oxygen (O2) makes up about 21% of Earth's atmosphere [citation needed].",
    "The equation E = mc² links mass and energy — a key idea of relativity.",
    "See pp. 12–15, e.g. Fig. 3; cf. Smith et al. (2004) & Jones (2010)!",
    "Email info@example.com or visit https://example.com/about?id=3 #help",
    "@user LOL :) that's sooo cool!!! #winning",
    # questions, imperatives, passives, long and unusual sentences
    "Who wrote the Declaration of Independence?",
    "Which river flows through Cairo and into the Mediterranean Sea?",
    "Open the door, put the box down, and leave.",
    "The Magna Carta was sealed by King John at Runnymede in 1215.",
    "In 1066, William, Duke of Normandy, invaded England, defeated Harold at Hastings, and "
    "was crowned king, an event that changed the English language, law and architecture "
    "for centuries to come.",
    "Der Hund bellt, le chat dort, and the dog barks.",
    "ALL CAPS HEADLINE ABOUT NASA AND THE FBI",
    "the lowercase sentence without any capital letters mentions new york and london",
    "1. 2. 3.",
    "--",
]


def _reference(doc) -> SentenceParse:
    """A Doc of spaCy's whole pipeline, read token by token (how parse.py used to)."""
    words = [t.text for t in doc]
    try:
        chunks = tuple((c.start, c.end) for c in doc.noun_chunks)
    except ValueError:  # no parse
        chunks = ()
    return SentenceParse(
        text=doc.text,
        words=tuple(words),
        offsets=tuple(t.idx for t in doc),
        terms=tuple(terms_of(w) for w in words),
        pos=tuple(t.pos_ for t in doc),
        tags=tuple(t.tag_ for t in doc),
        deps=tuple(t.dep_ for t in doc),
        heads=tuple(t.head.i for t in doc),
        left=tuple(t.left_edge.i for t in doc),
        right=tuple(t.right_edge.i for t in doc),
        entities=tuple((e.start, e.end, e.label_) for e in doc.ents),
        chunks=chunks,
        initials=frozenset(initialisms(words)),
    )


@pytest.fixture(scope="module")
def expected() -> list[SentenceParse]:
    nlp = parse.pipeline()
    assert "attribute_ruler" in nlp.pipe_names
    return [_reference(doc) for doc in nlp.pipe(SENTENCES)]


def _check(got: list[SentenceParse], expected: list[SentenceParse]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g == e, e.text


def test_parses_are_spacys_own(expected):
    _check(parse_sentences(SENTENCES), expected)


def test_the_ruler_patterns_are_all_reproduced():
    # Were one not understood, parse_sentences would run spaCy's ruler (slower, still right).
    assert parse._the_ruler(parse.pipeline()) is not None


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_parses_do_not_depend_on_batching(expected, batch_size):
    _check(parse_sentences(SENTENCES, batch_size=batch_size), expected)


def test_patterns_of_two_tokens_are_applied():
    # "There is": the ruler's pattern [expl, is] makes "is" a VERB, not an AUX.
    (there,) = parse_sentences(["There is a cat."])
    assert there.deps[0] == "expl"
    assert there.pos[:2] == ("PRON", "VERB")


def test_without_the_shortcut_the_pipeline_gives_the_same(expected, monkeypatch):
    monkeypatch.setattr(parse, "_ruler", parse._NO_RULER)
    _check(parse_sentences(SENTENCES), expected)
