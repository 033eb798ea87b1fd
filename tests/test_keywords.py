"""The keyword index: BM25 as bm25s scores it, updated incrementally, saved beside the store."""

import bm25s
import numpy as np
import pytest
from langchain_core.documents import Document

import assistant.keywords as keywords_module
from assistant.assemble import store_location
from assistant.index import index_paths
from assistant.keywords import KeywordIndex, from_passages, updated
from assistant.store import StoreVersion, all_passages, open_store
from assistant.text import split_sentences, tokenize

QUERIES = [
    "What did Muqtada al-Sadr demand?",
    "Iranian-backed militias in Iraq",
    "Plan T",
    "withdraw American forces December",
]


def _passages(texts: list[str]) -> list[Document]:
    return [Document(page_content=t, id=f"id{i}") for i, t in enumerate(texts)]


@pytest.fixture(scope="module")
def article_texts(article_assistant) -> list[str]:
    # The article's sentences and pairs of them, as many small passages.
    passages = article_assistant.keywords.passages
    sentences = [s.text for p in passages for s in split_sentences(p.page_content)]
    texts = [*sentences, *(f"{a} {b}" for a, b in zip(sentences, sentences[1:], strict=False))]
    assert len(texts) >= 60
    return texts


def test_bm25_scores_are_those_of_bm25s(article_texts):
    # The rerank weights were fitted on bm25s's scores: the numpy matrix must give the same.
    texts = [*article_texts, "", "the of and"]  # passages without terms too
    terms = from_passages(_passages(texts), None)
    corpus = [[terms.vocabulary[t] for t in tokenize(text)] for text in texts]
    empty = len(terms.vocabulary)
    reference = bm25s.BM25()
    reference.index(
        bm25s.tokenization.Tokenized(
            [ids or [empty] for ids in corpus], {**terms.vocabulary, "\x00": empty}
        ),
        show_progress=False,
    )
    for query in QUERIES:
        ids = [terms.vocabulary[t] for t in tokenize(query) if t in terms.vocabulary]
        assert ids
        np.testing.assert_allclose(
            terms.scores(ids), reference.get_scores_from_ids(ids), rtol=1e-5, atol=1e-6
        )


def test_an_incremental_update_equals_a_build_from_scratch(article_texts):
    version = StoreVersion("c", "1")
    before = _passages(article_texts[:40])
    after = [*before[5:20], *before[25:], *_passages(article_texts[40:60])[3:]]
    for p, i in zip(after[-17:], range(100, 117), strict=True):
        p.id = f"new{i}"
    old = from_passages(before, version)
    new = {p.id: p for p in after if p.id not in old.position}
    incremental = updated(old, [str(p.id) for p in after], new, version)
    scratch = from_passages(after, version)

    assert incremental.ids == scratch.ids == [p.id for p in after]
    for query in QUERIES:
        np.testing.assert_allclose(
            incremental.scores(
                [incremental.vocabulary[t] for t in tokenize(query) if t in incremental.vocabulary]
            ),
            scratch.scores(
                [scratch.vocabulary[t] for t in tokenize(query) if t in scratch.vocabulary]
            ),
            rtol=1e-6,
        )
    # Each passage's terms, sentence by sentence, are its own (term ids differ: by name).
    for index in (incremental, scratch):
        names = list(index.vocabulary)
        t = index.terms
        for i, passage in enumerate(after):
            tokens = t.tokens[t.offsets[i] : t.offsets[i + 1]]
            sentences = t.sentences[t.offsets[i] : t.offsets[i + 1]]
            expected = [tokenize(s.text) for s in split_sentences(passage.page_content)]
            got: dict[int, list[str]] = {}
            for token, sentence in zip(tokens, sentences, strict=True):
                got.setdefault(int(sentence), []).append(names[token])
            assert list(got.values()) == [terms for terms in expected if terms]
        assert np.all(np.diff(t.sentences) >= 0)  # one number per sentence, in order
    assert (
        incremental.frequency[incremental.vocabulary["militia"]]
        == (scratch.frequency[scratch.vocabulary["militia"]])
    )


def test_the_index_is_saved_and_reopened_without_reading_the_passages(
    settings_factory, embeddings, corpus_copy, monkeypatch
):
    settings = settings_factory(corpus_dir=corpus_copy)
    location = store_location(settings)

    def no_full_read(*_args, **_kwargs):
        raise AssertionError("read every passage")

    read: list[str] = []
    by_id = keywords_module.documents_by_id

    def spy(store, ids):
        read.extend(ids)
        return by_id(store, ids)

    # The indexing run builds it from the passages as it writes them: none is read back.
    monkeypatch.setattr(keywords_module, "passage_texts", no_full_read)
    monkeypatch.setattr(keywords_module, "documents_by_id", spy)
    index_paths([corpus_copy], location=location, embeddings=embeddings, progress=False)
    assert read == []
    store = open_store(location, embeddings)
    saved = list((location.index_dir / "keywords").glob("*.npz"))
    assert len(saved) == 1  # by the indexing run

    reopened = KeywordIndex(store, location)
    scratch = keywords_module.from_passages(all_passages(store), None)
    assert sorted(reopened.loaded.ids) == sorted(scratch.ids)
    for query in QUERIES:
        found = [(reopened.loaded.ids[p], s) for p, s in reopened.search(query, 5)]
        terms = [scratch.vocabulary[t] for t in tokenize(query) if t in scratch.vocabulary]
        expected = keywords_module.top(scratch.scores(terms), 5)
        assert [i for i, _ in found] == [scratch.ids[p] for p, _ in expected]
        np.testing.assert_allclose([s for _, s in found], [s for _, s in expected], rtol=1e-6)

    # A new file: the indexing run brings the saved index up to date with the new
    # passage's terms, taken as it is written (not read back); the next process loads it.
    (corpus_copy / "zorblat.txt").write_text(
        "Zorblats\n\nA zorblat is a copper kettle used at the winter fair in Oslo.\n"
    )
    index_paths([corpus_copy], location=location, embeddings=embeddings, progress=False)
    third = KeywordIndex(open_store(location, embeddings), location)
    assert read == []
    (best, _), *_ = third.search("zorblat kettle", 3)
    assert third.documents([best])[0].page_content.startswith("A zorblat is a copper kettle")
    assert sorted(third.loaded.ids) == sorted(p.id for p in all_passages(store))


def test_a_damaged_saved_index_is_rebuilt(settings_factory, embeddings, corpus_copy, caplog):
    settings = settings_factory(corpus_dir=corpus_copy)
    location = store_location(settings)
    index_paths([corpus_copy], location=location, embeddings=embeddings, progress=False)
    store = open_store(location, embeddings)
    first = KeywordIndex(store, location)  # loads what the indexing run saved
    (saved,) = (location.index_dir / "keywords").glob("*.npz")
    saved.write_bytes(b"not an npz file")
    again = KeywordIndex(open_store(location, embeddings), location)
    assert again.loaded.ids == first.loaded.ids
    assert "ignoring the saved keyword index" in caplog.text
    assert keywords_module._read(saved).ids == first.loaded.ids  # saved again, readable


def test_two_collections_in_one_index_folder_keep_their_own_saved_index(
    settings_factory, embeddings, corpus_copy, tmp_path
):
    other = tmp_path / "other"
    other.mkdir()
    (other / "zorblat.txt").write_text("Zorblats\n\nA zorblat is a copper kettle.\n")
    first = settings_factory(corpus_dir=corpus_copy)
    second = first.with_overrides(collection="second")
    for settings, folder in ((first, corpus_copy), (second, other)):
        index_paths(
            [folder], location=store_location(settings), embeddings=embeddings, progress=False
        )
    assert len(list((first.index_dir / "keywords").glob("*.npz"))) == 2
    for settings, count in ((first, None), (second, 1)):
        location = store_location(settings)
        store = open_store(location, embeddings)
        keywords = KeywordIndex(store, location)
        assert sorted(keywords.loaded.ids) == sorted(p.id for p in all_passages(store))
        assert count is None or len(keywords) == count


def test_counted_pairs_equal_numpy_unique_with_counts():
    """The in-place count of (term, passage) pairs gives what ``np.unique`` gives."""
    from assistant.keywords import _counted_pairs

    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 50))
        lengths = rng.integers(0, 20, size=n)
        tokens = rng.integers(0, 30, size=int(lengths.sum())).astype(np.int32)
        passage_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
        pairs, counts = np.unique(tokens.astype(np.int64) * n + passage_of, return_counts=True)
        ours, our_counts = _counted_pairs(tokens, lengths, n)
        assert np.array_equal(ours, pairs) and np.array_equal(our_counts, counts)
