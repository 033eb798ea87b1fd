"""Answering phrases: answer types, span choice, near-miss refusals and where phrases sit."""

import pytest
from langchain_core.documents import Document

from assistant.answer import nearmiss
from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.markers import cited_sentences, strip_markers
from assistant.answer.parse import parse_sentences
from assistant.answer.question import AMOUNTS, PEOPLE, PLACES, TIMES, analyze
from assistant.answer.spans import KINDS, candidates
from assistant.answer.types import REFUSAL

LIGHTHOUSE = (
    "The Lighthouse of Tarn was built in 1887 on a granite cliff above the harbour. Its lamp "
    "was first lit by the engineer Margit Holm, who had designed the lens herself. The tower "
    "is 34 metres tall and has 212 steps. A museum about the keepers opened in Bergen in 1998. "
    "The lamp was switched off in 1952 because the new radio beacon had made it useless."
)
BEECH = (
    "The copper beech is a variety of the European beech with purple leaves. Its colour comes "
    "from anthocyanin pigments that mask the green chlorophyll. The tree can live for more "
    "than 250 years."
)


# --- answer types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "types"),
    [
        ("Who designed the lens?", PEOPLE),
        ("When was the lighthouse built?", TIMES),
        ("In what year was the lighthouse built?", TIMES),
        ("How many steps does the tower have?", AMOUNTS),
        ("Where did the museum open?", PLACES),
        ("Which city has the museum?", PLACES),
        ("What gives the copper beech its colour?", frozenset()),
        ("Why was the lamp switched off?", frozenset()),
        # "Who is X?" asks what X is: a description, not a person.
        ("Who is Khaled Hammadi?", frozenset()),
    ],
)
def test_the_question_says_which_entity_types_answer_it(question, types):
    assert analyze(question, {}).types == types


def test_a_question_about_several_things_has_its_parts():
    assert analyze("What were plans A and B?", {}).parts == (("A",), ("B",))
    assert analyze("Who are Khaled Hammadi and Omar Khawlani?", {}).parts == (
        ("Khaled", "Hammadi"),
        ("Omar", "Khawlani"),
    )
    assert analyze("What team won between the Broncos and Steelers?", {}).parts == ()


def test_candidates_are_entities_phrases_and_clauses():
    (parse,) = parse_sentences(
        ["The lamp was switched off in 1952 because the new radio beacon had made it useless."]
    )
    found = {
        (parse.text[slice(*parse.char_span(c.start, c.end))], KINDS[kind])
        for c in candidates(parse).spans
        for kind in c.kinds
    }
    assert ("1952", "entity") in found
    assert ("new radio beacon", "noun") in found
    assert ("new radio beacon had made it useless", "reason") in found


# --- span choice ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def answerer(embeddings):
    return ExtractiveAnswerer(embeddings)


def _phrase(answerer, question: str, *texts: str) -> str:
    passages = [Document(page_content=t, metadata={"source": "t.txt"}) for t in texts]
    answer = answerer.answer(question, passages)
    assert not answer.refused, question
    return strip_markers(answer.text)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who designed the lens of the lighthouse?", "Margit Holm"),
        ("When was the Lighthouse of Tarn built?", "1887"),
        ("How many steps does the tower have?", "212"),
        ("Where did the museum about the keepers open?", "Bergen"),
    ],
)
def test_typed_questions_are_answered_with_an_entity_of_their_type(answerer, question, expected):
    assert _phrase(answerer, question, LIGHTHOUSE) == expected


def test_what_and_why_are_answered_with_the_phrase_or_clause_that_holds_the_answer(answerer):
    colour = "Its colour comes from anthocyanin pigments that mask the green chlorophyll."
    what = _phrase(answerer, "What does the colour of the copper beech come from?", colour)
    assert "anthocyanin pigments" in what and len(what.split()) <= 12
    why = _phrase(answerer, "Why was the lamp of the lighthouse switched off?", LIGHTHOUSE)
    assert "radio beacon" in why and len(why.split()) <= 10


def test_a_phrase_never_only_repeats_the_question(answerer):
    phrase = _phrase(answerer, "What is the copper beech a variety of?", BEECH)
    assert "European beech" in phrase or "purple leaves" in phrase
    assert phrase.lower() != "copper beech"


def test_several_things_asked_get_a_phrase_each(article_assistant):
    answer = article_assistant.ask("What were plans A and B?")
    pieces = cited_sentences(answer.text)
    assert len(pieces) == 2
    assert "escalating on the street" in pieces[0].sentence
    assert "military escalation" in pieces[1].sentence


def test_what_someone_did_is_a_verb_phrase_of_their_own_not_someone_elses(answerer):
    text = (
        "The harbour master has not had any word from the keepers since the engineer left. "
        "Rather, the keepers rowed the lamp oil to the mainland for fear of the flood."
    )
    did = _phrase(answerer, "What did the keepers do after the engineer left?", text)
    assert did.startswith("rowed the lamp oil")


def test_an_aside_about_the_named_subject_does_not_answer_what_they_did(answerer):
    text = (
        "The plan was announced by Margit Holm, the chief engineer of the harbour, through "
        "her demand to rebuild the lens and double the light."
    )
    demand = _phrase(answerer, "What did Margit Holm demand?", text)
    assert "rebuild the lens" in demand and "chief engineer" not in demand


def _subject_mismatch(question: str, sentence: str) -> float:
    (parse,) = parse_sentences([sentence])
    terms = analyze(question, {}).order
    q = analyze(question, dict.fromkeys(terms, 1.0))
    values = nearmiss.signals(
        q, q.order, parse, sentence_score=0.5, phrase_score=1.0, type_found=True
    )
    return float(values[nearmiss.SIGNALS.index("subject_mismatch")])


def test_a_sentence_saying_someone_else_did_it_is_a_near_miss():
    # "the agreement … states to withdraw its army": the army withdraws, not the militias.
    swapped = "They demand that Washington abide by the agreement that states to withdraw its army."
    assert _subject_mismatch("When did the militias withdraw from the city?", swapped) == 1.0
    own = "The militias withdrew from the city in 2011."
    assert _subject_mismatch("When did the militias withdraw from the city?", own) == 0.0
    # A pronoun could be anyone, and a passive subject is the question's own.
    assert _subject_mismatch("When did the militias withdraw?", "They withdrew in 2011.") == 0.0
    passive = "The lamp was switched off in 1952 because the radio beacon made it useless."
    assert _subject_mismatch("Why was the lamp switched off?", passive) == 0.0
    # "Who withdrew?" asks for the subject: a different one is the answer, not a miss.
    assert _subject_mismatch("Who withdrew from the city?", own) == 0.0


# --- near misses on the article, and the questions next to them that it answers ------------


@pytest.mark.parametrize(
    ("near_miss", "answerable", "expected"),
    [
        ("How old is Khaled Hammadi?", "Who is Khaled Hammadi?", "researcher in Iraqi affairs"),
        (
            "When did the American forces arrive in Iraq?",
            "When must the American army leave Iraq under the agreement between Baghdad and "
            "Washington?",
            "December 31",
        ),
        (
            "Where was the meeting between al-Kildani and al-Wala'i held?",
            "Who leads Kata'ib Sayyid al-Shuhada?",
            "Abu Ala’ al-Wala’I",
        ),
        (
            "How many seats did the Sadrist movement win?",
            "Which movement won the recent parliamentary elections?",
            "Sadrist movement",
        ),
    ],
)
def test_near_misses_are_refused_and_their_neighbours_answered(
    article_assistant, near_miss, answerable, expected
):
    refused = article_assistant.ask(near_miss)
    assert refused.refused and refused.text == REFUSAL and refused.citations == []
    answered = article_assistant.ask(answerable)
    assert not answered.refused
    assert expected in answered.text
    assert len(strip_markers(answered.text).split()) <= 8


# --- where the phrase sits ------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "What is Plan T?",
        "Who leads the coordinating framework?",
        "When did the sectarian war begin?",
    ],
)
def test_answer_spans_point_at_the_phrase_inside_the_text_and_the_quote(
    article_assistant, question
):
    answer = article_assistant.ask(question)
    assert not answer.refused
    (piece,) = cited_sentences(answer.text)
    (n,) = piece.numbers
    citation = next(c for c in answer.citations if c.n == n)
    (span,) = citation.answer_spans
    assert citation.text[span[0] : span[1]] == piece.sentence
    assert any(a <= span[0] and span[1] <= b for a, b in citation.quote_spans)
    assert piece.sentence in citation.quote
    assert all(not c.answer_spans for c in answer.citations if c.n != n)
