"""Features that tell a phrase of the right kind from one the question itself gives: the
distance to the question's names, the entity type an untyped question rarely takes, the
verb or head word that only repeats the question; and what each sentence's candidates
carry, computed once."""

import numpy as np
import pytest

from assistant.answer.parse import parse_sentences
from assistant.answer.phrases import FEATURES, features
from assistant.answer.question import PLACES, analyze
from assistant.answer.spans import candidates
from assistant.text import tokenize

MEETING = (
    "Karl Brenner, the head of the Falcon brigade, met Otto Lind, the leader of the Heron "
    "brigade, in Bergen."
)


def _rows(question: str, sentence: str) -> tuple[dict[str, np.ndarray], object, object]:
    (parse,) = parse_sentences([sentence])
    spans = candidates(parse)
    q = analyze(question, dict.fromkeys(tokenize(question), 1.0))
    matrix = features(q, parse, spans, 0.5)
    columns = {name: matrix[:, i] for i, name in enumerate(FEATURES)}
    return columns, parse, spans


def _index(parse, spans, text: str) -> int:
    for i, c in enumerate(spans.spans):
        start, end = parse.char_span(c.start, c.end)
        if parse.text[start:end] == text:
            return i
    raise AssertionError(f"no candidate {text!r}")


def test_a_phrase_beside_the_name_asked_about_is_nearer_to_it():
    columns, parse, spans = _rows("Which brigade does Karl Brenner lead?", MEETING)
    own = _index(parse, spans, "Falcon brigade")
    other = _index(parse, spans, "Heron brigade")
    assert columns["name_tree_distance"][own] < columns["name_tree_distance"][other]


def test_without_a_name_in_the_sentence_the_name_distance_is_zero():
    columns, _, _ = _rows("Which brigade does Hanna Berg lead?", MEETING)
    assert not columns["name_tree_distance"].any()


def test_a_person_for_a_question_that_asks_for_no_type_is_marked():
    columns, parse, spans = _rows("What did Otto Lind agree to?", MEETING)
    person = _index(parse, spans, "Karl Brenner")
    assert columns["person_untyped"][person] == 1.0
    # "Who …?" asks for a person: no mark.
    columns, parse, spans = _rows("Who met Otto Lind?", MEETING)
    assert not columns["person_untyped"].any()


def test_a_phrase_of_no_person_for_who_is_marked_apart():
    sentence = "All the accusations are headed on the militias."
    columns, parse, spans = _rows("Who is accused of the attack?", sentence)
    militias = _index(parse, spans, "militias")
    assert columns["type_missing_who"][militias] == 1.0
    assert columns["type_missing"][militias] == 1.0
    columns, parse, spans = _rows("When were they accused?", sentence)
    assert not columns["type_missing_who"].any()


def test_a_verb_phrase_of_the_question_s_own_verb_is_marked():
    sentence = "The council agreed to postpone the vote until spring."
    columns, parse, spans = _rows("What did the council agree to?", sentence)
    agreed = _index(parse, spans, "agreed to postpone the vote until spring")
    postpone = _index(parse, spans, "postpone the vote until spring")
    assert columns["verb_of_question"][agreed] == 1.0
    assert columns["verb_of_question"][postpone] == 0.0
    assert columns["verb_length"][agreed] > 0


def test_a_phrase_whose_head_the_question_gives_is_marked_unless_asked_about():
    columns, parse, spans = _rows("What does the researcher expect between the two?", MEETING)
    assert not columns["head_of_question"].any()
    columns, parse, spans = _rows("Who leads the Heron brigade?", MEETING)
    assert columns["head_of_question"][_index(parse, spans, "Heron brigade")] == 1.0
    # "Which brigade …?" asks about a brigade: one is what it wants.
    columns, parse, spans = _rows("Which brigade does Karl Brenner lead?", MEETING)
    assert columns["head_of_question"][_index(parse, spans, "Falcon brigade")] == 0.0


def test_candidates_carry_what_does_not_depend_on_the_question():
    (parse,) = parse_sentences(["The MENA Research and Study Center counted 212 members."])
    spans = candidates(parse)
    whole = _index(parse, spans, "MENA Research and Study Center")
    count = _index(parse, spans, "212 members")
    assert spans.proper_share[whole] == pytest.approx(4 / 5)  # all but "and"
    assert spans.number[count] and not spans.number[whole]
    assert not spans.cuts_name[whole]
    assert all(
        spans.cuts_name[i]
        for i, c in enumerate(spans.spans)
        if parse.text[slice(*parse.char_span(c.start, c.end))] == "MENA Research"
    )


def test_the_head_noun_of_a_two_word_focus_gives_the_type():
    # The last word of "modern-day country" is the noun asked about: a place, not a time
    # ("day"), whatever order a set of the two would have.
    assert analyze("What modern-day country was Tesla born in?", {}).types == PLACES
