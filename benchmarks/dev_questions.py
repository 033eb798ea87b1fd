"""Choose the refusal threshold on the dev questions about the article, and report it.

Every question is answered with no threshold at all (so each answer has a best-sentence
score); then each candidate threshold is scored by how many answerable questions it still
answers correctly and how many unanswerable ones it refuses. Prints the sweep and the
figures at the configured threshold (``ASSISTANT_MIN_RELEVANCE``, default in config.py).

    python benchmarks/dev_questions.py
"""

from __future__ import annotations

from common import DEV_QUESTIONS, fresh_assistant, read_jsonl

from assistant.config import Settings
from assistant.evaluate.metrics import contains_answer


def main() -> None:
    configured = Settings().min_relevance
    assistant = fresh_assistant(min_relevance=0.0)
    rows = read_jsonl(DEV_QUESTIONS)
    scored = []
    for row in rows:
        answer = assistant.ask(row["question"])
        best = max((c.score for c in answer.citations), default=0.0)
        correct = contains_answer(answer.text, row.get("answers", []))
        scored.append((row, best, correct))
    answerable = [s for s in scored if not s[0].get("unanswerable")]
    unanswerable = [s for s in scored if s[0].get("unanswerable")]
    print(
        f"{len(rows)} dev questions: {len(answerable)} answerable, "
        f"{len(unanswerable)} the article cannot answer\n"
    )
    print("| threshold | answered correctly | correct refusals | balanced |")
    print("|---|---|---|---|")
    best_t, best_value = 0.0, -1.0
    for step in range(20, 61, 2):
        t = step / 100
        right = sum(1 for _, score, ok in answerable if score >= t and ok) / len(answerable)
        refused = sum(1 for _, score, _ in unanswerable if score < t) / len(unanswerable)
        balanced = (right + refused) / 2
        mark = " ← configured" if abs(t - configured) < 1e-9 else ""
        print(f"| {t:.2f} | {right:.3f} | {refused:.3f} | {balanced:.3f} |{mark}")
        if balanced > best_value:
            best_t, best_value = t, balanced
    print(
        f"\nbest balanced accuracy {best_value:.3f} from threshold {best_t:.2f} "
        f"(lowest such threshold); configured min_relevance = {configured:.2f}"
    )
    print("\nscores of unanswerable questions (highest first):")
    for row, score, _ in sorted(unanswerable, key=lambda s: -s[1]):
        print(f"  {score:.3f}  {row['question']}")
    print("scores of answerable questions (lowest first):")
    for row, score, ok in sorted(answerable, key=lambda s: s[1])[:8]:
        print(f"  {score:.3f}  {'ok ' if ok else 'MISS'} {row['question']}")


if __name__ == "__main__":
    main()
