"""The Chroma store (embedded under ``index/`` or a server): opening it, and every use of
Chroma's own API, behind named functions.

Everything else sees a LangChain ``VectorStore``; swapping Chroma for another store means
rewriting this module (and the record manager's table in :mod:`assistant.sources`).
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStore

from assistant.embeddings import SentenceEmbeddings
from assistant.errors import (
    AssistantError,
    ConfigError,
    IndexBusyError,
    IndexCorruptError,
    IndexMissingError,
    StoreIncompatibleError,
    StoreUnauthorizedError,
    StoreUnreachableError,
)

_MANIFEST = "manifest.json"
#: The collection metadata key every write changes (see :func:`mark_written`).
_VERSION_KEY = "index_version"
#: Rows read, and ids written or deleted, per Chroma call. Chroma refuses a read of more
#: than 32,766 rows ("too many SQL variables") and writes of more than its max batch size
#: (5,461 embedded), so everything that walks the collection goes page by page.
PAGE_SIZE = 5000

T = TypeVar("T")


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
    def keywords_dir(self) -> Path:
        """The saved keyword index (:mod:`assistant.keywords`): a cache, also for a server."""
        return self.index_dir / "keywords"

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
        raise store_error(location, exc) from exc
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
        raise store_error(location, exc) from exc
    if stored_model and stored_model != embeddings.model_name:
        # Two models' vectors must never share a collection.
        raise ConfigError(
            f"The collection {name!r} at {location.describe()} was built with "
            f"{stored_model!r}, not {embeddings.model_name!r}. Use another "
            "ASSISTANT_COLLECTION, or rebuild with `assistant index --rebuild`."
        )
    return store


def all_passages(store: VectorStore) -> list[Document]:
    """Read every passage of the collection, with its Chroma id, in a stable order.

    Read :data:`PAGE_SIZE` rows at a time; a passage is returned once even if a write
    between two pages moved it.

    Raises:
        IndexMissingError: the collection was deleted (another process rebuilding it).
    """
    chroma = _chroma(store)
    docs: list[Document] = []
    seen: set[str] = set()
    with _reading(chroma):
        for page in _pages(chroma, include=["documents", "metadatas"]):
            for doc_id, text, meta in zip(
                page["ids"], page["documents"] or [], page["metadatas"] or [], strict=True
            ):
                if doc_id not in seen:
                    seen.add(doc_id)
                    docs.append(Document(page_content=text, metadata=dict(meta or {}), id=doc_id))
    docs.sort(key=lambda d: (d.metadata.get("source", ""), d.metadata.get("start", 0)))
    return docs


def passage_ids(store: VectorStore) -> list[str]:
    """The id of every passage (nothing else is read), each once.

    Raises:
        IndexMissingError: the collection was deleted (another process rebuilding it).
    """
    chroma = _chroma(store)
    with _reading(chroma):
        ids = [doc_id for page in _pages(chroma, include=[]) for doc_id in page["ids"]]
    return list(dict.fromkeys(ids))


def documents_by_id(store: VectorStore, ids: Sequence[str]) -> dict[str, Document]:
    """The passages with these ids (those that still exist), text and metadata.

    Raises:
        IndexMissingError: the collection was deleted (another process rebuilding it).
    """
    chroma = _chroma(store)
    found: dict[str, Document] = {}
    with _reading(chroma):
        for chunk in _chunks(list(ids)):
            page = chroma._collection.get(ids=list(chunk), include=["documents", "metadatas"])
            for doc_id, text, meta in zip(
                page["ids"], page["documents"] or [], page["metadatas"] or [], strict=True
            ):
                found[doc_id] = Document(page_content=text, metadata=dict(meta or {}), id=doc_id)
    return found


@contextmanager
def _reading(chroma: Chroma) -> Iterator[None]:
    """Say what went wrong reading the collection: deleted, unreachable, or unreadable."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - chromadb raises many types
        if _gone(exc):
            raise _gone_error(chroma) from exc
        if _looks_unreachable(exc):
            raise StoreUnreachableError(
                f"The Chroma server cannot be reached ({type(exc).__name__}: {exc}); is "
                "`chroma run` up? Nothing was changed."
            ) from exc
        raise IndexCorruptError(
            f"The index cannot be read ({exc}); rebuild it with `assistant index --rebuild`."
        ) from exc


def _pages(chroma: Chroma, *, include: list[str], where: Any = None) -> Iterator[Any]:
    """Read the collection (or the passages matching ``where``) :data:`PAGE_SIZE` rows at a
    time, in Chroma's storage order, with only the fields in ``include``."""
    offset = 0
    while True:
        page = chroma._collection.get(
            where=where,
            limit=PAGE_SIZE,
            offset=offset,
            include=include,  # type: ignore[arg-type]
        )
        if not page["ids"]:
            return
        yield page
        if len(page["ids"]) < PAGE_SIZE:
            return
        offset += len(page["ids"])


def _chunks(items: Sequence[T], size: int = PAGE_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class StoreVersion:
    """Which collection the store holds (a rebuild makes a new one under the same name) and
    which write to it was the last (:func:`mark_written`)."""

    collection_id: str
    written: str


def store_version(store: VectorStore, location: StoreLocation | None = None) -> StoreVersion | None:
    """Ask the store which version of the collection it holds now: one small request (a
    read of the collection's record: about 1 ms on loopback, less embedded).

    When the collection was deleted and made again under the same name (``assistant index
    --rebuild``, perhaps in another process or on another machine), ``store`` is switched
    to the new one: every holder of ``store`` reads from it from then on. ``None`` for a
    store that is not Chroma, whose changes cannot be seen.

    Raises:
        IndexMissingError: the collection is gone (being rebuilt, or deleted).
        StoreUnreachableError: the Chroma server did not answer.
    """
    if not isinstance(store, Chroma):
        return None
    try:
        collection = store._client.get_collection(name=store._collection.name)
    except Exception as exc:  # noqa: BLE001 - chromadb raises many types
        if _gone(exc):
            raise _gone_error(store) from exc
        if location is not None:
            raise store_error(location, exc) from exc
        raise
    if collection.id != store._collection.id:
        # langchain_chroma keeps the collection it opened and has no call to open another:
        # swap it, so the chain, the retriever and BM25 all follow the rebuilt collection.
        store._chroma_collection = collection
    written = str((collection.metadata or {}).get(_VERSION_KEY, ""))
    return StoreVersion(str(collection.id), written)


#: The SQLite database an embedded Chroma keeps in its folder: every write, by any process,
#: is committed there (the collection's version too, see :func:`mark_written`).
_CHROMA_DATABASE = "chroma.sqlite3"


class ChangeProbe:
    """Tell, in microseconds, that nothing was committed to an embedded store since a stamp.

    A stamp is SQLite's ``PRAGMA data_version`` read on a read-only connection of our own,
    with the database file's identity: the data version "changes if changes were committed
    to the database by any other connection" — another process, or Chroma's own connections
    in this one — and needs no clock, so no write can share a stamp with the state before
    it. A database file replaced (another inode) starts a new connection whose stamps never
    equal the old ones. ``None`` whenever that cannot be told (the file is missing, SQLite
    refuses): the caller then asks the store.

    Sound use: read the stamp, *then* the store's version; while a later stamp equals it,
    nothing was committed since, and that version is still the store's.
    """

    def __init__(self, database: Path) -> None:
        self.database = database
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None  # (device, inode) the connection reads
        self._opened = 0  # connections opened: data versions of two are not comparable

    def stamp(self) -> tuple[int, int] | None:
        """(connection number, data version) now; ``None`` when it cannot be told."""
        try:
            info = os.stat(self.database)
        except OSError:
            return None
        with self._lock:
            try:
                if self._connection is None or self._file != (info.st_dev, info.st_ino):
                    self._reopen((info.st_dev, info.st_ino))
                assert self._connection is not None
                row = self._connection.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error:
                self._close()  # e.g. a hot journal a read-only connection cannot roll back
                return None
            # Under the lock: the version and the number of the connection that read it.
            return (self._opened, int(row[0]))

    def _reopen(self, file: tuple[int, int]) -> None:
        self._close()
        # Read-only, autocommit (each PRAGMA its own read transaction), any thread.
        self._connection = sqlite3.connect(
            f"{self.database.absolute().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
        self._file = file
        self._opened += 1

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None
        self._file = None


def change_probe(store: VectorStore) -> ChangeProbe | None:
    """A :class:`ChangeProbe` on the database of ``store``'s embedded Chroma; ``None`` for a
    Chroma server (whose changes only the server can tell) or a store that is not Chroma."""
    if not isinstance(store, Chroma):
        return None
    try:
        settings = store._client.get_settings()
    except Exception:  # noqa: BLE001 - a client without settings: ask the store every time
        return None
    if not settings.is_persistent or not settings.persist_directory:
        return None
    return ChangeProbe(Path(settings.persist_directory) / _CHROMA_DATABASE)


def mark_written(store: VectorStore) -> None:
    """Give the collection a new version: readers, in any process and on any machine, see a
    change on their next question (:func:`store_version`).

    Called after every write, so that even a run killed midway leaves the version of what it
    last wrote.
    """
    if not isinstance(store, Chroma):
        return
    collection = store._collection
    # Chroma refuses to "modify" hnsw settings (the distance lives in the configuration,
    # which a change of metadata keeps).
    metadata = {
        k: v for k, v in (collection.metadata or {}).items() if not str(k).startswith("hnsw:")
    }
    metadata[_VERSION_KEY] = f"{time.time_ns():x}-{uuid.uuid4().hex[:12]}"
    collection.modify(metadata=metadata)


def _gone(exc: BaseException) -> bool:
    """Whether the error says the collection does not exist (any more)."""
    return any(
        type(e).__name__ == "NotFoundError" or "does not exist" in str(e) for e in _causes(exc)
    )


def _gone_error(store: Chroma) -> IndexMissingError:
    return IndexMissingError(
        f"The collection {store._collection.name!r} is gone: another process is rebuilding "
        "the index, or deleted it. Ask again in a moment; if this persists, run "
        "`assistant index`."
    )


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


def passage_metadatas(store: VectorStore) -> Iterator[dict[str, Any]]:
    """Every passage's metadata (no texts, no vectors), read a page at a time."""
    for page in _pages(_chroma(store), include=["metadatas"]):
        for meta in page["metadatas"] or []:
            yield dict(meta or {})


def dense_search(store: VectorStore, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
    """The ``k`` nearest passages to each vector: (id, cosine similarity), best first.

    One Chroma query for all vectors (evaluation asks hundreds at once); LangChain's
    ``similarity_search_by_vector`` would take one round trip per vector.

    Raises:
        IndexMissingError: the collection was deleted (another process rebuilding it).
    """
    chroma = _chroma(store)
    try:
        result = chroma._collection.query(
            query_embeddings=vectors.tolist(), n_results=k, include=["distances"]
        )
    except Exception as exc:
        if _gone(exc):
            raise _gone_error(chroma) from exc
        raise
    distances = result["distances"] or []
    return [
        [(doc_id, 1.0 - float(distance)) for doc_id, distance in zip(ids, dists, strict=True)]
        for ids, dists in zip(result["ids"], distances, strict=True)
    ]


def delete_where_in(store: VectorStore, field: str, values: Sequence[str]) -> Iterator[list[str]]:
    """Delete the passages whose metadata ``field`` is one of ``values``, a page at a time;
    yield each page's ids once they are deleted (to drop their records next).

    Raises:
        IndexCorruptError: Chroma returned a page it had just deleted (it would never end).
    """
    chroma = _chroma(store)
    for chunk in _chunks(list(values)):
        where: Any = {field: {"$in": list(chunk)}}
        previous: set[str] = set()
        # Always the first page: the one before it is gone.
        while ids := list(chroma._collection.get(where=where, limit=PAGE_SIZE, include=[])["ids"]):
            if previous.intersection(ids):
                raise IndexCorruptError(
                    f"Chroma did not delete passages whose {field!r} is one of {len(chunk)} "
                    "values; rebuild the index with `assistant index --rebuild`."
                )
            chroma._collection.delete(ids=ids)
            mark_written(store)
            previous = set(ids)
            yield ids


def values_where_in(store: VectorStore, field: str, values: Sequence[str], wanted: str) -> set[str]:
    """The distinct ``wanted`` metadata values of passages whose ``field`` is in ``values``."""
    found: set[str] = set()
    for chunk in _chunks(list(values)):
        where: Any = {field: {"$in": list(chunk)}}
        for page in _pages(_chroma(store), include=["metadatas"], where=where):
            found.update(str(m[wanted]) for m in page["metadatas"] or [] if m and m.get(wanted))
    return found


def ids_where_in(store: VectorStore, field: str, values: Sequence[str]) -> set[str]:
    """The ids of the passages whose metadata ``field`` is one of ``values`` (nothing else is
    read: a few seconds for 50,000 passages, where their metadata takes 8-11)."""
    found: set[str] = set()
    for chunk in _chunks(list(values)):
        where: Any = {field: {"$in": list(chunk)}}
        for page in _pages(_chroma(store), include=[], where=where):
            found.update(page["ids"])
    return found


def first_passage(store: VectorStore) -> tuple[str, str, dict[str, Any]] | None:
    """The collection's oldest passage as (id, text, metadata); ``None`` when it is empty."""
    found = _chroma(store).get(limit=1, include=["documents", "metadatas"])
    if not found["ids"]:
        return None
    texts = found["documents"] or [""]
    metadatas = found["metadatas"] or [{}]
    return found["ids"][0], texts[0], dict(metadatas[0] or {})


def metadatas_by_id(store: VectorStore, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored metadata of the passages with these ids (those that exist)."""
    stored: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(list(ids)):
        found = _chroma(store).get(ids=list(chunk), include=["metadatas"])
        stored.update(
            (doc_id, dict(meta or {}))
            for doc_id, meta in zip(found["ids"], found["metadatas"] or [], strict=True)
        )
    return stored


def update_metadatas(
    store: VectorStore, ids: Sequence[str], metadatas: Sequence[dict[str, Any]]
) -> None:
    """Change the metadata of stored passages in place (no embedding): keys given replace
    the stored ones."""
    ids = list(ids)
    rows: list[Any] = list(metadatas)
    for start in range(0, len(ids), PAGE_SIZE):
        _chroma(store)._collection.update(
            ids=ids[start : start + PAGE_SIZE], metadatas=rows[start : start + PAGE_SIZE]
        )
        mark_written(store)


def passage_texts(store: VectorStore) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every passage as (id, text, metadata), read a page at a time; a passage a write
    between two pages moved may come twice.

    Raises:
        IndexMissingError: the collection was deleted (another process rebuilding it).
    """
    chroma = _chroma(store)
    with _reading(chroma):
        for page in _pages(chroma, include=["documents", "metadatas"]):
            for doc_id, text, meta in zip(
                page["ids"], page["documents"] or [], page["metadatas"] or [], strict=True
            ):
                yield doc_id, text, dict(meta or {})


def passage_rows(store: VectorStore) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every passage as (id, text, metadata), read a page at a time (no vectors: see
    :func:`vectors_by_id`)."""
    for page in _pages(_chroma(store), include=["documents", "metadatas"]):
        yield from (
            (doc_id, text, dict(meta or {}))
            for doc_id, text, meta in zip(
                page["ids"], page["documents"] or [], page["metadatas"] or [], strict=True
            )
        )


def vectors_by_id(store: VectorStore, ids: Sequence[str]) -> dict[str, Any]:
    """The stored vectors of the passages with these ids (those that exist)."""
    vectors: dict[str, Any] = {}
    for chunk in _chunks(list(ids)):
        found = _chroma(store).get(ids=list(chunk), include=["embeddings"])
        found_vectors = found["embeddings"] if found["embeddings"] is not None else []
        vectors.update(zip(found["ids"], found_vectors, strict=True))
    return vectors


def upsert_with_vectors(
    store: VectorStore,
    ids: Sequence[str],
    texts: Sequence[str],
    metadatas: Sequence[dict[str, Any]],
    vectors: Sequence[Any],
) -> None:
    """Write passages whose vectors are already known (nothing is embedded)."""
    for start in range(0, len(ids), PAGE_SIZE):
        end = start + PAGE_SIZE
        _chroma(store)._collection.upsert(
            ids=list(ids[start:end]),
            documents=list(texts[start:end]),
            metadatas=list(metadatas[start:end]),
            embeddings=np.asarray(vectors[start:end], dtype=np.float32),
        )
        mark_written(store)


def delete_ids(store: VectorStore, ids: Iterable[str]) -> None:
    """Delete passages by id, :data:`PAGE_SIZE` at a time."""
    for chunk in _chunks(list(ids)):
        store.delete(ids=list(chunk))
        mark_written(store)


def delete_collection(location: StoreLocation, embeddings: SentenceEmbeddings) -> None:
    """Delete this model's collection, if it exists (on a server, or in the folder)."""
    if not location.chroma_url and not location.chroma_dir.exists():
        return
    client = _client(location, create=True)
    name = collection_name(location.collection, embeddings)
    try:
        existing = {c if isinstance(c, str) else c.name for c in client.list_collections()}
        if name in existing:
            client.delete_collection(name)
    except Exception as exc:  # noqa: BLE001
        raise store_error(location, exc) from exc


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
            raise store_error(location, exc) from exc
    if not location.chroma_dir.exists() and not create:
        raise IndexMissingError(
            f"No index at {location.index_dir}/; run `assistant index` "
            "(it indexes corpus/ by default) first."
        )
    try:
        return chromadb.PersistentClient(path=str(location.chroma_dir), settings=chroma_settings)
    except Exception as exc:  # noqa: BLE001
        raise store_error(location, exc) from exc


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


#: Words in an error (or its causes) that say what kind of failure it is.
_UNREACHABLE = (
    "could not connect",
    "connection refused",
    "connecterror",
    "connecttimeout",
    "timed out",
    "timeout",
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "network is unreachable",
    "no route to host",
    "connection reset",
    "remoteprotocolerror",
)
_UNAUTHORISED = (" 401", " 403", "unauthorized", "unauthorised", "forbidden", "authoriz", "auth")
_INCOMPATIBLE = (
    "version",
    " 404",
    "404 not found",
    "unsupported",
    "no such column",
    "no such table",
    "migration",
    "keyerror",
    "unknown field",
)
_BUSY = ("database is locked",)
_ACCESS = ("permission denied", "read-only", "readonly")


def store_error(location: StoreLocation, exc: BaseException) -> AssistantError:
    """Say what went wrong opening or using the store: the server is unreachable, refused
    our credentials or speaks another API version; the folder is locked, unreadable, from
    another Chroma version or really corrupt. Only corruption suggests ``--rebuild`` (which
    deletes the collection)."""
    if isinstance(exc, AssistantError):
        return exc
    chain = _causes(exc)
    text = " | ".join(f"{type(e).__name__}: {e}" for e in chain).lower()
    names = {type(e).__name__ for e in chain}
    detail = f"{type(exc).__name__}: {exc}"
    where = location.describe()
    if location.chroma_url:
        if _looks_unreachable(exc):
            return StoreUnreachableError(
                f"Cannot reach the Chroma server at {where} ({detail}); is `chroma run` up, "
                "and is ASSISTANT_CHROMA_URL right? Nothing was changed."
            )
        if names & {"AuthorizationError", "ChromaAuthError"} or any(
            word in text for word in _UNAUTHORISED
        ):
            return StoreUnauthorizedError(
                f"The Chroma server at {where} refused the request ({detail}): it needs "
                "credentials this client does not have. Nothing was changed."
            )
        if names & {"VersionMismatchError", "InvalidHTTPVersion"} or any(
            word in text for word in _INCOMPATIBLE
        ):
            return StoreIncompatibleError(
                f"The Chroma server at {where} speaks another version of Chroma's API "
                f"({detail}); run a server of the installed chromadb's version. Nothing was "
                "changed."
            )
        return StoreUnreachableError(
            f"The Chroma server at {where} failed ({detail}); check the server's log. "
            "Nothing was changed."
        )
    if any(word in text for word in _BUSY):
        return IndexBusyError(
            f"The index at {where} is locked by another process ({detail}); try again when "
            "it has finished."
        )
    if any(word in text for word in _ACCESS) or any(isinstance(e, PermissionError) for e in chain):
        return ConfigError(
            f"The index at {where} cannot be opened ({detail}): check its permissions."
        )
    if names & {"VersionMismatchError"} or any(
        word in text for word in ("no such column", "migration", "version")
    ):
        return StoreIncompatibleError(
            f"The index at {where} was written by another version of Chroma ({detail}); "
            "install the chromadb version that wrote it, or rebuild it with "
            "`assistant index --rebuild`."
        )
    return IndexCorruptError(_corrupt_message(location, exc))


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _looks_unreachable(exc: BaseException) -> bool:
    """Whether the error (or one it came from) is a connection refused, reset or timed out."""
    chain = _causes(exc)
    names = {type(e).__name__ for e in chain}
    text = " | ".join(f"{type(e).__name__}: {e}" for e in chain).lower()
    return bool(
        names & {"ConnectError", "ConnectTimeout", "TimeoutException", "ReadTimeout"}
        or any(isinstance(e, (ConnectionError, TimeoutError)) for e in chain)
        or any(word in text for word in _UNREACHABLE)
    )
