"""What a streamed LLM answer is made of: its events, the sentences cut from a token stream,
and the tokens themselves, read with a deadline so that a silent server cannot hang a caller.

Whoever shows an answer as it is written (``assistant ask --stream``, the chat) wraps the
usual call in :func:`listen`; the LLM answerer reports each sentence it shows or drops to
that listener as soon as the sentence is checked. Nothing changes for callers that don't.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from assistant.answer.markers import markers_after_stops
from assistant.answer.types import Answer
from assistant.text import split_sentences


@dataclass(frozen=True)
class Dropped:
    """A sentence the model wrote that is not shown, and why."""

    sentence: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"sentence": self.sentence, "reason": self.reason}


@dataclass(frozen=True)
class CheckedAnswer(Answer):
    """An answer from the LLM answerer: what it dropped, and, when the extractive answer
    stands in for the model's, a one-line note saying why (``fallback``)."""

    dropped: list[Dropped] = field(default_factory=list)
    note: str | None = None
    fallback: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["dropped"] = [d.to_dict() for d in self.dropped]
        out["fallback"] = self.fallback
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Shown:
    """A checked sentence, as shown (with its renumbered markers), and the answer so far."""

    sentence: str
    answer: CheckedAnswer
    #: Seconds from the model's request to this sentence being shown.
    seconds: float


StreamEvent = Shown | Dropped
Listener = Callable[[StreamEvent], None]
_listener: ContextVar[Listener | None] = ContextVar("llm_stream_listener", default=None)


@contextmanager
def listen(on_event: Listener) -> Iterator[None]:
    """Within this block (in this thread), LLM answers report each sentence to ``on_event``
    as soon as it is shown or dropped."""
    token = _listener.set(on_event)
    try:
        yield
    finally:
        _listener.reset(token)


def emit(event: StreamEvent) -> None:
    """Tell the listener of :func:`listen`, if any, about ``event``."""
    on_event = _listener.get()
    if on_event is not None:
        on_event(event)


class ModelTimeout(Exception):
    """The chat model sent no token within the timeout."""


def tokens_within(
    stream: Callable[[], Iterator[Any]], *, timeout: float
) -> Generator[str, None, None]:
    """The text of each chunk ``stream()`` yields, failing with :class:`ModelTimeout` as soon
    as no chunk has come for ``timeout`` seconds (the first one included).

    The stream is read in a daemon thread: a server that accepts the connection and then
    says nothing cannot block the caller past the deadline. Errors of the stream are raised
    here, in the caller's thread.
    """
    chunks: queue.Queue[tuple[str, Any]] = queue.Queue()
    abandoned = threading.Event()

    def pump() -> None:
        source = stream()
        try:
            for chunk in source:
                if abandoned.is_set():
                    break
                chunks.put(("chunk", chunk))
            else:
                chunks.put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            chunks.put(("error", exc))
        finally:
            # Closes the connection: a server that notices stops generating.
            close = getattr(source, "close", None)
            if close is not None:
                close()

    threading.Thread(target=pump, name="llm-stream", daemon=True).start()
    try:
        while True:
            try:
                kind, value = chunks.get(timeout=timeout)
            except queue.Empty:
                raise ModelTimeout(f"no token within {timeout:g} s") from None
            if kind == "end":
                return
            if kind == "error":
                raise value
            content = getattr(value, "content", value)
            if isinstance(content, str) and content:
                yield content
    finally:
        abandoned.set()


# What may follow a finished sentence before the next begins: markers, or the start of one.
_PENDING_MARKER = re.compile(r"^\[\d*\]?$")


class SentenceCutter:
    """Cut a reply into sentences as its tokens arrive.

    A sentence is complete once the next one has begun: its markers, which models write
    before or after the full stop ("It failed [1]." or "It failed. [1]"), have then come.
    """

    def __init__(self) -> None:
        self._text = ""
        self._given = 0

    def feed(self, text: str) -> list[str]:
        """Add ``text``; the sentences it completed."""
        self._text += text
        sentences = self._sentences()
        if len(sentences) < 2 or _PENDING_MARKER.match(sentences[-1]):
            return []  # the last one may still grow, or its markers still be coming
        return self._give(sentences[:-1])

    def finish(self) -> list[str]:
        """The sentences not given yet, at the end of the reply."""
        return self._give(self._sentences())

    @property
    def text(self) -> str:
        """Everything fed so far."""
        return self._text

    def _sentences(self) -> list[str]:
        normal = markers_after_stops(self._text)
        # Line breaks end sentences too (lists, headings).
        return [s.text for line in normal.splitlines() for s in split_sentences(line)]

    def _give(self, sentences: list[str]) -> list[str]:
        new = sentences[self._given :]
        self._given = max(self._given, len(sentences))
        return new


@dataclass(frozen=True)
class Done:
    """The end of :func:`stream_events`: the answer."""

    answer: Answer


def stream_events(ask: Callable[[], Answer]) -> Iterator[StreamEvent | Done]:
    """Call ``ask`` in a worker thread, listening: each event as it happens, then
    :class:`Done` with the answer. What ``ask`` raises is raised here.

    For a caller that must hand back control between sentences (the chat's generator).
    """
    events: queue.Queue[StreamEvent | Done | BaseException] = queue.Queue()

    def run() -> None:
        try:
            with listen(events.put):
                events.put(Done(ask()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            events.put(exc)

    threading.Thread(target=run, name="ask-streaming", daemon=True).start()
    while True:
        item = events.get()
        if isinstance(item, BaseException):
            raise item
        yield item
        if isinstance(item, Done):
            return
