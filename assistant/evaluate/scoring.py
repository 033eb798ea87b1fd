"""Scoring: each row against what its file says is right, and the summary of all rows.

Every metric key is documented in the README ("Evaluation"); :func:`summarize` reports
each of :data:`METRIC_KEYS`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document

from assistant.answer.markers import strip_markers
from assistant.evaluate import metrics
from assistant.evaluate.inputs import EvalQuestion

HIT_KS = (1, 3, 5, 10)
#: Passages retrieved per question to compute hit@10 / mrr@10 (the answerer sees the top k).
RANK_DEPTH = 10
NAN = float("nan")
#: Metrics averaged over the rows where each applies (NaN on a row = does not apply).
MEAN_METRICS = (
    "hit@1",
    "hit@3",
    "hit@5",
    "hit@10",
    "mrr@10",
    "answer_contains",
    "quote_contains",
    "f1",
    "exact_match",
    "answer_words",
    "citation_precision",
    "citation_support",
)
#: Metrics over the ``refused`` flag: of unanswerable rows, and of answerable ones.
REFUSAL_METRICS = ("refusal_rate", "false_refusal_rate")
#: The metric keys of :func:`summarize`, in the order reports show them.
METRIC_KEYS = MEAN_METRICS + REFUSAL_METRICS
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'"})


@dataclass
class EvalRow:
    """One question's outcome: the answer, where the gold passage ranked, and its scores."""

    number: int
    item: EvalQuestion
    status: str = "ok"
    error: str | None = None
    answer: str = ""
    refused: bool = False
    citations: list[dict[str, Any]] = field(default_factory=list)
    retrieved: list[Document] = field(default_factory=list)
    gold: list[bool] = field(default_factory=list)
    gold_rank: int | None = None
    scores: dict[str, float] = field(default_factory=dict)
    latency_ms: float = NAN
    #: What was searched for: the question, written out in full for a follow-up.
    standalone_question: str | None = None
    #: Its turn within its conversation (0: the first), or None outside a conversation.
    turn: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """One line of ``rows.jsonl`` (NaN, i.e. "does not apply", becomes null)."""
        item = self.item
        return {
            "row": self.number,
            "line": item.line,
            "id": item.id,
            "question": item.question,
            "standalone_question": self.standalone_question,
            "conversation": item.conversation,
            "turn": self.turn,
            "expected": list(item.answers),
            "unanswerable": item.unanswerable,
            "status": self.status,
            "error": self.error,
            "answer": self.answer,
            "refused": self.refused,
            "citations": [{k: v for k, v in c.items() if k != "text"} for c in self.citations],
            "gold_rank": self.gold_rank,
            "retrieved": [
                {
                    "source": p.metadata.get("source"),
                    "paragraph": p.metadata.get("paragraph"),
                    "gold": gold,
                }
                for p, gold in zip(self.retrieved, self.gold, strict=False)
            ],
            "metrics": {k: _json_number(v) for k, v in self.scores.items()},
            "latency_ms": _json_number(self.latency_ms, 2),
        }


def is_gold(text: str, source: str | None, item: EvalQuestion) -> bool:
    """Whether a passage (its text and source) is a gold passage for ``item``.

    SQuAD: the question's own paragraph. Otherwise the passage must contain ``evidence``
    (compared case-folded, with whitespace collapsed and curly quotes made straight) and
    come from ``source``, for whichever of the two the row gives.
    """
    if item.gold_passage is not None:
        return text.strip() == item.gold_passage.strip()
    if not (item.evidence or item.source):
        return False
    if item.evidence and _loose(item.evidence) not in _loose(text):
        return False
    return not item.source or _same_source(source or "", item.source)


def score_row(row: EvalRow) -> None:
    """Fill ``row.scores``: every metric is NaN where it does not apply to this row."""
    item = row.item
    scores = dict.fromkeys((*MEAN_METRICS, "refused"), NAN)
    if row.status != "ok":
        row.scores = scores
        return
    answerable = not item.unanswerable
    scores["refused"] = float(row.refused)
    if answerable and item.has_gold:
        for k in HIT_KS:
            scores[f"hit@{k}"] = metrics.hit_at(row.gold_rank, k)
        scores["mrr@10"] = metrics.reciprocal_rank(row.gold_rank, RANK_DEPTH)
    if answerable and item.answers:
        prediction = "" if row.refused else strip_markers(row.answer)
        scores["answer_contains"] = float(metrics.contains_answer(prediction, item.answers))
        scores["f1"] = metrics.f1(prediction, item.answers)
        scores["exact_match"] = metrics.exact_match(prediction, item.answers)
        # The sentences quoted around the answer, judged apart from the answer itself: a
        # wrong phrase inside the right sentence shows as exactly that.
        quotes = " ".join(c["quote"] for c in row.citations)
        scores["quote_contains"] = float(metrics.contains_answer(quotes, item.answers))
    if not row.refused:
        scores["answer_words"] = float(metrics.word_count(strip_markers(row.answer)))
        support = metrics.citation_support(row.answer, {c["n"]: c["text"] for c in row.citations})
        scores["citation_support"] = NAN if support is None else support
        if answerable and item.has_gold and row.citations:
            gold = sum(1 for c in row.citations if c["gold"])
            scores["citation_precision"] = gold / len(row.citations)
    row.scores = scores


def summarize(rows: Sequence[EvalRow]) -> dict[str, Any]:
    """The metrics over ``rows`` (README: "Evaluation"), and how many rows each is over.

    Every metric is a mean of the per-row values where it applies (None when it applies to
    no row); ``refusal_rate`` is over unanswerable rows, ``false_refusal_rate`` over
    answerable ones; errored rows count in ``errors`` and in no metric.
    """
    ok = [r for r in rows if r.status == "ok"]
    summary: dict[str, Any] = {
        "rows": len(rows),
        "answerable": sum(1 for r in rows if not r.item.unanswerable),
        "unanswerable": sum(1 for r in rows if r.item.unanswerable),
        "errors": len(rows) - len(ok),
    }
    counts: dict[str, int] = {}
    for key in MEAN_METRICS:
        summary[key], counts[key] = _mean(r.scores.get(key, NAN) for r in ok)
    unanswerable = [r.scores["refused"] for r in ok if r.item.unanswerable]
    answerable = [r.scores["refused"] for r in ok if not r.item.unanswerable]
    summary["refusal_rate"], counts["refusal_rate"] = _mean(unanswerable)
    summary["false_refusal_rate"], counts["false_refusal_rate"] = _mean(answerable)
    latencies = [r.latency_ms for r in ok if not math.isnan(r.latency_ms)]
    p50, p95 = np.percentile(latencies, [50, 95]) if latencies else (None, None)
    summary["latency_p50_ms"] = None if p50 is None else round(float(p50), 2)
    summary["latency_p95_ms"] = None if p95 is None else round(float(p95), 2)
    summary["hit_curve"] = {
        str(k): _mean(
            metrics.hit_at(r.gold_rank, k)
            for r in ok
            if not r.item.unanswerable and r.item.has_gold
        )[0]
        for k in range(1, RANK_DEPTH + 1)
    }
    summary["counts"] = counts
    return summary


def summarize_followups(rows: Sequence[EvalRow]) -> dict[str, Any]:
    """The metrics of :func:`summarize` over the turns after the first of each conversation:
    the follow-ups, asked with the earlier turns as history."""
    later = [r for r in rows if r.turn]
    block = summarize(later)
    del block["hit_curve"]
    block["conversations"] = len({r.item.conversation for r in rows if r.turn is not None})
    return block


def _loose(text: str) -> str:
    return " ".join(text.translate(_QUOTES).casefold().split())


def _same_source(passage_source: str, gold: str) -> bool:
    passage_source, gold = passage_source.strip("/"), gold.strip("/")
    return (
        passage_source == gold
        or passage_source.endswith("/" + gold)
        or Path(passage_source).name == gold
    )


def _mean(values: Any) -> tuple[float | None, int]:
    present = [float(v) for v in values if not math.isnan(v)]
    return (round(statistics.fmean(present), 4) if present else None), len(present)


def _json_number(value: float | None, digits: int = 4) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, digits)
