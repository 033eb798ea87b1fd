import pytest

from assistant.chain import check_question
from assistant.errors import InvalidQuestionError


@pytest.mark.parametrize("question", ["", "   ", "\n\t", None])
def test_empty_questions_are_rejected(question):
    with pytest.raises(InvalidQuestionError, match="empty"):
        check_question(question, max_chars=2000)


def test_long_questions_are_rejected_with_the_limit():
    assert check_question("x" * 2000, max_chars=2000) == "x" * 2000
    with pytest.raises(InvalidQuestionError, match="2,001 characters.*limit is 2,000"):
        check_question("x" * 2001, max_chars=2000)


def test_a_follow_up_is_searched_for_written_out_and_a_fresh_question_as_it_is(
    article_assistant,
):
    # (The resolver itself: tests/test_followup.py.)
    answer = article_assistant.ask(
        "Who is Omar Khawlani?", history=[{"question": "What is Plan T?", "answer": "x [1]"}]
    )
    assert answer.standalone_question == "Who is Omar Khawlani?"
    answer = article_assistant.ask(
        "What does he believe will happen?", history=["Who is Omar Khawlani?"]
    )
    assert answer.standalone_question == "What does Omar Khawlani believe will happen?"
    with pytest.raises(InvalidQuestionError, match="history"):
        article_assistant.ask("What is Plan T?", history="What is Plan T?")


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


def test_ask_gives_the_chains_answer(article_assistant):
    # Assistant.ask calls the chain's steps directly (no Runnable machinery): same answers,
    # same passages and scores, for fresh questions, follow-ups and other k.
    import json

    from .conftest import DATA

    questions = [json.loads(line)["question"] for line in (DATA / "dev_questions.jsonl").open()]
    cases = [{"question": q} for q in questions] + [
        {"question": "What does he believe will happen?", "history": ["Who is Omar Khawlani?"]},
        {"question": "What is Plan T?", "k": 2},
        {"question": "Who is Khaled Hammadi?", "k": 7},
    ]

    def seen(answer) -> tuple:
        shown = answer.to_dict()
        del shown["timings_ms"]
        return shown, [(p.id, p.metadata) for p in answer.retrieved], set(answer.timings_ms)

    for case in cases:
        direct = article_assistant.ask(
            case["question"], history=case.get("history", ()), k=case.get("k")
        )
        chained = article_assistant.chain.invoke(case)
        assert seen(direct) == seen(chained), case
