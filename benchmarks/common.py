"""Helpers shared by the benchmark scripts: a throw-away index over the bundled corpus."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.assemble import Assistant, make_embeddings, open_assistant, store_location  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.index import index_paths  # noqa: E402

DEV_QUESTIONS = ROOT / "tests" / "data" / "dev_questions.jsonl"


def fresh_assistant(**overrides: Any) -> Assistant:
    """Index the bundled corpus into a temporary folder and open the assistant over it."""
    index_dir = Path(tempfile.mkdtemp(prefix="assistant-bench-"))
    settings = Settings(index_dir=index_dir, corpus_dir=ROOT / "corpus", **overrides)
    embeddings = make_embeddings(settings)
    index_paths(
        [settings.corpus_dir],
        location=store_location(settings),
        embeddings=embeddings,
        progress=False,
    )
    return open_assistant(settings, embeddings=embeddings)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), by numpy's default linear interpolation."""
    return float(np.percentile(values, q))


def median(values: list[float]) -> float:
    return statistics.median(values)


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ask_over_http(
    port: int, question: str, k: int = 4, *, api: str = "ask", session: str | None = None
) -> dict[str, Any]:
    """Ask the chat at ``port`` through Gradio's HTTP API (POST the call, then read its
    result stream); the answer's JSON, as ``assistant ask --json`` prints it.

    Without ``session`` each call is a new Gradio session (as a plain HTTP client's is);
    with it, calls share that session, as those of one ``gradio_client.Client`` do."""
    import urllib.request

    base = f"http://127.0.0.1:{port}/gradio_api/call/{api}"
    # Over plain HTTP Gradio wants every input: question, k, history (none here).
    body: dict[str, Any] = {"data": [question, k, None]}
    if session is not None:
        body["session_hash"] = session
    request = urllib.request.Request(
        base, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        event_id = json.load(reply)["event_id"]
    with urllib.request.urlopen(f"{base}/{event_id}", timeout=60) as reply:
        stream = reply.read().decode()
    for line in stream.splitlines():
        if line.startswith("data:"):
            data = json.loads(line[len("data:") :])
            if isinstance(data, list) and data and isinstance(data[0], dict):
                return data[0]
    raise RuntimeError(f"no answer in the /ask stream: {stream[:200]!r}")


def wait_until_served(process: Any, port: int, began: float, limit_s: float) -> float:
    """Seconds from ``began`` until the page at ``port`` answers HTTP 200.

    Raises:
        RuntimeError: ``process`` exited first, or ``limit_s`` passed.
    """
    import time
    import urllib.request

    while time.perf_counter() - began < limit_s:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as reply:
                if reply.status == 200:
                    return time.perf_counter() - began
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{process.args} did not serve the page within {limit_s:g} s")
