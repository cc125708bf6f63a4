"""Obstacles on the track (static boxes and bot cars) as plain arrays, for K cars at once.

Each simulated car lives in its own world, so every car has its own M obstacles. The race module
(simulation/race.py) places and moves them; sensors, collision tests and reward params read them.

Two sizes per obstacle, as in the reference (simapp v6, files under ``bundle/``):

- the *body* (``half_length_m``, ``half_width_m``, ``height_m``): the solid the camera sees and the
  lidar hits. The box is ``models/box_obstacle/model.sdf``: a 0.4 x 0.3 x 0.25 m box (x along
  the lane) coloured brown #7b614f (RGB 0.482 0.38 0.309, ambient = diffuse), resting on the floor.
  A bot car is a DeepRacer car (``models/bot_car/model.sdf``: the car's meshes).
- the *rectangle* (``rect_half_length_m``, ``rect_half_width_m``): the footprint the simapp's own
  geometry uses - the crash test (a car corner inside it) and the camera-frustum test of
  ``object_in_camera`` (``track_geom/track_data.py`` get_object_bounding_rect with
  ``track_geom/constants.py`` ObstacleDimensions). For the box it is 0.5 m along the lane x 0.4 m
  across ("+ 0.1 buffer for each"); for a bot car (and the agent's own car) 0.32352 x 0.1961 m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import car

#: Box body: length along the lane x width across x height [m] (models/box_obstacle/model.sdf
#: <box><size>0.4 0.3 0.25</size>).
BOX_LENGTH_M = 0.4
BOX_WIDTH_M = 0.3
BOX_HEIGHT_M = 0.25
#: Box colour, RGB 0-255 (model.sdf material: 0.482 0.38 0.309 = #7b614f, "Brown color").
BOX_COLOR_RGB = (123, 97, 79)
#: The simapp's box rectangle for crashes and object_in_camera [m]: ObstacleDimensions
#: BOX_OBSTACLE_DIMENSION = (0.4, 0.5) read as (across, along) by get_object_bounding_rect.
BOX_RECT_LENGTH_M = 0.5
BOX_RECT_WIDTH_M = 0.4
#: Bot cars are DeepRacer cars: their rectangle is BOT_CAR_DIMENSION = (0.1961, 0.32352), the
#: same as the agent's car (car.BODY_*). Height of the drawn body shell [m] (ours, derived from
#: the car meshes; to be calibrated against the Gazebo backend).
BOT_HEIGHT_M = 0.15

KIND_BOX = 0
KIND_BOT = 1


@dataclass
class Obstacles:
    """M obstacles for each of K cars. Inactive slots (``active`` False) are ignored everywhere.

    ``xy`` is the footprint centre, ``yaw`` the footprint's long axis direction [rad] (the lane's
    direction of travel). ``half_*``/``height_m`` are the body; ``rect_half_*`` the simapp's
    rectangle (see the module docstring).
    """

    xy: np.ndarray            # (K, M, 2) m
    yaw: np.ndarray           # (K, M) rad
    half_length_m: np.ndarray  # (K, M) half body size along yaw
    half_width_m: np.ndarray   # (K, M) half body size across yaw
    height_m: np.ndarray      # (K, M)
    kind: np.ndarray          # (K, M) int: KIND_BOX or KIND_BOT
    speed_mps: np.ndarray     # (K, M)
    active: np.ndarray        # (K, M) bool
    rect_half_length_m: np.ndarray | None = None  # (K, M) half rectangle size along yaw (None: the body's)
    rect_half_width_m: np.ndarray | None = None   # (K, M) half rectangle size across yaw

    def __post_init__(self) -> None:
        if self.rect_half_length_m is None:
            self.rect_half_length_m = self.half_length_m.copy()
        if self.rect_half_width_m is None:
            self.rect_half_width_m = self.half_width_m.copy()

    @classmethod
    def empty(cls, k: int, m: int = 0) -> "Obstacles":
        z = np.zeros((k, m))
        return cls(np.zeros((k, m, 2)), z.copy(), z.copy(), z.copy(), z.copy(),
                   np.zeros((k, m), int), z.copy(), np.zeros((k, m), bool), z.copy(), z.copy())

    @property
    def count(self) -> int:
        return self.xy.shape[1]

    def corners(self) -> np.ndarray:
        """Body footprint corners (K, M, 4, 2), counter-clockwise."""
        return _corners(self.xy, self.yaw, self.half_length_m, self.half_width_m)

    def rect_corners(self) -> np.ndarray:
        """The simapp's rectangle corners (K, M, 4, 2), counter-clockwise (crash and frustum tests)."""
        return _corners(self.xy, self.yaw, self.rect_half_length_m, self.rect_half_width_m)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(K, M, P) bool: which of each car's points (K, P, 2) lie strictly inside each rectangle,
        the test the simapp makes with shapely ``Polygon.contains`` (track_data.get_collided_object_name)."""
        rel = points[:, None, :, :] - self.xy[:, :, None, :]                  # (K, M, P, 2)
        c, s = np.cos(self.yaw)[..., None], np.sin(self.yaw)[..., None]
        along = rel[..., 0] * c + rel[..., 1] * s
        across = rel[..., 1] * c - rel[..., 0] * s
        return (np.abs(along) < self.rect_half_length_m[..., None]) & \
               (np.abs(across) < self.rect_half_width_m[..., None])


def _corners(xy, yaw, half_length, half_width) -> np.ndarray:
    c, s = np.cos(yaw)[..., None], np.sin(yaw)[..., None]
    lx = np.array([-1.0, 1.0, 1.0, -1.0]) * half_length[..., None]
    ly = np.array([-1.0, -1.0, 1.0, 1.0]) * half_width[..., None]
    return np.stack([xy[..., 0:1] + c * lx - s * ly, xy[..., 1:2] + s * lx + c * ly], axis=-1)


def box_sizes() -> tuple[float, float, float]:
    """(half_length, half_width, height) of a static box's body [m]."""
    return BOX_LENGTH_M / 2, BOX_WIDTH_M / 2, BOX_HEIGHT_M


def box_rect() -> tuple[float, float]:
    """(half_length, half_width) of the simapp's box rectangle [m] (crash and frustum tests)."""
    return BOX_RECT_LENGTH_M / 2, BOX_RECT_WIDTH_M / 2


def bot_sizes() -> tuple[float, float, float]:
    """(half_length, half_width, height) of a bot car's body [m]."""
    return car.BODY_LENGTH_M / 2, car.BODY_WIDTH_M / 2, BOT_HEIGHT_M


def bot_rect() -> tuple[float, float]:
    """(half_length, half_width) of a bot car's rectangle [m] (BOT_CAR_DIMENSION, as the car's own)."""
    return car.BODY_LENGTH_M / 2, car.BODY_WIDTH_M / 2
