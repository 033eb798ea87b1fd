"""Incremental indexing with the real model and Chroma: add, change, remove, failures, kill -9."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from assistant.index import index_paths
from assistant.keywords import KeywordIndex
from assistant.sources import list_sources, remove_source
from assistant.store import StoreLocation, all_passages, open_store

from .conftest import ARTICLE, ROOT
from .test_keywords_written import assert_saved_index_is_the_stores


class CountingEmbeddings:
    """The real embeddings, counting how many texts were embedded and in which calls (each
    indexing batch is embedded in one call) -- not a fake."""

    def __init__(self, inner):
        self.inner = inner
        self.embedded = 0
        self.calls: list[int] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def embed_documents(self, texts):
        self.embedded += len(texts)
        self.calls.append(len(texts))
        return self.inner.embed_documents(texts)


def _article(i: int) -> str:
    return (
        f"Report {i}\n\nThe town of Vel{i}a holds a market every {i}th day.\n\n"
        f"Its mayor, Anna Kor{i}, was elected in {1900 + i}.\n"
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(1, 4):
        (docs / f"report{i}.txt").write_text(_article(i))
    return docs


@pytest.fixture
def location(tmp_path: Path) -> StoreLocation:
    return StoreLocation(tmp_path / "index", "test")


def _index(folder, location, embeddings):
    return index_paths([folder], location=location, embeddings=embeddings, progress=False)


def test_unchanged_passages_are_not_embedded_again(folder, location, embeddings):
    counting = CountingEmbeddings(embeddings)
    first = _index(folder, location, counting)
    assert (first.added, first.skipped, counting.embedded) == (6, 0, 6)
    second = _index(folder, location, counting)
    assert (second.added, second.skipped, second.deleted) == (0, 6, 0)
    assert counting.embedded == 6


#: A small indexing batch, so that a few dozen passages span several batches.
SMALL_BATCH = 16


def test_a_long_document_spanning_batches_is_skipped_whole(tmp_path, location, embeddings):
    # Cleanup after every batch ("incremental") would delete the file's passages that are in
    # later batches and embed them again on every run.
    docs = tmp_path / "long"
    docs.mkdir()
    paragraphs = [f"Paragraph {i} says that the number {i} is odd or even." for i in range(150)]
    (docs / "long.txt").write_text("Long\n\n" + "\n\n".join(paragraphs))
    assert len(paragraphs) > 3 * SMALL_BATCH
    first_counting = CountingEmbeddings(embeddings)
    first = index_paths(
        [docs], location=location, embeddings=first_counting, progress=False, batch_size=SMALL_BATCH
    )
    assert (first.added, first.deleted) == (150, 0)
    # The one file really was written in several batches, none larger than asked.
    assert len(first_counting.calls) > 3 and max(first_counting.calls) <= SMALL_BATCH
    assert sum(first_counting.calls) == 150
    counting = CountingEmbeddings(embeddings)
    second = index_paths(
        [docs], location=location, embeddings=counting, progress=False, batch_size=SMALL_BATCH
    )
    assert (second.added, second.skipped, second.deleted, counting.embedded) == (0, 150, 0, 0)


def test_a_changed_document_replaces_only_its_own_passages(folder, location, embeddings):
    _index(folder, location, embeddings)
    counting = CountingEmbeddings(embeddings)
    (folder / "report2.txt").write_text(_article(2).replace("elected in", "re-elected in"))
    report = _index(folder, location, counting)
    assert (report.added, report.deleted, report.skipped) == (1, 1, 5)
    assert counting.embedded == 1
    texts = [p.page_content for p in all_passages(open_store(location, embeddings))]
    assert "Its mayor, Anna Kor2, was re-elected in 1902." in texts
    assert "Its mayor, Anna Kor2, was elected in 1902." not in texts


def test_only_kept_passages_are_read_back_to_see_whether_they_moved(
    folder, location, embeddings, monkeypatch
):
    import assistant.index as index_module

    read: list[str] = []
    by_id = index_module.metadatas_by_id

    def spy(store, ids):
        read.extend(ids)
        return by_id(store, ids)

    monkeypatch.setattr(index_module, "metadatas_by_id", spy)
    assert _index(folder, location, embeddings).added == 6
    assert read == []  # every passage was just written where it is
    # A paragraph added at the top of a file: its two passages kept move down.
    text = _article(1).replace("\n\n", "\n\nA new first paragraph about Vel1a.\n\n", 1)
    (folder / "report1.txt").write_text(text)
    report = _index(folder, location, embeddings)
    assert (report.added, report.skipped, report.moved) == (1, 6, 2)
    kept = {p.id for p in all_passages(open_store(location, embeddings))}
    assert len(read) == 2 and set(read) <= kept
    paragraphs = sorted(
        p.metadata["paragraph"]
        for p in all_passages(open_store(location, embeddings))
        if p.metadata["source"] == "report1.txt"
    )
    assert paragraphs == [1, 2, 3]


def test_files_gone_from_the_folder_are_deleted(folder, location, embeddings):
    _index(folder, location, embeddings)
    (folder / "report3.txt").unlink()
    report = _index(folder, location, embeddings)
    assert report.deleted == 2
    assert [s.source for s in list_sources(location, embeddings)] == ["report1.txt", "report2.txt"]


def test_sources_say_when_each_document_was_indexed(folder, location, embeddings):
    import datetime as dt

    before = dt.datetime.now().replace(microsecond=0) - dt.timedelta(seconds=1)
    _index(folder, location, embeddings)
    times = [dt.datetime.fromisoformat(s.indexed_at) for s in list_sources(location, embeddings)]
    assert len(times) == 3
    assert all(before <= t <= dt.datetime.now() for t in times)


def test_sources_come_from_the_records_and_agree_with_reading_every_passage(
    folder, location, embeddings, monkeypatch
):
    import assistant.sources as sources

    _index(folder, location, embeddings)
    read_every_passage = []
    original = sources.passage_metadatas

    def counted(store):
        read_every_passage.append(True)
        return original(store)

    monkeypatch.setattr(sources, "passage_metadatas", counted)
    from_records = list_sources(location, embeddings)
    assert not read_every_passage  # the records account for every stored passage
    monkeypatch.setattr(sources, "_record_groups", lambda location, embeddings: {})
    from_store = list_sources(location, embeddings)  # no records: as a second machine
    assert read_every_passage
    assert [(s.source, s.title, s.passages, s.key) for s in from_records] == [
        (s.source, s.title, s.passages, s.key) for s in from_store
    ]
    assert [s.passages for s in from_records] == [2, 2, 2]


def test_two_folders_with_the_same_file_name_do_not_clash(tmp_path, location, embeddings):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "notes.txt").write_text(f"Notes {name}\n\nFolder {name} text.")
    index_paths([tmp_path / "a"], location=location, embeddings=embeddings, progress=False)
    index_paths([tmp_path / "b"], location=location, embeddings=embeddings, progress=False)
    assert [s.passages for s in list_sources(location, embeddings)] == [1, 1]
    with pytest.raises(Exception, match="2 indexed documents are called 'notes.txt'"):
        remove_source(location, embeddings, "notes.txt")
    key = "a/notes.txt"  # the folder's name in the index, not its path
    assert remove_source(location, embeddings, key) == 1


def test_bad_files_fail_alone_and_leave_the_index_untouched(folder, location, embeddings):
    _index(folder, location, embeddings)
    before = sorted(p.id for p in all_passages(open_store(location, embeddings)))
    (folder / "empty.txt").write_text("")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02\x03" * 50)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (folder / "picture.png").write_bytes(b"\x89PNG\r\n")
    (folder / "report1.txt").write_bytes(b"\x00\x00binary now")  # was good, now unreadable
    (folder / "new.md").write_text("# New\n\nA brand new passage about Velia.")
    report = _index(folder, location, embeddings)
    failed = {f["source"]: f["error"] for f in report.failed}
    assert set(failed) == {"empty.txt", "binary.txt", "broken.pdf", "report1.txt"}
    assert "empty" in failed["empty.txt"]
    assert "binary" in failed["binary.txt"]
    # A folder's unsupported files are one line of the report, not a failure each.
    warnings = [w["warning"] for w in report.warnings]
    assert warnings == [
        "skipped: 1 file of an unsupported type: .png 1 (supported: .txt, .md, .html, .htm, "
        ".pdf, .docx)."
    ]
    assert report.added == 1 and report.deleted == 0
    after = sorted(p.id for p in all_passages(open_store(location, embeddings)))
    assert set(before) < set(after) and len(after) == len(before) + 1


COPIES = 24
PASSAGES_PER_COPY = 13
#: The killed run's batches: small, so that it is killed with most of the work still to do.
KILL_BATCH = 24
#: Batches complete when the run is killed.
KILLED_AFTER = 3


def _records(records: Path) -> list[str]:
    """The passage ids in the record manager's file, read without opening it for writing."""
    with sqlite3.connect(f"file:{records}?mode=ro", uri=True, timeout=5) as db:
        return [row[0] for row in db.execute("SELECT key FROM upsertion_record")]


def _stored_passages(env: dict[str, str]) -> int:
    """Passages in the store, as `assistant sources` (another process) reads them."""
    listed = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "sources", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return sum(source["passages"] for source in json.loads(listed.stdout))


@pytest.mark.slow
@pytest.mark.parametrize("point", ["between-batches", "store-ahead"])
def test_killed_midway_then_rerun_leaves_every_passage_once(tmp_path, embeddings, point):
    # The run is frozen at a known point (tests/indexing_child.py) and killed there with
    # SIGKILL: between two batches, or with a batch in the store whose records were never
    # written. `assistant index` run again must end with every passage exactly once.
    docs = tmp_path / "many"
    docs.mkdir()
    text = ARTICLE.read_text()
    for i in range(COPIES):
        (docs / f"copy{i:02}.txt").write_text(text.replace("Plan", f"Plan{i}"))
    total = COPIES * PASSAGES_PER_COPY
    assert total > (KILLED_AFTER + 2) * KILL_BATCH  # killed with batches still to come
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(tmp_path / "index")}
    records = tmp_path / "index" / "records.sqlite"
    ready = tmp_path / "frozen.json"
    child = [str(docs), str(ready), str(KILL_BATCH), str(KILLED_AFTER), point]
    log = tmp_path / "killed-run.log"  # a file, not a pipe: a full pipe would block the run
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.indexing_child", *child],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 300
        while not ready.exists():
            if process.poll() is not None:
                pytest.fail(f"the indexing run ended before it froze:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the run did not reach its freezing point in 300 s:\n{log.read_text()}"
                )
            time.sleep(0.05)
        frozen = json.loads(ready.read_text())
        assert process.poll() is None
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    # What the killed run left: whole batches, the store one ahead of the records or not.
    recorded = KILLED_AFTER * KILL_BATCH
    stored = recorded + (KILL_BATCH if point == "store-ahead" else 0)
    assert frozen == {
        "point": point,
        "store_batches": stored // KILL_BATCH,
        "recorded_batches": KILLED_AFTER,
        "batch_size": KILL_BATCH,
    }
    assert len(_records(records)) == recorded
    assert _stored_passages(env) == stored
    location = StoreLocation(tmp_path / "index", "articles")
    # The killed run saved no keyword index; a reader builds it from the store.
    assert not list((location.index_dir / "keywords").glob("*.npz"))
    reader = KeywordIndex(open_store(location, embeddings), location)
    assert len(reader) == stored

    command = [sys.executable, "-m", "assistant.cli", "index", str(docs), "--json"]
    rerun = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    # The recorded passages are kept, the rest embedded; a passage in the store but not in
    # the records is written again under the same id (an upsert, not a second copy).
    assert (report["skipped"], report["added"], report["deleted"]) == (
        recorded,
        total - recorded,
        0,
    )

    store = open_store(location, embeddings)
    passages = all_passages(store)
    copies = Counter((p.metadata["source"], p.metadata["paragraph"]) for p in passages)
    expected = {
        (f"copy{i:02}.txt", n) for i in range(COPIES) for n in range(1, PASSAGES_PER_COPY + 1)
    }
    assert [key for key, count in copies.items() if count > 1] == []  # none duplicated
    assert sorted(expected - set(copies)) == []  # none lost
    assert len(passages) == total
    ids = [p.id for p in passages]
    assert len(set(ids)) == total
    assert sorted(_records(records)) == sorted(ids)  # records and store agree
    # The run again took the terms of the passages it wrote and read the others.
    assert_saved_index_is_the_stores(location, embeddings)
