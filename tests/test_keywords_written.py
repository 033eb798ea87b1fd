"""The keyword index built from the passages as an indexing run writes them, not read back:
it must equal one built from the store's passages after every kind of run."""

from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document

import assistant.keywords as keywords_module
from assistant.index import index_documents, index_paths
from assistant.keywords import KeywordIndex, Terms, WrittenTerms, from_passages, updated
from assistant.store import StoreLocation, StoreVersion, all_passages, open_store, store_version
from assistant.text import tokenize

from .support import river_passages

QUERIES = ["market every day", "mayor elected", "river Vel", "zorblat copper kettle"]


def _article(i: int) -> str:
    return (
        f"Report {i}\n\nThe town of Vel{i}a holds a market every {i}th day.\n\n"
        f"Its mayor, Anna Kor{i}, was elected in {1900 + i}. She sold {i} kettles.\n"
    )


def _terms_by_id(terms: Terms) -> dict[str, list[list[str]]]:
    """Each passage's terms by name, sentence by sentence (term ids differ between builds)."""
    names = list(terms.vocabulary)
    t = terms.terms
    found: dict[str, list[list[str]]] = {}
    for i, doc_id in enumerate(terms.ids):
        sentences: dict[int, list[str]] = {}
        start, end = int(t.offsets[i]), int(t.offsets[i + 1])
        for token, sentence in zip(t.tokens[start:end], t.sentences[start:end], strict=True):
            sentences.setdefault(int(sentence), []).append(names[token])
        found[doc_id] = list(sentences.values())
    return found


def _scores_by_id(terms: Terms, query: str) -> dict[str, float]:
    ids = [terms.vocabulary[t] for t in tokenize(query) if t in terms.vocabulary]
    return dict(zip(terms.ids, terms.scores(ids).tolist(), strict=True))


def assert_same_index(terms: Terms, passages: list[Document]) -> None:
    """``terms`` is the keyword index of exactly ``passages`` (in any order)."""
    scratch = from_passages(passages, None)
    assert sorted(terms.ids) == sorted(scratch.ids)
    assert _terms_by_id(terms) == _terms_by_id(scratch)
    assert np.all(np.diff(terms.terms.sentences) >= 0)  # one number per sentence, in order
    for query in QUERIES:
        got, expected = _scores_by_id(terms, query), _scores_by_id(scratch, query)
        np.testing.assert_allclose(
            [got[i] for i in scratch.ids], [expected[i] for i in scratch.ids], rtol=1e-6
        )


def assert_saved_index_is_the_stores(location: StoreLocation, embeddings) -> None:
    """The keyword index the run saved is at the store's version and holds its passages."""
    store = open_store(location, embeddings)
    (path,) = (location.index_dir / "keywords").glob("*.npz")
    saved = keywords_module._read(path)
    assert saved.version == store_version(store)
    assert_same_index(saved, all_passages(store))


def _passages(texts: list[str], prefix: str) -> list[Document]:
    return [Document(page_content=t, id=f"{prefix}{i}") for i, t in enumerate(texts)]


def test_terms_taken_as_written_equal_those_read_from_the_store():
    texts = [_article(i).replace("\n\n", " ") for i in range(1, 30)]
    version = StoreVersion("c", "1")
    old_passages = _passages(texts[:10], "old")
    written_passages = _passages(texts[10:25], "new")
    unwritten = _passages(texts[25:] + ["A zorblat is a copper kettle."], "read")
    # The store: some old passages deleted, one written passage deleted again, and passages
    # written by someone else (to be read from the store).
    store = [*old_passages[3:], *written_passages[:-1], *unwritten]
    ids = [str(p.id) for p in store]
    new = {str(p.id): p for p in unwritten}
    for old in (from_passages(old_passages, version), keywords_module._empty(None)):
        written = WrittenTerms()
        written.add(written_passages[:5])
        written.add([*written_passages[3:], written_passages[0]])  # each kept once
        assert len(written) == len(written_passages)
        expected = [p for p in store if p.id in old.position or not str(p.id).startswith("old")]
        result = updated(old, [str(p.id) for p in expected], new, version, written)
        assert_same_index(result, expected)
        assert result.version == version
    # Without them, the same from every new passage read from the store.
    everything = {str(p.id): p for p in store}
    assert_same_index(
        updated(from_passages(old_passages, version), ids, everything, version), store
    )


@pytest.fixture
def location(tmp_path: Path) -> StoreLocation:
    return StoreLocation(tmp_path / "index", "test")


@pytest.mark.slow
def test_every_run_saves_the_stores_keyword_index_without_reading_it_back(
    tmp_path, location, embeddings, monkeypatch
):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(1, 6):
        (docs / f"report{i}.txt").write_text(_article(i))

    def no_full_read(*_args, **_kwargs):
        raise AssertionError("read every passage back")

    monkeypatch.setattr(keywords_module, "passage_texts", no_full_read)

    def run(**options):
        return index_paths(
            [docs], location=location, embeddings=embeddings, progress=False, **options
        )

    assert run().added == 10
    assert_saved_index_is_the_stores(location, embeddings)
    # An edit, a file gone, a new one: the old terms kept, the new ones taken as written.
    (docs / "report2.txt").write_text(_article(2).replace("market", "fair"))
    (docs / "report3.txt").unlink()
    (docs / "zorblat.txt").write_text("Zorblats\n\nA zorblat is a copper kettle.\n")
    report = run()
    assert (report.added, report.deleted) == (2, 3)
    assert_saved_index_is_the_stores(location, embeddings)
    assert run().added == 0  # nothing changed: nothing written, the saved index kept
    assert_saved_index_is_the_stores(location, embeddings)
    assert run(rebuild=True).added == 9
    assert_saved_index_is_the_stores(location, embeddings)


@pytest.mark.slow
def test_a_batch_that_fails_leaves_the_keyword_index_equal_to_the_store(location, embeddings):
    # A name Chroma cannot store: the batch fails, and is written again file by file.
    docs = (
        river_passages("good1.txt", 3)
        + river_passages("bad\udcff.txt", 2)
        + river_passages("good2.txt", 3)
    )
    report = index_documents(docs, location=location, embeddings=embeddings)
    assert report.added == 6 and len(report.failed) == 1
    assert_saved_index_is_the_stores(location, embeddings)


class _Interrupted(BaseException):
    """Stops a run between two batches, as Ctrl-C would."""


@pytest.mark.slow
def test_a_run_stopped_midway_leaves_the_saved_index_for_readers_to_catch_up(
    tmp_path, location, embeddings
):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(1, 4):
        (docs / f"report{i}.txt").write_text(_article(i))
    index_paths([docs], location=location, embeddings=embeddings, progress=False)
    for i in range(4, 12):
        (docs / f"report{i}.txt").write_text(_article(i))

    class StopAfter:
        def __init__(self, inner, calls: int) -> None:
            self.inner, self.calls = inner, calls

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def embed_documents(self, texts):
            self.calls -= 1
            if self.calls < 0:
                raise _Interrupted
            return self.inner.embed_documents(texts)

    with pytest.raises(_Interrupted):
        index_paths(
            [docs],
            location=location,
            embeddings=StopAfter(embeddings, 2),
            progress=False,
            batch_size=4,
        )
    store = open_store(location, embeddings)
    stored = all_passages(store)
    assert 6 + 2 * 4 <= len(stored) < 22  # two batches of the second run written
    (path,) = (location.index_dir / "keywords").glob("*.npz")
    saved = keywords_module._read(path)
    assert saved.version != store_version(store)  # left behind: a reader sees it
    reader = KeywordIndex(store, location)
    assert_same_index(reader.loaded, stored)
    assert_saved_index_is_the_stores(location, embeddings)  # the reader saved it
    # The run again: the rest written, the saved index equal to the store.
    index_paths([docs], location=location, embeddings=embeddings, progress=False)
    assert_saved_index_is_the_stores(location, embeddings)
    assert len(all_passages(open_store(location, embeddings))) == 22
