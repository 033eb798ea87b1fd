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


def test_follow_up_uses_the_previous_question(article_assistant):
    answer = article_assistant.ask("Who described it?", history=["What is Plan T?"])
    assert not answer.refused
    assert answer.question == "Who described it?"
    assert any(c.paragraph == 5 for c in answer.citations)
