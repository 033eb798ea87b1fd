"""List the indexed documents and remove one: `assistant sources`, `assistant remove`."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from assistant.embeddings import SentenceEmbeddings
from assistant.errors import AssistantError
from assistant.index import SOURCE_ID_KEY, delete_keys, record_namespace
from assistant.store import StoreLocation, open_store, passage_metadatas

log = logging.getLogger(__name__)


class UnknownSourceError(AssistantError):
    """No indexed document has the name given (or several have)."""


@dataclass(frozen=True)
class SourceInfo:
    """One indexed document."""

    source: str
    title: str
    passages: int
    indexed_at: str
    #: Unique per file: the folder's name in the index (its own name when first indexed; it
    #: stays when the folder moves), ``/``, then ``source``. Give it to ``remove`` when two
    #: folders hold a file of the same name.
    key: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_sources(location: StoreLocation, embeddings: SentenceEmbeddings) -> list[SourceInfo]:
    """List the indexed documents with their passage counts and when they were indexed."""
    store = open_store(location, embeddings)
    counts: dict[str, int] = {}
    first: dict[str, dict[str, Any]] = {}
    for meta in passage_metadatas(store):
        key = str(meta.get(SOURCE_ID_KEY) or meta.get("source", ""))
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, meta)
    times = _indexed_times(location, embeddings)
    return sorted(
        (
            SourceInfo(
                source=str(first[key].get("source", key)),
                title=str(first[key].get("title", "")),
                passages=count,
                indexed_at=times.get(key, ""),
                key=key,
            )
            for key, count in counts.items()
        ),
        key=lambda s: (s.source, s.key),
    )


def remove_source(
    location: StoreLocation,
    embeddings: SentenceEmbeddings,
    name: str,
    *,
    lock_timeout_s: float | None = None,
) -> int:
    """Remove the document called ``name`` (its source, or its key); return passages removed.

    Raises:
        UnknownSourceError: nothing, or more than one document, has that name.
    """
    sources = list_sources(location, embeddings)
    matches = [s for s in sources if name in (s.key, s.source)]
    if not matches:
        known = ", ".join(s.source for s in sources[:10]) or "none"
        raise UnknownSourceError(
            f"No indexed document is called {name!r}. Indexed: {known}. "
            "See `assistant sources` for the full list."
        )
    if len(matches) > 1:
        keys = "; ".join(s.key for s in matches)
        raise UnknownSourceError(
            f"{len(matches)} indexed documents are called {name!r}; remove one by its key: {keys}"
        )
    return delete_keys(location, embeddings, [matches[0].key], lock_timeout_s=lock_timeout_s)


def _indexed_times(location: StoreLocation, embeddings: SentenceEmbeddings) -> dict[str, str]:
    """When each document's passages were last written or confirmed, from the records.

    Read with the standard library's sqlite3, read-only: opening LangChain's record manager
    would import ``langchain_classic.indexes`` (about a second), and the chat lists the
    documents while it starts.
    """
    path = location.records_path
    if not path.exists():
        return {}
    query = (
        "SELECT group_id, MAX(updated_at) FROM upsertion_record "
        "WHERE namespace = ? GROUP BY group_id"
    )
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute(query, (record_namespace(location, embeddings),)).fetchall()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        if "no such table" not in str(exc):  # e.g. locked by an indexing run: say so
            log.warning("cannot read when documents were indexed from %s: %s", path, exc)
        return {}  # the times are unknown (no records yet, or unreadable just now)
    return {
        str(group): dt.datetime.fromtimestamp(float(stamp)).isoformat(timespec="seconds")
        for group, stamp in rows
        if group is not None and stamp is not None
    }
