"""A documentation set: start-up, memory, warm ask and retrieval quality at 50,000 passages.

    apt-get install python3.11-doc
    ASSISTANT_INDEX_DIR=/tmp/pydocs assistant index /usr/share/doc/python3.11/html   # once
    python benchmarks/scale.py --index-dir /tmp/pydocs [--rounds 2]

Over the index in ``--index-dir`` (the Python 3.11 docs) and, in the same run, over the
bundled article indexed afresh into a temporary folder (the baseline):

1. ``app.py`` start-up: seconds until the page is served, and until the first answer to a
   question through ``/ask`` is back; the serving process's peak memory after a round of
   questions through ``/ask``.
2. Warm ``ask`` p50/p95 in-process (the question-vector cache cleared before each ask, so
   every question is embedded afresh; passages' sentences are embedded the first time a
   question retrieves them, as a user's questions would).
3. Retrieval quality on ``tests/data/python_docs_questions.jsonl`` (60 questions written for
   the docs, with evidence): hit@1/hit@5/MRR@10 through ``assistant eval``'s scoring.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    DEV_QUESTIONS,
    ROOT,
    ask_over_http,
    free_port,
    median,
    percentile,
    read_jsonl,
    wait_until_served,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
DOCS_QUESTIONS = ROOT / "tests" / "data" / "python_docs_questions.jsonl"


def serve(index_dir: Path, questions: list[str]) -> tuple[float, float, float]:
    """Start ``app.py`` over ``index_dir``: seconds until the page is served, until the
    first answer is back, and the peak RSS (MB) after asking ``questions``."""
    port = free_port()
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir), "ASSISTANT_PORT": str(port)}
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        served = wait_until_served(process, port, began, 300)
        ask_over_http(port, questions[0])
        answered = time.perf_counter() - began
        for question in questions[1:]:
            ask_over_http(port, question)
        status = Path(f"/proc/{process.pid}/status").read_text()
        peak = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")
        )
        return served, answered, peak / 1024
    finally:
        process.terminate()
        process.wait(timeout=30)


def warm_ask(index_dir: Path, questions: list[str], rounds: int) -> list[float]:
    """Milliseconds per ask, in-process, every question embedded afresh."""
    from assistant.assemble import open_assistant
    from assistant.config import Settings

    assistant = open_assistant(Settings(index_dir=index_dir))
    assistant.warm()
    times = []
    for _ in range(rounds):
        for question in questions:
            assistant.embeddings._queries.clear()
            began = time.perf_counter()
            assistant.ask(question)
            times.append((time.perf_counter() - began) * 1000)
    return times


def quality(index_dir: Path) -> dict[str, float]:
    from assistant.assemble import open_assistant
    from assistant.config import Settings
    from assistant.evaluate.inputs import read_eval_file
    from assistant.evaluate.run import run_rows
    from assistant.evaluate.scoring import summarize

    assistant = open_assistant(Settings(index_dir=index_dir))
    rows = run_rows(assistant, read_eval_file(DOCS_QUESTIONS).questions)
    summary = summarize(rows)
    return {name: summary.get(name, float("nan")) for name in ("hit@1", "hit@5", "mrr@10")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True, help="the docs' index")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    article_dir = Path(tempfile.mkdtemp(prefix="assistant-scale-article-"))
    subprocess.run(
        [sys.executable, "-m", "assistant.cli", "index"],
        env={**os.environ, "ASSISTANT_INDEX_DIR": str(article_dir)},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    docs = [row["question"] for row in read_jsonl(DOCS_QUESTIONS)]
    article = [row["question"] for row in read_jsonl(DEV_QUESTIONS)]
    print(
        "| index | page served s | first answer s | peak RSS serving MB | ask p50 ms | ask p95 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, index_dir, questions in (
        ("bundled article (baseline)", article_dir, article),
        ("Python 3.11 docs", args.index_dir, docs),
    ):
        served, answered, peak = serve(index_dir, questions)
        times = warm_ask(index_dir, questions, args.rounds)
        print(
            f"| {name} | {served:.2f} | {answered:.2f} | {peak:.0f} | {median(times):.1f} "
            f"| {percentile(times, 95):.1f} |",
            flush=True,
        )
    figures = quality(args.index_dir)
    print(
        f"\nPython docs questions ({len(docs)}): "
        + ", ".join(f"{k} {v:.3f}" for k, v in figures.items())
    )
    print(f"\nMade by: `python benchmarks/scale.py --index-dir {args.index_dir}`")


if __name__ == "__main__":
    main()
