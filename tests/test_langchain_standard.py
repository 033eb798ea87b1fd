"""LangChain's standard conformance suites (``langchain-tests``) against the project's classes.

Code that takes ``SentenceEmbeddings`` as an ``Embeddings`` or ``HybridRetriever`` as a
``BaseRetriever`` relies on what these suites check: ``invoke(query, k=3)`` returns 3
documents, the async methods work, and so on. Their async tests are unmarked: they run under
pytest-asyncio's auto mode (pyproject.toml), as in LangChain's own packages.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import (
    EmbeddingsIntegrationTests,
    RetrieversIntegrationTests,
)
from langchain_tests.unit_tests import EmbeddingsUnitTests

from assistant.embeddings import SentenceEmbeddings
from assistant.retrieve import HybridRetriever

#: Asked of the bundled article (13 passages), which answers it.
QUESTION = "Who is Omar Khawlani?"


class TestSentenceEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[SentenceEmbeddings]:
        return SentenceEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"backend": "onnx", "precision": "fp32", "batch_size": 8}


class TestSentenceEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[SentenceEmbeddings]:
        return SentenceEmbeddings


class TestHybridRetrieverIntegration(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _index(self, article_assistant: Any) -> None:
        # The suite builds retrievers from retriever_constructor_params, a property: it
        # reads the store of the session's indexed article from here.
        self.parts = _parts(article_assistant.retriever)

    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return dict(self.parts)

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


# What the suite leaves out but LangChain callers rely on as well.


def _ids(documents: list[Any]) -> list[str]:
    return [d.id for d in documents]


async def test_ainvoke_takes_k_like_invoke(article_assistant):
    retriever = article_assistant.retriever
    documents = await retriever.ainvoke(QUESTION, k=2)
    assert _ids(documents) == _ids(retriever.invoke(QUESTION, k=2))
    assert len(documents) == 2


def test_k_above_fetch_k_still_returns_k_documents(article_assistant):
    # Each ranker fetches fetch_k candidates; 2 + 2 cannot make 10 without fetching more.
    shallow = article_assistant.retriever.model_copy(update={"fetch_k": 2})
    assert len(article_assistant.retriever.keywords) >= 10
    assert len(shallow.invoke(QUESTION, k=10)) == 10
    assert len(HybridRetriever(**_parts(shallow), fetch_k=2, k=10).invoke(QUESTION)) == 10


def test_invoke_with_k_matches_rank_many(article_assistant):
    retriever = article_assistant.retriever
    assert _ids(retriever.invoke(QUESTION, k=3)) == _ids(retriever.rank_many([QUESTION], k=3)[0])
    assert _ids(retriever.invoke(QUESTION)) == _ids(retriever.rank_many([QUESTION])[0])


def test_k_must_be_positive(article_assistant):
    with pytest.raises(ValueError, match="k must be at least 1"):
        article_assistant.retriever.invoke(QUESTION, k=0)


def test_other_invoke_keywords_are_ignored_as_before(article_assistant):
    retriever = article_assistant.retriever
    assert _ids(retriever.invoke(QUESTION, verbose=False)) == _ids(retriever.invoke(QUESTION))


def _parts(retriever: HybridRetriever) -> dict[str, Any]:
    return {
        "store": retriever.store,
        "embeddings": retriever.embeddings,
        "keywords": retriever.keywords,
    }
