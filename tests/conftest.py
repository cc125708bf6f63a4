"""Hand-made tracks where every geometric answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.track import Track


def circle_track(radius: float = 3.0, half_width: float = 0.5, n: int = 241, clockwise: bool = False) -> Track:
    """A circle around the origin, starting at (radius, 0); counter-clockwise unless ``clockwise``."""
    a = np.linspace(0.0, 2 * np.pi, n)
    if clockwise:
        a = -a
    unit = np.stack([np.cos(a), np.sin(a)], axis=1)
    unit[-1] = unit[0]
    return Track.from_arrays("circle", radius * unit, (radius - half_width) * unit, (radius + half_width) * unit)


def square_track(side: float = 4.0, half_width: float = 0.5, spacing: float = 0.5, clockwise: bool = False) -> Track:
    """A square with corners (0,0), (side,0), (side,side), (0,side); the inside border is offset inwards."""
    def ring(lo, hi):
        pts = []
        corners = [(lo, lo), (hi, lo), (hi, hi), (lo, hi), (lo, lo)]
        n_side = int(round(side / spacing))
        for (x0, y0), (x1, y1) in zip(corners[:-1], corners[1:]):
            for i in range(n_side):
                t = i / n_side
                pts.append((x0 + t * (x1 - x0), y0 + t * (y1 - y0)))
        pts.append(corners[0])
        return np.array(pts)

    center, inner, outer = ring(0.0, side), ring(half_width, side - half_width), ring(-half_width, side + half_width)
    if clockwise:
        center, inner, outer = center[::-1], inner[::-1], outer[::-1]
    return Track.from_arrays("square", center, inner, outer)


@pytest.fixture
def circle() -> Track:
    return circle_track()


@pytest.fixture
def square() -> Track:
    return square_track()
