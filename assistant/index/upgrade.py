"""Indexes built by an older version, brought up to date once, without embedding."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStore

from assistant.embeddings import SentenceEmbeddings
from assistant.index.folders import new_origin, read_origins, write_origins
from assistant.index.identity import REFRESH_CHUNK, SOURCE_ID_KEY, assign_ids
from assistant.index.records import open_record_manager
from assistant.store import (
    StoreLocation,
    delete_ids,
    first_passage,
    passages_with_vectors,
    upsert_with_vectors,
)

log = logging.getLogger(__name__)


def upgrade_layout(
    location: StoreLocation, embeddings: SentenceEmbeddings, store: VectorStore
) -> None:
    """Bring an index built by an older version up to date, once, without embedding anything.

    That version named each passage's folder by its absolute path and gave each passage
    LangChain's default id, a hash of its text and all its metadata, offsets included (moving
    a folder duplicated it; an edit re-embedded the whole file). Each of its passages is
    renamed: its folder gets a name (see :func:`assign_origins`) and the passage its new id,
    keeping its vector; the records are rewritten to match.
    """
    first = first_passage(store)
    if first is None or not _is_old_layout(*first):
        return
    records = open_record_manager(location, embeddings)
    registry = read_origins(location)
    names = {path: name for name, path in registry.items()}
    old = [row for row in passages_with_vectors(store) if _is_old_layout(*row[:3])]
    renamed: list[tuple[Document, Any]] = []
    for doc_id, text, meta, vector in old:
        folder = str(meta.get("origin") or "")
        if _is_absolute(folder):
            if folder not in names:
                names[folder] = new_origin(folder, registry)
            meta["origin"] = names[folder]
            meta[SOURCE_ID_KEY] = f"{names[folder]}/{meta.get('source', '')}"
        renamed.append((Document(page_content=text, metadata=meta, id=doc_id), vector))
    renamed.sort(
        key=lambda pair: (
            str(pair[0].metadata[SOURCE_ID_KEY]),
            int(pair[0].metadata.get("paragraph") or 0),
            int(pair[0].metadata.get("part") or 0),
            int(pair[0].metadata.get("start") or 0),
        )
    )
    old_ids = [doc.id or "" for doc, _ in renamed]
    keyed = list(
        zip(assign_ids([doc for doc, _ in renamed], {}), [v for _, v in renamed], strict=True)
    )
    for start in range(0, len(keyed), REFRESH_CHUNK):
        chunk = keyed[start : start + REFRESH_CHUNK]
        upsert_with_vectors(
            store,
            [d.id or "" for d, _ in chunk],
            [d.page_content for d, _ in chunk],
            [d.metadata for d, _ in chunk],
            [vector for _, vector in chunk],
        )
    new_ids = {d.id for d, _ in keyed}
    delete_ids(store, [i for i in set(old_ids) if i not in new_ids])
    stale = [key for key in old_ids if key not in new_ids]
    if stale:
        records.delete_keys(stale)
    records.update(
        [d.id or "" for d, _ in keyed],
        group_ids=[d.metadata[SOURCE_ID_KEY] for d, _ in keyed],
    )
    write_origins(location, registry)
    log.warning(
        "upgraded the index at %s to this version's passage ids: %d passages renamed, "
        "none embedded again",
        location.describe(),
        len(keyed),
    )


def _is_old_layout(doc_id: str, text: str, meta: dict[str, Any]) -> bool:
    """Whether a stored passage was written by the older version: its folder is a path, or
    its id is LangChain's default hash of its text and all its metadata."""
    if _is_absolute(str(meta.get("origin") or "")):
        return True
    content = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        serialized = json.dumps(meta, sort_keys=True)
    except (TypeError, ValueError):
        return False
    metadata = hashlib.sha256(serialized.encode("utf-8", "surrogatepass")).hexdigest()
    return doc_id == hashlib.sha256((content + metadata).encode()).hexdigest()


def _is_absolute(origin: str) -> bool:
    return bool(origin) and (os.path.isabs(origin) or "/" in origin or "\\" in origin)
