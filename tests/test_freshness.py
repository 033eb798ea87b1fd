"""A running assistant sees every change another process makes to the index, `--rebuild`
included, on its next question: embedded in a folder, and on a real `chroma run` server
where the writer may not share the reader's folder (another machine).

Real model, real Chroma, real processes: the writer is `assistant index` run as a command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.assemble import open_assistant
from assistant.config import Settings
from assistant.store import store_version

from .conftest import ARTICLE, ROOT

pytestmark = pytest.mark.slow

KETTLE = "Kettles\n\nA zorblat is a copper kettle used at the winter fair in Oslo.\n"


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.server)])
def backend(request) -> str | None:
    """``None`` for the embedded store, else the URL of a Chroma server."""
    return None if request.param == "embedded" else request.getfixturevalue("chroma_url")


def _writer(args: list[str], index_dir: Path, corpus: Path, url: str | None) -> dict:
    """Run `assistant ARGS --json` in another process; return its JSON report."""
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir), "ASSISTANT_CORPUS_DIR": str(corpus)}
    if url:
        env["ASSISTANT_CHROMA_URL"] = url
    done = subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--json" in args else {}


def _open(tmp_path: Path, corpus: Path, url: str | None, embeddings):
    settings = Settings(index_dir=tmp_path / "index", corpus_dir=corpus, chroma_url=url)
    first = _writer(["index", "--json"], settings.index_dir, corpus, url)
    assert first["failed"] == []
    return open_assistant(settings, embeddings=embeddings, warm=False)


def _sources(assistant, question: str) -> set[str]:
    return {p.metadata["source"] for p in assistant.retriever.invoke(question, k=10)}


def test_a_rebuild_by_another_process_is_seen_on_the_next_question(
    tmp_path, corpus_copy, backend, embeddings
):
    assistant = _open(tmp_path, corpus_copy, backend, embeddings)
    assert "link the pressures" in assistant.ask("What is Plan T?").text
    before = store_version(assistant.store)

    # Another process deletes the collection and builds a new one from a changed corpus:
    # the collection the running assistant opened no longer exists.
    (corpus_copy / ARTICLE.name).unlink()
    (corpus_copy / "kettle.txt").write_text(KETTLE)
    rebuilt = _writer(
        ["index", "--rebuild", "--yes", "--json"], tmp_path / "index", corpus_copy, backend
    )
    assert (rebuilt["added"], rebuilt["failed"]) == (1, [])

    answer = assistant.ask("What is a zorblat?")
    assert not answer.refused, answer.text
    assert [c.source for c in answer.citations] == ["kettle.txt"]
    assert "copper kettle" in answer.text
    # Nothing of the old collection: neither BM25 nor dense search returns the article.
    assert _sources(assistant, "What is Plan T?") == {"kettle.txt"}
    assert assistant.ask("What is Plan T?").refused
    after = store_version(assistant.store)
    assert before is not None and after is not None
    assert after.collection_id != before.collection_id


def test_a_document_removed_by_another_writer_is_gone_on_the_next_question(
    tmp_path, corpus_copy, backend, embeddings
):
    assistant = _open(tmp_path, corpus_copy, backend, embeddings)
    # On a server the writer can be another machine: its own folder (records, manifest),
    # nothing the reader's folder would show. Embedded, it shares the reader's folder.
    writer_dir = tmp_path / ("elsewhere" if backend else "index")
    (corpus_copy / "kettle.txt").write_text(KETTLE)
    added = _writer(["index", "--json"], writer_dir, corpus_copy, backend)
    assert added["failed"] == []
    assert [c.source for c in assistant.ask("What is a zorblat?").citations] == ["kettle.txt"]

    (corpus_copy / "kettle.txt").write_text(KETTLE.replace("copper kettle", "silver teapot"))
    _writer(["index", "--json"], writer_dir, corpus_copy, backend)
    edited = assistant.ask("What is a zorblat?")
    assert "silver teapot" in edited.text and "copper" not in edited.text

    _writer(["remove", "kettle.txt"], writer_dir, corpus_copy, backend)
    assert "kettle.txt" not in _sources(assistant, "What is a zorblat? kettle zorblat")
    assert assistant.ask("What is a zorblat?").refused


def test_every_write_gives_the_collection_a_new_version(tmp_path, corpus_copy, embeddings):
    assistant = _open(tmp_path, corpus_copy, None, embeddings)
    first = store_version(assistant.store)
    assert first == store_version(assistant.store)  # asking changes nothing
    (corpus_copy / "kettle.txt").write_text(KETTLE)
    _writer(["index", "--json"], tmp_path / "index", corpus_copy, None)
    second = store_version(assistant.store)
    assert second is not None and first is not None
    assert second.collection_id == first.collection_id and second.written != first.written
    _writer(["index", "--json"], tmp_path / "index", corpus_copy, None)  # nothing to do
    assert store_version(assistant.store) == second  # readers keep their BM25


def test_a_question_while_the_collection_is_gone_says_to_ask_again(
    tmp_path, corpus_copy, embeddings
):
    # The moment of a rebuild between deleting the collection and making it again.
    from assistant.errors import IndexMissingError
    from assistant.index import remove_index

    assistant = _open(tmp_path, corpus_copy, None, embeddings)
    remove_index(assistant.location, embeddings)  # what `--rebuild` does first
    with pytest.raises(IndexMissingError, match="rebuilding the index.*Ask again"):
        assistant.ask("What is Plan T?")
    _writer(["index", "--json"], tmp_path / "index", corpus_copy, None)
    assert "link the pressures" in assistant.ask("What is Plan T?").text


# A writer in another process that, on each line read, gives the collection a new version
# (what every indexing write ends with) and prints it: the reader checks right after.
_VERSION_WRITER = """
import sys
from assistant.embeddings import SentenceEmbeddings
from assistant.store import StoreLocation, mark_written, open_store, store_version
store = open_store(StoreLocation(__import__("pathlib").Path(sys.argv[1]), "articles"),
                   SentenceEmbeddings())
for line in sys.stdin:
    mark_written(store)
    print(store_version(store).written, flush=True)
"""


def test_the_cheap_check_sees_every_write_of_another_process_at_once(
    tmp_path, corpus_copy, embeddings, monkeypatch
):
    # Each write lands right after the reader's last check (well within one tick of a file
    # clock, where a check by modification time could miss it); the next check must see it,
    # and a check with nothing written since must not ask the store again.
    import assistant.keywords as keywords_module

    keywords = _open(tmp_path, corpus_copy, None, embeddings).keywords
    assert keywords._probe is not None  # embedded: the cheap check is in use
    asked: list[int] = []
    real_version = keywords_module.store_version
    monkeypatch.setattr(
        keywords_module, "store_version", lambda *a: asked.append(1) or real_version(*a)
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", _VERSION_WRITER, str(tmp_path / "index")],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        keywords.ensure_current()
        for _ in range(25):
            asked.clear()
            keywords.ensure_current()
            assert asked == []  # nothing written: the store is not asked
            assert writer.stdin is not None and writer.stdout is not None
            writer.stdin.write("write\n")
            writer.stdin.flush()
            written = writer.stdout.readline().strip()
            keywords.ensure_current()
            assert asked == [1]
            assert keywords.loaded.version is not None
            assert keywords.loaded.version.written == written
    finally:
        writer.stdin.close()  # type: ignore[union-attr]
        writer.wait(timeout=60)
    assert writer.returncode == 0


def test_the_cheap_check_follows_an_index_folder_made_anew(tmp_path, corpus_copy, embeddings):
    # The database file deleted and made again (a damaged index rebuilt as a folder): a new
    # file is never taken for the old one, whatever its data version.
    from assistant.store import change_probe

    assistant = _open(tmp_path, corpus_copy, None, embeddings)
    probe = change_probe(assistant.store)
    assert probe is not None and probe.database.exists()
    first = probe.stamp()
    assert first is not None and probe.stamp() == first
    copy = probe.database.with_name("copy.sqlite3")
    copy.write_bytes(probe.database.read_bytes())
    copy.replace(probe.database)  # same bytes, another file
    second = probe.stamp()
    assert second is not None and second != first and probe.stamp() == second
    probe.database.unlink()
    assert probe.stamp() is None  # cannot tell: the caller asks the store
