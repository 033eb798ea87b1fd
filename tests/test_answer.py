import pytest

from assistant.answer.markers import cited_sentences, strip_markers
from assistant.answer.types import REFUSAL


def test_plan_t_is_answered_from_the_passage_that_defines_it(article_assistant):
    answer = article_assistant.ask("What is Plan T?")
    assert not answer.refused
    assert "link the pressures" in answer.text
    # The phrase, not the 70-word sentence it stands in.
    assert len(strip_markers(answer.text).split()) <= 20
    cited = answer.citations[0]
    assert cited.n == 1
    assert "link the pressures" in cited.quote
    assert cited.paragraph == 5
    assert cited.section.startswith("Plan T")
    assert cited.source == "iran-militias-iraq-plan-t.txt"


def test_capital_of_france_is_refused(article_assistant):
    answer = article_assistant.ask("What is the capital of France?")
    assert answer.refused
    assert answer.text == REFUSAL
    assert "don't cover" in answer.text
    assert answer.citations == []


@pytest.mark.parametrize(
    "question",
    [
        "What is Plan T?",
        "What did Muqtada al-Sadr demand?",
        "Why did the militias open the door to recruitment?",
        "What does Khawlani expect between al-Sadr and the militias?",
    ],
)
def test_every_phrase_is_verbatim_and_carries_its_marker(article_assistant, question):
    answer = article_assistant.ask(question)
    pieces = cited_sentences(answer.text)
    assert 1 <= len(pieces) <= 3
    assert all(len(piece.numbers) == 1 for piece in pieces)  # one marker, nothing uncited
    assert answer.text.endswith("]")
    by_number = {c.n: c for c in answer.citations}
    assert pieces[0].numbers == [1]  # the first phrase's passage is [1]
    for piece in pieces:
        citation = by_number[piece.numbers[0]]
        assert piece.sentence in citation.text
        assert piece.sentence in citation.quote  # the quote is the sentence it comes from
        assert [citation.text[a:b] for a, b in citation.answer_spans].count(piece.sentence)
    assert sorted(by_number) == list(range(1, len(answer.citations) + 1))
    for citation in answer.citations:
        for start, end in citation.quote_spans:
            assert citation.text[start:end] in citation.quote


def test_follow_up_is_answered_from_its_own_paragraph(article_assistant):
    # "he" is Omar Khawlani, named only in the previous question. That question is answered
    # from paragraph 10, where he is introduced; what he believes is in paragraph 11. A
    # follow-up answered by quoting the previous answer again must fail here.
    # (citations[0] is the answering phrase's passage; later ones quote other close matches.)
    previous = "Who is Omar Khawlani?"
    assert article_assistant.ask(previous).citations[0].paragraph == 10
    follow_up = "What does he believe will happen?"
    answer = article_assistant.ask(follow_up, history=[previous])
    assert not answer.refused
    assert answer.question == follow_up
    assert answer.citations[0].paragraph == 11
    assert "Khawlani believes that the matters will move" in answer.citations[0].quote
    assert strip_markers(answer.text) in answer.citations[0].quote
    # Without the previous question nobody is "he": the history is what answers it.
    assert article_assistant.ask(follow_up).refused
