"""The store as indexing writes to it: each passage embedded after its context.

LangChain's indexing API hands the passages to a ``VectorStore``'s ``add_documents``; a
Chroma store would embed their text alone. :class:`ContextWriter` embeds what
:func:`~assistant.ingest.context.indexed_text` makes of each passage (its title, section and
API entry before its text) and writes the vectors with the passage's own text and metadata,
which answers quote.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from assistant.ingest import context
from assistant.store import upsert_with_vectors


class ContextWriter(VectorStore):
    """Writes passages to ``store``, each embedded by ``embeddings`` with its context.

    Only what :func:`langchain_core.indexing.index` calls is offered: ``add_documents`` and
    ``delete``. Searching goes to the store itself.
    """

    def __init__(self, store: VectorStore, embeddings: Embeddings) -> None:
        self.store = store
        self._embeddings = embeddings

    @property
    def embeddings(self) -> Embeddings:
        return self._embeddings

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        ids = kwargs.get("ids") or [str(d.id) for d in documents]
        if len(ids) != len(documents):
            raise ValueError(f"{len(ids)} ids for {len(documents)} passages")
        texts = [context.indexed_text(d.page_content, d.metadata) for d in documents]
        vectors = self._embeddings.embed_documents(texts) if texts else []
        upsert_with_vectors(
            self.store,
            list(ids),
            [d.page_content for d in documents],
            [dict(d.metadata) for d in documents],
            vectors,
        )
        return list(ids)

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        texts = list(texts)
        metadatas = metadatas or [{} for _ in texts]
        documents = [
            Document(page_content=t, metadata=m) for t, m in zip(texts, metadatas, strict=True)
        ]
        return self.add_documents(documents, **kwargs)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        return self.store.delete(ids=ids, **kwargs)

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return self.store.similarity_search(query, k=k, **kwargs)

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[Any, Any]] | None = None,
        **kwargs: Any,
    ) -> ContextWriter:
        raise NotImplementedError("open the store, then wrap it: ContextWriter(store, embeddings)")
