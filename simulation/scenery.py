"""The world around a track that sensors can see: the walls enclosing the field.

One home for the scenery's geometry, read by the camera (simulation/sensors.py) and the lidar
(simulation/lidar.py).

- WALL_MARGIN_M 0.9: the reference's reinvent_base field is enclosed by walls about 0.9 m beyond the
  track (a 9.2 x 6.4 m field around a 7.34 x 4.59 m track; spec section 9, read from the simapp's
  meshes/reinvent). Other tracks' meshes have their own scenery; we put the same rectangle around
  every track's bounding box (derived, to be calibrated against the Gazebo backend).
- WALL_HEIGHT_M 1.0: the walls' height (spec section 9).
"""

from __future__ import annotations

import numpy as np

from .track import Track

WALL_MARGIN_M = 0.9
WALL_HEIGHT_M = 1.0


def field_rectangle(track: Track, margin_m: float = WALL_MARGIN_M) -> tuple[float, float, float, float]:
    """(x_min, y_min, x_max, y_max) [m] of the walls' inner faces: the bounding box of the track's
    borders grown by ``margin_m`` on every side."""
    pts = np.concatenate([track.inner_border, track.outer_border], axis=0)
    lo, hi = pts.min(axis=0) - margin_m, pts.max(axis=0) + margin_m
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def wall_segments(track: Track, margin_m: float = WALL_MARGIN_M) -> np.ndarray:
    """The four walls' inner faces as segments (4, 2, 2) [m]: [[x0, y0], [x1, y1]] each,
    counter-clockwise from the bottom-left corner."""
    x0, y0, x1, y1 = field_rectangle(track, margin_m)
    c = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    return np.stack([c, np.roll(c, -1, axis=0)], axis=1)
