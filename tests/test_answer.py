import re

import pytest

from assistant.answer.types import REFUSAL


def test_plan_t_is_answered_from_the_passage_that_defines_it(article_assistant):
    answer = article_assistant.ask("What is Plan T?")
    assert not answer.refused
    assert "link the pressures" in answer.text
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
def test_every_sentence_is_verbatim_and_carries_its_marker(article_assistant, question):
    answer = article_assistant.ask(question)
    pieces = re.split(r" \[(\d+)\](?: |$)", answer.text)
    sentences, markers = pieces[0::2][:-1], [int(n) for n in pieces[1::2]]
    assert pieces[-1] == ""  # the answer ends with a marker
    assert 1 <= len(sentences) <= 3
    assert sorted(set(markers)) == list(range(1, len(answer.citations) + 1))
    by_number = {c.n: c for c in answer.citations}
    for sentence, n in zip(sentences, markers, strict=True):
        citation = by_number[n]
        assert sentence in citation.text
        assert sentence in citation.quote
    for citation in answer.citations:
        for start, end in citation.quote_spans:
            assert citation.text[start:end] in citation.quote


def test_follow_up_is_answered_from_its_own_paragraph(article_assistant):
    # "he" is Omar Khawlani, named only in the previous question. That question is answered
    # from paragraph 10, where he is introduced; what he believes is in paragraph 11. A
    # follow-up answered by quoting the previous answer again must fail here.
    previous = "Who is Omar Khawlani?"
    assert [c.paragraph for c in article_assistant.ask(previous).citations] == [10]
    follow_up = "What does he believe will happen?"
    answer = article_assistant.ask(follow_up, history=[previous])
    assert not answer.refused
    assert answer.question == follow_up
    assert answer.citations[0].paragraph == 11
    assert "Khawlani believes that the matters will move" in answer.citations[0].quote
    assert 10 not in [c.paragraph for c in answer.citations]
    # Without the previous question nobody is "he": the history is what answers it.
    assert article_assistant.ask(follow_up).refused
