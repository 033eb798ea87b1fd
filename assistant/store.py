"""Open the Chroma store (embedded under ``index/`` or a server) and read passages back."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_chroma import Chroma
from langchain_core.documents import Document

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
        forget_client(location)
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


def all_passages(store: Chroma) -> list[Document]:
    """Read every passage of the collection, with its Chroma id, in a stable order."""
    try:
        result = store.get(include=["documents", "metadatas"])
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
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
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
        forget_client(location)
        raise IndexCorruptError(_corrupt_message(location, exc)) from exc


def forget_client(location: StoreLocation) -> None:
    """Drop chromadb's per-process cached client for this folder.

    chromadb keeps one system per path for the life of the process; after the folder was
    deleted or found broken, reusing it would fail, so the next open must start afresh.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(location.chroma_dir), None)
    SharedSystemClient._identifier_to_refcount.pop(str(location.chroma_dir), None)


def _corrupt_message(location: StoreLocation, exc: BaseException) -> str:
    return (
        f"The index at {location.describe()} cannot be opened ({type(exc).__name__}: {exc}). "
        "Rebuild it with `assistant index --rebuild` (or delete the folder and run "
        "`assistant index`)."
    )
