"""Evaluation output: ``summary.json``, ``rows.jsonl`` and a self-contained ``report.html``.

The HTML report needs nothing but itself: inline CSS, inline SVG charts (the hit@k curve and
the latency histogram), no scripts, and every piece of text from the data HTML-escaped.
"""

from __future__ import annotations

import json
import math
import time
from html import escape
from pathlib import Path
from typing import Any

from assistant.evaluate.run import EvalRun
from assistant.evaluate.scoring import METRIC_KEYS, RANK_DEPTH, EvalRow

WORST_ROWS = 20

#: One-line definitions, shown in the report (the README has the same table).
DEFINITIONS = {
    "hit@1": "a gold passage is the first retrieved",
    "hit@3": "a gold passage is among the first 3 retrieved",
    "hit@5": "a gold passage is among the first 5 retrieved",
    "hit@10": "a gold passage is among the first 10 retrieved",
    "mrr@10": "mean of 1/rank of the first gold passage (0 beyond rank 10)",
    "answer_contains": "some expected answer appears in the answer (SQuAD-normalized)",
    "quote_contains": "some expected answer appears in the sentences the answer quotes",
    "f1": "SQuAD token F1 of the answer (markers removed) against the best expected answer",
    "exact_match": "SQuAD exact match of the answer against some expected answer",
    "answer_words": "mean length of the answers given (not refusals), in words",
    "citation_precision": "share of cited passages that are gold (answerable questions)",
    "citation_support": "share of answer sentences found verbatim in a passage they cite",
    "refusal_rate": "share of unanswerable questions refused",
    "false_refusal_rate": "share of answerable questions refused",
    "latency_p50_ms": "median time per question (batch time / batch size)",
    "latency_p95_ms": "95th percentile of the time per question",
}

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;
padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.25rem .5rem;vertical-align:top;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}.charts{display:flex;gap:2rem;
flex-wrap:wrap}.row{border:1px solid #ccc;border-radius:6px;padding:.5rem 1rem;margin:.75rem 0}
.gold{background:#e6f4e6}.error{color:#a00}.muted{color:#666}details{margin:.25rem 0}
ol.passages li{margin:.3rem 0}code{background:#f3f3f3;padding:0 .2rem}
"""


def write_outputs(run: EvalRun, out_dir: Path) -> dict[str, Path]:
    """Write ``summary.json``, ``rows.jsonl`` and ``report.html`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in ("summary.json", "rows.jsonl", "report.html")}
    paths["summary.json"].write_text(
        json.dumps(run.summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
        encoding="utf-8",
    )
    with paths["rows.jsonl"].open("w", encoding="utf-8") as out:
        for row in run.rows:
            out.write(json.dumps(row.to_dict(), ensure_ascii=False, allow_nan=False) + "\n")
    paths["report.html"].write_text(render_html(run), encoding="utf-8")
    return paths


def markdown_summary(summary: dict[str, Any], *, title: str = "Evaluation") -> str:
    """The summary as a Markdown table (what ``assistant eval`` prints)."""
    counts = summary.get("counts", {})
    lines = [
        f"## {title}",
        "",
        f"{summary['rows']} questions ({summary['answerable']} answerable, "
        f"{summary['unanswerable']} unanswerable), {summary['errors']} errors",
        "",
        "| metric | value | over rows | meaning |",
        "|---|---:|---:|---|",
    ]
    for key in METRIC_KEYS:
        value = summary.get(key)
        digits = 1 if key == "answer_words" else 3
        shown = "–" if value is None else f"{value:.{digits}f}"
        lines.append(f"| `{key}` | {shown} | {counts.get(key, 0)} | {DEFINITIONS[key]} |")
    for key in ("latency_p50_ms", "latency_p95_ms"):
        value = summary.get(key)
        shown = "–" if value is None else f"{value:.1f}"
        lines.append(f"| `{key}` | {shown} | | {DEFINITIONS[key]} |")
    followup = summary.get("followup")
    if followup:
        shown = ", ".join(
            f"{key} {'–' if followup.get(key) is None else format(followup[key], '.3f')}"
            for key in ("hit@3", "answer_contains", "f1", "false_refusal_rate")
        )
        words = followup.get("answer_words")
        lines += [
            "",
            f"Follow-ups ({followup['rows']} turns after the first of "
            f"{followup['conversations']} conversations): {shown}, answer_words "
            f"{'–' if words is None else format(words, '.1f')}",
        ]
    timing = summary.get("seconds")
    if timing:
        lines += [
            "",
            "Time: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timing.items()),
        ]
    return "\n".join(lines) + "\n"


def badness(row: EvalRow) -> float:
    """How wrong a row went, 0 (all right) to 1; errors rank worst of all (2).

    Answerable rows: the mean of 1 − ``answer_contains``, 1 − ``mrr@10`` and 1 − ``f1``
    where known (else whether it refused); unanswerable rows: 1 when not refused.
    """
    if row.status != "ok":
        return 2.0
    scores = row.scores
    if row.item.unanswerable:
        return 1.0 - scores["refused"]
    misses = [
        1.0 - scores[k]
        for k in ("answer_contains", "mrr@10", "f1")
        if not math.isnan(scores.get(k, math.nan))
    ]
    return sum(misses) / len(misses) if misses else scores["refused"]


def worst_rows(rows: list[EvalRow], n: int = WORST_ROWS) -> list[EvalRow]:
    """The ``n`` rows that went most wrong (ties: file order); rows that went right are left out."""
    ranked = sorted(rows, key=lambda r: (-badness(r), r.number))
    return [r for r in ranked[:n] if badness(r) > 0]


def render_html(run: EvalRun) -> str:
    summary = run.summary
    info = summary.get("input", {})
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Evaluation of {escape(Path(str(info.get('file', ''))).name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Evaluation of <code>{escape(str(info.get('file', '')))}</code></h1>",
        f"<p class='muted'>{escape(time.strftime('%Y-%m-%d %H:%M'))} · format "
        f"{escape(str(info.get('format', '')))} · k = {escape(str(info.get('k', '')))} · "
        f"index {escape(str(info.get('index', '')))}</p>",
        f"<p>{summary['rows']:,} questions ({summary['answerable']:,} answerable, "
        f"{summary['unanswerable']:,} unanswerable), "
        f"<span class='{'error' if summary['errors'] else ''}'>{summary['errors']:,} errors"
        "</span>.</p>",
        _timings(summary.get("seconds", {})),
        _warnings(info.get("warnings", [])),
        "<h2>Summary</h2>",
        _summary_table(summary),
        "<div class='charts'>",
        f"<div><h2>hit@k</h2>{hit_curve_svg(summary.get('hit_curve', {}))}</div>",
        "<div><h2>Latency per question</h2>"
        f"{latency_histogram_svg([r.latency_ms for r in run.rows if r.status == 'ok'])}</div>",
        "</div>",
        f"<h2>The {WORST_ROWS} worst rows</h2>",
        "<p class='muted'>Errors first, then by the mean of 1 − answer_contains, 1 − mrr@10 and "
        "1 − f1 (unanswerable questions: answered instead of refused). Gold passages are "
        "shaded.</p>",
    ]
    worst = worst_rows(run.rows)
    parts += [_row_html(row) for row in worst] or ["<p>No row went wrong.</p>"]
    parts.append(_conversations_html(run.rows, summary.get("followup")))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def hit_curve_svg(curve: dict[str, float | None], width: int = 420, height: int = 260) -> str:
    """A line chart of hit@k for k = 1..10 (0 to 1 on the y axis)."""
    points = [(int(k), v) for k, v in curve.items() if v is not None]
    if not points:
        return "<p class='muted'>No row has a gold passage to rank.</p>"
    left, bottom, top, right = 40, 30, 12, 12
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(k: int) -> float:
        return left + (k - 1) * plot_w / (RANK_DEPTH - 1)

    def y(v: float) -> float:
        return top + (1 - v) * plot_h

    svg = [_svg_open(width, height, "hit at k, k from 1 to 10")]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        svg.append(
            f"<line x1='{left}' x2='{width - right}' y1='{y(tick):.1f}' "
            f"y2='{y(tick):.1f}' stroke='#eee'/><text x='{left - 4}' "
            f"y='{y(tick) + 4:.1f}' text-anchor='end' font-size='10'>{tick:g}</text>"
        )
    for k in range(1, RANK_DEPTH + 1):
        svg.append(
            f"<text x='{x(k):.1f}' y='{height - 12}' text-anchor='middle' font-size='10'>{k}</text>"
        )
    path = " ".join(f"{x(k):.1f},{y(v):.1f}" for k, v in points)
    svg.append(f"<polyline points='{path}' fill='none' stroke='#1565c0' stroke-width='2'/>")
    for k, v in points:
        svg.append(
            f"<circle cx='{x(k):.1f}' cy='{y(v):.1f}' r='3' fill='#1565c0'>"
            f"<title>hit@{k} = {v:.3f}</title></circle>"
        )
    svg.append(
        f"<text x='{left + plot_w / 2:.0f}' y='{height - 1}' text-anchor='middle' "
        "font-size='10'>k</text></svg>"
    )
    return "".join(svg)


def latency_histogram_svg(
    latencies: list[float], bins: int = 20, width: int = 420, height: int = 260
) -> str:
    """A histogram of per-question latency in milliseconds."""
    values = [v for v in latencies if not math.isnan(v)]
    if not values:
        return "<p class='muted'>No latency to show.</p>"
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int((v - low) / span * bins), bins - 1)] += 1
    left, bottom, top, right = 40, 30, 12, 12
    plot_w, plot_h = width - left - right, height - top - bottom
    tallest = max(counts)
    bar_w = plot_w / bins
    svg = [_svg_open(width, height, "histogram of latency per question in milliseconds")]
    for i, count in enumerate(counts):
        h = plot_h * count / tallest
        lo, hi = low + span * i / bins, low + span * (i + 1) / bins
        svg.append(
            f"<rect x='{left + i * bar_w + 1:.1f}' y='{top + plot_h - h:.1f}' "
            f"width='{bar_w - 2:.1f}' height='{h:.1f}' fill='#2e7d32'>"
            f"<title>{lo:.1f}–{hi:.1f} ms: {count}</title></rect>"
        )
    svg.append(
        f"<text x='{left - 4}' y='{top + 8}' text-anchor='end' font-size='10'>"
        f"{tallest}</text><text x='{left - 4}' y='{top + plot_h}' text-anchor='end' "
        "font-size='10'>0</text>"
    )
    svg.append(
        f"<text x='{left}' y='{height - 12}' font-size='10'>{low:.1f} ms</text>"
        f"<text x='{width - right}' y='{height - 12}' text-anchor='end' font-size='10'>"
        f"{high:.1f} ms</text></svg>"
    )
    return "".join(svg)


def _svg_open(width: int, height: int, label: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(label)}'>"
        f"<title>{escape(label)}</title>"
    )


def _summary_table(summary: dict[str, Any]) -> str:
    counts = summary.get("counts", {})
    rows = ["<table><tr><th>metric</th><th>value</th><th>over rows</th><th>meaning</th></tr>"]
    for key in (*METRIC_KEYS, "latency_p50_ms", "latency_p95_ms"):
        value = summary.get(key)
        shown = (
            "–"
            if value is None
            else (
                f"{value:.1f}"
                if key in ("answer_words", "latency_p50_ms", "latency_p95_ms")
                else f"{value:.3f}"
            )
        )
        rows.append(
            f"<tr><td><code>{escape(key)}</code></td><td class='num'>{shown}</td>"
            f"<td class='num'>{counts.get(key, '')}</td>"
            f"<td>{escape(DEFINITIONS.get(key, ''))}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _timings(seconds: dict[str, float]) -> str:
    if not seconds:
        return ""
    shown = ", ".join(f"{escape(name)} {value:.1f} s" for name, value in seconds.items())
    return f"<p>Time: {shown}.</p>"


def _warnings(warnings: list[str]) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{escape(w)}</li>" for w in warnings[:100])
    more = f"<li>… and {len(warnings) - 100} more</li>" if len(warnings) > 100 else ""
    return f"<h2>Input warnings</h2><ul>{items}{more}</ul>"


def _conversations_html(rows: list[EvalRow], followup: dict[str, Any] | None) -> str:
    """Each conversation's turns together, in order: what was asked, what was searched
    for, the answer, and whether it held an expected answer."""
    conversations: dict[str, list[EvalRow]] = {}
    for row in rows:
        if row.item.conversation is not None:
            conversations.setdefault(row.item.conversation, []).append(row)
    if not conversations:
        return ""
    parts = [
        "<h2>Conversations</h2>",
        f"<p class='muted'>{len(conversations):,} conversations; the follow-up turns (after "
        f"the first) are summarized in <code>summary.json</code> under <code>followup</code>"
        + (
            f": hit@3 {followup['hit@3']:.3f}, answer_contains {followup['answer_contains']:.3f}"
            if followup
            and followup.get("hit@3") is not None
            and followup.get("answer_contains") is not None
            else ""
        )
        + ". ✓ the answer holds an expected answer, ✗ it does not.</p>",
    ]
    for name, turns in conversations.items():
        parts.append(
            f"<div class='row'><p><strong>Conversation {escape(name)}</strong></p>"
            "<table><tr><th>turn</th><th>question</th><th>answer</th><th>gold rank</th></tr>"
        )
        for row in turns:
            asked = escape(row.item.question)
            searched = row.standalone_question
            if searched and searched != row.item.question:
                asked += f"<br><span class='muted'>searched for: {escape(searched)}</span>"
            if row.status != "ok":
                answer = f"<span class='error'>Error: {escape(row.error or '')}</span>"
            else:
                contains = row.scores.get("answer_contains", math.nan)
                mark = "" if math.isnan(contains) else (" ✓" if contains else " ✗")
                answer = escape(row.answer) + (" (refused)" if row.refused else "") + mark
            rank = row.gold_rank if row.gold_rank else "–"
            parts.append(
                f"<tr><td class='num'>{(row.turn or 0) + 1}</td><td>{asked}</td>"
                f"<td>{answer}</td><td class='num'>{rank}</td></tr>"
            )
        parts.append("</table></div>")
    return "".join(parts)


def _row_html(row: EvalRow) -> str:
    item = row.item
    where = f"line {item.line}" if item.line else (f"id {item.id}" if item.id else "")
    if item.conversation is not None:
        where += f" · conversation {item.conversation}, turn {(row.turn or 0) + 1}"
    scores = ", ".join(f"{escape(k)} {v:.2f}" for k, v in row.scores.items() if not math.isnan(v))
    expected = (
        "<em>unanswerable</em>"
        if item.unanswerable
        else " | ".join(escape(a) for a in item.answers) or "<em>not given</em>"
    )
    head = [
        "<div class='row'>",
        f"<p><strong>#{row.number}</strong> <span class='muted'>{escape(where)}</span> "
        f"<strong>{escape(item.question)}</strong></p>",
        *(
            [f"<p class='muted'>Searched for: {escape(row.standalone_question)}</p>"]
            if row.standalone_question and row.standalone_question != item.question
            else []
        ),
        f"<p>Expected: {expected}</p>",
    ]
    if row.status != "ok":
        head.append(f"<p class='error'>Error: {escape(row.error or '')}</p></div>")
        return "".join(head)
    head += [
        f"<p>Answer{' (refused)' if row.refused else ''}: {escape(row.answer)}</p>",
        f"<p class='muted'>gold rank {row.gold_rank if row.gold_rank else '–'} · {scores} · "
        f"{row.latency_ms:.1f} ms</p>",
        f"<details><summary>{len(row.retrieved)} retrieved passages</summary><ol class='passages'>",
    ]
    for passage, gold in zip(row.retrieved, row.gold, strict=False):
        meta = passage.metadata
        label = f"{meta.get('source', '')} ¶{meta.get('paragraph', '')}"
        head.append(
            f"<li class='{'gold' if gold else ''}'><span class='muted'>"
            f"{escape(label)}{' (gold)' if gold else ''}</span><br>"
            f"{escape(passage.page_content)}</li>"
        )
    head.append("</ol></details></div>")
    return "".join(head)
