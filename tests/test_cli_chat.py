"""`assistant chat` driven in a pseudo-terminal, as a person types into it."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import CORPUS, ROOT

PROMPT = "you> "
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r")


class Terminal:
    """A process on the slave side of a pty; what it prints is read from the master side."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, close_fds=True
        )
        os.close(slave)
        self.seen = ""

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def read_until(self, marker: str, timeout: float = 120.0) -> str:
        """What is printed up to and including the next ``marker`` (ANSI codes removed)."""
        deadline = time.monotonic() + timeout
        while marker not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {marker!r} within {timeout} s; got:\n{self.seen[-3000:]}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536).decode(errors="replace")
                except OSError:  # the process closed the terminal
                    chunk = ""
                if not chunk and self.process.poll() is not None:
                    raise AssertionError(f"exited before {marker!r}:\n{self.seen[-3000:]}")
                self.seen += _ANSI.sub("", chunk)
        before, _, self.seen = self.seen.partition(marker)
        return before + marker

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def chat(tmp_path: Path):
    env = {
        **os.environ,
        "ASSISTANT_INDEX_DIR": str(tmp_path / "index"),
        "ASSISTANT_CORPUS_DIR": str(CORPUS),
        "TERM": "xterm",
    }
    terminal = Terminal([sys.executable, "-m", "assistant.cli", "chat"], env)
    yield terminal
    terminal.close()


@pytest.mark.slow
def test_chat_holds_a_conversation_with_line_editing_history_and_commands(chat):
    chat.read_until(PROMPT)
    # Typed with a mistake, corrected with backspace, as on any shell line.
    chat.type("Who is Khaled Hammadx\x7fi?\r")
    first = chat.read_until(PROMPT)
    assert "researcher in Iraqi affairs" in first
    assert "searched for" not in first

    chat.type("What does he doubt?\r")
    follow_up = chat.read_until(PROMPT)
    assert "(searched for: What does Khaled Hammadi doubt?)" in follow_up
    assert "seriousness" in follow_up
    assert "[1] " in follow_up and "paragraph" in follow_up  # formatted as `assistant ask`

    chat.type("/sources\r")
    sources = chat.read_until(PROMPT)
    assert "[1] " in sources and "doubts the seriousness" in sources

    # Up-arrow brings back the previous line (readline's history); Enter asks it again.
    chat.type("/new\r")
    assert "New conversation." in chat.read_until(PROMPT)
    chat.type("\x1b[A" * 3 + "\r")  # three lines back, past /new and /sources
    fresh = chat.read_until(PROMPT)
    assert "What does he doubt?" in fresh  # echoed by the line editor
    assert "searched for" not in fresh  # a new conversation: nobody is "he"
    answer_line = fresh.split("What does he doubt?", 1)[1].strip().splitlines()[0]
    assert "seriousness" not in answer_line

    chat.type("\x04")  # Ctrl-D
    assert chat.process.wait(timeout=30) == 0
