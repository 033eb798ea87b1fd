"""The keyword index at documentation scale: open, reopen, one more document, search, memory.

    apt-get install python3.11-doc
    python benchmarks/keyword_scale.py [--docs /usr/share/doc/python3.11/html] [--work DIR]

The Python 3.11 documentation is read into passages as ``assistant index`` reads it and
written to a Chroma collection with random unit vectors (the keyword index never reads
vectors, and embedding 50,000 passages would take most of an hour here; the collection is
kept in ``--work`` for the next run). Each measurement runs in a fresh process, so start-up
and peak memory are its own:

* ``before``: what opening the index did before the keyword index was saved (every passage
  read from Chroma, split into sentences, tokenised, BM25 built by bm25s): the baseline;
* ``first``: :class:`~assistant.keywords.KeywordIndex` with no saved index (a first open);
* ``reopen``: with the saved index, as every later process opens it;
* ``add``: after 100 new passages are written (an incremental update: only they are read);
* then ``reopen`` again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

QUERIES = ["What does enumerate return?", "remove a key from a dict", "default sep of print"]


def measure(mode: str, work: Path) -> dict[str, float]:
    """Run in a child process: open the keyword index one way, search, report."""
    from assistant.assemble import make_embeddings, store_location
    from assistant.config import Settings
    from assistant.keywords import KeywordIndex
    from assistant.store import open_store, upsert_with_vectors

    settings = Settings(index_dir=work / "index")
    location = store_location(settings)
    store = open_store(location, make_embeddings(settings))
    if mode == "add":
        from assistant.index.identity import assign_ids

        docs = pickle.loads((work / "passages.pkl").read_bytes())[:100]
        for d in docs:
            d.page_content, d.id = f"Added {time.time_ns()}. {d.page_content}", None
        docs = list(assign_ids(docs, {}))
        upsert_with_vectors(
            store,
            [str(d.id) for d in docs],
            [d.page_content for d in docs],
            [d.metadata for d in docs],
            _unit(len(docs), seed=time.time_ns() % 2**32),
        )
    began = time.perf_counter()
    if mode == "before":
        import bm25s

        from assistant.store import all_passages
        from assistant.text import split_sentences, tokenize

        passages = all_passages(store)
        corpus = [
            [t for s in split_sentences(p.page_content) for t in tokenize(s.text)] or ["\x00"]
            for p in passages
        ]
        bm25 = bm25s.BM25()
        bm25.index(corpus, show_progress=False)
        count = len(passages)
        search = lambda q: bm25.get_scores(tokenize(q))  # noqa: E731
    else:
        keywords = KeywordIndex(store, location)
        count = len(keywords)
        search = lambda q: keywords.search(q, 20)  # noqa: E731
    opened = time.perf_counter() - began
    began = time.perf_counter()
    for question in QUERIES:
        search(question)
    search_ms = (time.perf_counter() - began) / len(QUERIES) * 1000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"passages": count, "open_s": opened, "search_ms": search_ms, "peak_mb": peak}


def _unit(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, 384)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build(docs: Path, work: Path) -> None:
    """Read the docs into passages and store them with random vectors (once)."""
    from assistant.assemble import make_embeddings, store_location
    from assistant.config import Settings
    from assistant.errors import IngestError
    from assistant.index.identity import assign_ids
    from assistant.ingest.passages import load_passages, walk
    from assistant.store import open_store, upsert_with_vectors

    settings = Settings(index_dir=work / "index")
    embeddings = make_embeddings(settings).load()
    fit = {"max_tokens": embeddings.max_tokens, "count_tokens": embeddings.count_tokens}
    began = time.perf_counter()
    passages = []
    for file in walk([docs]).files:
        with contextlib.suppress(IngestError):  # reported by `assistant index`, not here
            passages.extend(load_passages(file, **fit))
    print(f"read {len(passages):,} passages in {time.perf_counter() - began:.0f} s", flush=True)
    (work / "passages.pkl").write_bytes(pickle.dumps(passages[:200]))
    passages = list(assign_ids(passages, {}))
    store = open_store(store_location(settings), embeddings, create=True)
    upsert_with_vectors(
        store,
        [str(p.id) for p in passages],
        [p.page_content for p in passages],
        [p.metadata for p in passages],
        _unit(len(passages), seed=0),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=Path, default=Path("/usr/share/doc/python3.11/html"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/assistant-keyword-scale"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.work)))
        return
    if not (args.work / "index").exists():
        if not args.docs.is_dir():
            sys.exit(f"{args.docs} not found: apt-get install python3.11-doc")
        args.work.mkdir(parents=True, exist_ok=True)
        build(args.docs, args.work)
    saved = args.work / "index" / "keywords"
    for old in saved.glob("*.npz"):
        old.unlink()
    print("| open | passages | open s | BM25 search ms | peak RSS MB |\n|---|---:|---:|---:|---:|")
    for mode in ("before", "first", "reopen", "add", "reopen"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--work", str(args.work)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"| {mode} | {r['passages']:,} | {r['open_s']:.2f} | {r['search_ms']:.1f} "
            f"| {r['peak_mb']:.0f} |",
            flush=True,
        )
    print(f"\nMade by: `python benchmarks/keyword_scale.py --work {args.work}`")


if __name__ == "__main__":
    main()
