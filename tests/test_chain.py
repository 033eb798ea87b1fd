import pytest

from assistant.chain import check_question, condense_question
from assistant.errors import InvalidQuestionError


@pytest.mark.parametrize("question", ["", "   ", "\n\t", None])
def test_empty_questions_are_rejected(question):
    with pytest.raises(InvalidQuestionError, match="empty"):
        check_question(question, max_chars=2000)


def test_long_questions_are_rejected_with_the_limit():
    assert check_question("x" * 2000, max_chars=2000) == "x" * 2000
    with pytest.raises(InvalidQuestionError, match="2,001 characters.*limit is 2,000"):
        check_question("x" * 2001, max_chars=2000)


def test_condense_only_expands_follow_ups_that_point_back():
    history = ["What is Plan T?"]
    assert condense_question("Who proposed it?", history) == "What is Plan T? Who proposed it?"
    assert condense_question("Who is Omar Khawlani?", history) == "Who is Omar Khawlani?"
    assert condense_question("Who proposed it?", []) == "Who proposed it?"


def test_he_and_she_become_the_person_the_previous_question_names():
    # The follow-up keeps its own ask ("what does … believe"), so it is not answered with
    # what answered "Who is …?" again.
    assert (
        condense_question("What does he believe will happen?", ["Who is Omar Khawlani?"])
        == "What does Omar Khawlani believe will happen?"
    )
    assert (
        condense_question("What is his position?", ["What did Muqtada al-Sadr demand?"])
        == "What is Muqtada al-Sadr’s position?"
    )
    assert condense_question("Who criticised her?", ["Who is Margit Holm?"]) == (
        "Who criticised Margit Holm?"
    )
    # No name to point at: the previous question is the context.
    assert condense_question("What did he say?", ["What is Plan T?"]) == (
        "What is Plan T? What did he say?"
    )


def test_the_chain_is_a_runnable_with_timings(article_assistant):
    from langchain_core.runnables import Runnable

    assert isinstance(article_assistant.chain, Runnable)
    answer = article_assistant.chain.invoke({"question": "  What is Plan T?  "})
    assert answer.question == "What is Plan T?"
    assert set(answer.timings_ms) == {"retrieve", "answer", "total"}
    assert answer.timings_ms["total"] >= answer.timings_ms["retrieve"] > 0
    with pytest.raises(InvalidQuestionError):
        article_assistant.chain.invoke({"question": " "})


def test_k_limits_the_passages_retrieved(article_assistant):
    assert len(article_assistant.ask("What is Plan T?", k=2).retrieved) == 2
    assert len(article_assistant.ask("What is Plan T?", k=6).retrieved) == 6


def test_a_question_with_a_lone_surrogate_is_answered_not_a_crash(article_assistant):
    # Found by benchmarks/reliability.py's fuzzing: "\ud839" is valid JSON for the /ask API,
    # and the tokenizer raised a TypeError on it.
    assert check_question("What is Plan T?\ud839", max_chars=100) == "What is Plan T?\ufffd"
    assert check_question("\ud83d\ude00 ok", max_chars=100) == "\U0001f600 ok"  # a pair, joined
    answer = article_assistant.ask("What is Plan T?\ud839", history=["\udc00 and it?"])
    assert "link the pressures" in answer.text
