"""The answerer's sentence vectors, int8 (as shipped) against fp32: time of a SQuAD run.

    python benchmarks/sentence_precision.py [--every 3] [--rounds 2]

Every ``--every``-th question of SQuAD v1.1 dev is retrieved and answered (``run_rows``,
as ``assistant eval`` does) over the SQuAD index (built on first use), once with the
answer sentences embedded by the int8 passage model (shipped) and once by the fp32 model,
alternating in the same process, each with fresh caches, so that both meet the same load.
Prints each round's seconds and the ratio.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from common import ROOT
from splits import V11

from assistant.answer.extractive import ExtractiveAnswerer
from assistant.config import Settings
from assistant.evaluate.inputs import read_eval_file
from assistant.evaluate.run import run_rows
from assistant.evaluate.squad import open_squad_assistant

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class _Fp32Sentences:
    """The same embeddings, but passages' (here: answer sentences') vectors in fp32."""

    def __init__(self, embeddings: Any) -> None:
        self._embeddings = embeddings

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embeddings, name)

    def embed_passages(self, texts: list[str]) -> Any:
        return self._embeddings.embed(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every", type=int, default=3, help="every Nth question")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    settings = Settings(index_dir=Path(os.environ.get("ASSISTANT_INDEX_DIR", ROOT / "index")))
    data = read_eval_file(V11)
    assistant, _ = open_squad_assistant(settings, data)
    assistant.embeddings.load(passages=True)
    shipped = assistant.answerer
    assert isinstance(shipped, ExtractiveAnswerer)
    items = data.questions[:: args.every]
    totals = {"int8": 0.0, "fp32": 0.0}
    print(f"{len(items)} questions\n\n| round | int8 s | fp32 s | ratio |\n|---|---:|---:|---:|")
    for number in range(1, args.rounds + 1):
        seconds = {}
        for precision in ("int8", "fp32"):
            embeddings = assistant.embeddings
            assistant.answerer = ExtractiveAnswerer(
                embeddings if precision == "int8" else _Fp32Sentences(embeddings),  # type: ignore[arg-type]
                min_relevance=shipped.min_relevance,
                max_sentences=shipped.max_sentences,
                term_statistics=assistant.keywords,
                refusal_threshold=shipped.refusal_threshold,
            )
            embeddings._queries.clear()  # every question embedded afresh, in both runs
            began = time.perf_counter()
            run_rows(assistant, items)
            seconds[precision] = time.perf_counter() - began
            totals[precision] += seconds[precision]
        ratio = seconds["fp32"] / seconds["int8"]
        print(f"| {number} | {seconds['int8']:.1f} | {seconds['fp32']:.1f} | {ratio:.2f}x |")
    ratio = totals["fp32"] / totals["int8"]
    print(f"| all | {totals['int8']:.1f} | {totals['fp32']:.1f} | **{ratio:.2f}x** |")
    print(
        f"\nMade by: `cd benchmarks && ../.venv/bin/python sentence_precision.py "
        f"--every {args.every} --rounds {args.rounds}`"
    )


if __name__ == "__main__":
    main()
