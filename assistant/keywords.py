"""BM25 over a Chroma collection, saved beside the store and kept in step with it.

The keyword index holds, per passage, only its id and its terms (term ids, sentence by
sentence): those of its context (title, section, API entry: :mod:`assistant.ingest.context`,
what is embedded with it) as a sentence of their own, then its text's; texts and metadata
stay in Chroma and are read for the few passages a question
retrieves (:meth:`KeywordIndex.documents`, with a cache). BM25 is a sparse term x passage
matrix of precomputed scores (Lucene's BM25 with k1 = 1.5, b = 0.75: bm25s's defaults, on
whose scores the rerank weights were fitted), built with numpy from the terms.

In step with the store: every write to the collection gives it a new version
(:func:`~assistant.store.mark_written`). Before each question the version is read (one small
request, also to a Chroma server); when it moved, the index is brought up to date:

* **incrementally**: the store's ids are listed (nothing else is read), the passages that
  are gone are dropped, and only the new ones are read and tokenised (a passage's id is a
  hash of its text and context, so a known id has the terms it had);
* or, for a collection it has never seen (a first open, a ``--rebuild``), from every passage.

An indexing run does the same once it has written, but takes the terms of the passages it
wrote from :class:`WrittenTerms`, filled as it wrote them: only the passages it did not
write (none, on a first run) are read back. The ids listed and the version read before them
still decide what the index holds, so it is the store's whatever the run did.

The result is saved as ``<index_dir>/keywords/<collection id>.npz`` with the version it
matches, so the next process to open an unchanged index loads it instead of reading and
tokenising every passage (a local cache: with a Chroma server, each machine keeps its own).
"""

from __future__ import annotations

import logging
import os
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStore

from assistant.errors import IndexMissingError
from assistant.ingest.context import passage_context
from assistant.rerank import TermIndex, inverse_document_frequency
from assistant.store import (
    StoreLocation,
    StoreVersion,
    change_probe,
    documents_by_id,
    passage_ids,
    passage_texts,
    store_version,
)
from assistant.text import split_sentences, tokenize

log = logging.getLogger(__name__)

#: BM25's parameters (bm25s's defaults, "lucene" variant).
K1, B = 1.5, 0.75
#: Passages' texts and metadata kept in memory after being read for a question.
DOCUMENT_CACHE = 20_000
#: 2: the passages' contexts are among their terms.
_SNAPSHOT_FORMAT = 2


@dataclass(frozen=True)
class Terms:
    """One state of the keyword index: swapped whole, so readers never see a half-update.

    Passage ``i`` has id ``ids[i]``; its term ids are ``terms.tokens[terms.offsets[i]:
    terms.offsets[i + 1]]``. ``bm25`` holds the BM25 score of term ``t`` in passage ``d``
    at row ``t``, column ``d`` (CSR: ``indptr``, ``indices`` = passages, ``data`` = scores).
    """

    ids: list[str]
    position: dict[str, int]
    vocabulary: dict[str, int]
    frequency: np.ndarray  # term id -> passages that have it
    terms: TermIndex
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    version: StoreVersion | None

    @classmethod
    def build(
        cls,
        ids: list[str],
        vocabulary: dict[str, int],
        tokens: np.ndarray,
        sentences: np.ndarray,
        offsets: np.ndarray,
        version: StoreVersion | None,
    ) -> Terms:
        """From each passage's term ids (``tokens`` cut at ``offsets``) and each term's
        sentence number: frequencies, IDF and the BM25 matrix, all with numpy."""
        n, size = len(ids), max(len(vocabulary), 1)
        lengths = np.diff(offsets)
        pairs, tf = _counted_pairs(tokens, lengths, n)
        term, passage = pairs // max(n, 1), pairs % max(n, 1)
        frequency = np.bincount(term, minlength=size).astype(np.int64)
        # As bm25s: a passage without terms counts as one (placeholder) term long.
        length = np.maximum(lengths, 1).astype(np.float32)
        average = float(length.mean()) if n else 1.0
        idf = np.log1p((n - frequency + 0.5) / (frequency + 0.5)).astype(np.float32)
        tf32 = tf.astype(np.float32)
        tfc = tf32 / (K1 * ((1 - B) + B * length[passage] / average) + tf32)
        indptr = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(np.bincount(term, minlength=size), out=indptr[1:])
        return cls.of(
            ids,
            vocabulary,
            frequency,
            (tokens.astype(np.int32), sentences.astype(np.int32), offsets.astype(np.int64)),
            # The pairs are sorted by term, then passage: CSR order.
            (indptr, passage.astype(np.int32), (idf[term] * tfc).astype(np.float32)),
            version,
        )

    @classmethod
    def of(
        cls,
        ids: list[str],
        vocabulary: dict[str, int],
        frequency: np.ndarray,
        terms: tuple[np.ndarray, np.ndarray, np.ndarray],
        bm25: tuple[np.ndarray, np.ndarray, np.ndarray],
        version: StoreVersion | None,
    ) -> Terms:
        """From its arrays: ``terms`` = (tokens, sentences, offsets), ``bm25`` = (indptr,
        indices, data); the positions and the IDF follow from them."""
        tokens, sentences, offsets = terms
        indptr, indices, data = bm25
        return cls(
            ids=ids,
            position={doc_id: i for i, doc_id in enumerate(ids)},
            vocabulary=vocabulary,
            frequency=frequency,
            terms=TermIndex(
                tokens=tokens,
                sentences=sentences,
                offsets=offsets,
                idf=inverse_document_frequency(frequency, len(ids)),
                passages=len(ids),
            ),
            indptr=indptr,
            indices=indices,
            data=data,
            version=version,
        )

    def scores(self, term_ids: Sequence[int]) -> np.ndarray:
        """The BM25 score of every passage: the sum over ``term_ids`` (repeats count)."""
        n = len(self.ids)
        if not len(term_ids) or not n:
            return np.zeros(n)
        ids = np.asarray(term_ids, dtype=np.int64)
        starts, ends = self.indptr[ids], self.indptr[ids + 1]
        rows = [np.arange(s, e) for s, e in zip(starts, ends, strict=True)]
        at = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        return np.bincount(self.indices[at], weights=self.data[at], minlength=n)


def tokenized(
    passages: Iterable[tuple[str, str]], vocabulary: dict[str, int], first_sentence: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Term ids (``vocabulary`` grows with new terms), sentence numbers from
    ``first_sentence`` on, and lengths, of each passage's terms in order: passages given
    as (context, text), the context a sentence of its own before the text's sentences.

    The ids go straight into growing C arrays: a list of 10 million Python ints would take
    ~350 MB where the arrays take 40, and a small numpy array per text (two per passage,
    kept until the end among the texts' short-lived strings) fragmented the heap: the
    process kept ~300 MB more than it used at 100,000 passages."""
    tokens, sentences, lengths = array("i"), array("i"), array("q")
    _tokenize_into(passages, vocabulary, (tokens, sentences, lengths), first_sentence)
    return _arrays(tokens, sentences, lengths)


def _tokenize_into(
    passages: Iterable[tuple[str, str]],
    vocabulary: dict[str, int],
    into: tuple[array[int], array[int], array[int]],
    sentence: int,
) -> int:
    """Append each (context, text)'s term ids, sentence numbers (from ``sentence`` on) and
    length to the arrays ``into``; return the next sentence number."""
    tokens, sentences, lengths = into
    for context, text in passages:
        count = 0
        for span in [context, *(s.text for s in split_sentences(text))]:
            terms = [vocabulary.setdefault(t, len(vocabulary)) for t in tokenize(span)]
            if not terms:
                continue
            tokens.extend(terms)
            sentences.extend([sentence] * len(terms))
            count += len(terms)
            sentence += 1
        lengths.append(count)
    return sentence


def _arrays(
    tokens: array[int], sentences: array[int], lengths: array[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.frombuffer(tokens, dtype=np.int32).copy() if tokens else np.zeros(0, np.int32),
        np.frombuffer(sentences, dtype=np.int32).copy() if sentences else np.zeros(0, np.int32),
        np.frombuffer(lengths, dtype=np.int64).copy() if lengths else np.zeros(0, np.int64),
    )


class WrittenTerms:
    """The terms of the passages an indexing run writes, tokenised as they are written, by
    id: the keyword index is then brought up to date without reading them back from the
    store (:meth:`KeywordIndex.catch_up`).

    Sound because a passage's id is a digest of its text and context
    (:mod:`assistant.index.identity`): the terms kept under an id are those of the passage
    the store holds under it. Only passages
    written whole should be added; any other passage the store holds is read from it.
    """

    def __init__(self) -> None:
        self.vocabulary: dict[str, int] = {}
        self.ids: list[str] = []
        self.position: dict[str, int] = {}
        self._arrays = (array("i"), array("i"), array("q"))
        self._sentence = 0

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, passages: Iterable[Document]) -> None:
        """Tokenise these passages (those with an id not added before)."""
        texts: list[tuple[str, str]] = []
        for passage in passages:
            doc_id = str(passage.id or "")
            if doc_id and doc_id not in self.position:
                self.position[doc_id] = len(self.ids)
                self.ids.append(doc_id)
                texts.append(_context_and_text(passage))
        self._sentence = _tokenize_into(texts, self.vocabulary, self._arrays, self._sentence)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tokens, sentences, lengths) of the passages added, in the order of ``ids``."""
        return _arrays(*self._arrays)


def _context_and_text(passage: Document) -> tuple[str, str]:
    return passage_context(passage.metadata), passage.page_content


def _counted_pairs(
    tokens: np.ndarray, lengths: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct (term, passage) as ``term * n + passage``, sorted, and how often it
    occurs: ``np.unique(..., return_counts=True)`` of them, in one array sorted in place
    (``np.unique`` copies it and keeps a few more of its size: ~150 MB more at the peak of
    indexing 100,000 passages)."""
    keys = tokens.astype(np.int64)
    keys *= n
    keys += np.repeat(np.arange(n, dtype=np.int32), lengths)
    keys.sort()
    if not len(keys):
        return keys, np.zeros(0, dtype=np.int64)
    first = np.empty(len(keys), dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    del first
    counts = np.diff(np.append(starts, len(keys)))
    return keys[starts], counts


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def from_passages(passages: Sequence[Document], version: StoreVersion | None) -> Terms:
    """The keyword index of ``passages`` (in this order)."""
    vocabulary: dict[str, int] = {}
    tokens, sentences, lengths = tokenized(map(_context_and_text, passages), vocabulary)
    return Terms.build(
        [str(p.id) for p in passages], vocabulary, tokens, sentences, _offsets(lengths), version
    )


def from_store(store: VectorStore, version: StoreVersion | None) -> Terms:
    """The keyword index of every passage of ``store``, read a page at a time (in the
    store's order): only the terms are kept, never all the texts at once."""
    ids: list[str] = []
    seen: set[str] = set()

    def texts() -> Iterator[tuple[str, str]]:
        for doc_id, text, metadata in passage_texts(store):
            if doc_id not in seen:  # a write between two pages may move a passage
                seen.add(doc_id)
                ids.append(doc_id)
                yield passage_context(metadata), text

    vocabulary: dict[str, int] = {}
    tokens, sentences, lengths = tokenized(texts(), vocabulary)
    return Terms.build(ids, vocabulary, tokens, sentences, _offsets(lengths), version)


def updated(
    old: Terms,
    ids: Sequence[str],
    new: Mapping[str, Document],
    version: StoreVersion | None,
    written: WrittenTerms | None = None,
) -> Terms:
    """``old`` without the passages not in ``ids`` and with the others after them: those
    ``written`` holds (their terms taken from it), then the ``new`` ones (by id, tokenised
    here). The kept passages' terms are reused, not recomputed."""
    current = set(ids)
    keep = np.fromiter((i in current for i in old.ids), dtype=bool, count=len(old.ids))
    lengths = np.diff(old.terms.offsets)
    kept_tokens = np.repeat(keep, lengths)
    # Renumber the kept sentences 0, 1, ... in order (a sentence id names one sentence).
    _, sentences = np.unique(old.terms.sentences[kept_tokens], return_inverse=True)
    parts = [(old.terms.tokens[kept_tokens], sentences.astype(np.int32), lengths[keep])]
    passages = [i for i, k in zip(old.ids, keep, strict=True) if k]
    taken: Mapping[str, int] = {}
    if written is not None and len(written):
        taken = written.position
        # A first build takes the run's vocabulary as it is (its term ids then need no
        # renumbering); otherwise its terms are added to the old one's.
        vocabulary = dict(old.vocabulary) if old.vocabulary else written.vocabulary
        parts.append(_taken(written, vocabulary, current, old.position, parts))
        passages += [i for i in written.ids if i in current and i not in old.position]
    else:
        vocabulary = dict(old.vocabulary)
    added = [i for i in ids if i not in old.position and i not in taken and i in new]
    new_tokens, new_sentences, new_lengths = tokenized(
        [_context_and_text(new[i]) for i in added],
        vocabulary,
        first_sentence=_next_sentence(parts),
    )
    parts.append((new_tokens, new_sentences, new_lengths))
    return Terms.build(
        passages + added,
        vocabulary,
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        _offsets(np.concatenate([p[2] for p in parts])),
        version,
    )


def _taken(
    written: WrittenTerms,
    vocabulary: dict[str, int],
    current: set[str],
    known: Mapping[str, int],
    before: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The terms (in ``vocabulary``'s ids), sentences (numbered after ``before``'s) and
    lengths of the passages ``written`` holds that are ``current`` and not ``known``."""
    tokens, sentences, lengths = written.arrays()
    take = np.fromiter(
        (i in current and i not in known for i in written.ids), dtype=bool, count=len(written)
    )
    chosen = np.repeat(take, lengths)
    tokens = tokens[chosen]
    if vocabulary is not written.vocabulary:
        renumber = np.fromiter(
            (vocabulary.setdefault(t, len(vocabulary)) for t in written.vocabulary),
            dtype=np.int32,
            count=len(written.vocabulary),
        )
        tokens = renumber[tokens]
    _, numbered = np.unique(sentences[chosen], return_inverse=True)
    return tokens, (numbered + _next_sentence(before)).astype(np.int32), lengths[take]


def _next_sentence(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> int:
    return max((int(p[1].max(initial=-1)) for p in parts), default=-1) + 1


class _Frequencies(Mapping[str, int]):
    """In how many passages a term occurs, by term (what the answerer weighs words by)."""

    def __init__(self, terms: Terms) -> None:
        self._terms = terms

    def __getitem__(self, term: str) -> int:
        return int(self._terms.frequency[self._terms.vocabulary[term]])

    def __iter__(self) -> Iterator[str]:
        return iter(self._terms.vocabulary)

    def __len__(self) -> int:
        return len(self._terms.vocabulary)


class KeywordIndex:
    """BM25 over every passage of a Chroma collection, in step with it (see the module).

    A collection rebuilt under the same name (``assistant index --rebuild``) is followed:
    the store switches to it (:func:`~assistant.store.store_version`). Each passage's terms
    are also kept in order, sentence by sentence (:class:`~assistant.rerank.TermIndex`),
    for the second-stage features.
    """

    def __init__(
        self,
        store: VectorStore,
        location: StoreLocation | None = None,
        *,
        written: WrittenTerms | None = None,
    ) -> None:
        """``written``: the terms of passages just written (by an indexing run, which opens
        the index last to save it), taken instead of reading those passages back."""
        self.store = store
        self.location = location  # where the saved index goes; names the store in errors
        self._lock = threading.Lock()
        self._documents: OrderedDict[str, Document] = OrderedDict()
        self.loaded = _empty(None)
        self._probe = change_probe(store)
        # (stamp, version) of the last look at the store (see ensure_current).
        self._checked: tuple[tuple[int, int], StoreVersion] | None = None
        self.refresh(written=written)

    # --- reading -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.loaded.ids)

    @property
    def position(self) -> dict[str, int]:
        """Passage id -> its position (the index of its scores)."""
        return self.loaded.position

    @property
    def document_frequency(self) -> Mapping[str, int]:
        return _Frequencies(self.loaded)

    @property
    def passages(self) -> list[Document]:
        """Every passage, in position order (reads them all: for small indexes and tests)."""
        loaded = self.loaded
        found = self.documents(range(len(loaded.ids)), loaded)
        return [d for d in found if d is not None]

    def documents(
        self, positions: Sequence[int] | range, loaded: Terms | None = None
    ) -> list[Document | None]:
        """The passages at ``positions`` (text and metadata, read from the store unless read
        lately); ``None`` for one deleted since ``loaded`` was current."""
        loaded = self.loaded if loaded is None else loaded
        ids = [loaded.ids[int(p)] for p in positions]
        with self._lock:
            known = {i: self._documents[i] for i in ids if i in self._documents}
        missing = [i for i in dict.fromkeys(ids) if i not in known]
        if missing:
            read = documents_by_id(self.store, missing)
            known.update(read)
            with self._lock:
                self._documents.update(read)
                while len(self._documents) > DOCUMENT_CACHE:
                    self._documents.popitem(last=False)
        return [known.get(i) for i in ids]

    def scores(self, terms: Sequence[str], loaded: Terms | None = None) -> np.ndarray:
        """The BM25 score of every passage for a question's ``terms`` (zeros if none match)."""
        loaded = self.loaded if loaded is None else loaded
        return loaded.scores([loaded.vocabulary[t] for t in terms if t in loaded.vocabulary])

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Rank passages for ``query``: (position, BM25 score), best first, scores > 0 only."""
        return [(int(i), float(s)) for i, s in top(self.scores(tokenize(query)), k)]

    # --- keeping in step -----------------------------------------------------------------

    def ensure_current(self) -> None:
        """Catch up if the collection changed (or was rebuilt) since the last look (a store
        other than Chroma is never seen to change: call :meth:`refresh`).

        Embedded, a :class:`~assistant.store.ChangeProbe` stamp equal to the one read before
        the last look, with that look's version still loaded, means nothing was committed
        since: the store is not asked again (microseconds instead of a collection read).
        On a server the server is asked every time.
        """
        stamp = self._probe.stamp() if self._probe is not None else None
        if stamp is not None and self._checked == (stamp, self.loaded.version):
            return
        version = store_version(self.store, self.location)
        if version is not None and version != self.loaded.version:
            self.refresh(version)
        # The stamp was read before the version: a write after it changes the next stamp.
        self._checked = (stamp, version) if stamp is not None and version is not None else None

    def refresh(
        self, version: StoreVersion | None = None, *, written: WrittenTerms | None = None
    ) -> None:
        """Bring the index up to date with the store: from the saved index, incrementally
        from the one in memory (and the ``written`` passages' terms), or from every passage.

        The version is read before the passages: a write in between makes the next
        :meth:`ensure_current` look again, never miss it.
        """
        if version is None:
            version = store_version(self.store, self.location)
        try:
            loaded = self._current(version, written)
        except IndexMissingError:
            # Deleted between the two reads (a rebuild starting): follow it, or say so.
            version = store_version(self.store, self.location)
            loaded = self._current(version, written)
        with self._lock:
            self.loaded = loaded
            # Texts and metadata read for an earlier version may have moved (paragraph
            # numbers, offsets) or gone: read them again.
            self._documents.clear()

    def _current(self, version: StoreVersion | None, written: WrittenTerms | None = None) -> Terms:
        if version is None:  # not Chroma: nothing to compare or save
            return from_store(self.store, None)
        old = self.loaded
        if old.version is None or old.version.collection_id != version.collection_id:
            saved = self._saved(version)
            if saved is not None and saved.version == version:
                return saved
            old = saved if saved is not None else old
        if old.version is None or old.version.collection_id != version.collection_id:
            if written is None:
                loaded = from_store(self.store, version)
                self._save(loaded)
                return loaded
            old = _empty(None)  # a new collection: its passages are what was written
        ids = passage_ids(self.store)
        if len(ids) == len(old.ids) and set(ids) == old.position.keys():
            loaded = replace(old, version=version)  # only metadata changed
        else:
            taken = written.position if written is not None else {}
            missing = [i for i in ids if i not in old.position and i not in taken]
            if not old.ids and len(missing) > len(ids) // 2:
                loaded = from_store(self.store, version)  # a page at a time, not all at once
            else:
                new = documents_by_id(self.store, missing)
                loaded = updated(old, ids, new, version, written)
        self._save(loaded)
        return loaded

    # --- the saved index -----------------------------------------------------------------

    def _path(self, collection_id: str) -> Path | None:
        """``<keywords_dir>/<collection name>.<collection id>.npz``: several collections (one
        per embedding model) may share an index folder; a rebuilt one has a new id."""
        if self.location is None:
            return None
        return self.location.keywords_dir / f"{self._name()}.{collection_id}.npz"

    def _name(self) -> str:
        collection = getattr(self.store, "_collection", None)
        name = getattr(collection, "name", None)
        return str(name) if name else (self.location.collection if self.location else "")

    def _saved(self, version: StoreVersion) -> Terms | None:
        path = self._path(version.collection_id)
        if path is None or not path.exists():
            return None
        try:
            return _read(path)
        except Exception as exc:  # noqa: BLE001 - a damaged cache is rebuilt, not fatal
            log.warning("ignoring the saved keyword index %s: %s", path, exc)
            return None

    def _save(self, loaded: Terms) -> None:
        if loaded.version is None:
            return
        path = self._path(loaded.version.collection_id)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for stale in path.parent.glob(f"{self._name()}.*.npz"):
                if stale != path:  # this collection's before a rebuild
                    stale.unlink(missing_ok=True)
            _write(path, loaded)
        except OSError as exc:  # a read-only index folder: keep working from memory
            log.info("cannot save the keyword index to %s: %s", path, exc)


def top(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` best (position, score) with a score above 0, best first."""
    k = min(k, len(scores))
    if k < 1:
        return []
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(i), float(scores[i])) for i in best if scores[i] > 0]


def _empty(version: StoreVersion | None) -> Terms:
    return Terms.build(
        [], {}, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(1, np.int64), version
    )


def _joined(items: Sequence[str]) -> np.ndarray:
    # Ids and terms never hold a newline (hex digests; tokenize keeps word characters).
    return np.frombuffer("\n".join(items).encode("utf-8", "surrogatepass"), dtype=np.uint8)


def _split(raw: np.ndarray) -> list[str]:
    text = raw.tobytes().decode("utf-8", "surrogatepass")
    return text.split("\n") if text else []


def _write(path: Path, loaded: Terms) -> None:
    """Save ``loaded`` atomically (a reader in another process sees the old or the new)."""
    assert loaded.version is not None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as out:
        np.savez(
            out,
            format=np.asarray([_SNAPSHOT_FORMAT]),
            version=_joined([loaded.version.collection_id, loaded.version.written]),
            ids=_joined(loaded.ids),
            vocabulary=_joined(list(loaded.vocabulary)),
            frequency=loaded.frequency,
            tokens=loaded.terms.tokens,
            sentences=loaded.terms.sentences,
            offsets=loaded.terms.offsets,
            indptr=loaded.indptr,
            indices=loaded.indices,
            data=loaded.data,
        )
    os.replace(tmp, path)


def _read(path: Path) -> Terms:
    with np.load(path, allow_pickle=False) as saved:
        if int(saved["format"][0]) != _SNAPSHOT_FORMAT:
            raise ValueError(f"format {int(saved['format'][0])}, expected {_SNAPSHOT_FORMAT}")
        collection_id, written = _split(saved["version"])
        ids = _split(saved["ids"])
        vocabulary = {t: i for i, t in enumerate(_split(saved["vocabulary"]))}
        frequency = saved["frequency"]
        offsets = saved["offsets"]
        if len(offsets) != len(ids) + 1 or len(frequency) != max(len(vocabulary), 1):
            raise ValueError("inconsistent arrays")
        return Terms.of(
            ids,
            vocabulary,
            frequency,
            (saved["tokens"], saved["sentences"], offsets),
            (saved["indptr"], saved["indices"], saved["data"]),
            StoreVersion(collection_id, written),
        )
