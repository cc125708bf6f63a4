"""A top-down picture of a track with cars on it, drawn with OpenCV (no matplotlib): the evaluation
videos (stack.video) and the live viewer's previews (stack.viewer) use it.

``TopDownView(track, width_px)`` draws the still parts once (grass, road, white borders, the dashed
centre line, the start line and, when given, the racing line coloured by its speed); ``draw(cars)``
copies that and adds each car's trail and body, in a few hundred microseconds. Images are RGB uint8
(H, W, 3), north up (world y up).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import car
from .track import Track

GRASS_RGB = (93, 138, 70)
ROAD_RGB = (58, 58, 58)
BORDER_RGB = (255, 255, 255)
CENTRE_RGB = (242, 196, 15)
START_RGB = (224, 48, 48)
#: Colours of cars 0, 1, 2, ... (RGB), repeated for more cars.
CAR_RGB = ((48, 160, 255), (255, 140, 0), (220, 50, 200), (60, 220, 120), (250, 240, 80), (170, 120, 255))
MARGIN_M = 0.3


@dataclass
class CarMark:
    """One car to draw: pose of the chassis centre (x, y [m], yaw [rad]) and its trail (N, 2) [m]."""

    x: float
    y: float
    yaw: float
    trail: np.ndarray | None = None
    color: tuple[int, int, int] | None = None


def _speed_rgb(speed: np.ndarray, top: float) -> np.ndarray:
    """Colours (N, 3) from slow (blue) to fast (yellow) through magenta, like matplotlib's plasma."""
    t = np.clip(np.asarray(speed) / max(top, 1e-6), 0.0, 1.0)[:, None]
    slow, mid, fast = np.array([13, 8, 135]), np.array([204, 71, 120]), np.array([240, 249, 33])
    return np.where(t < 0.5, slow + (mid - slow) * (t / 0.5), mid + (fast - mid) * ((t - 0.5) / 0.5)).astype(int)


class TopDownView:
    """The track from above, ``width_px`` wide (the height follows the track's aspect, both even)."""

    def __init__(self, track: Track, width_px: int = 640, raceline_xy: np.ndarray | None = None,
                 raceline_speed_mps: np.ndarray | None = None) -> None:
        self.track = track
        pts = np.concatenate([track.left_border, track.right_border])
        self.lo = pts.min(axis=0) - MARGIN_M
        span = pts.max(axis=0) + MARGIN_M - self.lo
        self.scale = (width_px - 1) / span[0]                      # px per m
        self.width = int(width_px) // 2 * 2
        self.height = int(np.ceil(span[1] * self.scale)) // 2 * 2 + 2
        self.base = self._draw_still(raceline_xy, raceline_speed_mps)

    def to_px(self, xy: np.ndarray) -> np.ndarray:
        """World points (..., 2) [m] -> pixel coordinates (..., 2) int32 (x right, y down)."""
        p = (np.asarray(xy, dtype=float) - self.lo) * self.scale
        return np.stack([p[..., 0], self.height - 1 - p[..., 1]], axis=-1).round().astype(np.int32)

    def _draw_still(self, line_xy, line_speed) -> np.ndarray:
        tr = self.track
        img = np.empty((self.height, self.width, 3), np.uint8)
        img[:] = GRASS_RGB
        left, right = self.to_px(tr.left_border), self.to_px(tr.right_border)
        quads = np.stack([left[:-1], right[:-1], right[1:], left[1:]], axis=1)
        cv2.fillPoly(img, list(quads), ROAD_RGB)
        thick = max(1, int(round(0.05 * self.scale)))
        for border in (left, right):
            cv2.polylines(img, [border], tr.is_loop, BORDER_RGB, thick, cv2.LINE_AA)
        centre = self.to_px(tr.waypoints)
        for i in range(0, len(centre) - 1, 2):   # dashed: every other segment
            cv2.line(img, tuple(map(int, centre[i])), tuple(map(int, centre[i + 1])), CENTRE_RGB, 1, cv2.LINE_AA)
        cv2.line(img, tuple(map(int, left[0])), tuple(map(int, right[0])), START_RGB, max(2, thick + 1), cv2.LINE_AA)
        if line_xy is not None:
            px = self.to_px(line_xy)
            colours = _speed_rgb(line_speed if line_speed is not None else np.zeros(len(px)),
                                 float(np.max(line_speed)) if line_speed is not None else 1.0)
            n = len(px)
            for i in range(n if tr.is_loop else n - 1):
                cv2.line(img, tuple(map(int, px[i])), tuple(map(int, px[(i + 1) % n])),
                         tuple(int(c) for c in colours[i]), max(2, thick), cv2.LINE_AA)
        return img

    def draw(self, cars: list[CarMark]) -> np.ndarray:
        """A copy of the still picture with each car's trail and body (RGB uint8 (H, W, 3))."""
        img = self.base.copy()
        for i, c in enumerate(cars):
            colour = c.color or CAR_RGB[i % len(CAR_RGB)]
            if c.trail is not None and len(c.trail) > 1:
                cv2.polylines(img, [self.to_px(c.trail)], False, colour, 1, cv2.LINE_AA)
            body = car.to_world(np.array([c.x]), np.array([c.y]), np.array([c.yaw]), car.BODY_CORNERS_M)[0]
            cv2.fillPoly(img, [self.to_px(body)], colour, cv2.LINE_AA)
            nose = self.to_px(np.array([c.x + 0.16 * np.cos(c.yaw), c.y + 0.16 * np.sin(c.yaw)]))
            cv2.circle(img, tuple(map(int, nose)), max(1, int(0.03 * self.scale)), (255, 255, 255), -1, cv2.LINE_AA)
        return img


__all__ = ["TopDownView", "CarMark", "CAR_RGB"]
