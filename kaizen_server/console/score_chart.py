"""Geometry of the score-over-time chart (rendered as inline SVG by the templates).

x is the time a version was made, y its measured score on [0, 1]; each point is labelled
with its version. Unevaluated versions have no point: nothing was measured.

Example:
    >>> from datetime import datetime, UTC
    >>> from kaizen_server.services.task_overview import ScorePoint
    >>> chart = score_chart([ScorePoint(1, 0.4, None, datetime(2026, 1, 1, tzinfo=UTC)),
    ...                      ScorePoint(2, 0.6, 0.4, datetime(2026, 1, 2, tzinfo=UTC))])
    >>> [(p.label, p.y) for p in chart.points]
    [('v1', 98.0), ('v2', 70.0)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kaizen_server.services.task_overview import ScorePoint

__all__ = ["ChartPoint", "ScoreChart", "score_chart"]

WIDTH, HEIGHT = 400.0, 180.0
LEFT, RIGHT, TOP, BOTTOM = 36.0, 12.0, 14.0, 26.0
"""Margins inside the viewBox for the axis labels."""


@dataclass(frozen=True)
class ChartPoint:
    """One plotted version."""

    x: float
    y: float
    label: str
    score: float


@dataclass(frozen=True)
class ScoreChart:
    """What the template draws: the viewBox size, the points and the line through them."""

    width: float
    height: float
    points: Sequence[ChartPoint]
    first_at: str
    last_at: str

    @property
    def polyline(self) -> str:
        """The ``points`` attribute of the SVG line through the points."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    def y_of(self, score: float) -> float:
        """The y coordinate of a score (for grid lines)."""
        return round(TOP + (1.0 - score) * (self.height - TOP - BOTTOM), 1)


def score_chart(points: Sequence[ScorePoint]) -> ScoreChart | None:
    """The chart of ``points`` (oldest first), or None when no version was evaluated."""
    if not points:
        return None
    chart = ScoreChart(WIDTH, HEIGHT, [], "", "")
    start = points[0].at.timestamp()
    span = max(points[-1].at.timestamp() - start, 1e-9)
    plot_width = WIDTH - LEFT - RIGHT
    placed = [
        ChartPoint(
            x=round(
                LEFT
                + (
                    plot_width / 2
                    if len(points) == 1
                    else (p.at.timestamp() - start) / span * plot_width
                ),
                1,
            ),
            y=chart.y_of(min(max(p.score, 0.0), 1.0)),
            label=f"v{p.version_number}",
            score=p.score,
        )
        for p in points
    ]
    return ScoreChart(
        WIDTH,
        HEIGHT,
        placed,
        points[0].at.strftime("%Y-%m-%d %H:%M"),
        points[-1].at.strftime("%Y-%m-%d %H:%M"),
    )
