"""Many people asking at once: the chat's ``/ask`` API under concurrent clients, beside a
minimal Gradio echo endpoint measured in the same run.

    python benchmarks/load.py [--clients 20] [--seconds 60]

1. ``python app.py`` over a fresh index of the bundled article; ``--clients`` threads ask the
   dev questions through ``/ask`` (Gradio's HTTP API: POST the call, read its result stream)
   for ``--seconds``, one question after another each. Counted: answers, errors (an HTTP
   error, a broken stream, or an answer that is neither a cited answer nor a refusal),
   requests per second, p50/p95 time per request.
2. The same while another process re-indexes the app's index folder over and over (a
   document added, then changed, then removed): readers must keep answering, with no error.
3. Baseline: a minimal Gradio app whose ``/ask`` API echoes the question (same queue
   settings as the chat), under the same clients. Goal: the chat serves ≥ 70 % of the echo
   endpoint's requests per second.

The clients run in this process, on the same CPUs as the servers: what is measured is the
whole machine's throughput, as a user on a small server would see it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from common import DEV_QUESTIONS, ROOT, free_port, percentile, read_jsonl
from common import ask_over_http as ask

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ECHO_APP = """
import os, gradio as gr

def ask(question: str, k: int = 4) -> dict:
    return {"question": question, "answer": question, "refused": False, "citations": []}

with gr.Blocks() as demo:
    gr.api(ask, api_name="ask")
demo.queue(default_concurrency_limit=4)
demo.launch(server_name="127.0.0.1", server_port=int(os.environ["PORT"]))
"""
EXTRA_DOCUMENT = (
    "A note added while the chat serves\n\n"
    "The lighthouse keepers met on Tuesday to plan the winter schedule for the harbour.\n"
)


@dataclass
class Tally:
    times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def well_formed(answer: dict) -> bool:
    if answer.get("refused"):
        return not answer.get("citations")
    return bool(answer.get("answer")) and ("[" in answer["answer"] or not answer["citations"])


def serve(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    began = time.perf_counter()
    while time.perf_counter() - began < 120:
        if process.poll() is not None:
            raise RuntimeError(f"{command} exited with {process.returncode}")
        try:
            ask(port, "What is Plan T?")  # served and answering (the warm-up has started)
            return process
        except (OSError, RuntimeError, ValueError):
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{command} did not answer within 120 s")


def hammer(port: int, questions: list[str], clients: int, seconds: float) -> Tally:
    tally = Tally()
    stop = time.perf_counter() + seconds

    def client(offset: int) -> None:
        n = offset
        while time.perf_counter() < stop:
            question = questions[n % len(questions)]
            n += clients
            began = time.perf_counter()
            try:
                answer = ask(port, question)
                problem = None if well_formed(answer) else f"malformed answer: {answer!r:.200}"
            except (OSError, RuntimeError, ValueError, urllib.error.URLError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            with tally.lock:
                if problem:
                    tally.errors.append(problem)
                else:
                    tally.times.append(time.perf_counter() - began)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally


def reindex_loop(env: dict[str, str], folder: Path, stop: threading.Event, runs: list[int]) -> None:
    """Index the folder again and again, the extra document added, changed, removed."""
    extra = folder / "winter-note.txt"
    step = 0
    while not stop.is_set():
        if step % 3 == 0:
            extra.write_text(EXTRA_DOCUMENT)
        elif step % 3 == 1:
            extra.write_text(EXTRA_DOCUMENT + f"Revision {step}.\n")
        else:
            extra.unlink(missing_ok=True)
        result = subprocess.run(
            [sys.executable, "-m", "assistant.cli", "index", str(folder)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"index run failed: {result.stderr[-500:]}")
        runs.append(step)
        step += 1


def row(name: str, tally: Tally, seconds: float) -> tuple[str, float]:
    rate = len(tally.times) / seconds
    p50 = percentile(tally.times, 50) * 1000 if tally.times else float("nan")
    p95 = percentile(tally.times, 95) * 1000 if tally.times else float("nan")
    counts = f"{len(tally.times)} | {len(tally.errors)}"
    line = f"| {name} | {counts} | {rate:.1f} | {p50:.0f} | {p95:.0f} |"
    return line, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    questions = [r["question"] for r in read_jsonl(DEV_QUESTIONS)]

    work = Path(tempfile.mkdtemp(prefix="assistant-load-"))
    corpus = work / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    env = {
        **os.environ,
        "ASSISTANT_INDEX_DIR": str(work / "index"),
        "ASSISTANT_CORPUS_DIR": str(corpus),
    }
    subprocess.run(
        [sys.executable, "-m", "assistant.cli", "index", str(corpus)],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    lines, rates, errors = [], {}, []
    try:
        port = free_port()
        app = serve([sys.executable, "app.py"], {**env, "ASSISTANT_PORT": str(port)}, port)
        try:
            tally = hammer(port, questions, args.clients, args.seconds)
            line, rates["chat"] = row("chat `/ask`", tally, args.seconds)
            lines.append(line)
            errors += tally.errors
            stop, runs = threading.Event(), []
            indexer = threading.Thread(target=reindex_loop, args=(env, corpus, stop, runs))
            indexer.start()
            try:
                tally = hammer(port, questions, args.clients, args.seconds)
            finally:
                stop.set()
                indexer.join()
            line, rates["chat+index"] = row(
                f"chat `/ask`, re-indexed {len(runs)} times meanwhile", tally, args.seconds
            )
            lines.append(line)
            errors += tally.errors
        finally:
            app.terminate()
            app.wait(timeout=30)
        port = free_port()
        echo = serve([sys.executable, "-c", ECHO_APP], {**env, "PORT": str(port)}, port)
        try:
            tally = hammer(port, questions, args.clients, args.seconds)
            line, rates["echo"] = row("baseline: Gradio echo `/ask`", tally, args.seconds)
            lines.append(line)
            errors += tally.errors
        finally:
            echo.terminate()
            echo.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{args.clients} clients, {args.seconds:.0f} s each run, on {os.cpu_count()} CPUs")
    print("| server | answers | errors | requests/s | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(lines))
    share = rates["chat"] / rates["echo"] if rates["echo"] else float("nan")
    verdict = "met" if share >= 0.7 else "not met"
    print(f"chat / echo throughput: {share:.2f} (goal ≥ 0.70: {verdict})")
    for problem in errors[:10]:
        print(f"error: {problem}")


if __name__ == "__main__":
    main()
