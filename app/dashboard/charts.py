"""Chart geometry for server-side SVG: the template draws what these compute, no script.

Coordinates are in a fixed viewBox the SVG scales to its box; colours come from CSS
(static/starboard.css), so charts follow the light and dark themes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.dashboard.figures import whole

WIDTH = 600
HEIGHT = 160
GAP = 0.2  # of each column's slot left empty between columns


@dataclass(frozen=True)
class Segment:
    series: str
    value: float
    shown: str  # the value as the tooltip says it
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Column:
    label: str
    segments: tuple[Segment, ...]

    @property
    def tooltip(self) -> str:
        return f"{self.label}: " + ", ".join(f"{s.series} {s.shown}" for s in self.segments)


@dataclass(frozen=True)
class Dot:
    label: str
    shown: str
    x: float
    y: float


@dataclass(frozen=True)
class Chart:
    """Columns (grouped or stacked series) and, optionally, a line over them; one point a slot."""

    title: str
    series: tuple[str, ...]
    columns: tuple[Column, ...]
    top: str  # the scale's highest value, as shown
    line: tuple[Dot, ...] = ()
    line_series: str = ""
    line_top: str = ""
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def points(self) -> int:
        return len(self.columns)

    @property
    def polyline(self) -> str:
        return " ".join(f"{dot.x:.1f},{dot.y:.1f}" for dot in self.line)


def _scale(values: Sequence[float]) -> float:
    return max([*values, 0]) or 1  # an empty chart still has a scale


def columns_chart(
    title: str,
    points: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[str],
    *,
    stacked: bool = False,
    shown: Callable[[float], str] = lambda v: whole(round(v)),
) -> Chart:
    """One column a point: each series a bar side by side, or stacked when `stacked`."""
    slot = WIDTH / max(len(points), 1)
    body = slot * (1 - GAP)
    heights = [sum(values) if stacked else max(values, default=0) for _, values in points]
    top = _scale(heights)
    columns = []
    for i, (label, values) in enumerate(points):
        left = i * slot + (slot - body) / 2
        segments = []
        base = float(HEIGHT)
        for j, (name, value) in enumerate(zip(series, values, strict=True)):
            height = value / top * HEIGHT
            if stacked:
                base -= height
                x, y, width = left, base, body
            else:
                width = body / len(series)
                x, y = left + j * width, HEIGHT - height
            segments.append(Segment(name, value, shown(value), x, y, width, height))
        columns.append(Column(label, tuple(segments)))
    return Chart(title, tuple(series), tuple(columns), shown(top))


def with_line(
    chart: Chart,
    series: str,
    values: Sequence[float],
    shown: Callable[[float], str],
) -> Chart:
    """The chart with a line of `values` on its own scale, one dot a column."""
    slot = WIDTH / max(len(values), 1)
    top = _scale(values)
    dots = tuple(
        Dot(column.label, shown(value), (i + 0.5) * slot, HEIGHT - value / top * HEIGHT)
        for i, (column, value) in enumerate(zip(chart.columns, values, strict=True))
    )
    return Chart(
        chart.title,
        chart.series,
        chart.columns,
        chart.top,
        line=dots,
        line_series=series,
        line_top=shown(top),
    )
