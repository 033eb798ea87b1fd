"""The figures of ``benchmarks/scale.py``: one corpus's row, the tables and the plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Figures:
    """One corpus in one mode (embedded or server): a row of the growth table."""

    corpus: str
    mode: str
    pages: int
    passages: int = 0
    index_s: float | None = None  # the full index, model loaded before the clock
    process_s: float | None = None  # the same, the whole process (imports, model load)
    index_rss_mb: float | None = None
    reindex_s: float | None = None  # nothing changed
    reindex_rss_mb: float | None = None
    served_s: float | None = None
    answered_s: float | None = None
    serve_rss_mb: float | None = None
    ask_p50_ms: float | None = None
    ask_p95_ms: float | None = None
    questions: int = 0
    hit1: float | None = None
    hit5: float | None = None
    mrr10: float | None = None

    @property
    def rate(self) -> float | None:
        return self.passages / self.index_s if self.index_s else None

    @property
    def reindex_share(self) -> float | None:
        if self.reindex_s is None or not self.index_s:
            return None
        return 100 * self.reindex_s / self.index_s


def _f(value: float | None, spec: str = ".1f") -> str:
    return "—" if value is None else format(value, spec)


def row(f: Figures) -> str:
    """``f`` as a row of the growth table (:data:`GROWTH_HEADER`)."""
    share = "—" if f.reindex_share is None else f"{f.reindex_s:.1f} ({f.reindex_share:.1f} %)"
    quality_cell = f"{_f(f.hit5, '.3f')} ({f.questions})" if f.questions else "—"
    return (
        f"| {f.corpus} | {f.mode} | {f.pages:,} | {f.passages:,} | {_f(f.index_s)} | "
        f"{_f(f.rate)} | {share} | {_f(f.index_rss_mb, '.0f')} | {_f(f.served_s, '.2f')} | "
        f"{_f(f.answered_s, '.2f')} | {_f(f.serve_rss_mb, '.0f')} | {_f(f.ask_p50_ms)} | "
        f"{_f(f.ask_p95_ms)} | {quality_cell} |"
    )


GROWTH_HEADER = (
    "| corpus | store | pages | passages | index s | passages/s | re-index s (% of full) "
    "| peak RSS indexing MiB | page served s | first answer s | peak RSS serving MiB "
    "| ask p50 ms | ask p95 ms | hit@5 (questions) |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def print_baseline(baseline: dict[str, Any], ours: Figures, pipeline: str) -> None:
    """The baseline's row (``pipeline`` names it) beside ours on the same pages."""
    print(f"\n## LangChain baseline on the slice ({ours.pages} pages), in this run\n")
    print(
        "| pipeline | passages | index s | passages/s | pages/s | process s | peak RSS MiB |\n"
        "|---|---:|---:|---:|---:|---:|---:|"
    )
    b_s, o_s = baseline["seconds"], ours.index_s or float("nan")
    print(
        f"| {pipeline} | "
        f"{baseline['passages']:,} | {b_s:.1f} | {baseline['passages'] / b_s:.1f} | "
        f"{ours.pages / b_s:.2f} | {baseline['process_s']:.1f} | {baseline['peak_rss_mb']:.0f} |"
    )
    print(
        f"| `assistant index` | {ours.passages:,} | {o_s:.1f} | {ours.passages / o_s:.1f} | "
        f"{ours.pages / o_s:.2f} | {_f(ours.process_s)} | {_f(ours.index_rss_mb, '.0f')} |"
    )
    print(
        f"\nsame pages: ours {b_s / o_s:.2f}x the baseline's speed per page, "
        f"{ours.passages / o_s / (baseline['passages'] / b_s):.2f}x its passages/s "
        f"(the baseline's load + split: {baseline['load_split_s']:.1f} s of its {b_s:.1f} s)"
    )


def plot(results: list[Figures], baseline: dict[str, Any] | None, path: Path) -> None:
    """Draw how each figure grows with the passage count (one panel each) into ``path``."""
    from svg_plot import Panel, Series, write

    def series(attr: str, mode: str, name: str, dashed: bool = False) -> Series:
        points = [
            (float(f.passages), float(v))
            for f in results
            if f.mode == mode and f.passages and (v := getattr(f, attr)) is not None
        ]
        return Series(name, points, dashed=dashed)

    modes = [m for m in ("embedded", "server") if any(f.mode == m for f in results)]
    panels = [
        Panel("Index throughput", "passages/s"),
        Panel("Re-index, nothing changed", "% of the full index", goal=(3.0, "goal 3 %")),
        Panel("Peak RSS", "MiB", goal=(1000.0, "goal 1 GB")),
        Panel("App start-up", "seconds to the first answer"),
        Panel("Warm ask", "ms", goal=(50.0, "goal p50 50 ms")),
        Panel("Retrieval (own questions)", "hit@5", goal=(0.9, "goal 0.90"), y_max=1.0),
    ]
    for mode in modes:
        dashed = mode == "server"
        panels[0].series.append(series("rate", mode, mode, dashed))
        panels[1].series.append(series("reindex_share", mode, mode, dashed))
        panels[2].series += [
            series("index_rss_mb", mode, f"indexing, {mode}", dashed),
            series("serve_rss_mb", mode, f"serving, {mode}", dashed),
        ]
        panels[3].series.append(series("answered_s", mode, mode, dashed))
        panels[4].series += [
            series("ask_p50_ms", mode, f"p50, {mode}", dashed),
            series("ask_p95_ms", mode, f"p95, {mode}", dashed),
        ]
        panels[5].series.append(series("hit5", mode, mode, dashed))
    if baseline:
        at = float(baseline["ours_passages"])
        rate = baseline["passages"] / baseline["seconds"]
        panels[0].series.append(Series("LangChain baseline", [(at, rate)], marker_only=True))
        panels[2].series.append(
            Series("indexing, LangChain", [(at, baseline["peak_rss_mb"])], marker_only=True)
        )
    for panel in panels:
        panel.series = [s for s in panel.series if s.points]
    write(
        path,
        "How the figures grow with the corpus: article, docs slice, Python docs",
        "passages (log scale)",
        panels,
        note="dashed: on a `chroma run` server; square: the LangChain tutorial pipeline "
        "on the slice (at our passage count)",
    )
