"""Answers written by a chat model, kept honest: every sentence shown must cite a passage
that supports it (:mod:`assistant.answer.llm_check`), or it is dropped.

The model sees the retrieved passages numbered [1]..[k] (``prompts/answer.md``). Its reply
is streamed and cut into sentences; each is checked as soon as it is complete, then shown
(renumbered by first citation, each citation quoting the passage sentence that supports
it) or dropped with the reason. Whoever listens (:func:`assistant.answer.llm_stream.listen`)
sees each sentence as it is decided.

The model never holds an answer hostage: when its server is down, sends no token within
``timeout`` seconds, fails, or writes nothing that survives the checks, the extractive
answer stands in, with a one-line note saying why. When the model says the passages don't
cover the question, the answer is a refusal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.llm_check import Checked, ClaimChecker
from assistant.answer.llm_stream import (
    CheckedAnswer,
    Dropped,
    ModelTimeout,
    SentenceCutter,
    Shown,
    emit,
    tokens_within,
)
from assistant.answer.types import REFUSAL, Answer, Citation
from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.prompts import load

log = logging.getLogger(__name__)

NOT_COVERED = "NOT_IN_DOCUMENTS"
#: After the model fails, answers skip it for this long (seconds): the extractive answer at
#: once, not another wait for a server that is down or silent.
FAILURE_HOLD_S = 30.0
# The prompt asks for three short sentences; this bounds a model that rambles on.
_MAX_TOKENS = 160


def make_chat_model(
    spec: str,
    *,
    base_url: str | None = None,
    api_key: SecretStr | None = None,
    timeout: float | None = None,
    temperature: float = 0.0,
) -> BaseChatModel:
    """Build the chat model named by ``provider/model`` (``ollama/llama3.2``,
    ``openai/gpt-4o-mini``, ``llamacpp//path/model.gguf``).

    Requests are not retried: a server that fails once is not waited for again, the
    extractive answer is shown instead.

    Raises:
        ConfigError: the spec is malformed, its package is missing, or it needs a key.
    """
    provider, _, model = spec.partition("/")
    if not model:
        raise ConfigError(f"ASSISTANT_LLM={spec!r}: expected provider/model, e.g. ollama/llama3.2")
    try:
        match provider:
            case "ollama":
                from langchain_ollama import ChatOllama

                return ChatOllama(
                    model=model,
                    base_url=base_url,
                    temperature=temperature,
                    num_predict=_MAX_TOKENS,
                    client_kwargs={"timeout": timeout},
                )
            case "openai":
                return _openai(model, base_url, api_key, timeout, temperature)
            case "llamacpp":
                from langchain_community.chat_models import ChatLlamaCpp

                return ChatLlamaCpp(
                    model_path=model,
                    temperature=temperature,
                    max_tokens=_MAX_TOKENS,
                    n_ctx=4096,
                    verbose=False,
                )
    except ImportError as exc:
        raise ConfigError(
            f"ASSISTANT_LLM={spec!r} needs {exc.name}; install it with "
            f"`.venv/bin/pip install -e '.[llm]'` (or `.venv/bin/pip install {exc.name}`)."
        ) from exc
    raise ConfigError(
        f"Unknown LLM provider {provider!r}: use extractive, ollama, openai or llamacpp."
    )


def chat_model_from(settings: Settings) -> BaseChatModel:
    """The chat model ``settings`` configure (``ASSISTANT_LLM`` and its server, key, timeout
    and temperature)."""
    return make_chat_model(
        settings.llm,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key,
        timeout=settings.llm_timeout,
        temperature=settings.llm_temperature,
    )


def _openai(
    model: str,
    base_url: str | None,
    api_key: SecretStr | None,
    timeout: float | None,
    temperature: float,
) -> BaseChatModel:
    from langchain_openai import ChatOpenAI
    from openai import OpenAIError

    # OpenAI's API takes the limit as max_completion_tokens (as langchain-openai sends
    # it); other servers (llama.cpp's, older vLLM) know only max_tokens, and without it
    # a rambling model keeps the server busy long after the answer was given up on.
    limit: dict[str, Any] = (
        {"extra_body": {"max_tokens": _MAX_TOKENS}} if base_url else {"max_tokens": _MAX_TOKENS}
    )
    try:
        return ChatOpenAI(
            model=model,
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=0,
            temperature=temperature,
            **limit,
        )
    except OpenAIError as exc:  # raised when there is no key at all
        raise ConfigError(
            f"ASSISTANT_LLM=openai/{model} needs an API key: set ASSISTANT_LLM_API_KEY "
            "(any value for a local server) or OPENAI_API_KEY."
        ) from exc


class LLMAnswerer:
    """Answer with a chat model, showing only sentences that cite a supporting passage.

    Args:
        model: any LangChain chat model.
        support: the extractive answerer: its sentence scoring checks each citation, and
            its answer stands in when the model's cannot be used.
        timeout: seconds to wait for each token (the first included) before giving up.
        max_sentences: sentences shown at most; the reply is read no further than that,
            nor past three times as many sentences in all (a model repeating itself).
    """

    def __init__(
        self,
        model: BaseChatModel,
        support: ExtractiveAnswerer,
        *,
        timeout: float = 10.0,
        max_sentences: int = 3,
        checker: ClaimChecker | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be greater than 0. Currently, timeout is {timeout}")
        if max_sentences < 1:
            raise ValueError(f"max_sentences must be at least 1. Currently, it is {max_sentences}")
        self.model = model
        self.support = support
        self.timeout = timeout
        self.max_sentences = max_sentences
        self.checker = checker or ClaimChecker(support)
        self.prompt = load("answer", required={"context", "question"})
        # (when, why) the model last failed: for a while after, answers go straight to the
        # extractive one instead of waiting out the timeout again (a circuit breaker).
        self._failed: tuple[float, str] | None = None

    def note_failure(self, exc: Exception) -> None:
        """Remember that the model just failed (e.g. while condensing a follow-up)."""
        self._failed = (time.monotonic(), self._failure(exc))

    def _recent_failure(self) -> str | None:
        failed = self._failed
        if failed is None or time.monotonic() - failed[0] > FAILURE_HOLD_S:
            return None
        return failed[1]

    def warm(self, passages: Sequence[Document]) -> None:
        self.support.warm(passages)

    def answer_many(
        self,
        questions: Sequence[str],
        passages: Sequence[Sequence[Document]],
        *,
        question_vectors: Any = None,  # the LLM reads the questions themselves
    ) -> list[Answer]:
        # One at a time: each gets its own deadline, and one local server answers one
        # request at a time anyway.
        return [self.answer(q, ps) for q, ps in zip(questions, passages, strict=True)]

    def answer(self, question: str, passages: Sequence[Document]) -> CheckedAnswer:
        """Stream the model's answer, checking each sentence as it completes (reported to
        the listener of :func:`~assistant.answer.llm_stream.listen`, if any)."""
        passages = list(passages)
        if not passages:
            return CheckedAnswer(question, REFUSAL, True, [], retrieved=passages)
        prompt = self.prompt.format(context=_context(passages), question=question)
        draft = _Draft(question, passages)
        cutter = SentenceCutter()
        failure: str | None = self._recent_failure()
        if failure is not None:
            return self._fallback(question, passages, draft, failure)
        not_covered = False
        tokens = tokens_within(lambda: self.model.stream(prompt), timeout=self.timeout)
        while not ((not_covered and not draft.parts) or self._enough(draft)):
            try:
                token = next(tokens, None)
            except Exception as exc:  # any failure of the model or its server: fall back
                failure = self._failure(exc)
                self._failed = (time.monotonic(), failure)
                log.warning("chat model failed: %s", failure)
                break
            for sentence in cutter.feed(token) if token is not None else cutter.finish():
                not_covered |= self._take(sentence, draft)
            if token is None:
                break
        tokens.close()  # stops reading a reply that is no longer needed
        if draft.parts:
            note = f"{failure}, so the answer stops here." if failure else None
            return draft.answer(note=note)
        if not_covered and failure is None:
            return CheckedAnswer(question, REFUSAL, True, [], retrieved=passages)
        if failure is None:
            failure = (
                "None of the language model's sentences was supported by the passage it cited"
                if draft.dropped
                else "The language model wrote no answer"
            )
        return self._fallback(question, passages, draft, failure)

    def _fallback(
        self, question: str, passages: list[Document], draft: _Draft, failure: str
    ) -> CheckedAnswer:
        """The extractive answer, with a note saying why it stands in."""
        fallback = self.support.answer(question, passages)
        return CheckedAnswer(
            question,
            fallback.text,
            fallback.refused,
            fallback.citations,
            retrieved=passages,
            dropped=list(draft.dropped),
            note=f"{failure}, so this is the extractive answer.",
            fallback=True,
        )

    def _failure(self, exc: Exception) -> str:
        """What went wrong with the model, in one line: the kind of error and the HTTP
        status, never the message (a server may echo the request, key included)."""
        kind = type(exc).__name__
        if isinstance(exc, ModelTimeout) or "Timeout" in kind:  # ours, or the HTTP client's
            return f"The language model sent nothing for {self.timeout:g} s"
        if "Connection" in kind or isinstance(exc, ConnectionError):
            return "The language model's server could not be reached"
        status = getattr(exc, "status_code", None)
        if status:
            return f"The language model's server answered with an error (HTTP {status})"
        return f"The language model failed ({kind})"

    def _enough(self, draft: _Draft) -> bool:
        read = len(draft.parts) + len(draft.dropped)
        return len(draft.parts) >= self.max_sentences or read >= 3 * self.max_sentences

    def _take(self, sentence: str, draft: _Draft) -> bool:
        """Check one sentence and show or drop it; whether it says the passages don't cover
        the question."""
        if sentence.strip(" .") == NOT_COVERED:
            return True
        if not any(c.isalpha() for c in sentence):
            return False  # list numbering, stray markers: not a sentence
        checked = self.checker.check(sentence, draft.passages)
        if checked.reason is not None:
            dropped = Dropped(sentence, checked.reason)
            draft.dropped.append(dropped)
            emit(dropped)
        else:
            shown = draft.add(checked)
            emit(Shown(shown, draft.answer(), time.perf_counter() - draft.began))
        return False


class _Draft:
    """The answer so far: sentences shown, passages renumbered by first citation."""

    def __init__(self, question: str, passages: list[Document]) -> None:
        self.question = question
        self.passages = passages
        self.parts: list[str] = []
        self.dropped: list[Dropped] = []
        self.numbers: dict[int, int] = {}
        self.quotes: dict[int, dict[tuple[int, int], float]] = {}
        self.began = time.perf_counter()

    def add(self, checked: Checked) -> str:
        markers = ""
        for s in checked.supports:
            markers += f"[{self.numbers.setdefault(s.passage, len(self.numbers) + 1)}]"
            spans = self.quotes.setdefault(s.passage, {})
            spans[s.span] = max(s.score, spans.get(s.span, 0.0))
        shown = f"{checked.claim} {markers}"
        self.parts.append(shown)
        return shown

    def answer(self, *, note: str | None = None) -> CheckedAnswer:
        citations = [
            Citation.from_passage(
                n, self.passages[i], list(self.quotes[i]), score=max(self.quotes[i].values())
            )
            for i, n in self.numbers.items()
        ]
        return CheckedAnswer(
            self.question,
            " ".join(self.parts),
            False,
            citations,
            retrieved=self.passages,
            dropped=list(self.dropped),
            note=note,
        )


def _context(passages: Sequence[Document]) -> str:
    """The passages for the prompt, each numbered before and after: a model that copies a
    passage (small ones do) then ends its last sentence with the right marker."""
    blocks = []
    for n, passage in enumerate(passages, start=1):
        meta = passage.metadata
        where = " · ".join(str(x) for x in (meta.get("title"), meta.get("section")) if x)
        head = f"[{n}] ({where}, paragraph {meta.get('paragraph')})"
        blocks.append(f"{head}\n{passage.page_content} [{n}]")
    return "\n\n".join(blocks)
