"""Indexes built by an older version, brought up to date once, without reading files again."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStore

from assistant.embeddings import SentenceEmbeddings
from assistant.index.fingerprints import Fingerprints
from assistant.index.folders import new_origin, read_origins, write_origins
from assistant.index.identity import REFRESH_CHUNK, SOURCE_ID_KEY, assign_ids
from assistant.index.records import open_record_manager
from assistant.ingest import context
from assistant.store import (
    PAGE_SIZE,
    StoreLocation,
    delete_ids,
    first_passage,
    passage_rows,
    upsert_with_vectors,
)

log = logging.getLogger(__name__)


def upgrade_layout(
    location: StoreLocation, embeddings: SentenceEmbeddings, store: VectorStore
) -> None:
    """Bring an index built by an older version up to date, once, without reading its files.

    That version named each passage's folder by its absolute path and gave each passage
    LangChain's default id, a hash of its text and all its metadata, offsets included (moving
    a folder duplicated it; an edit re-embedded the whole file). Each of its passages is
    renamed: its folder gets a name (see :func:`assign_origins`) and the passage its new id;
    the records are rewritten to match. Its vector is made again: that version embedded the
    text alone, this one embeds it after its context (:mod:`assistant.ingest.context`), and
    the new id says so.
    """
    first = first_passage(store)
    if first is None or not _is_old_layout(*first):
        return
    records = open_record_manager(location, embeddings)
    Fingerprints(records).forget_all()  # every passage gets a new id: read every file again
    registry = read_origins(location)
    names = {path: name for name, path in registry.items()}
    # Texts and metadata only: the vectors are read a chunk at a time, as they are written.
    old = [row for row in passage_rows(store) if _is_old_layout(*row)]
    renamed: list[Document] = []
    for doc_id, text, meta in old:
        folder = str(meta.get("origin") or "")
        if _is_absolute(folder):
            if folder not in names:
                names[folder] = new_origin(folder, registry)
            meta["origin"] = names[folder]
            meta[SOURCE_ID_KEY] = f"{names[folder]}/{meta.get('source', '')}"
        renamed.append(Document(page_content=text, metadata=meta, id=doc_id))
    renamed.sort(
        key=lambda doc: (
            str(doc.metadata[SOURCE_ID_KEY]),
            int(doc.metadata.get("paragraph") or 0),
            int(doc.metadata.get("part") or 0),
            int(doc.metadata.get("start") or 0),
        )
    )
    old_ids = [doc.id or "" for doc in renamed]
    keyed = list(zip(old_ids, assign_ids(renamed, {}), strict=True))
    for start in range(0, len(keyed), REFRESH_CHUNK):
        chunk = keyed[start : start + REFRESH_CHUNK]
        vectors = embeddings.embed_documents(
            [context.indexed_text(d.page_content, d.metadata) for _, d in chunk]
        )
        upsert_with_vectors(
            store,
            [d.id or "" for _, d in chunk],
            [d.page_content for _, d in chunk],
            [d.metadata for _, d in chunk],
            vectors,
        )
    new_ids = {d.id for _, d in keyed}
    stale = [key for key in dict.fromkeys(old_ids) if key not in new_ids]
    delete_ids(store, stale)
    for start in range(0, len(stale), PAGE_SIZE):
        records.delete_keys(stale[start : start + PAGE_SIZE])
    for start in range(0, len(keyed), PAGE_SIZE):  # SQLite takes 32,766 values a statement
        chunk = keyed[start : start + PAGE_SIZE]
        records.update(
            [d.id or "" for _, d in chunk],
            group_ids=[d.metadata[SOURCE_ID_KEY] for _, d in chunk],
        )
    write_origins(location, registry)
    log.warning(
        "upgraded the index at %s to this version's passage ids: %d passages renamed and "
        "embedded again with their context, no file read",
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
