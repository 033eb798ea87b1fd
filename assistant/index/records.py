"""The record manager beside the store, and the lock that lets one writer in at a time.

Every write (index, remove, upload, rebuild) holds ``.write.lock`` in the index folder, so
two processes never write at once: the second waits, then fails with a plain message.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assistant.embeddings import SentenceEmbeddings
from assistant.errors import IndexBusyError
from assistant.store import StoreLocation, collection_name

_LOCK_FILE = ".write.lock"
#: Open record managers by (namespace, records file), with the file's identity when opened.
_MANAGERS: dict[tuple[str, str], tuple[Any, tuple[int, int] | None]] = {}
_MANAGERS_LOCK = threading.Lock()
_LOCKS: dict[str, Any] = {}


@contextmanager
def write_lock(location: StoreLocation, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the index's write lock (``<index_dir>/.write.lock``, across processes).

    Re-entrant in one thread. A writer that finds it held says so on stderr and waits up to
    ``timeout_s`` (callers pass ``Settings.lock_timeout_s``; default: its default).

    Raises:
        IndexBusyError: still held by another writer after ``timeout_s``.
    """
    from filelock import FileLock, Timeout

    location.index_dir.mkdir(parents=True, exist_ok=True)
    path = str((location.index_dir / _LOCK_FILE).resolve())
    with _MANAGERS_LOCK:
        lock = _LOCKS.get(path)
        if lock is None:
            lock = _LOCKS[path] = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        wait = _lock_timeout() if timeout_s is None else timeout_s
        print(
            f"waiting for another indexing run to finish… ({location.describe()}, "
            f"up to {wait:g} s)",
            file=sys.stderr,
            flush=True,
        )
        try:
            lock.acquire(timeout=wait)
        except Timeout as exc:
            raise IndexBusyError(
                f"Another process is still writing to the index at {location.describe()} "
                f"after {wait:g} s (lock: {path}); nothing was changed. Try again when it "
                "has finished, or wait longer with ASSISTANT_LOCK_TIMEOUT_S."
            ) from exc
    try:
        yield
    finally:
        lock.release()


def _lock_timeout() -> float:
    """The default wait: the setting's default (callers that have the settings pass theirs;
    library code does not read the environment)."""
    from assistant.config import Settings

    return float(Settings.model_fields["lock_timeout_s"].default)


def open_record_manager(location: StoreLocation, embeddings: SentenceEmbeddings) -> Any:
    """Open (and create if needed) the SQL record manager beside the store.

    One manager, and so one database engine, per records file and namespace while that file
    lives: an engine per call would open a new connection pool each time. A file deleted or
    replaced since (``--rebuild``, perhaps by another process) gets a new manager.
    """
    from langchain_classic.indexes import SQLRecordManager

    location.index_dir.mkdir(parents=True, exist_ok=True)
    path = location.records_path.resolve()
    namespace = record_namespace(location, embeddings)
    with _MANAGERS_LOCK:
        cached = _MANAGERS.get((namespace, str(path)))
        if cached is not None and _file_identity(path) == cached[1]:
            return cached[0]
        if cached is not None:
            cached[0].engine.dispose()
        records = SQLRecordManager(namespace, db_url=f"sqlite:///{path}")
        records.create_schema()
        _MANAGERS[(namespace, str(path))] = (records, _file_identity(path))
        return records


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def forget_record_managers(path: Path) -> None:
    """Close the engines of a records file that is about to be deleted."""
    with _MANAGERS_LOCK:
        for key in [key for key in _MANAGERS if key[1] == str(path.resolve())]:
            _MANAGERS.pop(key)[0].engine.dispose()


def record_namespace(location: StoreLocation, embeddings: SentenceEmbeddings) -> str:
    namespace = f"chroma/{collection_name(location.collection, embeddings)}"
    return f"{location.chroma_url}/{namespace}" if location.chroma_url else namespace
