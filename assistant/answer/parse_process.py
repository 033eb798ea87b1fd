"""Parse sentences in a second process, so that a batch run's parsing uses the other core.

spaCy holds the GIL while it parses (its parser is Cython, its network many small numpy
calls), so a thread cannot parse beside the answering; a process can. ``assistant eval``
knows the sentences of the next batch while it answers the current one, and has them parsed
here meanwhile (:mod:`assistant.evaluate.run`). With a single CPU there is nothing to gain
and no process is started; if the process fails, the answerer parses in its own process as
before.

The child is ``python -m assistant.answer.parse_process``, spoken to over its stdin and
stdout (pickled lists, one request at a time), rather than a ``multiprocessing`` pool: a
pool's ``spawn`` re-imports the parent's ``__main__``, which runs a caller's whole script
again when it has no ``if __name__ == "__main__"`` guard, and ``fork`` would copy ONNX
Runtime's and Chroma's threads mid-flight.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from assistant.answer.parse import SentenceParse, parse_sentences, pipeline
from assistant.answer.spans import Candidates, candidates
from assistant.embeddings.runners import usable_cpus

log = logging.getLogger(__name__)

Parsed = tuple[SentenceParse, Candidates]

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class ParseError(RuntimeError):
    """The parse process failed on a request, or is gone."""


class ParseProcess:
    """One child process that parses sentences and finds their candidate phrases; requests
    are answered in the order they were submitted."""

    def __init__(self) -> None:
        env = dict(os.environ)
        # The child imports this package from where the parent did, installed or not.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        self._child = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        # One request at a time, in order: a thread writes each and waits for its answer.
        self._io = ThreadPoolExecutor(1, thread_name_prefix="parse-process")
        self._broken: str | None = None  # why nothing more is asked of the child

    @classmethod
    def if_worthwhile(cls) -> ParseProcess | None:
        """A parse process when this process may use two CPUs or more, else ``None``."""
        if usable_cpus() < 2:
            return None
        try:
            return cls()
        except OSError as exc:  # no processes allowed here: parse in this one
            log.warning("could not start a process for parsing (%s); parsing here", exc)
            return None

    def submit(self, texts: list[str]) -> Future[list[Parsed]]:
        """Parse ``texts`` (one sentence each) in the child: its parses and candidates."""
        return self._io.submit(self._ask, texts)

    def _ask(self, texts: list[str]) -> list[Parsed]:
        if self._broken is not None:
            raise ParseError(self._broken)
        stdin, stdout = self._child.stdin, self._child.stdout
        assert stdin is not None and stdout is not None
        try:
            pickle.dump(texts, stdin, protocol=pickle.HIGHEST_PROTOCOL)
            stdin.flush()
            status, value = pickle.load(stdout)
        except Exception as exc:
            # Whatever broke, the stream may be cut mid-message: nothing more is asked.
            self.abandon(f"the parse process failed ({type(exc).__name__}: {exc})")
            raise ParseError(str(self._broken)) from exc
        if status != "ok":
            raise ParseError(str(value))
        return list(value)

    def abandon(self, reason: str) -> None:
        """Ask nothing more of the child, and end it (a request it hangs on ends too)."""
        if self._broken is None:
            self._broken = reason
        self._child.kill()

    def close(self) -> None:
        self._io.shutdown(wait=True, cancel_futures=True)
        if self._child.stdin is not None:
            # The child's end of input: it exits (one that is gone cannot be told).
            with contextlib.suppress(OSError):
                self._child.stdin.close()
        try:
            self._child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        if self._child.stdout is not None:
            self._child.stdout.close()

    def __enter__(self) -> ParseProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(texts: list[str]) -> list[Parsed]:
    return [(parse, candidates(parse)) for parse in parse_sentences(texts)]


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """Answer each pickled list of sentences on ``requests`` with ``("ok", parsed)`` or
    ``("error", message)`` on ``replies``, until ``requests`` ends."""
    pipeline()
    while True:
        try:
            texts = pickle.load(requests)
        except EOFError:
            return
        reply: tuple[str, Any]
        try:
            reply = ("ok", _parse(texts))
        except Exception as exc:  # noqa: BLE001 - the parent hears of it and parses itself
            reply = ("error", f"{type(exc).__name__}: {exc}")
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


if __name__ == "__main__":
    # Replies go out on a copy of stdout; stdout itself now leads to stderr, so that nothing
    # else printed (by Python or by a library's C code) lands among the replies.
    sys.stdout.flush()
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, replies)
