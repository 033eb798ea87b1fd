"""Small multiples as a hand-written SVG: one panel per figure, a log-scaled x axis.

For benchmark reports that need a plot and no plotting library (matplotlib is not among the
project's dependencies, and a plot is a few dozen lines of SVG).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
PANEL_W, PANEL_H = 300, 230
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 30, 38


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]  # (x, y); x > 0
    dashed: bool = False
    marker_only: bool = False


@dataclass
class Panel:
    title: str
    y_label: str
    series: list[Series] = field(default_factory=list)
    #: A horizontal goal line (e.g. 1,000 MB), drawn dotted, and its label.
    goal: tuple[float, str] | None = None
    #: The top of the y axis (default: from the data); the legend then goes bottom right.
    y_max: float | None = None


def write(
    path: Path, title: str, x_label: str, panels: list[Panel], *, note: str = "", columns: int = 3
) -> None:
    """Write ``panels`` side by side (``columns`` a row) into an SVG file at ``path``; each
    panel has its own legend, and ``note`` goes under them all."""
    xs = [x for p in panels for s in p.series for x, _ in s.points]
    lo, hi = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    rows = math.ceil(len(panels) / columns)
    width, height = columns * PANEL_W, 34 + rows * PANEL_H + (24 if note else 6)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14" '
        f'font-weight="bold">{escape(title)}</text>',
    ]
    for n, panel in enumerate(panels):
        x0, y0 = (n % columns) * PANEL_W, 34 + (n // columns) * PANEL_H
        out += _panel(panel, x0, y0, lo, hi, x_label)
    if note:
        out.append(
            f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle" fill="#555">'
            f"{escape(note)}</text>"
        )
    out.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")


def _panel(panel: Panel, x0: float, y0: float, lo: int, hi: int, x_label: str) -> list[str]:
    w, h = PANEL_W - LEFT - RIGHT, PANEL_H - TOP - BOTTOM
    ys = [y for s in panel.series for _, y in s.points]
    if panel.goal:
        ys.append(panel.goal[0])
    # Headroom above the data for the legend's lines.
    room = 1 - (13 * len(panel.series) + 8) / h
    top = panel.y_max or _nice(max(ys) / room if ys else 1.0)

    def px(x: float) -> float:
        return x0 + LEFT + w * (math.log10(x) - lo) / max(hi - lo, 1)

    def py(y: float) -> float:
        return y0 + TOP + h * (1 - y / top)

    out = [
        f'<text x="{x0 + PANEL_W / 2}" y="{y0 + 16}" text-anchor="middle" '
        f'font-weight="bold">{escape(panel.title)}</text>',
        f'<rect x="{x0 + LEFT}" y="{y0 + TOP}" width="{w}" height="{h}" fill="none" '
        'stroke="#999"/>',
    ]
    for i in range(5):
        value = top * i / 4
        out.append(
            f'<line x1="{x0 + LEFT}" y1="{py(value)}" x2="{x0 + LEFT + w}" y2="{py(value)}" '
            f'stroke="#eee"/><text x="{x0 + LEFT - 4}" y="{py(value) + 4}" '
            f'text-anchor="end">{_label(value)}</text>'
        )
    for power in range(lo, hi + 1):
        out.append(
            f'<text x="{px(10.0**power)}" y="{y0 + TOP + h + 14}" text-anchor="middle">'
            f"{_label(10.0**power)}</text>"
        )
    out.append(
        f'<text x="{x0 + LEFT + w / 2}" y="{y0 + PANEL_H - 8}" text-anchor="middle" '
        f'fill="#555">{escape(x_label)}</text>'
        f'<text x="{x0 + 12}" y="{y0 + TOP + h / 2}" text-anchor="middle" fill="#555" '
        f'transform="rotate(-90 {x0 + 12} {y0 + TOP + h / 2})">{escape(panel.y_label)}</text>'
    )
    if panel.goal:
        value, label = panel.goal
        out.append(
            f'<line x1="{x0 + LEFT}" y1="{py(value)}" x2="{x0 + LEFT + w}" y2="{py(value)}" '
            f'stroke="#333" stroke-dasharray="2 3"/><text x="{x0 + LEFT + w - 2}" '
            f'y="{py(value) - 3}" text-anchor="end" fill="#333">{escape(label)}</text>'
        )
    for i, series in enumerate(panel.series):
        points = sorted(series.points)
        c = COLOURS[i % len(COLOURS)]
        lx, ly = x0 + LEFT + 6, y0 + TOP + 12 + 13 * i  # the legend, top left
        if panel.y_max:
            lx, ly = x0 + LEFT + w / 2, y0 + TOP + h - 6 - 13 * (len(panel.series) - 1 - i)
        sample = (
            f'<rect x="{lx + 6}" y="{ly - 7}" width="7" height="7" fill="{c}"/>'
            if series.marker_only
            else f'<line x1="{lx}" y1="{ly - 3}" x2="{lx + 18}" y2="{ly - 3}" stroke="{c}" '
            f'stroke-width="2"{_dash(series.dashed)}/>'
        )
        out.append(
            f'{sample}<text x="{lx + 22}" y="{ly}" font-size="10">{escape(series.name)}</text>'
        )
        if len(points) > 1 and not series.marker_only:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"'
                f"{_dash(series.dashed)}/>"
            )
        for x, y in points:
            tip = f"<title>{escape(series.name)}: {y:g}</title>"
            if series.marker_only:
                out.append(
                    f'<rect x="{px(x) - 4:.1f}" y="{py(y) - 4:.1f}" width="8" height="8" '
                    f'fill="{c}">{tip}</rect>'
                )
            else:
                out.append(
                    f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}">{tip}</circle>'
                )
    return out


def _nice(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``value`` (the y axis's top)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def _label(value: float) -> str:
    if value >= 1000 and value % 1000 == 0:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _dash(dashed: bool) -> str:
    return ' stroke-dasharray="6 4"' if dashed else ""
