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
    """A square with corners (0,0), (side,0), (side,side), (0,side), driven counter-clockwise from (0,0)
    unless ``clockwise``. Border points sit square to the centre line (on the diagonals at corners)."""
    corners = np.array([(0, 0), (side, 0), (side, side), (0, side)], float)
    inward = np.array([(1, 1), (-1, 1), (-1, -1), (1, -1)], float)     # diagonal towards the middle
    n_side = int(round(side / spacing))
    center, inner = [], []
    for i in range(4):
        a, b = corners[i], corners[(i + 1) % 4]
        d = (b - a) / side
        normal = np.array([-d[1], d[0]])                                 # left of travel = inside
        for j in range(n_side):
            c = a + d * j * spacing
            center.append(c)
            inner.append(c + half_width * (inward[i] if j == 0 else normal))
    center.append(center[0])
    inner.append(inner[0])
    center, inner = np.array(center), np.array(inner)
    outer = 2 * center - inner
    if clockwise:
        center, inner, outer = center[::-1], inner[::-1], outer[::-1]
    return Track.from_arrays("square", center, inner, outer)


@pytest.fixture
def circle() -> Track:
    return circle_track()


@pytest.fixture
def square() -> Track:
    return square_track()
