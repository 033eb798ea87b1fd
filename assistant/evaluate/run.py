"""Batch evaluation: run a file of questions through the assistant and score every answer.

Questions are retrieved and answered in batches (one embedding batch and one Chroma query
per batch). The turns of conversations go in waves: every conversation's first turn (with
the rows that are in none), then every second turn, each written out in full from the
earlier turns' questions and answers (:func:`assistant.chain.standalone_question`).
Each row is scored (:mod:`assistant.evaluate.scoring`) against what its file says
is right. A row whose answering throws is kept with ``status = "error"`` and NaN scores, and
the run goes on.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from langchain_core.documents import Document

from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.parse_process import Parsed, ParseProcess
from assistant.assemble import Assistant, make_embeddings, open_assistant
from assistant.chain import check_question, standalone_question
from assistant.config import Settings
from assistant.embeddings import SentenceEmbeddings
from assistant.evaluate import metrics
from assistant.evaluate.inputs import EvalInput, EvalQuestion
from assistant.evaluate.scoring import (
    RANK_DEPTH,
    EvalRow,
    is_gold,
    score_row,
    summarize,
    summarize_followups,
)
from assistant.evaluate.squad import open_squad_assistant
from assistant.followup import Turn

log = logging.getLogger(__name__)


def run_rows(
    assistant: Assistant,
    items: Sequence[EvalQuestion],
    *,
    k: int | None = None,
    batch_size: int = 256,
    on_batch: Callable[[int], None] = lambda done: None,
    timings: dict[str, float] | None = None,
    parse_process: ParseProcess | None = None,
) -> list[EvalRow]:
    """Retrieve and answer ``items`` in batches; score each row.

    ``k`` passages (default: the assistant's ``top_k``) go to the answerer; retrieval ranks
    ``max(k, 10)`` so that hit@10 and mrr@10 can be computed. A row's ``latency_ms`` is its
    batch's time (embedding its questions, retrieving, answering) divided by the batch's size
    (with ``batch_size=1``: the latency of one question alone). ``on_batch`` is called with
    the number of rows done in each batch.

    The next batch is retrieved (its questions embedded, its passages ranked) while the
    current batch is answered: answering is mostly single-threaded spaCy, which would
    otherwise leave a core idle. (Not with ``batch_size=1``, so that each latency is one
    question's alone.) With a ``parse_process``, the next batch's best sentences are also
    parsed there meanwhile, so that spaCy runs on the other core.

    Rows sharing a ``conversation`` are its turns in file order; each is asked with the
    earlier turns (their questions and the answers given) as history, and
    ``standalone_question`` records what was searched for.
    """
    k = k or assistant.retriever.k
    timings = timings if timings is not None else {}
    timings.setdefault("retrieve", 0.0)
    timings.setdefault("answer", 0.0)
    rows = [EvalRow(i + 1, item) for i, item in enumerate(items)]
    parsing = None
    if parse_process is not None and isinstance(assistant.answerer, ExtractiveAnswerer):
        parsing = _ParsingAhead(assistant.answerer, parse_process)
    turns: dict[str, list[EvalRow]] = {}
    for row in rows:
        if row.item.conversation is not None:
            conversation = turns.setdefault(row.item.conversation, [])
            row.turn = len(conversation)
            conversation.append(row)
    waves = max((len(c) for c in turns.values()), default=1)
    for wave in range(waves):
        current = [r for r in rows if (r.turn or 0) == wave]
        for row in current:
            name = row.item.conversation
            earlier = turns[name][:wave] if name is not None else []
            row.standalone_question = _standalone(assistant, row, earlier)
        _run_wave(assistant, current, k, batch_size, on_batch, timings, parsing)
    return rows


def _standalone(assistant: Assistant, row: EvalRow, earlier: list[EvalRow]) -> str:
    question = row.item.question.strip()
    try:
        check_question(question, max_chars=assistant.settings.max_question_chars)
    except Exception:  # noqa: BLE001 - _run_wave records the error on the row
        return question
    if not earlier:
        return question
    history = [Turn(r.item.question, r.answer) for r in earlier]
    try:
        return standalone_question(question, history, condense=assistant.condense)
    except Exception as exc:  # noqa: BLE001 - the row is asked as it stands, and says so
        log.warning("resolving row %d's follow-up failed (%s); asked as it stands", row.number, exc)
        return question


def _run_wave(
    assistant: Assistant,
    rows: list[EvalRow],
    k: int,
    batch_size: int,
    on_batch: Callable[[int], None],
    timings: dict[str, float],
    parsing: _ParsingAhead | None = None,
) -> None:
    max_chars = assistant.settings.max_question_chars
    batches: list[tuple[list[EvalRow], list[EvalRow]]] = []
    for begin in range(0, len(rows), batch_size):
        batch = rows[begin : begin + batch_size]
        runnable: list[EvalRow] = []
        for row in batch:
            try:
                check_question(row.item.question, max_chars=max_chars)
                runnable.append(row)
            except Exception as exc:  # noqa: BLE001 - recorded on the row
                _fail(row, exc)
        batches.append((batch, runnable))

    # With one question per batch, each row's latency must be that question's alone. The
    # next batch is retrieved while this one is answered: retrieval is mostly ONNX and
    # numpy, answering mostly spaCy, so they share the cores. Parsing elsewhere, two batches
    # go ahead: one being parsed in the parse process, the next being retrieved.
    depth = 0 if batch_size == 1 else 2 if parsing is not None else 1
    with ThreadPoolExecutor(1) as ahead:
        upcoming: deque[Future[Retrieved]] = deque()
        for number, (batch, runnable) in enumerate(batches):
            # This batch and ``depth`` after it (none with one question per batch).
            while depth and len(upcoming) <= depth and number + len(upcoming) < len(batches):
                rows_ahead = batches[number + len(upcoming)][1]
                upcoming.append(ahead.submit(_retrieve, assistant, rows_ahead, k, parsing))
            retrieved = upcoming.popleft() if upcoming else None
            found: Retrieved | None = None
            if retrieved is not None:
                try:
                    found = retrieved.result()
                except Exception as exc:  # noqa: BLE001 - the batch below meets it and handles it
                    log.warning("retrieving a batch ahead failed (%s: %s)", type(exc).__name__, exc)
            if found is not None and found.parses is not None and parsing is not None:
                parsing.adopt(found.parses)
            try:
                _answer_batch(assistant, runnable, k, timings, found)
            except Exception as exc:  # noqa: BLE001 - find the row(s) that throw, one by one
                log.warning(
                    "a batch failed (%s: %s); answering its rows one by one",
                    type(exc).__name__,
                    exc,
                )
                for row in runnable:
                    try:
                        _answer_batch(assistant, [row], k, timings)
                    except Exception as row_exc:  # noqa: BLE001
                        _fail(row, row_exc)
            for row in batch:
                score_row(row)
            on_batch(len(batch))


@dataclass
class Parses:
    """Sentences being parsed in the parse process, and where they come from."""

    keys: list[tuple[str, int]]
    future: Future[list[Parsed]]


@dataclass
class Retrieved:
    """A batch's questions' vectors and ranked passages, and the seconds they took; and its
    best sentences being parsed elsewhere, if they are."""

    vectors: Any
    ranked: list[list[Document]]
    seconds: float
    parses: Parses | None = None


#: How long answering waits for a batch parsed elsewhere (a few seconds, normally) before it
#: gives up on the parse process and parses itself.
PARSE_TIMEOUT_SECONDS = 300


class _ParsingAhead:
    """Has a batch's best sentences parsed in a second process while the batch before is
    answered; the answerer then finds them parsed. A failure there costs nothing but the
    time: the answerer parses what it does not find."""

    def __init__(self, answerer: ExtractiveAnswerer, process: ParseProcess) -> None:
        self.answerer = answerer
        self.process: ParseProcess | None = process
        # The sentences sent (by the retrieving thread only): a later batch does not send
        # them again while they are being parsed.
        self.sent: set[tuple[str, int]] = set()

    def submit(
        self, questions: list[str], ranked: list[list[Document]], k: int, vectors: Any
    ) -> Parses | None:
        if self.process is None:
            return None
        todo = [
            (key, text)
            for key, text in self.answerer.unparsed(
                questions, [r[:k] for r in ranked], question_vectors=vectors
            )
            if key not in self.sent
        ]
        if not todo:
            return None
        try:
            future = self.process.submit([text for _, text in todo])
        except Exception as exc:  # noqa: BLE001 - a broken process: parse here from now on
            log.warning("the parse process failed (%s); parsing here", exc)
            self.process = None
            return None
        self.sent.update(key for key, _ in todo)
        return Parses([key for key, _ in todo], future)

    def adopt(self, parses: Parses) -> None:
        if self.process is None:  # given up on: the answerer parses them
            return
        try:
            parsed = parses.future.result(timeout=PARSE_TIMEOUT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - the answerer parses them itself
            if isinstance(exc, TimeoutError):
                exc = TimeoutError(f"no parses after {PARSE_TIMEOUT_SECONDS} s")
            log.warning(
                "parsing a batch ahead failed (%s: %s); parsing here from now on",
                type(exc).__name__,
                exc,
            )
            self.process.abandon(str(exc))
            self.process = None
            return
        self.answerer.adopt(parses.keys, parsed)


def _retrieve(
    assistant: Assistant, rows: list[EvalRow], k: int, parsing: _ParsingAhead | None = None
) -> Retrieved:
    """Embed the questions of ``rows`` and rank the passages for each; with ``parsing``,
    send the sentences answering will parse to be parsed meanwhile."""
    began = time.perf_counter()
    questions = [_asked(r) for r in rows]
    vectors = assistant.embeddings.embed_questions(questions) if rows else None
    ranked = (
        assistant.retriever.rank_many(questions, k=max(k, RANK_DEPTH), vectors=vectors)
        if rows
        else []
    )
    seconds = time.perf_counter() - began
    parses = parsing.submit(questions, ranked, k, vectors) if parsing and rows else None
    return Retrieved(vectors, ranked, seconds, parses)


@dataclass
class EvalRun:
    """A finished evaluation: its input, its rows and their summary."""

    data: EvalInput
    rows: list[EvalRow]
    summary: dict[str, Any]


def evaluate(
    data: EvalInput,
    settings: Settings,
    *,
    k: int | None = None,
    limit: int | None = None,
    batch_size: int = 256,
    progress: bool = True,
    embeddings: SentenceEmbeddings | None = None,
    notify: Callable[[str], None] = lambda message: None,
    parse_ahead: bool = True,
) -> EvalRun:
    """Open the index (for SQuAD: index its paragraphs first), run the rows, summarize.

    Non-SQuAD rows are asked of the user's index (built from the corpus folder if missing).
    ``limit`` keeps the first N rows. Progress bars (with ETA) go to stderr. With
    ``parse_ahead`` (and two CPUs or more, and more than one batch), a second process parses
    the next batch's sentences while the current one is answered.
    """
    rows = len(data.questions[:limit] if limit else data.questions)
    worthwhile = parse_ahead and 1 < batch_size < rows
    # Started first, so that it loads spaCy while the SQuAD paragraphs are indexed.
    parse_process = ParseProcess.if_worthwhile() if worthwhile else None
    try:
        return _evaluate(
            data, settings, k, limit, batch_size, progress, embeddings, notify, parse_process
        )
    finally:
        if parse_process is not None:
            parse_process.close()


def _evaluate(
    data: EvalInput,
    settings: Settings,
    k: int | None,
    limit: int | None,
    batch_size: int,
    progress: bool,
    embeddings: SentenceEmbeddings | None,
    notify: Callable[[str], None],
    parse_process: ParseProcess | None,
) -> EvalRun:
    from tqdm import tqdm

    started = time.perf_counter()
    embeddings = embeddings or make_embeddings(settings)
    items = data.questions[:limit] if limit else data.questions
    if data.passages is not None:
        assistant, report = open_squad_assistant(
            settings,
            data,
            embeddings=embeddings,
            progress=lambda ps: tqdm(
                ps, desc="indexing", unit="passage", file=sys.stderr, disable=not progress
            ),
        )
        notify(
            f"Indexed {len(data.passages):,} SQuAD paragraphs in {report.seconds:.1f} s "
            f"({report.added} added, {report.skipped} unchanged) into "
            f"{assistant.location.describe()}"
        )
    else:
        assistant = open_assistant(
            settings, embeddings=embeddings, build_if_missing=True, notify=notify
        )
    opened = time.perf_counter()
    timings: dict[str, float] = {}
    with tqdm(
        total=len(items), desc="evaluating", unit="q", file=sys.stderr, disable=not progress
    ) as bar:
        rows = run_rows(
            assistant,
            items,
            k=k,
            batch_size=batch_size,
            on_batch=bar.update,
            timings=timings,
            parse_process=parse_process,
        )
    answered = time.perf_counter()
    summary = summarize(rows)
    if any(r.turn for r in rows):
        summary["followup"] = summarize_followups(rows)
    # "questions" is wall time; "retrieve" and "answer" add up each batch's stages, which
    # overlap (the next batch is retrieved while this one is answered).
    summary["seconds"] = {
        "index" if data.passages is not None else "open": round(opened - started, 2),
        "questions": round(answered - opened, 2),
        "retrieve": round(timings["retrieve"], 2),
        "answer": round(timings["answer"], 2),
        "total": round(time.perf_counter() - started, 2),
    }
    summary["input"] = {
        "file": str(data.path),
        "format": data.format,
        "k": k or assistant.retriever.k,
        "batch_size": batch_size,
        "index": assistant.location.describe(),
        "warnings": data.warnings,
    }
    return EvalRun(data, rows, summary)


def _answer_batch(
    assistant: Assistant,
    rows: list[EvalRow],
    k: int,
    timings: dict[str, float],
    retrieved: Retrieved | None = None,
) -> None:
    """Retrieve (unless ``retrieved`` ahead) and answer ``rows``; retrieval ahead is
    counted in retrieval time and latency as if done here."""
    if not rows:
        return
    questions = [_asked(r) for r in rows]
    if retrieved is None or len(retrieved.ranked) != len(rows):
        retrieved = _retrieve(assistant, rows, k)
    ranked, vectors = retrieved.ranked, retrieved.vectors
    retrieved_at = time.perf_counter()
    answers = assistant.answerer.answer_many(
        questions, [r[:k] for r in ranked], question_vectors=vectors
    )
    ended = time.perf_counter()
    timings["retrieve"] += retrieved.seconds
    timings["answer"] += ended - retrieved_at
    latency = (retrieved.seconds + ended - retrieved_at) * 1000 / len(rows)
    for row, passages, answer in zip(rows, ranked, answers, strict=True):
        row.retrieved = passages
        row.gold = [is_gold(p.page_content, p.metadata.get("source"), row.item) for p in passages]
        row.gold_rank = metrics.first_gold_rank(row.gold) if row.item.has_gold else None
        row.answer, row.refused = answer.text, answer.refused
        row.citations = [
            {
                "n": c.n,
                "source": c.source,
                "title": c.title,
                "paragraph": c.paragraph,
                "quote": c.quote,
                "answer_spans": [list(span) for span in c.answer_spans],
                "score": c.score,
                "text": c.text,
                "gold": is_gold(c.text, c.source, row.item),
            }
            for c in answer.citations
        ]
        row.latency_ms = latency
        row.status, row.error = "ok", None


def _asked(row: EvalRow) -> str:
    return row.standalone_question or row.item.question.strip()


def _fail(row: EvalRow, exc: BaseException) -> None:
    row.status, row.error = "error", f"{type(exc).__name__}: {exc}"
    row.answer, row.refused, row.citations, row.retrieved, row.gold = "", False, [], [], []
    row.gold_rank = None
    where = f"line {row.item.line}" if row.item.line else f"row {row.number}"
    log.warning("%s (%s) failed: %s", where, row.item.question[:60], row.error)
