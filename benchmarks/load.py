"""Many people asking at once: the chat's ``/ask`` API under concurrent clients, beside a
minimal Gradio echo endpoint measured in the same run.

    python benchmarks/load.py [--clients 20] [--seconds 60]

1. ``python app.py`` over a fresh index of the bundled article; ``--clients`` threads ask the
   dev questions through ``/ask`` (Gradio's HTTP API: POST the call, read its result stream)
   for ``--seconds``, one question after another each. Counted: answers, errors (an HTTP
   error, a broken stream, or an answer that is neither a cited answer nor a refusal),
   requests per second, p50/p95 time per request, and the server process's CPU time per
   request (less at the mercy of other work on the machine than requests per second).
2. The same while another process re-indexes the app's index folder over and over (a
   document added, then changed, then removed): readers must keep answering, with no error.
3. Baseline: a minimal Gradio app whose ``/ask`` API echoes the question (same queue
   settings as the chat), under the same clients. Goal: the chat serves ≥ 70 % of the echo
   endpoint's requests per second.

Also measured, to tell the assistant's cost from Gradio's: the echo served from the chat's
own page (its Blocks), and both ``/ask`` endpoints with clients that keep one Gradio
session each, as ``gradio_client`` does. A plain HTTP call is a new Gradio session, and
Gradio builds each new session's copy of the page's configuration: nothing for the empty
echo app, a few milliseconds for the chat's 29 blocks.

Every server refreshes Gradio's monitoring summary every ``ANALYTICS_EVERY`` events, as
the chat does (Gradio's default rebuilds it after every event, at a cost that grows with the
events served: a long run would measure that more than either endpoint).

Before it is measured, each server is asked every dev question once (the echo too): what
is measured is a warm server, whose question vectors all come from the embeddings' cache
(every client asks the same dev questions in turn).

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
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common import DEV_QUESTIONS, ROOT, free_port, percentile, read_jsonl
from common import ask_over_http as ask

from assistant.ui import ANALYTICS_EVERY

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
# The same echo, served from the chat's page (assistant.ui.build) beside its /ask.
PAGE_ECHO_APP = """
import gradio as gr
from assistant.assemble import open_assistant
from assistant.config import Settings
from assistant.ui import CSS, HEAD, build

def echo(question: str, k: int = 4, history: list | None = None) -> dict:
    return {"question": question, "answer": question, "refused": False, "citations": []}

settings = Settings()
demo = build(open_assistant(settings, warm=False))
with demo:
    gr.api(echo, api_name="echo")
demo.queue(default_concurrency_limit=4)
demo.launch(server_name="127.0.0.1", server_port=settings.port, css=CSS, head=HEAD,
            show_error=False)
"""
EXTRA_DOCUMENT = (
    "A note added while the chat serves\n\n"
    "The lighthouse keepers met on Tuesday to plan the winter schedule for the harbour.\n"
)


#: How a client asks: (port, question) -> the answer's JSON.
Ask = Callable[[int, str], dict]


@dataclass
class Tally:
    times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: CPU seconds the server process used while the clients asked (NaN: unknown).
    server_cpu_s: float = float("nan")


def well_formed(answer: dict) -> bool:
    if answer.get("refused"):
        return not answer.get("citations")
    return bool(answer.get("answer")) and ("[" in answer["answer"] or not answer["citations"])


def plain(api: str = "ask") -> Ask:
    """A plain HTTP client: every call is a new Gradio session."""
    return lambda port, question: ask(port, question, api=api)


def with_session(api: str = "ask") -> Ask:
    """A client that keeps one Gradio session per thread, as a ``gradio_client.Client`` does."""
    local = threading.local()

    def asking(port: int, question: str) -> dict:
        if not hasattr(local, "session"):
            local.session = uuid.uuid4().hex
        return ask(port, question, api=api, session=local.session)

    return asking


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve(
    command: list[str], env: dict[str, str], port: int, warm_up: list[str], api: str = "ask"
) -> subprocess.Popen:
    """Start a server; once it answers, ask it each question of ``warm_up`` once. A server
    that fails to start or to answer is stopped, never left behind."""
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        began = time.perf_counter()
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}")
            if time.perf_counter() - began > 120:
                raise RuntimeError(f"{command} did not answer within 120 s")
            try:
                ask(port, "What is Plan T?", api=api)  # served and answering
                break
            except (OSError, RuntimeError, ValueError):
                time.sleep(0.2)
        for question in warm_up:
            ask(port, question, api=api)
    except BaseException:
        process.kill()
        process.wait(timeout=30)
        raise
    return process


def hammer(
    server: subprocess.Popen,
    port: int,
    questions: list[str],
    clients: int,
    seconds: float,
    asking: Ask,
) -> Tally:
    tally = Tally()
    cpu_before = cpu_seconds(server.pid)
    stop = time.perf_counter() + seconds

    def client(offset: int) -> None:
        n = offset
        while time.perf_counter() < stop:
            question = questions[n % len(questions)]
            n += clients
            began = time.perf_counter()
            try:
                answer = asking(port, question)
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
    tally.server_cpu_s = cpu_seconds(server.pid) - cpu_before
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
    cpu = tally.server_cpu_s * 1000 / len(tally.times) if tally.times else float("nan")
    counts = f"{len(tally.times)} | {len(tally.errors)}"
    line = f"| {name} | {counts} | {rate:.1f} | {p50:.0f} | {p95:.0f} | {cpu:.1f} |"
    return line, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--gradio-analytics-every",
        type=int,
        default=ANALYTICS_EVERY,
        help="events between refreshes of Gradio's monitoring summary, for every server "
        f"(default {ANALYTICS_EVERY}, as the chat; Gradio's own default is 1)",
    )
    args = parser.parse_args()
    questions = [r["question"] for r in read_jsonl(DEV_QUESTIONS)]

    work = Path(tempfile.mkdtemp(prefix="assistant-load-"))
    corpus = work / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    env = {
        **os.environ,
        "ASSISTANT_INDEX_DIR": str(work / "index"),
        "ASSISTANT_CORPUS_DIR": str(corpus),
        # Every server (chat and echo) refreshes Gradio's monitoring summary as the chat does.
        "GRADIO_ANALYTICS_CACHE_FREQUENCY": str(args.gradio_analytics_every),
    }
    subprocess.run(
        [sys.executable, "-m", "assistant.cli", "index", str(corpus)],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    lines, rates, errors = [], {}, []

    def measure(key: str, name: str, server: subprocess.Popen, port: int, asking: Ask) -> None:
        tally = hammer(server, port, questions, args.clients, args.seconds, asking)
        line, rates[key] = row(name, tally, args.seconds)
        lines.append(line)
        errors.extend(tally.errors)

    try:
        port = free_port()
        app = serve(
            [sys.executable, "app.py"], {**env, "ASSISTANT_PORT": str(port)}, port, questions
        )
        try:
            measure("chat", "chat `/ask`", app, port, plain())
            stop, runs = threading.Event(), []
            indexer = threading.Thread(target=reindex_loop, args=(env, corpus, stop, runs))
            indexer.start()
            try:
                tally = hammer(app, port, questions, args.clients, args.seconds, plain())
            finally:
                stop.set()
                indexer.join()
            line, rates["chat+index"] = row(
                f"chat `/ask`, re-indexed {len(runs)} times meanwhile", tally, args.seconds
            )
            lines.append(line)
            errors += tally.errors
            measure(
                "chat, sessions",
                "chat `/ask`, one Gradio session per client",
                app,
                port,
                with_session(),
            )
        finally:
            app.terminate()
            app.wait(timeout=30)
        port = free_port()
        page = serve(
            [sys.executable, "-c", PAGE_ECHO_APP],
            {**env, "ASSISTANT_PORT": str(port)},
            port,
            questions,
            api="echo",
        )
        try:
            measure("page echo", "echo on the chat's page", page, port, plain("echo"))
        finally:
            page.terminate()
            page.wait(timeout=30)
        port = free_port()
        echo = serve([sys.executable, "-c", ECHO_APP], {**env, "PORT": str(port)}, port, questions)
        try:
            measure("echo", "baseline: Gradio echo `/ask`", echo, port, plain())
            measure(
                "echo, sessions",
                "baseline: Gradio echo `/ask`, one session per client",
                echo,
                port,
                with_session(),
            )
        finally:
            echo.terminate()
            echo.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"{args.clients} clients, {args.seconds:.0f} s each run, on {os.cpu_count()} CPUs; "
        f"Gradio's monitoring summary every {args.gradio_analytics_every} events"
    )
    print("| server | answers | errors | requests/s | p50 ms | p95 ms | server CPU ms/request |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(lines))

    def share(a: str, b: str) -> float:
        return rates[a] / rates[b] if rates[b] else float("nan")

    verdict = "met" if share("chat", "echo") >= 0.7 else "not met"
    print(f"chat / echo throughput: {share('chat', 'echo'):.2f} (goal ≥ 0.70: {verdict})")
    print(f"  clients keeping a session: {share('chat, sessions', 'echo, sessions'):.2f}")
    print(f"  echo on the chat's page / echo: {share('page echo', 'echo'):.2f} (Gradio's own)")
    for problem in errors[:10]:
        print(f"error: {problem}")


if __name__ == "__main__":
    main()
