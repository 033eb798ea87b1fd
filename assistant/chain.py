"""Question → (a follow-up written out in full from the history) → retrieve → answer, as one
LangChain ``Runnable``.

Only the chain lives here; :mod:`assistant.assemble` builds its pieces from ``Settings``.
The follow-up resolver is :mod:`assistant.followup` (offline), or a chat model with
``prompts/condense.md`` when one is configured.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from langchain_core.documents import Document
from langchain_core.runnables import Runnable, RunnableLambda

from assistant.answer.markers import strip_markers
from assistant.answer.types import Answer
from assistant.errors import InvalidQuestionError
from assistant.followup import MAX_TURNS, Turn, resolve
from assistant.retrieve import HybridRetriever

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

# A lone UTF-16 surrogate ("\ud839" in a JSON request is valid JSON) is not text: the
# tokenizer refuses it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def check_question(question: Any, *, max_chars: int) -> str:
    """Return the question stripped, or raise a message that says what to change.

    Raises:
        InvalidQuestionError: the question is empty, whitespace, or longer than ``max_chars``.
    """
    if not isinstance(question, str) or not question.strip():
        raise InvalidQuestionError("The question is empty; type a question about the documents.")
    question = _as_text(question).strip()
    if len(question) > max_chars:
        raise InvalidQuestionError(
            f"The question is {len(question):,} characters long; the limit is {max_chars:,}. "
            "Ask something shorter."
        )
    return question


#: Writes a follow-up out in full from the conversation (an LLM with prompts/condense.md).
Condenser = Callable[[str, Sequence[Turn]], str]


def as_turns(history: Any) -> list[Turn]:
    """Read a conversation so far: a list of turns, oldest first.

    A turn is a :class:`Turn`, a ``{"question": …, "answer": …}`` mapping, a
    ``[question, answer]`` pair, or a bare question (an answer not kept). Anything else
    (and empty questions) is refused with a message that says what is expected.

    Raises:
        InvalidQuestionError: ``history`` is not a list of turns.
    """
    if history is None:
        return []
    if not isinstance(history, list | tuple):
        raise InvalidQuestionError(
            'history must be a list of earlier turns, each {"question": …, "answer": …}.'
        )
    turns = []
    question: Any
    answer: Any
    for item in history:
        if isinstance(item, Turn):
            question, answer = item.question, item.answer
        elif isinstance(item, str):
            question, answer = item, ""
        elif isinstance(item, dict):
            question, answer = item.get("question"), item.get("answer") or ""
        elif isinstance(item, list | tuple) and len(item) == 2:
            question, answer = item
        else:
            question, answer = None, None
        if not isinstance(question, str) or not isinstance(answer, str):
            raise InvalidQuestionError(
                'Each turn of the history must be {"question": text, "answer": text} '
                f"(or [question, answer]), not {str(item)[:60]!r}."
            )
        if question.strip():
            turns.append(Turn(_as_text(question).strip(), _as_text(answer).strip()))
    return turns


def standalone_question(
    question: str, history: Sequence[Turn], *, condense: Condenser | None = None
) -> str:
    """The follow-up ``question`` written out in full from ``history``, for retrieval and
    answering; a question that needs no history comes back as it is.

    With ``condense`` (an LLM), that writes it; should it fail or return nothing usable,
    the offline resolver (:func:`assistant.followup.resolve`) does.
    """
    if not history:
        return question
    if condense is not None:
        try:
            written = condense(question, history).strip().strip('"').strip()
            if written and len(written) <= 4 * len(question) + 200:
                return written
            log.warning("the LLM condensed %r to nothing usable; resolving offline", question)
        except Exception as exc:  # noqa: BLE001 - any model failure: the offline resolver
            log.warning(
                "LLM condensing failed (%s: %s); resolving offline", type(exc).__name__, exc
            )
    return resolve(question, history)


def llm_condenser(
    model: BaseChatModel,
    *,
    timeout: float = 10.0,
    on_failure: Callable[[Exception], None] | None = None,
) -> Condenser:
    """Condense with a chat model and ``prompts/condense.md``, reading its reply as it
    streams: a server that sends no token for ``timeout`` seconds (even one that keeps the
    connection alive) fails, and so does one that is down; the failure is also reported to
    ``on_failure``, so that the answer does not wait for the same server again (see
    :meth:`~assistant.answer.llm.LLMAnswerer.note_failure`)."""
    from langchain_core.output_parsers import StrOutputParser

    from assistant.answer.llm_stream import tokens_within
    from assistant.prompts import load

    runnable = load("condense", required={"history", "question"}) | model | StrOutputParser()

    def condense(question: str, history: Sequence[Turn]) -> str:
        lines = []
        for turn in history[-MAX_TURNS:]:
            lines.append(f"User: {turn.question}")
            if turn.answer:
                lines.append(f"Assistant: {strip_markers(turn.answer)}")
        inputs = {"history": "\n".join(lines), "question": question}
        reply = ""
        tokens = tokens_within(lambda: runnable.stream(inputs), timeout=timeout)
        try:
            for token in tokens:
                reply += token
                if "\n" in reply.strip():
                    break  # one line is the question; the rest is not read
        except Exception as exc:
            if on_failure is not None:
                on_failure(exc)
            raise
        finally:
            tokens.close()
        return reply.strip().splitlines()[0] if reply.strip() else ""

    return condense


class Answerer(Protocol):
    """What the chain needs of an answerer: the extractive one or an LLM one."""

    def answer(self, question: str, passages: Sequence[Document]) -> Answer: ...

    def warm(self, passages: Sequence[Document]) -> None: ...

    def answer_many(
        self,
        questions: Sequence[str],
        passages: Sequence[Sequence[Document]],
        *,
        question_vectors: Any = None,
    ) -> list[Answer]: ...


class AnswerSteps:
    """Validation, follow-up resolution, retrieval and answering as plain methods: what
    :func:`build_chain` composes into a ``Runnable``, callable directly too.

    Called directly (``steps(inputs)``) they give the same answer as the chain without
    LangChain's per-step bookkeeping (configs, callback managers, signature inspection:
    about 1 ms a question, as much as retrieval) — what :meth:`Assistant.ask
    <assistant.assemble.Assistant.ask>` does on every question the CLI and the UI ask.
    """

    def __init__(
        self,
        retriever: HybridRetriever,
        answerer: Answerer,
        *,
        max_question_chars: int = 2000,
        condense: Condenser | None = None,
    ) -> None:
        self.retriever = retriever
        self.answerer = answerer
        self.max_question_chars = max_question_chars
        self.condense = condense

    def __call__(self, inputs: dict[str, Any]) -> Answer:
        """Answer ``inputs`` (see :func:`build_chain`) step by step, as the chain does."""
        return self.answer(self.retrieve(self.prepare(inputs)))

    def prepare(self, inputs: dict[str, Any]) -> dict[str, Any]:
        question = check_question(inputs.get("question"), max_chars=self.max_question_chars)
        history = as_turns(inputs.get("history"))
        k = inputs.get("k") or self.retriever.k
        if not isinstance(k, int) or k < 1:
            raise InvalidQuestionError(f"k must be a positive whole number, not {k!r}.")
        return {
            "question": question,
            "query": standalone_question(question, history, condense=self.condense),
            "k": k,
            "started": time.perf_counter(),
        }

    def retrieve(self, state: dict[str, Any]) -> dict[str, Any]:
        began = time.perf_counter()
        passages = self.retriever.rank_many([state["query"]], k=state["k"])[0]
        return {**state, "passages": passages, "retrieve_ms": _ms_since(began)}

    def answer(self, state: dict[str, Any]) -> Answer:
        began = time.perf_counter()
        result = self.answerer.answer(state["query"], state["passages"])
        timings = {
            "retrieve": state["retrieve_ms"],
            "answer": _ms_since(began),
            "total": _ms_since(state["started"]),
        }
        return replace(
            result,
            question=state["question"],
            standalone_question=state["query"],
            timings_ms=timings,
        )

    def as_runnable(self) -> Runnable[dict[str, Any], Answer]:
        """The steps as one LangChain ``Runnable`` (see :func:`build_chain`)."""
        return (
            RunnableLambda(self.prepare, name="prepare")
            | RunnableLambda(self.retrieve, name="retrieve")
            | RunnableLambda(self.answer, name="answer")
        ).with_config(run_name="cited_answer")


def build_chain(
    retriever: HybridRetriever,
    answerer: Answerer,
    *,
    max_question_chars: int = 2000,
    condense: Condenser | None = None,
) -> Runnable[dict[str, Any], Answer]:
    """Compose validation, follow-up resolution, retrieval and answering into one ``Runnable``.

    Input: ``{"question": str, "history": [earlier turns, see as_turns], "k": optional int}``.
    Output: an :class:`Answer` with ``standalone_question`` (what was searched for and
    answered) and ``timings_ms`` = retrieve, answer, total.
    """
    steps = AnswerSteps(
        retriever, answerer, max_question_chars=max_question_chars, condense=condense
    )
    return steps.as_runnable()


def _as_text(text: str) -> str:
    """``text`` with surrogate pairs joined and lone surrogates replaced by U+FFFD."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _ms_since(began: float) -> float:
    return (time.perf_counter() - began) * 1000
