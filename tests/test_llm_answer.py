"""Citation checking of LLM answers. The chat model is a fake (this is about parsing and
verifying its reply); the passages, embeddings and support scoring are real."""

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from assistant.answer.llm import LLMAnswerer, make_chat_model
from assistant.errors import ConfigError
from assistant.prompts import load


@pytest.fixture(scope="module")
def passages(article_assistant):
    return article_assistant.retriever.invoke("What is Plan T?")


def _answer(article_assistant, passages, reply: str):
    model = FakeListChatModel(responses=[reply])
    return LLMAnswerer(model, support=article_assistant.answerer).answer(
        "What is Plan T?", passages
    )


def test_supported_sentences_are_kept_and_cite_the_supporting_sentence(article_assistant, passages):
    plan_t = 1 + next(i for i, p in enumerate(passages) if "link the pressures" in p.page_content)
    reply = (
        f"Plan T is an attempt to link the pressures on the militias with the rejection "
        f"of the American forces [{plan_t}]. Bananas are yellow and sweet [{plan_t}]. "
        "This sentence cites nothing."
    )
    answer = _answer(article_assistant, passages, reply)
    assert not answer.refused
    # The same shape as extractive answers: each sentence, then its marker.
    assert answer.text == (
        "Plan T is an attempt to link the pressures on the militias with the "
        "rejection of the American forces. [1]"
    )
    (citation,) = answer.citations
    assert citation.n == 1 and "link the pressures" in citation.quote
    assert citation.quote in citation.text


def test_markers_after_the_full_stop_and_unknown_numbers(article_assistant, passages):
    plan_t = 1 + next(i for i, p in enumerate(passages) if "link the pressures" in p.page_content)
    reply = (
        f"Plan T links the pressures they face to rejecting American forces. [{plan_t}] "
        "The militias also want popular support [99]."
    )
    answer = _answer(article_assistant, passages, reply)
    assert answer.text == "Plan T links the pressures they face to rejecting American forces. [1]"
    assert len(answer.citations) == 1


@pytest.mark.parametrize(
    "reply", ["NOT_IN_DOCUMENTS", "Paris is the capital of France [1].", "No citation at all."]
)
def test_unsupported_or_uncovered_replies_are_refusals(article_assistant, passages, reply):
    answer = _answer(article_assistant, passages, reply)
    assert answer.refused and answer.citations == []


def test_the_answer_prompt_is_checked_when_loaded(tmp_path):
    assert set(load("answer", required={"context", "question"}).input_variables) == {
        "context",
        "question",
    }
    (tmp_path / "bad.md").write_text("Answer {question} from {passages}")
    with pytest.raises(ConfigError, match=r"missing \['context'\], unknown \['passages'\]"):
        load("bad", required={"context", "question"}, directory=tmp_path)
    with pytest.raises(ConfigError, match="missing"):
        load("nope", required={"question"}, directory=tmp_path)


def test_unknown_llm_provider_is_a_config_error():
    with pytest.raises(ConfigError, match="Unknown LLM provider 'gpt'"):
        make_chat_model("gpt/4")
    with pytest.raises(ConfigError, match="provider/model"):
        make_chat_model("ollama")
