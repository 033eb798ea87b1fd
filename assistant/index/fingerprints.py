"""Files indexed and unchanged since: passed over without being read, cleaned or split.

Reading and splitting every file, only for the records to find every passage known, was
most of a re-index with nothing changed (65 s of the Python docs' 514). The index keeps, per
file, what its passages were cut from and what they are, in ``file_fingerprint`` beside the
record manager's table (``records.sqlite``, the same namespace: one collection):

* the size and sha256 of its bytes (the bytes the loader read);
* the signature of everything else that decides its passages (:func:`passage_signature`):
  the ingestion code, the parsers' versions, the model's window and tokenizer, and what is
  embedded for a passage (its context and text, :mod:`assistant.ingest.context`);
* how many passages it has, a digest of their ids, and the warnings its loading gave.

A file is passed over (:func:`survey`) only when its bytes and the signature are the same
and the records and the store still hold exactly those passages; on any doubt it is read as
before. Its key (its folder's name in the index + its path there) is the row's, so a moved
folder is still passed over.

A file's row is deleted before any of its passages is written (every write goes through
``_index_documents``, which does it), and written only once the run's passages are all
committed: written, recorded, the stale ones deleted, the moved ones' positions rewritten.
A run killed at any point leaves rows only for files whose passages are whole.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.vectorstores import VectorStore

from assistant.embeddings import SentenceEmbeddings
from assistant.index.identity import SOURCE_ID_KEY
from assistant.ingest import context
from assistant.ingest.passages import SourceFile
from assistant.store import PAGE_SIZE, ids_where_in, metadatas_by_id

#: Changes when what a row means changes: every file is then read again, once.
_FORMAT = 1
_TABLE = "file_fingerprint"
#: LangChain's SQLRecordManager table (read directly, as :mod:`assistant.sources` does).
_RECORDS = "upsertion_record"
#: Files (groups) named in one statement: far below SQLite's 32,766 variables.
_KEYS_PER_QUERY = 500
_PACKAGE = Path(__file__).resolve().parent.parent
#: The code that turns a file into passages and their ids.
_PASSAGE_CODE = ("ingest/*.py", "text.py", "index/identity.py")
_PARSERS = ("beautifulsoup4", "lxml", "pypdf", "python-docx", "tokenizers")
#: Counted by the model's tokenizer for the signature: a tokenizer that cuts it otherwise
#: may cut passages otherwise.
_PROBE = "Indexing naïve café-bars: 12.5% of 3,000 PDFs & HTML pages (e.g. “Überblick”) — done."
#: What is embedded for a passage of this text with this metadata: another recipe (another
#: context, another layout of it) changes it, and so the signature.
_PROBE_METADATA = {"title": "A title", "section": "A section", "entry": "module.Class.method"}


@dataclass(frozen=True)
class Fingerprint:
    """What a file's passages were cut from, and how many they are (see the module)."""

    size: int
    sha256: str
    signature: str
    passages: int = 0
    ids: str = ""  # ids_digest() of the passages' ids
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Survey:
    """What :func:`survey` found before a run reads anything.

    ``unchanged``: the files (by key) to pass over, and their fingerprints. ``stored``: the
    keys of the files that have passages in the store under the folders scanned (for the
    cleanup of files gone). ``lost``: record keys of files to read whose passages the store
    no longer holds: forgotten, so that those passages are written again. ``unrecorded``:
    ids of passages in the store that the records do not know, by file.
    """

    unchanged: dict[str, Fingerprint]
    stored: set[str]
    lost: list[str]
    unrecorded: dict[str, list[str]]


class Fingerprints:
    """The files' fingerprints of one collection, in the record manager's database."""

    def __init__(self, records: Any) -> None:
        from sqlalchemy import text

        self._engine = records.engine
        self._namespace = str(records.namespace)
        with self._engine.begin() as db:
            db.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {_TABLE} ("
                    "namespace TEXT NOT NULL, doc_key TEXT NOT NULL, size INTEGER NOT NULL, "
                    "sha256 TEXT NOT NULL, signature TEXT NOT NULL, passages INTEGER NOT NULL, "
                    "ids TEXT NOT NULL, warnings TEXT NOT NULL, "
                    "PRIMARY KEY (namespace, doc_key))"
                )
            )

    def read(self, keys: Iterable[str]) -> dict[str, Fingerprint]:
        found: dict[str, Fingerprint] = {}
        for chunk, params in self._chunks(keys):
            with self._engine.connect() as db:
                rows = db.execute(
                    _text(
                        f"SELECT doc_key, size, sha256, signature, passages, ids, warnings "
                        f"FROM {_TABLE} WHERE namespace = :ns AND doc_key IN ({chunk})"
                    ),
                    params,
                ).fetchall()
            for key, size, sha256, signature, passages, ids, warnings in rows:
                notes = tuple(str(w) for w in json.loads(warnings))
                found[str(key)] = Fingerprint(
                    int(size), str(sha256), str(signature), int(passages), str(ids), notes
                )
        return found

    def remember(self, rows: Mapping[str, Fingerprint]) -> None:
        """Write these files' rows, in one transaction."""
        values = [
            {
                "ns": self._namespace,
                "key": key,
                "size": row.size,
                "sha256": row.sha256,
                "signature": row.signature,
                "passages": row.passages,
                "ids": row.ids,
                "warnings": json.dumps(list(row.warnings)),
            }
            for key, row in rows.items()
            if _storable(key)
        ]
        if not values:
            return
        with self._engine.begin() as db:
            db.execute(
                _text(
                    f"INSERT OR REPLACE INTO {_TABLE} (namespace, doc_key, size, sha256, "
                    "signature, passages, ids, warnings) VALUES (:ns, :key, :size, :sha256, "
                    ":signature, :passages, :ids, :warnings)"
                ),
                values,
            )

    def forget(self, keys: Iterable[str]) -> None:
        """Delete these files' rows (before any of their passages is written or deleted)."""
        for chunk, params in self._chunks(keys):
            with self._engine.begin() as db:
                db.execute(
                    _text(f"DELETE FROM {_TABLE} WHERE namespace = :ns AND doc_key IN ({chunk})"),
                    params,
                )

    def forget_all(self) -> None:
        with self._engine.begin() as db:
            db.execute(
                _text(f"DELETE FROM {_TABLE} WHERE namespace = :ns"), {"ns": self._namespace}
            )

    def _chunks(self, keys: Iterable[str]) -> Iterable[tuple[str, dict[str, str]]]:
        """``keys`` a statement's worth at a time: the placeholders and their values."""
        return _in_chunks(keys, {"ns": self._namespace})


def passage_signature(embeddings: SentenceEmbeddings) -> str:
    """A digest of everything but a file's bytes that decides its passages: the code that
    reads and splits files and names passages (its source), the parsers' versions, Python's,
    the model's window and tokenizer (the splitter fits passages to them), and what is
    embedded for a passage (:func:`~assistant.ingest.context.indexed_text` of a probe)."""
    code = hashlib.sha256()
    for pattern in _PASSAGE_CODE:
        for path in sorted(_PACKAGE.glob(pattern)):
            code.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0")
            code.update(path.read_bytes())
    parts = {
        "format": _FORMAT,
        "code": code.hexdigest(),
        "parsers": {name: _version(name) for name in _PARSERS},
        "python": list(sys.version_info[:2]),
        "model": embeddings.model_name,
        "max_tokens": embeddings.max_tokens,
        "probe": embeddings.count_tokens(_PROBE),
        "embedded": context.indexed_text(_PROBE, _PROBE_METADATA),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def ids_digest(ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def survey(
    files: Sequence[SourceFile],
    scanned: set[str],
    *,
    store: VectorStore,
    records: Any,
    fingerprints: Fingerprints,
    signature: str,
    max_file_mb: float | None = None,
) -> Survey:
    """Decide which files to pass over (see the module), and find what the cleanup needs:
    the files with passages in the store under the folders (names) ``scanned``.

    Reads the files' fingerprints, the bytes of those whose size is the same, the store's
    ids under the files' folders (not their metadata: 2-3 s for the Python docs' 50,000
    passages on a busy machine, against 8-11 s), and the records' ids by file.
    """
    rows = fingerprints.read(f.key for f in files)
    candidates = {
        f.key: rows[f.key]
        for f in files
        if f.key in rows and _same_bytes(f, rows[f.key], signature, max_file_mb)
    }
    held = {origin: ids_where_in(store, "origin", [origin]) for origin in _origins(files, scanned)}
    recorded = _recorded_ids(records)
    group_of = {doc_id: group for group, ids in recorded.items() for doc_id in ids}
    # In the store but not in the records: a run killed between its two writes, or another
    # machine's run on a shared server. Their files are read again; their keys are known.
    unrecorded = metadatas_by_id(
        store, sorted({i for ids in held.values() for i in ids if i not in group_of})
    )
    doubtful: dict[str, list[str]] = {}
    for doc_id, meta in unrecorded.items():
        doubtful.setdefault(str(meta.get(SOURCE_ID_KEY)), []).append(doc_id)
    unchanged: dict[str, Fingerprint] = {}
    lost: dict[str, None] = {}
    for file in files:
        ids = recorded.get(file.key, [])
        in_store = held[file.origin]
        row = candidates.get(file.key)
        if (
            row is not None
            and file.key not in doubtful
            and row.passages == len(ids)
            and row.ids == ids_digest(ids)
            and all(doc_id in in_store for doc_id in ids)
        ):
            unchanged[file.key] = row
        else:
            lost.update((doc_id, None) for doc_id in ids if doc_id not in in_store)
    stored = {group_of[i] for origin in scanned for i in held[origin] if i in group_of}
    stored |= {
        str(meta[SOURCE_ID_KEY])
        for meta in unrecorded.values()
        if meta.get("origin") in scanned and meta.get(SOURCE_ID_KEY)
    }
    return Survey(unchanged, stored, list(lost), doubtful)


def confirm_records(records: Any, keys: Iterable[str]) -> None:
    """Mark the records of files passed over as confirmed now, as indexing them would have
    (``assistant sources`` shows when each file was last indexed or confirmed)."""
    now = records.get_time()
    for chunk, params in _in_chunks(keys, {"ns": str(records.namespace), "now": now}):
        with records.engine.begin() as db:
            db.execute(
                _text(
                    f"UPDATE {_RECORDS} SET updated_at = :now "
                    f"WHERE namespace = :ns AND group_id IN ({chunk})"
                ),
                params,
            )


def forget_records(records: Any, keys: Sequence[str]) -> None:
    """Delete these record keys, a statement's worth at a time."""
    for start in range(0, len(keys), PAGE_SIZE):
        records.delete_keys(list(keys[start : start + PAGE_SIZE]))


def _same_bytes(
    file: SourceFile, row: Fingerprint, signature: str, max_file_mb: float | None
) -> bool:
    """Whether the file is what the row was recorded from: the same signature and size,
    then (only then, it costs a read) the same sha256. A file over ``max_file_mb`` is read,
    to fail as it should."""
    if row.signature != signature:
        return False
    try:
        size = file.path.stat().st_size
        if size != row.size or (max_file_mb is not None and size > max_file_mb * 1024 * 1024):
            return False
        with file.path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest() == row.sha256
    except OSError:
        return False  # reading it will say what is wrong


def _origins(files: Sequence[SourceFile], scanned: set[str]) -> list[str]:
    return sorted(scanned | {f.origin for f in files})


def _recorded_ids(records: Any) -> dict[str, list[str]]:
    """The record keys (passage ids) of the collection, by group (file key)."""
    with records.engine.connect() as db:
        rows = db.execute(
            _text(f"SELECT key, group_id FROM {_RECORDS} WHERE namespace = :ns"),
            {"ns": str(records.namespace)},
        ).fetchall()
    recorded: dict[str, list[str]] = {}
    for key, group in rows:
        if group is not None:  # unattributed: its passage counts as unrecorded
            recorded.setdefault(str(group), []).append(str(key))
    return recorded


def _in_chunks(keys: Iterable[str], extra: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    # A key SQLite cannot store (a lone surrogate: a ready-made passage's name with a byte
    # that is not UTF-8) has no row, nor records: its batch fails and says so.
    keys = [key for key in dict.fromkeys(keys) if _storable(key)]
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = keys[start : start + _KEYS_PER_QUERY]
        names = [f"k{i}" for i in range(len(chunk))]
        yield ", ".join(f":{n}" for n in names), {**extra, **dict(zip(names, chunk, strict=True))}


def _storable(key: str) -> bool:
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(statement: str) -> Any:
    from sqlalchemy import text

    return text(statement)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return ""
