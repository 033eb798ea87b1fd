"""List the indexed documents and remove one: `assistant sources`, `assistant remove`."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from assistant.embeddings import SentenceEmbeddings
from assistant.errors import AssistantError
from assistant.index import SOURCE_ID_KEY, delete_keys, record_namespace
from assistant.store import (
    StoreLocation,
    count_passages,
    metadatas_by_id,
    open_store,
    passage_metadatas,
)

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
    """List the indexed documents with their passage counts and when they were indexed.

    From the records (one row per passage, grouped by document) and one stored passage's
    metadata per document when the records account for every passage the store holds:
    reading every passage's metadata took 11 s at 100,000 passages, and the chat lists the
    documents while it starts. Otherwise (no records here, as on a second machine reading a
    Chroma server, or records out of step) every passage's metadata is read.
    """
    store = open_store(location, embeddings)
    groups = _record_groups(location, embeddings)
    if groups and sum(g.passages for g in groups.values()) == count_passages(store):
        metas = metadatas_by_id(store, [g.some_id for g in groups.values()])
        if len(metas) == len(groups):
            return _sorted(
                SourceInfo(
                    source=str(metas[g.some_id].get("source", key)),
                    title=str(metas[g.some_id].get("title", "")),
                    passages=g.passages,
                    indexed_at=g.indexed_at,
                    key=key,
                )
                for key, g in groups.items()
            )
    counts: dict[str, int] = {}
    first: dict[str, dict[str, Any]] = {}
    for meta in passage_metadatas(store):
        key = str(meta.get(SOURCE_ID_KEY) or meta.get("source", ""))
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, meta)
    return _sorted(
        SourceInfo(
            source=str(first[key].get("source", key)),
            title=str(first[key].get("title", "")),
            passages=count,
            indexed_at=groups[key].indexed_at if key in groups else "",
            key=key,
        )
        for key, count in counts.items()
    )


def _sorted(sources: Iterable[SourceInfo]) -> list[SourceInfo]:
    return sorted(sources, key=lambda s: (s.source, s.key))


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


@dataclass(frozen=True)
class _Group:
    passages: int
    indexed_at: str  # when its passages were last written or confirmed
    some_id: str  # one of its passages


def _record_groups(location: StoreLocation, embeddings: SentenceEmbeddings) -> dict[str, _Group]:
    """Each document's passage count, time and one passage id, from the records.

    Read with the standard library's sqlite3, read-only: opening LangChain's record manager
    would import ``langchain_classic.indexes`` (about a second), and the chat lists the
    documents while it starts.
    """
    path = location.records_path
    if not path.exists():
        return {}
    query = (
        "SELECT group_id, COUNT(*), MAX(updated_at), MIN(key) FROM upsertion_record "
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
            log.warning("cannot read the indexed documents' records from %s: %s", path, exc)
        return {}  # unknown (no records yet, or unreadable just now)
    return {
        str(group): _Group(
            int(count),
            dt.datetime.fromtimestamp(float(stamp)).isoformat(timespec="seconds")
            if stamp is not None
            else "",
            str(some_id),
        )
        for group, count, stamp, some_id in rows
        if group is not None
    }
