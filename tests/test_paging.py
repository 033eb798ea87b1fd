"""A collection larger than one Chroma read: everything that walks the store pages through it.

Chroma refuses to read more than 32,766 rows in one call ("too many SQL variables"), and
SQLite statements with more values than that; a documentation set of 100,000+ passages
must still load into BM25, be listed, and be deleted by key.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.index import index_paths, open_record_manager
from assistant.index.folders import read_origins, write_origins
from assistant.retrieve import KeywordIndex
from assistant.sources import list_sources, remove_source
from assistant.store import (
    StoreLocation,
    all_passages,
    collection_name,
    count_passages,
    first_passage,
    mark_written,
    open_store,
)

pytestmark = pytest.mark.slow  # builds a 33,500-passage index (about a minute)

#: More passages in one document than Chroma reads (or SQLite binds) in one statement.
BIG = 33_500
#: Passages written per call while building (Chroma's largest batch is 5,461).
_WRITE_BATCH = 5000
SMALL_TEXT = (
    "The lighthouse keeper\n\nThe keeper of the north lighthouse rows out every morning.\n\n"
    "Her log records the weather at dawn and at dusk.\n"
)


def _big_passage(i: int) -> str:
    return f"Entry {i} of the ledger names the item token{i} and its shelf."


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, embeddings) -> Path:
    """An index of one small file (indexed for real) and a big one of ``BIG`` passages,
    written straight to Chroma and the records, built once and copied by each test.

    The big file's vectors are random, not MiniLM's, and the collection's HNSW graph is
    built coarsely (made here first, with the metadata :func:`open_store` gives it):
    embedding 33,500 passages takes minutes and a full graph half a minute, and these tests
    are about how the store is read and written by page, not about what is found by meaning.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    root = tmp_path_factory.mktemp("paging")
    docs = root / "docs"
    docs.mkdir()
    (docs / "small.txt").write_text(SMALL_TEXT)
    location = StoreLocation(root / "index", "test")
    client = chromadb.PersistentClient(
        path=str(location.chroma_dir), settings=ChromaSettings(anonymized_telemetry=False)
    )
    client.create_collection(
        collection_name(location.collection, embeddings),
        metadata={
            "hnsw:space": "cosine",
            "embedding_model": embeddings.model_name,
            "hnsw:construction_ef": 8,
            "hnsw:M": 4,
            "hnsw:batch_size": _WRITE_BATCH,
        },
    )
    index_paths([docs], location=location, embeddings=embeddings, progress=False)
    store = open_store(location, embeddings)
    first = first_passage(store)
    assert first is not None
    (origin,) = read_origins(location)
    key = f"{origin}/big.txt"
    records = open_record_manager(location, embeddings)
    rng = np.random.default_rng(0)
    for start in range(0, BIG, _WRITE_BATCH):
        numbers = range(start, min(start + _WRITE_BATCH, BIG))
        ids = [f"big-{i}" for i in numbers]
        store._collection.add(
            ids=ids,
            documents=[_big_passage(i) for i in numbers],
            metadatas=[
                {
                    **first[2],
                    "doc_key": key,
                    "source": "big.txt",
                    "title": "Ledger",
                    "paragraph": i,
                    "start": i * 80,
                }
                for i in numbers
            ],
            embeddings=rng.standard_normal((len(ids), 384)).astype(np.float32),
        )
        records.update(ids, group_ids=[key] * len(ids))
    mark_written(store)
    assert count_passages(store) > BIG
    return root


@pytest.fixture
def big(template: Path, tmp_path: Path) -> tuple[StoreLocation, Path]:
    """A private copy of the template index (the tests delete from it) and its folder."""
    shutil.copytree(template, tmp_path / "copy")
    location = StoreLocation(tmp_path / "copy" / "index", "test")
    docs = tmp_path / "copy" / "docs"
    (origin,) = read_origins(location)
    write_origins(location, {origin: str(docs.resolve())})  # the copy's folder, not the template's
    return location, docs


def test_keyword_index_loads_every_passage(big, embeddings):
    location, _ = big
    store = open_store(location, embeddings)
    keywords = KeywordIndex(store, location)
    assert len(keywords) == count_passages(store)
    assert len(set(keywords.position)) == len(keywords)
    (best, _), *_ = keywords.search("token33321", 3)
    assert keywords.passages[best].page_content == _big_passage(33_321)


def test_listing_returns_every_passage_once(big, embeddings):
    location, _ = big
    store = open_store(location, embeddings)
    passages = all_passages(store)
    assert len(passages) == len({p.id for p in passages}) == count_passages(store)
    sources = {s.source: s for s in list_sources(location, embeddings)}
    assert sources["big.txt"].passages == BIG
    assert sum(s.passages for s in sources.values()) == count_passages(store)


def test_removing_a_big_source(big, embeddings):
    location, _ = big
    small = count_passages(open_store(location, embeddings)) - BIG
    assert remove_source(location, embeddings, "big.txt") == BIG
    assert count_passages(open_store(location, embeddings)) == small
    key = next(s.key for s in list_sources(location, embeddings))
    records = open_record_manager(location, embeddings)
    assert records.list_keys(group_ids=[key.replace("small.txt", "big.txt")]) == []


def test_cleanup_after_a_big_file_is_gone(big, embeddings):
    """The folder no longer holds big.txt: the next run deletes its passages and records."""
    location, docs = big
    small = count_passages(open_store(location, embeddings)) - BIG
    report = index_paths([docs], location=location, embeddings=embeddings, progress=False)
    assert (report.deleted, report.added, report.failed) == (BIG, 0, [])
    assert count_passages(open_store(location, embeddings)) == small
    assert [s.source for s in list_sources(location, embeddings)] == ["small.txt"]
