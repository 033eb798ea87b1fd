"""Index documents incrementally: unchanged passages are skipped, changed ones replaced.

Uses LangChain's indexing API with a SQL record manager kept beside Chroma in ``index/``
(:mod:`.records`). Passage ids come from :mod:`.identity` (text and document, not offsets),
folders keep stable names (:mod:`.folders`), and an index from an older version is brought
up to date first (:mod:`.upgrade`). A file unchanged since its passages were committed is
passed over without being read (:mod:`.fingerprints`). Chroma *upserts* by id, so a run
killed midway and run again still ends with every passage exactly once. Every write holds
the index's write lock, and gives the collection a new version
(:func:`assistant.store.mark_written`): a running chat, in any process, sees it on its next
question.
"""

from __future__ import annotations

import functools
import logging
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from itertools import groupby, islice
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStore

from assistant.embeddings import SentenceEmbeddings
from assistant.errors import (
    IndexCorruptError,
    IngestError,
    StoreIncompatibleError,
    StoreUnauthorizedError,
    StoreUnreachableError,
)
from assistant.index.fingerprints import (
    Fingerprint,
    Fingerprints,
    confirm_records,
    forget_records,
    ids_digest,
    passage_signature,
    survey,
)
from assistant.index.folders import assign_origins, origin_folder
from assistant.index.identity import REFRESH_CHUNK, SOURCE_ID_KEY, assign_ids, passage_id
from assistant.index.records import (
    forget_record_managers,
    open_record_manager,
    record_namespace,
    write_lock,
)
from assistant.index.upgrade import upgrade_layout
from assistant.index.writer import ContextWriter
from assistant.ingest.passages import SourceFile, load_passages, printable, walk
from assistant.keywords import KeywordIndex, WrittenTerms
from assistant.store import (
    PAGE_SIZE,
    StoreLocation,
    collection_name,
    count_passages,
    delete_collection,
    delete_ids,
    delete_where_in,
    mark_written,
    metadatas_by_id,
    open_store,
    store_error,
    update_metadatas,
    write_manifest,
)

__all__ = [
    "SOURCE_ID_KEY",
    "IndexReport",
    "delete_keys",
    "index_documents",
    "index_paths",
    "open_record_manager",
    "origin_folder",
    "record_namespace",
    "remove_index",
    "write_lock",
]

log = logging.getLogger(__name__)

#: Passages per indexing batch: embedded together (sorted by length, so they pad little and
#: keep both cores busy) and written to Chroma in one upsert. 512 measured ~20% faster than
#: 64 on SQuAD; a run killed midway redoes at most one batch.
_BATCH_SIZE = 512
#: Files (record groups) named in one query of the records: far below SQLite's limit of
#: 32,766 variables a statement.
_GROUPS_PER_QUERY = 500


@dataclass
class IndexReport:
    """What one indexing run changed, as ``assistant index --json`` prints it.

    ``moved``: passages kept (not embedded again) whose paragraph number or offsets changed.
    ``warnings``: files indexed that the user should check (a guessed encoding), and files
    passed over on purpose (symbolic links, pipes), each ``{"source", "warning"}``.
    """

    added: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0
    moved: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
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
    batch_size: int = _BATCH_SIZE,
    lock_timeout_s: float | None = None,
    max_file_mb: float | None = None,
) -> IndexReport:
    """Index the files under ``paths`` into the store at ``location``.

    A file that cannot be read (or written) is reported in ``failed``, its earlier passages
    are kept, and the other files are still indexed. A file whose passages are in the index
    and whose bytes (and everything else that decides its passages) are the same as when
    they were committed is not read again: its passages count as skipped. For each folder
    given, the passages of files that are no longer in it are deleted. With ``rebuild`` the
    store is deleted first (the way out of a corrupt index). ``batch_size``: passages
    embedded and written per batch. A file larger than ``max_file_mb`` fails without being
    read.

    Raises:
        IngestError: a path does not exist (checked before anything is changed).
        IndexBusyError: another process kept the index locked for ``lock_timeout_s``.
    """
    paths = list(paths)
    found = walk(paths)
    files = found.files
    started = time.perf_counter()
    with _writing(location, embeddings, rebuild=rebuild, lock_timeout_s=lock_timeout_s) as (
        store,
        written,
    ):
        files, origins = assign_origins(location, store, files, paths)
        report = IndexReport()
        for source, reason in found.skipped:
            _warn(report, source, f"skipped: {reason}")
        scanned = {origins[str(p.resolve())] for p in paths if p.is_dir()}
        records = open_record_manager(location, embeddings)
        fingerprints = Fingerprints(records)
        signature = passage_signature(embeddings)
        found_now = survey(
            files,
            scanned,
            store=store,
            records=records,
            fingerprints=fingerprints,
            signature=signature,
            max_file_mb=max_file_mb,
        )
        forget_records(records, found_now.lost)  # the store lost them: write them again
        confirm_records(records, found_now.unchanged)
        read: dict[str, Fingerprint] = {}
        passages = _passages(
            files,
            embeddings,
            report,
            progress=progress,
            max_file_mb=max_file_mb,
            unchanged=found_now.unchanged,
            read=read,
            signature=signature,
        )
        committed = _index_documents(
            passages, location, embeddings, store, report, batch_size, written
        )
        # Passages the store held and the records did not (a run killed between its two
        # writes) that this run did not write again: left from an earlier version of a file.
        strays = [
            doc_id
            for key, ids in committed.items()
            for doc_id in set(found_now.unrecorded.get(key, ())) - set(ids)
        ]
        if strays:
            delete_ids(store, strays)
            report.deleted += len(strays)
            mark_changed(location, embeddings, store)
        # Only now that every passage is committed (written, recorded, stale ones deleted).
        fingerprints.remember(
            {
                key: replace(read[key], passages=len(ids), ids=ids_digest(ids))
                for key, ids in committed.items()
                if key in read
            }
        )
        if scanned:  # files that failed are present: their earlier passages are kept
            present = {f.key for f in files}
            gone = sorted(found_now.stored - present)
            report.deleted += delete_keys(location, embeddings, gone)
        report.seconds = time.perf_counter() - started
    log.info("indexed: %s", report.to_dict())
    return report


def index_documents(
    passages: Iterable[Document],
    *,
    location: StoreLocation,
    embeddings: SentenceEmbeddings,
    rebuild: bool = False,
    report: IndexReport | None = None,
    batch_size: int = _BATCH_SIZE,
    lock_timeout_s: float | None = None,
) -> IndexReport:
    """Index ready-made passages incrementally, grouped by ``metadata["doc_key"]``
    (falling back to ``metadata["source"]``), ``batch_size`` passages at a time."""
    report = report or IndexReport()
    started = time.perf_counter()
    with _writing(location, embeddings, rebuild=rebuild, lock_timeout_s=lock_timeout_s) as (
        store,
        written,
    ):
        _index_documents(passages, location, embeddings, store, report, batch_size, written)
        report.seconds = time.perf_counter() - started
    log.info("indexed: %s", report.to_dict())
    return report


@contextmanager
def _writing(
    location: StoreLocation,
    embeddings: SentenceEmbeddings,
    *,
    rebuild: bool,
    lock_timeout_s: float | None,
) -> Iterator[tuple[VectorStore, WrittenTerms]]:
    """Hold the write lock, delete the index first with ``rebuild``, and give the store
    (created if missing, brought up to this version's layout) and where the run keeps the
    terms of the passages it writes."""
    with write_lock(location, lock_timeout_s):
        if rebuild:
            remove_index(location, embeddings)
        store = open_store(location, embeddings, create=True)
        upgrade_layout(location, embeddings, store)
        written = WrittenTerms()
        yield store, written
        # Bring the saved keyword index up to date with what was written, so that the next
        # process to open the index loads it instead of reading and tokenising passages.
        # The passages written are not read back: their terms were taken as they were
        # written. It is a cache: failing here costs the next reader time, never the run
        # its result (a run that fails or is killed leaves it as it was: out of step, which
        # the next reader sees and catches up with).
        try:
            KeywordIndex(store, location, written=written)
        except Exception as exc:  # noqa: BLE001 - the passages are written; say so and go on
            log.warning("the saved keyword index was not updated (%s: %s)", type(exc).__name__, exc)


def _index_documents(
    passages: Iterable[Document],
    location: StoreLocation,
    embeddings: SentenceEmbeddings,
    store: VectorStore,
    report: IndexReport,
    batch_size: int,
    written: WrittenTerms,
) -> dict[str, list[str]]:
    """Write the passages batch by batch; a batch that fails is written again file by file,
    so that only the files that really fail are lost (and reported). Then delete the
    passages of the files seen that were not confirmed by this run, and rewrite the moved
    passages' positions. Return the ids of the passages of each file written whole.

    Only the metadata of passages kept from before is held until then (those written now
    have the positions the store holds): not a dict per passage of a large first run."""
    records = open_record_manager(location, embeddings)
    fingerprints = Fingerprints(records)
    since = records.get_time()
    writer = ContextWriter(store, embeddings)  # embeds each passage with its context
    positions: dict[str, dict[str, Any]] = {}
    ids_of: dict[str, list[str]] = {}  # each file's passages, by key
    groups: dict[str, str] = {}
    failed: set[str] = set()
    batches = _batched(assign_ids(passages, positions), batch_size)
    for batch in batches:
        new = {}
        for passage in batch:
            key = passage.metadata[SOURCE_ID_KEY]
            if key not in groups:
                new[key] = groups[key] = passage.metadata["source"]
            ids_of.setdefault(key, []).append(str(passage.id))
        # A file's fingerprint goes before any of its passages is written: a run killed
        # from here on leaves none saying that its passages are whole.
        fingerprints.forget(new)
        try:
            _write_batch(batch, records, writer, report, written)
        except Exception as exc:  # noqa: BLE001 - retried file by file below
            log.warning(
                "a batch of %d passages failed (%s); retrying file by file", len(batch), exc
            )
            _write_files(batch, records, writer, report, written, failed, groups, location)
        for passage in batch:
            if passage.id in written.position:  # just written: nothing to rewrite
                positions.pop(str(passage.id), None)
    # The files' passages this run did not confirm (edited or gone from the file).
    stale = [key for key in groups if key not in failed]
    report.deleted += _delete_unconfirmed(records, store, stale, since)
    report.moved += _refresh_positions(store, positions, failed)
    mark_changed(location, embeddings, store)
    return {key: ids for key, ids in ids_of.items() if key not in failed}


def _write_files(
    batch: list[Document],
    records: Any,
    writer: ContextWriter,
    report: IndexReport,
    written: WrittenTerms,
    failed: set[str],
    groups: dict[str, str],
    location: StoreLocation,
) -> None:
    """Write a batch that failed file by file: the files that fail are reported, and added
    to ``failed``."""
    for key, group in groupby(batch, key=lambda p: p.metadata[SOURCE_ID_KEY]):
        if key in failed:
            continue
        try:
            _write_batch(list(group), records, writer, report, written)
        except Exception as exc:  # noqa: BLE001 - the file is reported, the rest go on
            problem = store_error(location, exc)
            if isinstance(problem, (StoreUnreachableError, StoreUnauthorizedError)):
                raise problem from exc  # not this file's fault: stop, say why
            failed.add(key)
            source = printable(str(groups[key]))
            reason = printable(f"cannot be written to the index: {type(exc).__name__}: {exc}")
            report.failed.append({"source": source, "error": reason})
            log.warning("skipped %s: %s", source, reason)


def _write_batch(
    batch: list[Document],
    records: Any,
    writer: ContextWriter,
    report: IndexReport,
    written: WrittenTerms,
) -> None:
    """Write the batch's passages the records do not know (LangChain's indexing API skips
    the others), and keep the terms of those in ``written`` once they are."""
    from langchain_core.indexing import index

    known = records.exists([passage_id(p) for p in batch])
    fresh = [p for p, exists in zip(batch, known, strict=True) if not exists]
    stats = index(
        batch,
        records,
        writer,
        cleanup=None,
        source_id_key=SOURCE_ID_KEY,
        key_encoder=passage_id,
        batch_size=max(len(batch), 1),
    )
    if stats["num_added"] or stats.get("num_updated", 0):
        mark_written(writer.store)  # readers see each batch, even of a run killed later
    report.added += stats["num_added"]
    report.updated += stats.get("num_updated", 0)
    report.skipped += stats["num_skipped"]
    written.add(fresh)


def _delete_unconfirmed(records: Any, store: VectorStore, keys: list[str], since: float) -> int:
    deleted = 0
    for start in range(0, len(keys), _GROUPS_PER_QUERY):
        chunk = keys[start : start + _GROUPS_PER_QUERY]
        while stale := records.list_keys(group_ids=chunk, before=since, limit=PAGE_SIZE):
            delete_ids(store, stale)  # the store first: a run killed here leaves records
            records.delete_keys(stale)
            deleted += len(stale)
    return deleted


def _refresh_positions(
    store: VectorStore, positions: dict[str, dict[str, Any]], failed: set[str]
) -> int:
    """Rewrite the metadata of kept passages that moved in their file (their paragraph
    number, offsets, page): no embedding, the vector is the same."""
    ids = [i for i, meta in positions.items() if meta.get(SOURCE_ID_KEY) not in failed]
    moved = 0
    for start in range(0, len(ids), REFRESH_CHUNK):
        stored = metadatas_by_id(store, ids[start : start + REFRESH_CHUNK])
        changed = [
            doc_id
            for doc_id, meta in stored.items()
            if any(meta.get(k) != v for k, v in positions[doc_id].items())
        ]
        update_metadatas(store, changed, [positions[i] for i in changed])
        moved += len(changed)
    return moved


def _batched(items: Iterable[Document], size: int) -> Iterator[list[Document]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def mark_changed(
    location: StoreLocation, embeddings: SentenceEmbeddings, store: VectorStore
) -> None:
    """Record the model and passage count in the manifest. (Readers see changes by the
    collection's version, which every write to it has already moved: a run that changed
    nothing leaves it, and their BM25, alone.)"""
    write_manifest(
        location,
        {
            "embedding_model": embeddings.model_name,
            "embedding_backend": embeddings.backend,
            "passage_precision": "int8" if embeddings.quantized_passages else embeddings.precision,
            "collection": collection_name(location.collection, embeddings),
            "changed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "passages": count_passages(store),
        },
    )


def remove_index(location: StoreLocation, embeddings: SentenceEmbeddings) -> None:
    """Delete this model's collection and its records (the way out of a damaged index).

    The collection is deleted through Chroma (embedded or on a server); only an embedded
    store too damaged to open is deleted as a folder.
    """
    with write_lock(location):
        targets = [location.records_path, location.manifest_path, location.keywords_dir]
        try:
            delete_collection(location, embeddings)
        except (IndexCorruptError, StoreIncompatibleError):
            if location.chroma_url:
                raise
            targets.append(location.chroma_dir)
        forget_record_managers(location.records_path)
        for target in targets:
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()


def delete_keys(
    location: StoreLocation,
    embeddings: SentenceEmbeddings,
    doc_keys: Iterable[str],
    *,
    lock_timeout_s: float | None = None,
) -> int:
    """Delete every passage of the given files from the store and the records."""
    doc_keys = list(doc_keys)
    if not doc_keys:
        return 0
    with write_lock(location, lock_timeout_s):
        store = open_store(location, embeddings)
        records = open_record_manager(location, embeddings)
        Fingerprints(records).forget(doc_keys)  # first: their passages are going
        deleted = 0
        for ids in delete_where_in(store, SOURCE_ID_KEY, doc_keys):
            records.delete_keys(ids)  # the store first: a run killed here leaves records
            deleted += len(ids)
        # Records may know passages the store lost (a run killed midway): drop those too.
        for start in range(0, len(doc_keys), _GROUPS_PER_QUERY):
            groups = doc_keys[start : start + _GROUPS_PER_QUERY]
            while recorded := records.list_keys(group_ids=groups, limit=PAGE_SIZE):
                records.delete_keys(recorded)
        mark_changed(location, embeddings, store)
    return deleted


_PROGRESS_EVERY = 64  # passages between updates of the in-file progress


def _passages(
    files: list[SourceFile],
    embeddings: SentenceEmbeddings,
    report: IndexReport,
    *,
    progress: bool,
    max_file_mb: float | None,
    unchanged: dict[str, Fingerprint],
    read: dict[str, Fingerprint],
    signature: str,
) -> Iterator[Document]:
    """The passages of ``files`` but the ``unchanged`` ones (their passages are counted as
    skipped, their warnings given again); each file read gets its fingerprint in ``read``
    (without its passages yet)."""
    from tqdm import tqdm

    bar = tqdm(files, desc="indexing", unit="file", file=sys.stderr, disable=not progress)
    for file in bar:
        known = unchanged.get(file.key)
        if known is not None:
            report.skipped += known.passages
            for warning in known.warnings:
                _warn(report, file.source, warning)
            continue
        bar.set_postfix_str(file.source[-40:], refresh=False)
        warnings: list[str] = []
        content: list[tuple[int, str]] = []
        try:
            passages = load_passages(
                file,
                max_tokens=embeddings.max_tokens,
                count_tokens=embeddings.count_tokens,
                max_file_mb=max_file_mb,
                warn=functools.partial(_warn, report, file.source, kept=warnings),
                fingerprint=functools.partial(_keep_content, content),
            )
        except IngestError as exc:
            _fail(report, file, str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one file's failure never stops the run
            _fail(report, file, f"cannot be read: {type(exc).__name__}: {exc}")
            continue
        for size, sha256 in content[-1:]:
            read[file.key] = Fingerprint(size, sha256, signature, warnings=tuple(warnings))
        # Progress within the file: a large one is thousands of passages, embedded batch by
        # batch as they are taken from here, and minutes with the file count standing still.
        total = len(passages)
        for n, passage in enumerate(passages, start=1):
            if total > _PROGRESS_EVERY and (n % _PROGRESS_EVERY == 1 or n == total):
                bar.set_postfix_str(f"{file.source[-40:]}: passage {n:,}/{total:,}")
            yield passage


def _warn(report: IndexReport, source: str, message: str, *, kept: list[str] | None = None) -> None:
    if kept is not None:
        kept.append(message)
    report.warnings.append({"source": source, "warning": printable(message)})
    log.info("%s: %s", source, message)  # the CLI prints the report's warnings itself


def _keep_content(kept: list[tuple[int, str]], size: int, sha256: str) -> None:
    kept.append((size, sha256))


def _fail(report: IndexReport, file: SourceFile, reason: str) -> None:
    reason = printable(reason)
    report.failed.append({"source": file.source, "error": reason})
    log.warning("skipped %s: %s", file.source, reason)
