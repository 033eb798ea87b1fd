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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from langchain_core.documents import Document

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
    question's alone.)

    Rows sharing a ``conversation`` are its turns in file order; each is asked with the
    earlier turns (their questions and the answers given) as history, and
    ``standalone_question`` records what was searched for.
    """
    k = k or assistant.retriever.k
    timings = timings if timings is not None else {}
    timings.setdefault("retrieve", 0.0)
    timings.setdefault("answer", 0.0)
    rows = [EvalRow(i + 1, item) for i, item in enumerate(items)]
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
        _run_wave(assistant, current, k, batch_size, on_batch, timings)
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

    # With one question per batch, each row's latency must be that question's alone.
    look_ahead = batch_size > 1
    with ThreadPoolExecutor(1) as ahead:
        upcoming = (
            ahead.submit(_retrieve, assistant, batches[0][1], k) if batches and look_ahead else None
        )
        for number, (batch, runnable) in enumerate(batches):
            retrieved = upcoming
            if look_ahead and number + 1 < len(batches):
                # The next batch is retrieved while this one is answered: retrieval is
                # mostly ONNX and numpy, answering mostly spaCy, so they share the cores.
                upcoming = ahead.submit(_retrieve, assistant, batches[number + 1][1], k)
            found: Retrieved | None = None
            if retrieved is not None:
                try:
                    found = retrieved.result()
                except Exception as exc:  # noqa: BLE001 - the batch below meets it and handles it
                    log.warning("retrieving a batch ahead failed (%s: %s)", type(exc).__name__, exc)
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
class Retrieved:
    """A batch's questions' vectors and ranked passages, and the seconds they took."""

    vectors: Any
    ranked: list[list[Document]]
    seconds: float


def _retrieve(assistant: Assistant, rows: list[EvalRow], k: int) -> Retrieved:
    """Embed the questions of ``rows`` and rank the passages for each."""
    began = time.perf_counter()
    questions = [_asked(r) for r in rows]
    vectors = assistant.embeddings.embed_questions(questions) if rows else None
    ranked = (
        assistant.retriever.rank_many(questions, k=max(k, RANK_DEPTH), vectors=vectors)
        if rows
        else []
    )
    return Retrieved(vectors, ranked, time.perf_counter() - began)


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
) -> EvalRun:
    """Open the index (for SQuAD: index its paragraphs first), run the rows, summarize.

    Non-SQuAD rows are asked of the user's index (built from the corpus folder if missing).
    ``limit`` keeps the first N rows. Progress bars (with ETA) go to stderr.
    """
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
            assistant, items, k=k, batch_size=batch_size, on_batch=bar.update, timings=timings
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
