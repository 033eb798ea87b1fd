"""The Chroma store (embedded under ``index/`` or a server): opening it, and every use of
Chroma's own API, behind named functions.

Everything else sees a LangChain ``VectorStore``; swapping Chroma for another store means
rewriting this module (and the record manager's table in :mod:`assistant.sources`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStore

from assistant.embeddings import SentenceEmbeddings
from assistant.errors import ConfigError, IndexCorruptError, IndexMissingError

_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class StoreLocation:
    """Where the passages live: a folder for the embedded store, or a server URL."""

    index_dir: Path
    collection: str
    chroma_url: str | None = None

    @property
    def chroma_dir(self) -> Path:
        return self.index_dir / "chroma"

    @property
    def manifest_path(self) -> Path:
        return self.index_dir / _MANIFEST

    @property
    def records_path(self) -> Path:
        return self.index_dir / "records.sqlite"

    def describe(self) -> str:
        return self.chroma_url or str(self.index_dir)


def collection_name(base: str, embeddings: SentenceEmbeddings) -> str:
    """Name the collection after the model too: vectors of two models never share one."""
    return f"{base}-{embeddings.model_id}"[:63]


def open_store(
    location: StoreLocation, embeddings: SentenceEmbeddings, *, create: bool = False
) -> Chroma:
    """Open the collection for ``embeddings``; with ``create`` make it if it is missing.

    Raises:
        IndexMissingError: there is no index and ``create`` is false.
        IndexCorruptError: the store exists but cannot be opened.
    """
    name = collection_name(location.collection, embeddings)
    client = _client(location, create=create)
    try:
        existing = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    except Exception as exc:  # noqa: BLE001 - chromadb raises many types for a broken store
        raise IndexCorruptError(_corrupt_message(location, exc)) from exc
    if name not in existing and not create:
        raise IndexMissingError(
            f"No index for model {embeddings.model_name!r} at {location.describe()}; "
            "run `assistant index` (it indexes corpus/ by default) first."
        )
    try:
        store = Chroma(
            collection_name=name,
            embedding_function=embeddings,
            client=client,
            collection_metadata={"hnsw:space": "cosine", "embedding_model": embeddings.model_name},
        )
        stored_model = (store._collection.metadata or {}).get("embedding_model")
    except Exception as exc:  # noqa: BLE001
        raise IndexCorruptError(_corrupt_message(location, exc)) from exc
    if stored_model and stored_model != embeddings.model_name:
        # Two models' vectors must never share a collection.
        raise ConfigError(
            f"The collection {name!r} at {location.describe()} was built with "
            f"{stored_model!r}, not {embeddings.model_name!r}. Use another "
            "ASSISTANT_COLLECTION, or rebuild with `assistant index --rebuild`."
        )
    return store


def all_passages(store: VectorStore) -> list[Document]:
    """Read every passage of the collection, with its Chroma id, in a stable order."""
    try:
        result = _chroma(store).get(include=["documents", "metadatas"])
    except Exception as exc:  # noqa: BLE001
        raise IndexCorruptError(
            f"The index cannot be read ({exc}); rebuild it with `assistant index --rebuild`."
        ) from exc
    docs = [
        Document(page_content=text, metadata=dict(meta or {}), id=doc_id)
        for doc_id, text, meta in zip(
            result["ids"], result["documents"], result["metadatas"], strict=True
        )
    ]
    docs.sort(key=lambda d: (d.metadata.get("source", ""), d.metadata.get("start", 0)))
    return docs


def manifest_stamp(location: StoreLocation) -> int:
    """When the index last changed (ns), as cheap to read as one stat call; 0 if never."""
    try:
        return location.manifest_path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def read_manifest(location: StoreLocation) -> dict[str, Any]:
    """Read what the last indexing run recorded (model, counts); empty if none."""
    try:
        return dict(json.loads(location.manifest_path.read_text()))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(
            f"{location.manifest_path} is damaged ({exc}); "
            "rebuild with `assistant index --rebuild`."
        ) from exc


def write_manifest(location: StoreLocation, manifest: dict[str, Any]) -> None:
    location.index_dir.mkdir(parents=True, exist_ok=True)
    tmp = location.manifest_path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    tmp.replace(location.manifest_path)


def count_passages(store: VectorStore) -> int:
    """How many passages the collection holds."""
    return int(_chroma(store)._collection.count())


def passage_metadatas(store: VectorStore) -> list[dict[str, Any]]:
    """Every passage's metadata (no texts, no vectors)."""
    found = _chroma(store).get(include=["metadatas"])
    return [dict(meta or {}) for meta in found["metadatas"]]


def dense_search(store: VectorStore, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
    """The ``k`` nearest passages to each vector: (id, cosine similarity), best first.

    One Chroma query for all vectors (evaluation asks hundreds at once); LangChain's
    ``similarity_search_by_vector`` would take one round trip per vector.
    """
    result = _chroma(store)._collection.query(
        query_embeddings=vectors.tolist(), n_results=k, include=["distances"]
    )
    distances = result["distances"] or []
    return [
        [(doc_id, 1.0 - float(distance)) for doc_id, distance in zip(ids, dists, strict=True)]
        for ids, dists in zip(result["ids"], distances, strict=True)
    ]


def ids_where_in(store: VectorStore, field: str, values: Sequence[str]) -> list[str]:
    """Ids of the passages whose metadata ``field`` is one of ``values``."""
    if not values:
        return []
    where: Any = {field: {"$in": list(values)}}
    return list(_chroma(store).get(where=where, include=[])["ids"])


def values_where_in(store: VectorStore, field: str, values: Sequence[str], wanted: str) -> set[str]:
    """The distinct ``wanted`` metadata values of passages whose ``field`` is in ``values``."""
    if not values:
        return set()
    where: Any = {field: {"$in": list(values)}}
    found = _chroma(store).get(where=where, include=["metadatas"])
    return {str(m[wanted]) for m in found["metadatas"] if m and m.get(wanted)}


def delete_ids(store: VectorStore, ids: Iterable[str]) -> None:
    """Delete passages by id."""
    ids = list(ids)
    if ids:
        store.delete(ids=ids)


def delete_collection(location: StoreLocation, embeddings: SentenceEmbeddings) -> None:
    """Delete this model's collection, if it exists (on a server, or in the folder)."""
    if not location.chroma_url and not location.chroma_dir.exists():
        return
    client = _client(location, create=True)
    name = collection_name(location.collection, embeddings)
    existing = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    if name in existing:
        client.delete_collection(name)


def _chroma(store: VectorStore) -> Chroma:
    if not isinstance(store, Chroma):
        raise TypeError(f"this operation needs a Chroma store, not {type(store).__name__}")
    return store


def _client(location: StoreLocation, *, create: bool) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if location.chroma_url:
        from urllib.parse import urlparse

        url = urlparse(location.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(
                f"ASSISTANT_CHROMA_URL={location.chroma_url!r} is not a URL like http://HOST:PORT"
            )
        try:
            return _http_client(
                url.hostname,
                url.port or (443 if url.scheme == "https" else 8000),
                url.scheme == "https",
            )
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(
                f"Cannot reach the Chroma server at {location.chroma_url} ({exc}); "
                "is `chroma run` up?"
            ) from exc
    if not location.chroma_dir.exists() and not create:
        raise IndexMissingError(
            f"No index at {location.index_dir}/; run `assistant index` "
            "(it indexes corpus/ by default) first."
        )
    try:
        return chromadb.PersistentClient(path=str(location.chroma_dir), settings=chroma_settings)
    except Exception as exc:  # noqa: BLE001
        raise IndexCorruptError(_corrupt_message(location, exc)) from exc


@functools.lru_cache(maxsize=8)
def _http_client(host: str, port: int, ssl: bool) -> Any:
    """One HTTP client per server for the life of the process: each new one opens a new
    connection pool and asks the server for its version and identity."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.HttpClient(
        host=host, port=port, ssl=ssl, settings=ChromaSettings(anonymized_telemetry=False)
    )


def _corrupt_message(location: StoreLocation, exc: BaseException) -> str:
    return (
        f"The index at {location.describe()} cannot be opened ({type(exc).__name__}: {exc}). "
        "Rebuild it with `assistant index --rebuild` (or delete the folder and run "
        "`assistant index`)."
    )
