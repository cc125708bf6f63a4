"""Obstacles on the track (static boxes and bot cars) as plain arrays, for K cars at once.

Each simulated car lives in its own world, so every car has its own M obstacles. The race module
(simulation/race.py) places and moves them; sensors, collision tests and reward params read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import car

#: Static box footprint and height [m] (spec section 4: boxes 0.4 x 0.5 m; the height is ours).
BOX_LENGTH_M = 0.5
BOX_WIDTH_M = 0.4
BOX_HEIGHT_M = 0.3
#: Bot cars are DeepRacer cars (same footprint); height of the body shell [m] (ours).
BOT_HEIGHT_M = 0.15

KIND_BOX = 0
KIND_BOT = 1


@dataclass
class Obstacles:
    """M obstacles for each of K cars. Inactive slots (``active`` False) are ignored everywhere.

    ``xy`` is the footprint centre, ``yaw`` the footprint's long axis direction [rad].
    """

    xy: np.ndarray            # (K, M, 2) m
    yaw: np.ndarray           # (K, M) rad
    half_length_m: np.ndarray  # (K, M) half size along yaw
    half_width_m: np.ndarray   # (K, M) half size across yaw
    height_m: np.ndarray      # (K, M)
    kind: np.ndarray          # (K, M) int: KIND_BOX or KIND_BOT
    speed_mps: np.ndarray     # (K, M)
    active: np.ndarray        # (K, M) bool

    @classmethod
    def empty(cls, k: int, m: int = 0) -> "Obstacles":
        z = np.zeros((k, m))
        return cls(np.zeros((k, m, 2)), z.copy(), z.copy(), z.copy(), z.copy(),
                   np.zeros((k, m), int), z.copy(), np.zeros((k, m), bool))

    @property
    def count(self) -> int:
        return self.xy.shape[1]

    def corners(self) -> np.ndarray:
        """Footprint corners (K, M, 4, 2), counter-clockwise."""
        c, s = np.cos(self.yaw)[..., None], np.sin(self.yaw)[..., None]
        lx = np.array([-1.0, 1.0, 1.0, -1.0]) * self.half_length_m[..., None]
        ly = np.array([-1.0, -1.0, 1.0, 1.0]) * self.half_width_m[..., None]
        return np.stack([self.xy[..., 0:1] + c * lx - s * ly, self.xy[..., 1:2] + s * lx + c * ly], axis=-1)


def box_sizes() -> tuple[float, float, float]:
    """(half_length, half_width, height) of a static box [m]."""
    return BOX_LENGTH_M / 2, BOX_WIDTH_M / 2, BOX_HEIGHT_M


def bot_sizes() -> tuple[float, float, float]:
    """(half_length, half_width, height) of a bot car [m]."""
    return car.BODY_LENGTH_M / 2, car.BODY_WIDTH_M / 2, BOT_HEIGHT_M
