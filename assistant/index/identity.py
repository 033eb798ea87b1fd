"""Passage identity: the id of a passage and the key of its document.

A passage's id is a hash of what identifies it: its text, its document (the folder's stable
name in this index + the file's path relative to that folder, see :mod:`.folders`), the
title and section, what the index embeds for it (:func:`~assistant.ingest.context.indexed_text`:
the id names the vector, so a new recipe gives new ids and the passage is embedded again),
and which copy of that text in the document it is. Not its offsets or
paragraph number: an edit elsewhere in the file shifts those, and they are then rewritten in
place, without embedding the passage again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from langchain_core.documents import Document

from assistant.ingest import context

#: The record manager groups passages by this key: one group per file.
SOURCE_ID_KEY = "doc_key"
#: The metadata that identifies a passage (with its text); the rest (paragraph, offsets,
#: page, part) says where it is, and is updated in place when it moves.
IDENTITY_KEYS = (SOURCE_ID_KEY, "source", "title", "section")
#: Ids whose stored metadata is read (and rewritten) at once.
REFRESH_CHUNK = 2000


def assign_ids(
    passages: Iterable[Document], positions: dict[str, dict[str, Any]]
) -> Iterator[Document]:
    """The passages with their group key and id: a hash of the text, the identifying
    metadata (:data:`IDENTITY_KEYS`, the document's key among them) and which copy of that
    in the document it is. Each one's metadata is kept in ``positions`` by id."""
    seen: dict[str, int] = {}
    for passage in passages:
        meta = passage.metadata
        meta.setdefault(SOURCE_ID_KEY, meta.get("source", ""))
        identity = _digest(_identity(passage))
        copy = seen[identity] = seen.get(identity, 0) + 1  # the same paragraph twice
        passage.id = _digest(f"{identity}\n{copy}")
        positions[passage.id] = dict(meta)
        yield passage


def _identity(passage: Document) -> str:
    values = {k: passage.metadata.get(k) for k in IDENTITY_KEYS}
    embedded = context.indexed_text(passage.page_content, passage.metadata)
    return json.dumps([passage.page_content, values, embedded], sort_keys=True, ensure_ascii=True)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def passage_id(passage: Document) -> str:
    """The id :func:`assign_ids` gave the passage (LangChain calls this as its key encoder)."""
    if not passage.id:
        raise ValueError("passage without an id")
    return str(passage.id)
