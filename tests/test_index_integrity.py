"""The index keeps its integrity when a user tries to break it: folders moved, paragraphs
edited, file names that are not UTF-8, two writers at once, an index of an older layout.

Real model, real Chroma, real processes; nothing faked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from langchain_core.documents import Document

from assistant.cli import cli
from assistant.index import index_documents, index_paths
from assistant.ingest.passages import SourceFile, load_passages
from assistant.sources import list_sources, remove_source
from assistant.store import (
    StoreLocation,
    all_passages,
    count_passages,
    open_store,
)

from .conftest import ARTICLE, ROOT
from .support import river_passages
from .test_index import CountingEmbeddings, _article

#: Passages of the bundled article.
ARTICLE_PASSAGES = 13


@pytest.fixture
def location(tmp_path: Path) -> StoreLocation:
    return StoreLocation(tmp_path / "index", "test")


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    shutil.copy(ARTICLE, path / ARTICLE.name)
    for i in range(1, 4):
        (path / f"report{i}.txt").write_text(_article(i))
    (path / "sub").mkdir()
    (path / "sub" / "report9.txt").write_text(_article(9))
    return path


#: Passages in a folder made by _folder: the article and four reports of two passages.
FOLDER_PASSAGES = ARTICLE_PASSAGES + 4 * 2


def _index(folder: Path, location: StoreLocation, embeddings):
    return index_paths([folder], location=location, embeddings=embeddings, progress=False)


def test_a_moved_folder_is_neither_embedded_again_nor_duplicated(tmp_path, location, embeddings):
    a = _folder(tmp_path / "a")
    first = _index(a, location, embeddings)
    assert (first.added, first.failed) == (FOLDER_PASSAGES, [])
    before = sorted(p.id or "" for p in all_passages(open_store(location, embeddings)))

    b = tmp_path / "elsewhere" / "b"
    b.parent.mkdir()
    a.rename(b)
    counting = CountingEmbeddings(embeddings)
    moved = _index(b, location, counting)
    assert counting.embedded == 0
    assert (moved.added, moved.deleted, moved.skipped) == (0, 0, FOLDER_PASSAGES)
    store = open_store(location, embeddings)
    assert count_passages(store) == FOLDER_PASSAGES
    assert sorted(p.id or "" for p in all_passages(store)) == before
    sources = [s.source for s in list_sources(location, embeddings)]
    assert sources == sorted(set(sources)) and len(sources) == 5  # each listed once

    # The moved folder is still the one cleaned up: a file deleted from it goes.
    (b / "report3.txt").unlink()
    (b / "report1.txt").write_text(_article(1).replace("market", "fair"))
    counting = CountingEmbeddings(embeddings)
    after = _index(b, location, counting)
    assert (after.added, after.deleted, counting.embedded) == (1, 2 + 1, 1)
    assert count_passages(open_store(location, embeddings)) == FOLDER_PASSAGES - 2
    assert "report3.txt" not in [s.source for s in list_sources(location, embeddings)]


def test_a_moved_folder_keeps_its_name_and_a_copy_beside_it_gets_its_own(
    tmp_path, location, embeddings
):
    a = _folder(tmp_path / "a")
    _index(a, location, embeddings)
    copy = tmp_path / "copy-of-a"
    shutil.copytree(a, copy)  # `a` still exists: the copy is another folder
    report = _index(copy, location, embeddings)
    assert report.added == FOLDER_PASSAGES
    keys = sorted(s.key for s in list_sources(location, embeddings))
    assert "a/report1.txt" in keys and "copy-of-a/report1.txt" in keys
    assert not any(k.startswith("/") for k in keys)  # never an absolute path
    assert remove_source(location, embeddings, "copy-of-a/report1.txt") == 2


def test_editing_an_early_paragraph_embeds_that_paragraph_alone(tmp_path, location, embeddings):
    docs = tmp_path / "docs"
    docs.mkdir()
    article = docs / ARTICLE.name
    shutil.copy(ARTICLE, article)
    _index(docs, location, embeddings)
    text = article.read_text()
    second = load_passages(SourceFile(article, article.name))[1].page_content
    longer = second.replace(" ", "  ", 3) + " It said so again, at some length."
    article.write_text(text.replace(second, longer, 1))

    counting = CountingEmbeddings(embeddings)
    report = _index(docs, location, counting)
    assert counting.embedded == 1
    assert (report.added, report.deleted, report.skipped) == (1, 1, ARTICLE_PASSAGES - 1)
    assert report.moved == ARTICLE_PASSAGES - 2  # the passages after it, renumbered in place

    # Every stored passage says where it is now, as a fresh reading of the file does.
    stored = all_passages(open_store(location, embeddings))
    fresh = load_passages(SourceFile(article, article.name))
    edited = article.read_text()
    assert len(stored) == ARTICLE_PASSAGES
    for passage in stored:
        meta = passage.metadata
        assert edited[meta["start"] : meta["end"]] == passage.page_content
    position = {p.page_content: (p.metadata["paragraph"], p.metadata["start"]) for p in fresh}
    assert {
        p.page_content: (p.metadata["paragraph"], p.metadata["start"]) for p in stored
    } == position


def test_the_same_paragraph_twice_in_a_file_is_kept_twice(tmp_path, location, embeddings):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "faq.txt").write_text(
        "FAQ\n\nSee the notice board.\n\nThe shop opens at nine.\n\nSee the notice board.\n"
    )
    report = _index(docs, location, embeddings)
    assert report.added == 3
    again = _index(docs, location, embeddings)
    assert (again.added, again.skipped, again.deleted) == (0, 3, 0)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "ASSISTANT_INDEX_DIR": str(tmp_path / "index"), **extra}


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.skipif(sys.platform != "linux", reason="a file name of raw bytes is a Linux thing")
def test_a_file_name_that_is_not_utf8_costs_the_other_files_nothing(tmp_path):
    docs = _folder(tmp_path / "docs")
    env = _env(tmp_path)
    first = _cli(["index", str(docs), "--json"], env)
    assert first.returncode == 0, first.stderr
    (docs / "report3.txt").unlink()  # must still be cleaned up in the run below
    (docs / "new.txt").write_text("New\n\nA new passage about the harbour of Velia.")
    bad = os.path.join(os.fsencode(docs), b"bad\xff.txt")
    with open(bad, "wb") as out:
        out.write(b"Bad name\n\nThe file with the odd name speaks of lighthouses.\n")

    run = _cli(["index", str(docs), "--json"], env)
    assert "Traceback" not in run.stderr, run.stderr
    report = json.loads(run.stdout)  # the report is printed
    assert report["failed"] == []  # indexed under a safe name
    assert (report["added"], report["deleted"]) == (2, 2)
    listed = json.loads(_cli(["sources", "--json"], env).stdout)
    sources = sorted(s["source"] for s in listed)
    assert "bad\\xff.txt" in sources and "new.txt" in sources and "report3.txt" not in sources
    assert sum(s["passages"] for s in listed) == FOLDER_PASSAGES - 2 + 2

    again = json.loads(_cli(["index", str(docs), "--json"], env).stdout)
    assert (again["added"], again["deleted"], again["failed"]) == (0, 0, [])
    removed = _cli(["remove", "bad\\xff.txt"], env)
    assert removed.returncode == 0, removed.stderr


def test_a_batch_that_cannot_be_written_is_written_file_by_file(tmp_path, location, embeddings):
    # A name Chroma cannot store (a lone surrogate, as Python keeps a non-UTF-8 byte):
    # the whole batch is refused; the files around it must still land.
    docs = (
        river_passages("good1.txt", 3)
        + river_passages("bad\udcff.txt", 2)
        + river_passages("good2.txt", 3)
    )
    report = index_documents(docs, location=location, embeddings=embeddings)
    assert report.added == 6
    assert [f["source"] for f in report.failed] == ["bad\\xff.txt"]
    assert "cannot be written" in report.failed[0]["error"]
    assert count_passages(open_store(location, embeddings)) == 6


def _two_writers(tmp_path: Path, docs: Path) -> list[subprocess.CompletedProcess[str]]:
    env = _env(tmp_path)
    command = [sys.executable, "-m", "assistant.cli", "index", str(docs), "--json"]
    processes = [
        subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_two_writers_on_a_fresh_index_take_turns(tmp_path, attempt):
    docs = _folder(tmp_path / "docs")
    results = _two_writers(tmp_path, docs)
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    reports = sorted((json.loads(r.stdout) for r in results), key=lambda r: -r["added"])
    assert [(r["added"], r["skipped"], r["deleted"]) for r in reports] == [
        (FOLDER_PASSAGES, 0, 0),
        (0, FOLDER_PASSAGES, 0),
    ]
    listed = json.loads(_cli(["sources", "--json"], _env(tmp_path)).stdout)
    assert sum(s["passages"] for s in listed) == FOLDER_PASSAGES


def test_a_writer_that_waits_too_long_fails_with_a_message(tmp_path, monkeypatch):
    from filelock import FileLock

    docs = _folder(tmp_path / "docs")
    (tmp_path / "index").mkdir()
    monkeypatch.setenv("ASSISTANT_LOCK_TIMEOUT_S", "0.5")
    holder = FileLock(str(tmp_path / "index" / ".write.lock"), thread_local=False)
    with holder:  # another writer, as far as the run can tell
        result = CliRunner().invoke(
            cli, ["index", str(docs)], env={"ASSISTANT_INDEX_DIR": str(tmp_path / "index")}
        )
    assert result.exit_code == 1
    assert "waiting for another indexing run to finish" in result.stderr
    assert "Another process is still writing to the index" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def _index_as_the_older_version_did(folder: Path, location: StoreLocation, embeddings) -> int:
    """What `assistant index` stored before folders had names: each passage's ``origin`` the
    folder's absolute path, ``doc_key`` that path + the file's, and LangChain's default id (a
    hash of the text and *all* the metadata, offsets included)."""
    from assistant.ingest.passages import find_files

    origin = str(folder.resolve())
    passages = []
    for file in find_files([folder]):
        for passage in load_passages(file):
            passage.metadata["origin"] = origin
            passage.metadata["doc_key"] = f"{origin}/{file.source}"
            passages.append(passage)
    return _old_index(passages, location, embeddings)


def _old_index(passages: list[Document], location: StoreLocation, embeddings) -> int:
    """The older version's `index_documents`: LangChain's `index()` with its default ids."""
    from langchain_classic.indexes import SQLRecordManager
    from langchain_core.indexing import index

    from assistant.index import record_namespace

    location.index_dir.mkdir(parents=True, exist_ok=True)
    records = SQLRecordManager(
        record_namespace(location, embeddings), db_url=f"sqlite:///{location.records_path}"
    )
    records.create_schema()
    stats = index(
        passages,
        records,
        open_store(location, embeddings, create=True),
        cleanup="scoped_full",
        source_id_key="doc_key",
        key_encoder="sha256",
    )
    records.engine.dispose()
    return int(stats["num_added"])


def test_an_index_of_the_older_layout_is_upgraded_embedding_each_passage_once(
    tmp_path, location, embeddings
):
    docs = _folder(tmp_path / "docs")
    assert _index_as_the_older_version_did(docs, location, embeddings) == FOLDER_PASSAGES
    assert str(docs.resolve()) in list_sources(location, embeddings)[0].key  # the old keys

    # That version embedded the text alone: each passage is embedded again, once, with its
    # context (never its old vector under an id that says otherwise), and not written again.
    counting = CountingEmbeddings(embeddings)
    upgraded = _index(docs, location, counting)
    assert counting.embedded == FOLDER_PASSAGES
    assert (upgraded.added, upgraded.skipped, upgraded.deleted) == (0, FOLDER_PASSAGES, 0)
    assert count_passages(open_store(location, embeddings)) == FOLDER_PASSAGES
    keys = sorted(s.key for s in list_sources(location, embeddings))
    assert keys[0] == "docs/iran-militias-iraq-plan-t.txt" and len(keys) == 5

    # And from now on the folder can move.
    moved = tmp_path / "moved"
    docs.rename(moved)
    counting = CountingEmbeddings(embeddings)
    again = _index(moved, location, counting)
    assert counting.embedded == 0
    assert (again.added, again.skipped, again.deleted) == (0, FOLDER_PASSAGES, 0)
    assert count_passages(open_store(location, embeddings)) == FOLDER_PASSAGES


def test_ready_made_passages_of_the_older_version_are_embedded_again_once(
    tmp_path, location, embeddings
):
    # `index_documents` as the evaluation uses it: passages without a folder, keyed by the
    # caller. Their old ids are replaced in place, each embedded again once (with its
    # context), and not written again by the run.
    def passages() -> list[Document]:
        return [
            Document(
                page_content=f"Paragraph {i} says the ferry to Vel leaves at {i} o'clock.",
                metadata={"source": "ferry.txt", "doc_key": f"ferry.txt#{i}", "paragraph": 1},
            )
            for i in range(1, 8)
        ]

    assert _old_index(passages(), location, embeddings) == 7
    counting = CountingEmbeddings(embeddings)
    report = index_documents(passages(), location=location, embeddings=counting)
    assert counting.embedded == 7
    assert (report.added, report.skipped, report.deleted) == (0, 7, 0)
    assert count_passages(open_store(location, embeddings)) == 7


def test_an_upload_is_indexed_under_a_name_and_removed_with_its_copy(
    tmp_path, location, embeddings
):
    from assistant.uploads import add_uploads, forget_upload, uploads_folder

    document = tmp_path / "quokka.txt"
    document.write_text("Quokkas\n\nA quokka is a small wallaby that lives on Rottnest Island.")
    [result] = add_uploads([document], location=location, embeddings=embeddings, max_mb=1)
    assert result.ok, result.message
    [source] = list_sources(location, embeddings)
    assert source.key == "uploads/quokka.txt"
    assert (uploads_folder(location) / "quokka.txt").is_file()
    assert remove_source(location, embeddings, source.key) == 1
    forget_upload(location, source.key)
    assert not (uploads_folder(location) / "quokka.txt").exists()
    assert list_sources(location, embeddings) == []


# The chat's /ask API (assistant/ui.py `ask_api`): checked input, plain messages.


@pytest.fixture(scope="module")
def ask_api(article_assistant):
    from assistant.ui import build

    demo = build(article_assistant)
    return next(f.fn for f in demo.fns.values() if f.api_name == "ask")


@pytest.mark.parametrize(
    ("question", "k", "message"),
    [
        ("What is Plan T?", 0, "k must be a whole number from 1 to 50"),
        ("What is Plan T?", -3, "k must be a whole number from 1 to 50"),
        ("What is Plan T?", 2.5, "k must be a whole number from 1 to 50"),
        ("What is Plan T?", "three", "k must be a whole number from 1 to 50"),
        ("What is Plan T?", None, "k must be a whole number from 1 to 50"),
        ("What is Plan T?", True, "k must be a whole number from 1 to 50"),
        ("What is Plan T?", 51, "k must be a whole number from 1 to 50"),
        (["What is Plan T?"], 3, "The question must be text, not a list"),
        (None, 3, "The question must be text, not nothing"),
        (42, 3, "The question must be text, not an int"),
    ],
)
def test_the_ask_api_refuses_bad_input_with_a_message(ask_api, question, k, message):
    import gradio as gr

    with pytest.raises(gr.Error) as caught:
        ask_api(question, k)
    assert message in str(caught.value.message)
    assert caught.value.print_exception is False  # no traceback in the server's log


@pytest.mark.parametrize("k", [3, 3.0, "3"])
def test_the_ask_api_takes_k_as_a_whole_number(ask_api, k):
    answer = ask_api("Who is Omar Khawlani?", k)
    assert not answer["refused"]
    assert any("Khawlani" in c["quote"] for c in answer["citations"])


def test_the_served_app_does_not_rebuild_gradios_monitoring_summary_on_every_question(
    article_assistant, monkeypatch
):
    # Gradio's default rebuilds a pandas table of the last 10,000 events after each event
    # (~20 ms a question on a busy server); the chat refreshes it every ANALYTICS_EVERY.
    import dataclasses
    import json
    import urllib.request

    from assistant.ui import ANALYTICS_EVERY, launch

    from .support import free_port

    monkeypatch.setenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1")  # restored afterwards
    monkeypatch.delenv("GRADIO_ANALYTICS_CACHE_FREQUENCY")
    port = free_port()
    settings = article_assistant.settings.model_copy(update={"port": port})
    app, url, _ = launch(
        dataclasses.replace(article_assistant, settings=settings), prevent_thread_lock=True
    )
    try:
        assert app.get_blocks()._queue.ANAYLTICS_CACHE_FREQUENCY == ANALYTICS_EVERY > 1
        base = f"http://127.0.0.1:{port}"
        for _ in range(2):
            call = urllib.request.Request(
                f"{base}/gradio_api/call/ask",
                data=json.dumps({"data": ["What is Plan T?", 4, None]}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(call, timeout=60) as reply:
                event = json.load(reply)["event_id"]
            with urllib.request.urlopen(f"{base}/gradio_api/call/ask/{event}", timeout=60) as r:
                assert "link the pressures" in r.read().decode()
        with urllib.request.urlopen(f"{base}/monitoring/summary", timeout=60) as reply:
            assert json.load(reply) == {"functions": {}}  # not rebuilt after each question
    finally:
        app.get_blocks().close()
