"""The LLM answerer against a real server, beside the extractive default, in the same run.

A llama.cpp server (llama-cpp-python's, OpenAI-compatible, on loopback) serves Gemma 3 270M
from its PyPI package, as the tests start it; the assistant talks to it as
``ASSISTANT_LLM=openai/gemma`` with ``ASSISTANT_LLM_BASE_URL``. Each dev question is asked of
both answerers in turn, and for each the script prints:

- the share of shown sentences supported by the passage they cite. The judge is not the
  answerer's own check: a sentence counts as supported when it stands verbatim in its cited
  passage (markers, case, quotes and spacing aside), or when a person marked it so in
  ``benchmarks/data/llm_support_labels.json``; any other sentence is listed, unjudged, to be
  labelled (true or false) there;
- the share of answers where the extractive answer stood in for the model's (and why);
- time to the first shown sentence (streamed; for the extractive answer, the whole answer)
  and to the whole answer, p50 and p95;
- how many answerable questions were answered with an expected answer, and how many
  unanswerable ones refused.

    python benchmarks/llm_answers.py [--limit N] [--timeout S]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import DEV_QUESTIONS, ROOT, fresh_assistant, percentile, read_jsonl

sys.path.insert(0, str(ROOT))

from assistant.answer.llm_stream import Shown, listen  # noqa: E402
from assistant.answer.markers import cited_sentences  # noqa: E402
from assistant.assemble import open_assistant  # noqa: E402
from assistant.evaluate.metrics import contains_answer  # noqa: E402
from tests.support import LLM_ALIAS, start_llm_server  # noqa: E402

LABELS = Path(__file__).resolve().parent / "data" / "llm_support_labels.json"


@dataclass
class Tally:
    """What one answerer did over the questions."""

    name: str
    first_s: list[float] = field(default_factory=list)
    total_s: list[float] = field(default_factory=list)
    sentences: int = 0
    verbatim: int = 0
    labelled_true: int = 0
    labelled_false: int = 0
    unjudged: list[dict[str, str]] = field(default_factory=list)
    fallbacks: Counter[str] = field(default_factory=Counter)
    answered: int = 0
    correct: int = 0
    unanswerable: int = 0
    refused: int = 0


def _plain(text: str) -> str:
    text = text.replace("“", '"').replace("”", '"').replace("’", "'").replace("‘", "'")
    return " ".join(re.sub(r"\[\d+\]", " ", text).split()).lower().strip(" .")


def judge(tally: Tally, answer: Any, labels: dict[str, bool]) -> None:
    """Count each shown sentence as supported (verbatim or labelled), not, or unjudged."""
    if answer.refused:
        return
    by_number = {c.n: c for c in answer.citations}
    for piece in cited_sentences(answer.text):
        for n in piece.numbers:
            passage = by_number[n].text
            tally.sentences += 1
            claim = _plain(piece.sentence)
            if claim and claim in _plain(passage):
                tally.verbatim += 1
                continue
            key = f"{piece.sentence.strip()} || {passage[:80]}"
            if key in labels:
                if labels[key]:
                    tally.labelled_true += 1
                else:
                    tally.labelled_false += 1
            else:
                tally.unjudged.append({"key": key, "passage": passage})


def ask(assistant: Any, row: dict[str, Any], tally: Tally, labels: dict[str, bool]) -> None:
    first: list[float] = []
    began = time.perf_counter()

    def on_event(event: object) -> None:
        if isinstance(event, Shown) and not first:
            first.append(time.perf_counter() - began)

    with listen(on_event):
        answer = assistant.ask(row["question"])
    total = time.perf_counter() - began
    fallback = getattr(answer, "fallback", False)
    if fallback:
        note = answer.note or ""
        tally.fallbacks[note.split(",")[0].split("(")[0].strip()] += 1
    # The first sentence shows when streamed; otherwise with the whole answer.
    tally.first_s.append(first[0] if first and not fallback else total)
    tally.total_s.append(total)
    judge(tally, answer, labels)
    if row.get("unanswerable"):
        tally.unanswerable += 1
        tally.refused += answer.refused
    else:
        tally.answered += 1
        tally.correct += contains_answer(answer.text, row.get("answers", []))


def report(tallies: list[Tally], questions: int, timeout: float) -> None:
    print(
        f"\n{questions} dev questions; Gemma 3 270M Q4_K_M on llama-cpp-python's server "
        f"(1 generating thread), ASSISTANT_LLM_TIMEOUT={timeout:g}\n"
    )
    print(
        "| answerer | shown sentences | supported by the cited passage | unjudged | "
        "fell back to extractive | first sentence p50 / p95 | whole answer p50 / p95 | "
        "answered right | refused (unanswerable) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for t in tallies:
        judged = t.verbatim + t.labelled_true + t.labelled_false
        supported = t.verbatim + t.labelled_true
        share = f"{supported / judged:.1%} ({supported}/{judged})" if judged else "–"
        share += f": {t.verbatim} verbatim, {t.labelled_true} labelled"
        fell = sum(t.fallbacks.values())
        print(
            f"| {t.name} | {t.sentences} | {share} | {len(t.unjudged)} | "
            f"{fell / len(t.total_s):.0%} ({fell}/{len(t.total_s)}) | "
            f"{percentile(t.first_s, 50):.2f} / {percentile(t.first_s, 95):.2f} s | "
            f"{percentile(t.total_s, 50):.2f} / {percentile(t.total_s, 95):.2f} s | "
            f"{t.correct}/{t.answered} | {t.refused}/{t.unanswerable} |"
        )
    for t in tallies:
        if t.fallbacks:
            reasons = "; ".join(f"{why}: {n}" for why, n in t.fallbacks.most_common())
            print(f"\n{t.name} fell back because: {reasons}")
        for item in t.unjudged:
            print(f"\nunjudged ({t.name}): {json.dumps(item['key'], ensure_ascii=False)}")
            print(f"    passage: {item['passage']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, help="Only the first N dev questions.")
    parser.add_argument(
        "--timeout",
        type=float,
        default=30,
        help="ASSISTANT_LLM_TIMEOUT for the run (a 2-core CPU shared with the benchmark "
        "itself reads a 700-token prompt in 3-15 s)",
    )
    args = parser.parse_args()
    rows = read_jsonl(DEV_QUESTIONS)[: args.limit]
    labels = json.loads(LABELS.read_text()) if LABELS.exists() else {}
    extractive = fresh_assistant()
    log = Path(extractive.settings.index_dir) / "llm-server.log"
    url, server = start_llm_server(log)
    try:
        settings = extractive.settings.with_overrides(
            llm=f"openai/{LLM_ALIAS}",
            llm_base_url=url,
            llm_api_key="unused-by-a-local-server",
            llm_timeout=args.timeout,
        )
        llm = open_assistant(settings, embeddings=extractive.embeddings)
        for assistant in (extractive, llm):
            assistant.ask(rows[0]["question"])  # load spaCy, fill the server's prompt cache
        tallies = [Tally("extractive (default)"), Tally(f"llm: openai/{LLM_ALIAS}")]
        for i, row in enumerate(rows, start=1):
            ask(extractive, row, tallies[0], labels)
            ask(llm, row, tallies[1], labels)
            print(f"{i}/{len(rows)} {row['question']}", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=30)
    report(tallies, len(rows), args.timeout)


if __name__ == "__main__":
    main()
