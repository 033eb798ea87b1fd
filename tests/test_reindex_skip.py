"""Re-indexing passes over files unchanged since their passages were committed, without
reading them, and never when there is any doubt: an edit, the same bytes under other
settings or code, files deleted or moved, passages lost from the store or the records, a
run killed midway, a server.

Real model, real Chroma; the loader is wrapped only to count which files it reads.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from langchain_core.documents import Document

import assistant.index as index_module
import assistant.index.fingerprints as fingerprints_module
import assistant.ingest.context as context_module
import assistant.ingest.passages as passages_module
from assistant.index import index_paths, open_record_manager
from assistant.index.fingerprints import Fingerprints, ids_digest
from assistant.ingest.passages import SourceFile, load_passages
from assistant.sources import list_sources, remove_source
from assistant.store import StoreLocation, all_passages, count_passages, open_store

from .test_index import CountingEmbeddings, _article

#: A long paragraph: one passage in the model's window (256 word pieces), several in a
#: window of 24.
LONG = " ".join(f"Sentence {i} says that the harbour of Vel{i}a is deep." for i in range(8))
REPORTS = 3
#: Passages of the folder made by `docs`: three reports of two, then one each in long.txt
#: (its title, then LONG) and legacy.txt (see test_the_folder_is_as_said).
ALL = REPORTS * 2 + 1 + 1
FILES = ["legacy.txt", "long.txt", "report1.txt", "report2.txt", "report3.txt"]


class Killed(BaseException):
    """Stands for kill -9 at a point of a run: not an ``Exception``, so nothing catches it
    on its way out (the run's per-file handling catches ``Exception``)."""


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(1, REPORTS + 1):
        (folder / f"report{i}.txt").write_text(_article(i))
    (folder / "long.txt").write_text(f"Long\n\n{LONG}\n")
    # Not UTF-8: indexed with a warning, which must be given again when it is passed over.
    (folder / "legacy.txt").write_bytes(
        "Legacy\n\nThe café in Vel1a opens at noon.\n".encode("cp1252")
    )
    return folder


@pytest.fixture
def location(tmp_path: Path) -> StoreLocation:
    return StoreLocation(tmp_path / "index", "test")


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The names of the files the loader reads (the real loader does the reading)."""
    read: list[str] = []
    load_document = passages_module.load_document

    def counted(path, **kwargs):
        read.append(Path(path).name)
        return load_document(path, **kwargs)

    monkeypatch.setattr(passages_module, "load_document", counted)
    return read


def _index(folder: Path, location: StoreLocation, embeddings, **options):
    return index_paths(
        [folder], location=location, embeddings=embeddings, progress=False, **options
    )


def _fresh(folder: Path, embeddings) -> Counter[tuple[str, str]]:
    """The passages the files hold now, read afresh: (source, text) with their counts."""
    found: Counter[tuple[str, str]] = Counter()
    for path in sorted(folder.rglob("*.txt")):
        source = path.relative_to(folder).as_posix()
        for passage in load_passages(
            SourceFile(path, source),
            max_tokens=embeddings.max_tokens,
            count_tokens=embeddings.count_tokens,
        ):
            found[(source, passage.page_content)] += 1
    return found


def _stored(location: StoreLocation, embeddings) -> Counter[tuple[str, str]]:
    passages = all_passages(open_store(location, embeddings))
    return Counter((p.metadata["source"], p.page_content) for p in passages)


def _record_keys(location: StoreLocation) -> list[str]:
    with sqlite3.connect(location.records_path) as db:
        return sorted(row[0] for row in db.execute("SELECT key FROM upsertion_record"))


def _fingerprinted(location: StoreLocation) -> list[str]:
    with sqlite3.connect(location.records_path) as db:
        return sorted(row[0] for row in db.execute("SELECT doc_key FROM file_fingerprint"))


def _assert_rows_whole(location: StoreLocation, embeddings) -> None:
    """Every file with a fingerprint has exactly the passages it records, in the records
    and in the store: what a killed run must never break."""
    records = open_record_manager(location, embeddings)
    store = open_store(location, embeddings)
    stored_by_key: dict[str, set[str]] = {}
    for passage in all_passages(store):
        stored_by_key.setdefault(passage.metadata["doc_key"], set()).add(passage.id or "")
    rows = Fingerprints(records).read(_fingerprinted(location))
    for key, row in rows.items():
        recorded = records.list_keys(group_ids=[key])
        assert (len(recorded), ids_digest(recorded)) == (row.passages, row.ids), key
        assert stored_by_key.get(key, set()) == set(recorded), key


def test_the_folder_is_as_said(docs, embeddings):
    fresh = _fresh(docs, embeddings)
    assert sum(fresh.values()) == ALL
    assert sum(n for (source, _), n in fresh.items() if source == "long.txt") == 1


def test_an_unchanged_run_reads_no_file_and_reports_the_same(docs, location, embeddings, reads):
    first = _index(docs, location, embeddings)
    assert (first.added, first.skipped, first.failed) == (ALL, 0, [])
    assert sorted(reads) == FILES
    assert [w["source"] for w in first.warnings] == ["legacy.txt"]

    reads.clear()
    counting = CountingEmbeddings(embeddings)
    second = _index(docs, location, counting)
    assert reads == []  # not one file read, cleaned or split
    assert counting.embedded == 0
    assert (second.added, second.updated, second.skipped, second.deleted, second.moved) == (
        0,
        0,
        ALL,
        0,
        0,
    )
    assert second.warnings == first.warnings  # the file's warning, given again
    assert _stored(location, embeddings) == _fresh(docs, embeddings)
    # `assistant sources` still says each file was confirmed by this run.
    listed = list_sources(location, embeddings)
    assert [s.passages for s in listed] == [1, 1, 2, 2, 2]


def test_a_file_that_failed_is_read_again_and_others_are_not(docs, location, embeddings, reads):
    (docs / "empty.txt").write_text("")
    _index(docs, location, embeddings)
    reads.clear()
    again = _index(docs, location, embeddings)
    assert reads == ["empty.txt"]
    assert [f["source"] for f in again.failed] == ["empty.txt"]
    assert again.skipped == ALL


def test_an_edited_file_alone_is_read_and_replaced(docs, location, embeddings, reads):
    _index(docs, location, embeddings)
    reads.clear()
    (docs / "report2.txt").write_text(_article(2).replace("elected in", "re-elected in"))
    counting = CountingEmbeddings(embeddings)
    report = _index(docs, location, counting)
    assert reads == ["report2.txt"]
    assert (report.added, report.deleted, report.skipped, counting.embedded) == (1, 1, ALL - 1, 1)
    assert _stored(location, embeddings) == _fresh(docs, embeddings)

    # Same size, other bytes: the content decides, not the size.
    text = (docs / "report1.txt").read_text()
    (docs / "report1.txt").write_text(text.replace("market", "marked"))
    reads.clear()
    report = _index(docs, location, embeddings)
    assert reads == ["report1.txt"]
    assert (report.added, report.deleted) == (1, 1)
    assert _stored(location, embeddings) == _fresh(docs, embeddings)


class NarrowWindow(CountingEmbeddings):
    """The real model, but passages fitted to a smaller window (another chunk size)."""

    @property
    def max_tokens(self) -> int:
        return 24


def test_the_same_bytes_under_another_window_are_split_again(docs, location, embeddings, reads):
    _index(docs, location, embeddings)
    reads.clear()
    narrow = NarrowWindow(embeddings)
    report = _index(docs, location, narrow)
    assert sorted(reads) == FILES  # nothing passed over: the window decides the passages
    stored = _stored(location, embeddings)
    long_parts = [text for (source, text) in stored if source == "long.txt"]
    assert len(long_parts) > 2 and report.deleted == 1  # the one long passage, now in parts
    assert all(narrow.count_tokens(text) <= 24 for text in long_parts)
    assert report.added == len(long_parts) and report.skipped == ALL - 1

    reads.clear()
    assert _index(docs, location, narrow).skipped == sum(stored.values())
    assert reads == []  # and passed over under that window from then on


def test_another_parser_version_reads_every_file_again(
    docs, location, embeddings, reads, monkeypatch
):
    _index(docs, location, embeddings)
    reads.clear()
    monkeypatch.setattr(fingerprints_module, "_version", lambda name: "999")
    counting = CountingEmbeddings(embeddings)
    report = _index(docs, location, counting)
    assert sorted(reads) == FILES
    assert (report.added, report.skipped, counting.embedded) == (0, ALL, 0)  # same passages


def test_changed_ingestion_code_reads_every_file_again(
    docs, location, embeddings, reads, monkeypatch, tmp_path
):
    _index(docs, location, embeddings)
    package = Path(fingerprints_module.__file__).resolve().parent.parent
    copy = tmp_path / "package"
    shutil.copytree(package / "ingest", copy / "ingest")
    shutil.copy(package / "text.py", copy / "text.py")
    (copy / "index").mkdir()
    shutil.copy(package / "index" / "identity.py", copy / "index" / "identity.py")
    monkeypatch.setattr(fingerprints_module, "_PACKAGE", copy)
    reads.clear()
    _index(docs, location, embeddings)
    assert reads == []  # the same code, found elsewhere: the same signature
    with (copy / "ingest" / "passages.py").open("a") as source:
        source.write("\n# a change to how files are split\n")
    _index(docs, location, embeddings)
    assert sorted(reads) == FILES


def test_another_embedding_recipe_embeds_every_passage_again_once(
    docs, location, embeddings, reads, monkeypatch
):
    """What is embedded for a passage (its context and text) is part of what decides it:
    another recipe reads every file and embeds every passage again, under new ids, rather
    than keeping vectors of the old one beside the new; then passes over them as before."""
    _index(docs, location, embeddings)
    before = {p.id for p in all_passages(open_store(location, embeddings))}
    monkeypatch.setattr(context_module, "indexed_text", lambda text, meta: f"{text}\n(v2)")
    reads.clear()
    counting = CountingEmbeddings(embeddings)
    report = _index(docs, location, counting)
    assert sorted(reads) == FILES
    assert (report.added, report.deleted, report.skipped) == (ALL, ALL, 0)
    assert counting.embedded == ALL
    after = all_passages(open_store(location, embeddings))
    assert {p.id for p in after}.isdisjoint(before) and len(after) == ALL
    assert _stored(location, embeddings) == _fresh(docs, embeddings)  # texts stay verbatim

    reads.clear()
    counting = CountingEmbeddings(embeddings)
    assert _index(docs, location, counting).skipped == ALL
    assert (reads, counting.embedded) == ([], 0)


def test_a_deleted_file_is_removed_and_the_rest_passed_over(docs, location, embeddings, reads):
    _index(docs, location, embeddings)
    reads.clear()
    (docs / "report3.txt").unlink()
    report = _index(docs, location, embeddings)
    assert reads == []
    assert (report.deleted, report.skipped) == (2, ALL - 2)
    assert "report3.txt" not in [s.source for s in list_sources(location, embeddings)]
    assert _fingerprinted(location) == [f"docs/{name}" for name in FILES if name != "report3.txt"]

    # Back with the same bytes: its fingerprint went with it, so it is read and indexed.
    (docs / "report3.txt").write_text(_article(3))
    report = _index(docs, location, embeddings)
    assert (reads, report.added) == (["report3.txt"], 2)


def test_a_moved_folder_is_passed_over_and_still_cleaned_up(docs, location, embeddings, reads):
    _index(docs, location, embeddings)
    reads.clear()
    moved = docs.parent / "elsewhere" / "renamed"
    moved.parent.mkdir()
    docs.rename(moved)
    counting = CountingEmbeddings(embeddings)
    report = _index(moved, location, counting)
    assert (reads, counting.embedded) == ([], 0)
    assert (report.added, report.deleted, report.skipped) == (0, 0, ALL)
    assert count_passages(open_store(location, embeddings)) == ALL

    (moved / "report1.txt").unlink()
    report = _index(moved, location, embeddings)
    assert (reads, report.deleted) == ([], 2)


def test_passages_lost_from_the_store_are_written_again(docs, location, embeddings, reads):
    _index(docs, location, embeddings)
    reads.clear()
    # Deleted behind the index's back: straight from Chroma, the records untouched.
    store = open_store(location, embeddings)
    store._collection.delete(where={"doc_key": "docs/report2.txt"})
    assert count_passages(store) == ALL - 2
    report = _index(docs, location, embeddings)
    assert reads == ["report2.txt"]
    assert (report.added, report.skipped) == (2, ALL - 2)
    assert _stored(location, embeddings) == _fresh(docs, embeddings)
    assert _record_keys(location) == sorted(p.id or "" for p in all_passages(store))


def test_passages_lost_from_the_records_are_recorded_again(docs, location, embeddings, reads):
    _index(docs, location, embeddings)
    reads.clear()
    with sqlite3.connect(location.records_path) as db:
        db.execute("DELETE FROM upsertion_record WHERE group_id = 'docs/report1.txt'")
    report = _index(docs, location, embeddings)
    assert reads == ["report1.txt"]
    assert (report.added, report.skipped) == (2, ALL - 2)  # upserted: the same ids, once
    assert _stored(location, embeddings) == _fresh(docs, embeddings)
    store = open_store(location, embeddings)
    assert _record_keys(location) == sorted(p.id or "" for p in all_passages(store))


def test_passages_in_the_store_but_not_the_records_raise_doubt(docs, location, embeddings, reads):
    _index(docs, location, embeddings)
    reads.clear()
    # As a run killed between its write to the store and to the records leaves them: one
    # for a file still there (read again), one for a file since deleted (cleaned up).
    store = open_store(location, embeddings)
    for key, source in (("docs/report1.txt", "report1.txt"), ("docs/ghost.txt", "ghost.txt")):
        meta = {"source": source, "title": "T", "section": "", "doc_key": key, "origin": "docs"}
        store.add_documents([Document(f"Stray text of {source}.", metadata=meta)])
    report = _index(docs, location, embeddings)
    assert reads == ["report1.txt"]
    assert report.deleted == 2  # ghost.txt's, and report1.txt's stray passage
    assert _stored(location, embeddings) == _fresh(docs, embeddings)
    reads.clear()
    assert (_index(docs, location, embeddings).skipped, reads) == (ALL, [])


def test_removed_and_rebuilt_files_are_read_again(docs, location, embeddings, reads):
    _index(docs, location, embeddings)
    assert remove_source(location, embeddings, "report1.txt") == 2
    assert "docs/report1.txt" not in _fingerprinted(location)
    reads.clear()
    report = _index(docs, location, embeddings)
    assert (reads, report.added) == (["report1.txt"], 2)

    reads.clear()
    rebuilt = _index(docs, location, embeddings, rebuild=True)
    assert sorted(reads) == FILES
    assert (rebuilt.added, rebuilt.skipped) == (ALL, 0)


def test_a_file_now_over_the_size_limit_fails_rather_than_being_passed_over(
    docs, location, embeddings, reads
):
    (docs / "long.txt").write_text(f"Long\n\n{LONG}\n" + "\n" * 2_000)  # 2.5 kB, the others < 1
    _index(docs, location, embeddings)
    reads.clear()
    report = _index(docs, location, embeddings, max_file_mb=0.002)
    assert [f["source"] for f in report.failed] == ["long.txt"]
    assert count_passages(open_store(location, embeddings)) == ALL  # its passages are kept


KILL_POINTS = {
    "between batches": ("_write_batch", 3),
    "before stale passages are deleted": ("_delete_unconfirmed", 1),
    "before moved passages get their positions": ("_refresh_positions", 1),
    "before the fingerprints are written": ("remember", 1),
    "before files gone are deleted": ("delete_keys", 1),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_run_killed_midway_leaves_no_fingerprint_it_should_not(
    docs, location, embeddings, reads, monkeypatch, point
):
    _index(docs, location, embeddings, batch_size=2)
    original = (docs / "report1.txt").read_bytes()
    # Edits of every kind: a paragraph changed, paragraphs swapped (positions move), a file
    # deleted, a file added.
    (docs / "report1.txt").write_text(_article(1).replace("market", "fair"))
    head, first, second = _article(2).rstrip("\n").split("\n\n")
    (docs / "report2.txt").write_text(f"{head}\n\n{second}\n\n{first}\n")
    (docs / "report3.txt").unlink()
    (docs / "new.txt").write_text("New\n\nA new passage about the port of Vel4a.\n")

    name, on_call = KILL_POINTS[point]
    owner = Fingerprints if name == "remember" else index_module
    real = getattr(owner, name)
    calls = Counter[str]()

    def killed(*args, **kwargs):
        calls[name] += 1
        if calls[name] == on_call:
            raise Killed(point)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, killed)
    with pytest.raises(Killed):
        _index(docs, location, embeddings, batch_size=2)
    monkeypatch.setattr(owner, name, real)
    _assert_rows_whole(location, embeddings)

    # The edit undone: a fingerprint left from before the killed run would now match the
    # file's bytes while its passages are not (all) those bytes'.
    (docs / "report1.txt").write_bytes(original)
    report = _index(docs, location, embeddings, batch_size=2)
    assert report.failed == []
    assert _stored(location, embeddings) == _fresh(docs, embeddings)
    store = open_store(location, embeddings)
    assert _record_keys(location) == sorted(p.id or "" for p in all_passages(store))
    _assert_rows_whole(location, embeddings)

    reads.clear()
    final = _index(docs, location, embeddings, batch_size=2)
    assert reads == []
    assert (final.added, final.deleted, final.skipped) == (
        0,
        0,
        sum(_fresh(docs, embeddings).values()),
    )


@pytest.mark.server
@pytest.mark.slow
def test_on_a_server_unchanged_files_are_passed_over_and_lost_ones_written(
    docs, tmp_path, embeddings, reads, chroma_url
):
    location = StoreLocation(tmp_path / "index", "test", chroma_url)
    first = _index(docs, location, embeddings)
    assert first.added == ALL
    reads.clear()
    again = _index(docs, location, embeddings)
    assert (reads, again.skipped) == ([], ALL)

    # Another client of the server deletes a file's passages: this machine's records and
    # fingerprints still know them; the store's ids decide.
    open_store(location, embeddings)._collection.delete(where={"doc_key": "docs/report3.txt"})
    report = _index(docs, location, embeddings)
    assert (reads, report.added) == (["report3.txt"], 2)
    assert _stored(location, embeddings) == _fresh(docs, embeddings)
