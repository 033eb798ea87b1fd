"""Choose the retriever's fusion weights on SQuAD's tuning split; report every ranker.

    python benchmarks/retrieval_tuning.py               # all 10,570 questions (~4 minutes)
    python benchmarks/retrieval_tuning.py --limit 1000  # 1,000 questions, evenly spread
    python benchmarks/retrieval_tuning.py --ablation    # also refit without each feature
    python benchmarks/retrieval_tuning.py --no-sentences  # skip the sentence-vector stage

Over the 2,067 paragraphs of SQuAD v1.1 dev (a passage is gold when it is the question's
own paragraph), in one run:

1. pools each question's candidates as the retriever does (the ``fetch_k`` best of dense
   search and of BM25) with their features (:data:`assistant.rerank.FEATURES`);
2. fits the feature weights on the **tuning** split only (the first 24 articles, see
   ``splits.py``): a linear score, trained as a softmax over each question's candidates
   (the gold passage's log-probability, scipy's L-BFGS); then, with those weights, the
   optional sentence stage (the best sentence's cosine, added with weight w to the leading
   N candidates; sentence vectors from the extractive answerer): the grid of N and w
   below, keeping the best tuning MRR@10 or, within 0.001 of it, the fewest candidates
   (each one's sentences must be embedded). It prints both, beside what the retriever
   ships (:data:`assistant.rerank.WEIGHTS`, ``SENTENCE_DEPTH``, ``SENTENCE_WEIGHT``: these
   fitted values, rounded);
3. prints hit@1 / hit@5 / MRR@10 on the tuning split, the test split (the other 24
   articles) and all questions for BM25 alone (bm25s as ``benchmarks/squad.py`` runs it,
   and the retriever's own), dense alone, the old reciprocal-rank-fusion hybrid
   (``fetch_k`` of each ranker, k = 60), and the new retriever run through
   ``HybridRetriever.rank_many`` exactly as ``assistant eval`` runs it, with the shipped
   weights: as ``assemble.py`` builds it (no sentence vectors) and given the answerer's
   sentence vectors (and, if they differ from the shipped ones, with the weights just fitted).

The SQuAD index is reused from ``index/eval/`` (``--index-dir`` to change; built there
first if missing). Progress goes to stderr, the report to stdout; nothing is written.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from scipy.optimize import minimize  # noqa: E402
from splits import V11, split_of, tuning_sources  # noqa: E402

from assistant.assemble import make_embeddings  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.evaluate.inputs import EvalQuestion, read_eval_file  # noqa: E402
from assistant.evaluate.squad import open_squad_assistant  # noqa: E402
from assistant.rerank import (  # noqa: E402
    FEATURES,
    SENTENCE_DEPTH,
    SENTENCE_WEIGHT,
    WEIGHTS,
    fuse,
)
from assistant.retrieve import Candidates  # noqa: E402
from assistant.store import dense_search  # noqa: E402

DEPTH = 10  # ranks scored: hit@1, hit@5, MRR@10
RRF_K = 60  # the old hybrid's reciprocal rank fusion constant (Cormack et al., 2009)
L2 = 1e-4  # a little weight decay: keeps the fit stable, changes no ranking measurably
BATCH = 256
SENTENCE_DEPTHS = (4, 8, 12, 16)  # leading candidates given the sentence stage: tried
SENTENCE_WEIGHTS = (2.0, 4.0, 6.0, 8.0, 10.0, 12.0)  # its weight: tried


def spread(items: list[EvalQuestion], limit: int | None) -> list[EvalQuestion]:
    """``limit`` items evenly spread over ``items`` (all of them without a limit)."""
    if not limit or limit >= len(items):
        return items
    return [items[i * len(items) // limit] for i in range(limit)]


def gold_rank(texts: Sequence[str], item: EvalQuestion) -> int | None:
    """The 0-based rank of the question's own paragraph among ``texts``, if there."""
    return next((i for i, text in enumerate(texts) if text == item.gold_passage), None)


def scores(ranks: Sequence[int | None]) -> tuple[float, float, float]:
    """hit@1, hit@5 and MRR@10 of the gold ranks (None: not retrieved)."""
    r = np.array([DEPTH if x is None else x for x in ranks])
    return float(np.mean(r < 1)), float(np.mean(r < 5)), float(np.mean((r < DEPTH) / (r + 1)))


def fit(
    pools: Sequence[Candidates], items: Sequence[EvalQuestion], columns: list[int]
) -> np.ndarray:
    """Weights maximising the mean log-softmax of the gold candidate among each question's
    candidates (questions whose gold paragraph is not among them are left out)."""
    blocks, golds = [], []
    for pool, item in zip(pools, items, strict=True):
        rank = gold_rank([p.page_content for p in pool.passages], item)
        if rank is not None:
            blocks.append(pool.features[:, columns])
            golds.append(rank)
    sizes = np.array([len(b) for b in blocks])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    x = np.concatenate(blocks)
    gold = starts + np.array(golds)
    group = np.repeat(np.arange(len(blocks)), sizes)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = x @ w
        top = np.maximum.reduceat(s, starts)
        e = np.exp(s - top[group])
        total = np.add.reduceat(e, starts)
        p = e / total[group]
        value = -(s[gold] - top - np.log(total)).mean() + L2 * w @ w
        grad = -(x[gold].sum(0) - (p[:, None] * x).sum(0)) / len(blocks) + 2 * L2 * w
        return float(value), grad

    return np.asarray(minimize(loss, np.zeros(len(columns)), jac=True, method="L-BFGS-B").x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, help="questions, evenly spread (default: all)")
    parser.add_argument("--index-dir", type=Path, default=ROOT / "index")
    parser.add_argument("--ablation", action="store_true", help="refit without each feature")
    parser.add_argument(
        "--no-sentences", action="store_true", help="leave out the sentence-vector stage"
    )
    args = parser.parse_args()

    data = read_eval_file(V11)
    items = spread(data.questions, args.limit)
    tuning = tuning_sources()
    split = np.array([split_of(i.source, tuning) for i in items])
    tuned = np.flatnonzero(split == "tuning")
    settings = Settings(index_dir=args.index_dir)
    embeddings = make_embeddings(settings)
    assistant, _ = open_squad_assistant(settings, data, embeddings=embeddings)
    retriever = assistant.retriever
    keywords, passages = retriever.keywords, retriever.keywords.passages
    questions = [i.question for i in items]
    print(f"embedding {len(items):,} questions...", file=sys.stderr, flush=True)
    vectors = embeddings.embed_questions(questions)

    # 1. The baselines, and each question's pooled candidates with their features.
    ranked: dict[str, list[list[str]]] = {
        "BM25 alone (bm25s defaults, as benchmarks/squad.py)": bm25s_alone(passages, questions),
        "BM25 alone (the retriever's)": [],
        "dense alone": [],
        "old RRF hybrid": [],
    }
    pools: list[Candidates] = []
    for begin in range(0, len(items), BATCH):
        batch, batch_vectors = questions[begin : begin + BATCH], vectors[begin : begin + BATCH]
        dense = dense_search(retriever.store, batch_vectors, retriever.fetch_k)
        for question, hits in zip(batch, dense, strict=True):
            by_dense = [passages[keywords.position[i]].page_content for i, _ in hits]
            by_bm25 = [passages[p].page_content for p, _ in keywords.search(question, 10**9)]
            ranked["BM25 alone (the retriever's)"].append(by_bm25[:DEPTH])
            ranked["dense alone"].append(by_dense[:DEPTH])
            ranked["old RRF hybrid"].append(rrf(by_dense, by_bm25[: retriever.fetch_k])[:DEPTH])
        pools += retriever.candidates(batch, vectors=batch_vectors)
        print(f"  {begin + len(batch):,} pooled", file=sys.stderr, flush=True)

    # 2. The weights, fitted on the tuning split; then the sentence stage's, on it too.
    columns = list(range(len(FEATURES)))
    fitted = fit([pools[i] for i in tuned], [items[i] for i in tuned], columns)
    fitted_weights = dict(zip(FEATURES, (round(float(w), 2) for w in fitted), strict=True))
    sentences = None if args.no_sentences else assistant.answerer
    grid: dict[tuple[int, float], tuple[float, float, float]] = {}
    if sentences is not None:
        print("embedding the leading candidates' sentences...", file=sys.stderr, flush=True)
        cosines = best_sentences(pools, vectors, sentences, fitted_weights)
        for depth in SENTENCE_DEPTHS:
            for weight in SENTENCE_WEIGHTS:
                grid[depth, weight] = scores(
                    [
                        gold_rank(
                            reorder(pools[i], fitted_weights, cosines[i], depth, weight), items[i]
                        )
                        for i in tuned
                    ]
                )
    # The best MRR@10; within 0.001 of it, the fewest candidates (each costs embeddings).
    top = max((v[2] for v in grid.values()), default=0.0)
    near = [key for key in grid if grid[key][2] >= top - 0.001]
    best = min(near, key=lambda key: (key[0], -grid[key][2])) if near else None

    # 3. The retriever as it ships, through rank_many, as `assistant eval` runs it.
    variants = {"new: fused": retriever}
    if sentences is not None:
        shared = retriever.model_copy(update={"sentences": sentences})
        variants["new: fused + sentence vectors (shared with the answerer)"] = shared
    timings: dict[str, float] = {}
    for name, variant in variants.items():
        began = time.perf_counter()
        ranked[name] = []
        for begin in range(0, len(items), BATCH):
            docs = variant.rank_many(
                questions[begin : begin + BATCH], k=DEPTH, vectors=vectors[begin : begin + BATCH]
            )
            ranked[name].extend([d.page_content for d in ds] for ds in docs)
        timings[name] = time.perf_counter() - began
    if any(abs(fitted_weights[f] - WEIGHTS[f]) > 0.005 for f in FEATURES):
        ranked["new: fused, with the weights just fitted"] = [
            reorder(pool, fitted_weights) for pool in pools
        ]

    print(
        f"SQuAD v1.1 dev: {len(items):,} questions ({len(tuned):,} tuning, "
        f"{len(items) - len(tuned):,} test) over {len(passages):,} paragraphs; "
        f"fetch_k = {retriever.fetch_k}.\n"
    )
    print("| weight of | fitted on tuning | shipped |")
    print("|---|---:|---:|")
    for name in FEATURES:
        print(f"| {name} | {fitted_weights[name]:.2f} | {WEIGHTS[name]:.2f} |")
    if best is not None:
        print(
            f"| best sentence's cosine, leading N candidates | {best[1]:g} (N = {best[0]}) "
            f"| {SENTENCE_WEIGHT:g} (N = {SENTENCE_DEPTH}) |"
        )
        print("\nSentence stage, tuning MRR@10 by N (rows) and its weight (columns):\n")
        print("| N | " + " | ".join(f"{w:g}" for w in SENTENCE_WEIGHTS) + " |")
        print("|---|" + "---:|" * len(SENTENCE_WEIGHTS))
        for depth in SENTENCE_DEPTHS:
            cells = " | ".join(f"{grid[depth, w][2]:.4f}" for w in SENTENCE_WEIGHTS)
            print(f"| {depth} | {cells} |")
    print()
    print(
        "| ranker | tuning hit@1 | hit@5 | MRR@10 | test hit@1 | hit@5 | MRR@10 "
        "| all hit@1 | hit@5 | MRR@10 |"
    )
    print("|---|" + "---:|" * 9)
    for name, lists in ranked.items():
        ranks = [gold_rank(texts, item) for texts, item in zip(lists, items, strict=True)]
        cells = []
        for part in ("tuning", "test", "all"):
            chosen = [r for r, s in zip(ranks, split, strict=True) if part in ("all", s)]
            cells += [f"{v:.3f}" for v in scores(chosen)] if chosen else ["–"] * 3
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    for name, seconds in timings.items():
        print(f"- {name}: rank_many {1000 * seconds / len(items):.2f} ms a question")
    note = "; sentence vectors already embedded by step 2" if sentences is not None else ""
    print(f"  (question vectors given{note})")

    if args.ablation:
        ablation(pools, items, split, columns)
    flags = f" --limit {args.limit}" if args.limit else ""
    flags += " --ablation" if args.ablation else ""
    flags += " --no-sentences" if args.no_sentences else ""
    print(f"\nMade by: `python benchmarks/retrieval_tuning.py{flags}`")


def bm25s_alone(passages: Sequence[Document], questions: list[str]) -> list[list[str]]:
    """BM25 as ``benchmarks/squad.py`` runs it: bm25s's own tokenizer, English stop words,
    the Snowball stemmer."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    texts = [p.page_content for p in passages]
    bm25 = bm25s.BM25()
    bm25.index(
        bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    tokens = bm25s.tokenize(questions, stopwords="en", stemmer=stemmer, show_progress=False)
    found, _ = bm25.retrieve(tokens, k=DEPTH, show_progress=False, n_threads=1)
    return [[texts[int(p)] for p in row] for row in found]


def rrf(*rankings: list[str]) -> list[str]:
    """The old hybrid: reciprocal rank fusion of the rankings (passage texts, best first)."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, text in enumerate(ranking):
            fused[text] = fused.get(text, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(fused, key=lambda text: -fused[text])


def best_sentences(
    pools: list[Candidates], vectors: np.ndarray, sentences: Any, weights: dict[str, float]
) -> list[np.ndarray]:
    """Per pool: the question's cosine with the best sentence of each of the leading
    ``max(SENTENCE_DEPTHS)`` candidates under ``weights`` (NaN for the others)."""
    found = []
    for begin in range(0, len(pools), BATCH):
        batch = pools[begin : begin + BATCH]
        leading = [pool.leading(max(SENTENCE_DEPTHS), weights) for pool in batch]
        prepared = sentences.prepare(
            [pool.passages[i] for pool, top in zip(batch, leading, strict=True) for i in top]
        )
        for offset, (pool, top) in enumerate(zip(batch, leading, strict=True)):
            cosine = np.full(len(pool.passages), np.nan)
            for i in top:
                rows = prepared[pool.passages[i].page_content].vectors
                cosine[i] = float(np.max(rows @ vectors[begin + offset])) if len(rows) else 0.0
            found.append(cosine)
    return found


def reorder(
    pool: Candidates,
    weights: dict[str, float],
    cosines: np.ndarray | None = None,
    depth: int = 0,
    weight: float = 0.0,
) -> list[str]:
    """The top ``DEPTH`` texts under ``weights``; with ``cosines``, the leading ``depth``
    first gain ``weight`` times their best sentence's cosine (as the retriever does)."""
    fused = fuse(pool.features, weights)
    if cosines is not None and depth:
        top = np.argsort(-fused, kind="stable")[:depth]
        fused[top] += weight * np.maximum(np.nan_to_num(cosines[top], nan=0.0), 0.0)
    order = np.argsort(-fused, kind="stable")[:DEPTH]
    return [pool.passages[i].page_content for i in order]


def ablation(
    pools: list[Candidates], items: list[EvalQuestion], split: np.ndarray, columns: list[int]
) -> None:
    """Refit on tuning without each feature in turn; score on tuning and test."""
    print("\nAblation (refit on tuning without one feature):\n")
    print("| without | tuning hit@1 | hit@5 | MRR@10 | test hit@1 | hit@5 | MRR@10 |")
    print("|---|" + "---:|" * 6)
    tuned = np.flatnonzero(split == "tuning")
    for left_out in [None, *columns]:
        kept = [c for c in columns if c != left_out]
        w = fit([pools[i] for i in tuned], [items[i] for i in tuned], kept)
        weights = dict(zip([FEATURES[c] for c in kept], w, strict=True))
        cells = []
        for part in ("tuning", "test"):
            chosen = np.flatnonzero(split == part)
            ranks = [gold_rank(reorder(pools[i], weights), items[i]) for i in chosen]
            cells += [f"{v:.3f}" for v in scores(ranks)]
        name = "(nothing)" if left_out is None else FEATURES[left_out]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
