"""Answers written by a chat model, kept honest: every sentence must cite a passage that
supports it, or it is dropped.

The model sees the retrieved passages numbered [1]..[k] (``prompts/answer.md``). Its reply
is split into sentences; a sentence without a valid marker, or whose best-matching sentence
in the cited passage scores under ``min_relevance``, is removed. What survives is renumbered
by first citation, and each citation quotes the passage sentence that supports it. When
nothing survives, or the model says the passages don't cover the question, it refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel

from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.markers import markers_after_stops, trailing_markers
from assistant.answer.types import Answer, Citation, refusal
from assistant.errors import ConfigError
from assistant.prompts import load
from assistant.text import split_sentences

NOT_COVERED = "NOT_IN_DOCUMENTS"


def make_chat_model(spec: str, *, base_url: str | None = None) -> BaseChatModel:
    """Build the chat model named by ``provider/model`` (``ollama/llama3.2``,
    ``openai/gpt-4o-mini``, ``llamacpp//path/model.gguf``)."""
    provider, _, model = spec.partition("/")
    if not model:
        raise ConfigError(f"ASSISTANT_LLM={spec!r}: expected provider/model, e.g. ollama/llama3.2")
    try:
        match provider:
            case "ollama":
                from langchain_ollama import ChatOllama

                return ChatOllama(model=model, base_url=base_url, temperature=0)
            case "openai":
                from langchain_openai import ChatOpenAI

                return ChatOpenAI(model=model, base_url=base_url, temperature=0)
            case "llamacpp":
                from langchain_community.chat_models import ChatLlamaCpp

                return ChatLlamaCpp(model_path=model, temperature=0, n_ctx=4096, verbose=False)
    except ImportError as exc:
        raise ConfigError(
            f"ASSISTANT_LLM={spec!r} needs {exc.name}; install it with "
            f"`.venv/bin/pip install {exc.name}`."
        ) from exc
    raise ConfigError(
        f"Unknown LLM provider {provider!r}: use extractive, ollama, openai or llamacpp."
    )


class LLMAnswerer:
    """Answer with a chat model, keeping only sentences that cite a supporting passage.

    Args:
        model: any LangChain chat model.
        support: the extractive answerer whose sentence scoring checks each citation.
    """

    def __init__(self, model: BaseChatModel, support: ExtractiveAnswerer) -> None:
        self.model = model
        self.support = support
        self.prompt = load("answer", required={"context", "question"})

    def warm(self, passages: Sequence[Document]) -> None:
        self.support.warm(passages)

    def answer(self, question: str, passages: Sequence[Document]) -> Answer:
        return self.answer_many([question], [passages])[0]

    def answer_many(
        self,
        questions: Sequence[str],
        passages: Sequence[Sequence[Document]],
        *,
        question_vectors: Any = None,  # the LLM reads the questions themselves
    ) -> list[Answer]:
        prompts: list[Any] = [
            self.prompt.format(context=_context(ps), question=q)
            for q, ps in zip(questions, passages, strict=True)
        ]
        replies = self.model.batch(prompts)
        return [
            self._verify(q, list(ps), _text(reply))
            for q, ps, reply in zip(questions, passages, replies, strict=True)
        ]

    def _verify(self, question: str, passages: list[Document], reply: str) -> Answer:
        if not passages or NOT_COVERED in reply:
            return refusal(question, passages)
        kept: list[tuple[str, list[int]]] = []
        for sentence in split_sentences(markers_after_stops(reply).strip()):
            found = trailing_markers(sentence.text)
            if found is None:
                continue  # an uncited sentence is not shown
            claim, marked = found
            cited = [i for i in dict.fromkeys(n - 1 for n in marked) if 0 <= i < len(passages)]
            if claim and claim[-1] not in ".!?":
                claim += "."
            if claim and cited:
                kept.append((claim, cited))
        numbers: dict[int, int] = {}
        quotes: dict[int, dict[tuple[int, int], float]] = {}
        parts = []
        for claim, cited in kept:
            supported = []
            for index in cited:
                span, score = self.support.best_support(claim, passages[index])
                if score >= self.support.min_relevance:
                    supported.append(index)
                    quotes.setdefault(index, {})[span] = max(
                        score, quotes.get(index, {}).get(span, 0)
                    )
            if supported:
                markers = "".join(f"[{numbers.setdefault(i, len(numbers) + 1)}]" for i in supported)
                parts.append(f"{claim} {markers}")
        if not parts:
            return refusal(question, passages)
        citations = [
            Citation.from_passage(n, passages[i], list(quotes[i]), score=max(quotes[i].values()))
            for i, n in numbers.items()
        ]
        return Answer(question, " ".join(parts), False, citations, retrieved=passages)


def _context(passages: Sequence[Document]) -> str:
    blocks = []
    for n, passage in enumerate(passages, start=1):
        meta = passage.metadata
        where = " · ".join(str(x) for x in (meta.get("title"), meta.get("section")) if x)
        blocks.append(f"[{n}] ({where}, paragraph {meta.get('paragraph')})\n{passage.page_content}")
    return "\n\n".join(blocks)


def _text(reply: Any) -> str:
    content = getattr(reply, "content", reply)
    return content if isinstance(content, str) else str(content)
