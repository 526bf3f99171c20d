"""Camera geometry in a configuration: the entry line and the region of interest's polygon checks."""

from __future__ import annotations

from pydantic import (
    Field,
    model_validator,
)

from storelens.bounds import Pixel
from storelens.config.sections import Section

Point = tuple[Pixel, Pixel]  # finite: nan or inf in a line or ROI is refused


class EntryLine(Section):
    """A line across the entrance; crossing it towards ``inside`` is an entry."""

    start: Point = Field(description="One end of the line, (x, y) in frame pixels")
    end: Point = Field(description="The other end, (x, y) in frame pixels")
    inside: Point = Field(description="Any point on the store side of the line, (x, y) in frame pixels")

    def inside_side(self) -> float:
        """Which side of the line (from ``start`` to ``end``) the store is on: the sign of the cross product.

        Positive: ``inside`` lies on the right-hand side of start -> end as seen on screen (image y points
        down); negative: on the left-hand side. Counting (``EntryCounter``) and the calibration drawing
        both read it here.
        """
        dx, dy = self.end[0] - self.start[0], self.end[1] - self.start[1]
        return dx * (self.inside[1] - self.start[1]) - dy * (self.inside[0] - self.start[0])

    @model_validator(mode="after")
    def _geometry(self) -> EntryLine:
        dx, dy = self.end[0] - self.start[0], self.end[1] - self.start[1]
        if dx * dx + dy * dy < 1.0:
            raise ValueError("the entry line has zero length")
        if abs(self.inside_side()) < 1e-6:
            raise ValueError("the inside point lies on the entry line; put it on the store side")
        return self


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Proper intersection of two segments (touching at an end point does not count)."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def self_intersects(polygon: list[Point]) -> bool:
    """Whether any two non-adjacent edges of a closed polygon cross.

    Written here rather than taking a geometry library for one check of a few points.
    """
    n = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:  # first and last edges share a vertex
                continue
            if _segments_cross(*edges[i], *edges[j]):
                return True
    return False
