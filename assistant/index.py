"""Index documents incrementally: unchanged passages are skipped, changed ones replaced.

Uses LangChain's indexing API with a SQL record manager kept beside Chroma in ``index/``:
each passage is hashed (content + metadata); a hash already recorded is not embedded again.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from assistant.embeddings import SentenceEmbeddings
from assistant.errors import IngestError
from assistant.ingest import SourceFile, find_files, load_passages
from assistant.store import (
    StoreLocation,
    collection_name,
    forget_client,
    open_store,
    write_manifest,
)

log = logging.getLogger(__name__)

# Choose once: changing the key encoder re-embeds everything.
_KEY_ENCODER = "sha256"
_BATCH_SIZE = 64


@dataclass
class IndexReport:
    """What one indexing run changed, as ``assistant index --json`` prints it."""

    added: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data


def index_paths(
    paths: Iterable[Path],
    *,
    location: StoreLocation,
    embeddings: SentenceEmbeddings,
    rebuild: bool = False,
    progress: bool = True,
) -> IndexReport:
    """Index the supported files under ``paths`` into the store at ``location``.

    A file that cannot be read is reported in ``failed`` and the others are still indexed.
    With ``rebuild`` the store is deleted first (the way out of a corrupt index).

    Raises:
        IngestError: a path does not exist (checked before anything is changed).
    """
    files = find_files(list(paths))
    report = IndexReport()
    passages = _passages(files, embeddings, report, progress=progress)
    return index_documents(passages, location=location, embeddings=embeddings,
                           rebuild=rebuild, report=report)


def index_documents(
    passages: Iterable[Document],
    *,
    location: StoreLocation,
    embeddings: SentenceEmbeddings,
    rebuild: bool = False,
    report: IndexReport | None = None,
) -> IndexReport:
    """Index ready-made passages (each with a ``source`` in its metadata) incrementally."""
    from langchain_core.indexing import index

    started = time.perf_counter()
    report = report or IndexReport()
    if rebuild:
        remove_index(location)
    store = open_store(location, embeddings, create=True)
    records = open_record_manager(location, embeddings)
    stats = index(
        passages,
        records,
        store,
        cleanup="incremental",
        source_id_key="source",
        key_encoder=_KEY_ENCODER,
        batch_size=_BATCH_SIZE,
    )
    report.added = stats["num_added"]
    report.updated = stats.get("num_updated", 0)
    report.skipped = stats["num_skipped"]
    report.deleted = stats["num_deleted"]
    report.seconds = time.perf_counter() - started
    write_manifest(
        location,
        {
            "embedding_model": embeddings.model_name,
            "embedding_backend": embeddings.backend,
            "collection": collection_name(location.collection, embeddings),
            "indexed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "passages": store._collection.count(),
        },
    )
    log.info("indexed: %s", report.to_dict())
    return report


def open_record_manager(location: StoreLocation, embeddings: SentenceEmbeddings) -> Any:
    """Open (and create if needed) the SQL record manager beside the store."""
    from langchain_classic.indexes import SQLRecordManager

    location.index_dir.mkdir(parents=True, exist_ok=True)
    namespace = f"chroma/{collection_name(location.collection, embeddings)}"
    if location.chroma_url:
        namespace = f"{location.chroma_url}/{namespace}"
    records = SQLRecordManager(
        namespace, db_url=f"sqlite:///{location.index_dir.resolve()}/records.sqlite"
    )
    records.create_schema()
    return records


def remove_index(location: StoreLocation) -> None:
    """Delete the embedded store and its records (a server's collection is left alone)."""
    forget_client(location)
    for child in ("chroma", "records.sqlite", "manifest.json"):
        target = location.index_dir / child
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _passages(
    files: list[SourceFile],
    embeddings: SentenceEmbeddings,
    report: IndexReport,
    *,
    progress: bool,
) -> Iterator[Document]:
    from tqdm import tqdm

    bar = tqdm(files, desc="indexing", unit="file", file=sys.stderr, disable=not progress)
    for file in bar:
        bar.set_postfix_str(file.source[-40:], refresh=False)
        try:
            passages = load_passages(file, max_tokens=embeddings.max_tokens,
                                     count_tokens=embeddings.count_tokens)
        except IngestError as exc:
            report.failed.append({"source": file.source, "error": str(exc)})
            log.warning("skipped %s: %s", file.source, exc)
            continue
        yield from passages

