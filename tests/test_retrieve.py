from assistant.assemble import open_assistant
from assistant.index import index_paths


def test_hybrid_ranking_carries_both_scores(article_assistant):
    docs = article_assistant.retriever.invoke("Who is Omar Khawlani?")
    assert len(docs) == article_assistant.settings.top_k
    introducing = [d for d in docs[:2] if "Omar Khawlani, a researcher" in d.page_content]
    assert introducing, [d.page_content[:60] for d in docs]
    scores = introducing[0].metadata["scores"]
    assert scores["dense"] > 0.3 and scores["bm25"] > 0
    assert [d.metadata["scores"]["rrf"] for d in docs] == sorted(
        (d.metadata["scores"]["rrf"] for d in docs), reverse=True
    )


def test_a_rare_name_is_found_by_bm25_even_when_dense_misses(article_assistant):
    # A query of bare names: MiniLM's vectors for it are vague, BM25 matches them exactly.
    docs = article_assistant.retriever.invoke("Kildani Wala’I")
    assert "Rayan al-Kildani" in docs[0].page_content
    assert docs[0].metadata["scores"]["bm25"] > 0


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
