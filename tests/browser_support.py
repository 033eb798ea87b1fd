"""Helpers for the browser tests: run the real app as a subprocess and drive its chat.

The app (``app.py``) is started with its index and corpus in a temporary folder; the corpus is
the bundled article plus a small document whose paragraph holds HTML as literal text, so the
tests can check that document text reaches the page as text and never as markup.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
APP = ROOT / "app.py"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
START_TIMEOUT_S = 120.0
ANSWER_TIMEOUT_MS = 60_000

SCRIPT_TEXT = "<script>alert(1)</script>"
IMG_TEXT = "<img src=x onerror=alert(1)>"
ZORBLAT_FILE = "zorblat-festival.txt"
# Title line, a paragraph, a section heading, then the paragraph that carries the markup.
ZORBLAT_TEXT = f"""The Zorblat festival

The Zorblat festival is held every spring in the valley town of Quenmoor, where millers paint \
their water wheels blue.

Banners

The Zorblat festival banners carry the slogan {SCRIPT_TEXT} next to the picture code \
{IMG_TEXT} as a joke about web pages. Visitors photograph the banners every year.
"""
ZORBLAT_QUESTION = "What slogan do the Zorblat festival banners carry?"

# Element ids set in assistant/ui.py.
QUESTION_BOX = "#question textarea"
SEND = "#send"
NEW_CHAT = "#new-chat"
#: The "Passages to retrieve (k)" slider in the Settings accordion.
K_SLIDER = "#k"
CHAT = "#chat"
BOT_MESSAGE = "#chat [data-testid='bot']"
USER_MESSAGE = "#chat [data-testid='user']"
# A finished reply: an answer's sources block (streamed frames have none yet) or a refusal.
FINISHED_REPLY = "#chat .sources, #chat .refusal"
# Shown while a reply is on its way: the "Searching the documents…" note, the typing cursor.
IN_PROGRESS = "#chat .working, #chat .typing"
TOAST = "[data-testid='toast-body']"


def make_corpus(folder: Path) -> Path:
    """Copy the bundled corpus into ``folder`` and add the Zorblat document."""
    folder.mkdir(parents=True, exist_ok=True)
    for txt in sorted((ROOT / "corpus").glob("*.txt")):
        shutil.copy(txt, folder / txt.name)
    (folder / ZORBLAT_FILE).write_text(ZORBLAT_TEXT, encoding="utf-8")
    return folder


@dataclass
class AppServer:
    """``app.py`` running in a subprocess; ``startup_s`` is launch → port answering."""

    process: subprocess.Popen[bytes]
    url: str
    log_dir: Path
    startup_s: float = field(default=0.0)
    #: The ASSISTANT_* settings the app runs with (to point the CLI at the same index).
    env: dict[str, str] = field(default_factory=dict)

    def stderr(self) -> str:
        return _tail(self.log_dir / "stderr.log")

    def stdout(self) -> str:
        return _tail(self.log_dir / "stdout.log")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def serving_app(workdir: Path) -> Iterator[AppServer]:
    """A module fixture's body: the app started in ``workdir`` (the test fails plainly if it
    cannot start), yielded, then stopped."""
    import pytest

    try:
        server = start_app(workdir)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    print(f"\napp.py answered on {server.url} after {server.startup_s:.1f} s")
    yield server
    server.stop()


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (its own browser download does not
    work on these machines)."""
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def start_app(workdir: Path, *, timeout_s: float = START_TIMEOUT_S) -> AppServer:
    """Start the real app over a fresh index in ``workdir`` and wait until its port answers.

    Raises:
        RuntimeError: the app exited, or did not answer within ``timeout_s`` (with its stderr).
    """
    corpus = make_corpus(workdir / "corpus")
    index = workdir / "index"
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "ASSISTANT_INDEX_DIR": str(index),
        "ASSISTANT_CORPUS_DIR": str(corpus),
        "ASSISTANT_HOST": "127.0.0.1",
        "ASSISTANT_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "PYTHONUNBUFFERED": "1",
    }
    python = PYTHON if PYTHON.exists() else Path(sys.executable)
    began = time.monotonic()
    with open(logs / "stdout.log", "wb") as out, open(logs / "stderr.log", "wb") as err:
        # cwd is the temporary folder so Gradio's scratch files stay out of the repository.
        process = subprocess.Popen(
            [str(python), str(APP)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    settings = {k: v for k, v in env.items() if k.startswith("ASSISTANT_")}
    server = AppServer(process, f"http://127.0.0.1:{port}/", logs, env=settings)
    deadline = began + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"app.py exited with code {process.returncode} before answering on port "
                f"{port}.\n--- stderr ---\n{server.stderr()}\n--- stdout ---\n{server.stdout()}"
            )
        if _answers(server.url):
            server.startup_s = time.monotonic() - began
            return server
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(
                f"app.py did not answer on port {port} within {timeout_s:.0f} s.\n"
                f"--- stderr ---\n{server.stderr()}\n--- stdout ---\n{server.stdout()}"
            )
        time.sleep(0.25)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-limit:]


def artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", nodeid).strip("_")[:150]


def save_failure_artifacts(page: Any, nodeid: str) -> list[Path]:
    """Save a full-page screenshot and the chat's HTML for a failed test."""
    ARTIFACTS.mkdir(exist_ok=True)
    base = ARTIFACTS / artifact_name(nodeid)
    saved: list[Path] = []
    try:
        shot = base.parent / f"{base.name}.png"
        page.screenshot(path=str(shot), full_page=True)
        saved.append(shot)
    except Exception as exc:  # the page may have crashed; the report should still go out
        print(f"could not save a screenshot for {nodeid}: {exc}", file=sys.stderr)
    try:
        dump = base.parent / f"{base.name}.html"
        dump.write_text(page.content(), encoding="utf-8")
        saved.append(dump)
    except Exception as exc:
        print(f"could not save the page HTML for {nodeid}: {exc}", file=sys.stderr)
    return saved


def open_chat(page: Any, url: str) -> None:
    """Load the chat and wait until the question box is ready."""
    page.goto(url)
    page.locator(QUESTION_BOX).wait_for(state="visible", timeout=30_000)


def ask(page: Any, question: str, *, how: str = "enter") -> Any:
    """Type ``question``, submit it (Enter or the Send button), wait until the reply is complete
    (the answer streams in sentence by sentence; its sources come with the last frame) and
    return that bot message."""
    from playwright.sync_api import expect

    replies = page.locator(FINISHED_REPLY)
    before = replies.count()
    box = page.locator(QUESTION_BOX)
    box.fill(question)
    if how == "enter":
        box.press("Enter")
    else:
        page.locator(SEND).click()
    expect(replies).to_have_count(before + 1, timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator(IN_PROGRESS)).to_have_count(0, timeout=ANSWER_TIMEOUT_MS)
    return page.locator(BOT_MESSAGE).filter(has=page.locator(".sources, .refusal")).last


def covering_element(page: Any, selector: str) -> str | None:
    """Describe the element a click at the centre of ``selector`` would hit, if not inside it."""
    result: str | None = page.locator(selector).first.evaluate(
        """el => {
            const r = el.getBoundingClientRect();
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            if (!hit || el === hit || el.contains(hit)) return null;
            return hit.outerHTML.slice(0, 200);
        }"""
    )
    return result


def wait_for_scroll_to_settle(
    locator: Any, *, quiet_ms: int = 400, timeout_ms: int = 5_000
) -> None:
    """Wait until the scroll container around ``locator`` (and the page) stop moving.

    Gradio's chatbot scrolls itself to the newest message after it renders (smoothly); a test
    that scrolls by hand must wait for that first or it will be undone.
    """
    locator.evaluate(
        """(el, [quietMs, timeoutMs]) => new Promise(resolve => {
            let box = el.parentElement;
            while (box && !(box.scrollHeight > box.clientHeight &&
                            /(auto|scroll)/.test(getComputedStyle(box).overflowY))) {
                box = box.parentElement;
            }
            const where = () => `${box ? box.scrollTop : 0}/${window.scrollY}`;
            let last = where(), quietSince = performance.now();
            const began = performance.now();
            const tick = () => {
                const now = performance.now(), current = where();
                if (current !== last) { last = current; quietSince = now; }
                if (now - quietSince >= quietMs || now - began >= timeoutMs) return resolve();
                requestAnimationFrame(tick);
            };
            requestAnimationFrame(tick);
        })""",
        [quiet_ms, timeout_ms],
    )
