"""A documentation site read into passages: Python 3.11's HTML documentation (Sphinx).

    apt-get install python3.11-doc
    python benchmarks/docs_ingest.py [--docs /usr/share/doc/python3.11/html] [--no-folder]

Loads and splits (no embedding) with the packaged model's tokenizer, as indexing does, and
prints: passages of ten pages (and how many are under 20 characters), then the whole folder
as ``assistant index`` walks it (what it passes over, in one line each), its passages and the
seconds the load and split took.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from assistant.embeddings import SentenceEmbeddings
from assistant.errors import IngestError
from assistant.ingest.passages import SourceFile, load_passages, walk

PAGES = [
    "library/functions.html",
    "library/stdtypes.html",
    "tutorial/introduction.html",
    "library/os.html",
    "library/re.html",
    "reference/datamodel.html",
    "tutorial/classes.html",
    "library/collections.html",
    "glossary.html",
    "genindex-A.html",
]
SHORT = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=Path, default=Path("/usr/share/doc/python3.11/html"))
    parser.add_argument("--no-folder", action="store_true", help="Only the ten pages.")
    args = parser.parse_args()
    embeddings = SentenceEmbeddings().load()
    fit = {"max_tokens": embeddings.max_tokens, "count_tokens": embeddings.count_tokens}
    total = short = 0
    for name in PAGES:
        passages = load_passages(SourceFile(args.docs / name, name), **fit)
        under = sum(len(p.page_content) < SHORT for p in passages)
        total, short = total + len(passages), short + under
        print(f"{name:30} {len(passages):6,} passages {under:5,} under {SHORT} characters")
    print(f"{'ten pages':30} {total:6,} passages {short:5,} ({short / total:.1%})")
    if args.no_folder:
        return
    started = time.perf_counter()
    found = walk([args.docs])
    total = short = failed = 0
    for file in found.files:
        try:
            passages = load_passages(file, **fit)
        except IngestError:
            failed += 1
            continue
        total += len(passages)
        short += sum(len(p.page_content) < SHORT for p in passages)
    seconds = time.perf_counter() - started
    print(
        f"folder: {len(found.files):,} files, {failed} failed, {total:,} passages "
        f"({short / max(total, 1):.1%} under {SHORT} characters), load + split {seconds:.1f} s"
    )
    for source, reason in found.skipped:
        print(f"  skipped {source}: {reason}")


if __name__ == "__main__":
    main()
