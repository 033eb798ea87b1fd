import numpy as np
import pytest
from langchain_core.documents import Document

from assistant.assemble import open_assistant, store_location
from assistant.index import index_documents, index_paths
from assistant.rerank import (
    FEATURES,
    SENTENCE_DEPTH,
    SENTENCE_WEIGHT,
    WEIGHTS,
    QueryTerms,
    TermIndex,
    candidate_features,
    fuse,
)
from assistant.store import dense_search
from assistant.text import tokenize

# One passage says in a single sentence what the question asks; another has every one of
# its rare words too, more often, but strewn over sentences about other things.
TOLD = (
    "The harbour of Kestrel Bay is quiet in winter. In 1871 the Varnholt lighthouse keeper "
    "rescued the crew of the schooner Merrow. Fishing boats still moor along the stone quay."
)
STREWN = (
    "Varnholt is a farming village. The Merrow is a river; a Merrow mill stands on it. "
    "A model schooner sits in the Varnholt museum. A keeper of bees sells honey there. "
    "The crew of the ferry rescued a cat."
)
OTHERS = [
    "The ferry crew works long shifts in summer and rests in the winter months.",
    "A lighthouse guides ships past the rocks; its lamp turns all night.",
    "Bee keepers sell honey and wax at the Saturday market in the square.",
    "The river floods each spring, and the mill wheel turns faster then.",
]
QUESTION = "Which Varnholt keeper rescued the crew of the schooner Merrow?"


def _passage(text: str, number: int) -> Document:
    # No title: what is embedded and counted is then the text alone (a passage's context is
    # its title, section and entry), as the comparisons of these tests assume.
    source = f"handmade/{number}"
    return Document(
        page_content=text,
        metadata={
            "source": source,
            "title": "",
            "section": "",
            "paragraph": 1,
            "start": 0,
            "end": len(text),
            "doc_key": source,
        },
    )


@pytest.fixture(scope="module")
def handmade(settings_factory, embeddings):
    """An assistant over seven hand-made passages (real model, real Chroma)."""
    settings = settings_factory()
    passages = [_passage(t, n) for n, t in enumerate([TOLD, STREWN, *OTHERS])]
    index_documents(passages, location=store_location(settings), embeddings=embeddings)
    return open_assistant(settings, embeddings=embeddings, warm=False)


def test_hybrid_ranking_carries_both_scores(article_assistant):
    docs = article_assistant.retriever.invoke("Who is Omar Khawlani?")
    assert len(docs) == article_assistant.settings.top_k
    introducing = [d for d in docs[:2] if "Omar Khawlani, a researcher" in d.page_content]
    assert introducing, [d.page_content[:60] for d in docs]
    scores = introducing[0].metadata["scores"]
    assert set(scores) == {"fused", "dense", "bm25"}
    # (The passage is embedded after its context, the article's long title and its section:
    # its cosine with a question about one man is lower than its text's alone, ~0.26.)
    assert scores["dense"] > 0.2 and scores["bm25"] > 0
    fused = [d.metadata["scores"]["fused"] for d in docs]
    assert fused == sorted(fused, reverse=True)


def test_a_rare_name_is_found_by_bm25_even_when_dense_misses(article_assistant):
    # A query of bare names: MiniLM's vectors for it are vague, BM25 matches them exactly.
    docs = article_assistant.retriever.invoke("Kildani Wala’I")
    assert "Rayan al-Kildani" in docs[0].page_content
    assert docs[0].metadata["scores"]["bm25"] > 0


def test_the_sentence_that_holds_every_rare_word_beats_the_words_strewn_about(handmade):
    keywords = handmade.keywords
    by_bm25 = [keywords.passages[p].page_content for p, _ in keywords.search(QUESTION, 7)]
    assert by_bm25[0] == STREWN  # BM25 alone prefers the strewn words: more of them
    docs = handmade.retriever.invoke(QUESTION, k=3)
    assert docs[0].page_content == TOLD, [d.page_content[:40] for d in docs]
    assert docs[1].page_content == STREWN


def test_the_order_returned_is_the_fused_scores_order(handmade):
    retriever = handmade.retriever
    for question in (QUESTION, "What does the river do in spring?", "honey market"):
        pool = retriever.candidates([question], depth=retriever.fetch_k)[0]
        fused = fuse(pool.features)
        expected = [pool.passages[i].id for i in np.argsort(-fused, kind="stable")[:5]]
        docs = retriever.rank_many([question], k=5)[0]
        assert [d.id for d in docs] == expected
        scores = [d.metadata["scores"]["fused"] for d in docs]
        assert scores == sorted(scores, reverse=True)
        assert scores == pytest.approx(sorted(fused, reverse=True)[:5])


def test_a_score_is_none_where_its_ranker_did_not_return_the_passage(handmade):
    retriever = handmade.retriever.model_copy(update={"fetch_k": 2})
    question = "Where do ships go past the rocks at night?"
    vector = handmade.embeddings.embed_questions([question])
    by_dense = {i: s for i, s in dense_search(retriever.store, vector, 2)[0]}
    keywords = retriever.keywords
    by_bm25 = {keywords.passages[p].id: s for p, s in keywords.search(question, 2)}
    docs = retriever.rank_many([question], k=7)[0]
    assert {d.id for d in docs} == set(by_dense) | set(by_bm25)  # pooled from both rankers
    for doc in docs:
        scores = doc.metadata["scores"]
        assert scores["dense"] == (pytest.approx(by_dense[doc.id]) if doc.id in by_dense else None)
        assert scores["bm25"] == (pytest.approx(by_bm25[doc.id]) if doc.id in by_bm25 else None)


def test_with_sentence_vectors_the_leading_candidates_gain_their_best_sentence(handmade):
    retriever = handmade.retriever
    answerer = handmade.answerer
    # Few words in common with either passage, and dense prefers the strewn one; the told
    # passage's one sentence is much closer to the question than any sentence of the other.
    question = "Which man saved the sailors of the Merrow from drowning?"
    assert retriever.invoke(question, k=1)[0].page_content == STREWN
    [pool] = retriever.candidates([question], sentences=answerer)
    # The leading SENTENCE_DEPTH candidates have their best sentence's cosine; the rest NaN.
    assert np.isnan(pool.sentence).sum() == max(len(pool.passages) - SENTENCE_DEPTH, 0)
    vector = handmade.embeddings.embed_questions([question])[0]
    told = next(i for i, p in enumerate(pool.passages) if p.page_content == TOLD)
    sentences = answerer.prepare([pool.passages[told]])[TOLD].vectors
    assert pool.sentence[told] == pytest.approx(float(np.max(sentences @ vector)))
    bonus = SENTENCE_WEIGHT * np.nan_to_num(np.maximum(pool.sentence, 0.0))
    assert pool.fused() == pytest.approx(fuse(pool.features) + bonus)
    shared = retriever.model_copy(update={"sentences": answerer})
    docs = shared.invoke(question, k=2)
    assert docs[0].page_content == TOLD
    assert docs[0].metadata["scores"]["fused"] == pytest.approx(pool.fused()[told])


def test_features_of_a_hand_built_index():
    # Passage 0: one sentence holds terms 1 2 3 in a row. Passage 1: 1 .. 2 .. 3 apart,
    # each in its own sentence, with filler terms (7, 8, 9) between them.
    index = TermIndex.build(
        [[[1, 2, 3], [4]], [[1, 7, 8], [9, 2], [9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 3]]],
        np.array([0, 2, 2, 2, 1, 0, 0, 1, 1, 1]),
    )
    vocabulary = {"a": 1, "b": 2, "c": 3}
    query = QueryTerms.of(["a", "b", "c", "unseen"], vocabulary)
    features = candidate_features(
        index, np.array([0, 1]), query, np.array([0.5, 0.6]), np.array([2.0, 4.0])
    )
    column = {name: features[:, i] for i, name in enumerate(FEATURES)}
    assert column["dense"].tolist() == [0.5, 0.6]
    assert column["bm25"].tolist() == [0.5, 1.0]
    idf = np.log1p(3 / 3)  # each of a, b, c is in both passages
    unseen = np.log1p(3)
    assert column["coverage"] == pytest.approx([3 * idf / (3 * idf + unseen)] * 2)
    # Among these two candidates a, b and c tell nothing apart; only "unseen" stays rare.
    local = np.log1p(3 / 3)
    share = local / (3 * local + np.log1p(3))
    assert column["sentence"] == pytest.approx([3 * share, share])
    assert column["window"] == pytest.approx(
        [3 * idf / (3 * idf + unseen), 2 * idf / (3 * idf + unseen)]
    )
    assert column["phrase"] == pytest.approx([2 / 3, 0.0])  # a-b, b-c of a-b, b-c, c-unseen


def test_no_question_terms_leaves_the_dense_order():
    index = TermIndex.build([[[1]], [[2]]], np.array([0, 1, 1]))
    query = QueryTerms.of([], {})
    features = candidate_features(index, np.array([0, 1]), query, np.array([0.2, 0.7]), np.zeros(2))
    assert np.argsort(-fuse(features)).tolist() == [1, 0]
    assert set(WEIGHTS) == set(FEATURES)


def test_bm25_follows_the_store_after_reindexing(settings_factory, embeddings, corpus_copy):
    settings = settings_factory(corpus_dir=corpus_copy)
    assistant = open_assistant(settings, embeddings=embeddings, build_if_missing=True)
    assert assistant.ask("What is a zorblat?").refused
    (corpus_copy / "zorblat.txt").write_text(
        "Zorblats\n\nA zorblat is a copper kettle used at the winter fair in Oslo.\n"
    )
    index_paths([corpus_copy], location=assistant.location, embeddings=embeddings, progress=False)
    assistant.refresh()
    answer = assistant.ask("What is a zorblat?")
    assert not answer.refused
    assert answer.citations[0].source == "zorblat.txt"


@pytest.mark.parametrize("title", ["", "Kestrel Bay"])
def test_tokens_of_sentences_are_the_passage_tokens(settings_factory, embeddings, title):
    # The term index splits passages into sentences; BM25 sees the same terms in order:
    # its context's (here the title), then its text's.
    settings = settings_factory()
    passages = [_passage(t, n) for n, t in enumerate([TOLD, STREWN])]
    for passage in passages:
        passage.metadata["title"] = title
    index_documents(passages, location=store_location(settings), embeddings=embeddings)
    keywords = open_assistant(settings, embeddings=embeddings, warm=False).keywords
    loaded = keywords.loaded
    for i, passage in enumerate(keywords.passages):
        ids = loaded.terms.tokens[loaded.terms.offsets[i] : loaded.terms.offsets[i + 1]]
        terms = tokenize(title) + tokenize(passage.page_content)
        assert [loaded.vocabulary[t] for t in terms] == ids.tolist()


def test_the_same_text_indexed_twice_is_retrieved_and_cited_once(
    settings_factory, embeddings, tmp_path
):
    # A documentation page indexed as HTML and as its text source, or a file copied into
    # two folders: the same words twice in the index, never twice in one answer.
    folder = tmp_path / "docs"
    (folder / "copy").mkdir(parents=True)
    page = "Kettles\n\nA zorblat is a copper kettle used at the winter fair in Oslo.\n"
    (folder / "zorblat.txt").write_text(page)
    (folder / "copy" / "zorblat.txt").write_text(page)
    (folder / "fair.txt").write_text("The fair\n\nThe winter fair in Oslo sells kettles.\n")
    settings = settings_factory(corpus_dir=folder)
    assistant = open_assistant(settings, embeddings=embeddings, build_if_missing=True)
    assert len(assistant.keywords) == 3  # both copies are in the index

    retrieved = assistant.retriever.invoke("What is a zorblat?", k=3)
    texts = [p.page_content for p in retrieved]
    assert len(texts) == len(set(texts)) == 2
    answer = assistant.ask("What is a zorblat?", k=3)
    assert not answer.refused
    cited = [c.text for c in answer.citations]
    assert len(cited) == len(set(cited))
