"""Helpers shared by the benchmark scripts: a throw-away index over the bundled corpus."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.assemble import Assistant, make_embeddings, open_assistant, store_location  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.index import index_paths  # noqa: E402

DEV_QUESTIONS = ROOT / "tests" / "data" / "dev_questions.jsonl"


def fresh_assistant(**overrides: Any) -> Assistant:
    """Index the bundled corpus into a temporary folder and open the assistant over it."""
    index_dir = Path(tempfile.mkdtemp(prefix="assistant-bench-"))
    settings = Settings(index_dir=index_dir, corpus_dir=ROOT / "corpus", **overrides)
    embeddings = make_embeddings(settings)
    index_paths(
        [settings.corpus_dir],
        location=store_location(settings),
        embeddings=embeddings,
        progress=False,
    )
    return open_assistant(settings, embeddings=embeddings)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), by numpy's default linear interpolation."""
    return float(np.percentile(values, q))


def median(values: list[float]) -> float:
    return statistics.median(values)
