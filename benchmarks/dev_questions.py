"""The dev questions about the article: how many are answered right, refused, and how long.

Every question is analysed once with no refusal at all, so that each has its best-sentence
score and its near-miss probability (:mod:`assistant.answer.nearmiss`); the two refusal
thresholds are then swept, each with the other at its configured value, scoring how many
answerable questions are still answered correctly (the answer contains an expected answer)
and how many unanswerable ones are refused. Last, the figures at the configured settings
(``ASSISTANT_MIN_RELEVANCE`` and ``ASSISTANT_NEAR_MISS_THRESHOLD``), from ``ask`` itself.

    python benchmarks/dev_questions.py
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common import DEV_QUESTIONS, fresh_assistant, read_jsonl

from assistant.answer.extractive import ExtractiveAnswerer
from assistant.config import Settings
from assistant.evaluate.metrics import contains_answer

Scored = tuple[dict[str, Any], float, float, bool]


def sweep(
    title: str,
    scored: list[Scored],
    steps: list[float],
    refused_at: Callable[[Scored, float], bool],
    configured: float,
) -> None:
    answerable = [s for s in scored if not s[0].get("unanswerable")]
    unanswerable = [s for s in scored if s[0].get("unanswerable")]
    print(f"\n| {title} | answered correctly | correct refusals | balanced |")
    print("|---|---|---|---|")
    for t in steps:
        right = sum(1 for s in answerable if s[3] and not refused_at(s, t)) / len(answerable)
        refused = sum(1 for s in unanswerable if refused_at(s, t)) / len(unanswerable)
        mark = " ← configured" if abs(t - configured) < 1e-9 else ""
        print(f"| {t:.3f} | {right:.3f} | {refused:.3f} | {(right + refused) / 2:.3f} |{mark}")


def main() -> None:
    settings = Settings()
    min_relevance, threshold = settings.min_relevance, settings.near_miss_threshold
    assistant = fresh_assistant()
    answerer = assistant.answerer
    assert isinstance(answerer, ExtractiveAnswerer)
    rows = read_jsonl(DEV_QUESTIONS)
    # (row, best sentence score, near-miss probability, phrase contains an expected answer)
    scored: list[Scored] = []
    for row in rows:
        passages = assistant.retriever.rank_many([row["question"]])[0]
        (analysis,) = answerer.analyze_many([row["question"]], [passages])
        best = analysis.sentences[0].score if analysis.sentences else 0.0
        phrase = analysis.chosen[0].text if analysis.chosen else ""
        near_miss = analysis.refusal if analysis.refusal is not None else 1.0
        scored.append((row, best, near_miss, contains_answer(phrase, row.get("answers", []))))
    answerable = [s for s in scored if not s[0].get("unanswerable")]
    print(
        f"{len(rows)} dev questions: {len(answerable)} answerable, "
        f"{len(rows) - len(answerable)} the article cannot answer"
    )
    sweep(
        "min_relevance (near-miss threshold as configured)",
        scored,
        [step / 100 for step in range(20, 61, 4)],
        lambda s, t: s[1] < t or s[2] >= threshold,
        min_relevance,
    )
    sweep(
        "near-miss threshold (min_relevance as configured)",
        scored,
        [step / 100 for step in range(40, 91, 5)] + [threshold],
        lambda s, t: s[1] < min_relevance or s[2] >= t,
        threshold,
    )

    print(
        f"\nAt the configured settings (min_relevance {min_relevance}, near-miss threshold "
        f"{threshold}), asking each question:"
    )
    right, refused, words = 0, 0, []
    for row, best, near_miss, _ in scored:
        answer = assistant.ask(row["question"])
        if row.get("unanswerable"):
            refused += answer.refused
            verdict = "refused" if answer.refused else "ANSWERED"
        else:
            ok = not answer.refused and contains_answer(answer.text, row["answers"])
            right += ok
            verdict = "ok" if ok else ("REFUSED" if answer.refused else "WRONG")
        if not answer.refused:
            words.append(len(answer.text.split()))
        shown = "" if answer.refused else f" → {answer.text}"
        print(f"  {verdict:8s} {best:.2f} {near_miss:.2f}  {row['question']}{shown}")
    unanswerable = len(rows) - len(answerable)
    print(
        f"\nanswered correctly {right}/{len(answerable)}, refused {refused}/{unanswerable}, "
        f"mean answer words {sum(words) / max(len(words), 1):.1f} (columns: verdict, best "
        "sentence score, near-miss probability)"
    )


if __name__ == "__main__":
    main()
